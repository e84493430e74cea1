//! Real-world corpus, playlist half: every HLS playlist of `../shared/corpus/m3u8` (310
//! playlists from other projects' test suites, see the corpus README.md and MANIFEST.tsv)
//! recorded with `stitch record` from a local static file server.
//!
//! Nothing outside this machine may be contacted (many playlists name example.com or real
//! CDNs), so the whole run happens in a loopback-only network namespace: the
//! [`real_world_playlists_record_or_fail_cleanly`] test re-executes this test binary under
//! `unshare -n` (with `lo` up) to run the `#[ignore]`d [`real_world_playlists_in_netns`],
//! which first checks that the outside world is unreachable and aborts otherwise. Without
//! `unshare` (not root) the test is skipped with a loud note, except under `CI`.
//!
//! Inside: a std::net static file server on 127.0.0.1:0 serves the m3u8 folder, and
//! `stitch record http://127.0.0.1:PORT/<playlist> -o <scratch>/rec/out.ts --retries 1
//! --max-duration 5 --quiet` runs for every playlist (2 at a time, killed after 60 s).
//! Classes as in tests/corpus.rs:
//! - OK: exit 0; `out.ts` (and any `out_N.ts` section) exists, is non-empty, ffprobe
//!   accepts it and `ffmpeg -v error -i OUT -f null -` is silent; no other file left;
//! - CLEAN_ERROR: exit 1 with `stitch: error [<id>]: <message>` (id failure,
//!   drm_protected, timeout or forbidden; a non-empty message), and no broken file left
//!   (a left-behind file that ffprobe/ffmpeg accept is reported, not failed);
//! - PANIC, CRASH (signal or unexpected exit code), HANG (killed at 60 s), BAD_OUTPUT.
//!
//! Pass: no PANIC/CRASH/HANG/BAD_OUTPUT; rows whose manifest `expected` is OK are OK, and
//! their output lasts min(5 s, playlist total) - 1 frame .. playlist total + 1 frame
//! (`--max-duration 5` stops after >= 5 s of segments); a CLEAN_ERROR of an encrypted
//! playlist of the complete folders (AES-256, OK_OR_CLEAN_ERROR) must name the encryption.
//!
//! Run: `cargo test --test corpus_playlists -- --nocapture`. `CORPUS_ONLY=<part of a path>`
//! runs only the matching playlists; `CORPUS_WORKERS=N` changes the parallelism (2).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Env var that marks the run inside the network namespace.
const INNER_ENV: &str = "STITCH_CORPUS_NETNS_INNER";
const INNER_TEST: &str = "real_world_playlists_in_netns";
/// Hard limit per stitch run (the corpus README's "no hang").
const STITCH_LIMIT: Duration = Duration::from_secs(60);
/// Limit for each ffprobe/ffmpeg oracle run.
const ORACLE_LIMIT: Duration = Duration::from_secs(120);
const DEFAULT_WORKERS: usize = 2;
const MAX_DURATION: f64 = 5.0;
const ERROR_IDS: [&str; 4] = ["failure", "drm_protected", "timeout", "forbidden"];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Class {
    Ok,
    CleanError,
    Panic,
    Crash,
    Hang,
    BadOutput,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Ok => "OK",
            Class::CleanError => "CLEAN_ERROR",
            Class::Panic => "PANIC",
            Class::Crash => "CRASH",
            Class::Hang => "HANG",
            Class::BadOutput => "BAD_OUTPUT",
        }
    }
    fn is_failure(self) -> bool {
        !matches!(self, Class::Ok | Class::CleanError)
    }
}

struct Row {
    /// Path under the m3u8 folder, e.g. `shaka__hls-gap/playlist.m3u8`.
    rel: String,
    /// The manifest's `expected` (`UNLISTED` for a file the manifest does not name).
    expected: String,
}

impl Row {
    /// In one of the folders that hold their segments.
    fn complete_folder(&self) -> bool {
        self.rel.contains('/')
    }
}

struct Outcome {
    class: Class,
    secs: f64,
    /// What happened, in one line.
    detail: String,
    /// `[id] message` of a CLEAN_ERROR.
    error: Option<String>,
    /// Duration check of an OK recording: Ok(text) or Err(text); None when not checked.
    duration: Option<Result<String, String>>,
    /// Files the recorder left behind after an error (each accepted by ffprobe/ffmpeg).
    leftovers: Vec<String>,
    /// Excerpt of stitch's stderr (for failures).
    stderr: String,
}

