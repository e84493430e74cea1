//! `--decoder auto|openh264|ffmpeg` (issue 17): in the `ffmpeg` build, `compile --decoder
//! ffmpeg` (H.264 through libavcodec) writes the same number of frames with the same
//! pictures as `--decoder openh264`, and Debian's ffmpeg decodes it without a word; in the
//! default build `--decoder ffmpeg` is a usage error (exit 2) that says why, before
//! anything is written.

mod common;

use common::*;

#[test]
fn decoder_flag_is_documented_and_checked() {
    for cmd in ["compile", "webinar"] {
        let o = stitch(&[cmd, "--help"]);
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(help.contains("--decoder <NAME>"), "{cmd} --help: {help}");
        assert!(help.contains("openh264") && help.contains("ffmpeg"), "{cmd} --help: {help}");
    }
    let dir = scratch("decoder-bogus");
    let out = dir.join("o.mp4");
    let flow = testdata("flow_basic.json");
    let o = stitch(&["compile", flow.to_str().unwrap(), "-o", out.to_str().unwrap(), "--decoder", "x264"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown decoder 'x264' (expected auto|openh264|ffmpeg)"), "{stderr}");
    assert!(!out.exists());
}

#[cfg(not(feature = "ffmpeg"))]
#[test]
fn decoder_ffmpeg_without_the_feature_is_a_usage_error() {
    let dir = scratch("decoder-no-ffmpeg");
    let out = dir.join("o.mp4");
    let flow = testdata("flow_basic.json");
    let o = stitch(&["compile", flow.to_str().unwrap(), "-o", out.to_str().unwrap(), "--decoder", "ffmpeg"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--decoder"), "{stderr}");
    assert!(stderr.contains("built without the `ffmpeg` feature"), "{stderr}");
    assert!(!out.exists(), "nothing is written");
    // webinar checks it before touching the network.
    let o = stitch(&["webinar", "https://example.invalid/1/2/record-new/3/record-file/4", "--decoder", "ffmpeg"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("built without the `ffmpeg` feature"), "{stderr}");
    // The other names work.
    for d in ["openh264", "auto"] {
        let o = stitch(&["compile", flow.to_str().unwrap(), "-o", out.to_str().unwrap(), "-y", "--decoder", d]);
        assert!(o.status.success(), "--decoder {d}: {}", String::from_utf8_lossy(&o.stderr));
    }
}

#[cfg(feature = "ffmpeg")]
#[test]
fn compile_with_libavcodec_matches_openh264() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("decoder-ffmpeg");
    let flow = testdata("flow_basic.json");
    let (mut lumas, mut clips) = (Vec::new(), Vec::new());
    for d in ["ffmpeg", "openh264"] {
        let out = dir.join(format!("{d}.mp4"));
        let o = stitch(&["compile", flow.to_str().unwrap(), "-o", out.to_str().unwrap(), "--decoder", d]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "--decoder {d}: {stderr}");
        clips.push(stderr.lines().find(|l| l.contains("clips:")).unwrap_or_default().to_string());
        let errs = ffmpeg_decode_errors(&out);
        assert!(errs.is_empty(), "--decoder {d}: ffmpeg decode errors: {errs}");
        lumas.push(ffmpeg_lumas(&out));
    }
    assert!(!clips[0].is_empty() && clips[0] == clips[1], "summaries: {clips:?}");
    let (ff, oh) = (&lumas[0], &lumas[1]);
    // flow_basic lasts 25 s at 25 fps.
    assert_eq!(ff.len(), 625, "frames with --decoder ffmpeg");
    assert_eq!(ff.len(), oh.len(), "frame count ffmpeg vs openh264");
    for (n, (a, b)) in ff.iter().zip(oh).enumerate() {
        assert!((a - b).abs() <= 1.0, "frame {n}: centre luma {a:.1} (ffmpeg) vs {b:.1} (openh264)");
    }
}
