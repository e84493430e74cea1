//! Embedding the `media` crate: compile a flow of clips into one MP4 from another Rust
//! program, with no process spawned and no network.
//!
//! ```text
//! cargo run -p media --release --example compile -- testdata/flow_basic.json /tmp/basic.mp4
//! ```
//!
//! The flow is the MTS Link event-log JSON (`{"eventLogs": [{"relativeTime", "data":
//! {"url"}}]}`); it can also be built in code: see `timeline::Flow::parse`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use media::pipeline::{compile, CompileOptions};
use media::time::Ticks90k;
use media::timeline::{ClipStatus, Flow};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [flow_path, output] = args.as_slice() else {
        eprintln!("usage: compile FLOW.json OUT.mp4|OUT.ts");
        return ExitCode::from(2);
    };
    let output = PathBuf::from(output);
    if output.exists() {
        eprintln!("{} exists; choose a new name", output.display());
        return ExitCode::from(2);
    }

    // 1. The timeline: clips with their place (90 kHz ticks), resolved next to the JSON.
    let flow = match Flow::load(flow_path.as_ref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{flow_path}: {e}");
            return ExitCode::from(1);
        }
    };

    // 2. The output: container from the extension, a small canvas at 25 fps, the first
    //    ten minutes of the timeline at most. `build` checks every value: a bad one is an
    //    `Error::InvalidOption` naming it, never a panic.
    let opts = match CompileOptions::builder(&output)
        .size(640, 360)
        .fps(25, 1)
        .start(Ticks90k::ZERO)
        .max_duration(Some(Ticks90k::from_secs_f64(600.0)))
        .build()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };

    // 3. Run: progress arrives on this thread; `cancel` stops it from another thread.
    let cancel = AtomicBool::new(false);
    let mut last = 0;
    let report = compile(
        &flow,
        &opts,
        &mut |p| {
            if p.frames_done / 250 != last {
                last = p.frames_done / 250;
                eprintln!("{:.0} s of output", p.media_secs);
            }
        },
        &cancel,
    );
    match report {
        Ok(r) => {
            let used = r.clips.iter().filter(|c| matches!(c.status, ClipStatus::Used | ClipStatus::Damaged(_))).count();
            println!(
                "{}: {:.2} s, {} frames, {:.2} s of audio, {} bytes, {used} of {} clips used; slowest stage: {}",
                output.display(),
                r.duration_secs,
                r.frames,
                r.audio_samples.secs_f64(opts.sample_rate),
                r.bytes,
                r.clips.len(),
                r.stages.bound.unwrap_or("-")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compile failed: {e}");
            ExitCode::from(1)
        }
    }
}
