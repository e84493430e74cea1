//! `stitch record` as a user runs it (the binary, against loopback origins started here):
//! network feedback (root cause, finite retries), progress on a terminal (under `script`,
//! a pty), `-F`, resume after `kill -9`, events, `-o -`.

mod common;
mod hls_origin;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{run_limited, scratch};
use hls_origin::{
    check_output_ts, ffmpeg_errors, ffprobe, fixtures, have_ffmpeg, media_playlist, static_files, Clip, Delay, Handler,
    Origin, Reply,
};

macro_rules! need_ffmpeg {
    () => {
        if !have_ffmpeg() {
            eprintln!("note: /usr/bin/ffmpeg not found, test skipped");
            return;
        }
    };
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_stitch")
}

fn stitch(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args);
    c
}

fn entries(clip: &Clip) -> Vec<(String, f64, String)> {
    clip.segments.iter().enumerate().map(|(i, (d, _))| (String::new(), *d, format!("s{i}.ts"))).collect()
}

/// A VOD of `clip` at /index.m3u8 (segments /sN.ts), each segment answered after `seg_delay`.
fn vod(clip: &Clip, seg_delay: Duration) -> (Origin, f64) {
    let mut files = HashMap::new();
    for (i, (_, b)) in clip.segments.iter().enumerate() {
        files.insert(format!("/s{i}.ts"), b.clone());
    }
    files.insert("/index.m3u8".into(), media_playlist(2, 0, &entries(clip), true, "").into_bytes());
    let delay: Delay = Arc::new(move |pq: &str| if pq.ends_with(".ts") { seg_delay } else { Duration::ZERO });
    let total = clip.segments.iter().map(|s| s.0).sum();
    (Origin::start_delayed(static_files(files), delay), total)
}

/// Segment numbers requested (in order) among `log` (`.../sN.ts`, any track).
fn segment_requests(log: &[String]) -> Vec<usize> {
    log.iter()
        .filter_map(|r| {
            let name = r.rsplit('/').next().unwrap_or("");
            name.strip_prefix('s').and_then(|r| r.strip_suffix(".ts")).and_then(|n| n.parse().ok())
        })
        .collect()
}

fn files_in(d: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn refused_connection_exits_1_naming_the_cause_and_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // dropped: nothing listens there now
    let url = format!("http://127.0.0.1:{port}/live/x.m3u8");
    let dir = scratch("rec-refused");
    let out = dir.join("out.ts");
    let r = run_limited(
        stitch(&["record", &url, "-o", out.to_str().unwrap(), "--retries", "2"]),
        Duration::from_secs(20),
        &dir,
        "refused",
    );
    assert!(!r.timed_out, "still retrying after 20 s: {}", r.stderr);
    assert_eq!(r.status.and_then(|s| s.code()), Some(1), "{}", r.stderr);
    // Two retries: 0.15-0.3 s and 0.3-0.6 s of backoff.
    assert!(r.secs < 10.0, "{} s", r.secs);
    let retry_lines: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("retrying")).collect();
    assert_eq!(retry_lines.len(), 2, "{}", r.stderr);
    assert!(retry_lines.iter().all(|l| l.contains("connection refused") && l.contains(&url)), "{}", r.stderr);
    let last = r.stderr.lines().last().unwrap();
    assert!(last.starts_with("stitch: error"), "{}", r.stderr);
    assert!(last.contains("giving up after 3 attempts: connection refused") && last.contains(&url), "{last}");
    assert!(!out.exists());
}

#[test]
fn flaky_origin_prints_one_retrying_line_per_retry() {
    need_ffmpeg!();
    let f = fixtures();
    let clip = f.a.clone();
    let hits = Arc::new(AtomicUsize::new(0));
    let playlist = media_playlist(2, 0, &entries(&clip), true, "");
    let total: f64 = clip.segments.iter().map(|s| s.0).sum();
    let h: Handler = Arc::new(move |pq: &str, _r| {
        if pq == "/index.m3u8" {
            return Reply::m3u8(&playlist);
        }
        // Every other segment request fails once with 503.
        if hits.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            return Reply::status(503);
        }
        let i: usize = pq.trim_start_matches("/s").trim_end_matches(".ts").parse().unwrap();
        Reply::ok("video/mp2t", clip.segments[i].1.clone())
    });
    let o = Origin::start(h);
    let dir = scratch("rec-flaky");
    let out = dir.join("out.ts");
    let r = run_limited(
        stitch(&["record", &o.url("/index.m3u8"), "-o", out.to_str().unwrap(), "-j", "1"]),
        Duration::from_secs(20),
        &dir,
        "flaky",
    );
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("retrying")).collect();
    assert_eq!(lines.len(), f.a.segments.len(), "{}", r.stderr);
    assert!(lines.iter().all(|l| l.contains("503 Service Unavailable") && l.contains(&o.base)), "{}", r.stderr);
    check_output_ts(&out, total);
}

