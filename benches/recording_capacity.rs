//! The recording service on this machine, in one run (issue 16):
//!
//! 1. **Concurrent live captures**: one `stitch serve` (SQLite, local storage) records N live
//!    streams at once from a loopback origin (1 s MPEG-TS segments of ~2 Mbit/s, a window of
//!    10), for BENCH_SECS seconds each; per N: segments missed (available while the capture
//!    ran but never fetched), how late segments were fetched, CPU of the serve process per
//!    stream, then the time to finalize all N recordings. N from BENCH_STREAMS (default
//!    10,25,50,75,100).
//! 2. **Finalize of a 1-hour recording** (BENCH_HOUR_SECS, default 3600 one-second segments,
//!    ~0.9 GB): stitch (segments already captured: rows and files placed as a capture leaves
//!    them; join, remux to a faststart MP4, publish, verify) against
//!    `ffmpeg -f concat -c copy -movflags +faststart` of the same segments plus the upload (a
//!    copy into the storage folder; with s3s-fs installed also on S3: stitch's finalize vs
//!    ffmpeg + `curl --aws-sigv4` PUT).
//!
//! Run: `cargo bench --bench recording_capacity` (needs ffmpeg and python3).

#[path = "../tests/hls_origin/mod.rs"]
#[allow(dead_code)]
mod hls_origin;
#[path = "../tests/live_origin/mod.rs"]
#[allow(dead_code)]
mod live_origin;
#[path = "../tests/serve_common/mod.rs"]
#[allow(dead_code)]
mod serve_common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_common::*;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// User + system CPU seconds of a process so far (/proc/<pid>/stat, clock ticks of 1/100 s).
fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(") ").map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn auth() -> String {
    format!("Bearer {TOKEN}")
}

fn post(port: u16, path: &str, body: &str) -> u16 {
    let a = auth();
    http_json(port, "POST", path, &[("Authorization", &a)], body).0
}

