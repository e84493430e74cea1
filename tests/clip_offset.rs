//! A clip with a large `offset` (the later part of a chunk cut in two) is read from shortly
//! before the offset instead of from the file's start (`CompileOptions::seek_clips`). The
//! output must be what reading from the start gives: the same pictures and sound at and
//! after the offset, placed at the clip's start.
//!
//! The source is made by ffmpeg (skipped without it): 30 s, 25 fps, x264 with B-frames and a
//! GOP of 2 s; the left half of each picture shows the second (grey level by `floor(t) mod
//! 10`), the right half the tenth of a second (`floor(10 t) mod 10`); the audio (AAC,
//! 44.1 kHz, so the output is resampled) is a tone whose pitch changes every second.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use stitch::media::pipeline::{compile, CompileOptions, CompileReport};
use stitch::media::timeline::Flow;

const SRC_SECS: f64 = 30.0;
const FPS: f64 = 25.0;

fn tone_hz(src_t: f64) -> f64 {
    400.0 + 100.0 * (src_t.floor() % 10.0)
}

fn make_source(dir: &Path) -> Option<PathBuf> {
    let out = dir.join("chunk.mp4");
    let lum = "if(lt(X,W/2),30+20*mod(floor(T+0.0001),10),30+20*mod(floor(T*10+0.0001),10))";
    let st = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c=black:s=160x120:r=25,format=gray,geq=lum='{lum}',format=yuv420p"))
        .args(["-f", "lavfi", "-i", "aevalsrc='0.125*sin(2*PI*(400+100*mod(floor(t),10))*t)':s=44100"])
        .args(["-t", &SRC_SECS.to_string(), "-c:v", "libx264", "-g", "50", "-bf", "3", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "64k", "-shortest"])
        .arg(&out)
        .status()
        .ok()?;
    st.success().then_some(out)
}

/// Mean luma of the left and right halves' centres of a Y plane.
fn halves(y: &[u8], w: usize, h: usize) -> (f64, f64) {
    let mean = |x0: usize, x1: usize| {
        let (y0, y1) = (h / 4, h * 3 / 4);
        let mut s = 0u64;
        for r in y0..y1 {
            for c in x0..x1 {
                s += y[r * w + c] as u64;
            }
        }
        s as f64 / ((x1 - x0) * (y1 - y0)) as f64
    };
    (mean(w / 8, w * 3 / 8), mean(w * 5 / 8, w * 7 / 8))
}

/// Decode with stitch's own demuxer/decoders: (pts in 90 kHz, left, right) per picture,
/// and the audio as mono at its own rate laid out by timestamp.
fn decode(path: &Path) -> (Vec<(i64, f64, f64)>, Vec<f32>, u32) {
    let (vf, af) = media_decode(path);
    let pics = vf
        .iter()
        .map(|f| {
            let (l, r) = halves(f.picture.y(), f.picture.width as usize, f.picture.height as usize);
            (f.pts, l, r)
        })
        .collect();
    let rate = af.first().map(|f| f.sample_rate).unwrap_or(48000);
    let mut pcm = Vec::new();
    for f in &af {
        let ch = f.channels.max(1) as usize;
        for (i, c) in f.samples.chunks(ch).enumerate() {
            let at = f.pts + i as i64;
            if at >= 0 {
                let at = at as usize;
                if pcm.len() <= at {
                    pcm.resize(at + 1, 0.0);
                }
                pcm[at] = c.iter().sum::<f32>() / ch as f32;
            }
        }
    }
    (pics, pcm, rate)
}

/// Timeline: 1 s of gap, then the clip from `offset` for 6 s, then 1 s of gap.
const CLIP_AT: f64 = 1.0;
const CLIP_LEN: f64 = 6.0;

