//! With the `ffmpeg` feature: a flow using a VP9 clip compiles with that clip's picture
//! and sound in place (checked by an independent decoder, Debian's ffmpeg).
#![cfg(feature = "ffmpeg")]

mod common;

use common::*;
use serde_json::Value;

const FPS: f64 = 25.0;
const TONES: [f64; 3] = [440.0, 550.0, 770.0];

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(testdata("expected_vp9.json")).unwrap()).unwrap()
}

/// Sample times inside an interval, more than a frame away from its edges.
fn samples_in(from: f64, to: f64) -> Vec<f64> {
    let margin = 0.1;
    if to - from <= 2.0 * margin {
        return vec![];
    }
    vec![from + margin, (from + to) / 2.0, to - margin]
}

#[test]
fn vp9_clip_is_decoded_and_placed() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("ffmpeg-vp9");
    let out = dir.join("vp9.mp4");
    let o = stitch(&["compile", testdata("flow_vp9.json").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stitch failed: {stderr}");
    assert!(!stderr.contains("unsupported codec"), "summary: {stderr}");
    assert!(!stderr.lines().any(|l| l.contains("skipped") && l.contains("h_vp9.mp4")), "VP9 clip skipped: {stderr}");
    assert!(stderr.contains("clips: 3 used of 3"), "summary: {stderr}");

    let errs = ffmpeg_decode_errors(&out);
    assert!(errs.is_empty(), "ffmpeg decode errors: {errs}");
    let p = ffprobe(&out);
    let streams = p["streams"].as_array().unwrap();
    assert!(streams.iter().any(|s| s["codec_type"] == "video" && s["codec_name"] == "h264"));
    assert!(streams.iter().any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac"));

    let exp = expected();
    let lumas = ffmpeg_lumas(&out);
    assert!((lumas.len() as i64 - 250).abs() <= 1, "{} frames for 10 s", lumas.len());
    let mut vp9_checked = 0;
    for iv in exp["video"].as_array().unwrap() {
        let (from, to) = (iv["from"].as_f64().unwrap(), iv["to"].as_f64().unwrap());
        let want = iv["luma"].as_f64().unwrap_or(16.0);
        for t in samples_in(from, to) {
            let i = (t * FPS).floor() as usize;
            let got = lumas[i];
            assert!(
                (got - want).abs() <= 6.0,
                "at {t:.2}s (frame {i}) luma {got:.1}, expected {want} ({})",
                iv["clip"]
            );
            if iv["clip"] == "h_vp9.mp4" {
                vp9_checked += 1;
            }
        }
    }
    assert_eq!(vp9_checked, 3);

    let pcm = ffmpeg_pcm(&out);
    assert!(pcm.len() >= 10 * 48000, "{} samples", pcm.len());
    let mut vp9_tone_checked = 0;
    for iv in exp["audio"].as_array().unwrap() {
        let (from, to) = (iv["from"].as_f64().unwrap(), iv["to"].as_f64().unwrap());
        let want: Vec<f64> = iv["tones_hz"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let times = if want.is_empty() { vec![(from + to) / 2.0] } else { samples_in(from, to) };
        for t in times {
            let c = (t * 48000.0) as usize;
            let half = 1200usize.min(((to - from) * 48000.0 * 0.3) as usize);
            let w = &pcm[c.saturating_sub(half)..(c + half).min(pcm.len())];
            if want.is_empty() {
                let peak = w.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!(peak < 1e-3, "at {t:.2}s expected silence, peak {peak}");
                continue;
            }
            for hz in TONES {
                let lvl = tone_level(w, 48000.0, hz);
                if want.contains(&hz) {
                    assert!(lvl > 0.02, "at {t:.2}s tone {hz} Hz missing (level {lvl:.4})");
                } else {
                    assert!(lvl < 0.01, "at {t:.2}s tone {hz} Hz present (level {lvl:.4}), expected only {want:?}");
                }
            }
            if want.contains(&770.0) {
                vp9_tone_checked += 1;
            }
        }
    }
    assert_eq!(vp9_tone_checked, 3);
}
