//! The `stitch` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use std::io::IsTerminal;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use stitch::compile::{
    parse_decoder, parse_exports, parse_fps, parse_size, parse_switch_hold, run, summary, CompileArgs, Exports,
};
use stitch::exit::{self, UsageError};
use stitch::media::compose::layout::LayoutKind;
use stitch::media::decode::DecoderChoice;
use stitch::media::Container;
use stitch::net::NetOptions;
use stitch::webinar::{self, WebinarArgs};

const EXAMPLES: &str = concat!(
    "Examples:
  stitch compile testdata/flow_basic.json -o out/basic.mp4
  stitch compile flow.json -o - | ffplay -            (MPEG-TS to a player)
  stitch webinar https://my.mts-link.ru/12345/67890/record-new/111/record-file/222
  stitch webinar -i links.txt --output-dir archive --layout grid
  stitch record https://example.com/live/master.m3u8 -o lecture.mp4
  stitch record -F https://example.com/vod/master.m3u8    (list the variants)

",
    stitch::exit_codes_help!(),
    "
Environment: HTTP_PROXY, HTTPS_PROXY, NO_PROXY (proxies), NO_COLOR (no colours),
RUST_LOG (log filter, e.g. stitch=debug; -v/-vv/-vvv set it too)."
);

#[derive(Parser)]
#[command(
    name = "stitch",
    version,
    long_version = stitch::build_info::LONG_VERSION,
    about = "Archive webinars and streams into one H.264/AAC MP4 or MPEG-TS, in-process",
    after_help = EXAMPLES
)]
struct Cli {
    /// More log output on stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

/// `--format`: a [`Container`] the muxers write (`mp4`, `ts`), as a clap value.
#[derive(Clone, Copy)]
struct Fmt(Container);

impl ValueEnum for Fmt {
    fn value_variants<'a>() -> &'a [Fmt] {
        &[Fmt(Container::Mp4), Fmt(Container::Ts)]
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.name()))
    }
}

impl From<Fmt> for Container {
    fn from(f: Fmt) -> Container {
        f.0
    }
}

/// Extra outputs and composite/mix options, the same for `compile` and `webinar`.
#[derive(clap::Args)]
struct MixArgs {
    /// Extra outputs: `sources` (every camera / screen share / voice as its own file on
    /// the common timeline), `audio` (the mix as <name>.audio.wav, 16 kHz mono, for
    /// transcription).
    #[arg(long, value_parser = parse_exports, help_heading = "Output")]
    export: Vec<Exports>,
    /// Composite: no tile for cameras whose picture is black and whose audio is silent.
    #[arg(long, help_heading = "Composite")]
    hide_silent: bool,
    /// Composite: the recent chat messages (`chat.message` events) in a side panel.
    #[arg(long, help_heading = "Composite")]
    chat_panel: bool,
    /// Loudness normalisation of the mix (slow automatic gain, about -20 dBFS RMS).
    #[arg(long, help_heading = "Audio")]
    normalize: bool,
    /// Sidebar/pip: a new speaker takes the main area after leading this long [default: 2].
    #[arg(long, value_name = "SECONDS", value_parser = parse_switch_hold, help_heading = "Composite")]
    switch_hold: Option<f64>,
    /// H.264 decoder: auto, openh264, or ffmpeg (libavcodec with frame threads; only in a
    /// build with the `ffmpeg` feature) [default: auto = ffmpeg when built in, else openh264]
    #[arg(long, value_name = "NAME", value_parser = parse_decoder, help_heading = "Performance")]
    decoder: Option<DecoderChoice>,
}

