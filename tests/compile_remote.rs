//! `stitch compile` of a flow whose clips (and slide) are http URLs: a loopback server
//! (tests/fake_server) serves clips made with ffmpeg, with injected 503s and bodies cut
//! mid-transfer; the output is checked with ffprobe; the cache folder `<stem>.clips/` is
//! removed after success unless `--keep-files`; reruns after a failed download or a killed
//! run fetch no complete file twice (the server's per-path request counters).

mod common;
mod fake_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fake_server::{FakeServer, Faults};

/// A 320x240 H.264/AAC clip (a moving test pattern and a tone), `seconds` long; `noisy`:
/// with noise, so it is big (about 0.5 MB a second).
fn make_clip(dir: &Path, name: &str, seconds: u32, tone: u32, noisy: bool) -> Vec<u8> {
    let p = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size=320x240:rate=25:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={tone}:sample_rate=48000:duration={seconds}"));
    if noisy {
        cmd.args(["-vf", "noise=alls=30:allf=t"]);
    }
    let st = cmd
        .args(["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25"])
        .args(["-c:a", "aac", "-b:a", "64k", "-shortest"])
        .arg(&p)
        .status()
        .expect("run ffmpeg");
    assert!(st.success(), "ffmpeg could not make {name}");
    std::fs::read(&p).unwrap()
}

fn make_png(dir: &Path) -> Vec<u8> {
    let p = dir.join("slide.png");
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=64x48:d=1", "-frames:v", "1"])
        .arg(&p)
        .status()
        .expect("run ffmpeg");
    assert!(st.success());
    std::fs::read(&p).unwrap()
}

/// Clip a at 0 s (2 s), clip b at 2 s (2 s), a slide; all by http URL.
fn write_flow(dir: &Path, srv: &FakeServer) -> PathBuf {
    let flow = serde_json::json!({
        "name": "remote", "duration": 4.0,
        "eventLogs": [
            {"relativeTime": 0.0, "module": "mediasession.add", "data": {"id": 1, "url": srv.url("/rec/a.mp4")}},
            {"relativeTime": 2.0, "module": "mediasession.add", "data": {"id": 2, "url": srv.url("/rec/b.mp4?sig=x")}},
            {"relativeTime": 0.5, "module": "slide.show", "data": {"image": srv.url("/slides/1.png")}},
        ]
    });
    let p = dir.join("flow.json");
    std::fs::write(&p, serde_json::to_vec_pretty(&flow).unwrap()).unwrap();
    p
}

async fn run_stitch(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_stitch")).args(&args).output().expect("run stitch")
    })
    .await
    .unwrap()
}