fn run(src: &Path, dir: &Path, offset: f64, seek: bool) -> (PathBuf, CompileReport) {
    let json = format!(
        r#"{{"name":"offset","duration":{},"eventLogs":[
            {{"relativeTime":{CLIP_AT},"module":"mediasession.add","data":{{"url":"{}","offset":{offset},"duration":{CLIP_LEN}}}}}
        ]}}"#,
        CLIP_AT + CLIP_LEN + 1.0,
        src.file_name().unwrap().to_str().unwrap()
    );
    let flow = Flow::parse(json.as_bytes(), dir).unwrap();
    let out = dir.join(format!("out_{offset}_{}.mp4", if seek { "seek" } else { "full" }));
    let o = CompileOptions::builder(&out).size(320, 240).threads(2).seek_clips(seek).build().unwrap();
    let report = compile(&flow, &o, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    (out, report)
}

/// The source's own pictures, by frame index.
fn source_pictures(src: &Path) -> Vec<(f64, f64)> {
    let (pics, _, _) = decode(src);
    assert_eq!(pics.len(), (SRC_SECS * FPS) as usize);
    pics.iter().map(|p| (p.1, p.2)).collect()
}

/// Output pictures and sound at sampled times show the source at `offset + (t - CLIP_AT)`.
fn check_content(out: &Path, src_pics: &[(f64, f64)], offset: f64) {
    let (pics, pcm, rate) = decode(out);
    assert_eq!(pics.len(), ((CLIP_AT + CLIP_LEN + 1.0) * FPS) as usize);
    // The first picture of the clip, then every 0.24 s (not a multiple of the source's
    // 0.1 s pattern), and the last one.
    let first = (CLIP_AT * FPS) as usize;
    let last = ((CLIP_AT + CLIP_LEN) * FPS) as usize - 1;
    let mut frames: Vec<usize> = (first..=last).step_by(6).collect();
    frames.push(last);
    for n in frames {
        let src_t = offset + (n as f64 / FPS - CLIP_AT);
        let want = src_pics[(src_t * FPS + 1e-6).floor() as usize];
        let got = (pics[n].1, pics[n].2);
        assert!(
            (got.0 - want.0).abs() <= 6.0 && (got.1 - want.1).abs() <= 6.0,
            "output frame {n} ({:.2}s) shows {got:?}, the source at {src_t:.2}s is {want:?}",
            n as f64 / FPS
        );
    }
    // Gaps are black.
    for n in [0, first - 1, last + 1, pics.len() - 1] {
        assert!(pics[n].1 < 20.0 && pics[n].2 < 20.0, "frame {n} is not black: {:?}", pics[n]);
    }
    // Sound: the tone of each whole source second shown, away from its edges.
    let r = rate as f64;
    let mut checked = 0;
    for sec in (offset.ceil() as i64)..((offset + CLIP_LEN).floor() as i64) {
        let at = |src: f64| ((CLIP_AT + src - offset) * r) as usize;
        let w = &pcm[at(sec as f64 + 0.15)..at(sec as f64 + 0.85)];
        let want = tone_hz(sec as f64);
        assert!(tone_level(w, r, want) > 0.03, "source second {sec}: tone {want} Hz missing");
        for other in [want - 100.0, want + 100.0] {
            assert!(tone_level(w, r, other) < 0.01, "source second {sec}: tone {other} Hz present, want {want}");
        }
        checked += 1;
    }
    assert!(checked >= 4);
    let gap = &pcm[(0.2 * r) as usize..(0.8 * r) as usize];
    assert!(gap.iter().all(|&x| x == 0.0), "the leading gap is silent");
}

