//! Time from start to first encoded frame of `stitch webinar` for a webinar whose chunks are
//! still downloading, against the old way (download everything, then compile). One run of
//! each on 127.0.0.1; reports seconds and ratios measured in that run (the machine is noisy:
//! compare ratios, not absolute times). Run: `cargo bench --bench first_frame`.
//!
//! Setup: a fake MTS Link API (axum, as in tests/webinar_e2e.rs) and the fake storage server
//! (tests/fake_server) serving BENCH_CHUNKS (default 48) chunks, alternately the testdata
//! clips `a_high_bframes.mp4` (4 s, 320x240) and `b_other_res.mp4` (3 s, 480x270), placed
//! back to back on the timeline (one `mediasession.add` each, one lecturer camera). Storage is
//! slow: every request waits BENCH_DELAY_MS (100) before answering and bodies trickle out
//! 4 KiB every BENCH_CHUNK_DELAY_MS (80), so one chunk takes ~1 s and all of them ~15-20 s at
//! `-j 3`.
//!
//! Run 1, overlapped (what users get now):
//! `stitch webinar LINK --api-host API --output-dir DIR -j 3 --size 640x360 --format ts
//! --keep-files`, timestamped from its start:
//! - **first encoded frame** (when `script` is available): stitch runs under `script`, i.e. on
//!   a pty and without `-q`, so it draws its progress bar, which shows the frames muxed
//!   (encoded and handed to the muxer), refreshed ~10 times a second: the first `N/M frames`
//!   with N > 0. Set BENCH_NO_PTY=1 to run with `-q` and skip this signal.
//! - **first encoded frame on disk**: the TS output is written progressively to
//!   `<out>.ts.part` (TS, not MP4, because its first bytes are playable; the MP4 sidecar
//!   `.mdat.part` would work the same way but holds bare samples). The bench polls it every
//!   10 ms and parses the TS packets (PAT -> PMT -> the H.264 PID, stream_type 0x1b): first
//!   poll that finds a video PES start (payload_unit_start_indicator on the video PID).
//!   The muxers write through a 1 MiB `BufWriter`, so this is when the first MiB of output
//!   is flushed, well after the first frame was encoded; the bench prints how many seconds
//!   of video that first flush held.
//! - **downloads done**: first poll at which the storage server has sent every chunk's
//!   body to its end (`completed_bodies`).
//! - **total**: process exit.
//!
//! Run 2, baseline (download everything first, then compile): the download part is the
//! "downloads done" time of run 1 (the storage is throttled, so downloading is bound by the
//! server, not by the CPU the concurrent compile takes; the baseline also gets stitch's 3
//! parallel downloads, so it is a generous baseline). The compile part is a separate
//! `stitch compile <job>/flow.json -o seq.ts --size 640x360 --layout sidebar` on the chunks
//! run 1 kept (`--keep-files`): the very flow, chunks, canvas and layout (the webinar
//! default) the webinar command compiled, with every chunk already on disk, measured the
//! same way. Baseline first frame = downloads done + compile's first frame; baseline
//! total = downloads done + compile's total.
//!
//! Temp files go to a folder under the system temp dir, removed at the end (also on panic).

#[path = "../tests/fake_server/mod.rs"]
mod fake_server;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use fake_server::{FakeServer, Faults};

const LINK: &str = "https://my.mts-link.ru/12345/67890/record-new/111/record-file/222";
const CLIPS: [(&str, f64); 2] = [("a_high_bframes.mp4", 4.0), ("b_other_res.mp4", 3.0)];
const SIZE: &str = "640x360";
const POLL: Duration = Duration::from_millis(10);
const TIMEOUT: Duration = Duration::from_secs(900);

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn storage_path(i: usize) -> String {
    format!("/api-storage/files/wowza/2026/01/01/chunk{i:03}.mp4")
}

/// Removes the folder when dropped (also when the bench panics).
struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Kills and reaps the child when dropped before it exited (panic, timeout).
struct Proc(Option<Child>);
impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn record_json(storage: &FakeServer, n: usize) -> (serde_json::Value, f64) {
    let t0 = 1_767_261_600.0; // 2026-01-01 10:00 UTC
    let mut logs = vec![serde_json::json!({"id": 1, "module": "eventsession.start", "time": t0, "relativeTime": 0.0,
        "data": {}, "snapshot": {"data": {"userlist": [{"role": "LECTURER", "user": {"id": 7, "nickname": "Лектор"}}]}}})];
    let mut at = 0.0;
    for i in 0..n {
        logs.push(serde_json::json!({"id": 10 + i, "module": "mediasession.add", "time": t0 + at, "relativeTime": at,
            "data": {"id": 100 + i, "url": storage.url(&storage_path(i)),
                     "stream": {"conference": {"id": 50, "user": {"id": 7, "nickname": "Лектор"}}}}}));
        at += CLIPS[i % CLIPS.len()].1;
    }
    (serde_json::json!({"name": "Bench webinar", "duration": at, "eventLogs": logs}), at)
}

