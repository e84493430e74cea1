use super::*;
use crate::frame::{AudioFrame, VideoFrame};
use crate::time::Ticks90k;
use crate::timeline::{ClipEvent, ClipStatus};
use crossbeam_channel::bounded;
use std::path::PathBuf;

/// The stages as one compile runs them, single layer.
struct Scheduler;

impl Scheduler {
    fn new(
        fmt: OutputFormat,
        clips: Vec<ClipSpec>,
        flow_duration: Option<i64>,
        start: i64,
        max_len: Option<i64>,
        open: ClipOpener,
    ) -> Program {
        Program::new(fmt, clips, (flow_duration, start, max_len), open, Look::default())
    }
}

const W: u32 = 32;
const H: u32 = 16;

fn fmt() -> OutputFormat {
    OutputFormat { width: W, height: H, fps_num: 25, fps_den: 1, sample_rate: 48000, channels: 2 }
}

/// A synthetic clip: `secs` of pictures of luma `y` (if y > 0) and constant audio `level`
/// (if level != 0), 25 fps, audio in 1024-sample frames.
#[derive(Clone, Copy)]
struct Synth {
    y: u8,
    level: f32,
    secs: f64,
    fail: bool,
}

fn spec(i: usize, start_s: f64) -> ClipSpec {
    ClipSpec {
        index: i,
        url: format!("clip{i}"),
        path: PathBuf::from(format!("clip{i}")),
        remote: None,
        start: Ticks90k((start_s * 90000.0).round() as i64),
        max_len: None,
        id: None,
        offset: Ticks90k::ZERO,
        source: Default::default(),
    }
}

fn opener(synths: Vec<Synth>) -> ClipOpener {
    Box::new(move |spec: &ClipSpec| {
        let s = synths[spec.index];
        let (tx, rx) = bounded(8);
        std::thread::spawn(move || {
            if s.fail {
                let _ = tx.send(ClipEvent::End { problem: Some("unsupported codec vp9".into()), fatal: true });
                return;
            }
            let _ = tx.send(ClipEvent::Start { has_video: s.y > 0, has_audio: s.level != 0.0, notes: vec![] });
            let frames = (s.secs * 25.0).round() as i64;
            let samples = (s.secs * 48000.0).round() as i64;
            let pic = Arc::new(Picture::filled(W, H, s.y, 128, 128));
            let mut next_audio = 0i64;
            for f in 0..frames {
                if s.y > 0 && tx.send(ClipEvent::Video(VideoFrame { pts: f * 3600, picture: pic.clone() })).is_err() {
                    return;
                }
                while s.level != 0.0 && next_audio < samples && next_audio * 25 < (f + 1) * 48000 {
                    let n = 1024.min(samples - next_audio);
                    let fr = AudioFrame {
                        pts: next_audio,
                        sample_rate: 48000,
                        channels: 2,
                        samples: vec![s.level; n as usize * 2],
                    };
                    if tx.send(ClipEvent::Audio(fr)).is_err() {
                        return;
                    }
                    next_audio += n;
                }
            }
            let _ = tx.send(ClipEvent::End { problem: None, fatal: false });
        });
        rx
    })
}

struct Run {
    lumas: Vec<u8>,
    audio: Vec<f32>,
    outcomes: Vec<ClipOutcome>,
}

fn run(synths: Vec<Synth>, starts: &[f64], duration: Option<f64>, cut: (f64, Option<f64>)) -> Run {
    let clips: Vec<ClipSpec> = starts.iter().enumerate().map(|(i, &s)| spec(i, s)).collect();
    let mut s = Scheduler::new(
        fmt(),
        clips,
        duration.map(|d| (d * 90000.0).round() as i64),
        (cut.0 * 90000.0) as i64,
        cut.1.map(|m| (m * 90000.0) as i64),
        opener(synths),
    );
    let mut lumas = Vec::new();
    let mut audio = Vec::new();
    while let Some(f) = s.next() {
        assert_eq!(f.index as usize, lumas.len());
        lumas.push(f.picture.y()[0]);
        audio.extend(f.audio);
    }
    Run { lumas, audio, outcomes: s.outcomes().to_vec() }
}

fn at(r: &Run, secs: f64) -> (u8, f32) {
    (r.lumas[(secs * 25.0) as usize], r.audio[(secs * 48000.0) as usize * 2])
}

