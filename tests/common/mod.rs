//! Shared helpers for the integration tests: run the `stitch` binary, and an independent
//! oracle (Debian's ffmpeg/ffprobe) to decode what it wrote.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn testdata(name: &str) -> PathBuf {
    root().join("testdata").join(name)
}

/// A fresh scratch folder under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let d = base.join(format!("stitch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn stitch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stitch")).args(args).output().expect("run stitch")
}

pub fn have_ffmpeg() -> bool {
    let ok = Command::new("ffprobe").arg("-version").output().map(|o| o.status.success()).unwrap_or(false)
        && Command::new("ffmpeg").arg("-version").output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        // CI installs ffmpeg (.ci/setup.sh); a developer without it gets a loud note.
        eprintln!("NOTE: ffmpeg/ffprobe not found: oracle checks skipped (run .ci/setup.sh)");
        if std::env::var_os("CI").is_some() {
            panic!("ffmpeg/ffprobe are required in CI");
        }
    }
    ok
}

/// ffprobe's JSON for streams and format.
pub fn ffprobe(path: &Path) -> serde_json::Value {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-show_format", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(o.status.success(), "ffprobe rejected {}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("ffprobe json")
}

/// `ffmpeg -v error -i OUT -f null -`: must print nothing.
pub fn ffmpeg_decode_errors(path: &Path) -> String {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let mut s = String::from_utf8_lossy(&o.stderr).into_owned();
    if !o.status.success() {
        s.push_str(&format!("(exit {:?})", o.status.code()));
    }
    s
}

/// Every frame of `path` as a yuv420p buffer of `w`x`h` (the video's own size), decoded by
/// ffmpeg, in presentation order.
pub fn ffmpeg_yuv_frames(path: &Path, w: usize, h: usize) -> Vec<Vec<u8>> {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-an", "-pix_fmt", "yuv420p", "-f", "rawvideo", "-"])
        .output()
        .expect("ffmpeg");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout.chunks_exact(w * h * 3 / 2).map(<[u8]>::to_vec).collect()
}

pub const SMALL_W: usize = 64;
pub const SMALL_H: usize = 36;

/// Every decoded picture scaled to 64x36: mean luma of the centre 16x12 block, one per frame
/// in presentation order (constant frame rate output).
pub fn ffmpeg_lumas(path: &Path) -> Vec<f64> {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-an",
            "-vf",
            &format!("scale={SMALL_W}:{SMALL_H}:flags=bilinear"),
            "-pix_fmt",
            "yuv420p",
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .expect("ffmpeg");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let frame = SMALL_W * SMALL_H * 3 / 2;
    o.stdout.chunks_exact(frame).map(|f| centre_luma(&f[..SMALL_W * SMALL_H], SMALL_W, SMALL_H)).collect()
}

pub fn centre_luma(y: &[u8], w: usize, h: usize) -> f64 {
    let (bw, bh) = (w / 4, h / 3);
    let (x0, y0) = ((w - bw) / 2, (h - bh) / 2);
    let mut s = 0u64;
    for r in y0..y0 + bh {
        for c in x0..x0 + bw {
            s += y[r * w + c] as u64;
        }
    }
    s as f64 / (bw * bh) as f64
}

/// Every video and audio frame of the file's first video and audio streams, decoded by the
/// `media` crate itself (demux + decode + flush), for tests that compare against the
/// independent ffmpeg decode or against another run of stitch.
pub fn media_decode(path: &Path) -> (Vec<stitch::media::frame::VideoFrame>, Vec<stitch::media::frame::AudioFrame>) {
    use stitch::media::packet::MediaKind;
    let (_, mut d) = stitch::media::demux::open(path).unwrap();
    let streams = d.streams().to_vec();
    let vs = streams.iter().find(|s| s.kind == MediaKind::Video).unwrap().clone();
    let aus = streams.iter().find(|s| s.kind == MediaKind::Audio).unwrap().clone();
    let mut vd = stitch::media::decode::open_video(&vs, Default::default()).unwrap();
    let mut ad = stitch::media::decode::open_audio(&aus).unwrap();
    let (mut vf, mut af) = (Vec::new(), Vec::new());
    while let Some(p) = d.next_packet().unwrap() {
        if p.stream == vs.index {
            vd.decode(&p, &mut vf).unwrap();
        } else if p.stream == aus.index {
            ad.decode(&p, &mut af).unwrap();
        }
    }
    vd.flush(&mut vf).unwrap();
    ad.flush(&mut af).unwrap();
    (vf, af)
}

/// Mean luma of a band left of the middle of `r` in a Y plane `width` wide (away from
/// letterbox bars, the name label at the bottom and the initials circle of a name card).
pub fn mean_in(y: &[u8], width: u32, r: stitch::media::compose::layout::Rect) -> f64 {
    let (x0, x1) = (r.x + r.w / 16, r.x + r.w / 5);
    let (y0, y1) = (r.y + r.h * 3 / 8, r.y + r.h / 2);
    let mut s = 0u64;
    for yy in y0..y1 {
        for xx in x0..x1 {
            s += y[(yy * width + xx) as usize] as u64;
        }
    }
    s as f64 / ((x1 - x0) * (y1 - y0)) as f64
}

/// The limited-range luma ffmpeg gives a full-range grey level (BT.601 `color=` sources).
pub fn luma_of(grey: u8) -> f64 {
    16.0 + grey as f64 * 219.0 / 255.0
}

/// Decoded audio as mono f32 at 48 kHz (sample clock: samples laid end to end).
pub fn ffmpeg_pcm(path: &Path) -> Vec<f32> {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-vn", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"])
        .output()
        .expect("ffmpeg");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// Amplitude of frequency `hz` in `x` (Goertzel, Hann window), relative to a full-scale sine = 1.
pub fn tone_level(x: &[f32], rate: f64, hz: f64) -> f64 {
    let n = x.len();
    let w = 2.0 * std::f64::consts::PI * hz / rate;
    let (mut re, mut im) = (0.0, 0.0);
    let mut wsum = 0.0;
    for (i, &v) in x.iter().enumerate() {
        let win = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos();
        re += v as f64 * win * (w * i as f64).cos();
        im -= v as f64 * win * (w * i as f64).sin();
        wsum += win;
    }
    2.0 * (re * re + im * im).sqrt() / wsum
}

pub fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

// Child processes with a time limit (the corpus tests).

/// A finished (or killed) child process.
pub struct Run {
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub secs: f64,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Runs `cmd` with stdout/stderr into files in `dir` (no pipe can fill up), polling
/// `try_wait` and killing the child after `limit`.
pub fn run_limited(mut cmd: Command, limit: Duration, dir: &Path, tag: &str) -> Run {
    let out_p = dir.join(format!("{tag}.stdout"));
    let err_p = dir.join(format!("{tag}.stderr"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&out_p).expect("create stdout file"))
        .stderr(File::create(&err_p).expect("create stderr file"));
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(st) => break Some(st),
            None if start.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                timed_out = true;
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let stdout = std::fs::read(&out_p).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&std::fs::read(&err_p).unwrap_or_default()).into_owned();
    let _ = std::fs::remove_file(&out_p);
    let _ = std::fs::remove_file(&err_p);
    Run { status, timed_out, secs, stdout, stderr }
}

#[cfg(unix)]
pub fn signal_of(st: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    st.signal()
}
#[cfg(not(unix))]
pub fn signal_of(_: &ExitStatus) -> Option<i32> {
    None
}

/// The shared real-world corpus beside this repository (`../shared/corpus`).
pub fn corpus_dir() -> PathBuf {
    root().join("..").join("shared").join("corpus")
}
