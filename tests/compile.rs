//! End-to-end: `stitch compile` on the bundled fixtures, checked by an independent decoder
//! (ffmpeg) and by stitch's own demuxer/decoder: validity, durations, content at the right
//! time, black and silence in gaps, audio/video in sync.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

use stitch::media;

const FPS: f64 = 25.0;

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(testdata("expected_basic.json")).unwrap()).unwrap()
}

fn tones_of_all() -> Vec<f64> {
    vec![330.0, 440.0, 550.0, 660.0, 880.0, 1000.0]
}

fn compile_basic(dir: &Path, ext: &str) -> std::path::PathBuf {
    let out = dir.join(format!("basic.{ext}"));
    let o = stitch(&["compile", testdata("flow_basic.json").to_str().unwrap(), "-o", out.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "stitch failed: {}", String::from_utf8_lossy(&o.stderr));
    assert!(out.is_file());
    out
}

/// Sample times inside an interval, away from its edges by more than a frame.
fn samples_in(from: f64, to: f64) -> Vec<f64> {
    let margin = 0.1;
    if to - from <= 2.0 * margin {
        return vec![];
    }
    let mid = (from + to) / 2.0;
    vec![from + margin, mid, to - margin]
}

fn check_video(lumas: &[f64], what: &str) -> usize {
    let exp = expected();
    let mut checked = 0;
    for iv in exp["video"].as_array().unwrap() {
        let (from, to) = (iv["from"].as_f64().unwrap(), iv["to"].as_f64().unwrap());
        let want = iv["luma"].as_f64().unwrap_or(16.0);
        for t in samples_in(from, to) {
            let i = (t * FPS).floor() as usize;
            let got = lumas[i];
            assert!(
                (got - want).abs() <= 6.0,
                "{what}: at {t:.2}s (frame {i}) luma {got:.1}, expected {want} ({:?})",
                iv["clip"]
            );
            checked += 1;
        }
    }
    checked
}

fn check_audio(pcm: &[f32], what: &str) -> usize {
    let exp = expected();
    let mut checked = 0;
    for iv in exp["audio"].as_array().unwrap() {
        let (from, to) = (iv["from"].as_f64().unwrap(), iv["to"].as_f64().unwrap());
        let want: Vec<f64> = iv["tones_hz"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        // Gaps: the middle of the interval must be digital silence (exact zeros survive
        // AAC). Edges are left out: a clip's own leading/trailing encoder frames may sit there.
        let times = if want.is_empty() { vec![(from + to) / 2.0] } else { samples_in(from, to) };
        for t in times {
            let c = (t * 48000.0) as usize;
            let half = 1200usize.min(((to - from) * 48000.0 * 0.3) as usize);
            let w = &pcm[c.saturating_sub(half)..(c + half).min(pcm.len())];
            if want.is_empty() {
                let peak = w.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!(peak == 0.0, "{what}: at {t:.2}s expected digital silence, peak {peak}");
            } else {
                for hz in tones_of_all() {
                    let lvl = tone_level(w, 48000.0, hz);
                    if want.contains(&hz) {
                        assert!(
                            lvl > 0.02,
                            "{what}: at {t:.2}s tone {hz} Hz missing (level {lvl:.4}), expected {want:?}"
                        );
                    } else {
                        assert!(
                            lvl < 0.01,
                            "{what}: at {t:.2}s tone {hz} Hz present (level {lvl:.4}), expected only {want:?}"
                        );
                    }
                }
            }
            checked += 1;
        }
    }
    checked
}

/// Decode `path` with stitch's own demuxer and decoders: per-frame centre luma and mono PCM.
fn own_decode(path: &Path) -> (Vec<f64>, Vec<f32>) {
    let (vf, af) = media_decode(path);
    let lumas: Vec<f64> = vf
        .iter()
        .map(|f| {
            let small = media::compose::scale::fit(&f.picture, SMALL_W as u32, SMALL_H as u32);
            centre_luma(small.y(), SMALL_W, SMALL_H)
        })
        .collect();
    for (i, f) in vf.iter().enumerate() {
        assert_eq!(f.pts, i as i64 * 3600, "own decode: frame {i} pts");
    }
    let mut pcm = Vec::new();
    for f in af {
        if f.pts < 0 {
            // priming: skip the samples before zero
            let skip = (-f.pts) as usize;
            for s in f.samples.chunks(f.channels as usize).skip(skip) {
                pcm.push(s.iter().sum::<f32>() / f.channels as f32);
            }
        } else {
            assert_eq!(f.pts as usize, pcm.len(), "own decode: audio is contiguous");
            for s in f.samples.chunks(f.channels as usize) {
                pcm.push(s.iter().sum::<f32>() / f.channels as f32);
            }
        }
    }
    (lumas, pcm)
}

fn check_durations(out: &Path, expect: f64) {
    let p = ffprobe(out);
    let streams = p["streams"].as_array().unwrap();
    let v = streams.iter().find(|s| s["codec_type"] == "video").expect("video stream");
    let a = streams.iter().find(|s| s["codec_type"] == "audio").expect("audio stream");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["sample_rate"], "48000");
    assert_eq!(a["channels"], 2);
    for s in [v, a] {
        let d: f64 = s["duration"]
            .as_str()
            .map(|x| x.parse().unwrap())
            .unwrap_or_else(|| p["format"]["duration"].as_str().unwrap().parse().unwrap());
        assert!((d - expect).abs() <= 1.0 / FPS + 1e-6, "{} duration {d} vs timeline {expect}", s["codec_type"]);
    }
}

#[test]
fn basic_flow_mp4_places_every_clip() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("basic-mp4");
    let out = compile_basic(&dir, "mp4");
    let errs = ffmpeg_decode_errors(&out);
    assert!(errs.is_empty(), "ffmpeg decode errors: {errs}");
    check_durations(&out, 25.0);

    let lumas = ffmpeg_lumas(&out);
    assert_eq!(lumas.len(), 625, "25 s at 25 fps");
    let pcm = ffmpeg_pcm(&out);
    // Priming is trimmed at the start (edit list); FFmpeg 5.1 does not trim the last AAC
    // frame's padding at the end, so up to 1023 extra samples may follow the timeline.
    assert!(pcm.len() >= 25 * 48000 && pcm.len() < 25 * 48000 + 1024, "sample clock: {} samples", pcm.len());
    let nv = check_video(&lumas, "ffmpeg");
    let na = check_audio(&pcm, "ffmpeg");
    assert!(nv >= 20 && na >= 20, "sampled {nv} video and {na} audio points");

    let (own_l, own_pcm) = own_decode(&out);
    assert_eq!(own_l.len(), 625);
    check_video(&own_l, "stitch decoder");
    check_audio(&own_pcm, "stitch decoder");
}

