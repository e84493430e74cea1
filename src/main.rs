//! The `stitch` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use stitch::compile::{parse_fps, parse_size, run, summary, CompileArgs};
use stitch::media::mux::OutputKind;
use stitch::webinar::{self, WebinarArgs};

#[derive(Parser)]
#[command(name = "stitch", version, about = "Archive webinars and streams into one H.264/AAC MP4 or MPEG-TS, in-process")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Fmt {
    Mp4,
    Ts,
}

impl From<Fmt> for OutputKind {
    fn from(f: Fmt) -> OutputKind {
        match f {
            Fmt::Mp4 => OutputKind::Mp4,
            Fmt::Ts => OutputKind::Ts,
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Compile a flow JSON (MTS Link event-log shape) of media clips into one file.
    Compile {
        /// The flow JSON: {"name", "duration", "eventLogs": [{"relativeTime", "data": {"url"}}]}
        flow: PathBuf,
        /// Output file (.mp4 or .ts).
        #[arg(short, long)]
        output: PathBuf,
        /// Container (default: from the output's extension).
        #[arg(long, value_enum)]
        format: Option<Fmt>,
        /// Canvas size WxH (default 1280x720); 720p and 1080p are accepted.
        #[arg(long, value_parser = parse_size)]
        size: Option<(u32, u32)>,
        /// Output frame rate (default 25): 25, 30, 30000/1001...
        #[arg(long, value_parser = parse_fps)]
        fps: Option<(u32, u32)>,
        /// Start at this timeline position (seconds).
        #[arg(long)]
        start: Option<f64>,
        /// Stop after this many seconds of output.
        #[arg(long)]
        max_duration: Option<f64>,
        /// Encoder threads (default: number of cores).
        #[arg(long)]
        threads: Option<usize>,
        /// No progress bar and no summary.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Download and compile MTS Link (webinar.ru) records from their links.
    Webinar {
        /// Record links (record-file, quick meeting, /j/, token form) or event pages.
        links: Vec<String>,
        /// A file of links, one per line, optionally followed by a name.
        #[arg(short = 'i', long = "input")]
        input: Option<PathBuf>,
        /// The sessionId cookie from your browser (private records).
        #[arg(long)]
        session_id: Option<String>,
        /// A Netscape cookies.txt exported from your browser.
        #[arg(long)]
        cookies: Option<PathBuf>,
        /// The record's password.
        #[arg(long)]
        password: Option<String>,
        /// Where job folders go (default: the current folder).
        #[arg(long, default_value = ".")]
        output_dir: PathBuf,
        /// Parallel downloads (default 3; servers reset connections above ~4).
        #[arg(short = 'j', long, default_value_t = 3)]
        jobs: usize,
        /// API host to use instead of the link's host and the fallbacks.
        #[arg(long)]
        api_host: Option<String>,
        /// Keep the downloaded chunks after a successful compile.
        #[arg(long)]
        keep_files: bool,
        /// Start at this timeline position (seconds).
        #[arg(long)]
        start: Option<f64>,
        /// Stop after this many seconds of output.
        #[arg(long)]
        max_duration: Option<f64>,
        /// Container of the final file.
        #[arg(long, value_enum, default_value = "mp4")]
        format: Fmt,
        /// Canvas size WxH (default 1280x720).
        #[arg(long, value_parser = parse_size)]
        size: Option<(u32, u32)>,
        /// Encoder threads (default: number of cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Fetch and plan only: write manifest.json, download nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write the raw API JSON beside the output.
        #[arg(long)]
        debug: bool,
        /// No progress and no summaries (the results table is still printed on failure).
        #[arg(short, long)]
        quiet: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let c = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            if c.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    match cli.cmd {
        Cmd::Webinar {
            links,
            input,
            session_id,
            cookies,
            password,
            output_dir,
            jobs,
            api_host,
            keep_files,
            start,
            max_duration,
            format,
            size,
            threads,
            dry_run,
            debug,
            quiet,
        } => {
            let mut args = WebinarArgs {
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
                size,
                threads,
            };
            if webinar::interactive_possible(&args) {
                if let Err(e) = webinar::ask_interactively(&mut args) {
                    eprintln!("stitch: error: {e:#}");
                    return ExitCode::from(2);
                }
            }
            match webinar::run(&args, cancel.clone()) {
                Ok(results) => {
                    let failed = results.iter().any(|r| r.error.is_some());
                    if !quiet {
                        for r in &results {
                            if let Some(s) = &r.summary {
                                eprint!("{s}");
                            }
                        }
                    }
                    if !quiet || failed || results.len() > 1 {
                        eprint!("{}", webinar::results_table(&results));
                    }
                    if cancel.load(Ordering::SeqCst) {
                        eprintln!("stitch: stopped; run the same command again to resume");
                        return ExitCode::from(130);
                    }
                    if failed {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("stitch: error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Compile { flow, output, format, size, fps, start, max_duration, threads, quiet } => {
            let args = CompileArgs {
                flow,
                output: output.clone(),
                format: format.map(Into::into),
                size,
                fps,
                start,
                max_duration,
                threads,
                quiet,
            };
            match run(&args, cancel.clone()) {
                Ok(report) => {
                    if !quiet {
                        eprint!("{}", summary(&report, &output));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    if cancel.load(Ordering::SeqCst) {
                        eprintln!("stitch: stopped; nothing was written to {}", output.display());
                        return ExitCode::from(130);
                    }
                    eprintln!("stitch: error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
