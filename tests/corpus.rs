//! Real-world corpus: every media file of `../shared/corpus` (files from other projects'
//! test suites, see its README.md and MANIFEST.tsv) compiled as a one-clip flow.
//!
//! For every media row (`kind == media`):
//! - no panic, no crash, no hang (60 s per file), no exit 0 with a missing or broken output;
//! - a failure is clean: exit 1, "stitch: error: ..." naming the file, no output left;
//! - rows whose `expected` is OK must compile, and the output must last as long as the
//!   content that ffmpeg decodes from the source (see [`reference_end`]).
//!
//! Playlists (`kind == m3u8`) are covered by the recorder's tests.
//!
//! Run: `cargo test --test corpus -- --nocapture` prints one line per file and a summary;
//! `CORPUS_ONLY=<part of a file name>` runs only the matching files.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Hard limit per stitch run (the corpus README's "no hang").
const STITCH_LIMIT: Duration = Duration::from_secs(60);
/// Limit for each ffprobe/ffmpeg oracle run (they take well under a second on these files).
const ORACLE_LIMIT: Duration = Duration::from_secs(120);
const WORKERS: usize = 2;
const SIZE: &str = "640x360";
/// Output frame duration at stitch's default 25 fps.
const OUT_FRAME: f64 = 0.040;
/// One AAC frame of the output (1024 samples at stitch's 48 kHz output rate); used only when
/// ffprobe does not report the output's audio sample rate.
const AAC_FRAME_48K: f64 = 1024.0 / 48000.0;

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
    /// `media/<source>__<name>` as in the manifest.
    local: String,
    expected: String,
    /// The manifest's ffprobe summary (`container; v:codec,a:codec; secs`).
    ffprobe: String,
    /// The manifest's `ffmpeg -v error -f null` verdict (`clean`, `errors`, `rc=N`, `-`).
    ffmpeg_decode: String,
}

/// Codecs the default build leaves to the `ffmpeg` feature.
const FEATURE_CODECS: [&str; 6] = ["hevc", "vp9", "av1", "opus", "ac3", "eac3"];

impl Row {
    fn file_name(&self) -> &str {
        self.local.rsplit('/').next().unwrap()
    }

    /// With `--features ffmpeg`, this file must compile (OK): FFmpeg decodes it cleanly, it
    /// is in a container stitch demuxes (MP4/MOV family or MPEG-TS; Matroska/WebM is not
    /// one), it has a stream in one of [`FEATURE_CODECS`], and it lasts (ffprobe knows a
    /// duration: a still AVIF image or a sample-less init segment has no timeline).
    fn ok_with_ffmpeg_feature(&self) -> bool {
        let mut parts = self.ffprobe.split(';').map(str::trim);
        let container = parts.next().unwrap_or("");
        let streams = parts.next().unwrap_or("");
        let secs = parts.next().and_then(|d| d.trim_end_matches('s').parse::<f64>().ok()).unwrap_or(0.0);
        self.ffmpeg_decode == "clean"
            && secs > 0.0
            && (container.starts_with("mov,mp4") || container == "mpegts")
            && streams.split(',').any(|s| FEATURE_CODECS.iter().any(|c| s.split(':').nth(1) == Some(*c)))
    }
}

struct Outcome {
    class: Class,
    secs: f64,
    /// First line of the error, or what went wrong, or the output duration.
    detail: String,
    /// The error line after "stitch: error: " (CLEAN_ERROR only).
    error: Option<String>,
    /// Duration check for expected-OK files that compiled: Ok(text) or Err(text).
    duration: Option<Result<String, String>>,
    /// Excerpt of stitch's stderr (for failures).
    stderr: String,
}