fn first_line(s: &str) -> String {
    s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string()
}

fn excerpt(s: &str) -> String {
    let s = s.trim();
    if s.len() <= 1500 {
        return s.to_string();
    }
    let mut cut = 1500;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{} [...]", &s[..cut])
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn ratio(v: &Value) -> Option<f64> {
    let s = v.as_str()?;
    let (a, b) = s.split_once('/')?;
    let (a, b): (f64, f64) = (a.parse().ok()?, b.parse().ok()?);
    (a > 0.0 && b > 0.0).then(|| a / b)
}

// ---------------------------------------------------------------------------------------
// Corpus

/// `expected` per playlist (path under `m3u8/`), from the manifest's m3u8 rows.
fn read_manifest(dir: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("manifest header").split('\t').collect();
    let col =
        |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("manifest has no column {name}"));
    let (c_name, c_kind, c_exp) = (col("local_name"), col("kind"), col("expected"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f[c_kind] == "m3u8")
        .map(|f| (f[c_name].strip_prefix("m3u8/").unwrap_or(f[c_name]).to_string(), f[c_exp].to_string()))
        .collect()
}

/// Every `*.m3u8` under `dir`, recursively, as paths relative to `dir` ('/'-separated).
fn playlists(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).expect("read m3u8 folder") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if p.extension().is_some_and(|x| x == "m3u8") {
                let rel = p.strip_prefix(base).unwrap();
                out.push(
                    rel.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// Sum of the `#EXTINF` durations of the media playlist `rel` (of its first variant when it
/// is a master playlist whose variant is a local file). None when there is nothing to sum.
fn playlist_total(m3u8: &Path, rel: &str) -> Option<f64> {
    let path = m3u8.join(rel);
    let text = std::fs::read_to_string(&path).ok()?;
    if text.contains("#EXT-X-STREAM-INF") {
        let mut lines = text.lines().map(str::trim);
        while let Some(l) = lines.next() {
            if l.starts_with("#EXT-X-STREAM-INF") {
                let uri = lines.by_ref().find(|l| !l.is_empty() && !l.starts_with('#'))?;
                if uri.contains("://") {
                    return None;
                }
                let parent = Path::new(rel).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
                let sub = if parent.is_empty() { uri.to_string() } else { format!("{parent}/{uri}") };
                return playlist_total(m3u8, &sub);
            }
        }
        return None;
    }
    let mut total = 0.0;
    let mut any = false;
    for l in text.lines().map(str::trim) {
        if let Some(v) = l.strip_prefix("#EXTINF:") {
            total += v.split(',').next()?.trim().parse::<f64>().ok()?;
            any = true;
        }
    }
    any.then_some(total)
}

/// The key methods a playlist names (`#EXT-X-KEY:METHOD=...`), NONE excluded.
fn key_methods(m3u8: &Path, rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(m3u8.join(rel)).unwrap_or_default();
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-KEY:") || l.starts_with("#EXT-X-SESSION-KEY:"))
        .filter_map(|l| l.split("METHOD=").nth(1))
        .map(|m| m.split(',').next().unwrap_or("").trim().to_string())
        .filter(|m| !m.is_empty() && m != "NONE")
        .collect();
    v.sort();
    v.dedup();
    v
}

// ---------------------------------------------------------------------------------------
// Static file server (127.0.0.1 only)

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("m3u8") | Some("m3u") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/mp2t",
        Some("mp4") | Some("m4s") | Some("m4v") => "video/mp4",
        Some("m4a") => "audio/mp4",
        Some("aac") => "audio/aac",
        Some("vtt") => "text/vtt",
        _ => "application/octet-stream", // .key and anything else
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && s.is_char_boundary(i + 3) {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serve one connection: GET/HEAD of files under `root`, `Connection: close`.
fn serve_conn(stream: TcpStream, root: &Path, served: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => break,
            Ok(_) if h.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let mut out = stream;
    let mut respond = |status: &str, ctype: &str, body: &[u8], head: bool| {
        let hdr = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = out.write_all(hdr.as_bytes());
        if !head {
            let _ = out.write_all(body);
        }
        let _ = out.flush();
    };
    if method != "GET" && method != "HEAD" {
        respond("405 Method Not Allowed", "text/plain", b"method not allowed\n", false);
        return;
    }
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let path = percent_decode(path);
    let rel = path.trim_start_matches('/');
    let safe = !rel.split('/').any(|c| c == ".." || c.contains('\\'));
    let file = root.join(rel);
    let body = if safe && file.is_file() { std::fs::read(&file).ok() } else { None };
    served.fetch_add(1, Ordering::Relaxed);
    match body {
        Some(b) => respond("200 OK", content_type(&file), &b, method == "HEAD"),
        None => respond("404 Not Found", "text/plain", b"not found\n", method == "HEAD"),
    }
}

/// Start the server; returns its address. It runs (detached) until the process exits.
fn start_server(root: PathBuf) -> (SocketAddr, &'static AtomicUsize) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let served: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let root = root.clone();
            std::thread::spawn(move || serve_conn(conn, &root, served));
        }
    });
    (addr, served)
}

// ---------------------------------------------------------------------------------------
// Network isolation

/// Inside the namespace: the outside must be unreachable at once, loopback must work.
fn assert_isolated() {
    for target in ["1.1.1.1:80", "8.8.8.8:53", "[2606:4700:4700::1111]:80"] {
        let addr: SocketAddr = target.parse().unwrap();
        let t = Instant::now();
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(_) => {
                panic!("NOT ISOLATED: connected to {target} inside the network namespace; aborting")
            }
            Err(e) => {
                let unreachable = e.raw_os_error() == Some(101) // ENETUNREACH
                    || e.kind() == std::io::ErrorKind::NetworkUnreachable;
                assert!(
                    unreachable && t.elapsed() < Duration::from_secs(1),
                    "NOT ISOLATED? connecting to {target} failed with {e:?} after {:?}, expected an immediate \
                     'network unreachable'; aborting",
                    t.elapsed()
                );
            }
        }
    }
    // Only the loopback interface may exist.
    let ip = Command::new("ip").args(["-o", "link", "show"]).output();
    if let Ok(o) = ip {
        let text = String::from_utf8_lossy(&o.stdout);
        let ifaces: Vec<&str> = text.lines().filter_map(|l| l.split(':').nth(1)).map(str::trim).collect();
        assert!(ifaces.iter().all(|i| *i == "lo"), "NOT ISOLATED: interfaces other than lo: {ifaces:?}; aborting");
        eprintln!("netns: isolated (interfaces {ifaces:?}; 1.1.1.1, 8.8.8.8 and 2606:4700:4700::1111 unreachable)");
    }
}

