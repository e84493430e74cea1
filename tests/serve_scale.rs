//! `stitch serve` at scale: PostgreSQL 15 (initdb into a temp folder, a port on 127.0.0.1)
//! and an S3 server that verifies SigV4 signatures (s3s-fs), both started by the test, with
//! two `stitch worker` processes on other data folders (as on other machines).

mod common;
mod hls_origin;
mod serve_common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_common::*;

/// s3s-fs and a started PostgreSQL; `None` (a loud note, a failure in CI) when one is missing.
fn components() -> Option<(PathBuf, Pg)> {
    let (Some(s3bin), true) = (s3s_fs(), common::have_ffmpeg()) else {
        skipped("skipped: s3s-fs or ffmpeg missing (.ci/setup.sh installs them)");
        return None;
    };
    let Some(pg) = Pg::start() else {
        skipped("skipped: PostgreSQL 15 missing (.ci/setup.sh installs it)");
        return None;
    };
    Some((s3bin, pg))
}

/// PostgreSQL + S3: two `stitch worker` processes take 40 record jobs from a loopback HLS
/// origin: every job succeeds once, no segment fetched twice, one object per job in the bucket.
#[test]
fn postgres_s3_two_workers_forty_record_jobs() {
    let Some((s3bin, pg)) = components() else { return };
    let dir = common::scratch("serve-scale");
    let s3 = S3::start(&s3bin, &dir.join("s3"), "archive");
    let env_owned = s3.env(SK);
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // 40 VODs of 2 segments, each under its own path so the origin log tells jobs apart.
    let (clip, _plain) = hls_origin::ramp_vod(&dir, 4);
    let (segs, playlist) = hls_origin::vod_files(&clip);
    let origin = hls_origin::Origin::start(Arc::new(move |pq: &str, range: Option<&str>| {
        let path = pq.split('?').next().unwrap();
        let file = path.rsplit('/').next().unwrap();
        if file == "index.m3u8" {
            hls_origin::Reply::m3u8(&playlist)
        } else {
            match segs.get(file) {
                Some(b) => hls_origin::serve_range(b, range, "video/mp2t"),
                None => hls_origin::Reply::status(404),
            }
        }
    }));
    let db = pg.url();
    let common_args =
        ["--database", &db, "--storage", "s3://archive/stitch", "--allow-hosts", "127.0.0.1", "--lease-secs", "6"];
    let (srv, port) = serve_env(&dir.join("api"), &[&["--workers", "0"][..], &common_args[..]].concat(), &env, 200);
    let wargs = [&["--workers", "2"][..], &common_args[..]].concat();
    let w1 = Proc::start_env("worker", &dir.join("w1"), &wargs, "w1.log", &env);
    let w2 = Proc::start_env("worker", &dir.join("w2"), &wargs, "w2.log", &env);
    let batch: Vec<Value> = (0..40)
        .map(|i| json!({"kind": "record", "params": {"url": origin.url(&format!("/v{i}/index.m3u8")), "name": "rec"}}))
        .collect();
    let t0 = Instant::now();
    let (st, v) = json_of(port, "POST", "/api/v1/jobs", Some(Value::Array(batch)));
    assert_eq!(st, 202, "{v}");
    let ids: Vec<String> = v.as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 40);
    let mut workers = HashSet::new();
    let mut recorded = HashMap::new();
    for id in &ids {
        let j = wait_job(port, id, Duration::from_secs(300), |j| {
            matches!(j["status"].as_str(), Some("succeeded" | "failed" | "cancelled"))
        });
        assert_eq!(j["status"], "succeeded", "{j}\nw1: {}\nw2: {}", w1.logs(), w2.logs());
        assert_eq!(j["attempts"], 1, "{j}");
        let w = j["worker"].as_str().unwrap();
        workers.insert(w.rsplitn(2, '-').nth(1).unwrap().to_string()); // host-pid
        recorded.insert(id.clone(), j["outputs"][0].clone());
    }
    let took = t0.elapsed();
    assert_eq!(workers.len(), 2, "both worker processes took jobs: {workers:?}");
    // Origin log: every segment of every job fetched exactly once.
    let log = origin.requests();
    for i in 0..40 {
        for n in 0..clip.segments.len() {
            let p = format!("/v{i}/s{n}.ts");
            assert_eq!(log.iter().filter(|r| **r == p).count(), 1, "{p}: {log:?}");
        }
    }
    // Bucket listing (s3s-fs keeps objects as files): one object per job, as recorded.
    let objects: Vec<PathBuf> = files_under(&s3.root.join("archive/stitch/jobs"));
    assert_eq!(objects.len(), 40, "{objects:?}");
    for id in &ids {
        let f = s3.root.join("archive/stitch/jobs").join(id).join("rec.ts");
        assert_eq!(sha256_of(&f), recorded[id]["sha256"].as_str().unwrap(), "{id}");
    }
    let probe = common::ffprobe(&s3.root.join("archive/stitch/jobs").join(&ids[0]).join("rec.ts"));
    let dur: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((dur - 4.0).abs() < 0.3, "{dur}");
    // Outputs on S3: a presigned redirect the server verifies; a forged signature is refused.
    let (st, head) = http_head(port, &format!("/api/v1/jobs/{}/outputs/rec.ts", ids[0]));
    assert_eq!(st, 307, "{head}");
    let loc = head.lines().find_map(|l| l.strip_prefix("location: ").or(l.strip_prefix("Location: "))).unwrap().trim();
    let path = loc.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
    let (st, bytes) = http(s3.port, "GET", &path, None, None);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(sha256_hex(&bytes), recorded[&ids[0]]["sha256"].as_str().unwrap());
    let forged = if path.ends_with('0') {
        format!("{}1", &path[..path.len() - 1])
    } else {
        format!("{}0", &path[..path.len() - 1])
    };
    assert_eq!(http(s3.port, "GET", &forged, None, None).0, 403);
    // A wrong S3 secret: the health check says which part is down, with 503.
    let bad_owned = s3.env("wrong-secret");
    let bad: Vec<(&str, &str)> = bad_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (bad_srv, bad_port) =
        serve_env(&dir.join("bad"), &[&["--workers", "0"][..], &common_args[..]].concat(), &bad, 503);
    let (st, h) = http(bad_port, "GET", "/health", None, None);
    let h: Value = serde_json::from_slice(&h).unwrap();
    assert_eq!(st, 503);
    assert_eq!(h["checks"]["database"], "ok");
    assert!(
        h["checks"]["storage"].as_str().unwrap().contains("403")
            || h["checks"]["storage"].as_str().unwrap().to_lowercase().contains("signature"),
        "{h}"
    );
    eprintln!("40 record jobs on PostgreSQL + S3, 2 worker processes x 2 slots: {:.1} s", took.as_secs_f64());
    drop((bad_srv, srv, w1, w2));
    std::fs::remove_dir_all(&dir).ok();
}