impl MixArgs {
    fn exports(&self) -> Exports {
        self.export.iter().copied().fold(Exports::default(), Exports::merge)
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Compile a flow JSON (MTS Link event-log shape) of media clips into one file.
    #[command(after_help = COMPILE_EXAMPLES)]
    Compile(CompileCmd),
    /// Record a stream: direct MP4, HLS VOD, live HLS or fMP4 HLS, into TS or MP4.
    #[command(after_help = RECORD_EXAMPLES)]
    Record(RecordArgs),
    /// Download and compile MTS Link (webinar.ru) records from their links.
    #[command(after_help = WEBINAR_EXAMPLES)]
    Webinar(WebinarCmd),
    /// Run the job service: API and workers (SQLite + ./stitch-data by default).
    Serve(stitch::service::config::ServiceArgs),
    /// Run workers only, on the database and storage of a `stitch serve`.
    Worker(stitch::service::config::ServiceArgs),
    /// Submit, list, watch and cancel jobs of a `stitch serve`.
    Jobs(stitch::service::cli::JobsArgs),
    /// Print a shell completion script: `stitch completions bash > /etc/bash_completion.d/stitch`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `stitch man > stitch.1; man ./stitch.1`.
    Man,
}

// The arguments of `stitch compile` (the help text is the `Cmd::Compile` variant's).
#[derive(clap::Args)]
struct CompileCmd {
    /// The flow JSON: {"name", "duration", "eventLogs": [{"relativeTime", "data": {"url"}}]}
    flow: PathBuf,
    /// Output file: .mp4/.m4v/.mov (MP4) or .ts/.m2ts/.mts (MPEG-TS); `-` streams to stdout.
    #[arg(short, long, help_heading = "Output")]
    output: PathBuf,
    /// Container; must agree with the output's extension [default: from the extension]
    #[arg(long, value_enum, help_heading = "Output")]
    format: Option<Fmt>,
    /// Replace existing output files.
    #[arg(short = 'y', long, help_heading = "Output")]
    force: bool,
    /// Canvas size WxH, or 720p / 1080p [default: 1280x720]
    #[arg(long, value_parser = parse_size, help_heading = "Picture")]
    size: Option<(u32, u32)>,
    /// Output frame rate: 25, 30, 29.97, 30000/1001... (above 0, at most 120) [default: 25]
    #[arg(long, value_parser = parse_fps, help_heading = "Picture")]
    fps: Option<(u32, u32)>,
    /// Composite every visible clip: sidebar, pip, grid or speaker [default: one layer,
    /// the later clip wins]
    #[arg(long, value_parser = parse_layout, help_heading = "Composite")]
    layout: Option<LayoutKind>,
    /// Start at this timeline position (seconds).
    #[arg(long, help_heading = "Timeline")]
    start: Option<f64>,
    /// Stop after this many seconds of output.
    #[arg(long, help_heading = "Timeline")]
    max_duration: Option<f64>,
    /// Encoder threads [default: number of cores]
    #[arg(long, help_heading = "Performance")]
    threads: Option<usize>,
    #[command(flatten)]
    mix: MixArgs,
    /// Keep the downloaded http(s) clips (<output stem>.clips/) after a successful compile.
    #[arg(long, help_heading = "Output")]
    keep_files: bool,
    #[command(flatten)]
    net: NetArgs,
    #[command(flatten)]
    report: ReportArgs,
    /// No progress bar and no summary.
    #[arg(short, long)]
    quiet: bool,
}

// The arguments of `stitch webinar` (the help text is the `Cmd::Webinar` variant's).
#[derive(clap::Args)]
struct WebinarCmd {
    /// Record links (record-file, quick meeting, /j/, token form) or event pages.
    links: Vec<String>,
    /// A file of links, one per line, optionally followed by a name.
    #[arg(short = 'i', long = "input")]
    input: Option<PathBuf>,
    /// The sessionId cookie from your browser (private records).
    #[arg(long, help_heading = "Access")]
    session_id: Option<String>,
    /// A Netscape cookies.txt exported from your browser.
    #[arg(long, help_heading = "Access")]
    cookies: Option<PathBuf>,
    /// The record's password.
    #[arg(long, help_heading = "Access")]
    password: Option<String>,
    /// API host to use instead of the link's host and the fallbacks.
    #[arg(long, help_heading = "Access")]
    api_host: Option<String>,
    /// Where job folders go.
    #[arg(long, default_value = ".", help_heading = "Output")]
    output_dir: PathBuf,
    /// Container of the final file.
    #[arg(long, value_enum, default_value = "mp4", help_heading = "Output")]
    format: Fmt,
    /// Compile again a record whose final file already exists.
    #[arg(short = 'y', long, help_heading = "Output")]
    force: bool,
    /// Keep the downloaded chunks after a successful compile.
    #[arg(long, help_heading = "Output")]
    keep_files: bool,
    /// Parallel downloads (servers reset connections above ~4).
    #[arg(short = 'j', long, default_value_t = 3, help_heading = "Network")]
    jobs: usize,
    #[command(flatten)]
    net: NetArgs,
    /// Canvas size WxH [default: 1280x720]
    #[arg(long, value_parser = parse_size, help_heading = "Picture")]
    size: Option<(u32, u32)>,
    /// Canvas: 720p or 1080p (same as --size).
    #[arg(long, value_parser = parse_size, conflicts_with = "size", help_heading = "Picture")]
    quality: Option<(u32, u32)>,
    /// Layout: sidebar (screen share or slide beside the cameras), pip, grid, speaker.
    #[arg(long, value_parser = parse_layout, default_value = "sidebar", help_heading = "Composite")]
    layout: LayoutKind,
    /// Start at this timeline position (seconds).
    #[arg(long, help_heading = "Timeline")]
    start: Option<f64>,
    /// Stop after this many seconds of output.
    #[arg(long, help_heading = "Timeline")]
    max_duration: Option<f64>,
    #[command(flatten)]
    mix: MixArgs,
    /// Encoder threads [default: number of cores]
    #[arg(long, help_heading = "Performance")]
    threads: Option<usize>,
    /// Fetch and plan only: write manifest.json, download nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write the raw API JSON beside the output.
    #[arg(long)]
    debug: bool,
    #[command(flatten)]
    report: ReportArgs,
    /// No progress and no summaries (the results table is still printed on failure).
    #[arg(short, long)]
    quiet: bool,
}

/// `--json` and `--stats`, the same for `compile` and `webinar`.
#[derive(clap::Args)]
struct ReportArgs {
    /// Print one JSON summary object on stdout (outputs, duration, clips with reasons, timings).
    #[arg(long, help_heading = "Reporting")]
    json: bool,
    /// Print per-stage wall and CPU time, frames, queue waits and the bounding stage.
    #[arg(long, help_heading = "Reporting")]
    stats: bool,
}

const COMPILE_EXAMPLES: &str = concat!(
    "Examples:
  stitch compile testdata/flow_basic.json -o out/basic.mp4
  stitch compile flow.json -o lecture.ts --layout sidebar --start 60 --max-duration 600
  stitch compile flow.json -o - | ffplay -      (MPEG-TS on stdout; --format mp4: fragmented MP4)

",
    stitch::exit_codes_help!()
);

const WEBINAR_EXAMPLES: &str = concat!(
    "Examples:
  stitch webinar https://my.mts-link.ru/12345/67890/record-new/111/record-file/222
  stitch webinar LINK --session-id ID --output-dir archive --quality 1080p
  stitch webinar -i links.txt -j 4 --json

A job folder <output-dir>/<name>_<date>/ keeps manifest.json, the chunks and the result;
run the same command again after an interruption to resume; a finished record says
\"already done\" (use --force to compile it again).
",
    stitch::exit_codes_help!()
);

/// Picture buffers (1.4 MB at 720p, 3 MB at 1080p) are allocated on decoder threads and
/// freed on encoder threads tens of times a second. glibc's malloc raises its mmap
/// threshold after the first such free and then serves them from per-thread arenas, which
/// fragment and keep the memory: peak RSS of a 4-minute compile went from 82 MB to 113 MB
/// (docs/performance.md). A fixed threshold keeps every buffer this size a private mapping
/// that goes back to the system when freed.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

fn parse_layout(s: &str) -> anyhow::Result<LayoutKind> {
    s.parse::<LayoutKind>().map_err(|e| anyhow::anyhow!("{e}"))
}

/// Logs (tracing) on stderr: `RUST_LOG` when set, else warnings, or more with `-v`.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "warn",
        1 => "stitch=info,warn",
        2 => "stitch=debug,info",
        _ => "trace",
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(v).unwrap_or_else(|_| EnvFilter::new(level)),
        _ => EnvFilter::new(level),
    };
    let ansi = std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    match &cli.cmd {
        Cmd::Serve(_) | Cmd::Worker(_) => stitch::service::init_json_logging(cli.verbose),
        _ => init_logging(cli.verbose),
    }
    let cancel = Arc::new(AtomicBool::new(false));
    // The service handles SIGTERM / Ctrl-C itself (running jobs are released).
    if !matches!(cli.cmd, Cmd::Serve(_) | Cmd::Worker(_)) {
        let c = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            if c.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    match cli.cmd {
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "stitch", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Cmd::Man => match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("stitch: error: writing the manual page: {e}");
                ExitCode::from(exit::FAILURE)
            }
        },
        Cmd::Record(args) => run_record(args, cancel),
        Cmd::Serve(ref a) | Cmd::Worker(ref a) => {
            let serve = matches!(cli.cmd, Cmd::Serve(_));
            match if serve { stitch::service::serve(a) } else { stitch::service::worker(a) } {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("stitch: error: {e:#}");
                    ExitCode::from(exit::FAILURE)
                }
            }
        }
        Cmd::Jobs(a) => match stitch::service::cli::run(a) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("stitch: error: {e:#}");
                ExitCode::from(exit::FAILURE)
            }
        },
        Cmd::Webinar(w) => run_webinar(w, cancel),
        Cmd::Compile(c) => run_compile(c, cancel),
    }
}