#[test]
fn basic_flow_ts_is_valid_and_placed() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("basic-ts");
    let out = compile_basic(&dir, "ts");
    let errs = ffmpeg_decode_errors(&out);
    assert!(errs.is_empty(), "ffmpeg decode errors: {errs}");
    let lumas = ffmpeg_lumas(&out);
    assert!((lumas.len() as i64 - 625).abs() <= 1, "{} frames", lumas.len());
    check_video(&lumas, "ffmpeg/ts");
}

/// Onset of the picture and of the sound at every clip start that follows a gap.
fn onsets(lumas: &[f64], pcm: &[f32], at: f64) -> (f64, f64) {
    let f0 = ((at - 0.3) * FPS).max(0.0) as usize;
    let vi = (f0..lumas.len()).find(|&i| (lumas[i] - 16.0).abs() > 8.0).expect("picture onset");
    let s0 = ((at - 0.3) * 48000.0).max(0.0) as usize;
    let si = (s0..pcm.len()).find(|&i| pcm[i].abs() > 0.01).expect("audio onset");
    (vi as f64 / FPS, si as f64 / 48000.0)
}

#[test]
fn av_sync_holds_from_first_to_last_clip_of_a_long_timeline() {
    if !have_ffmpeg() {
        return;
    }
    // 40 copies of the 4 s B-frame clip, 1.37 s apart: ~215 s, starts off the frame grid.
    let dir = scratch("long");
    let clip = testdata("a_high_bframes.mp4");
    let mut logs = Vec::new();
    let mut starts = Vec::new();
    for i in 0..40 {
        let t = 0.37 + i as f64 * 5.37;
        starts.push(t);
        logs.push(serde_json::json!({"relativeTime": t, "module": "mediasession.add", "data": {"url": clip.to_str().unwrap()}}));
    }
    let dur = 0.37 + 40.0 * 5.37;
    let flow = serde_json::json!({"name": "long", "duration": dur, "eventLogs": logs});
    let fp = dir.join("flow.json");
    std::fs::write(&fp, serde_json::to_vec(&flow).unwrap()).unwrap();
    let out = dir.join("long.mp4");
    let o = stitch(&["compile", fp.to_str().unwrap(), "-o", out.to_str().unwrap(), "--size", "320x180", "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_durations(&out, dur);
    let lumas = ffmpeg_lumas(&out);
    let pcm = ffmpeg_pcm(&out);
    let want = (dur * 48000.0).round() as usize;
    assert!(pcm.len() >= want && pcm.len() < want + 1024, "sample clock drift: {} vs {want}", pcm.len());
    for (i, &t) in starts.iter().enumerate() {
        let (v, a) = onsets(&lumas, &pcm, t);
        // The first frame whose interval contains t shows the clip.
        let vexp = (t * FPS).floor() / FPS;
        assert!((v - vexp).abs() <= 1.0 / FPS + 1e-9, "clip {i}: picture at {v:.3}s, expected {t:.3}s");
        assert!((a - t).abs() <= 0.010, "clip {i}: sound at {a:.4}s, expected {t:.4}s");
        assert!((v - a).abs() <= 1.0 / FPS, "clip {i}: A/V offset {:.3}s", v - a);
    }
}

#[test]
fn runs_with_ffmpeg_absent_from_path() {
    let dir = scratch("nopath");
    let out = dir.join("o.mp4");
    let empty = dir.join("bin");
    std::fs::create_dir_all(&empty).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_stitch"))
        .env("PATH", &empty)
        .args([
            "compile",
            testdata("flow_basic.json").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--quiet",
            "--size",
            "320x180",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::metadata(&out).unwrap().len() > 10_000);
}

#[test]
fn product_code_never_spawns_a_process() {
    fn scan(dir: &Path, hits: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "tests") {
                    continue;
                }
                scan(&p, hits);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                // Only the code before the unit tests counts.
                let code = text.split("#[cfg(test)]").next().unwrap();
                for (i, line) in code.lines().enumerate() {
                    if line.contains("process::Command")
                        || line.contains("Command::new")
                        || line.contains("process::Stdio")
                    {
                        hits.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    let mut hits = Vec::new();
    scan(&root().join("src"), &mut hits);
    scan(&root().join("media").join("src"), &mut hits);
    assert!(hits.is_empty(), "product code spawns processes:\n{}", hits.join("\n"));
}
