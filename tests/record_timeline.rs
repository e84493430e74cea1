//! MP4 timelines that start at zero (issue 13, point 2): `stitch record --format mp4` of an
//! ffmpeg-made HLS VOD (x264 with B-frames + AAC, served by the fake origin) and
//! `stitch compile` of `testdata/flow_basic.json` must present their first sample at t=0,
//! have no empty edit unless a track really starts later than another (here: the video,
//! after the AAC priming frame the TS timestamps put first, exactly as `ffmpeg -c copy`
//! places it), and mvhd/tkhd/mdhd durations that agree with the samples
//! (ISO/IEC 14496-12 §8.2.2, §8.3.2, §8.4.2, §8.6.6). ffprobe is the oracle; the boxes are
//! read by the small parser below.

mod common;
mod hls_origin;

use std::path::Path;
use std::process::Command;

/// One AAC frame at 48 kHz: the tolerance for "starts at 0".
const AAC_FRAME: f64 = 1024.0 / 48_000.0;

fn be32(b: &[u8]) -> u64 {
    u32::from_be_bytes(b[..4].try_into().unwrap()) as u64
}
fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().unwrap())
}

/// The children of a box payload: (type, payload).
fn boxes(mut d: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while d.len() >= 8 {
        let mut size = be32(d) as usize;
        let typ: [u8; 4] = d[4..8].try_into().unwrap();
        let mut head = 8;
        if size == 1 {
            size = be64(&d[8..]) as usize;
            head = 16;
        } else if size == 0 {
            size = d.len();
        }
        assert!(size >= head && size <= d.len(), "bad box size {size} for {:?}", String::from_utf8_lossy(&typ));
        out.push((typ, &d[head..size]));
        d = &d[size..];
    }
    out
}

fn find<'a>(d: &'a [u8], typ: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(d).into_iter().find(|(t, _)| t == typ).map(|(_, p)| p)
}

/// (version 0/1 full box) creation/modification times skipped: the fields after them.
fn after_times(p: &[u8]) -> &[u8] {
    if p[0] == 1 {
        &p[4 + 16..]
    } else {
        &p[4 + 8..]
    }
}

#[derive(Debug)]
struct TrackBoxes {
    handler: String,
    /// tkhd duration, movie ticks.
    tkhd: u64,
    /// mdhd (timescale, duration).
    mdhd: (u64, u64),
    /// elst (segment duration in movie ticks, media_time).
    edits: Vec<(u64, i64)>,
}

#[derive(Debug)]
struct MovieBoxes {
    timescale: u64,
    duration: u64,
    tracks: Vec<TrackBoxes>,
}

fn parse_moov(file: &[u8]) -> MovieBoxes {
    let moov = find(file, b"moov").expect("moov");
    let mvhd = find(moov, b"mvhd").expect("mvhd");
    let v1 = mvhd[0] == 1;
    let f = after_times(mvhd);
    let (timescale, duration) = (be32(f), if v1 { be64(&f[4..]) } else { be32(&f[4..]) });
    let mut tracks = Vec::new();
    for (t, trak) in boxes(moov) {
        if &t != b"trak" {
            continue;
        }
        let tkhd = find(trak, b"tkhd").expect("tkhd");
        let f = after_times(tkhd);
        let tkhd_dur = if tkhd[0] == 1 { be64(&f[8..]) } else { be32(&f[8..]) };
        let mdia = find(trak, b"mdia").expect("mdia");
        let mdhd = find(mdia, b"mdhd").expect("mdhd");
        let f = after_times(mdhd);
        let mdhd = (be32(f), if mdhd[0] == 1 { be64(&f[4..]) } else { be32(&f[4..]) });
        let hdlr = find(mdia, b"hdlr").expect("hdlr");
        let handler = String::from_utf8_lossy(&hdlr[8..12]).into_owned();
        let mut edits = Vec::new();
        if let Some(elst) = find(trak, b"edts").and_then(|e| find(e, b"elst")) {
            let n = be32(&elst[4..]) as usize;
            let mut e = &elst[8..];
            for _ in 0..n {
                if elst[0] == 1 {
                    edits.push((be64(e), be64(&e[8..]) as i64));
                    e = &e[20..];
                } else {
                    edits.push((be32(e), be32(&e[4..]) as u32 as i32 as i64));
                    e = &e[12..];
                }
            }
        }
        tracks.push(TrackBoxes { handler, tkhd: tkhd_dur, mdhd, edits });
    }
    MovieBoxes { timescale, duration, tracks }
}

/// Per stream (in ffprobe's order, which is the track order): (codec_type, start_time,
/// first presented time, end of the last presented packet, sum of packet durations).
fn ffprobe_streams(path: &Path) -> Vec<(String, f64, f64, f64, f64)> {
    let info = common::ffprobe(path);
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "packet=stream_index,pts_time,duration_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(o.status.success());
    let streams = info["streams"].as_array().unwrap();
    let mut out: Vec<(String, f64, f64, f64, f64)> = streams
        .iter()
        .map(|s| {
            let start = s["start_time"].as_str().unwrap().parse().unwrap();
            (s["codec_type"].as_str().unwrap().to_string(), start, f64::INFINITY, f64::NEG_INFINITY, 0.0)
        })
        .collect();
    // Lines may carry side data after the three fields (or be empty).
    for line in String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.split(',').count() >= 3) {
        let f: Vec<&str> = line.split(',').collect();
        let (i, pts, dur): (usize, f64, f64) = (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].parse().unwrap());
        let s = &mut out[i];
        // Samples before 0 (AAC priming hidden by the edit list) are decoded, not presented.
        if pts + dur > 1e-9 {
            s.2 = s.2.min(pts.max(0.0));
        }
        s.3 = s.3.max(pts + dur);
        s.4 += dur;
    }
    out
}

