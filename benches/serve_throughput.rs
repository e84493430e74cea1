//! `stitch serve` overhead: N short record jobs (10-segment VODs from a loopback origin) run
//! as a loop of plain `stitch record` processes, then as jobs of `stitch serve` (SQLite,
//! local storage) with 1, 2 and 4 `stitch worker` processes of one slot, then the same on
//! PostgreSQL 15 (a throw-away cluster started here, when installed), in one run. Also the
//! queue overhead per job: submit -> start of the first job on an idle queue, and finish ->
//! visible (the job's `finished_at` to the moment a poll sees it succeeded). Run:
//! `cargo bench --bench serve_throughput` (needs ffmpeg; BENCH_JOBS, default 20; BENCH_CLIP=hd or small).

#[path = "../tests/hls_origin/mod.rs"]
#[allow(dead_code)]
mod hls_origin;
#[path = "../tests/serve_common/mod.rs"]
#[allow(dead_code)]
mod serve_common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_common::*;

fn main() {
    let n: usize = std::env::var("BENCH_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = std::env::temp_dir().join(format!("stitch-serve-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // BENCH_CLIP=hd (default): 10 segments of 4 s, 1280x720 x264 at 3 Mbit/s + AAC (~15 MB a
    // job, what a lecture VOD's segments weigh); small: 10 segments of 2 s at 320x240 (~114 KB).
    let clip = match std::env::var("BENCH_CLIP").as_deref() {
        Ok("small") => hls_origin::ramp_vod(&dir, 20).0,
        _ => hls_origin::encode_source(
            &dir,
            "hd",
            "testsrc2=size=1280x720:rate=25",
            "sine=frequency=440:sample_rate=48000",
            40,
            "mpegts",
            4,
            &["-b:v", "3M", "-maxrate", "3M", "-bufsize", "6M", "-x264-params", "nal-hrd=cbr"],
        ),
    };
    let bytes: usize = clip.segments.iter().map(|(_, b)| b.len()).sum();
    let (segs, playlist) = hls_origin::vod_files(&clip);
    let origin = hls_origin::Origin::start(Arc::new(move |pq: &str, range: Option<&str>| {
        let file = pq.split('?').next().unwrap().rsplit('/').next().unwrap().to_string();
        if file == "index.m3u8" {
            hls_origin::Reply::m3u8(&playlist)
        } else {
            match segs.get(&file) {
                Some(b) => hls_origin::serve_range(b, range, "video/mp2t"),
                None => hls_origin::Reply::status(404),
            }
        }
    }));
    println!("{n} record jobs of {} segments each ({:.1} MB a job)", clip.segments.len(), bytes as f64 / 1e6);

    // Plain CLI loop.
    let t0 = Instant::now();
    for i in 0..n {
        let out = dir.join(format!("plain{i}.ts"));
        let st = Command::new(env!("CARGO_BIN_EXE_stitch"))
            .args(["record", &origin.url(&format!("/p{i}/index.m3u8")), "-q", "-o"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let plain = t0.elapsed().as_secs_f64();
    println!("plain `stitch record` loop: {plain:.2} s ({:.3} s/job)", plain / n as f64);

    let pg = Pg::start();
    if pg.is_none() {
        println!("PostgreSQL 15 not installed: SQLite only (.ci/setup.sh installs it)");
    }
    let dbs: Vec<(&str, Option<String>)> =
        std::iter::once(("sqlite", None)).chain(pg.as_ref().map(|p| ("postgres", Some(p.url())))).collect();
    for ((db, url), workers) in dbs.iter().flat_map(|d| [1usize, 2, 4].map(|w| (d, w))) {
        let data = dir.join(format!("svc-{db}-{workers}"));
        let mut args = vec!["--allow-hosts", "127.0.0.1", "--lease-secs", "6"];
        if let Some(u) = url {
            args.extend(["--database", u.as_str()]);
        }
        let (srv, port) = serve(&data, &[&["--workers", "0"][..], &args[..]].concat());
        let procs: Vec<Proc> = (0..workers)
            .map(|w| {
                Proc::start(
                    "worker",
                    &data,
                    &[&["--workers", "1"][..], &args[..]].concat(),
                    &format!("w{workers}-{w}.log"),
                )
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let batch: Vec<Value> = (0..n)
            .map(
                |i| json!({"kind": "record", "params": {"url": origin.url(&format!("/{db}{workers}/{i}/index.m3u8"))}}),
            )
            .collect();
        let t0 = Instant::now();
        let submitted_ms = now_ms();
        let (st, v) = json_of(port, "POST", "/api/v1/jobs", Some(Value::Array(batch)));
        assert_eq!(st, 202, "{v}");
        let ids: Vec<String> = v.as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()).collect();
        let mut waits = Vec::new();
        let mut visible_ms = Vec::new();
        for id in &ids {
            let j =
                wait_job(port, id, Duration::from_secs(600), |j| j["status"] == "succeeded" || j["status"] == "failed");
            assert_eq!(j["status"], "succeeded", "{j}");
            visible_ms.push(now_ms() - ms(&j["finished_at"]));
            waits.push(j);
        }
        // From the submit to the last job's `finished_at` (the job records' clock, the same
        // machine's): the bench's own polling of the API (every 200 ms) is not counted.
        let polled = t0.elapsed().as_secs_f64();
        let last_ms = waits.iter().map(|j| ms(&j["finished_at"])).fold(f64::MIN, f64::max);
        let wall = ((last_ms - submitted_ms) / 1000.0).clamp(0.0, polled);
        // Submit -> start of the first job on an idle queue: the queue overhead.
        let first_wait = waits.iter().map(|j| ms(&j["started_at"]) - ms(&j["created_at"])).fold(f64::MAX, f64::min);
        let run_secs: f64 = waits.iter().map(|j| ms(&j["finished_at"]) - ms(&j["started_at"])).sum::<f64>() / 1000.0;
        // The first job's finish -> visible (later jobs were waited for in order, so they
        // were long visible when asked).
        let visible = visible_ms.first().copied().unwrap_or(0.0);
        println!(
            "serve on {db}, {workers} worker process(es): {wall:.2} s ({:.3} s/job; vs plain loop {:+.1}%); first \
             submit->start {first_wait:.0} ms; first finish->visible <= {visible:.0} ms; mean run {:.3} s",
            wall / n as f64,
            (wall / plain - 1.0) * 100.0,
            run_secs / n as f64
        );
        drop(procs);
        drop(srv);
    }
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Milliseconds since midnight UTC of an RFC 3339 UTC time (the job record's timestamps).
fn ms(s: &Value) -> f64 {
    let t = s.as_str().unwrap();
    let (h, m, sec) = (&t[11..13], &t[14..16], &t[17..23]);
    (h.parse::<f64>().unwrap() * 3600.0 + m.parse::<f64>().unwrap() * 60.0 + sec.parse::<f64>().unwrap()) * 1000.0
}

/// Now, as [`ms`] counts.
fn now_ms() -> f64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    (d.as_millis() % 86_400_000) as f64
}