fn sha256_hex(b: &[u8]) -> String {
    let p = std::env::temp_dir().join(format!("stitch-sha-{}", std::process::id()));
    std::fs::write(&p, b).unwrap();
    let s = sha256_of(&p);
    let _ = std::fs::remove_file(&p);
    s
}

/// The status line and headers of a GET (no redirect followed).
fn http_head(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_string();
    (head.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0), head)
}

/// A byte-for-byte TCP proxy in front of the S3 server (signatures stay valid) that, while
/// `faulty` is set, answers every new connection with 503 after `delay`, and cuts the
/// connections it was forwarding when the faults start.
struct FaultProxy {
    port: u16,
    faulty: Arc<std::sync::atomic::AtomicBool>,
    answered_503: Arc<std::sync::atomic::AtomicUsize>,
    _rt: tokio::runtime::Runtime,
}

impl FaultProxy {
    fn start(upstream: u16, delay: Duration) -> FaultProxy {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let faulty = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let l = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = l.local_addr().unwrap().port();
        let (f2, a2) = (faulty.clone(), answered.clone());
        rt.spawn(async move {
            let (cut_tx, _) = tokio::sync::broadcast::channel::<()>(4);
            let mut was_faulty = false;
            loop {
                let Ok((mut c, _)) = l.accept().await else { continue };
                let now_faulty = f2.load(Ordering::SeqCst);
                if now_faulty && !was_faulty {
                    let _ = cut_tx.send(());
                }
                was_faulty = now_faulty;
                if now_faulty {
                    let a2 = a2.clone();
                    tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = [0u8; 4096];
                        let _ = c.read(&mut buf).await;
                        tokio::time::sleep(delay).await;
                        a2.fetch_add(1, Ordering::SeqCst);
                        let _ = c
                            .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .await;
                    });
                    continue;
                }
                let mut cut = cut_tx.subscribe();
                let f3 = f2.clone();
                tokio::spawn(async move {
                    let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut c, &mut up) => {}
                        _ = cut.recv() => {}
                        _ = async { while !f3.load(Ordering::SeqCst) { tokio::time::sleep(Duration::from_millis(50)).await } } => {}
                    }
                });
            }
        });
        FaultProxy { port, faulty, answered_503: answered, _rt: rt }
    }
}