#[test]
fn gaps_are_black_and_silent_and_lengths_exact() {
    let a = Synth { y: 100, level: 0.25, secs: 2.0, fail: false };
    let b = Synth { y: 200, level: -0.5, secs: 1.0, fail: false };
    let r = run(vec![a, b], &[0.5, 3.13], Some(5.0), (0.0, None));
    assert_eq!(r.lumas.len(), 125);
    assert_eq!(r.audio.len(), 5 * 48000 * 2);
    assert_eq!(at(&r, 0.2), (16, 0.0));
    assert_eq!(at(&r, 0.6), (100, 0.25));
    assert_eq!(at(&r, 2.49), (100, 0.25));
    assert_eq!(at(&r, 2.6), (16, 0.0));
    assert_eq!(at(&r, 3.2), (200, -0.5));
    assert_eq!(at(&r, 4.2), (16, 0.0));
    // Exact sample boundaries: clip a sounds on [24000, 120000).
    assert_eq!(r.audio[23999 * 2], 0.0);
    assert_eq!(r.audio[24000 * 2], 0.25);
    assert_eq!(r.audio[119999 * 2], 0.25);
    assert_eq!(r.audio[120000 * 2], 0.0);
    // Clip b starts at 3.13 s = sample 150240.
    assert_eq!(r.audio[150239 * 2], 0.0);
    assert_eq!(r.audio[150240 * 2], -0.5);
    // Frame at 3.12 s shows black (b starts at 3.13, more than a frame? no: within one frame -> b)
    assert!(r.outcomes.iter().all(|o| o.status == ClipStatus::Used), "{:?}", r.outcomes);
    assert_eq!(r.outcomes[0].frames_shown, 50);
}

#[test]
fn overlap_later_clip_shows_and_audio_mixes() {
    let a = Synth { y: 100, level: 0.25, secs: 3.0, fail: false };
    let b = Synth { y: 200, level: 0.5, secs: 1.0, fail: false };
    let r = run(vec![a, b], &[0.0, 1.0], None, (0.0, None));
    assert_eq!(r.lumas.len(), 75, "length = end of the last content");
    assert_eq!(at(&r, 0.5), (100, 0.25));
    assert_eq!(at(&r, 1.5).0, 200);
    assert!((at(&r, 1.5).1 - 0.75).abs() < 1e-6, "both voices: {}", at(&r, 1.5).1);
    assert_eq!(at(&r, 2.5), (100, 0.25), "the earlier clip shows again after the later one ends");
}

#[test]
fn audio_only_clip_does_not_hide_video_and_limiter_never_clips() {
    let a = Synth { y: 100, level: 0.7, secs: 2.0, fail: false };
    let b = Synth { y: 0, level: 0.7, secs: 1.0, fail: false };
    let r = run(vec![a, b], &[0.0, 0.5], Some(2.0), (0.0, None));
    let (y, s) = at(&r, 1.0);
    assert_eq!(y, 100);
    assert!(s > 0.8 && s < 1.0, "soft-limited sum {s}");
    assert!(r.audio.iter().all(|x| x.abs() < 1.0));
}

#[test]
fn cut_start_and_max_duration() {
    let a = Synth { y: 100, level: 0.25, secs: 4.0, fail: false };
    let r = run(vec![a], &[1.0], Some(10.0), (2.0, Some(3.0)));
    assert_eq!(r.lumas.len(), 75);
    assert_eq!(r.audio.len(), 3 * 48000 * 2);
    assert_eq!(at(&r, 0.0), (100, 0.25));
    assert_eq!(at(&r, 2.9), (100, 0.25));
    let r = run(vec![a], &[1.0], None, (0.0, Some(2.0)));
    assert_eq!(r.lumas.len(), 50, "max-duration caps an open-ended flow");
}

#[test]
fn failed_clip_becomes_gap_and_is_reported() {
    let a = Synth { y: 100, level: 0.25, secs: 1.0, fail: false };
    let bad = Synth { y: 100, level: 0.25, secs: 1.0, fail: true };
    let r = run(vec![a, bad], &[0.0, 1.0], Some(2.0), (0.0, None));
    assert_eq!(at(&r, 1.5), (16, 0.0));
    assert_eq!(r.outcomes[1].status, ClipStatus::Skipped("unsupported codec vp9".into()));
}

#[test]
fn long_timeline_has_no_drift() {
    // 20 one-second clips 2.5 s apart at 30000/1001 fps: every clip starts on the exact
    // frame and sample it should.
    let synths = vec![Synth { y: 120, level: 0.1, secs: 1.0, fail: false }; 20];
    let starts: Vec<f64> = (0..20).map(|i| i as f64 * 2.5 + 0.013).collect();
    let clips: Vec<ClipSpec> = starts.iter().enumerate().map(|(i, &s)| spec(i, s)).collect();
    let f = OutputFormat { fps_num: 30000, fps_den: 1001, ..fmt() };
    let mut s = Scheduler::new(f, clips, Some(50 * 90000), 0, None, opener(synths));
    let mut audio = Vec::new();
    let mut n = 0;
    while let Some(fr) = s.next() {
        audio.extend(fr.audio);
        n += 1;
    }
    assert_eq!(n, 1499); // ceil(50 * 29.97)
    assert_eq!(audio.len(), 50 * 48000 * 2);
    for i in 0..20 {
        let first = ((i as f64 * 2.5 + 0.013) * 48000.0).round() as usize;
        assert_eq!(audio[(first - 1) * 2], 0.0, "clip {i}");
        assert_eq!(audio[first * 2], 0.1, "clip {i}");
    }
}