/// The timeline checks shared by record and compile outputs. `reference`: an MP4 of the
/// same stream written by `ffmpeg -c copy`, whose per-stream start times must be matched.
fn check_timeline(path: &Path, reference: Option<&Path>) {
    assert_eq!(common::ffmpeg_decode_errors(path), "", "{}", path.display());
    let file = std::fs::read(path).unwrap();
    let movie = parse_moov(&file);
    let streams = ffprobe_streams(path);
    eprintln!("{}: {movie:?}\n  ffprobe (type, start, first pts, end, sum of durations): {streams:?}", path.display());
    assert_eq!(movie.tracks.len(), streams.len());
    let ms = |ticks: u64| ticks as f64 / movie.timescale as f64;
    // t=0 is the first presented sample of some track; every track starts within one AAC frame.
    let first = streams.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
    assert!(first.abs() < 1e-6, "earliest stream start {first} s, want 0");
    for (s, t) in streams.iter().zip(&movie.tracks) {
        assert_eq!(t.handler == "vide", s.0 == "video", "track order: {t:?} vs {s:?}");
        assert!(s.1 <= AAC_FRAME + 1e-6, "{} starts at {} s (> one AAC frame)", s.0, s.1);
        assert!((s.2 - s.1).abs() < 1e-3, "{}: first packet pts {} vs start_time {}", s.0, s.2, s.1);
        // An empty edit only where this track starts later than the earliest one, and only
        // as long as that delay.
        let empty: u64 = t.edits.iter().filter(|e| e.1 == -1).map(|e| e.0).sum();
        assert!(t.edits.iter().skip_while(|e| e.1 == -1).all(|e| e.1 != -1), "{t:?}: empty edit after media");
        assert!((ms(empty) - s.1).abs() <= 1e-3 + 1e-6, "{}: empty edit {} s but starts at {} s", s.0, ms(empty), s.1);
        // tkhd = sum of the edits = where the track's samples end.
        let edits: u64 = t.edits.iter().map(|e| e.0).sum();
        assert_eq!(t.tkhd, edits, "{t:?}: tkhd is not the sum of its edits");
        assert!((ms(t.tkhd) - s.3).abs() <= 0.5e-3 + 1e-6, "{}: tkhd {} s, samples end at {} s", s.0, ms(t.tkhd), s.3);
        // mdhd = the sum of the sample durations.
        let mdhd = t.mdhd.1 as f64 / t.mdhd.0 as f64;
        assert!((mdhd - s.4).abs() <= 1e-3, "{}: mdhd {mdhd} s vs samples {} s", s.0, s.4);
    }
    // The movie lasts exactly as long as its longest track.
    let longest = streams.iter().map(|s| s.3).fold(0.0, f64::max);
    let max_tkhd = movie.tracks.iter().map(|t| t.tkhd).max().unwrap();
    assert_eq!(movie.duration, max_tkhd, "mvhd is not the longest tkhd");
    assert!(
        (ms(movie.duration) - longest).abs() <= 0.5e-3 + 1e-6,
        "mvhd {} s, longest track {longest} s",
        ms(movie.duration)
    );
    let fmt: f64 = common::ffprobe(path)["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((fmt - longest).abs() <= 1e-3, "format duration {fmt} vs longest track {longest}");
    if let Some(r) = reference {
        let want = ffprobe_streams(r);
        for s in &streams {
            let w = want.iter().find(|w| w.0 == s.0).expect("same stream types as the reference");
            assert!((s.1 - w.1).abs() <= 1e-3, "{}: starts at {} s, ffmpeg -c copy at {} s", s.0, s.1, w.1);
        }
    }
}

#[test]
fn record_mp4_of_an_hls_vod_starts_at_zero() {
    if !common::have_ffmpeg() {
        return;
    }
    let dir = common::scratch("record-timeline");
    let (clip, origin) = hls_origin::ramp_vod(&dir, 8);
    let url = origin.url("/index.m3u8");
    let out = dir.join("rec.mp4");
    let o = common::stitch(&["record", &url, "--format", "mp4", "-o", out.to_str().unwrap(), "--retries", "3", "-q"]);
    assert!(o.status.success(), "stitch record: {}", String::from_utf8_lossy(&o.stderr));
    // The reference: ffmpeg's stream copy of the same playlist.
    let reference = dir.join("ffmpeg_copy.mp4");
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i", &url, "-c", "copy"])
        .arg(&reference)
        .status()
        .unwrap();
    assert!(st.success());
    check_timeline(&out, Some(&reference));
    // The whole clip is there.
    let total: f64 = clip.segments.iter().map(|s| s.0).sum();
    let streams = ffprobe_streams(&out);
    for s in &streams {
        assert!((s.3 - total).abs() < 0.1, "{} ends at {} s, clip {total} s", s.0, s.3);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compile_mp4_starts_at_zero() {
    if !common::have_ffmpeg() {
        return;
    }
    let dir = common::scratch("compile-timeline");
    let out = dir.join("flow.mp4");
    let flow = common::testdata("flow_basic.json");
    let o =
        common::stitch(&["compile", flow.to_str().unwrap(), "-o", out.to_str().unwrap(), "--size", "320x180", "-q"]);
    assert!(o.status.success(), "stitch compile: {}", String::from_utf8_lossy(&o.stderr));
    check_timeline(&out, None);
    let movie = parse_moov(&std::fs::read(&out).unwrap());
    // Compile output: every track starts at 0 itself (no empty edit at all).
    for t in &movie.tracks {
        assert!(t.edits.iter().all(|e| e.1 != -1), "{t:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