fn recordings(port: u16) -> Vec<Value> {
    let a = auth();
    http_json(port, "GET", "/recordings?limit=1000", &[("Authorization", &a)], "").1["recordings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn event(ev: &str, id: &str, key: &str) -> String {
    json!({"event": ev, "stream_id": id, "stream_key": key, "user_id": "u", "timestamp": "2026-12-05T10:00:00Z"})
        .to_string()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("stitch-rec-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // 10 s at 640x360, x264 CBR 2 Mbit/s, GOP 1 s, AAC: 1 s segments of ~250 KB.
    let clip = hls_origin::encode_source(
        &dir,
        "src",
        "testsrc2=size=640x360:rate=25",
        "sine=frequency=440:sample_rate=48000",
        10,
        "mpegts",
        1,
        &["-b:v", "1900k", "-maxrate", "1900k", "-bufsize", "1900k", "-x264-params", "nal-hrd=cbr"],
    );
    let seg_bytes = clip.segments.iter().map(|s| s.1.len()).sum::<usize>() / clip.segments.len();
    println!("segments: 1 s, {:.2} Mbit/s", seg_bytes as f64 * 8.0 / 1e6);
    let streams_list: Vec<usize> = std::env::var("BENCH_STREAMS")
        .unwrap_or_else(|_| "10,25,50,75,100".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let secs = env_num("BENCH_SECS", 30);
    for n in streams_list {
        capacity(&dir, &clip, n, secs);
    }
    finalize_hour(&dir, &clip, env_num("BENCH_HOUR_SECS", 3600));
}

/// N live streams recorded at once for `secs`.
fn capacity(dir: &Path, clip: &hls_origin::Clip, n: usize, secs: u64) {
    let streams = Arc::new(live_origin::Streams::default());
    let o = live_origin::origin(streams.clone(), clip.segments.clone());
    let data = dir.join(format!("cap-{n}"));
    let live = format!("{}/live/{{stream_key}}/index.m3u8", o.base);
    let (srv, port) = serve(&data, &["--live-hls-url", &live, "--end-grace", "0", "--workers", "0"]);
    let pid = srv.child.id();
    let mut ids = Vec::new();
    for i in 0..n {
        let key = format!("s{i}");
        let sid = streams.start(&key);
        ids.push((key, sid));
    }
    std::thread::sleep(Duration::from_secs(1));
    for (key, sid) in &ids {
        assert_eq!(post(port, "/webhook/stream", &event("stream.started", sid, key)), 200);
    }
    let cpu0 = cpu_secs(pid);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let live_secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs(pid) - cpu0;
    let mut last = HashMap::new();
    for (key, sid) in &ids {
        last.insert(key.clone(), streams.end(key));
        assert_eq!(post(port, "/webhook/stream", &event("stream.ended", sid, key)), 200);
    }
    let t_end = Instant::now();
    loop {
        let recs = recordings(port);
        let done = recs.iter().filter(|r| r["status"] == "completed" || r["status"] == "failed").count();
        if done == n {
            break;
        }
        assert!(t_end.elapsed() < Duration::from_secs(600), "{done}/{n} finalized after 600 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let finalize = t_end.elapsed().as_secs_f64();
    let recs = recordings(port);
    let failed = recs.iter().filter(|r| r["status"] == "failed").count();
    // Missed: segments between the first one fetched and the last one available that were
    // never fetched.
    let mut missed = 0u64;
    for (key, _) in &ids {
        let got = live_origin::served(&o, key);
        let first = got.first().copied().unwrap_or(0);
        let want = last[key].saturating_sub(first) + 1;
        missed += want.saturating_sub(got.len() as u64);
    }
    println!(
        "{n:>3} streams x {live_secs:.0} s: missed segments {missed}, failed {failed}; serve CPU {:.1}% of a core \
         ({:.2}% per stream); finalize of all {n}: {finalize:.1} s",
        cpu / live_secs * 100.0,
        cpu / live_secs * 100.0 / n as f64
    );
    drop(srv);
}

/// `secs` one-second segments: the 10 s source looped by ffmpeg with `-c copy`.
fn hour_segments(dir: &Path, secs: u64) -> Vec<PathBuf> {
    let d = dir.join("hour");
    std::fs::create_dir_all(&d).unwrap();
    let src = dir.join("src/index.m3u8");
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-stream_loop", "-1", "-i"])
        .arg(&src)
        .args(["-t", &secs.to_string(), "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0"])
        .arg("-hls_segment_filename")
        .arg(d.join("h%05d.ts"))
        .arg(d.join("hour.m3u8"))
        .status()
        .unwrap();
    assert!(st.success());
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ts"))
        .collect();
    v.sort();
    v
}

/// A recording whose capture is over, as the capture leaves it: a row in `processing`, one
/// row per segment, the segment files under `live/<id>/` (`store`: hard links into the
/// storage folder) and, on S3, the local copies in the scratch folder (`cache`).
fn place_recording(db: &Path, store: &Path, cache: Option<&Path>, segs: &[PathBuf], id: &str, key: &str) {
    let seg_dir = store.join("live").join(id);
    std::fs::create_dir_all(&seg_dir).unwrap();
    if let Some(c) = cache {
        std::fs::create_dir_all(c).unwrap();
    }
    let mut rows = Vec::new();
    for (i, p) in segs.iter().enumerate() {
        let dst = seg_dir.join(format!("{i:08}.ts"));
        std::fs::hard_link(p, &dst).unwrap();
        if let Some(c) = cache {
            // The copy the capture keeps beside the upload (S3 storage).
            std::fs::hard_link(p, c.join(format!("{i:08}.ts"))).unwrap();
        }
        rows.push(format!("({i}, {})", std::fs::metadata(p).unwrap().len()));
    }
    let script = format!(
        "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\n\
         c.execute(\"INSERT INTO recordings (id, stream_id, status, started_at, created_at, updated_at, stream_key, \
         ended_at, finalizing) VALUES ('{id}', '{id}', 'processing', 0, 0, 0, '{key}', 0, 1)\")\n\
         c.executemany(\"INSERT INTO recording_segments (recording_id, seq, media_seq, duration_ms, size, \
         discontinuity, fetched_at) VALUES ('{id}', ?, ?, 1000, ?, 0, 0)\", [(s, s, n) for (s, n) in [{}]])\n\
         c.commit()\n",
        rows.join(",")
    );
    let st = Command::new("python3").arg("-c").arg(script).arg(db).status().unwrap();
    assert!(st.success());
}

/// Time from the start of `stitch serve` to the recording `completed`.
fn stitch_finalize(data: &Path, extra: &[&str], env: &[(&str, &str)], id: &str) -> f64 {
    let t0 = Instant::now();
    let (srv, port) = serve_env(data, extra, env, 200);
    let a = auth();
    loop {
        let (_, v) = http_json(port, "GET", &format!("/recording/{id}"), &[("Authorization", &a)], "");
        let st = v["recording"]["status"].as_str().unwrap_or("").to_string();
        if st == "completed" {
            break;
        }
        assert!(st != "failed", "{v}");
        assert!(t0.elapsed() < Duration::from_secs(1800), "{v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let t = t0.elapsed().as_secs_f64();
    drop(srv);
    t
}

/// `ffmpeg -f concat -c copy` of the segments into a faststart MP4.
fn ffmpeg_concat(segs: &[PathBuf], out: &Path) -> f64 {
    let list = out.with_extension("txt");
    let text: String = segs.iter().map(|p| format!("file '{}'\n", p.display())).collect();
    std::fs::write(&list, text).unwrap();
    let t0 = Instant::now();
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i"])
        .arg(&list)
        .args(["-c", "copy", "-movflags", "+faststart"])
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success());
    t0.elapsed().as_secs_f64()
}

fn finalize_hour(dir: &Path, _clip: &hls_origin::Clip, secs: u64) {
    let segs = hour_segments(dir, secs);
    let bytes: u64 = segs.iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    println!("finalize of one recording of {} segments ({:.0} MB):", segs.len(), bytes as f64 / 1e6);
    // Local storage: the schema made by a first start, the recording placed, then the finalize.
    let data = dir.join("fin-local");
    drop(serve(&data, &["--workers", "0"]));
    let id = "0f0e0d0c-0b0a-4909-8807-060504030201";
    place_recording(&data.join("stitch.db"), &data, None, &segs, id, "hour");
    let live = "http://127.0.0.1:9/{stream_key}.m3u8";
    let t_stitch = stitch_finalize(&data, &["--live-hls-url", live, "--workers", "0"], &[], id);
    let peer_out = dir.join("peer.mp4");
    let t_concat = ffmpeg_concat(&segs, &peer_out);
    let t0 = Instant::now();
    std::fs::copy(&peer_out, dir.join("peer-uploaded.mp4")).unwrap();
    let t_up = t0.elapsed().as_secs_f64();
    let ours = data.join("recordings/hour.mp4");
    println!(
        "  local storage: stitch {t_stitch:.2} s (start of serve to completed: join, remux, publish, verify) vs \
         ffmpeg concat -c copy {t_concat:.2} s + copy {t_up:.2} s = {:.2} s: ratio {:.2}x; sizes {} vs {} bytes",
        t_concat + t_up,
        (t_concat + t_up) / t_stitch,
        std::fs::metadata(&ours).unwrap().len(),
        std::fs::metadata(&peer_out).unwrap().len()
    );
    let _ = std::fs::remove_dir_all(&data);
    // S3 (s3s-fs): segments in the bucket, the MP4 uploaded there.
    let Some(bin) = s3s_fs() else {
        println!("  S3: s3s-fs not installed (.ci/setup.sh installs it)");
        return;
    };
    let root = dir.join("s3");
    let s3 = S3::start(&bin, &root, "rec");
    let env_owned = s3.env(SK);
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let data = dir.join("fin-s3");
    let extra = ["--storage", "s3://rec", "--live-hls-url", live, "--workers", "0"];
    drop(serve_env(&data, &extra, &env, 200));
    let cache = data.join("scratch/recordings").join(id);
    place_recording(&data.join("stitch.db"), &root.join("rec"), Some(&cache), &segs, id, "hour");
    let t_stitch = stitch_finalize(&data, &extra, &env, id);
    let t0 = Instant::now();
    let st = Command::new("curl")
        .args(["-sS", "-f", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", &format!("{AK}:{SK}")])
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T"])
        .arg(&peer_out)
        .arg(format!("http://127.0.0.1:{}/rec/peer.mp4", s3.port))
        .status()
        .unwrap();
    assert!(st.success(), "curl PUT to s3s-fs");
    let t_up = t0.elapsed().as_secs_f64();
    println!(
        "  S3 (s3s-fs): stitch {t_stitch:.2} s (join, remux, upload, read back to verify) vs ffmpeg concat {t_concat:.2} \
         s + curl PUT {t_up:.2} s = {:.2} s: ratio {:.2}x",
        t_concat + t_up,
        (t_concat + t_up) / t_stitch
    );
}