async fn start_api(record: serde_json::Value) -> String {
    let rec = Arc::new(Mutex::new(record));
    let app = Router::new()
        .route(
            "/api/event-sessions/{sid}/record-files/{fid}/flow",
            get(|State(r): State<Arc<Mutex<serde_json::Value>>>| async move { Json(r.lock().unwrap().clone()) }),
        )
        .with_state(rec);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{addr}")
}

/// Incremental MPEG-TS reader of a file being written: finds the H.264 PID from PAT/PMT
/// and notes when a video PES start first shows up.
#[derive(Default)]
struct TsWatch {
    file: Option<File>,
    read: u64,
    carry: Vec<u8>,
    pmt_pid: Option<u16>,
    video_pid: Option<u16>,
    first_video: Option<Duration>,
    /// PTS (90 kHz) of the first video PES and the largest one seen in the same read.
    first_pts: Option<u64>,
    max_pts_first_read: Option<u64>,
}

impl TsWatch {
    /// `dir`: the folder the output appears in (found by extension: `.ts.part`, then `.ts`).
    fn poll(&mut self, dir: &Path, now: Duration) {
        if self.first_video.is_some() {
            return;
        }
        if self.file.is_none() {
            self.file = find_output(dir).and_then(|p| File::open(p).ok());
        }
        let Some(f) = &mut self.file else { return };
        // The fd follows the inode through the final rename of `.part`.
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(self.read)).is_err() || f.read_to_end(&mut buf).is_err() || buf.is_empty() {
            return;
        }
        self.read += buf.len() as u64;
        self.carry.extend_from_slice(&buf);
        let whole = self.carry.len() / 188 * 188;
        let data: Vec<u8> = self.carry.drain(..whole).collect();
        for p in data.chunks_exact(188) {
            self.packet(p, now);
        }
    }

    fn packet(&mut self, p: &[u8], now: Duration) {
        if p[0] != 0x47 {
            return;
        }
        let pusi = p[1] & 0x40 != 0;
        let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        let afc = (p[3] >> 4) & 3;
        if afc & 1 == 0 {
            return; // no payload
        }
        let start = if afc == 3 { 5 + p[4] as usize } else { 4 };
        if start >= 188 {
            return;
        }
        let pl = &p[start..];
        if pusi && (pid == 0 || Some(pid) == self.pmt_pid) && self.video_pid.is_none() {
            let ptr = pl[0] as usize;
            let Some(sec) = pl.get(1 + ptr..) else { return };
            if sec.len() < 12 {
                return;
            }
            let len = ((usize::from(sec[1] & 0x0f) << 8) | sec[2] as usize).min(sec.len() - 3);
            let end = 3 + len - 4; // before the CRC
            if pid == 0 && sec[0] == 0x00 {
                let mut i = 8;
                while i + 4 <= end {
                    let prog = u16::from_be_bytes([sec[i], sec[i + 1]]);
                    if prog != 0 {
                        self.pmt_pid = Some(u16::from_be_bytes([sec[i + 2], sec[i + 3]]) & 0x1fff);
                    }
                    i += 4;
                }
            } else if sec[0] == 0x02 {
                let pil = (usize::from(sec[10] & 0x0f) << 8) | sec[11] as usize;
                let mut i = 12 + pil;
                while i + 5 <= end {
                    let es_pid = u16::from_be_bytes([sec[i + 1], sec[i + 2]]) & 0x1fff;
                    if sec[i] == 0x1b {
                        self.video_pid = Some(es_pid);
                    }
                    i += 5 + ((usize::from(sec[i + 3] & 0x0f) << 8) | sec[i + 4] as usize);
                }
            }
            return;
        }
        if pusi && Some(pid) == self.video_pid && pl.len() >= 14 && pl[..3] == [0, 0, 1] && pl[7] & 0x80 != 0 {
            let b = &pl[9..14];
            let pts = (u64::from(b[0] >> 1 & 7) << 30)
                | (u64::from(b[1]) << 22)
                | (u64::from(b[2] >> 1) << 15)
                | (u64::from(b[3]) << 7)
                | u64::from(b[4] >> 1);
            if self.first_pts.is_none() {
                self.first_pts = Some(pts);
                self.first_video = Some(now);
            }
            self.max_pts_first_read = Some(self.max_pts_first_read.map_or(pts, |m| m.max(pts)));
        }
    }

    /// Seconds of video in the read that first showed video (the first buffer flush).
    fn media_in_first_flush(&self) -> f64 {
        match (self.first_pts, self.max_pts_first_read) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 90000.0 + 0.04,
            _ => 0.0,
        }
    }
}