#[test]
fn vod_progress_on_a_terminal_shows_segments_and_eta() {
    need_ffmpeg!();
    let f = fixtures();
    let (o, _) = vod(&f.live, Duration::from_millis(120));
    let dir = scratch("rec-tty");
    let out = dir.join("out.ts");
    let cmd =
        format!("stty cols 160 rows 40; exec {} record '{}' -o '{}' -j 1", bin(), o.url("/index.m3u8"), out.display());
    let r = run_limited(
        {
            let mut c = Command::new("script");
            c.args(["-qfec", &cmd, "/dev/null"]);
            c
        },
        Duration::from_secs(20),
        &dir,
        "tty",
    );
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", String::from_utf8_lossy(&r.stdout));
    let screen = String::from_utf8_lossy(&r.stdout);
    let n = f.live.segments.len();
    let counts: Vec<usize> = screen
        .match_indices(&format!("/{n} segments"))
        .filter_map(|(i, _)| {
            let head = &screen[..i];
            let digits: String = head.chars().rev().take_while(|c| c.is_ascii_digit()).collect();
            digits.chars().rev().collect::<String>().parse().ok()
        })
        .collect();
    assert!(counts.iter().any(|&c| c > 0 && c < n), "no x/{n} progress line in {screen:?}");
    assert!(screen.contains("ETA"), "{screen:?}");
    assert!(screen.contains("MB/s"), "{screen:?}");
    assert!(screen.contains(&format!("recorded {n} segments")), "{screen:?}");
    // Not a terminal: no progress line at all.
    let dir2 = scratch("rec-notty");
    let r = run_limited(
        stitch(&["record", &o.url("/index.m3u8"), "-o", dir2.join("o.ts").to_str().unwrap()]),
        Duration::from_secs(20),
        &dir2,
        "notty",
    );
    assert!(!r.stderr.contains("ETA") && !r.stderr.contains("segments  "), "{}", r.stderr);
}

/// A live stream of `clip` at /live.m3u8: a window of 6 segments whose edge advances
/// `per_sec` segments a second (segments /sN.ts).
fn live_origin(clip: Clip, per_sec: f64) -> Origin {
    let t0 = Instant::now();
    let h: Handler = Arc::new(move |pq: &str, _r| {
        let edge = ((t0.elapsed().as_secs_f64() * per_sec) as usize + 6).min(clip.segments.len());
        if pq == "/live.m3u8" {
            let first = edge - 6;
            let ents: Vec<_> = (first..edge).map(|i| (String::new(), clip.segments[i].0, format!("s{i}.ts"))).collect();
            return Reply::m3u8(&media_playlist(1, first as u64, &ents, false, ""));
        }
        let i: usize = pq.trim_start_matches("/s").trim_end_matches(".ts").parse().unwrap();
        Reply::ok("video/mp2t", clip.segments[i].1.clone())
    });
    Origin::start(h)
}

#[test]
fn live_progress_on_a_terminal_shows_recorded_time_and_the_live_edge() {
    need_ffmpeg!();
    let f = fixtures();
    let clip = f.live.clone();
    // A window of 6 one-second segments advancing every second.
    let o = live_origin(clip, 1.0);
    let dir = scratch("rec-tty-live");
    let out = dir.join("live.ts");
    let cmd = format!(
        "stty cols 160 rows 40; exec {} record '{}' -o '{}' --max-duration 4",
        bin(),
        o.url("/live.m3u8"),
        out.display()
    );
    let r = run_limited(
        {
            let mut c = Command::new("script");
            c.args(["-qfec", &cmd, "/dev/null"]);
            c
        },
        Duration::from_secs(20),
        &dir,
        "tty-live",
    );
    let screen = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{screen}");
    assert!(screen.contains("live: recorded 0:0"), "{screen:?}");
    assert!(screen.contains("s behind the live edge, 0 gaps"), "{screen:?}");
    assert_eq!(ffmpeg_errors(&out), "");
}

#[test]
fn a_killed_live_mp4_recording_is_kept_by_the_next_run() {
    need_ffmpeg!();
    let f = fixtures();
    let clip = f.live.clone();
    let o = live_origin(clip, 2.0);
    let dir = scratch("rec-live-kill");
    let out = dir.join("live.mp4");
    let url = o.url("/live.m3u8");
    let args = ["record", &url, "-o", out.to_str().unwrap(), "--format", "mp4", "--live-from-start"];
    let mut child = stitch(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let t = Instant::now();
    while segment_requests(&o.requests()).len() < 4 {
        assert!(t.elapsed() < Duration::from_secs(15));
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(files_in(&dir), vec![".live.mp4.rec.ts"], "the killed run's temporary");
    let r =
        run_limited(stitch(&[&args[..], &["--max-duration", "2"]].concat()), Duration::from_secs(20), &dir, "rerun");
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    let names = files_in(&dir);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"live.mp4".to_string()), "{names:?}");
    let kept = names.iter().find(|n| n.starts_with("live.interrupted-") && n.ends_with(".ts")).expect("kept");
    assert!(r.stderr.contains("kept the recording of an interrupted run as"), "{}", r.stderr);
    assert!(std::fs::metadata(dir.join(kept)).unwrap().len() > 0);
    assert_eq!(ffmpeg_errors(&dir.join(kept)), "");
    assert_eq!(ffmpeg_errors(&out), "");
}