// ---------------------------------------------------------------------------------------
// One playlist

/// ffprobe + silent ffmpeg decode of a recorder output. Ok((duration, one frame)) or Err.
fn check_media(path: &Path, dir: &Path) -> Result<(f64, f64), String> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return Err(format!("{} is empty", path.file_name().unwrap().to_string_lossy()));
    }
    let mut probe = Command::new("ffprobe");
    probe.args(["-v", "error", "-show_streams", "-show_format", "-of", "json"]).arg(path);
    let p = run_limited(probe, ORACLE_LIMIT, dir, "probe-out");
    if p.timed_out || !p.status.is_some_and(|s| s.success()) {
        return Err(format!("ffprobe rejects {}: {}", path.display(), first_line(&p.stderr)));
    }
    let pj: Value = serde_json::from_slice(&p.stdout).map_err(|e| format!("ffprobe output unreadable: {e}"))?;
    let streams = pj["streams"].as_array().cloned().unwrap_or_default();
    if streams.is_empty() {
        return Err(format!("ffprobe finds no stream in {}", path.display()));
    }
    let dur =
        num(&pj["format"]["duration"]).ok_or_else(|| format!("ffprobe reports no duration for {}", path.display()))?;
    let mut dec = Command::new("ffmpeg");
    dec.args(["-nostdin", "-v", "error", "-i"]).arg(path).args(["-f", "null", "-"]);
    let d = run_limited(dec, ORACLE_LIMIT, dir, "decode-out");
    if d.timed_out {
        return Err("ffmpeg decode of the output timed out".into());
    }
    if !d.stderr.trim().is_empty() || !d.status.is_some_and(|s| s.success()) {
        return Err(format!(
            "ffmpeg decode errors: {} (exit {:?})",
            first_line(&d.stderr),
            d.status.and_then(|s| s.code())
        ));
    }
    // One frame: the longest of the video frame interval and the AAC frame.
    let mut frame: f64 = 0.0;
    for s in &streams {
        if s["codec_type"] == "video" {
            if let Some(r) = ratio(&s["avg_frame_rate"]).or_else(|| ratio(&s["r_frame_rate"])) {
                frame = frame.max(1.0 / r);
            }
        } else if s["codec_type"] == "audio" {
            if let Some(r) = num(&s["sample_rate"]).filter(|r| *r > 0.0) {
                frame = frame.max(1024.0 / r);
            }
        }
    }
    if frame == 0.0 {
        frame = 0.040;
    }
    Ok((dur, frame))
}