/// PostgreSQL stopped and restarted mid-run, then S3 answering 503 (slowly) for a while:
/// the workers wait and retry; every job succeeds once and none is ever seen `failed`.
#[test]
fn postgres_restart_and_s3_503_lose_nothing() {
    use std::sync::atomic::Ordering;
    let Some((s3bin, pg)) = components() else { return };
    let dir = common::scratch("serve-outages");
    let s3 = S3::start(&s3bin, &dir.join("s3"), "archive");
    let proxy = FaultProxy::start(s3.port, Duration::from_millis(300));
    let mut env_owned = s3.env(SK);
    env_owned.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env_owned.push(("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", proxy.port)));
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (clip, _plain) = hls_origin::ramp_vod(&dir, 8);
    let (segs, playlist) = hls_origin::vod_files(&clip);
    let origin = hls_origin::Origin::start_delayed(
        Arc::new(move |pq: &str, range: Option<&str>| {
            let file = pq.split('?').next().unwrap().rsplit('/').next().unwrap().to_string();
            if file == "index.m3u8" {
                hls_origin::Reply::m3u8(&playlist)
            } else {
                match segs.get(&file) {
                    Some(b) => hls_origin::serve_range(b, range, "video/mp2t"),
                    None => hls_origin::Reply::status(404),
                }
            }
        }),
        Arc::new(|p: &str| if p.ends_with(".ts") { Duration::from_millis(500) } else { Duration::ZERO }),
    );
    let db = pg.url();
    let common_args =
        ["--database", &db, "--storage", "s3://archive/stitch", "--allow-hosts", "127.0.0.1", "--lease-secs", "3"];
    let (srv, port) = serve_env(&dir.join("api"), &[&["--workers", "0"][..], &common_args[..]].concat(), &env, 200);
    let wargs = [&["--workers", "2"][..], &common_args[..]].concat();
    let w1 = Proc::start_env("worker", &dir.join("w1"), &wargs, "w1.log", &env);
    let w2 = Proc::start_env("worker", &dir.join("w2"), &wargs, "w2.log", &env);
    let batch: Vec<Value> = (0..8)
        .map(|i| json!({"kind": "record", "params": {"url": origin.url(&format!("/o{i}/index.m3u8")), "name": "rec", "jobs": 1}}))
        .collect();
    let (st, v) = json_of(port, "POST", "/api/v1/jobs", Some(Value::Array(batch)));
    assert_eq!(st, 202, "{v}");
    let ids: Vec<String> = v.as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()).collect();
    let seen_failed = |port: u16| -> Vec<String> {
        let (st, l) = json_of(port, "GET", "/api/v1/jobs?limit=100", None);
        if st != 200 {
            return Vec::new();
        }
        l["jobs"].as_array().unwrap().iter().filter(|j| j["status"] == "failed").map(|j| j.to_string()).collect()
    };
    // Some jobs running, then PostgreSQL goes away for 4 s.
    let t0 = Instant::now();
    loop {
        let (_, l) = json_of(port, "GET", "/api/v1/jobs?status=running", None);
        if l["jobs"].as_array().map(|a| a.len()).unwrap_or(0) >= 2 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no job running");
        std::thread::sleep(Duration::from_millis(100));
    }
    let data = pg.dir.join("data");
    assert!(pg_cmd("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "fast", "stop"])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    let (st, _) = http(port, "GET", "/health", None, None);
    assert_eq!(st, 503, "health with the database down");
    std::thread::sleep(Duration::from_secs(4));
    let opts = format!(
        "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
        pg.port,
        pg.dir.display()
    );
    let log = pg.dir.join("pg.log");
    assert!(pg_cmd("pg_ctl", &["-D", data.to_str().unwrap(), "-o", &opts, "-l", log.to_str().unwrap(), "-w", "start"])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    // Then S3 answers 503 (after 300 ms) for 6 s.
    proxy.faulty.store(true, Ordering::SeqCst);
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_secs(6) {
        let f = seen_failed(port);
        assert!(f.is_empty(), "{f:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    proxy.faulty.store(false, Ordering::SeqCst);
    let mut attempts = Vec::new();
    for id in &ids {
        let j = wait_job(port, id, Duration::from_secs(240), |j| {
            assert_ne!(j["status"], "failed", "{j}");
            j["status"] == "succeeded"
        });
        attempts.push(j["attempts"].as_i64().unwrap());
    }
    assert!(seen_failed(port).is_empty());
    let objects = files_under(&s3.root.join("archive/stitch/jobs"));
    assert_eq!(objects.len(), ids.len(), "{objects:?}");
    for o in &objects {
        let probe = common::ffprobe(o);
        let dur: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((dur - 8.0).abs() < 0.3, "{}: {dur}", o.display());
    }
    eprintln!(
        "outages: {} answers 503 from S3, attempts per job {attempts:?}, all {} jobs succeeded in {:.1} s",
        proxy.answered_503.load(Ordering::SeqCst),
        ids.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(proxy.answered_503.load(Ordering::SeqCst) > 0, "S3 faults were not exercised");
    drop((srv, w1, w2));
    std::fs::remove_dir_all(&dir).ok();
}
