//! `stitch serve`, `stitch worker` and `stitch jobs` as processes, on the embedded default
//! (SQLite file and local storage in a temp data folder), against a loopback HLS origin the
//! test starts itself; outputs checked with ffprobe.

mod common;
mod hls_origin;
mod serve_common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_common::*;

/// The first command a user tries: `stitch serve` with no configuration, then
/// `stitch jobs submit compile FLOW --wait`; the output lands in the data folder.
#[test]
fn embedded_default_compile_end_to_end() {
    if !common::have_ffmpeg() {
        eprintln!("skipped: no ffmpeg");
        return;
    }
    let dir = common::scratch("serve-e2e");
    let data = dir.join("stitch-data");
    let (srv, port) = serve(&data, &["--workers", "1"]);
    let flow = common::testdata("flow_basic.json");
    let out = jobs_cli(
        port,
        &["submit", "compile", flow.to_str().unwrap(), "--wait", "-p", "max_duration=6", "-p", "size=320x180"],
    );
    assert!(out.status.success(), "submit: {}\n{}", String::from_utf8_lossy(&out.stderr), srv.logs());
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (st, j) = json_of(port, "GET", &format!("/api/v1/jobs/{id}"), None);
    assert_eq!(st, 200);
    assert_eq!(j["status"], "succeeded", "{j}");
    assert_eq!(j["attempts"], 1);
    assert_eq!(j["progress"]["percent"], 100.0);
    assert!(j["error"].is_null());
    for k in ["created_at", "started_at", "finished_at"] {
        assert!(j[k].as_str().unwrap().ends_with('Z'), "{k}: {j}");
    }
    let outputs = j["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1, "{j}");
    assert_eq!(outputs[0]["name"], "basic.mp4");
    let file = data.join("jobs").join(&id).join("basic.mp4");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), outputs[0]["size"].as_u64().unwrap());
    assert_eq!(sha256_of(&file), outputs[0]["sha256"].as_str().unwrap());
    let probe = common::ffprobe(&file);
    let dur: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((dur - 6.0).abs() < 0.3, "duration {dur}");
    let codecs: Vec<&str> =
        probe["streams"].as_array().unwrap().iter().filter_map(|s| s["codec_name"].as_str()).collect();
    assert!(codecs.contains(&"h264") && codecs.contains(&"aac"), "{codecs:?}");
    assert_eq!(common::ffmpeg_decode_errors(&file), "");
    // The output route streams the same bytes.
    let (st, bytes) = http(port, "GET", &format!("/api/v1/jobs/{id}/outputs/basic.mp4"), Some(TOKEN), None);
    assert_eq!(st, 200);
    assert_eq!(bytes, std::fs::read(&file).unwrap());
    // Scratch files of the job are gone once the upload is verified.
    assert!(!data.join("scratch").join(&id).exists());
    // List, metrics, JSON logs carrying the job id.
    let (_, l) = json_of(port, "GET", "/api/v1/jobs?status=succeeded&kind=compile", None);
    assert_eq!(l["jobs"][0]["id"], id.as_str());
    let (st, m) = http(port, "GET", "/metrics", None, None);
    let m = String::from_utf8_lossy(&m);
    assert_eq!(st, 200);
    assert!(m.contains("stitch_jobs{status=\"succeeded\",kind=\"compile\"} 1"), "{m}");
    assert!(m.contains("stitch_job_duration_seconds_bucket"), "{m}");
    assert!(m.contains("stitch_bytes_out_total"), "{m}");
    let logs = srv.logs();
    let published: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "output published")
        .collect();
    assert_eq!(published.len(), 1, "{logs}");
    assert_eq!(published[0]["span"]["job_id"], id.as_str(), "{}", published[0]);
    // `--wait` followed the event stream: state and progress lines, the last one succeeded.
    let watched = String::from_utf8_lossy(&out.stderr);
    let last = watched.lines().filter(|l| l.starts_with(id.as_str())).last().unwrap_or_default();
    assert!(last.contains(" succeeded ") && last.contains("100.0%"), "{watched}");
    // `stitch jobs list` shows it; `stitch jobs watch` of a finished job ends at once, exit 0.
    let l = jobs_cli(port, &["list"]);
    assert!(String::from_utf8_lossy(&l.stdout).contains(&id));
    let w = jobs_cli(port, &["watch", &id]);
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    assert!(String::from_utf8_lossy(&w.stderr).contains(&format!("{id} succeeded")), "{w:?}");
    // A job that does not exist: exit 1 with the API's error.
    let w = jobs_cli(port, &["watch", "no-such-job"]);
    assert_eq!(w.status.code(), Some(1), "{w:?}");
    drop(srv);
    std::fs::remove_dir_all(&dir).ok();
}