/// The library's arguments of `stitch webinar`, and what to report.
fn webinar_args(w: WebinarCmd) -> (WebinarArgs, ReportArgs) {
    let WebinarCmd {
        links,
        input,
        session_id,
        cookies,
        password,
        api_host,
        output_dir,
        format,
        force,
        keep_files,
        jobs,
        net,
        size,
        quality,
        layout,
        start,
        max_duration,
        mix,
        threads,
        dry_run,
        debug,
        report,
        quiet,
    } = w;
    let args = WebinarArgs {
        links,
        links_file: input,
        session_id,
        cookies,
        password,
        output_dir,
        jobs,
        api_host,
        keep_files,
        start,
        max_duration,
        format: format.into(),
        dry_run,
        debug,
        quiet,
        size: size.or(quality),
        layout: Some(layout),
        export: mix.exports(),
        hide_silent: mix.hide_silent,
        chat_panel: mix.chat_panel,
        normalize: mix.normalize,
        switch_hold: mix.switch_hold,
        decoder: mix.decoder.unwrap_or_default(),
        threads,
        force,
        net: net.options(),
    };
    (args, report)
}

/// `stitch webinar`.
fn run_webinar(w: WebinarCmd, cancel: Arc<AtomicBool>) -> ExitCode {
    let (mut args, report) = webinar_args(w);
    if webinar::interactive_possible(&args) {
        if let Err(e) = webinar::ask_interactively(&mut args) {
            eprintln!("stitch: error: {}", exit::message(&e));
            return ExitCode::from(exit::USAGE);
        }
    }
    match webinar::run(&args, cancel.clone()) {
        Ok(results) => webinar_done(&results, &report, args.quiet, &cancel),
        Err(e) => {
            if report.json {
                println!("{}", stitch::report::error_json("webinar", exit::code_of(&e), &exit::message(&e)));
            }
            exit::report(&e)
        }
    }
}

