//! The codec ceiling of the composite benchmark: how fast this machine can, at best, decode
//! the composite fixture's sources (with OpenH264, and with libavcodec in a build with the
//! `ffmpeg` feature: `cargo bench --features ffmpeg --bench codec_ceiling`) and encode its
//! 720p canvas, with nothing else (no compositing, no muxing, no audio) and both cores
//! perfectly busy. Composite throughput cannot exceed this bound;
//! `benches/composite_bench.sh` compares against it.
//!
//! Run: `cargo bench --bench codec_ceiling [-- DIR]`, DIR = a set made by
//! `benches/composite_make.sh` (default `$BENCH_DATA/composite1`, made if missing; needs
//! Debian's ffmpeg, as all benchmark fixtures).
//!
//! Measured in one run:
//! - decode: every frame of `lecturer.mp4` (1280x720 x264 High, B-frames: a camera) and of
//!   `screen.mp4` (1920x1080, 5 fps), demuxed and decoded by each of `media`'s H.264
//!   decoders this build has. OpenH264 runs on the calling thread; libavcodec uses frame
//!   threads (one per core), so both wall time and process CPU time (`getrusage`, all
//!   threads) per frame are printed, and the ceiling is computed from CPU time;
//! - encode: 720p frames (the decoded camera frames) through `ChunkEncoder` with GOP chunks,
//!   one thread.
//!
//! The fixture's timeline needs, per second: 25 canvas frames encoded, 25 lecturer frames
//! decoded (whole time), 25 x 1/3 second-camera frames (a third of the time) and 5 x 1/3
//! screen frames. So the best possible x-realtime on `cores` cores is
//! `cores / (cpu seconds per timeline second)`.

mod util;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use media::decode::{open_video, DecoderChoice};
use media::frame::Picture;
use media::packet::MediaKind;

/// CPU time of the whole process (every thread), seconds.
fn process_cpu() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(r.ru_utime) + t(r.ru_stime)
}

/// One decode run: frames, wall seconds, process CPU seconds.
struct Run {
    frames: usize,
    wall: f64,
    cpu: f64,
}

impl Run {
    fn wall_ms(&self) -> f64 {
        self.wall * 1e3 / self.frames.max(1) as f64
    }
    fn cpu_ms(&self) -> f64 {
        self.cpu * 1e3 / self.frames.max(1) as f64
    }
}

/// Decode every video frame of `path` with `choice`: the run and the pictures kept.
fn decode(path: &Path, choice: DecoderChoice, keep: usize) -> (Run, Vec<Arc<Picture>>) {
    let (_, mut demux) = media::demux::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let info = demux.streams().iter().find(|s| s.kind == MediaKind::Video).expect("a video stream").clone();
    let mut dec = open_video(&info, choice).expect("decoder");
    let (mut n, mut kept, mut out) = (0usize, Vec::new(), Vec::new());
    let (t0, c0) = (Instant::now(), process_cpu());
    while let Some(p) = demux.next_packet().expect("demux") {
        if p.stream != info.index {
            continue;
        }
        dec.decode(&p, &mut out).expect("decode");
        n += out.len();
        for f in out.drain(..) {
            if kept.len() < keep {
                kept.push(f.picture);
            }
        }
    }
    dec.flush(&mut out).expect("flush");
    n += out.len();
    (Run { frames: n, wall: t0.elapsed().as_secs_f64(), cpu: process_cpu() - c0 }, kept)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::args().skip(1).find(|a| !a.starts_with('-')).map(PathBuf::from).unwrap_or_else(|| {
        let data = std::env::var("BENCH_DATA").unwrap_or_else(|_| "/tmp/stitch-bench".into());
        Path::new(&data).join("composite1")
    });
    if !dir.join("lecturer.mp4").exists() {
        // Benchmarks may use ffmpeg to make fixtures (never the product).
        let ok = std::process::Command::new("bash")
            .arg(root.join("benches/composite_make.sh"))
            .arg("1")
            .arg(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "could not make the fixture with benches/composite_make.sh (is ffmpeg installed?)");
    }
    let mut choices = vec![("OpenH264", DecoderChoice::OpenH264)];
    if DecoderChoice::Ffmpeg.available() {
        choices.push(("libavcodec", DecoderChoice::Ffmpeg));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut pics = Vec::new();
    let mut decoders = Vec::new();
    for (name, choice) in choices {
        let (cam, cam_pics) = decode(&dir.join("lecturer.mp4"), choice, if pics.is_empty() { 400 } else { 0 });
        if pics.is_empty() {
            pics = cam_pics;
        }
        let (scr, _) = decode(&dir.join("screen.mp4"), choice, 0);
        for (what, r) in [("1280x720 High (camera)", &cam), ("1920x1080 (screen)   ", &scr)] {
            println!(
                "{name:<10} decode {what}: {} frames, {:.2} ms/frame wall ({:.0} fps), {:.2} ms/frame cpu",
                r.frames,
                r.wall_ms(),
                1e3 / r.wall_ms(),
                r.cpu_ms()
            );
        }
        decoders.push((name, cam.cpu_ms(), scr.cpu_ms()));
    }
    let pics = &pics[..pics.len().min(400)];
    let enc_ms = 1e3 / util::encode_fps(1, pics, util::settings(pics[0].width, pics[0].height));
    println!(
        "OpenH264   encode 1280x720 canvas      : {} frames, {enc_ms:.2} ms/frame ({:.0} fps)",
        pics.len(),
        1e3 / enc_ms
    );
    for (name, cam_ms, scr_ms) in decoders {
        // CPU seconds per second of the composite fixture's timeline.
        let per_sec = (25.0 * enc_ms + 25.0 * cam_ms + 25.0 / 3.0 * cam_ms + 5.0 / 3.0 * scr_ms) / 1e3;
        println!(
            "{name}: cpu s per timeline s: encode {:.2} + decode {:.2} = {per_sec:.2}",
            25.0 * enc_ms / 1e3,
            per_sec - 25.0 * enc_ms / 1e3
        );
        println!(
            "CEILING ({name}) composite fixture on {cores} cores: {:.1}x realtime (codecs only, perfect parallelism)",
            cores as f64 / per_sec
        );
    }
    println!(
        "CEILING encode only (static canvas not skipped, no decode): {:.1}x realtime",
        cores as f64 / (25.0 * enc_ms / 1e3)
    );
}