fn read_manifest(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("manifest header").split('\t').collect();
    let col =
        |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("manifest has no column {name}"));
    let (c_name, c_kind, c_exp) = (col("local_name"), col("kind"), col("expected"));
    let (c_probe, c_dec) = (col("ffprobe"), col("ffmpeg_decode"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f[c_kind] == "media")
        .map(|f| Row {
            local: f[c_name].to_string(),
            expected: f[c_exp].to_string(),
            ffprobe: f[c_probe].to_string(),
            ffmpeg_decode: f[c_dec].to_string(),
        })
        .collect()
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

/// The content end of `src` in seconds from its time zero, as ffmpeg decodes it: the
/// reference for the output's duration.
///
/// Method: `ffprobe -show_packets -show_frames -select_streams <index>` for each stream
/// stitch uses (the first video stream that is not cover art, and the first audio stream).
/// ffprobe decodes with libavcodec through the same demuxers as `ffmpeg`, so MP4 edit lists
/// are applied (frames outside them discarded), AAC priming is dropped and TS timestamps are
/// unwrapped across 2^33. (One stream per run: decoding every stream also "decodes"
/// subtitle tracks such as EIA-608, which floods ffprobe's output.)
/// The end of a stream's content is max(frame pts + frame duration) over the decoded
/// frames. Frame duration: the duration of the packet with the same pts (the sample's
/// duration in the container), else the frame's packet duration; for audio at most
/// nb_samples/sample_rate (an edit list may cut the last AAC frame), nb_samples/sample_rate
/// when no packet duration is known. Video frames without a known duration (ffmpeg leaves
/// some MP4 sample durations unset) get the typical (median) frame interval, or for the
/// last frame the gap to the stream's declared end when that is plausible (between 0 and
/// 4 frame intervals): a declared duration never extends the content by more than that
/// (`androidx__sample_fragmented.mp4` declares 143,165 s and holds ~1 s).
/// MP4 only: when the track's declared end (ffmpeg's stream start_time + duration, which
/// follows the edit list) falls inside the last decoded frame, the stream ends there (an
/// edit list that cuts the last AAC frame; ffmpeg drops frames outside an edit but does
/// not shorten the last one). A declared duration never lengthens the content.
/// Time zero: 0 for MP4/MOV and ADTS (stitch shows MP4 content at its edit-list-adjusted
/// pts, so a track starting at 1 s gives 1 s of black first); for MPEG-TS the earliest
/// packet pts of the used streams (stitch's clip zero for TS).
/// Returns (end, has_video, has_audio).
fn reference_end(src: &Path, dir: &Path) -> Result<(f64, bool, bool), String> {
    let probe = |args: &[&str], tag: &str| -> Result<Value, String> {
        let mut cmd = Command::new("ffprobe");
        cmd.args(["-v", "error"]).args(args).args(["-of", "json"]).arg(src);
        let r = run_limited(cmd, ORACLE_LIMIT, dir, tag);
        if r.timed_out {
            return Err(format!("ffprobe {args:?} of the source timed out"));
        }
        serde_json::from_slice(&r.stdout).map_err(|e| format!("ffprobe of the source: {e}: {}", first_line(&r.stderr)))
    };
    let j = probe(
        &[
            "-show_entries",
            "format=format_name:stream=index,codec_type,codec_name,sample_rate,avg_frame_rate,start_time,duration:stream_disposition=attached_pic",
        ],
        "ref-streams",
    )?;
    let streams = j["streams"].as_array().cloned().unwrap_or_default();
    let vs = streams
        .iter()
        .find(|s| s["codec_type"] == "video" && s["disposition"]["attached_pic"].as_i64().unwrap_or(0) == 0);
    let aus = streams.iter().find(|s| s["codec_type"] == "audio");
    let is_ts = j["format"]["format_name"].as_str().unwrap_or("").split(',').any(|f| f == "mpegts");
    let is_mov = j["format"]["format_name"].as_str().unwrap_or("").split(',').any(|f| f == "mov");

    let mut zero: Option<f64> = None;
    let mut end: Option<f64> = None;
    let mut used = (false, false);
    for (stream, is_video) in [(vs, true), (aus, false)] {
        let Some(stream) = stream else { continue };
        let idx = stream["index"].as_i64().unwrap().to_string();
        let pf = probe(
            &[
                "-select_streams",
                &idx,
                "-show_entries",
                "packet=pts_time,duration_time:frame=pts_time,best_effort_timestamp_time,pkt_duration_time,nb_samples",
            ],
            "ref-frames",
        )?;
        let items = pf["packets_and_frames"].as_array().cloned().unwrap_or_default();
        let mut pkt_dur: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
        for p in items.iter().filter(|it| it["type"] == "packet") {
            if let Some(t) = num(&p["pts_time"]) {
                zero = Some(zero.map_or(t, |z: f64| z.min(t)));
                if let Some(d) = num(&p["duration_time"]).filter(|d| *d > 0.0) {
                    pkt_dur.insert(p["pts_time"].as_str().unwrap_or_default().to_string(), d);
                }
            }
        }
        // (pts, duration if known, nb_samples)
        let frames: Vec<(f64, Option<f64>, Option<f64>)> = items
            .iter()
            .filter(|it| it["type"] == "frame")
            .filter_map(|f| {
                let t = num(&f["pts_time"]).or_else(|| num(&f["best_effort_timestamp_time"]))?;
                let d = f["pts_time"]
                    .as_str()
                    .and_then(|k| pkt_dur.get(k).copied())
                    .or_else(|| num(&f["pkt_duration_time"]).filter(|d| *d > 0.0));
                Some((t, d, num(&f["nb_samples"])))
            })
            .collect();
        if frames.is_empty() {
            continue;
        }
        let rate = num(&stream["sample_rate"]).unwrap_or(0.0);
        let last_pts = frames.iter().map(|f| f.0).fold(f64::MIN, f64::max);
        let (gap, last_gap) = if is_video {
            let mut ts: Vec<f64> = frames.iter().map(|f| f.0).collect();
            ts.sort_by(f64::total_cmp);
            let mut gaps: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > 0.0).collect();
            gaps.sort_by(f64::total_cmp);
            let gap = gaps
                .get(gaps.len() / 2)
                .copied()
                .or_else(|| ratio(&stream["avg_frame_rate"]).map(|r| 1.0 / r))
                .unwrap_or(0.0);
            let declared = match (num(&stream["start_time"]), num(&stream["duration"])) {
                (Some(s), Some(d)) => Some(s + d - last_pts),
                _ => None,
            };
            let limit = if gap > 0.0 { 4.0 * gap } else { 1.0 };
            (gap, declared.filter(|d| *d > 0.0 && *d <= limit).unwrap_or(gap))
        } else {
            (0.0, 0.0)
        };
        let mut stream_end: Option<(f64, f64)> = None; // (end, duration of the frame ending there)
        for (t, d, n) in frames {
            let dur = if is_video {
                d.unwrap_or(if t == last_pts { last_gap } else { gap })
            } else {
                let by_samples = n.filter(|_| rate > 0.0).map(|n| n / rate);
                match (d, by_samples) {
                    (Some(d), Some(s)) => d.min(s),
                    (Some(d), None) => d,
                    (None, Some(s)) => s,
                    (None, None) => 0.0,
                }
            };
            if stream_end.is_none_or(|(e, _)| t + dur > e) {
                stream_end = Some((t + dur, dur));
            }
        }
        let (mut stream_end, last_dur) = stream_end.unwrap();
        // MP4 edit lists may end inside the last frame (see above).
        if is_mov {
            if let (Some(s0), Some(d)) = (num(&stream["start_time"]), num(&stream["duration"])) {
                if s0 + d < stream_end && s0 + d > stream_end - last_dur {
                    stream_end = s0 + d;
                }
            }
        }
        end = Some(end.map_or(stream_end, |e: f64| e.max(stream_end)));
        if is_video {
            used.0 = true;
        } else {
            used.1 = true;
        }
    }
    let end = end.ok_or("ffmpeg decodes no frame of the source")?;
    let zero = if is_ts { zero.unwrap_or(0.0) } else { 0.0 };
    Ok((end - zero, used.0, used.1))
}