/// A master with three variants, two audio renditions and a subtitle track.
fn master() -> Origin {
    master_delayed(Duration::ZERO)
}

/// [`master`] with every segment answered after `seg_delay`.
fn master_delayed(seg_delay: Duration) -> Origin {
    let f = fixtures();
    let mut files = HashMap::new();
    for v in 0..3 {
        for (i, (_, b)) in f.video_only.segments.iter().enumerate() {
            files.insert(format!("/v{v}/s{i}.ts"), b.clone());
        }
        files.insert(format!("/v{v}/index.m3u8"), media_playlist(2, 0, &entries(&f.video_only), true, "").into_bytes());
    }
    for lang in ["en", "fr"] {
        for (i, (_, b)) in f.audio_only.segments.iter().enumerate() {
            files.insert(format!("/aud/{lang}/s{i}.ts"), b.clone());
        }
        let ents: Vec<_> = entries(&f.audio_only).into_iter().map(|(t, d, u)| (t, d, format!("{lang}/{u}"))).collect();
        files.insert(format!("/aud/{lang}.m3u8"), media_playlist(2, 0, &ents, true, "").into_bytes());
    }
    let master = "#EXTM3U\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,URI=\"aud/en.m3u8\"\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"Français\",LANGUAGE=\"fr\",DEFAULT=NO,URI=\"aud/fr.m3u8\"\n\
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Deutsch\",LANGUAGE=\"de\",URI=\"subs/de.m3u8\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\",FRAME-RATE=25,AUDIO=\"aac\"\nv0/index.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1920x1080,CODECS=\"avc1.640028,mp4a.40.2\",FRAME-RATE=50,AUDIO=\"aac\",SUBTITLES=\"subs\"\nv2/index.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=1500000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=29.97,AUDIO=\"aac\"\nv1/index.m3u8\n";
    files.insert("/master.m3u8".into(), master.as_bytes().to_vec());
    let delay: Delay = Arc::new(move |pq: &str| if pq.ends_with(".ts") { seg_delay } else { Duration::ZERO });
    Origin::start_delayed(static_files(files), delay)
}

#[test]
fn list_formats_prints_every_variant_and_rendition_and_fetches_no_segment() {
    need_ffmpeg!();
    let o = master();
    let out = stitch(&["record", "-F", &o.url("/master.m3u8")]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let t = String::from_utf8_lossy(&out.stdout);
    for (res, bw, codecs, fps, uri) in [
        ("640x360", "800k", "avc1.4d401e,mp4a.40.2", "25", "/v0/index.m3u8"),
        ("1920x1080", "3000k", "avc1.640028,mp4a.40.2", "50", "/v2/index.m3u8"),
        ("1280x720", "1500k", "avc1.64001f,mp4a.40.2", "29.97", "/v1/index.m3u8"),
    ] {
        let line = t.lines().find(|l| l.contains(res)).unwrap_or_else(|| panic!("{res} missing:\n{t}"));
        for want in [bw, codecs, fps, uri, "aac"] {
            assert!(line.contains(want), "{want} not in {line:?}");
        }
    }
    assert!(t.lines().any(|l| l.starts_with("1*") && l.contains("1920x1080")), "best is marked:\n{t}");
    for (kind, name, lang, default) in
        [("audio", "English", "en", "yes"), ("audio", "Français", "fr", "no"), ("subtitles", "Deutsch", "de", "no")]
    {
        let line = t.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name} missing:\n{t}"));
        assert!(line.starts_with(kind) && line.contains(lang) && line.contains(default), "{line:?}");
    }
    assert_eq!(o.requests(), vec!["/master.m3u8"], "only the master is fetched");
    // A media playlist: one row.
    let out = stitch(&["record", "--list-formats", &o.url("/v1/index.m3u8")]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let t = String::from_utf8_lossy(&out.stdout);
    assert_eq!(t.lines().filter(|l| l.starts_with("0 ")).count(), 1, "{t}");
    assert!(t.contains("vod") && t.contains("8.0 s"), "{t}");
    assert!(!o.requests().iter().any(|r| r.ends_with(".ts")));
}

#[test]
fn the_chosen_variant_is_printed_and_an_inexact_quality_warned_about() {
    need_ffmpeg!();
    let o = master();
    let dir = scratch("rec-variant");
    let out = dir.join("v.ts");
    let r = run_limited(
        stitch(&["record", &o.url("/master.m3u8"), "-o", out.to_str().unwrap(), "--quality", "480p", "--audio", "fr"]),
        Duration::from_secs(20),
        &dir,
        "variant",
    );
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("variant: ")).collect::<Vec<_>>(),
        vec![&"variant: 640x360, 0.80 Mbit/s, avc1.4d401e,mp4a.40.2, 25 fps; audio: \"Français\" (fr)"],
        "{}",
        r.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("warning: --quality 480p: no variant is 480p (available: 360p, 1080p, 720p)")),
        "{}",
        r.stderr
    );
    assert!(o.requests().iter().any(|r| r.starts_with("/aud/fr/s")));
    let (types, _) = ffprobe(&out);
    assert_eq!(types.len(), 2, "{types:?}");
    // An exact match: no warning.
    let r = run_limited(
        stitch(&["record", &o.url("/master.m3u8"), "-o", dir.join("w.ts").to_str().unwrap(), "--quality", "720p"]),
        Duration::from_secs(20),
        &dir,
        "exact",
    );
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("variant: 1280x720") && !r.stderr.contains("warning"), "{}", r.stderr);
}

