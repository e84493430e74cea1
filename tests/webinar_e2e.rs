//! `stitch webinar` end to end against a fake MTS Link API and a fake storage server on
//! 127.0.0.1: link -> API -> plan -> download -> compile, cookies never sent to storage,
//! resume after `kill -9`, and identical output under injected resets and 5xx.

mod common;
mod fake_server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use common::*;
use fake_server::{FakeServer, Faults};

const CLIPS: [(&str, f64); 4] =
    [("a_high_bframes.mp4", 0.5), ("b_other_res.mp4", 5.0), ("e_clip.ts", 8.5), ("c_audio_only.m4a", 9.0)];
const DURATION: f64 = 12.5;
const LINK: &str = "https://my.mts-link.ru/12345/67890/record-new/111/record-file/222";

fn storage_path(name: &str) -> String {
    format!("/api-storage/files/wowza/2026/01/01/{name}")
}

fn record_json(storage: &FakeServer) -> serde_json::Value {
    let t0 = 1_767_261_600.0; // 2026-01-01 10:00 UTC
    let mut logs =
        vec![serde_json::json!({"id": 1, "module": "eventsession.start", "time": t0, "relativeTime": 0.0, "data": {},
        "snapshot": {"data": {"userlist": [{"role": "LECTURER", "user": {"id": 7, "nickname": "Лектор"}}]}}})];
    for (i, (name, at)) in CLIPS.iter().enumerate() {
        logs.push(serde_json::json!({"id": 10 + i, "module": "mediasession.add", "time": t0 + at, "relativeTime": at,
            "data": {"id": 100 + i, "url": storage.url(&storage_path(name)),
                     "stream": {"conference": {"id": 50 + i, "user": {"id": 7 + i, "nickname": format!("User {i}")}}}}}));
    }
    serde_json::json!({"name": "Lecture 1", "duration": DURATION, "eventLogs": logs})
}

#[derive(Clone, Default)]
struct ApiState {
    record: Arc<Mutex<serde_json::Value>>,
    cookies: Arc<Mutex<Vec<String>>>,
}

async fn flow(State(s): State<ApiState>, headers: HeaderMap) -> Json<serde_json::Value> {
    if let Some(c) = headers.get("cookie") {
        s.cookies.lock().unwrap().push(c.to_str().unwrap_or("").to_string());
    }
    Json(s.record.lock().unwrap().clone())
}

async fn start_api(record: serde_json::Value) -> (String, ApiState) {
    let st = ApiState { record: Arc::new(Mutex::new(record)), ..Default::default() };
    let app =
        Router::new().route("/api/event-sessions/{sid}/record-files/{fid}/flow", get(flow)).with_state(st.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}"), st)
}

async fn start_storage() -> FakeServer {
    let files = CLIPS.iter().map(|(n, _)| (storage_path(n), std::fs::read(testdata(n)).unwrap())).collect();
    FakeServer::start(files).await
}

fn webinar_cmd(api: &str, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stitch"));
    c.args([
        "webinar",
        LINK,
        "--api-host",
        api,
        "--output-dir",
        out.to_str().unwrap(),
        "--session-id",
        "SECRET-SESSION",
        "--size",
        "320x240",
        "-q",
    ]);
    c.args(extra);
    c
}

async fn run(mut c: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
}

fn find_output(dir: &Path) -> PathBuf {
    let job = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).expect("job folder");
    assert_eq!(job.file_name().unwrap().to_string_lossy(), "Lecture 1_2026-01-01", "job folder named <name>_<date>");
    assert!(job.join("manifest.json").is_file());
    job.join("Lecture 1.mp4")
}