fn one_clip_flow(dir: &Path, clip: &Path) -> PathBuf {
    let flow =
        serde_json::json!({"name": "x", "eventLogs": [{"relativeTime": 0, "data": {"url": clip.to_str().unwrap()}}]});
    let p = dir.join("flow.json");
    std::fs::write(&p, serde_json::to_vec(&flow).unwrap()).unwrap();
    p
}

fn check_file(row: &Row, corpus: &Path, work: &Path, oracle: bool) -> Outcome {
    let src = corpus.join(&row.local);
    let name = row.file_name().to_string();
    let dir = work.join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let flow = one_clip_flow(&dir, &src);
    let out = dir.join("out.mp4");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stitch"));
    cmd.arg("compile").arg(&flow).arg("-o").arg(&out).args(["--size", SIZE, "--quiet"]);
    let r = run_limited(cmd, STITCH_LIMIT, &dir, "stitch");
    let err = r.stderr.clone();
    let mk = |class: Class, detail: String| Outcome {
        class,
        secs: r.secs,
        detail,
        error: None,
        duration: None,
        stderr: excerpt(&err),
    };

    if r.timed_out {
        return mk(Class::Hang, format!("killed after {} s", STITCH_LIMIT.as_secs()));
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
    let part = PathBuf::from(format!("{}.part", out.display()));
    if code == 1 {
        let line = err.lines().find(|l| l.contains("stitch: error:")).map(str::trim);
        let detail = match line {
            _ if err.trim().is_empty() => return mk(Class::BadOutput, "exit 1 with an empty stderr".into()),
            None => return mk(Class::BadOutput, format!("exit 1 without \"stitch: error:\": {}", first_line(&err))),
            Some(l) => l.to_string(),
        };
        if !err.contains(&name) {
            return mk(Class::BadOutput, format!("error does not name the file: {detail}"));
        }
        if out.exists() || part.exists() {
            return mk(Class::BadOutput, format!("error exit but an output was left behind: {detail}"));
        }
        let mut o = mk(Class::CleanError, detail.clone());
        o.error = Some(detail.split_once("stitch: error:").map(|x| x.1.trim().to_string()).unwrap_or(detail));
        return o;
    }
    if code != 0 {
        return mk(Class::Crash, format!("abnormal exit code {code}: {}", first_line(&err)));
    }

    // Exit 0: the output must exist, be non-empty, be accepted by ffprobe and decode silently.
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return mk(
            Class::BadOutput,
            format!("exit 0 but output {}", if out.exists() { "is empty" } else { "is missing" }),
        );
    }
    if part.exists() {
        return mk(Class::BadOutput, "exit 0 but the temp file .part was left behind".into());
    }
    if !oracle {
        return mk(Class::Ok, format!("{size} bytes (no ffmpeg: not checked)"));
    }
    let mut probe = Command::new("ffprobe");
    probe.args(["-v", "error", "-show_streams", "-show_format", "-of", "json"]).arg(&out);
    let p = run_limited(probe, ORACLE_LIMIT, &dir, "probe-out");
    if p.timed_out || !p.status.is_some_and(|s| s.success()) {
        return mk(Class::BadOutput, format!("ffprobe rejects the output: {}", first_line(&p.stderr)));
    }
    let pj: Value = match serde_json::from_slice(&p.stdout) {
        Ok(v) => v,
        Err(e) => return mk(Class::BadOutput, format!("ffprobe output unreadable: {e}")),
    };
    let Some(ours) = num(&pj["format"]["duration"]) else {
        return mk(Class::BadOutput, "ffprobe reports no duration for the output".into());
    };
    let mut dec = Command::new("ffmpeg");
    dec.args(["-nostdin", "-v", "error", "-i"]).arg(&out).args(["-f", "null", "-"]);
    let d = run_limited(dec, ORACLE_LIMIT, &dir, "decode-out");
    if d.timed_out {
        return mk(Class::BadOutput, "ffmpeg decode of the output timed out".into());
    }
    if !d.stderr.trim().is_empty() || !d.status.is_some_and(|s| s.success()) {
        return mk(
            Class::BadOutput,
            format!("ffmpeg decode errors: {} (exit {:?})", first_line(&d.stderr), d.status.and_then(|s| s.code())),
        );
    }

    let mut o = mk(Class::Ok, format!("output {ours:.3} s"));
    if row.expected == "OK" {
        let out_rate = pj["streams"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["codec_type"] == "audio"))
            .and_then(|s| num(&s["sample_rate"]));
        o.duration = Some(match reference_end(&src, &dir) {
            Err(e) => Err(format!("no reference: {e}")),
            Ok((reference, has_video, has_audio)) => {
                let audio_only = has_audio && !has_video;
                let tol =
                    OUT_FRAME + if audio_only { out_rate.map_or(AAC_FRAME_48K, |r| 1024.0 / r) } else { 0.0 } + 0.001;
                let text = format!(
                    "ours {ours:.3} s vs ffmpeg {reference:.3} s (diff {:+.3}, tolerance {tol:.3})",
                    ours - reference
                );
                if (ours - reference).abs() <= tol {
                    Ok(text)
                } else {
                    Err(text)
                }
            }
        });
    }
    // Keep outputs only where something is to be looked at.
    if o.duration.as_ref().is_none_or(|d| d.is_ok()) {
        let _ = std::fs::remove_file(&out);
    }
    o
}