fn find_output(dir: &Path) -> Option<PathBuf> {
    let files: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    let by = |suffix: &str| files.iter().find(|p| p.to_string_lossy().ends_with(suffix)).cloned();
    by(".ts.part").or_else(|| by(".ts"))
}

fn job_dir(out: &Path) -> Option<PathBuf> {
    std::fs::read_dir(out).ok()?.filter_map(|e| e.ok().map(|e| e.path())).find(|p| p.is_dir())
}

struct Timing {
    /// First progress report with frames muxed > 0 (pty runs only).
    progress_frame: Option<f64>,
    first_frame: Option<f64>,
    downloads_done: Option<f64>,
    end: f64,
    media_in_first_flush: f64,
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The first `N/M frames` with N > 0 in a progress bar's output.
fn frames_reported(text: &str) -> bool {
    text.match_indices(" frames").any(|(i, _)| {
        let before = &text[..i];
        let Some(slash) = before.rfind('/') else { return false };
        let total = &before[slash + 1..];
        let done: String = before[..slash]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        !total.is_empty()
            && total.chars().all(|c| c.is_ascii_digit())
            && !done.is_empty()
            && done.parse::<u64>().is_ok_and(|d| d > 0)
    })
}

/// Runs stitch with `args`, polling every 10 ms: `dir()` is where the output shows up,
/// `done()` whether every download completed. With `pty`, stitch runs under `script` (a
/// terminal, so it draws its progress bar, which reports frames muxed ~10 times a second)
/// and without `-q`; else with `-q`.
fn measure(args: &[String], pty: bool, dir: impl Fn() -> Option<PathBuf>, done: impl Fn() -> bool) -> Timing {
    let bin = env!("CARGO_BIN_EXE_stitch");
    let mut cmd = if pty {
        let line: Vec<String> =
            std::iter::once(bin.to_string()).chain(args.iter().cloned()).map(|a| sh_quote(&a)).collect();
        let mut c = Command::new("script");
        c.args(["-qfec", &line.join(" "), "/dev/null"]);
        c
    } else {
        let mut c = Command::new(bin);
        c.args(args).arg("-q");
        c
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = Proc(Some(cmd.spawn().expect("spawn stitch")));
    let mut stdout = child.0.as_mut().unwrap().stdout.take().unwrap();
    let mut stderr = child.0.as_mut().unwrap().stderr.take().unwrap();
    let progress = Arc::new(Mutex::new(None::<f64>));
    let progress_w = progress.clone();
    let out_reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(k) = stdout.read(&mut buf) {
            if k == 0 {
                break;
            }
            all.extend_from_slice(&buf[..k]);
            let mut p = progress_w.lock().unwrap();
            if p.is_none() && frames_reported(&String::from_utf8_lossy(&all[all.len().saturating_sub(k + 200)..])) {
                *p = Some(start.elapsed().as_secs_f64());
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut ts = TsWatch::default();
    let mut dl = None;
    let status = loop {
        let now = start.elapsed();
        if dl.is_none() && done() {
            dl = Some(now.as_secs_f64());
        }
        if let Some(d) = dir() {
            ts.poll(&d, now);
        }
        if let Some(st) = child.0.as_mut().unwrap().try_wait().expect("wait") {
            break st;
        }
        assert!(now < TIMEOUT, "stitch did not finish in {TIMEOUT:?}");
        std::thread::sleep(POLL);
    };
    let end = start.elapsed().as_secs_f64();
    child.0 = None;
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    assert!(status.success(), "stitch failed ({status}): {err}{out}");
    if dl.is_none() && done() {
        dl = Some(end);
    }
    // Output never seen while running (e.g. smaller than one buffer): read the final file.
    if let Some(d) = dir() {
        ts.poll(&d, start.elapsed());
    }
    let progress_frame = *progress.lock().unwrap();
    Timing {
        progress_frame,
        first_frame: ts.first_video.map(|d| d.as_secs_f64()),
        downloads_done: dl,
        end,
        media_in_first_flush: ts.media_in_first_flush(),
    }
}

fn main() {
    let n: usize = env_or("BENCH_CHUNKS", 48);
    let delay_ms: u64 = env_or("BENCH_DELAY_MS", 100);
    let chunk_delay_ms: u64 = env_or("BENCH_CHUNK_DELAY_MS", 80);
    let jobs: usize = env_or("BENCH_JOBS", 3);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let clips: Vec<Vec<u8>> =
        CLIPS.iter().map(|(name, _)| std::fs::read(root.join("testdata").join(name)).expect("testdata clip")).collect();
    let files: Vec<(String, Vec<u8>)> = (0..n).map(|i| (storage_path(i), clips[i % clips.len()].clone())).collect();
    let total_bytes: usize = files.iter().map(|f| f.1.len()).sum();
    let storage = rt.block_on(FakeServer::start(files));
    storage.set_faults(Faults {
        delay: Duration::from_millis(delay_ms),
        chunk_size: 4096,
        chunk_delay: Duration::from_millis(chunk_delay_ms),
        ..Faults::default()
    });
    let (record, duration) = record_json(&storage, n);
    let api = rt.block_on(start_api(record));

    let tmp = TempDir(std::env::temp_dir().join(format!("stitch-first-frame-bench-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    let out = tmp.0.join("out");
    std::fs::create_dir_all(&out).unwrap();

    println!(
        "{n} chunks ({:.0} KB, {duration:.0} s of media) from a throttled local storage \
         ({delay_ms} ms per request, 4 KiB every {chunk_delay_ms} ms), -j {jobs}, {SIZE}, TS output",
        total_bytes as f64 / 1e3
    );

    let pty = std::env::var_os("BENCH_NO_PTY").is_none()
        && Command::new("script").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    let p = |p: &Path| p.to_string_lossy().into_owned();

    // Run 1: overlapped download + compile.
    let all_done = || (0..n).all(|i| storage.counters(&storage_path(i)).completed_bodies > 0);
    let args: Vec<String> = ["webinar", LINK, "--api-host", &api, "--output-dir", &p(&out), "-j", &jobs.to_string()]
        .into_iter()
        .map(String::from)
        .chain(["--size", SIZE, "--format", "ts", "--keep-files"].map(String::from))
        .collect();
    let ov = measure(&args, pty, || job_dir(&out), all_done);
    let job = job_dir(&out).expect("job folder");
    let dl = ov.downloads_done.expect("every chunk was downloaded");

    // Run 2: compile alone, every chunk already on disk.
    let seq_dir = tmp.0.join("seq");
    std::fs::create_dir_all(&seq_dir).unwrap();
    let args: Vec<String> = [
        "compile",
        &p(&job.join("flow.json")),
        "-o",
        &p(&seq_dir.join("seq.ts")),
        "--size",
        SIZE,
        "--layout",
        "sidebar",
    ]
    .map(String::from)
    .to_vec();
    let comp = measure(&args, pty, || Some(seq_dir.clone()), || true);

    let ov_disk = ov.first_frame.expect("video in the webinar output");
    let comp_disk = comp.first_frame.expect("video in the compile output");
    let seq_total = dl + comp.end;
    let s = |v: f64| format!("{v:.2} s");
    let o = |v: Option<f64>| v.map(s).unwrap_or_else(|| "-".into());
    println!();
    println!("| | overlapped (`stitch webinar`) | download, then compile |");
    println!("|---|---|---|");
    if pty {
        println!(
            "| time to first encoded frame (progress: frames muxed > 0) | {} | {} |",
            o(ov.progress_frame),
            o(comp.progress_frame.map(|c| c + dl))
        );
    }
    println!(
        "| time to first encoded frame on disk (video PES in the .ts.part) | {} | {} |",
        s(ov_disk),
        s(dl + comp_disk)
    );
    println!("| all downloads completed | {} | {} |", s(dl), s(dl));
    println!(
        "| compile alone: first frame {}on disk / total | - | {}{} / {} |",
        if pty { "(progress) / first frame " } else { "" },
        if pty { format!("{} / ", o(comp.progress_frame)) } else { String::new() },
        s(comp_disk),
        s(comp.end)
    );
    println!("| total | {} | {} |", s(ov.end), s(seq_total));
    println!();
    println!(
        "The output's first on-disk write (1 MiB muxer buffer) held {:.1} s of video (webinar run), {:.1} s (compile run).",
        ov.media_in_first_flush, comp.media_in_first_flush
    );
    if let (Some(a), Some(b)) = (ov.progress_frame, comp.progress_frame) {
        println!(
            "RATIO first_frame / downloads_done = {:.2} (progress; < 1: first frame before the downloads end)",
            a / dl
        );
        println!("RATIO overlapped first_frame / sequential first_frame = {:.2} (progress)", a / (dl + b));
    } else if pty {
        println!("NOTE: no progress line seen; ratios below use the on-disk first frame");
    }
    println!("RATIO first_frame_on_disk / downloads_done = {:.2}", ov_disk / dl);
    println!(
        "RATIO overlapped first_frame_on_disk / sequential first_frame_on_disk = {:.2}",
        ov_disk / (dl + comp_disk)
    );
    println!("RATIO overlapped total / (download + compile sequential) = {:.2}", ov.end / seq_total);
    drop(tmp);
    drop(storage);
}