fn check_content(out: &Path) {
    if !have_ffmpeg() {
        return;
    }
    let e = ffmpeg_decode_errors(out);
    assert!(e.is_empty(), "{e}");
    let l = ffmpeg_lumas(out);
    assert!((l.len() as i64 - (DURATION * 25.0) as i64).abs() <= 1, "{} frames", l.len());
    for (t, want) in [(0.2, 16.0), (2.0, 60.0), (6.0, 110.0), (10.0, 200.0)] {
        let got = l[(t * 25.0) as usize];
        assert!((got - want).abs() < 6.0, "at {t}s luma {got}, want {want}");
    }
    let pcm = ffmpeg_pcm(out);
    let w = &pcm[(9.6 * 48000.0) as usize..(9.7 * 48000.0) as usize];
    assert!(tone_level(w, 48000.0, 550.0) > 0.02 && tone_level(w, 48000.0, 880.0) > 0.02, "both voices mixed at 9.6 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_to_file_and_no_cookie_reaches_storage() {
    let storage = start_storage().await;
    let (api, st) = start_api(record_json(&storage)).await;
    let dir = scratch("webinar-basic");
    let o = run(webinar_cmd(&api, &dir, &["--json"])).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = find_output(&dir);
    check_content(&out);
    // --json: the record, its clips and the stages, downloads first.
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json: one object on stdout");
    assert_eq!(v["ok"], true);
    assert_eq!(v["records"][0]["status"], "done");
    let stages = v["records"][0]["stages"]["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["download", "demux", "decode", "compose", "encode", "mux"], "{v}");
    assert!(stages[0]["bytes"].as_u64().unwrap() > 0 && stages[0]["items"].as_u64() == Some(CLIPS.len() as u64));
    assert!(
        st.cookies.lock().unwrap().iter().any(|c| c.contains("sessionId=SECRET-SESSION")),
        "the API got the session cookie"
    );
    for (p, c) in storage.all_counters() {
        assert_eq!(c.with_cookie, 0, "cookie sent to the storage host for {p}");
        assert_eq!(c.completed_bodies, 1, "{p} downloaded once");
    }
    // Chunks are removed after a successful compile (no --keep-files); the chat is exported.
    let job = out.parent().unwrap();
    assert!(job.join("Lecture 1.chat.srt").is_file() && job.join("Lecture 1.chat.json").is_file());
    assert!(!std::fs::read_dir(job).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("chunk_")));

    // Run again: the finished job is found, nothing is fetched or written, exit 0.
    let before = std::fs::read(&out).unwrap();
    storage.reset_counters();
    let mut again = Command::new(env!("CARGO_BIN_EXE_stitch"));
    again.args(["webinar", LINK, "--api-host", &api, "--output-dir", dir.to_str().unwrap(), "--json"]);
    again.args(["--session-id", "SECRET-SESSION", "--size", "320x240"]);
    let o = run(again).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains(&format!("already done: {}", out.display())), "{e}");
    assert_eq!(storage.total(|c| c.gets as u64), 0, "nothing downloaded again");
    assert_eq!(std::fs::read(&out).unwrap(), before, "the finished file is untouched");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json: one object on stdout");
    assert_eq!(v["command"], "webinar");
    assert_eq!(v["records"][0]["status"], "already_done");
    assert_eq!(v["records"][0]["outputs"][0]["path"], out.to_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_minus_9_then_rerun_resumes_without_refetching() {
    let storage = start_storage().await;
    let (api, _st) = start_api(record_json(&storage)).await;
    let dir = scratch("webinar-kill");
    // Slow storage: 4 KB every 25 ms, so the first run is killed mid-download.
    storage.set_faults(Faults { chunk_size: 4096, chunk_delay: Duration::from_millis(25), ..Default::default() });
    let mut child = webinar_cmd(&api, &dir, &["-j", "2"]).spawn().unwrap();
    let t0 = Instant::now();
    while storage.total(|c| c.completed_bodies as u64) < 1 && t0.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let first = storage.all_counters();
    let complete_before: Vec<String> =
        first.iter().filter(|(_, c)| c.completed_bodies > 0).map(|(p, _)| p.clone()).collect();
    assert!(
        !complete_before.is_empty() && complete_before.len() < CLIPS.len(),
        "killed mid-download: {complete_before:?}"
    );
    storage.set_faults(Faults::default());
    let o = run(webinar_cmd(&api, &dir, &["-j", "2"])).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_content(&find_output(&dir));
    for (p, c) in storage.all_counters() {
        assert!(c.completed_bodies <= 1, "{p} was downloaded completely {} times", c.completed_bodies);
        if complete_before.contains(&p) {
            assert_eq!(c.gets, first[&p].gets, "{p} was complete before the kill and fetched again");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_and_5xx_give_identical_output() {
    let storage = start_storage().await;
    let (api, _st) = start_api(record_json(&storage)).await;
    let clean = scratch("webinar-clean");
    let o = run(webinar_cmd(&api, &clean, &[])).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = std::fs::read(find_output(&clean)).unwrap();

    storage.reset_counters();
    storage.set_faults(Faults {
        reset_above: Some(1),
        fail_first: 2,
        retry_after: Some("0".into()),
        truncate_first: 1,
        ..Default::default()
    });
    let faulty = scratch("webinar-faulty");
    let o = run(webinar_cmd(&api, &faulty, &["-j", "3"])).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = std::fs::read(find_output(&faulty)).unwrap();
    assert!(storage.total(|c| (c.injected_errors + c.resets + c.truncated) as u64) > 0, "faults were injected");
    assert!(got == want, "output differs under faults ({} vs {} bytes)", got.len(), want.len());
}

#[test]
fn malformed_link_is_rejected_with_an_example() {
    let o = stitch(&[
        "webinar",
        "https://example.com/not-a-record",
        "--output-dir",
        scratch("webinar-bad").to_str().unwrap(),
        "-q",
    ]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("record-new"), "the error shows an accepted form: {e}");
}

#[test]
fn interactive_mode_asks_and_validates() {
    // A terminal is needed for interactive mode: `script` gives the command a pty.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("NOTE: `script` not found; interactive test skipped");
        return;
    }
    let dir = scratch("webinar-interactive");
    let cmd = format!(
        "{} webinar --api-host http://127.0.0.1:9 --output-dir {}",
        env!("CARGO_BIN_EXE_stitch"),
        dir.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Answer each prompt only once it is shown, so the terminal's echo state at that moment
    // is the program's (the session id prompt turns echo off).
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        let mut out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let wait_for = |needle: &str, count: usize| {
        let t0 = std::time::Instant::now();
        while seen.lock().unwrap().matches(needle).count() < count {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(20),
                "no '{needle}' prompt: {}",
                seen.lock().unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        wait_for("Record link", 1);
        stdin.write_all(b"not a link\n").unwrap();
        wait_for("Record link", 2);
        stdin.write_all(format!("{LINK}\n").as_bytes()).unwrap();
        wait_for("sessionId", 1);
        std::thread::sleep(std::time::Duration::from_millis(100));
        stdin.write_all(b"SECRET-TYPED\n").unwrap();
        wait_for("Output folder", 1);
        stdin.write_all(format!("{}\n", dir.display()).as_bytes()).unwrap();
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let all = seen.lock().unwrap().clone();
    assert!(all.contains("record-new"), "a bad link gets an accepted example: {all}");
    assert!(!all.contains("SECRET-TYPED"), "the session id is not echoed: {all}");
    assert!(!status.success(), "the API at 127.0.0.1:9 is unreachable: {all}");
}

/// A chunk whose storage MP4 has no video while its HLS twin has (and one whose MP4 is
/// missing): both come from the twin, recorded in-process, and the output is the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_twin_replaces_a_chunk_without_video() {
    if !have_ffmpeg() {
        eprintln!("skipped: needs Debian's ffmpeg to cut the HLS twin fixture");
        return;
    }
    let work = scratch("webinar-twin-src");
    let ff = |args: &[&str]| {
        let st =
            Command::new("/usr/bin/ffmpeg").args(["-hide_banner", "-v", "error", "-y"]).args(args).status().unwrap();
        assert!(st.success(), "ffmpeg {args:?}");
    };
    // Clip 1 (b_other_res.mp4, luma 110): storage copy without video + HLS twin with both.
    let b = testdata("b_other_res.mp4");
    let b_audio = work.join("b_audio.mp4");
    ff(&["-i", b.to_str().unwrap(), "-vn", "-c", "copy", b_audio.to_str().unwrap()]);
    // An HLS cut of `src` (1 s TS segments) into `dir`.
    let hls_cut = |src: &Path, dir: &Path| {
        std::fs::create_dir_all(dir).unwrap();
        let (seg, pl) = (dir.join("s%d.ts"), dir.join("playlist.m3u8"));
        ff(&["-i", src.to_str().unwrap(), "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0"]
            .into_iter()
            .chain(["-hls_segment_filename", seg.to_str().unwrap(), pl.to_str().unwrap()])
            .collect::<Vec<_>>());
    };
    let hls_dir = work.join("hls");
    hls_cut(&b, &hls_dir);
    // Clip 0 (a_high_bframes.mp4, luma 60): missing on storage (404), HLS twin only.
    let a = testdata("a_high_bframes.mp4");
    let a_dir = work.join("hls_a");
    hls_cut(&a, &a_dir);

    let storage = start_storage().await;
    storage.add_file(&storage_path("b_other_res.mp4"), std::fs::read(&b_audio).unwrap());
    let mut faults = Faults::default();
    faults.status.insert(storage_path("a_high_bframes.mp4"), 404);
    storage.set_faults(faults);
    let twin_prefix = |n: &str| format!("/record/2026/01/01/{n}.mp4");
    for (name, dir) in [("b_other_res", &hls_dir), ("a_high_bframes", &a_dir)] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let f = p.file_name().unwrap().to_string_lossy().to_string();
            storage.add_file(&format!("{}/{f}", twin_prefix(name)), std::fs::read(&p).unwrap());
        }
    }
    let mut rec = record_json(&storage);
    for (i, name) in [(1usize, "b_other_res"), (0usize, "a_high_bframes")] {
        rec["eventLogs"][1 + i]["data"]["hlsUrl"] =
            serde_json::json!(storage.url(&format!("{}/playlist.m3u8", twin_prefix(name))));
    }
    let (api, _st) = start_api(rec).await;
    let dir = scratch("webinar-twin");
    let o = run(webinar_cmd(&api, &dir, &["--keep-files"])).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = find_output(&dir);
    check_content(&out);
    let job = out.parent().unwrap();
    let twins: Vec<String> = std::fs::read_dir(job)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".hls.mp4"))
        .collect();
    assert_eq!(twins.len(), 2, "{twins:?}");
    for (p, c) in storage.all_counters() {
        assert_eq!(c.with_cookie, 0, "cookie sent to the storage host for {p}");
    }
    // A re-run reuses the twins: no playlist fetched again.
    storage.reset_counters();
    let o = run(webinar_cmd(&api, &dir, &["--keep-files"])).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_content(&find_output(&dir));
    let refetched: Vec<String> = storage
        .all_counters()
        .into_iter()
        .filter(|(p, c)| p.ends_with(".m3u8") && c.requests > 0)
        .map(|(p, _)| p)
        .collect();
    assert!(refetched.is_empty(), "twins fetched again: {refetched:?}");
}
