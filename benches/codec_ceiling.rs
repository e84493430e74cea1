//! The codec ceiling of the composite benchmark: how fast this machine can, at best, decode
//! the composite fixture's sources with OpenH264 and encode its 720p canvas, with nothing
//! else (no compositing, no muxing, no audio) and both cores perfectly busy. Composite
//! throughput cannot exceed this bound; `benches/composite_bench.sh` compares against it.
//!
//! Run: `cargo bench --bench codec_ceiling [-- DIR]`, DIR = a set made by
//! `benches/composite_make.sh` (default `$BENCH_DATA/composite1`, made if missing; needs
//! Debian's ffmpeg, as all benchmark fixtures).
//!
//! Measured in one run, one thread each:
//! - decode: every frame of `lecturer.mp4` (1280x720 x264 High, B-frames: a camera) and of
//!   `screen.mp4` (1920x1080, 5 fps), demuxed and decoded by `media`'s OpenH264 decoder;
//! - encode: 720p frames (the decoded camera frames) through `ChunkEncoder` with GOP chunks.
//!
//! The fixture's timeline needs, per second: 25 canvas frames encoded, 25 lecturer frames
//! decoded (whole time), 25 x 1/3 second-camera frames (a third of the time) and 5 x 1/3
//! screen frames. So the best possible x-realtime on `cores` cores is
//! `cores / (cpu seconds per timeline second)`.

mod util;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use media::decode::open_video;
use media::frame::Picture;
use media::packet::MediaKind;

/// Decode every video frame of `path` on this thread: (frames, seconds, pictures kept).
fn decode(path: &Path, keep: usize) -> (usize, f64, Vec<Arc<Picture>>) {
    let (_, mut demux) = media::demux::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let info = demux.streams().iter().find(|s| s.kind == MediaKind::Video).expect("a video stream").clone();
    let mut dec = open_video(&info).expect("decoder");
    let (mut n, mut kept, mut out) = (0usize, Vec::new(), Vec::new());
    let t0 = Instant::now();
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
    (n, t0.elapsed().as_secs_f64(), kept)
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
    let (cam_n, cam_s, cam_pics) = decode(&dir.join("lecturer.mp4"), 400);
    let (scr_n, scr_s, _) = decode(&dir.join("screen.mp4"), 0);
    let cam_ms = cam_s * 1e3 / cam_n as f64;
    let scr_ms = scr_s * 1e3 / scr_n as f64;
    let pics = &cam_pics[..cam_pics.len().min(400)];
    let enc_ms = 1e3 / util::encode_fps(1, pics, util::settings(pics[0].width, pics[0].height));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("OpenH264 decode 1280x720 High (camera): {cam_n} frames, {cam_ms:.2} ms/frame ({:.0} fps)", 1e3 / cam_ms);
    println!("OpenH264 decode 1920x1080 (screen)    : {scr_n} frames, {scr_ms:.2} ms/frame ({:.0} fps)", 1e3 / scr_ms);
    println!(
        "OpenH264 encode 1280x720 canvas       : {} frames, {enc_ms:.2} ms/frame ({:.0} fps)",
        pics.len(),
        1e3 / enc_ms
    );
    // CPU seconds per second of the composite fixture's timeline.
    let per_sec = (25.0 * enc_ms + 25.0 * cam_ms + 25.0 / 3.0 * cam_ms + 5.0 / 3.0 * scr_ms) / 1e3;
    println!(
        "cpu s per timeline s: encode {:.2} + decode {:.2} = {per_sec:.2}",
        25.0 * enc_ms / 1e3,
        per_sec - 25.0 * enc_ms / 1e3
    );
    println!(
        "CEILING composite fixture on {cores} cores: {:.1}x realtime (codecs only, perfect parallelism)",
        cores as f64 / per_sec
    );
    println!(
        "CEILING encode only (static canvas not skipped, no decode): {:.1}x realtime",
        cores as f64 / (25.0 * enc_ms / 1e3)
    );
}