fn list_files(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(d).map(|it| it.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    v.sort();
    v
}

/// `out.ts`, `out_1.ts`, `out_2.ts`...: the names the recorder gives sections.
fn is_section_name(name: &str) -> bool {
    name == "out.ts"
        || name
            .strip_prefix("out_")
            .and_then(|s| s.strip_suffix(".ts"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn check_playlist(row: &Row, m3u8: &Path, base_url: &str, work: &Path) -> Outcome {
    let dir = work.join(row.rel.replace('/', "__"));
    let rec = dir.join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    let out = rec.join("out.ts");
    let url = format!("{base_url}/{}", row.rel);

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stitch"));
    cmd.arg("record").arg(&url).arg("-o").arg(&out).args(["--retries", "1", "--max-duration", "5", "--quiet"]);
    cmd.current_dir(&dir);
    let r = run_limited(cmd, STITCH_LIMIT, &dir, "stitch");
    let err = r.stderr.clone();
    let mk = |class: Class, detail: String| Outcome {
        class,
        secs: r.secs,
        detail,
        error: None,
        duration: None,
        leftovers: Vec::new(),
        stderr: excerpt(&err),
    };

    if r.timed_out {
        let left =
            list_files(&rec).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect::<Vec<_>>();
        return mk(Class::Hang, format!("killed after {} s (files in rec/: {left:?})", STITCH_LIMIT.as_secs()));
    }
    let st = r.status.unwrap();
    if err.contains("panicked") || st.code() == Some(101) {
        let line = err.lines().find(|l| l.contains("panicked")).map(str::to_string).unwrap_or_else(|| first_line(&err));
        return mk(Class::Panic, format!("exit {:?}: {line}", st.code()));
    }
    if let Some(sig) = signal_of(&st) {
        return mk(Class::Crash, format!("killed by signal {sig}: {}", first_line(&err)));
    }
    let code = st.code().unwrap_or(-1);
    let files = list_files(&rec);
    if code == 1 {
        // "stitch: error [<id>]: <message>"
        let line = err.lines().map(str::trim).find(|l| l.starts_with("stitch: error"));
        let Some(line) = line else {
            return mk(
                Class::BadOutput,
                if err.trim().is_empty() {
                    "exit 1 with an empty stderr".into()
                } else {
                    format!("exit 1 without \"stitch: error\": {}", first_line(&err))
                },
            );
        };
        let parsed = line
            .strip_prefix("stitch: error [")
            .and_then(|s| s.split_once("]: "))
            .map(|(id, msg)| (id.to_string(), msg.trim().to_string()));
        let Some((id, msg)) = parsed else {
            return mk(Class::BadOutput, format!("error line without an error id: {line}"));
        };
        if !ERROR_IDS.contains(&id.as_str()) {
            return mk(Class::BadOutput, format!("unknown error id [{id}]: {line}"));
        }
        if msg.is_empty() {
            return mk(Class::BadOutput, format!("error without a message: {line}"));
        }
        // Anything left behind must at least be a playable file.
        let mut leftovers = Vec::new();
        for f in &files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            match check_media(f, &dir) {
                Ok((d, _)) => leftovers.push(format!(
                    "{name} ({} bytes, {d:.3} s, playable)",
                    std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)
                )),
                Err(e) => return mk(Class::BadOutput, format!("error exit ([{id}] {msg}) left a broken {name}: {e}")),
            }
        }
        let mut o = mk(Class::CleanError, line.to_string());
        o.error = Some(format!("[{id}] {msg}"));
        o.leftovers = leftovers;
        return o;
    }
    if code != 0 {
        return mk(Class::Crash, format!("abnormal exit code {code}: {}", first_line(&err)));
    }

    // Exit 0: out.ts must exist; every file left must be a section and play cleanly.
    if !out.exists() {
        let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        return mk(Class::BadOutput, format!("exit 0 but out.ts is missing (rec/ holds {names:?})"));
    }
    let mut main: Option<(f64, f64)> = None;
    let mut sections = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if !is_section_name(&name) {
            return mk(Class::BadOutput, format!("exit 0 but a temporary was left behind: {name}"));
        }
        match check_media(f, &dir) {
            Ok(v) => {
                sections += 1;
                if name == "out.ts" {
                    main = Some(v);
                }
            }
            Err(e) => return mk(Class::BadOutput, format!("exit 0 but {name}: {e}")),
        }
    }
    let (ours, frame) = main.expect("out.ts checked");
    let mut o = mk(
        Class::Ok,
        format!(
            "out.ts {ours:.3} s{}",
            if sections > 1 { format!(" (+{} sections)", sections - 1) } else { String::new() }
        ),
    );
    if let Some(total) = playlist_total(m3u8, &row.rel) {
        let tol = frame + 0.001;
        let lo = MAX_DURATION.min(total) - tol;
        let hi = total + tol;
        let text = format!("ours {ours:.3} s, playlist {total:.3} s, want {lo:.3}..{hi:.3} (one frame {frame:.4})");
        o.duration = Some(if ours >= lo && ours <= hi { Ok(text) } else { Err(text) });
    }
    if o.duration.as_ref().is_none_or(|d| d.is_ok()) {
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
    }
    o
}

// ---------------------------------------------------------------------------------------
// Error categories

/// The message with URLs, paths and numbers replaced (digits inside words are kept).
fn category(msg: &str) -> String {
    // URLs first.
    let mut s = String::new();
    let mut rest = msg;
    while let Some(i) = ["http://", "https://"].iter().filter_map(|p| rest.find(p)).min() {
        s.push_str(&rest[..i]);
        s.push_str("<url>");
        let tail = &rest[i..];
        let end =
            tail.find(|c: char| c.is_whitespace() || matches!(c, ')' | ',' | '"' | '\'' | ';')).unwrap_or(tail.len());
        let url = &tail[..end];
        // A trailing ':' ("URL: message") stays.
        let url_len = if url.ends_with(':') { end - 1 } else { end };
        rest = &tail[url_len..];
    }
    s.push_str(rest);
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let in_word = |i: usize| {
        i > 0
            && (chars[i - 1].is_alphanumeric()
                || chars[i - 1] == '_'
                || chars[i - 1] == '-'
                || (chars[i - 1] == '.' && i > 1 && chars[i - 2].is_alphabetic()))
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied().unwrap_or(' ');
        if c == '/' && !in_word(i) && !next.is_whitespace() {
            out.push_str("<path>");
            while i < chars.len()
                && !(chars[i].is_whitespace() || matches!(chars[i], ')' | ',' | ';' | '"' | '\'' | ':'))
            {
                i += 1;
            }
        } else if c.is_ascii_digit() && !in_word(i) {
            out.push('N');
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == '.' && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit())))
            {
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Tests

/// Outer test: re-execute this test binary in a loopback-only network namespace.
#[test]
#[cfg_attr(corpus_missing, ignore = "needs ../shared/corpus (see tests/common::corpus_dir)")]
fn real_world_playlists_record_or_fail_cleanly() {
    let corpus = corpus_dir();
    if !corpus.join("MANIFEST.tsv").is_file() {
        let msg = format!("corpus not found at {} (see ../shared/corpus/README.md)", corpus.display());
        if std::env::var_os("CI").is_some() {
            panic!("{msg}: required in CI");
        }
        eprintln!("NOTE: {msg}: playlist corpus test skipped");
        return;
    }
    // Can we make a network namespace at all?
    let probe =
        Command::new("unshare").args(["-n", "--", "sh", "-c", "ip link set lo up"]).stdin(Stdio::null()).output();
    let why = match &probe {
        Err(e) => Some(format!("cannot run unshare: {e}")),
        Ok(o) if !o.status.success() => {
            Some(format!("`unshare -n` failed ({}): {}", o.status, first_line(&String::from_utf8_lossy(&o.stderr))))
        }
        Ok(_) => None,
    };
    if let Some(why) = why {
        let msg = format!(
            "{why}: the playlist corpus must run in a loopback-only network namespace (root and util-linux \
             unshare, iproute2 ip), so it is NOT RUN"
        );
        if std::env::var_os("CI").is_some() {
            panic!("{msg}: required in CI");
        }
        eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\nNOTE: {msg}\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let started = Instant::now();
    let status = Command::new("unshare")
        .args(["-n", "--", "sh", "-c", r#"ip link set lo up && exec "$0" "$@""#])
        .arg(&exe)
        .args([INNER_TEST, "--exact", "--nocapture", "--ignored"])
        .env(INNER_ENV, "1")
        .stdin(Stdio::null())
        .status()
        .expect("run the test binary under unshare -n");
    eprintln!("playlist corpus: inner run finished in {:.1} s ({status})", started.elapsed().as_secs_f64());
    assert!(
        status.success(),
        "the playlist corpus run in the network namespace failed ({status}); see its output above"
    );
}

/// Inner test: only inside the namespace made by the outer test.
#[test]
#[ignore = "run by real_world_playlists_record_or_fail_cleanly inside `unshare -n`"]
fn real_world_playlists_in_netns() {
    assert!(
        std::env::var_os(INNER_ENV).is_some(),
        "{INNER_TEST} runs only inside the network namespace made by real_world_playlists_record_or_fail_cleanly \
         (it would contact outside hosts otherwise)"
    );
    assert_isolated();

    let corpus = corpus_dir().canonicalize().expect("corpus folder");
    let m3u8 = corpus.join("m3u8");
    let manifest = read_manifest(&corpus);
    let files = playlists(&m3u8);
    let mut problems: Vec<String> = Vec::new();
    for name in manifest.keys() {
        if !files.contains(name) {
            problems.push(format!("manifest names m3u8/{name}, which is not in the corpus"));
        }
    }
    let mut rows: Vec<Row> = files
        .iter()
        .map(|f| Row { rel: f.clone(), expected: manifest.get(f).cloned().unwrap_or_else(|| "UNLISTED".into()) })
        .collect();
    for r in rows.iter().filter(|r| r.expected == "UNLISTED") {
        eprintln!("note: m3u8/{} is not in the manifest (treated as OK_OR_CLEAN_ERROR)", r.rel);
    }
    if let Some(only) = std::env::var_os("CORPUS_ONLY") {
        let only = only.to_string_lossy().into_owned();
        rows.retain(|r| r.rel.contains(&only));
        eprintln!("CORPUS_ONLY={only}: {} playlist(s)", rows.len());
    }
    let workers =
        std::env::var("CORPUS_WORKERS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(DEFAULT_WORKERS);
    let oracle = have_ffmpeg();
    assert!(oracle || std::env::var_os("CI").is_none(), "ffmpeg required");

    let (addr, served) = start_server(m3u8.clone());
    let base_url = format!("http://{addr}");
    // The server answers (and loopback is up).
    {
        let first = &files[0];
        let mut s = TcpStream::connect(addr).expect("connect to the local server");
        write!(s, "GET /{first} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        assert!(
            resp.starts_with("HTTP/1.1 200") && resp.contains("application/vnd.apple.mpegurl"),
            "local server: {}",
            first_line(&resp)
        );
    }
    let work = scratch("corpus-playlists");
    eprintln!("scratch <scratch> = {}, server <server> = {base_url} (serving {})", work.display(), m3u8.display());
    eprintln!(
        "corpus: {} playlists, {workers} workers, --retries 1 --max-duration 5, {} s limit",
        rows.len(),
        STITCH_LIMIT.as_secs()
    );

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..rows.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= rows.len() {
                    break;
                }
                let o = check_playlist(&rows[i], &m3u8, &base_url, &work);
                eprintln!("  [{:3}/{}] {:11} {:5.1}s {}", i + 1, rows.len(), o.class.name(), o.secs, rows[i].rel);
                results.lock().unwrap()[i] = Some(o);
            });
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let results: Vec<Outcome> =
        results.into_inner().unwrap().into_iter().map(|o| o.expect("every playlist checked")).collect();

    let short = |s: &str| {
        s.replace(work.to_str().unwrap(), "<scratch>")
            .replace(m3u8.to_str().unwrap(), "<m3u8>")
            .replace(&base_url, "<server>")
    };
    let mut counts: BTreeMap<Class, usize> = BTreeMap::new();
    for o in &results {
        *counts.entry(o.class).or_default() += 1;
    }
    let mut report = String::new();
    report.push_str(&format!(
        "\n=== corpus: {} playlists in {wall:.1} s ({} requests served) ===\n",
        rows.len(),
        served.load(Ordering::Relaxed)
    ));
    for c in [Class::Ok, Class::CleanError, Class::Panic, Class::Crash, Class::Hang, Class::BadOutput] {
        report.push_str(&format!("  {:11} {}\n", c.name(), counts.get(&c).copied().unwrap_or(0)));
    }
    report.push_str("\nclass       expected           secs  playlist  detail\n");
    for (row, o) in rows.iter().zip(&results) {
        let mut detail = match &o.duration {
            Some(Ok(d)) => format!("duration ok: {d}"),
            Some(Err(d)) => format!("DURATION MISMATCH: {d}"),
            None => short(&o.detail),
        };
        if !o.leftovers.is_empty() {
            detail.push_str(&format!(" [LEFT BEHIND: {}]", o.leftovers.join(", ")));
        }
        report.push_str(&format!(
            "{:11} {:17} {:6.1}  {}  {}\n",
            o.class.name(),
            row.expected,
            o.secs,
            row.rel,
            detail
        ));
    }

    let mut cats: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (row, o) in rows.iter().zip(&results) {
        if let Some(e) = &o.error {
            let entry = cats.entry(category(e)).or_insert((0, format!("{}: {}", row.rel, short(e))));
            entry.0 += 1;
        }
    }
    report.push_str(&format!("\nCLEAN_ERROR categories ({}):\n", cats.len()));
    for (c, (n, example)) in &cats {
        report.push_str(&format!("  {n:3} x {c}\n        e.g. {example}\n"));
    }
    let left: Vec<_> = rows.iter().zip(&results).filter(|(_, o)| !o.leftovers.is_empty()).collect();
    report.push_str(&format!("\nerror exits that left (playable) files behind: {}\n", left.len()));
    for (row, o) in &left {
        report.push_str(&format!("  {}: {}\n", row.rel, o.leftovers.join(", ")));
    }
    eprintln!("{report}");

    let repro = |row: &Row| {
        format!(
            "repro: CORPUS_ONLY='{}' cargo test --test corpus_playlists -- --nocapture   (or, in `unshare -n` with lo up and \
             the m3u8 folder served: stitch record <server>/{} -o out.ts --retries 1 --max-duration 5)",
            row.rel, row.rel
        )
    };
    for (row, o) in rows.iter().zip(&results) {
        if o.class.is_failure() {
            problems.push(format!(
                "{} [{}] {}: {}\n      {}\n      stderr: {}",
                row.rel,
                row.expected,
                o.class.name(),
                short(&o.detail),
                repro(row),
                short(&o.stderr).replace('\n', "\n              ")
            ));
        } else if row.expected == "OK" && o.class != Class::Ok {
            problems.push(format!(
                "{} [OK] expected OK, got {}: {}\n      {}",
                row.rel,
                o.class.name(),
                short(&o.detail),
                repro(row)
            ));
        } else if let Some(Err(d)) = &o.duration {
            problems.push(format!("{} [{}] duration mismatch: {d}\n      {}", row.rel, row.expected, repro(row)));
        } else if row.complete_folder() && o.class == Class::CleanError {
            // A complete folder may only fail for its encryption, and must say so.
            let methods = key_methods(&m3u8, &row.rel);
            let msg = o.error.clone().unwrap_or_default().to_ascii_lowercase();
            let named = methods.iter().any(|m| msg.contains(&m.to_ascii_lowercase())) || msg.contains("encrypt");
            if methods.is_empty() || !named {
                problems.push(format!(
                    "{} [{}] complete folder failed without naming its encryption (methods {methods:?}): {}\n      {}",
                    row.rel,
                    row.expected,
                    short(&o.detail),
                    repro(row)
                ));
            }
        }
    }
    if problems.is_empty() {
        let _ = std::fs::remove_dir_all(&work);
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) in {} playlists:\n  {}",
        problems.len(),
        rows.len(),
        problems.join("\n  ")
    );
}