/// The same sound: sample for sample, except for the AAC decoder's noise substitution (PNS
/// bands are filled from a random generator whose state depends on every frame decoded
/// before, so a decoder started later fills them differently, by a few LSB of 16 bits; a
/// few more after re-encoding). A misplaced sample or a resampler off by a fraction of a
/// sample would differ by orders of magnitude more (about 1e-2 for these tones).
fn assert_same_sound(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: sound lengths");
    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    let max = diff.iter().map(|&i| (a[i] - b[i]).abs()).fold(0f32, f32::max);
    if let (Some(&first), Some(&last)) = (diff.first(), diff.last()) {
        eprintln!(
            "{what}: sound differs at {} of {} samples, from {:.4}s to {:.4}s, max difference {max}",
            diff.len(),
            a.len(),
            first as f64 / 48000.0,
            last as f64 / 48000.0
        );
    }
    assert!(max < 1e-3, "{what}: sound differs by up to {max}");
}

fn setup(name: &str) -> Option<(PathBuf, PathBuf)> {
    if !have_ffmpeg() {
        return None;
    }
    let dir = scratch(name);
    match make_source(&dir) {
        Some(src) => Some((dir, src)),
        None => {
            eprintln!("NOTE: ffmpeg could not encode the source (no libx264?): skipped");
            None
        }
    }
}

fn compare(src: &Path, dir: &Path, offset: f64) -> (CompileReport, CompileReport) {
    let (fast, rf) = run(src, dir, offset, true);
    let (full, rs) = run(src, dir, offset, false);
    eprintln!("offset {offset}: packets read {} with seek, {} without", rf.packets_read, rs.packets_read);
    assert_eq!((rf.clips_seeked, rs.clips_seeked), (1, 0), "offset {offset}: clips that seeked");
    let (a, b) = (decode(&fast), decode(&full));
    assert_eq!(a.0.len(), b.0.len());
    let differ: Vec<_> =
        (0..a.0.len()).filter(|&n| a.0[n] != b.0[n]).map(|n| (n, (a.0[n].1, a.0[n].2), (b.0[n].1, b.0[n].2))).collect();
    assert!(
        differ.is_empty(),
        "offset {offset}: {} pictures differ: (frame, with seek, without) {:?}",
        differ.len(),
        &differ[..differ.len().min(10)]
    );
    assert_same_sound(&a.1, &b.1, &format!("offset {offset}"));
    (rf, rs)
}

/// Seeking gives the output reading from the start gives, picture for picture, and reads
/// fewer packets.
#[test]
fn seeking_gives_the_same_output_as_reading_from_the_start() {
    let Some((dir, src)) = setup("clip-offset-same") else { return };
    let src_pics = source_pictures(&src);
    // Inside a GOP, and 1 s after a keyframe (the seek target is then the keyframe).
    for offset in [5.3, 9.0] {
        let (rf, rs) = compare(&src, &dir, offset);
        assert!(rf.packets_read < rs.packets_read, "offset {offset}: {} >= {}", rf.packets_read, rs.packets_read);
        check_content(&dir.join(format!("out_{offset}_seek.mp4")), &src_pics, offset);
        check_content(&dir.join(format!("out_{offset}_full.mp4")), &src_pics, offset);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A large offset (the later part of a chunk): the clip shows the source from the offset,
/// and only what lies near the offset is read.
#[test]
fn large_offset_is_read_from_near_the_offset() {
    let Some((dir, src)) = setup("clip-offset-large") else { return };
    let src_pics = source_pictures(&src);
    let offset = 21.3;
    // More than the scheduler's 10 s audio read-ahead lies before the offset: reading from
    // the start must still show the right pictures from the first frame (audio before the
    // offset is dropped on arrival), the same as seeking.
    let (rf, rs) = compare(&src, &dir, offset);
    check_content(&dir.join(format!("out_{offset}_seek.mp4")), &src_pics, offset);
    // From the keyframe at 20 s to the end of the clip (27.3 s) and a little read-ahead,
    // against everything from 0 s.
    assert!(
        (rf.packets_read as f64) < 0.5 * rs.packets_read as f64,
        "seeking read {} packets, reading from the start {}",
        rf.packets_read,
        rs.packets_read
    );
    let _ = std::fs::remove_dir_all(&dir);
}
