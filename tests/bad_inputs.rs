//! Corrupted inputs: truncated, bit-flipped, empty, garbage, wrong extension, missing.
//! Never a panic; a clear message; non-zero exit when nothing usable remains; what decodes
//! is used and the rest becomes gap.

mod common;

use common::*;

fn one_clip_flow(dir: &std::path::Path, clip: &std::path::Path) -> std::path::PathBuf {
    let flow =
        serde_json::json!({"name": "x", "eventLogs": [{"relativeTime": 0, "data": {"url": clip.to_str().unwrap()}}]});
    let p = dir.join(format!("{}.json", clip.file_name().unwrap().to_string_lossy()));
    std::fs::write(&p, serde_json::to_vec(&flow).unwrap()).unwrap();
    p
}

fn run_one(name: &str) -> (bool, String, std::path::PathBuf) {
    let dir = scratch(&format!("bad-{name}"));
    let clip = testdata(&format!("bad/{name}"));
    let flow = one_clip_flow(&dir, &clip);
    let out = dir.join("out.mp4");
    let o = stitch(&["compile", flow.to_str().unwrap(), "-o", out.to_str().unwrap(), "--size", "320x240"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("panicked"), "{name}: panic: {err}");
    (o.status.success(), err, out)
}

#[test]
fn unusable_files_fail_cleanly_with_the_cause() {
    for (name, cause) in [
        ("empty.mp4", "empty"),
        ("garbage.mp4", "not MP4, MPEG-TS or ADTS"),
        ("text.mp4", "text"),
        ("truncated_moov_end.mp4", "moov"),
    ] {
        let (ok, err, out) = run_one(name);
        assert!(!ok, "{name}: should fail");
        assert!(err.contains(name), "{name}: message names the file: {err}");
        assert!(err.contains(cause), "{name}: message gives the cause '{cause}': {err}");
        assert!(!out.exists(), "{name}: no output on failure");
        assert!(!std::path::Path::new(&format!("{}.part", out.display())).exists(), "{name}: no temp file left");
    }
}

#[test]
fn damaged_files_keep_what_decodes() {
    for name in ["truncated_mdat.mp4", "bitflip.mp4"] {
        let (ok, err, out) = run_one(name);
        assert!(ok, "{name}: what decodes is used: {err}");
        assert!(err.contains("damaged"), "{name}: the summary says so: {err}");
        if have_ffmpeg() {
            let e = ffmpeg_decode_errors(&out);
            assert!(e.is_empty(), "{name}: output decodes cleanly: {e}");
        }
    }
}

#[test]
fn wrong_extension_is_detected_by_content() {
    let (ok, err, out) = run_one("wrong_ext.mp4");
    assert!(ok, "{err}");
    assert!(!err.contains("damaged") && !err.contains("skipped"), "{err}");
    assert!(std::fs::metadata(out).unwrap().len() > 1000);
}

#[test]
fn mixed_flow_reports_every_bad_clip_and_still_compiles() {
    let dir = scratch("bad-mixed");
    let out = dir.join("out.mp4");
    let o = stitch(&[
        "compile",
        testdata("flow_bad.json").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--size",
        "320x240",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    for bad in ["truncated_moov_end.mp4", "empty.mp4", "garbage.mp4", "text.mp4", "does_not_exist.mp4"] {
        assert!(err.lines().any(|l| l.contains("skipped") && l.contains(bad)), "summary lists {bad} as skipped: {err}");
    }
    assert!(err.contains("file not found"), "{err}");
    if have_ffmpeg() {
        let e = ffmpeg_decode_errors(&out);
        assert!(e.is_empty(), "{e}");
        let p = ffprobe(&out);
        let d: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((d - 26.0).abs() < 0.05, "duration {d}");
    }
}

#[test]
fn bad_flow_json_and_arguments_give_clear_errors() {
    let dir = scratch("bad-flow");
    let f = dir.join("broken.json");
    std::fs::write(&f, br#"{"name":"x","eventLogs":[{"relativeTime":1,"da"#).unwrap();
    let o = stitch(&["compile", f.to_str().unwrap(), "-o", dir.join("o.mp4").to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("truncated JSON") && err.contains("broken.json"), "{err}");
    let o = stitch(&["compile", dir.join("missing.json").to_str().unwrap(), "-o", dir.join("o.mp4").to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.json"));
    let o = stitch(&[
        "compile",
        testdata("flow_basic.json").to_str().unwrap(),
        "-o",
        dir.join("o.mp4").to_str().unwrap(),
        "--size",
        "abc",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("WxH"));
}

#[test]
fn fuzz_regressions_do_not_panic() {
    // Inputs the fuzzers once crashed on (fuzz/regressions/<target>/): every demuxer and the
    // H.264 parsers must now return errors or data, never panic.
    let dir = root().join("fuzz").join("regressions");
    let mut n = 0;
    for t in std::fs::read_dir(&dir).unwrap() {
        for f in std::fs::read_dir(t.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            let _ = stitch::media::codec::h264::Sps::parse(&bytes);
            let _ = stitch::media::codec::h264::AvcConfig::parse(&bytes);
            if let Ok((_, mut d)) = stitch::media::demux::open(&p) {
                for _ in 0..100_000 {
                    match d.next_packet() {
                        Ok(Some(_)) => {}
                        _ => break,
                    }
                }
            }
            n += 1;
        }
    }
    assert!(n >= 2, "regression inputs found: {n}");
}