fn compile_args(flow: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec!["compile".into(), flow.display().to_string(), "-o".into(), out.display().to_string()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// ffprobe: duration about 4 s, one H.264 and one AAC stream.
fn check_output(out: &Path) {
    let p = ffprobe(out);
    let dur: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((dur - 4.0).abs() < 0.15, "duration {dur}");
    let codecs: Vec<&str> =
        p["streams"].as_array().unwrap().iter().map(|s| s["codec_name"].as_str().unwrap()).collect();
    assert_eq!(codecs, ["h264", "aac"], "{p}");
    assert_eq!(ffmpeg_decode_errors(out), "");
}

fn cache_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

struct Fixture {
    dir: PathBuf,
    srv: FakeServer,
    flow: PathBuf,
    a: Vec<u8>,
    b: Vec<u8>,
}

async fn fixture(name: &str) -> Option<Fixture> {
    if !have_ffmpeg() {
        return None;
    }
    let dir = scratch(name);
    let media = dir.join("src");
    std::fs::create_dir_all(&media).unwrap();
    let a = make_clip(&media, "a.mp4", 2, 440, false);
    let b = make_clip(&media, "b.mp4", 2, 660, false);
    let png = make_png(&media);
    let srv = FakeServer::start(vec![
        ("/rec/a.mp4".into(), a.clone()),
        ("/rec/b.mp4".into(), b.clone()),
        ("/slides/1.png".into(), png),
    ])
    .await;
    let flow = write_flow(&dir, &srv);
    Some(Fixture { dir, srv, flow, a, b })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_clips_retry_resume_and_cache_removed() {
    let Some(fx) = fixture("remote-retry").await else { return };
    // Every path: the first request gets 503, the first body is cut in the middle.
    fx.srv.set_faults(Faults { fail_first: 1, truncate_first: 1, ..Faults::default() });
    let out = fx.dir.join("talk.mp4");
    let o = run_stitch(compile_args(&fx.flow, &out, &[])).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stitch failed: {err}");
    check_output(&out);
    for path in ["/rec/a.mp4", "/rec/b.mp4"] {
        let c = fx.srv.counters(path);
        assert_eq!(c.injected_errors, 1, "{path}: {c:?}");
        assert_eq!(c.truncated, 1, "{path}: {c:?}");
        assert_eq!(c.full_gets, 1, "{path}: downloaded from 0 once: {c:?}");
        assert!(c.range_starts.iter().any(|&s| s > 0), "{path}: resumed with a range: {c:?}");
        assert_eq!(c.completed_bodies, 1, "{path}: {c:?}");
    }
    assert!(err.contains("retrying"), "{err}");
    assert!(err.contains("remote clips: 3 urls: 3 downloaded"), "{err}");
    assert!(!fx.dir.join("talk.clips").exists(), "cache left behind: {:?}", cache_files(&fx.dir.join("talk.clips")));
    assert!(fx.dir.join("flow.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_files_keeps_the_cache_and_a_rerun_uses_it() {
    let Some(fx) = fixture("remote-keep").await else { return };
    let out = fx.dir.join("kept.mp4");
    let o = run_stitch(compile_args(&fx.flow, &out, &["--keep-files"])).await;
    assert!(o.status.success(), "stitch failed: {}", String::from_utf8_lossy(&o.stderr));
    check_output(&out);
    let cache = fx.dir.join("kept.clips");
    let files = cache_files(&cache);
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(files.iter().filter(|f| f.ends_with(".mp4")).count(), 2, "{files:?}");
    assert_eq!(files.iter().filter(|f| f.ends_with(".png")).count(), 1, "{files:?}");
    assert!(files.iter().all(|f| f.len() == 16 + 4), "{files:?}");
    let sizes: Vec<usize> = files
        .iter()
        .filter(|f| f.ends_with(".mp4"))
        .map(|f| std::fs::metadata(cache.join(f)).unwrap().len() as usize)
        .collect();
    assert!(sizes.contains(&fx.a.len()) && sizes.contains(&fx.b.len()), "{sizes:?}");
    // A rerun finds every file complete: no request at all, and (without --keep-files)
    // then removes the cache.
    fx.srv.reset_counters();
    // The output exists from the first run: replacing it needs --force.
    let o = run_stitch(compile_args(&fx.flow, &out, &["--force"])).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stitch failed: {err}");
    assert!(fx.srv.all_counters().is_empty(), "{:?}", fx.srv.all_counters());
    assert!(err.contains("0 downloaded, 3 already there"), "{err}");
    check_output(&out);
    assert!(!cache.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_download_skips_its_clip_and_a_rerun_fetches_only_the_missing_one() {
    let Some(fx) = fixture("remote-fail").await else { return };
    let mut faults = Faults::default();
    faults.status.insert("/rec/b.mp4".into(), 404);
    fx.srv.set_faults(faults);
    let out = fx.dir.join("part.mp4");
    let o = run_stitch(compile_args(&fx.flow, &out, &[])).await;
    let err = String::from_utf8_lossy(&o.stderr);
    // b is skipped with the reason, the compile still succeeds with a.
    assert!(o.status.success(), "stitch failed: {err}");
    assert!(err.contains("skipped") && err.contains("/rec/b.mp4") && err.contains("404"), "{err}");
    assert!(err.contains("clips: 1 used of 2"), "{err}");
    // The cache stays (a download failed), with the complete a.
    let cache = fx.dir.join("part.clips");
    assert_eq!(cache_files(&cache).iter().filter(|f| f.ends_with(".mp4")).count(), 1);
    assert_eq!(fx.srv.counters("/rec/a.mp4").gets, 1);
    // The server is fixed: the rerun downloads b only.
    fx.srv.set_faults(Faults::default());
    fx.srv.reset_counters();
    // The output exists from the first run: replacing it needs --force.
    let o = run_stitch(compile_args(&fx.flow, &out, &["--force"])).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stitch failed: {err}");
    assert_eq!(fx.srv.counters("/rec/a.mp4").requests, 0, "{:?}", fx.srv.all_counters());
    assert_eq!(fx.srv.counters("/rec/b.mp4").completed_bodies, 1);
    assert!(err.contains("1 downloaded, 2 already there"), "{err}");
    assert!(err.contains("clips: 2 used of 2"), "{err}");
    check_output(&out);
    assert!(!cache.exists());

    // No clip usable at all: the compile fails, and the cache is kept.
    let mut faults = Faults::default();
    faults.status.insert("/rec/a.mp4".into(), 410);
    faults.status.insert("/rec/b.mp4".into(), 404);
    fx.srv.set_faults(faults);
    let out2 = fx.dir.join("none.mp4");
    let o = run_stitch(compile_args(&fx.flow, &out2, &["--quiet"])).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("no clip could be used") && err.contains("410"), "{err}");
    assert!(!out2.exists());
    assert!(fx.dir.join("none.clips").is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_run_resumes_without_refetching() {
    let Some(fx) = fixture("remote-kill").await else { return };
    // A longer second clip (the flow shows its first 2 s), served slowly: the run is killed
    // while it is partly there and the first clip is complete.
    let big = make_clip(&fx.dir.join("src"), "big.mp4", 3, 550, true);
    assert!(big.len() > 600_000, "{}", big.len());
    fx.srv.add_file("/rec/b.mp4", big.clone());
    fx.srv.set_faults(Faults { chunk_size: 8192, chunk_delay: Duration::from_millis(10), ..Faults::default() });
    let out = fx.dir.join("killed.mp4");
    let cache = fx.dir.join("killed.clips");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stitch"))
        .args(compile_args(&fx.flow, &out, &["--quiet"]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let b_part = loop {
        let files = cache_files(&cache);
        let complete = files.iter().filter(|f| f.ends_with(".mp4")).count();
        let part = files.iter().find(|f| f.ends_with(".mp4.part")).cloned();
        // Wait until one clip is complete and the other is partly there.
        if let (1, Some(p)) = (complete, part) {
            let n = std::fs::metadata(cache.join(&p)).map(|m| m.len()).unwrap_or(0);
            if n > 0 {
                break p;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "never saw a partial download: {files:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let part_len = std::fs::metadata(cache.join(&b_part)).unwrap().len();
    assert!(part_len > 0 && (part_len as usize) < big.len());
    assert!(!out.exists());
    let before = fx.srv.all_counters();
    assert_eq!(before["/rec/a.mp4"].completed_bodies, 1);

    fx.srv.set_faults(Faults::default());
    fx.srv.reset_counters();
    // The output exists from the first run: replacing it needs --force.
    let o = run_stitch(compile_args(&fx.flow, &out, &["--force"])).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stitch failed: {err}");
    let after = fx.srv.all_counters();
    assert!(!after.contains_key("/rec/a.mp4"), "a fetched again: {after:?}");
    let b = &after["/rec/b.mp4"];
    assert_eq!(b.full_gets, 0, "b restarted from 0: {b:?}");
    assert!(b.range_starts.iter().all(|&s| s > 0) && !b.range_starts.is_empty(), "{b:?}");
    assert_eq!(b.range_starts[0], part_len, "{b:?}");
    assert_eq!(b.bytes_served + part_len, big.len() as u64, "{b:?}");
    check_output(&out);
    assert!(!cache.exists());
}

#[test]
fn unsupported_scheme_is_a_clear_error() {
    let dir = scratch("remote-scheme");
    let flow = dir.join("flow.json");
    std::fs::write(
        &flow,
        r#"{"eventLogs":[{"relativeTime":0,"data":{"url":"a.mp4"}},{"relativeTime":1,"data":{"url":"ftp://h/b.mp4"}}]}"#,
    )
    .unwrap();
    let out = dir.join("o.mp4");
    let o = stitch(&["compile", flow.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("event 1 (clip)") && err.contains("ftp://h/b.mp4") && err.contains("not supported"), "{err}");
    assert!(!out.exists() && !dir.join("o.clips").exists());
}

/// `--json` (and `--stats`) include the downloads as the `download` stage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_stats_have_the_download_stage() {
    let Some(fx) = fixture("remote-stats").await else { return };
    let out = fx.dir.join("stats.mp4");
    let o = run_stitch(compile_args(&fx.flow, &out, &["--json", "--stats", "-q"])).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stitch failed: {err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    let stages = v["stages"]["stages"].as_array().unwrap();
    assert_eq!(stages[0]["name"], "download", "{v}");
    assert_eq!(stages[0]["items"].as_u64(), Some(3), "{v}");
    assert_eq!(stages[0]["bytes"].as_u64(), Some((fx.a.len() + fx.b.len()) as u64 + png_bytes(&fx)), "{v}");
    assert!(stages[0]["wall_secs"].as_f64().unwrap() > 0.0);
    assert!(err.contains("download"), "--stats table: {err}");
    check_output(&out);
}

fn png_bytes(fx: &Fixture) -> u64 {
    std::fs::read_dir(fx.dir.join("src"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".png"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}