/// Tokens, the SSRF policy, names that try to leave their prefix, malformed bodies.
#[test]
fn refusals() {
    let dir = common::scratch("serve-refusals");
    let data = dir.join("stitch-data");
    let (_srv, port) = serve(&data, &["--workers", "0"]);
    let rec = json!({"kind": "record", "params": {"url": "http://93.184.215.14/x.m3u8"}}).to_string();
    // No token, wrong token: 401 on every /api/v1 route.
    for (m, p) in [
        ("GET", "/api/v1/jobs"),
        ("POST", "/api/v1/jobs"),
        ("GET", "/api/v1/jobs/x"),
        ("PUT", "/api/v1/inputs/u/a.mp4"),
    ] {
        assert_eq!(http(port, m, p, None, Some(rec.as_bytes())).0, 401, "{m} {p}");
        assert_eq!(http(port, m, p, Some("test-token-2"), Some(rec.as_bytes())).0, 401, "{m} {p}");
        assert_eq!(http(port, m, p, Some("test-token-"), Some(rec.as_bytes())).0, 401, "{m} {p}");
    }
    // Health and metrics need none.
    let (st, h) = http(port, "GET", "/health", None, None);
    assert_eq!(st, 200);
    let h: Value = serde_json::from_slice(&h).unwrap();
    // The recording service's health, as the seed answers it (issue 16).
    assert_eq!(h, json!({"status": "healthy", "service": "recording-service"}));
    assert_eq!(http(port, "GET", "/metrics", None, None).0, 200);
    // SSRF: loopback and private addresses refused with 400 naming the policy.
    for url in ["http://127.0.0.1:9/live.m3u8", "http://10.1.2.3/x.m3u8", "http://[::1]/x", "http://169.254.169.254/"] {
        let (st, v) = json_of(port, "POST", "/api/v1/jobs", Some(json!({"kind": "record", "params": {"url": url}})));
        assert_eq!(st, 400, "{url}: {v}");
        assert_eq!(v["error"]["id"], "ssrf_policy", "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains("SSRF policy") && msg.contains("--allow-hosts"), "{msg}");
    }
    let (st, v) = json_of(
        port,
        "POST",
        "/api/v1/jobs",
        Some(json!({"kind": "webinar", "params": {"link": "http://192.168.1.1/r/1"}})),
    );
    assert_eq!((st, v["error"]["id"].as_str()), (400, Some("ssrf_policy")), "{v}");
    // Bad JSON, unknown kind, unknown parameter: 400 with the reason.
    let (st, b) = http(port, "POST", "/api/v1/jobs", Some(TOKEN), Some(b"{\"kind\": "));
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&b));
    let (st, v) = json_of(port, "POST", "/api/v1/jobs", Some(json!({"kind": "transcode", "params": {}})));
    assert_eq!(st, 400, "{v}");
    let (st, v) = json_of(
        port,
        "POST",
        "/api/v1/jobs",
        Some(json!({"kind": "record", "params": {"url": "http://93.184.215.14/", "fromat": "mp4"}})),
    );
    assert_eq!(st, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("fromat"), "{v}");
    // `../` cannot escape: uploads, flow keys, output names.
    for p in ["/api/v1/inputs/u/..%2F..%2Fescape.txt", "/api/v1/inputs/..%2F..%2Fx/a.txt", "/api/v1/inputs/u/.hidden"] {
        let (st, b) = http(port, "PUT", p, Some(TOKEN), Some(b"data"));
        assert_eq!(st, 400, "{p}: {}", String::from_utf8_lossy(&b));
    }
    assert!(!dir.join("escape.txt").exists() && !data.join("escape.txt").exists());
    let (st, v) = json_of(
        port,
        "POST",
        "/api/v1/jobs",
        Some(json!({"kind": "compile", "params": {"flow": "inputs/../../etc/passwd"}})),
    );
    assert_eq!((st, v["error"]["id"].as_str()), (400, Some("bad_params")), "{v}");
    let (st, v) = json_of(
        port,
        "POST",
        "/api/v1/jobs",
        Some(json!({"kind": "record", "params": {"url": "http://93.184.215.14/", "name": "../../x"}})),
    );
    assert_eq!(st, 400, "{v}");
    // A batch is all or nothing; a good one queues (no worker runs it here) and can be cancelled.
    let (st, v) = json_of(
        port,
        "POST",
        "/api/v1/jobs",
        Some(
            json!([{"kind": "record", "params": {"url": "http://93.184.215.14/a.m3u8"}}, {"kind": "record", "params": {"url": "http://10.0.0.1/"}}]),
        ),
    );
    assert_eq!(st, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().starts_with("job 1:"), "{v}");
    let (_, l) = json_of(port, "GET", "/api/v1/jobs", None);
    assert_eq!(l["jobs"].as_array().unwrap().len(), 0, "{l}");
    let (st, v) = json_of(
        port,
        "POST",
        "/api/v1/jobs",
        Some(
            json!({"kind": "webinar", "params": {"link": "https://93.184.215.14/r/1", "session_id": "SECRET-SESSION"}}),
        ),
    );
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["status"], "queued");
    let id = v["id"].as_str().unwrap().to_string();
    let (_, j) = json_of(port, "GET", &format!("/api/v1/jobs/{id}"), None);
    assert!(!j.to_string().contains("SECRET-SESSION"), "{j}");
    let (st, j) = json_of(port, "POST", &format!("/api/v1/jobs/{id}/cancel"), None);
    assert_eq!((st, j["status"].as_str()), (202, Some("cancelled")), "{j}");
    assert_eq!(http(port, "GET", &format!("/api/v1/jobs/{id}/outputs/..%2Fx"), Some(TOKEN), None).0, 400);
    assert_eq!(json_of(port, "GET", "/api/v1/jobs/nope", None).0, 404);
    // OpenAPI document and the offline docs page.
    let (st, doc) = http(port, "GET", "/api/openapi.json", None, None);
    assert_eq!(st, 200);
    let doc: Value = serde_json::from_slice(&doc).unwrap();
    assert!(doc["paths"]["/api/v1/jobs/{id}/events"]["get"].is_object());
    openapi_validates(&doc, &dir);
    let (st, page) = http(port, "GET", "/api/docs", None, None);
    let page = String::from_utf8_lossy(&page);
    assert_eq!(st, 200);
    assert!(page.contains("/api/v1/jobs/{id}/cancel") && !page.contains("<script"), "{page}");
    assert!(!_srv.logs().contains("SECRET-SESSION"));
    std::fs::remove_dir_all(&dir).ok();
}

