//! The recording service of `stitch serve` (issue 16) against a live HLS origin on 127.0.0.1
//! (1 s MPEG-TS segments from ffmpeg, a sliding window, one stream per key), a fake stream
//! service, and for the scale tests PostgreSQL 15 and a SigV4-checking S3 server (s3s-fs),
//! all started here. Outputs are checked with ffprobe / ffmpeg.

mod common;
mod hls_origin;
mod live_origin;
mod serve_common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hls_origin::{Clip, Origin};
use live_origin::{served, uuid, Streams, WINDOW};
use serde_json::{json, Value};
use serve_common::*;

/// 60 s of 160x120 testsrc2 + a 440 Hz tone, cut by ffmpeg into 1 s TS segments.
fn clip() -> &'static Clip {
    static C: OnceLock<Clip> = OnceLock::new();
    C.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("stitch-recsvc-fixture-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        hls_origin::encode_source(
            &dir,
            "live60",
            "testsrc2=size=160x120:rate=25",
            "sine=frequency=440:sample_rate=48000",
            60,
            "mpegts",
            1,
            &[],
        )
    })
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `X-Stitch-Signature` of `body` at time `t` (HMAC-SHA256 by openssl, an independent implementation).
fn sign(secret: &str, t: i64, body: &str) -> String {
    use std::io::Write;
    let mut c = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret, "-hex"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(format!("{t}.{body}").as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    let hex = String::from_utf8_lossy(&out.stdout).trim().rsplit(' ').next().unwrap().to_string();
    format!("t={t},v1={hex}")
}

fn event(ev: &str, id: &str, key: &str) -> String {
    json!({"event": ev, "stream_id": id, "stream_key": key, "user_id": "u1", "timestamp": "2026-12-05T10:00:00Z"})
        .to_string()
}

/// A webhook signed with `secret`, or with the API token when `secret` is None.
fn webhook(port: u16, secret: Option<&str>, body: &str) -> (u16, Value) {
    let auth = format!("Bearer {TOKEN}");
    match secret {
        Some(s) => {
            http_json(port, "POST", "/webhook/stream", &[("X-Stitch-Signature", &sign(s, now_secs(), body))], body)
        }
        None => http_json(port, "POST", "/webhook/stream", &[("Authorization", &auth)], body),
    }
}

fn recordings(port: u16) -> Vec<Value> {
    let auth = format!("Bearer {TOKEN}");
    let (st, v) = http_json(port, "GET", "/recordings", &[("Authorization", &auth)], "");
    assert_eq!(st, 200, "{v}");
    v["recordings"].as_array().unwrap().clone()
}

fn recording(port: u16, id: &str) -> Value {
    let auth = format!("Bearer {TOKEN}");
    let (st, v) = http_json(port, "GET", &format!("/recording/{id}"), &[("Authorization", &auth)], "");
    assert_eq!(st, 200, "{v}");
    v["recording"].clone()
}

fn wait_rec(port: u16, id: &str, limit: Duration, what: &str, until: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let r = recording(port, id);
        if until(&r) {
            return r;
        }
        assert!(t0.elapsed() < limit, "recording {id}: not {what} in {limit:?}: {r}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The one recording of `key`, once there.
fn wait_key(port: u16, key: &str, limit: Duration) -> Value {
    let t0 = Instant::now();
    loop {
        if let Some(r) = recordings(port).into_iter().find(|r| r["stream_key"] == key) {
            return r;
        }
        assert!(t0.elapsed() < limit, "no recording of {key} in {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// ffprobe's duration of `p`, after `ffmpeg -v error -f null` said nothing.
fn check_mp4(p: &Path) -> f64 {
    let errs = hls_origin::ffmpeg_errors(p);
    assert!(errs.trim().is_empty(), "{}: ffmpeg errors: {errs}", p.display());
    let (streams, dur) = hls_origin::ffprobe(p);
    assert_eq!(streams, ["video", "audio"], "{}", p.display());
    let head = std::fs::read(p).unwrap();
    let moov = head.windows(4).position(|w| w == b"moov").unwrap();
    let mdat = head.windows(4).position(|w| w == b"mdat").unwrap();
    assert!(moov < mdat, "not faststart");
    dur
}

fn data_dirs(name: &str) -> PathBuf {
    common::scratch(name)
}

fn live_args(o: &Origin) -> String {
    format!("{}/live/{{stream_key}}/index.m3u8", o.base)
}

fn tools() -> bool {
    if hls_origin::have_ffmpeg() {
        return true;
    }
    skipped("skipped: ffmpeg missing (.ci/setup.sh installs it)");
    false
}

/// SQLite and a local folder (the defaults), signed webhooks: every refusal, then a
/// recording that grows while live and ends as one faststart MP4 in `recordings/`.
#[test]
fn signed_webhooks_record_a_live_stream_to_one_mp4() {
    if !tools() {
        return;
    }
    let l = Live::start("recsvc-basic", &["--webhook-secret", "s3cret", "--end-grace", "1"]);
    let (streams, o, data, port) = (&l.streams, &l.o, &l.data, l.port);
    // Refusals: no, wrong and stale signatures; bad keys, events and fields.
    let sid = streams.start("cam_1");
    let body = event("stream.started", &sid, "cam_1");
    let hook = |h: &[(&str, &str)], b: &str| http_json(port, "POST", "/webhook/stream", h, b);
    assert_eq!(hook(&[], &body).0, 401);
    assert_eq!(hook(&[("Authorization", &format!("Bearer {TOKEN}"))], &body).0, 401, "the token is not the signature");
    assert_eq!(hook(&[("X-Stitch-Signature", &sign("wrong", now_secs(), &body))], &body).0, 401);
    assert_eq!(hook(&[("X-Stitch-Signature", &sign("s3cret", now_secs() - 400, &body))], &body).0, 401);
    assert_eq!(hook(&[("X-Stitch-Signature", &sign("s3cret", now_secs() + 400, &body))], &body).0, 401);
    let other = event("stream.started", &sid, "cam_2");
    assert_eq!(
        hook(&[("X-Stitch-Signature", &sign("s3cret", now_secs(), &other))], &body).0,
        401,
        "signature of another body"
    );
    let (st, v) = webhook(port, Some("s3cret"), &event("stream.started", &sid, "../../x"));
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("stream_key"), "{v}");
    let (st, v) = webhook(port, Some("s3cret"), &event("stream.paused", &sid, "cam_1"));
    assert_eq!((st, v), (400, json!({"error": "Invalid event type"})));
    let (st, v) = webhook(port, Some("s3cret"), r#"{"event":"stream.started","stream_key":"cam_1"}"#);
    assert_eq!(st, 400);
    assert!(v["error"].as_str().unwrap().contains("stream_id"), "{v}");
    assert_eq!(webhook(port, Some("s3cret"), "{not json").0, 400);
    // Reads take the token without --public-read.
    assert_eq!(http_json(port, "GET", "/recordings", &[], "").0, 401);
    assert_eq!(http_json(port, "GET", "/api/v1/recordings", &[], "").0, 401);
    assert!(recordings(port).is_empty(), "a refused webhook made a recording");
    let (st, v) = http_json(port, "GET", "/health", &[], "");
    assert_eq!((st, v), (200, json!({"status": "healthy", "service": "recording-service"})));

    // The stream: started (delivered twice), live for a while, ended.
    std::thread::sleep(Duration::from_secs(3));
    let (st, v) = webhook(port, Some("s3cret"), &body);
    assert_eq!((st, v), (200, json!({"message": "Webhook processed successfully"})));
    assert_eq!(webhook(port, Some("s3cret"), &body).0, 200);
    let recs = recordings(port);
    assert_eq!(recs.len(), 1, "a duplicate delivery made a second recording: {recs:?}");
    let id = recs[0]["id"].as_str().unwrap().to_string();
    assert_eq!(recs[0]["status"], "recording");
    assert_eq!(recs[0]["stream_id"], sid.as_str());
    assert!(recs[0]["video_id"].is_null() && recs[0]["completed_at"].is_null());
    let r = wait_rec(port, &id, Duration::from_secs(30), "growing", |r| r["duration"].as_i64().unwrap() >= 4);
    assert!(r["file_size"].as_i64().unwrap() > 0, "{r}");
    let (st, v) = http_json(
        port,
        "GET",
        &format!("/api/v1/recording/{id}"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        "",
    );
    assert_eq!((st, &v["recording"]["id"]), (200, &json!(id)));
    std::thread::sleep(Duration::from_secs(4));
    let last = streams.end("cam_1");
    let end = event("stream.ended", &sid, "cam_1");
    assert_eq!(webhook(port, Some("s3cret"), &end).0, 200);
    let r = recording(port, &id);
    assert!(r["status"] == "processing" || r["status"] == "completed", "{r}");
    let r = wait_rec(port, &id, Duration::from_secs(60), "completed", |r| r["status"] == "completed");
    assert_eq!(webhook(port, Some("s3cret"), &end).0, 200, "a late duplicate end");
    assert_eq!(r["file_path"], "recordings/cam_1.mp4");
    assert!(r["completed_at"].as_str().unwrap().ends_with('Z'), "{r}");
    let mp4 = data.join("recordings/cam_1.mp4");
    assert_eq!(std::fs::metadata(&mp4).unwrap().len() as i64, r["file_size"].as_i64().unwrap());
    let dur = check_mp4(&mp4);
    // The segments the origin served between the start and the end: all in the file.
    let got = served(&o, "cam_1");
    let (first, lastc) = (*got.first().unwrap(), *got.last().unwrap());
    assert_eq!(got.len() as u64, lastc - first + 1, "a hole in what was fetched: {got:?}");
    assert!(lastc >= last, "the last segment ({last}) was not fetched: {got:?}");
    assert!((dur - got.len() as f64).abs() <= 1.0, "{dur} s in the file, {} segments served", got.len());
    assert_eq!(r["duration"].as_i64().unwrap(), got.len() as i64, "{r}");
    // Prometheus: recordings by status, segments captured.
    let metrics = String::from_utf8(http(port, "GET", "/metrics", None, None).1).unwrap();
    assert!(metrics.contains("stitch_recordings{status=\"completed\"} 1"), "{metrics}");
    assert!(metrics.contains("stitch_recording_segments_total"), "{metrics}");
    // Published and verified: the captured segments are gone from storage.
    assert!(files_under(&data.join("live")).is_empty(), "{:?}", files_under(&data.join("live")));
    // Unknown ids: the seed's 404.
    let (st, v) = http_json(
        port,
        "GET",
        "/recording/6f9619ff-8b86-d011-b42d-00cf4fc964ff",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        "",
    );
    assert_eq!((st, v), (404, json!({"error": "Recording not found"})));
}

/// No webhook at all: the monitor finds the stream live at the stream service, then gone;
/// a second stream of the same key does not replace the first file.
#[test]
fn the_monitor_alone_starts_and_ends_recordings_and_keeps_earlier_files() {
    if !tools() {
        return;
    }
    let streams = Arc::new(Streams::default());
    let o = live_origin::origin(streams.clone(), clip().segments.clone());
    let dir = data_dirs("recsvc-monitor");
    let data = dir.join("data");
    let live = live_args(&o);
    let args = [
        "--live-hls-url",
        &live,
        "--stream-service-url",
        &o.base,
        "--monitor-interval",
        "1",
        "--end-grace",
        "1",
        "--public-read",
        "--workers",
        "0",
    ];
    let (_srv, port) = serve(&data, &args);
    let mut files = Vec::new();
    for round in 0..2 {
        streams.start("lecture-7");
        let t0 = Instant::now();
        let id = loop {
            // The newest first.
            let recs = recordings(port);
            if recs.len() == round + 1 {
                assert_eq!(recs[0]["status"], "recording", "{recs:?}");
                break recs[0]["id"].as_str().unwrap().to_string();
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "round {round}: {recs:?}");
            std::thread::sleep(Duration::from_millis(250));
        };
        // Public reads: no token needed.
        let (st, v) = http_json(port, "GET", &format!("/recording/{id}"), &[], "");
        assert_eq!(st, 200, "{v}");
        wait_rec(port, &id, Duration::from_secs(30), "growing", |r| r["duration"].as_i64().unwrap() >= 3);
        streams.end("lecture-7");
        let r = wait_rec(port, &id, Duration::from_secs(60), "completed", |r| r["status"] == "completed");
        let p = data.join(r["file_path"].as_str().unwrap());
        check_mp4(&p);
        files.push((r["file_path"].as_str().unwrap().to_string(), std::fs::read(&p).unwrap()));
        std::thread::sleep(Duration::from_secs(2)); // past the grace window
    }
    assert_eq!(files[0].0, "recordings/lecture-7.mp4");
    assert!(files[1].0.starts_with("recordings/lecture-7-") && files[1].0.ends_with(".mp4"), "{}", files[1].0);
    assert_eq!(std::fs::read(data.join(&files[0].0)).unwrap(), files[0].1, "the first recording was overwritten");
}

/// kill -9 of `stitch serve` 10 s into a 40 s stream, restarted 5 s later: one completed
/// recording with every segment fetched before the kill and everything still in the
/// window after the restart.
#[test]
fn kill_9_mid_stream_loses_nothing() {
    if !tools() {
        return;
    }
    let streams = Arc::new(Streams::default());
    let o = live_origin::origin(streams.clone(), clip().segments.clone());
    let dir = data_dirs("recsvc-kill");
    let data = dir.join("data");
    let live = live_args(&o);
    let args = ["--live-hls-url", &live, "--end-grace", "1", "--workers", "0"];
    let (mut srv, port) = serve(&data, &args);
    let sid = streams.start("k9");
    std::thread::sleep(Duration::from_secs(2));
    let t0 = Instant::now();
    assert_eq!(webhook(port, None, &event("stream.started", &sid, "k9")).0, 200);
    let id = recordings(port)[0]["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(10));
    let before = served(&o, "k9");
    srv.child.kill().unwrap(); // SIGKILL
    srv.child.wait().unwrap();
    let during_kill = served(&o, "k9");
    std::thread::sleep(Duration::from_secs(5));
    let (_srv2, port2) = serve(&data, &args);
    let r = recording(port2, &id);
    assert_eq!(r["status"], "recording", "{r}");
    while t0.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_millis(500));
    }
    streams.end("k9");
    assert_eq!(webhook(port2, None, &event("stream.ended", &sid, "k9")).0, 200);
    let r = wait_rec(port2, &id, Duration::from_secs(60), "completed", |r| r["status"] == "completed");
    assert_eq!(recordings(port2).len(), 1);
    let got = served(&o, "k9");
    let (first, last) = (*got.first().unwrap(), *got.last().unwrap());
    assert!(before.len() >= 8, "fetched before the kill: {before:?}");
    assert!(during_kill.is_subset(&got));
    // The window (10 s) outlasted the outage: nothing missed, every number from the first to the last.
    assert_eq!(got.len() as u64, last - first + 1, "a hole: {got:?}");
    let dur = check_mp4(&data.join("recordings/k9.mp4"));
    assert!((dur - got.len() as f64).abs() <= 1.0, "{dur} s in the file, {} segments served: {got:?}", got.len());
    assert!(dur >= 35.0, "{dur}");
    assert_eq!(r["duration"].as_i64().unwrap(), got.len() as i64, "{r}");
}

/// PostgreSQL + S3 (SigV4 checked): two instances, one capture per stream; the holder is
/// killed and the other finishes it; S3 down during the finalize: retried, then completed.
#[test]
fn two_instances_on_postgres_and_s3_take_over_and_survive_s3_down() {
    if !tools() {
        return;
    }
    let Some(s3bin) = s3s_fs() else {
        skipped("skipped: s3s-fs missing (.ci/setup.sh installs it)");
        return;
    };
    let Some(pg) = Pg::start() else {
        skipped("skipped: PostgreSQL 15 missing (.ci/setup.sh installs it)");
        return;
    };
    let streams = Arc::new(Streams::default());
    let o = live_origin::origin(streams.clone(), clip().segments.clone());
    let dir = data_dirs("recsvc-pg");
    let mut s3 = S3::start(&s3bin, &dir.join("s3"), "media");
    let env_owned = s3.env(SK);
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let live = live_args(&o);
    let db = pg.url();
    let args = [
        "--live-hls-url",
        &live,
        "--database",
        &db,
        "--storage",
        "s3://media",
        "--recording-lease",
        "3",
        "--end-grace",
        "6",
        "--workers",
        "0",
    ];
    let (a, pa) = serve_env(&dir.join("a"), &args, &env, 200);
    let (b, pb) = serve_env(&dir.join("b"), &args, &env, 200);
    let mut procs = HashMap::from([(std::fs::read_to_string(dir.join("a/instance-id")).unwrap(), (a, pa))]);
    procs.insert(std::fs::read_to_string(dir.join("b/instance-id")).unwrap(), (b, pb));
    let sid = streams.start("multi");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(webhook(pa, None, &event("stream.started", &sid, "multi")).0, 200);
    assert_eq!(
        webhook(pb, None, &event("stream.started", &sid, "multi")).0,
        200,
        "the same start at the other instance"
    );
    let r = wait_key(pb, "multi", Duration::from_secs(10));
    let id = r["id"].as_str().unwrap().to_string();
    wait_rec(pa, &id, Duration::from_secs(30), "growing", |r| r["duration"].as_i64().unwrap() >= 5);
    // One capture: no segment fetched twice.
    let reqs: Vec<String> = o.requests().into_iter().filter(|r| r.starts_with("/live/multi/s")).collect();
    let uniq: BTreeSet<&String> = reqs.iter().collect();
    assert_eq!(reqs.len(), uniq.len(), "a segment fetched twice: two captures? {reqs:?}");
    // Kill the holder (as its row says); the other takes over within a lease.
    let holder = wait_holder(&pg, &id);
    let (mut victim, _) = procs.remove(&holder).expect("the holder is one of the two instances");
    let (_, &(_, survivor)) = procs.iter().next().unwrap();
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    let n0 = recording(survivor, &id)["duration"].as_i64().unwrap();
    wait_rec(survivor, &id, Duration::from_secs(15), "captured by the survivor", |r| {
        r["duration"].as_i64().unwrap() >= n0 + 3
    });
    std::thread::sleep(Duration::from_secs(2));
    // The end; S3 goes down after the last segments are stored (two target durations),
    // before the join (the grace window, 6 s).
    streams.end("multi");
    assert_eq!(webhook(survivor, None, &event("stream.ended", &sid, "multi")).0, 200);
    wait_rec(survivor, &id, Duration::from_secs(20), "processing", |r| r["status"] == "processing");
    std::thread::sleep(Duration::from_secs(3));
    let s3_port = s3.port;
    s3.stop();
    let r = wait_rec(survivor, &id, Duration::from_secs(40), "retrying the finalize", |r| {
        r["error"].as_str().is_some_and(|e| e.contains("retrying (try"))
    });
    assert_eq!(r["status"], "processing", "{r}");
    let _s3b = S3::start_on(&s3bin, &dir.join("s3"), "media", s3_port);
    let r = wait_rec(survivor, &id, Duration::from_secs(90), "completed", |r| r["status"] == "completed");
    assert_eq!(r["file_path"], "recordings/multi.mp4");
    let obj = dir.join("s3/media/recordings/multi.mp4");
    assert_eq!(std::fs::metadata(&obj).unwrap().len() as i64, r["file_size"].as_i64().unwrap());
    let dur = check_mp4(&obj);
    let got = served(&o, "multi");
    let (first, last) = (*got.first().unwrap(), *got.last().unwrap());
    assert_eq!(got.len() as u64, last - first + 1, "a hole: {got:?}");
    assert!((dur - got.len() as f64).abs() <= 1.0, "{dur} s in the file, {} segments served", got.len());
    let left: Vec<PathBuf> = files_under(&dir.join("s3/media/live"));
    assert!(left.is_empty(), "segments left in the bucket: {left:?}");
    // The killed instance kept local copies of the segments it captured; back up, it
    // deletes them (the recording is completed).
    let a_held = std::fs::read_to_string(dir.join("a/instance-id")).unwrap() == holder;
    let victim_data = dir.join(if a_held { "a" } else { "b" });
    assert!(!files_under(&victim_data.join("scratch/recordings")).is_empty(), "no local copies to sweep");
    let (_back, _) = serve_env(&victim_data, &args, &env, 200);
    let t0 = Instant::now();
    while !files_under(&victim_data.join("scratch/recordings")).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(10), "local copies of a completed recording kept");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The holder of recording `id`, read from PostgreSQL with psql.
fn wait_holder(pg: &Pg, id: &str) -> String {
    let t0 = Instant::now();
    loop {
        let out = std::process::Command::new("/usr/bin/psql")
            .args([&pg.url(), "-At", "-c", &format!("SELECT holder FROM recordings WHERE id = '{id}'")])
            .output()
            .unwrap();
        let h = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !h.is_empty() {
            return h;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no holder: {}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The seed's layout: the stream service writes the live playlist and segments into a
/// bucket (`--live-segments s3://live-segments/{stream_key}/`), the recordings go to another
/// (`--storage s3://recordings`), both read and written with SigV4 credentials.
#[test]
fn live_segments_read_from_a_bucket() {
    if !tools() {
        return;
    }
    let Some(s3bin) = s3s_fs() else {
        skipped("skipped: s3s-fs missing (.ci/setup.sh installs it)");
        return;
    };
    let dir = data_dirs("recsvc-bucket");
    let root = dir.join("s3");
    let _s3 = S3::start(&s3bin, &root, "live-segments");
    std::fs::create_dir_all(root.join("recordings")).unwrap();
    let env_owned = _s3.env(SK);
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The stream service's writer: one segment a second, a window of 10, then ENDLIST.
    let stream_dir = root.join("live-segments/studio_a");
    std::fs::create_dir_all(&stream_dir).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let written = Arc::new(Mutex::new(0u64));
    let writer = {
        let (stop, written, stream_dir) = (stop.clone(), written.clone(), stream_dir.clone());
        std::thread::spawn(move || {
            let segs = &clip().segments;
            let mut n = 0u64;
            loop {
                let ended = stop.load(std::sync::atomic::Ordering::SeqCst);
                if !ended {
                    let (_, b) = &segs[n as usize % segs.len()];
                    std::fs::write(stream_dir.join(format!("s{n}.ts")), b).unwrap();
                    n += 1;
                    *written.lock().unwrap() = n;
                }
                let first = n.saturating_sub(WINDOW);
                let entries: Vec<(String, f64, String)> =
                    (first..n).map(|i| (String::new(), segs[i as usize % segs.len()].0, format!("s{i}.ts"))).collect();
                let text = hls_origin::media_playlist(1, first, &entries, ended, "");
                let tmp = stream_dir.join(".index.m3u8.tmp");
                std::fs::write(&tmp, text).unwrap();
                std::fs::rename(&tmp, stream_dir.join("index.m3u8")).unwrap();
                if ended {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    let data = dir.join("data");
    let args = [
        "--live-segments",
        "s3://live-segments/{stream_key}/",
        "--storage",
        "s3://recordings",
        "--end-grace",
        "1",
        "--workers",
        "0",
    ];
    let (_srv, port) = serve_env(&data, &args, &env, 200);
    std::thread::sleep(Duration::from_secs(2));
    let sid = uuid();
    let at_start = *written.lock().unwrap();
    assert_eq!(webhook(port, None, &event("stream.started", &sid, "studio_a")).0, 200);
    let id = wait_key(port, "studio_a", Duration::from_secs(10))["id"].as_str().unwrap().to_string();
    wait_rec(port, &id, Duration::from_secs(30), "growing", |r| r["duration"].as_i64().unwrap() >= 6);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
    let at_end = *written.lock().unwrap();
    assert_eq!(webhook(port, None, &event("stream.ended", &sid, "studio_a")).0, 200);
    let r = wait_rec(port, &id, Duration::from_secs(60), "completed", |r| r["status"] == "completed");
    assert_eq!(r["file_path"], "recordings/studio_a.mp4");
    let obj = root.join("recordings/recordings/studio_a.mp4");
    let dur = check_mp4(&obj);
    // From the live edge at the start (the newest segment then) to the last one.
    let expect = (at_end - at_start + 1) as f64;
    assert!((dur - expect).abs() <= 1.0, "{dur} s in the file, {expect} segments written meanwhile");
    assert!(files_under(&root.join("recordings/live")).is_empty());
}

/// A serve with a live origin (SQLite, local storage, webhooks with the API token).
struct Live {
    streams: Arc<Streams>,
    o: Origin,
    data: PathBuf,
    _srv: Proc,
    port: u16,
}

impl Live {
    fn start(name: &str, extra: &[&str]) -> Live {
        let streams = Arc::new(Streams::default());
        let o = live_origin::origin(streams.clone(), clip().segments.clone());
        let data = data_dirs(name).join("data");
        let live = live_args(&o);
        let mut args = vec!["--live-hls-url", live.as_str(), "--workers", "0"];
        args.extend_from_slice(extra);
        let (srv, port) = serve(&data, &args);
        Live { streams, o, data, _srv: srv, port }
    }

    /// Stream `key` starts, is recorded for at least `secs` s, ends: (stream id, recording id),
    /// the recording `processing`.
    fn record_until_processing(&self, key: &str, secs: i64) -> (String, String) {
        let sid = self.streams.start(key);
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(webhook(self.port, None, &event("stream.started", &sid, key)).0, 200);
        let id = recordings(self.port)[0]["id"].as_str().unwrap().to_string();
        wait_rec(self.port, &id, Duration::from_secs(30), "growing", |r| r["duration"].as_i64().unwrap() >= secs);
        self.streams.end(key);
        assert_eq!(webhook(self.port, None, &event("stream.ended", &sid, key)).0, 200);
        wait_rec(self.port, &id, Duration::from_secs(10), "processing", |r| r["status"] == "processing");
        (sid, id)
    }
}

/// The source drops and comes back within the grace window (its media sequence restarts):
/// the same recording goes on, and the file holds both parts, joined without a decode error.
#[test]
fn a_reconnect_within_the_grace_window_continues_the_recording() {
    if !tools() {
        return;
    }
    let l = Live::start("recsvc-grace", &["--end-grace", "6"]);
    let (streams, o, data, port) = (&l.streams, &l.o, &l.data, l.port);
    let (_, id) = l.record_until_processing("rc", 4);
    let first_part = served(&o, "rc");
    std::thread::sleep(Duration::from_secs(3));
    // The encoder reconnects: a new stream on the origin, numbered from 0 again.
    let sid2 = streams.start("rc");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(webhook(port, None, &event("stream.started", &sid2, "rc")).0, 200);
    let r = recording(port, &id);
    assert_eq!(r["status"], "recording", "not continued: {r}");
    assert_eq!(recordings(port).len(), 1);
    let d0 = r["duration"].as_i64().unwrap();
    wait_rec(port, &id, Duration::from_secs(30), "growing again", |r| r["duration"].as_i64().unwrap() >= d0 + 4);
    streams.end("rc");
    assert_eq!(webhook(port, None, &event("stream.ended", &sid2, "rc")).0, 200);
    let r = wait_rec(port, &id, Duration::from_secs(60), "completed", |r| r["status"] == "completed");
    assert_eq!(recordings(port).len(), 1);
    let dur = check_mp4(&data.join("recordings/rc.mp4"));
    // Both parts: what was fetched before the drop and the new stream's segments (its
    // numbers restart, so the origin log holds both sets).
    let total = r["duration"].as_i64().unwrap() as f64;
    assert!(total >= first_part.len() as f64 + 4.0, "{total} s, first part {first_part:?}");
    assert!((dur - total).abs() <= 1.0, "{dur} s in the file, {total} s captured");
}

/// A finalize that cannot join (a stored segment went missing) leaves the recording `failed`
/// with its error; `POST /recording/{id}/retry` (API token) finalizes it again.
#[test]
fn a_failed_recording_is_retried_by_the_endpoint() {
    if !tools() {
        return;
    }
    let l = Live::start("recsvc-retry", &["--end-grace", "3"]);
    let (data, port) = (&l.data, l.port);
    let (_, id) = l.record_until_processing("rt", 4);
    // Within the grace window a stored segment disappears.
    let seg = data.join(format!("live/{id}/00000001.ts"));
    let bytes = std::fs::read(&seg).unwrap();
    std::fs::remove_file(&seg).unwrap();
    let r = wait_rec(port, &id, Duration::from_secs(30), "failed", |r| r["status"] == "failed");
    assert!(r["error"].as_str().unwrap().contains("missing"), "{r}");
    assert!(r["completed_at"].is_null() && r["file_path"].is_null(), "{r}");
    let auth = format!("Bearer {TOKEN}");
    let retry = format!("/recording/{id}/retry");
    assert_eq!(http_json(port, "POST", &retry, &[], "").0, 401);
    let unknown = "/recording/6f9619ff-8b86-d011-b42d-00cf4fc964ff/retry";
    assert_eq!(http_json(port, "POST", unknown, &[("Authorization", &auth)], "").0, 404);
    std::fs::write(&seg, bytes).unwrap();
    let (st, v) = http_json(port, "POST", &format!("/api/v1{retry}"), &[("Authorization", &auth)], "");
    assert_eq!(st, 202, "{v}");
    let r = wait_rec(port, &id, Duration::from_secs(30), "completed", |r| r["status"] == "completed");
    assert_eq!(http_json(port, "POST", &retry, &[("Authorization", &auth)], "").0, 409, "retry of a completed one");
    assert!(r["error"].is_null(), "{r}");
    check_mp4(&data.join("recordings/rt.mp4"));
}

/// Without a stream service and without a `stream.ended`: a playlist that gains
/// `EXT-X-ENDLIST` ends its recording, and so does one that answers 404 three polls running.
#[test]
fn the_playlist_alone_ends_a_recording() {
    if !tools() {
        return;
    }
    let l = Live::start("recsvc-playlist-end", &["--end-grace", "0"]);
    let port = l.port;
    let mut ids = Vec::new();
    for key in ["ends", "vanishes"] {
        let sid = l.streams.start(key);
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(webhook(port, None, &event("stream.started", &sid, key)).0, 200);
        let id = wait_key(port, key, Duration::from_secs(10))["id"].as_str().unwrap().to_string();
        ids.push(id);
    }
    for id in &ids {
        wait_rec(port, id, Duration::from_secs(30), "growing", |r| r["duration"].as_i64().unwrap() >= 3);
    }
    l.streams.end("ends");
    l.streams.vanish("vanishes");
    for (id, key) in ids.iter().zip(["ends", "vanishes"]) {
        let r = wait_rec(port, id, Duration::from_secs(60), "completed", |r| r["status"] == "completed");
        assert_eq!(r["file_path"], format!("recordings/{key}.mp4"));
        let dur = check_mp4(&l.data.join(format!("recordings/{key}.mp4")));
        let got = served(&l.o, key);
        assert!((dur - got.len() as f64).abs() <= 1.0, "{key}: {dur} s in the file, {} segments served", got.len());
    }
}