#[test]
fn offset_skips_the_start_of_the_file() {
    // A 3 s clip whose first 1.0 s is preroll, placed at 1.0 s: its content from 1.0 s of the
    // file shows from 1.0 s of the timeline; nothing of the preroll is seen or heard.
    let a = Synth { y: 100, level: 0.25, secs: 3.0, fail: false };
    let mut clip = spec(0, 1.0);
    clip.offset = Ticks90k(90_000);
    let mut s = Scheduler::new(fmt(), vec![clip], None, 0, None, opener(vec![a]));
    let mut lumas = Vec::new();
    let mut audio = Vec::new();
    while let Some(f) = s.next() {
        lumas.push(f.picture.y()[0]);
        audio.extend(f.audio);
    }
    assert_eq!(lumas.len(), 75, "ends at origin (0 s) + 3 s");
    assert_eq!(lumas[24], 16);
    assert_eq!(lumas[25], 100);
    assert_eq!(audio[(48000 - 1) * 2], 0.0);
    assert_eq!(audio[48000 * 2], 0.25);
}

/// A reader of `secs` of pictures whose luma counts frames (16 + f % 200) and constant
/// audio; counts the video frames it managed to send.
fn counting_opener(secs: f64, sent: Arc<std::sync::atomic::AtomicUsize>) -> ClipOpener {
    Box::new(move |_spec: &ClipSpec| {
        let (tx, rx) = bounded(8);
        let sent = sent.clone();
        std::thread::spawn(move || {
            let _ = tx.send(ClipEvent::Start { has_video: true, has_audio: true, notes: vec![] });
            let frames = (secs * 25.0).round() as i64;
            for f in 0..frames {
                let pic = Arc::new(Picture::filled(W, H, 16 + (f % 200) as u8, 128, 128));
                if tx.send(ClipEvent::Video(VideoFrame { pts: f * 3600, picture: pic })).is_err() {
                    return;
                }
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let fr = AudioFrame { pts: f * 1920, sample_rate: 48000, channels: 2, samples: vec![0.25; 1920 * 2] };
                if tx.send(ClipEvent::Audio(fr)).is_err() {
                    return;
                }
            }
            let _ = tx.send(ClipEvent::End { problem: None, fatal: false });
        });
        rx
    })
}

#[test]
fn large_offset_shows_the_right_pictures_from_the_first_frame() {
    // 21.3 s of the file skipped: more unheard audio than the scheduler's read-ahead cap
    // (10 s) arrives before the first shown picture. That audio is dropped on arrival, so
    // the first frames show the file at the offset, not a stale picture.
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clip = spec(0, 0.0);
    clip.offset = Ticks90k((21.32 * 90000.0) as i64);
    let mut s = Scheduler::new(fmt(), vec![clip], None, 0, None, counting_opener(30.0, sent));
    let mut lumas = Vec::new();
    while let Some(f) = s.next() {
        lumas.push(f.picture.y()[0]);
    }
    assert_eq!(lumas.len(), 217, "30 s - 21.32 s");
    for (k, &y) in lumas.iter().enumerate() {
        assert_eq!(y, 16 + ((533 + k) % 200) as u8, "output frame {k} shows file frame {}", 533 + k);
    }
}

#[test]
fn a_clip_cut_short_is_not_read_far_past_its_end() {
    // A 30 s file of which 2 s are used: once a picture past the limit arrives the clip's
    // pictures are over, and the reader is not drained up to the audio read-ahead cap.
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clip = spec(0, 0.0);
    clip.max_len = Some(Ticks90k(2 * 90000));
    let mut s = Scheduler::new(fmt(), vec![clip], Some(4 * 90000), 0, None, counting_opener(30.0, sent.clone()));
    let mut lumas = Vec::new();
    while let Some(f) = s.next() {
        lumas.push(f.picture.y()[0]);
    }
    assert_eq!(lumas.len(), 100);
    assert_eq!((lumas[49], lumas[50]), (16 + 49, 16), "pictures end at 2 s, then black");
    std::thread::sleep(std::time::Duration::from_millis(50)); // the reader notices the drop
    let n = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(n < 50 + 20, "{n} frames read for a 50-frame clip (the channel holds 8 events)");
}
