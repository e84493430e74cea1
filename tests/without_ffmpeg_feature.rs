//! Without the `ffmpeg` feature: the VP9 picture of a clip cannot be decoded; the summary
//! says so, naming the codec and the feature, and the rest of the flow still compiles.
//! (`h_vp9.mp4` has AAC audio, so the summary may list the clip as used with a note on its
//! video rather than as skipped: either is accepted, the message is what matters.)
#![cfg(not(feature = "ffmpeg"))]

mod common;

use common::*;

#[test]
fn vp9_picture_is_reported_unsupported() {
    let dir = scratch("no-ffmpeg-vp9");
    let out = dir.join("vp9.mp4");
    let o = stitch(&["compile", testdata("flow_vp9.json").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stitch failed: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("h_vp9.mp4"))
        .unwrap_or_else(|| panic!("VP9 clip not in the summary: {stderr}"));
    assert!(line.contains("skipped") || line.contains("note"), "{line}");
    assert!(line.contains("unsupported codec vp9 (build with --features ffmpeg)"), "{line}");
    assert!(out.is_file());
    if have_ffmpeg() {
        let errs = ffmpeg_decode_errors(&out);
        assert!(errs.is_empty(), "ffmpeg decode errors: {errs}");
        // The other clips are in place: a_high_bframes (luma 60) at 2 s, e_clip.ts (200) at 8 s.
        let lumas = ffmpeg_lumas(&out);
        assert!((lumas[50] - 60.0).abs() <= 6.0, "luma at 2 s: {}", lumas[50]);
        assert!((lumas[200] - 200.0).abs() <= 6.0, "luma at 8 s: {}", lumas[200]);
        // Where the VP9 clip would be: black.
        assert!((lumas[131] - 16.0).abs() <= 6.0, "luma at 5.25 s: {}", lumas[131]);
    }
}