/// kill -9 of the worker running a record job: after its lease another worker takes the
/// job, resumes from the segments already in scratch, and publishes the output once.
#[test]
fn killed_worker_job_is_retaken_and_completed_once() {
    if !common::have_ffmpeg() {
        eprintln!("skipped: no ffmpeg");
        return;
    }
    let dir = common::scratch("serve-kill9");
    let data = dir.join("stitch-data");
    let (clip, _plain) = hls_origin::ramp_vod(&dir, 16);
    let (segs, playlist) = hls_origin::vod_files(&clip);
    let n_segments = clip.segments.len();
    let mut files: HashMap<String, Vec<u8>> = segs.into_iter().map(|(k, v)| (format!("/{k}"), v)).collect();
    files.insert("/index.m3u8".into(), playlist.into_bytes());
    let origin = hls_origin::Origin::start_delayed(
        hls_origin::static_files(files),
        Arc::new(|p: &str| if p.ends_with(".ts") { Duration::from_millis(700) } else { Duration::ZERO }),
    );
    let lease = ["--lease-secs", "3", "--allow-hosts", "127.0.0.1"];
    let (srv, port) = serve(&data, &[&["--workers", "0"][..], &lease[..]].concat());
    let mut wargs = vec!["--workers", "1"];
    wargs.extend_from_slice(&lease);
    let a = Proc::start("worker", &data, &wargs, "worker-a.log");
    let url = origin.url("/index.m3u8");
    let (st, v) = json_of(
        port,
        "POST",
        "/api/v1/jobs",
        Some(json!({"kind": "record", "params": {"url": url, "format": "mp4", "name": "lecture", "jobs": 1}})),
    );
    assert_eq!(st, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let j = wait_job(port, &id, Duration::from_secs(60), |j| j["status"] == "running");
    let worker_a = j["worker"].as_str().unwrap().to_string();
    // Mid-job: some segments fetched, not all.
    let t0 = Instant::now();
    while origin.requests().iter().filter(|r| r.ends_with(".ts")).count() < 3 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no segment fetched: {}", a.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut a = a;
    let pid = a.child.id();
    assert!(Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
    let _ = a.child.wait();
    let fetched_before = origin.requests().iter().filter(|r| r.ends_with(".ts")).count();
    assert!(fetched_before < n_segments, "the job was not interrupted mid-way");
    let killed_at = Instant::now();
    let b = Proc::start("worker", &data, &wargs, "worker-b.log");
    let j = wait_job(port, &id, Duration::from_secs(120), |j| j["status"] == "succeeded" || j["status"] == "failed");
    assert_eq!(j["status"], "succeeded", "{j}\nA: {}\nB: {}", a.logs(), b.logs());
    let took = killed_at.elapsed();
    assert_eq!(j["attempts"], 2, "{j}");
    assert_ne!(j["worker"].as_str().unwrap(), worker_a);
    // Published once, by B only.
    let count = |logs: &str| logs.lines().filter(|l| l.contains("\"output published\"") && l.contains(&id)).count();
    assert_eq!(count(&a.logs()), 0);
    assert_eq!(count(&b.logs()), 1, "{}", b.logs());
    let listed: Vec<_> =
        std::fs::read_dir(data.join("jobs").join(&id)).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(listed, vec![std::ffi::OsString::from("lecture.mp4")]);
    let file = data.join("jobs").join(&id).join("lecture.mp4");
    assert_eq!(sha256_of(&file), j["outputs"][0]["sha256"].as_str().unwrap());
    let probe = common::ffprobe(&file);
    let dur: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((dur - 16.0).abs() < 0.5, "duration {dur}");
    assert_eq!(common::ffmpeg_decode_errors(&file), "");
    let segs: Vec<String> = origin.requests().into_iter().filter(|r| r.ends_with(".ts")).collect();
    let mut refetched: Vec<&String> = segs.iter().filter(|s| segs.iter().filter(|t| t == s).count() > 1).collect();
    refetched.dedup();
    eprintln!(
        "kill -9 after {fetched_before} of {n_segments} segments; retaken and done {:.1} s after the kill; \
         segments fetched twice: {refetched:?}",
        took.as_secs_f64()
    );
    // The segments fetched before the kill are reused: at most the one in flight is fetched again.
    assert!(refetched.len() <= 1, "{segs:?}");
    drop(srv);
    std::fs::remove_dir_all(&dir).ok();
}

/// Cancellation reaches the running worker within 5 s (`stitch jobs cancel`), nothing is
/// published; SIGTERM releases a running job to the queue and the next start finishes it.
#[test]
fn cancel_and_sigterm_release() {
    if !common::have_ffmpeg() {
        eprintln!("skipped: no ffmpeg");
        return;
    }
    let dir = common::scratch("serve-cancel");
    let data = dir.join("stitch-data");
    let (clip, _plain) = hls_origin::ramp_vod(&dir, 16);
    let (segs, playlist) = hls_origin::vod_files(&clip);
    let mut files: HashMap<String, Vec<u8>> = segs.into_iter().map(|(k, v)| (format!("/{k}"), v)).collect();
    files.insert("/index.m3u8".into(), playlist.into_bytes());
    let origin = hls_origin::Origin::start_delayed(
        hls_origin::static_files(files),
        Arc::new(|p: &str| if p.ends_with(".ts") { Duration::from_millis(600) } else { Duration::ZERO }),
    );
    let args = ["--workers", "1", "--allow-hosts", "127.0.0.1", "--lease-secs", "3"];
    let (srv, port) = serve(&data, &args);
    let submit = |name: &str| {
        let (st, v) = json_of(
            port,
            "POST",
            "/api/v1/jobs",
            Some(json!({"kind": "record", "params": {"url": origin.url("/index.m3u8"), "name": name, "jobs": 1}})),
        );
        assert_eq!(st, 202, "{v}");
        v["id"].as_str().unwrap().to_string()
    };
    let id = submit("cancelled");
    wait_job(port, &id, Duration::from_secs(60), |j| j["status"] == "running");
    std::thread::sleep(Duration::from_millis(800));
    let t0 = Instant::now();
    let out = jobs_cli(port, &["cancel", &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j = wait_job(port, &id, Duration::from_secs(5), |j| j["status"] == "cancelled");
    eprintln!("cancel reached the worker in {:.2} s", t0.elapsed().as_secs_f64());
    assert!(j["outputs"].as_array().unwrap().is_empty(), "{j}");
    assert!(!data.join("jobs").join(&id).exists());
    // SIGTERM: the running job goes back to the queue, the process exits.
    let id2 = submit("released");
    wait_job(port, &id2, Duration::from_secs(60), |j| j["status"] == "running");
    std::thread::sleep(Duration::from_millis(800));
    let mut srv = srv;
    assert!(Command::new("kill").args(["-TERM", &srv.child.id().to_string()]).status().unwrap().success());
    let t0 = Instant::now();
    loop {
        if let Some(st) = srv.child.try_wait().unwrap() {
            assert!(st.success(), "serve exit {st:?}: {}", srv.logs());
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "serve did not stop on SIGTERM: {}", srv.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(srv.logs().contains("released on shutdown"), "{}", srv.logs());
    let (srv2, port2) = serve(&data, &args);
    let j = wait_job(port2, &id2, Duration::from_secs(90), |j| j["status"] == "succeeded" || j["status"] == "failed");
    assert_eq!(j["status"], "succeeded", "{j}\n{}", srv2.logs());
    assert_eq!(j["attempts"], 2, "{j}");
    let f = data.join("jobs").join(&id2).join("released.ts");
    let probe = common::ffprobe(&f);
    let dur: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((dur - 16.0).abs() < 0.5, "{dur}");
    drop(srv2);
    std::fs::remove_dir_all(&dir).ok();
}

/// The OpenAPI document checked by an independent validator (openapi-spec-validator, in the
/// venv `.ci/setup.sh` makes): it must find no error in it.
fn openapi_validates(doc: &Value, dir: &std::path::Path) {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    let venv = std::env::var_os("STITCH_PY_TOOLS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/stitch-tools/venv"));
    let py = venv.join("bin/python");
    if !py.is_file() {
        assert!(std::env::var_os("CI").is_none(), "CI needs openapi-spec-validator (.ci/setup.sh)");
        eprintln!("NOTE: openapi-spec-validator missing: OpenAPI document not validated (run .ci/setup.sh)");
        return;
    }
    let file = dir.join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
    let out = std::process::Command::new(py)
        .args(["-c", "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "valid",
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