/// Start `stitch record` and SIGKILL it once the origin has been asked for `after`
/// segments; returns the segments committed according to the resume state.
fn kill_after(o: &Origin, args: &[&str], after: usize, state: &Path) -> u64 {
    let before = o.requests().len();
    let mut child = stitch(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    while segment_requests(&o.requests()[before..]).len() < after {
        assert!(t0.elapsed() < Duration::from_secs(15), "the recorder did not get going");
        assert!(child.try_wait().unwrap().is_none(), "finished too early");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(state).expect("a resume state")).unwrap();
    s["tracks"][0]["last_seq"].as_u64().unwrap()
}

#[test]
fn kill_9_then_rerun_fetches_no_committed_segment_again() {
    need_ffmpeg!();
    let f = fixtures();
    let n = f.live.segments.len();
    for format in ["ts", "mp4"] {
        let (o, total) = vod(&f.live, Duration::from_millis(100));
        let dir = scratch(&format!("rec-resume-{format}"));
        let out = dir.join(format!("out.{format}"));
        let url = o.url("/index.m3u8");
        let args = ["record", &url, "-o", out.to_str().unwrap(), "--format", format];
        let state = dir.join(format!(".out.{format}.stitch-state.json"));
        // An uninterrupted recording, to compare with.
        let reference = dir.join(format!("reference.{format}"));
        let r = run_limited(
            stitch(&["record", &url, "-o", reference.to_str().unwrap(), "--format", format]),
            Duration::from_secs(20),
            &dir,
            "reference",
        );
        assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
        let reference = std::fs::read(&reference).unwrap();
        std::fs::remove_file(dir.join(format!("reference.{format}"))).unwrap();
        let committed = kill_after(&o, &args, 8, &state);
        assert!(committed >= 1, "{format}: nothing committed");
        assert!(!out.exists(), "{format}: no output before the end");
        let before = o.requests().len();
        let r = run_limited(stitch(&args), Duration::from_secs(20), &dir, "rerun");
        assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
        assert!(r.stderr.contains(&format!("resuming: {} of {n} segments", committed + 1)), "{}", r.stderr);
        let again = segment_requests(&o.requests()[before..]);
        assert!(
            again.iter().all(|&i| i as u64 > committed),
            "{format}: committed 0..={committed}, refetched {again:?}"
        );
        let mut got = again.clone();
        got.sort();
        got.dedup();
        assert_eq!(got, (committed as usize + 1..n).collect::<Vec<_>>(), "{format}");
        // Complete and clean: only the output is left.
        assert_eq!(files_in(&dir), vec![format!("out.{format}")], "{format}");
        if format == "ts" {
            check_output_ts(&out, total);
            // Exactly what the uninterrupted run wrote: the joiner carried on where it was.
            assert!(std::fs::read(&out).unwrap() == reference, "resumed TS differs from an uninterrupted recording");
        } else {
            let _ = reference;
            let (types, dur) = ffprobe(&out);
            assert_eq!(types.len(), 2, "{types:?}");
            assert!((dur - total).abs() < 0.1, "{dur} vs {total}");
            assert_eq!(ffmpeg_errors(&out), "");
        }
    }
}

#[test]
fn kill_9_resumes_a_variant_with_its_audio_rendition_and_an_fmp4_stream() {
    need_ffmpeg!();
    let f = fixtures();
    // Variant + separate audio rendition: two raw files, two tracks in the state.
    let o = master_delayed(Duration::from_millis(250));
    let dir = scratch("rec-resume-audio");
    let out = dir.join("a.mp4");
    let url = o.url("/master.m3u8");
    let args = ["record", &url, "-o", out.to_str().unwrap(), "--format", "mp4", "-j", "1"];
    let state = dir.join(".a.mp4.stitch-state.json");
    let committed = kill_after(&o, &args, 4, &state);
    let before = o.requests().len();
    let r = run_limited(stitch(&args), Duration::from_secs(20), &dir, "rerun");
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    let again: Vec<String> = o.requests()[before..].iter().filter(|r| r.starts_with("/v2/s")).cloned().collect();
    assert_eq!(again.len() as u64, f.video_only.segments.len() as u64 - committed - 1, "{again:?}");
    let (types, dur) = ffprobe(&out);
    assert_eq!(types.len(), 2, "{types:?}");
    assert!((dur - 8.0).abs() < 0.1, "{dur}");
    assert_eq!(ffmpeg_errors(&out), "");
    assert_eq!(files_in(&dir), vec!["a.mp4"]);

    // fMP4 segments (init section + fragments): the raw file is appended to as it is. With
    // one transfer at a time, a request for segment k means segments < k are committed.
    let mut files = HashMap::new();
    files.insert("/init.mp4".to_string(), f.fmp4.init.clone().unwrap());
    let mut ents = Vec::new();
    for (i, (d, b)) in f.fmp4.segments.iter().enumerate() {
        files.insert(format!("/f{i}.m4s"), b.clone());
        ents.push((String::new(), *d, format!("f{i}.m4s")));
    }
    files.insert("/f.m3u8".into(), media_playlist(2, 0, &ents, true, "#EXT-X-MAP:URI=\"init.mp4\"\n").into_bytes());
    let delay: Delay =
        Arc::new(|pq: &str| if pq.ends_with(".m4s") { Duration::from_millis(400) } else { Duration::ZERO });
    let o = Origin::start_delayed(static_files(files), delay);
    let dir = scratch("rec-resume-fmp4");
    let out = dir.join("f.mp4");
    let url = o.url("/f.m3u8");
    let args = ["record", &url, "-o", out.to_str().unwrap(), "--format", "mp4", "-j", "1"];
    let mut child = stitch(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    while !o.requests().iter().any(|r| r == "/f1.m4s") {
        assert!(t0.elapsed() < Duration::from_secs(15));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = o.requests().len();
    let r = run_limited(stitch(&args), Duration::from_secs(20), &dir, "rerun");
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    let again: Vec<String> = o.requests()[before..].iter().filter(|r| r.ends_with(".m4s")).cloned().collect();
    assert_eq!(again, vec!["/f1.m4s", "/f2.m4s"], "segment 0 was committed");
    let total: f64 = f.fmp4.segments.iter().map(|s| s.0).sum();
    let (types, dur) = ffprobe(&out);
    assert_eq!(types.len(), 2, "{types:?}");
    assert!((dur - total).abs() < 0.1, "{dur} vs {total}");
    assert_eq!(ffmpeg_errors(&out), "");
    assert_eq!(files_in(&dir), vec!["f.mp4"]);

    // The same fMP4 stream to stdout (`-o -`): remuxed when complete, TS by default.
    let r = run_limited(stitch(&["record", &url, "-o", "-", "-q"]), Duration::from_secs(20), &dir, "stdout");
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    assert!(!r.stdout.is_empty() && r.stdout.chunks(188).all(|c| c[0] == 0x47), "MPEG-TS on stdout");
    let piped = dir.join("piped.ts");
    std::fs::write(&piped, &r.stdout).unwrap();
    let (types, dur) = ffprobe(&piped);
    assert_eq!(types.len(), 2, "{types:?}");
    assert!((dur - total).abs() < 0.15, "{dur} vs {total}");
    assert_eq!(ffmpeg_errors(&piped), "");
}

#[test]
fn ctrl_c_keeps_a_vod_resumable() {
    need_ffmpeg!();
    let f = fixtures();
    let n = f.live.segments.len();
    let (o, total) = vod(&f.live, Duration::from_millis(100));
    let dir = scratch("rec-int");
    let out = dir.join("out.mp4");
    let url = o.url("/index.m3u8");
    let args = ["record", &url, "-o", out.to_str().unwrap(), "--format", "mp4"];
    let errf = dir.join("first.stderr");
    let mut child = stitch(&args).stdout(Stdio::null()).stderr(std::fs::File::create(&errf).unwrap()).spawn().unwrap();
    let t0 = Instant::now();
    while segment_requests(&o.requests()).len() < 6 {
        assert!(t0.elapsed() < Duration::from_secs(15));
        std::thread::sleep(Duration::from_millis(5));
    }
    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let code = child.wait().unwrap().code();
    let err = std::fs::read_to_string(&errf).unwrap();
    std::fs::remove_file(&errf).unwrap();
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("run the same command again to resume"), "{err}");
    assert!(!out.exists());
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(".out.mp4.stitch-state.json")).unwrap()).unwrap();
    let committed = state["tracks"][0]["last_seq"].as_u64().unwrap();
    let before = o.requests().len();
    let r = run_limited(stitch(&args), Duration::from_secs(20), &dir, "rerun");
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    let again = segment_requests(&o.requests()[before..]);
    assert_eq!(again.len() as u64, n as u64 - committed - 1, "{again:?}");
    assert!(again.iter().all(|&i| i as u64 > committed));
    let (_, dur) = ffprobe(&out);
    assert!((dur - total).abs() < 0.1, "{dur} vs {total}");
    assert_eq!(files_in(&dir), vec!["out.mp4"]);
}