/// The summaries and results of a webinar run, and its exit code.
fn webinar_done(results: &[webinar::RecordResult], report: &ReportArgs, quiet: bool, cancel: &AtomicBool) -> ExitCode {
    let failed = results.iter().any(|r| r.error.is_some());
    for r in results {
        if let (false, Some(s)) = (quiet, &r.summary) {
            eprint!("{s}");
        }
        // Asked for explicitly: printed even with -q (as for compile).
        if let (true, Some(rep)) = (report.stats, &r.report) {
            eprint!("{}", stitch::stats::render(&rep.stages));
        }
    }
    if !quiet || failed || results.len() > 1 {
        eprint!("{}", webinar::results_table(results));
    }
    if report.json {
        println!("{}", stitch::report::webinar_json(results));
    }
    if cancel.load(Ordering::SeqCst) {
        eprintln!("stitch: stopped; run the same command again to resume");
        return ExitCode::from(exit::INTERRUPTED);
    }
    if failed {
        ExitCode::from(exit::FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

/// The library's arguments of `stitch compile`, and what to report.
fn compile_args(c: CompileCmd) -> (CompileArgs, ReportArgs) {
    let CompileCmd {
        flow,
        output,
        format,
        force,
        size,
        fps,
        layout,
        start,
        max_duration,
        threads,
        mix,
        keep_files,
        net,
        report,
        quiet,
    } = c;
    let args = CompileArgs {
        flow,
        output,
        format: format.map(Into::into),
        size,
        fps,
        start,
        max_duration,
        threads,
        layout,
        export: mix.exports(),
        hide_silent: mix.hide_silent,
        chat_panel: mix.chat_panel,
        normalize: mix.normalize,
        switch_hold: mix.switch_hold,
        decoder: mix.decoder.unwrap_or_default(),
        quiet,
        force,
        keep_files,
        net: net.options(),
    };
    (args, report)
}

/// `stitch compile`.
fn run_compile(c: CompileCmd, cancel: Arc<AtomicBool>) -> ExitCode {
    let (args, report) = compile_args(c);
    let (output, quiet) = (args.output.clone(), args.quiet);
    if report.json && stitch::outpath::is_stdout(&output) {
        eprintln!("stitch: error: --json prints on stdout, which -o - uses for the stream");
        return ExitCode::from(exit::USAGE);
    }
    match run(&args, cancel.clone()) {
        Ok(done) => {
            if !quiet {
                eprint!("{}", summary(&done.report, &output));
            }
            if report.stats {
                eprint!("{}", stitch::stats::render(&done.report.stages));
            }
            if report.json {
                println!("{}", stitch::report::compile_json(&done.report, &done.outputs));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let interrupted = cancel.load(Ordering::SeqCst);
            let code = if interrupted { exit::INTERRUPTED } else { exit::code_of(&e) };
            if report.json {
                println!("{}", stitch::report::error_json("compile", code, &exit::message(&e)));
            }
            if interrupted {
                if stitch::outpath::is_stdout(&output) {
                    eprintln!("stitch: stopped; the stream on stdout is incomplete");
                } else {
                    eprintln!("stitch: stopped; nothing was written to {}", output.display());
                }
                return ExitCode::from(exit::INTERRUPTED);
            }
            exit::report(&e)
        }
    }
}

/// `stitch record`.
#[derive(clap::Args)]
struct RecordArgs {
    /// The stream URL (MP4 file or HLS playlist, master or media).
    url: String,
    /// Output file: .ts/.m2ts/.mts (MPEG-TS) or .mp4/.m4v/.mov (MP4); `-` streams MPEG-TS
    /// (fragmented MP4 with --format mp4) to stdout [default: stream_0.ts in --rec-dir]
    #[arg(short, long, help_heading = "Output")]
    output: Option<PathBuf>,
    /// Folder for section files stream_N.ts|mp4 when -o is not given.
    #[arg(long, conflicts_with = "output", help_heading = "Output")]
    rec_dir: Option<PathBuf>,
    /// Container; must agree with the output's extension [default: from the extension, else ts]
    #[arg(long, value_enum, help_heading = "Output")]
    format: Option<Fmt>,
    /// Replace an existing output file.
    #[arg(short = 'y', long, help_heading = "Output")]
    force: bool,
    /// List the variants and renditions of the playlist and exit (downloads no segment).
    #[arg(short = 'F', long, help_heading = "Stream")]
    list_formats: bool,
    /// Recorder: auto, mp4, hls_basic, hls_live, hls_m4s.
    #[arg(long = "type", default_value = "auto", help_heading = "Stream")]
    kind: String,
    /// Variant: best, worst, 720p, or a minimum bandwidth in bit/s.
    #[arg(long, default_value = "best", help_heading = "Stream")]
    quality: String,
    /// Alternative audio rendition language.
    #[arg(long, help_heading = "Stream")]
    audio: Option<String>,
    /// Live: start at the window start instead of 3 target durations from the edge.
    #[arg(long, help_heading = "Stream")]
    live_from_start: bool,
    /// Stop after this many seconds of recorded media.
    #[arg(long, help_heading = "Stream")]
    max_duration: Option<f64>,
    /// Extra request header 'Name: value' (repeatable).
    #[arg(long = "header", help_heading = "Access")]
    headers: Vec<String>,
    /// Netscape cookies.txt for playlists, keys and segments.
    #[arg(long, help_heading = "Access")]
    cookies: Option<PathBuf>,
    /// User-Agent header.
    #[arg(long, help_heading = "Access")]
    user_agent: Option<String>,
    /// AES-128 key: 32 hex digits, or a file holding the 16-byte key (or its hex);
    /// overrides the playlist's key URI.
    #[arg(long, help_heading = "Access")]
    key: Option<String>,
    /// Parallel segment downloads (VOD).
    #[arg(short = 'j', long, default_value_t = 4, help_heading = "Network")]
    jobs: usize,
    /// Failed attempts allowed per request: a number, `inf`, or `auto` (10; forever
    /// for a live stream).
    #[arg(long, default_value = "auto", help_heading = "Network")]
    retries: String,
    #[command(flatten)]
    net: NetArgs,
    /// Live: segments before the `start` event (the output is playable from then on).
    #[arg(long, default_value_t = 5, help_heading = "Events")]
    buffering: usize,
    /// Events as JSON lines on stdout: `json`.
    #[arg(long, help_heading = "Events")]
    events: Option<String>,
    /// Also broadcast events to every client of a TCP server on HOST:PORT.
    #[arg(long, help_heading = "Events")]
    events_socket: Option<String>,
    /// No progress messages.
    #[arg(short, long)]
    quiet: bool,
}

/// `--proxy` and `--limit-rate`, for every command that downloads.
#[derive(clap::Args)]
struct NetArgs {
    /// Proxy for every request (http://, https://, socks5://) [default: HTTP(S)_PROXY]
    #[arg(long, value_name = "URL", help_heading = "Network")]
    proxy: Option<String>,
    /// Cap on the download rate of all transfers together, bytes/s: 500K, 2M...
    #[arg(long, value_name = "RATE", value_parser = parse_rate, help_heading = "Network")]
    limit_rate: Option<u64>,
}

impl NetArgs {
    fn options(&self) -> NetOptions {
        NetOptions { proxy: self.proxy.clone(), limit_rate: self.limit_rate }
    }
}

const RECORD_EXAMPLES: &str = concat!(
    "Examples:
  stitch record -F https://example.com/vod/master.m3u8           (list the variants)
  stitch record https://example.com/vod/master.m3u8 -o lecture.mp4 --quality 720p
  stitch record https://example.com/live/index.m3u8 -o live.ts --max-duration 3600
  stitch record https://example.com/vod/master.m3u8 -o - | ffplay -

An interrupted VOD resumes where it stopped when the same command runs again.
",
    stitch::exit_codes_help!()
);

fn parse_rate(s: &str) -> Result<u64, stitch::net::RateError> {
    stitch::net::parse_rate(s)
}

fn run_record(a: RecordArgs, cancel: Arc<AtomicBool>) -> ExitCode {
    let fail = |e: UsageError| {
        eprintln!("stitch: error: {}", e.0);
        ExitCode::from(2)
    };
    let (opts, key_file) = match record_options(&a) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let stdout = opts.output.as_deref() == Some(std::path::Path::new("-"));
    if stdout && a.events.is_some() {
        return fail(UsageError(
            "--events json writes to stdout, which -o - uses for the stream; use --events-socket".into(),
        ));
    }
    if a.list_formats {
        return list_formats(&opts, cancel);
    }
    if let Err(e) = check_record_outputs(&opts, key_file, a.force) {
        return fail(e);
    }
    let sink = match event_sink(&a) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match stitch::record::record(&opts, &sink, cancel.clone()) {
        Ok(s) => {
            if !a.quiet {
                eprintln!("{}", record_summary(&s));
                for w in &s.warnings {
                    eprintln!("  warning: {w}");
                }
            }
            if cancel.load(Ordering::SeqCst) {
                ExitCode::from(130)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("stitch: error [{}]: {e}", serde_error_id(&e));
            ExitCode::from(1)
        }
    }
}

/// The recorder's options from `stitch record`'s arguments, and the key file (an input
/// no output may replace).
fn record_options(a: &RecordArgs) -> Result<(stitch::record::RecordOptions, Option<PathBuf>), UsageError> {
    use stitch::record::{RecordOptions, RecorderKind};
    match url::Url::parse(&a.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        Ok(u) => return Err(UsageError(format!("{}: only http:// and https:// URLs can be recorded", u.scheme()))),
        Err(e) => return Err(UsageError(format!("{:?} is not a URL: {e}", a.url))),
    }
    if let Some(d) = a.max_duration {
        if !d.is_finite() || d <= 0.0 {
            return Err(UsageError(format!("--max-duration must be a positive number of seconds, not {d}")));
        }
    }
    let mut opts = RecordOptions::new(a.url.clone());
    opts.format = match &a.output {
        Some(o) => stitch::outpath::container_for(o, a.format.map(Into::into))?,
        None => a.format.map(Into::into).unwrap_or(Container::Ts),
    };
    opts.output = a.output.clone();
    opts.rec_dir = a.rec_dir.clone();
    opts.kind = a.kind.parse::<RecorderKind>().map_err(|e| UsageError(format!("--type: {e}")))?;
    opts.quality = a.quality.parse().map_err(|e| UsageError(format!("--quality: {e}")))?;
    opts.audio_lang = a.audio.clone();
    opts.headers = header_args(&a.headers)?;
    opts.cookies_file = a.cookies.clone();
    opts.user_agent = a.user_agent.clone();
    let mut key_file = None;
    if let Some(k) = &a.key {
        let (key, file) = key_arg(k).map_err(|e| UsageError(format!("--key: {e}")))?;
        opts.key_hex = Some(key);
        key_file = file;
    }
    opts.net = a.net.options();
    opts.net.validate()?;
    opts.live_from_start = a.live_from_start;
    opts.max_duration = a.max_duration;
    opts.jobs = a.jobs.max(1);
    opts.buffering = a.buffering;
    opts.quiet = a.quiet;
    opts.retries = retries_arg(&a.retries)?;
    Ok((opts, key_file))
}

/// `--header 'Name: value'`s.
fn header_args(headers: &[String]) -> Result<Vec<(String, String)>, UsageError> {
    let mut v = Vec::new();
    for h in headers {
        match h.split_once(':') {
            Some((k, val))
                if reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()).is_ok()
                    && reqwest::header::HeaderValue::from_str(val.trim()).is_ok() =>
            {
                v.push((k.trim().to_string(), val.trim().to_string()))
            }
            _ => return Err(UsageError(format!("--header '{h}' is not 'Name: value'"))),
        }
    }
    Ok(v)
}

/// `--retries`: a number, `inf` or `auto` (`None`).
fn retries_arg(s: &str) -> Result<Option<u32>, UsageError> {
    use stitch::record::RETRY_FOREVER;
    match s {
        "auto" => Ok(None),
        "inf" | "infinite" => Ok(Some(RETRY_FOREVER)),
        n => match n.parse::<u32>() {
            Ok(n) if n < RETRY_FOREVER => Ok(Some(n)),
            _ => Err(UsageError(format!("--retries '{n}' is not a number, 'inf' or 'auto'"))),
        },
    }
}

/// `stitch record -F`: the variants and renditions on stdout.
fn list_formats(opts: &stitch::record::RecordOptions, cancel: Arc<AtomicBool>) -> ExitCode {
    match stitch::record::list_formats(opts, cancel.clone()) {
        Ok(t) => {
            print!("{t}");
            ExitCode::SUCCESS
        }
        Err(_) if cancel.load(Ordering::SeqCst) => ExitCode::from(exit::INTERRUPTED),
        Err(e) => {
            eprintln!("stitch: error [{}]: {e}", serde_error_id(&e));
            ExitCode::from(1)
        }
    }
}

/// Outputs never destroy inputs (the cookies and key files), and are not replaced without
/// `--force`.
fn check_record_outputs(
    opts: &stitch::record::RecordOptions,
    key_file: Option<PathBuf>,
    force: bool,
) -> Result<(), UsageError> {
    let first = match &opts.output {
        Some(o) => o.clone(),
        None => {
            let dir = opts.rec_dir.clone().unwrap_or_else(|| PathBuf::from("."));
            dir.join(format!("stream_0.{}", opts.format.ext()))
        }
    };
    let inputs = [("cookies file", opts.cookies_file.clone()), ("key file", key_file)];
    let inputs = inputs.iter().filter_map(|(what, p)| p.as_deref().map(|p| (*what, p)));
    stitch::outpath::refuse_inputs(&first, inputs).and_then(|()| stitch::outpath::refuse_existing(&first, force))?;
    // A change of resolution or codec starts NAME_1.EXT, NAME_2.EXT...: those are outputs too.
    if let (false, Some(p)) = (force, later_sections(&first, opts.output.is_some()).first()) {
        return Err(UsageError(format!(
            "{} already exists (a later section file of this output); use --force (-y) to replace it, or choose \
             another name",
            p.display()
        )));
    }
    Ok(())
}

/// `--events json` and `--events-socket`.
fn event_sink(a: &RecordArgs) -> Result<stitch::record::EventSink, UsageError> {
    use stitch::record::EventSink;
    let mut sink = match a.events.as_deref() {
        None => EventSink::none(),
        Some("json") => EventSink::stdout(),
        Some(other) => return Err(UsageError(format!("--events '{other}': only 'json' is supported"))),
    };
    if let Some(addr) = &a.events_socket {
        sink = sink.with_socket(addr).map_err(|e| UsageError(format!("--events-socket {addr}: {e}")))?;
    }
    Ok(sink)
}

/// Existing files named like the later sections of a recording whose first file is `first`:
/// `NAME_N.EXT` beside `-o NAME.EXT`, `stream_N.EXT` in `--rec-dir` (N >= 1).
fn later_sections(first: &std::path::Path, named: bool) -> Vec<PathBuf> {
    let (Some(stem), Some(ext)) =
        (first.file_stem().and_then(|s| s.to_str()), first.extension().and_then(|e| e.to_str()))
    else {
        return Vec::new();
    };
    let prefix = if named { format!("{stem}_") } else { "stream_".to_string() };
    let dir = first.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(&format!(".{ext}")))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n != "0")
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// `--key`: 32 hex digits, or a file with the 16-byte key (raw, or as hex text). Returns
/// the key and the file it came from.
fn key_arg(k: &str) -> anyhow::Result<([u8; 16], Option<PathBuf>)> {
    if let Ok(key) = stitch::record::parse_key_hex(k) {
        return Ok((key, None));
    }
    let p = PathBuf::from(k);
    if !p.is_file() {
        anyhow::bail!("{k:?} is neither 32 hex digits nor a key file");
    }
    let data = std::fs::read(&p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
    let key = match <[u8; 16]>::try_from(data.as_slice()) {
        Ok(raw) => raw,
        Err(_) => stitch::record::parse_key_hex(String::from_utf8_lossy(&data).trim()).map_err(|_| {
            anyhow::anyhow!("{} holds {} bytes: a key file is 16 bytes, or 32 hex digits", p.display(), data.len())
        })?,
    };
    Ok((key, Some(p)))
}

/// The line `record` ends with.
fn record_summary(s: &stitch::record::RecordSummary) -> String {
    let files = s.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ");
    let mb = s.bytes as f64 / 1e6;
    if s.resumable && s.kind != "mp4" {
        return format!(
            "stopped after {}{} segments ({:.1} s, {mb:.1} MB): run the same command again to resume",
            s.segments,
            s.segments_total.map(|t| format!(" of {t}")).unwrap_or_default(),
            s.recorded_secs
        );
    }
    if s.resumable {
        return format!("stopped after {mb:.1} MB: run the same command again to resume");
    }
    let resumed = if s.resumed_segments > 0 {
        format!(" ({} resumed from an earlier run)", s.resumed_segments)
    } else {
        String::new()
    };
    if s.kind == "mp4" {
        format!("recorded {mb:.1} MB, {:.1} s into {files}", s.recorded_secs)
    } else {
        format!("recorded {} segments{resumed}, {:.1} s, {mb:.1} MB into {files}", s.segments, s.recorded_secs)
    }
}

fn serde_error_id(e: &stitch::record::RecordError) -> String {
    serde_json::to_value(e.error_id()).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}
