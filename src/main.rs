//! The `stitch` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use stitch::compile::{parse_fps, parse_size, run, summary, CompileArgs};
use stitch::media::mux::OutputKind;

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
        Cmd::Compile { flow, output, format, size, fps, start, max_duration, threads, quiet } => {
            let args = CompileArgs {
                flow,
                output: output.clone(),
                format: format.map(|f| match f {
                    Fmt::Mp4 => OutputKind::Mp4,
                    Fmt::Ts => OutputKind::Ts,
                }),
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