#[test]
fn a_different_url_starts_over() {
    need_ffmpeg!();
    let f = fixtures();
    let (o, total) = vod(&f.live, Duration::from_millis(100));
    let dir = scratch("rec-restart");
    let out = dir.join("out.ts");
    let url = o.url("/index.m3u8");
    let state = dir.join(".out.ts.stitch-state.json");
    kill_after(&o, &["record", &url, "-o", out.to_str().unwrap()], 5, &state);
    let before = o.requests().len();
    let url2 = o.url("/index.m3u8?v=2");
    let r = run_limited(stitch(&["record", &url2, "-o", out.to_str().unwrap()]), Duration::from_secs(20), &dir, "r");
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("another URL or other options; starting over"), "{}", r.stderr);
    assert_eq!(segment_requests(&o.requests()[before..]).len(), f.live.segments.len());
    check_output_ts(&out, total);
    assert_eq!(files_in(&dir), vec!["out.ts"]);
}

/// Seconds since the epoch of an ISO 8601 time, by GNU date (an independent parser).
fn date_parse(iso: &str) -> f64 {
    let out = Command::new("date").args(["-u", "-d", iso, "+%s.%N"]).output().unwrap();
    assert!(out.status.success(), "date rejects {iso:?}");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn events_start_first_with_the_final_path_and_iso_times() {
    need_ffmpeg!();
    let f = fixtures();
    let (o, total) = vod(&f.a, Duration::ZERO);
    let dir = scratch("rec-events");
    let out = dir.join("rec.mp4");
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let r = run_limited(
        stitch(&["record", &o.url("/index.m3u8"), "-o", out.to_str().unwrap(), "--format", "mp4", "--events", "json"]),
        Duration::from_secs(20),
        &dir,
        "events",
    );
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    let ev: Vec<serde_json::Value> =
        String::from_utf8_lossy(&r.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let names: Vec<&str> = ev.iter().map(|e| e[0].as_str().unwrap()).collect();
    assert_eq!(names[0], "start", "{names:?}");
    assert_eq!(names.last(), Some(&"stop"));
    assert!(names[1..names.len() - 1].iter().all(|n| *n == "progress"), "{names:?}");
    let start = &ev[0][1];
    assert_eq!(Path::new(start["path"].as_str().unwrap()), out);
    assert_eq!(start["segments_total"], f.a.segments.len());
    assert!((start["duration_total_secs"].as_f64().unwrap() - total).abs() < 1e-3);
    let mut last = 0.0;
    for e in &ev {
        let t = date_parse(e[1]["time"].as_str().unwrap());
        assert!(t >= t0 - 1.0 && t < t0 + 60.0 && t >= last, "{e}");
        last = t;
    }
    let p = &ev[ev.len() - 2][1];
    assert!(p["bytes"].as_u64().unwrap() > 0 && p["speed_bytes_per_sec"].as_f64().is_some(), "{p}");
    assert_eq!(p["segments"], p["segments_total"]);
    let stop = &ev[ev.len() - 1][1];
    assert_eq!(stop["reason"], "complete");
    assert!((stop["recorded_secs"].as_f64().unwrap() - total).abs() < 1e-3, "{stop}");
    assert_eq!(Path::new(stop["path"].as_str().unwrap()), out);
    assert_eq!(files_in(&dir), vec!["rec.mp4"]);
}

#[test]
fn dash_o_streams_ts_to_stdout() {
    need_ffmpeg!();
    let f = fixtures();
    let (o, total) = vod(&f.a, Duration::ZERO);
    let dir = scratch("rec-stdout");
    let r = run_limited(stitch(&["record", &o.url("/index.m3u8"), "-o", "-"]), Duration::from_secs(20), &dir, "o");
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    assert!(!r.stdout.is_empty() && r.stdout.len().is_multiple_of(188));
    assert!(r.stdout.chunks(188).all(|p| p[0] == 0x47), "MPEG-TS packets on stdout");
    let p = dir.join("piped.ts");
    std::fs::write(&p, &r.stdout).unwrap();
    check_output_ts(&p, total);
    assert_eq!(files_in(&dir), vec!["piped.ts"], "nothing else written");
    // --format mp4: a fragmented MP4 on stdout, remuxed as the segments arrive.
    let r = run_limited(
        stitch(&["record", &o.url("/index.m3u8"), "-o", "-", "--format", "mp4"]),
        Duration::from_secs(20),
        &dir,
        "m",
    );
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    assert_eq!(&r.stdout[4..8], b"ftyp");
    assert!(r.stdout.windows(4).any(|w| w == b"moof"), "movie fragments");
    let p = dir.join("piped.mp4");
    std::fs::write(&p, &r.stdout).unwrap();
    let errors = ffmpeg_errors(&p);
    assert!(errors.is_empty(), "{errors}");
    let (kinds, dur) = ffprobe(&p);
    assert!(kinds.contains(&"video".to_string()) && kinds.contains(&"audio".to_string()), "{kinds:?}");
    assert!((dur - total).abs() < 0.15, "{dur} vs {total}");
    std::fs::remove_file(&p).unwrap();
    // Usage error: events on stdout too.
    let out = stitch(&["record", "http://127.0.0.1:9/x.m3u8", "-o", "-", "--events", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("-o -") && e.contains("--events-socket"), "{e}");
}

#[test]
fn direct_mp4_summary_gives_bytes_and_duration() {
    need_ffmpeg!();
    let f = fixtures();
    let mut files = HashMap::new();
    files.insert("/clip.mp4".to_string(), f.mp4.clone());
    let o = Origin::start(static_files(files));
    let dir = scratch("rec-direct");
    let out = dir.join("v.mp4");
    let r = run_limited(
        stitch(&["record", &o.url("/clip.mp4"), "-o", out.to_str().unwrap(), "--format", "mp4"]),
        Duration::from_secs(20),
        &dir,
        "direct",
    );
    assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{}", r.stderr);
    let mb = f.mp4.len() as f64 / 1e6;
    let want = format!("recorded {mb:.1} MB, 4.0 s into {}", out.display());
    assert!(r.stderr.contains(&want), "{want:?} not in {:?}", r.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), f.mp4);
    // `-o -`: the file is remuxed to stdout when complete, TS or fragmented MP4.
    for (format, tag) in [("ts", "dts"), ("mp4", "dmp4")] {
        let r = run_limited(
            stitch(&["record", &o.url("/clip.mp4"), "-o", "-", "--format", format, "-q"]),
            Duration::from_secs(20),
            &dir,
            tag,
        );
        assert_eq!(r.status.and_then(|s| s.code()), Some(0), "{format}: {}", r.stderr);
        let p = dir.join(format!("piped.{format}"));
        std::fs::write(&p, &r.stdout).unwrap();
        if format == "ts" {
            assert!(r.stdout.chunks(188).all(|c| c[0] == 0x47), "MPEG-TS on stdout");
        } else {
            assert!(r.stdout.windows(4).any(|w| w == b"moof"), "fragmented MP4 on stdout");
        }
        assert_eq!(ffmpeg_errors(&p), "");
        let (kinds, dur) = ffprobe(&p);
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        assert!((dur - 4.0).abs() < 0.15, "{format}: {dur}");
    }
    let url_hash = {
        let u = o.url("/clip.mp4");
        u.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
    };
    let temp = std::env::temp_dir().join(format!("stitch-stdout-{url_hash:016x}.rec.mp4"));
    assert!(!temp.exists(), "the temporary download is removed");
    let out = stitch(&["record", "-F", &o.url("/clip.mp4")]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("a direct MP4 file ({mb:.1} MB): one format, recorded as it is\n")
    );
}

/// The container follows the output's extension; `--format` must agree; other names need it.
#[test]
fn record_container_follows_the_extension() {
    need_ffmpeg!();
    let f = fixtures();
    let (o, _) = vod(&f.a, Duration::ZERO);
    let url = o.url("/index.m3u8");
    let dir = scratch("rec-ext");
    for (ext, mp4) in [("mp4", true), ("m4v", true), ("mov", true), ("ts", false), ("m2ts", false), ("mts", false)] {
        let right = if mp4 { "mp4" } else { "ts" };
        let wrong = if mp4 { "ts" } else { "mp4" };
        for extra in [&[][..], &["--format", right][..]] {
            let out = dir.join(format!("o{}.{ext}", extra.len()));
            let mut args = vec!["record", url.as_str(), "-o", out.to_str().unwrap(), "-q"];
            args.extend_from_slice(extra);
            let r = stitch(&args).output().unwrap();
            assert_eq!(r.status.code(), Some(0), "{ext} {extra:?}: {}", String::from_utf8_lossy(&r.stderr));
            let b = std::fs::read(&out).unwrap();
            if mp4 {
                assert_eq!(&b[4..8], b"ftyp", "{ext}: MP4");
            } else {
                assert!(b.chunks(188).all(|p| p[0] == 0x47), "{ext}: MPEG-TS");
            }
        }
        let out = dir.join(format!("wrong.{ext}"));
        let r = stitch(&["record", &url, "-o", out.to_str().unwrap(), "--format", wrong]).output().unwrap();
        assert_eq!(r.status.code(), Some(2), "{ext} --format {wrong}");
        assert!(String::from_utf8_lossy(&r.stderr).contains("contradicts"));
        assert!(!out.exists());
    }
    let out = dir.join("x.mkv");
    let r = stitch(&["record", &url, "-o", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--format"));
}

/// An existing output needs --force; an output that is the cookies or key file is refused.
#[test]
fn record_never_replaces_a_file_silently_nor_an_input() {
    need_ffmpeg!();
    let f = fixtures();
    let (o, total) = vod(&f.a, Duration::ZERO);
    let url = o.url("/index.m3u8");
    let dir = scratch("rec-force");
    let out = dir.join("keep.ts");
    std::fs::write(&out, b"precious").unwrap();
    let r = stitch(&["record", &url, "-o", out.to_str().unwrap(), "-q"]).output().unwrap();
    assert_eq!(r.status.code(), Some(2), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    assert!(o.requests().is_empty(), "nothing fetched before the refusal");
    let r = stitch(&["record", &url, "-o", out.to_str().unwrap(), "-q", "-y"]).output().unwrap();
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    check_output_ts(&out, total);
    // Files named like later sections (a format change starts NAME_1.EXT) count too.
    std::fs::write(dir.join("sec_1.ts"), b"mine too").unwrap();
    let r = stitch(&["record", &url, "-o", dir.join("sec.ts").to_str().unwrap(), "-q"]).output().unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("sec_1.ts"), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(!dir.join("sec.ts").exists());
    // The default name in --rec-dir is checked the same way.
    std::fs::write(dir.join("stream_0.ts"), b"mine").unwrap();
    let r = stitch(&["record", &url, "--rec-dir", dir.to_str().unwrap(), "-q"]).output().unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(std::fs::read(dir.join("stream_0.ts")).unwrap(), b"mine");
    // Inputs: the cookies file and the key file (by a symlink, too).
    let cookies = dir.join("cookies.ts");
    std::fs::write(&cookies, "# Netscape HTTP Cookie File\n").unwrap();
    std::os::unix::fs::symlink(&cookies, dir.join("link.ts")).unwrap();
    let key = dir.join("key.ts");
    std::fs::write(&key, [7u8; 16]).unwrap();
    for (out, flag, file, what) in [
        ("cookies.ts", "--cookies", &cookies, "cookies file"),
        ("link.ts", "--cookies", &cookies, "cookies file"),
        ("key.ts", "--key", &key, "key file"),
    ] {
        let before = std::fs::read(file).unwrap();
        let out = dir.join(out);
        let r = stitch(&["record", &url, "-o", out.to_str().unwrap(), flag, file.to_str().unwrap(), "-y"])
            .output()
            .unwrap();
        assert_eq!(r.status.code(), Some(2), "{what}");
        let e = String::from_utf8_lossy(&r.stderr);
        assert!(e.contains(&format!("same file as the {what}")), "{e}");
        assert_eq!(std::fs::read(file).unwrap(), before, "{what} unchanged");
    }
    // A key file must hold a key.
    let bad = dir.join("bad.key");
    std::fs::write(&bad, b"short").unwrap();
    let r = stitch(&["record", &url, "-o", dir.join("k.ts").to_str().unwrap(), "--key", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("16 bytes"));
}

/// `--proxy`: every request goes through it (the stream's host does not even resolve), and
/// `--limit-rate` paces the whole download.
#[test]
fn proxy_and_limit_rate() {
    need_ffmpeg!();
    let f = fixtures();
    let (o, total) = vod(&f.a, Duration::ZERO);
    let dir = scratch("rec-proxy");
    // The origin answers absolute-form requests as a plain HTTP proxy would forward them.
    let out = dir.join("p.ts");
    let r = stitch(&["record", "http://stream.invalid/index.m3u8", "-o", out.to_str().unwrap(), "-q"])
        .arg("--proxy")
        .arg(&o.base)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    check_output_ts(&out, total);
    assert!(o.requests().iter().any(|r| r.contains("index.m3u8")), "{:?}", o.requests());
    let r = stitch(&["record", "http://127.0.0.1:9/x.m3u8", "--proxy", "ftp://x"]).output().unwrap();
    assert_eq!(r.status.code(), Some(2));
    // --limit-rate: the bytes cannot arrive faster than the rate (after one second of burst).
    let bytes: usize = f.a.segments.iter().map(|s| s.1.len()).sum();
    let rate = (bytes / 3).max(1024);
    let out = dir.join("slow.ts");
    let t0 = Instant::now();
    let r = stitch(&["record", &o.url("/index.m3u8"), "-o", out.to_str().unwrap(), "-q"])
        .args(["--limit-rate", &rate.to_string()])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let took = t0.elapsed().as_secs_f64();
    assert!(took >= 1.5, "{bytes} bytes at {rate} B/s took {took:.2} s (3 s of data, 1 s burst)");
    check_output_ts(&out, total);
    let r = stitch(&["record", "http://127.0.0.1:9/x.m3u8", "--limit-rate", "fast"]).output().unwrap();
    assert_eq!(r.status.code(), Some(2));
}