/// The per-clip cause in a "no clip could be used (<path>: CAUSE)" message, else the message.
fn cause<'a>(msg: &'a str, src: &Path) -> &'a str {
    let key = format!("{}: ", src.display());
    match msg.find(&key) {
        Some(i) => {
            let c = &msg[i + key.len()..];
            c.strip_suffix(')').unwrap_or(c)
        }
        None => msg,
    }
}

/// Error message category: the cause with paths and numbers stripped (digits that are part
/// of a word, as in "ac3" or "h264", are kept).
fn category(msg: &str, src: &Path) -> String {
    let msg = cause(msg, src).replace(src.to_str().unwrap(), "<path>");
    let chars: Vec<char> = msg.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    // Is position i inside a word ("ac3", "h264", "H.264")?
    let in_word = |i: usize| {
        i > 0
            && (chars[i - 1].is_alphanumeric()
                || chars[i - 1] == '_'
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

#[test]
#[cfg_attr(corpus_missing, ignore = "needs ../shared/corpus (see tests/common::corpus_dir)")]
fn real_world_media_compile_or_fail_cleanly() {
    let corpus = corpus_dir();
    if !corpus.join("MANIFEST.tsv").is_file() {
        let msg = format!("corpus not found at {} (see ../shared/corpus/README.md)", corpus.display());
        if std::env::var_os("CI").is_some() {
            panic!("{msg}: required in CI");
        }
        eprintln!("NOTE: {msg}: corpus test skipped");
        return;
    }
    let corpus = corpus.canonicalize().unwrap();
    let oracle = have_ffmpeg();
    let mut rows = read_manifest(&corpus);
    assert!(!rows.is_empty(), "no media rows in the manifest");
    // CORPUS_ONLY=substring runs only the matching files (to reproduce one failure quickly).
    if let Some(only) = std::env::var_os("CORPUS_ONLY") {
        let only = only.to_string_lossy().into_owned();
        rows.retain(|r| r.local.contains(&only));
        eprintln!("CORPUS_ONLY={only}: {} file(s)", rows.len());
    }
    let work = scratch("corpus");
    eprintln!("scratch <scratch> = {}, corpus <corpus> = {}", work.display(), corpus.display());
    eprintln!("corpus: {} media files, {WORKERS} workers, --size {SIZE}", rows.len());

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..rows.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= rows.len() {
                    break;
                }
                let o = check_file(&rows[i], &corpus, &work, oracle);
                eprintln!(
                    "  [{:3}/{}] {:11} {:5.1}s {}",
                    i + 1,
                    rows.len(),
                    o.class.name(),
                    o.secs,
                    rows[i].file_name()
                );
                results.lock().unwrap()[i] = Some(o);
            });
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let results: Vec<Outcome> =
        results.into_inner().unwrap().into_iter().map(|o| o.expect("every file checked")).collect();

    let short = |s: &str| s.replace(work.to_str().unwrap(), "<scratch>").replace(corpus.to_str().unwrap(), "<corpus>");
    // Table.
    let mut counts: BTreeMap<Class, usize> = BTreeMap::new();
    for o in &results {
        *counts.entry(o.class).or_default() += 1;
    }
    let mut report = String::new();
    report.push_str(&format!("\n=== corpus: {} media files in {wall:.1} s ===\n", rows.len()));
    for c in [Class::Ok, Class::CleanError, Class::Panic, Class::Crash, Class::Hang, Class::BadOutput] {
        report.push_str(&format!("  {:11} {}\n", c.name(), counts.get(&c).copied().unwrap_or(0)));
    }
    report.push_str("\nclass       expected           secs  file  detail\n");
    for (row, o) in rows.iter().zip(&results) {
        let detail = match &o.duration {
            Some(Ok(d)) => format!("duration ok: {d}"),
            Some(Err(d)) => format!("DURATION MISMATCH: {d}"),
            None => short(&o.detail),
        };
        report.push_str(&format!(
            "{:11} {:17} {:6.1}  {}  {}\n",
            o.class.name(),
            row.expected,
            o.secs,
            row.file_name(),
            detail
        ));
    }

    // Error categories.
    let mut cats: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (row, o) in rows.iter().zip(&results) {
        if let Some(e) = &o.error {
            let c = category(e, &corpus.join(&row.local));
            let entry =
                cats.entry(c).or_insert((0, format!("{}: {}", row.file_name(), cause(e, &corpus.join(&row.local)))));
            entry.0 += 1;
        }
    }
    report.push_str(&format!("\nCLEAN_ERROR categories ({}):\n", cats.len()));
    for (c, (n, example)) in &cats {
        report.push_str(&format!("  {n:3} x {c}\n        e.g. {example}\n"));
    }
    eprintln!("{report}");

    // Every problem in one message.
    let mut failures = Vec::new();
    for (row, o) in rows.iter().zip(&results) {
        if o.class.is_failure() {
            failures.push(format!(
                "{} [{}] {}: {}\n      stderr: {}",
                row.file_name(),
                row.expected,
                o.class.name(),
                short(&o.detail),
                short(&o.stderr).replace('\n', "\n              ")
            ));
        } else if row.expected == "OK"
            && o.class == Class::CleanError
            && !cfg!(feature = "ffmpeg")
            && o.stderr.contains("(build with --features ffmpeg)")
        {
            // The default build decodes 8-bit 4:2:0 H.264 and AAC only (OpenH264/FDK). A file
            // FFmpeg decodes with a profile OpenH264 lacks (High 4:4:4) must name the feature;
            // the `ffmpeg` build must compile it (this branch does not apply there).
            eprintln!("note: {} needs the ffmpeg feature: {}", row.file_name(), short(&o.detail));
        } else if cfg!(feature = "ffmpeg") && row.ok_with_ffmpeg_feature() && o.class != Class::Ok {
            failures.push(format!(
                "{} [{}] FFmpeg decodes it cleanly, so the ffmpeg build must compile it; got {}: {}",
                row.file_name(),
                row.ffprobe,
                o.class.name(),
                short(&o.detail)
            ));
        } else if row.expected == "OK" && o.class != Class::Ok {
            failures.push(format!(
                "{} [OK] expected OK, got {}: {}",
                row.file_name(),
                o.class.name(),
                short(&o.detail)
            ));
        } else if let Some(Err(d)) = &o.duration {
            failures.push(format!("{} [OK] duration mismatch: {d}", row.file_name()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus files failed:\n  {}",
        failures.len(),
        rows.len(),
        failures.join("\n  ")
    );
}
