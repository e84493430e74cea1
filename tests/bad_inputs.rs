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
    // H.264 parsers must now return errors or data, never panic; ts_join and mtslink_plan
    // inputs also go through their own API with the fuzz targets' invariants.
    let dir = root().join("fuzz").join("regressions");
    let mut n = 0;
    for t in std::fs::read_dir(&dir).unwrap() {
        let t = t.unwrap().path();
        for f in std::fs::read_dir(&t).unwrap() {
            let p = f.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            match t.file_name().and_then(|s| s.to_str()) {
                Some("ts_join") => ts_join_regression(&bytes),
                Some("mtslink_plan") => mtslink_plan_regression(&bytes),
                _ => {}
            }
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

/// fuzz/fuzz_targets/ts_join.rs's input layout: segment count, discontinuity flags, cut
/// points, TS bytes; the output must be whole packets, continuous, without null packets.
fn ts_join_regression(data: &[u8]) {
    use stitch::media::remux::tsjoin::{check_ts, TsJoiner};
    let nseg = 1 + (data[0] & 7) as usize;
    let hdr = 2 + 2 * (nseg - 1);
    let ts = &data[hdr..];
    let mut cuts: Vec<usize> = data[2..hdr]
        .chunks_exact(2)
        .map(|c| {
            let v = u16::from_le_bytes([c[0], c[1]]) as usize;
            (if v & 0x8000 != 0 { v & 0x7fff } else { v * 188 }).min(ts.len())
        })
        .collect();
    cuts.sort_unstable();
    cuts.push(ts.len());
    let mut j = TsJoiner::new(Vec::new());
    let mut start = 0;
    for (i, &end) in cuts.iter().enumerate() {
        j.push_segment(&ts[start..end], data[1] & (1 << i) != 0).unwrap();
        start = end;
    }
    let out = j.finish().unwrap();
    let c = check_ts(&out);
    assert_eq!((out.len() % 188, c.skipped_bytes, c.cc_errors), (0, 0, 0));
    assert!(!c.pids.contains_key(&0x1fff), "null packets in the output");
}

/// The plan of a record JSON must read back from its manifest and give the compiler a flow.
fn mtslink_plan_regression(data: &[u8]) {
    let Ok(p) = stitch::mtslink::plan::build_plan_from_slice(data) else { return };
    for c in &p.clips {
        assert!(c.start.is_finite() && c.start >= 0.0 && c.offset.is_finite(), "{c:?}");
    }
    let text = serde_json::to_vec(&p).unwrap();
    let back: stitch::mtslink::Plan = serde_json::from_slice(&text).unwrap();
    assert_eq!(back.clips.len(), p.clips.len());
    let flow = serde_json::to_vec(&p.to_flow_json(|c| c.file_name())).unwrap();
    if p.clips.iter().any(|c| c.length().is_none_or(|l| l > 0.0)) || p.duration.is_some() {
        stitch::mtslink::flow::parse(&flow, std::path::Path::new("/job")).unwrap();
    }
}
