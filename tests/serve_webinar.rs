//! A `webinar` job on `stitch serve` against a fake MTS Link API and a fake chunk storage on
//! 127.0.0.1: kill -9 of the worker mid-download, the other worker completes the job from
//! the chunks already fetched (same data folder), and the output's decoded frames equal an
//! uninterrupted job's. The session id never appears in a log or an API answer.

mod common;
mod fake_server;
mod serve_common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use fake_server::{FakeServer, Faults};
use serde_json::json;
use serve_common::*;

const CLIPS: [(&str, f64); 4] =
    [("a_high_bframes.mp4", 0.5), ("b_other_res.mp4", 5.0), ("e_clip.ts", 8.5), ("c_audio_only.m4a", 9.0)];
const LINK: &str = "https://my.mts-link.ru/12345/67890/record-new/111/record-file/222";

fn storage_path(name: &str) -> String {
    format!("/api-storage/files/wowza/2026/01/01/{name}")
}

/// The record's event log (as tests/webinar_e2e.rs).
fn record_json(storage: &FakeServer) -> serde_json::Value {
    let t0 = 1_767_261_600.0;
    let mut logs = vec![json!({"id": 1, "module": "eventsession.start", "time": t0, "relativeTime": 0.0, "data": {},
        "snapshot": {"data": {"userlist": [{"role": "LECTURER", "user": {"id": 7, "nickname": "Lecturer"}}]}}})];
    for (i, (name, at)) in CLIPS.iter().enumerate() {
        logs.push(json!({"id": 10 + i, "module": "mediasession.add", "time": t0 + at, "relativeTime": at,
            "data": {"id": 100 + i, "url": storage.url(&storage_path(name)),
                     "stream": {"conference": {"id": 50 + i, "user": {"id": 7 + i, "nickname": format!("User {i}")}}}}}));
    }
    json!({"name": "Lecture 1", "duration": 12.5, "eventLogs": logs})
}

async fn start_api(record: serde_json::Value) -> (String, Arc<Mutex<Vec<String>>>) {
    let cookies: Arc<Mutex<Vec<String>>> = Arc::default();
    let c2 = cookies.clone();
    let app = Router::new()
        .route(
            "/api/event-sessions/{sid}/record-files/{fid}/flow",
            get(move |State(rec): State<serde_json::Value>, headers: axum::http::HeaderMap| {
                let c2 = c2.clone();
                async move {
                    if let Some(c) = headers.get("cookie") {
                        c2.lock().unwrap().push(c.to_str().unwrap_or("").to_string());
                    }
                    Json(rec)
                }
            }),
        )
        .with_state(record);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}"), cookies)
}

fn frame_hashes(path: &std::path::Path) -> Vec<u64> {
    common::ffmpeg_yuv_frames(path, 320, 240).iter().map(|f| fake_server::hash(f)).collect()
}

#[test]
fn webinar_job_survives_kill_9_of_its_worker() {
    if !common::have_ffmpeg() {
        eprintln!("skipped: no ffmpeg");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let files = CLIPS.iter().map(|(n, _)| (storage_path(n), std::fs::read(common::testdata(n)).unwrap())).collect();
    let storage = rt.block_on(FakeServer::start(files));
    let (api, cookies) = rt.block_on(start_api(record_json(&storage)));
    let dir = common::scratch("serve-webinar");
    let data = dir.join("stitch-data");
    let args = ["--workers", "0", "--allow-hosts", "127.0.0.1,my.mts-link.ru", "--lease-secs", "3"];
    let (srv, port) = serve(&data, &args);
    let wargs = ["--workers", "1", "--allow-hosts", "127.0.0.1,my.mts-link.ru", "--lease-secs", "3"];
    let mut a = Proc::start("worker", &data, &wargs, "worker-a.log");
    let params = json!({"link": LINK, "api_host": api, "session_id": "SECRET-SESSION", "size": "320x240", "jobs": 2});
    // Slow storage: the first worker is killed mid-download.
    storage.set_faults(Faults { chunk_size: 4096, chunk_delay: Duration::from_millis(25), ..Default::default() });
    let (st, v) = json_of(port, "POST", "/api/v1/jobs", Some(json!({"kind": "webinar", "params": params})));
    assert_eq!(st, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    while storage.total(|c| c.completed_bodies as u64) < 1 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no chunk downloaded: {}", a.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(Command::new("kill").args(["-9", &a.child.id().to_string()]).status().unwrap().success());
    let _ = a.child.wait();
    let first = storage.all_counters();
    let complete_before: Vec<String> =
        first.iter().filter(|(_, c)| c.completed_bodies > 0).map(|(p, _)| p.clone()).collect();
    assert!(!complete_before.is_empty() && complete_before.len() < CLIPS.len(), "mid-download: {complete_before:?}");
    storage.set_faults(Faults::default());
    let b = Proc::start("worker", &data, &wargs, "worker-b.log");
    let j = wait_job(port, &id, Duration::from_secs(180), |j| j["status"] == "succeeded" || j["status"] == "failed");
    assert_eq!(j["status"], "succeeded", "{j}\nA: {}\nB: {}", a.logs(), b.logs());
    assert_eq!(j["attempts"], 2, "{j}");
    for (p, c) in storage.all_counters() {
        assert!(c.completed_bodies <= 1, "{p} was downloaded completely {} times", c.completed_bodies);
        if complete_before.contains(&p) {
            assert_eq!(c.gets, first[&p].gets, "{p} was complete before the kill and fetched again");
        }
    }
    assert_eq!(storage.total(|c| c.with_cookie as u64), 0, "the session cookie reached the chunk storage");
    assert!(cookies.lock().unwrap().iter().all(|c| c.contains("SECRET-SESSION")), "the API got the session");
    let name = j["outputs"][0]["name"].as_str().unwrap().to_string();
    assert_eq!(name, "Lecture_1.mp4");
    let killed = data.join("jobs").join(&id).join(&name);
    // The same job uninterrupted, on the same worker: the same decoded frames.
    let (st, v) = json_of(port, "POST", "/api/v1/jobs", Some(json!({"kind": "webinar", "params": params})));
    assert_eq!(st, 202, "{v}");
    let id2 = v["id"].as_str().unwrap().to_string();
    let j2 = wait_job(port, &id2, Duration::from_secs(180), |j| j["status"] == "succeeded" || j["status"] == "failed");
    assert_eq!(j2["status"], "succeeded", "{j2}\nB: {}", b.logs());
    let clean = data.join("jobs").join(&id2).join(&name);
    let (h1, h2) = (frame_hashes(&killed), frame_hashes(&clean));
    assert!((h1.len() as i64 - 312).abs() <= 2, "{} frames", h1.len());
    assert_eq!(h1, h2, "decoded frames differ from an uninterrupted run's");
    assert_eq!(common::ffmpeg_decode_errors(&killed), "");
    // The secret: in no log, in no API answer.
    let (_, listed) = json_of(port, "GET", "/api/v1/jobs", None);
    assert!(!listed.to_string().contains("SECRET-SESSION"));
    for (who, logs) in [("serve", srv.logs()), ("A", a.logs()), ("B", b.logs())] {
        assert!(!logs.contains("SECRET-SESSION"), "{who} logged the session id");
    }
    drop((srv, b));
    std::fs::remove_dir_all(&dir).ok();
}
