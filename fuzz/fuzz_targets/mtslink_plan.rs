//! MTS Link record JSON -> plan (`src/mtslink/plan.rs`) on arbitrary bytes: build the plan,
//! then everything done with it without I/O: the manifest round trip (serde, as
//! `write_manifest`/`read_manifest` do), `file_name`/`length`/`timeline_end` of every clip,
//! and `to_flow_json`, which the compiler's flow parser (`media::timeline::Flow::parse`)
//! must accept.
//!
//! The module depends only on std, serde, serde_json and thiserror, so it is included by path
//! (like `m3u8`) instead of depending on the whole `stitch` crate.
//!
//! Invariants checked besides "no panic" (documented on `Plan` / `PlanClip` / `to_flow_json`):
//! - clips sorted by start, slides by start, chat by time; cuts in time order, each with
//!   end > start, not overlapping;
//! - every clip's start is a finite timeline position >= 0, its length (when known) >= 0;
//! - `file_name()` is a bare file name in the job folder (`chunk_...`, no path separator);
//! - the plan survives the manifest round trip (serialize + deserialize);
//! - `to_flow_json` lists exactly the clips with a non-zero length, and when it lists one
//!   (or the record has a duration) `Flow::parse` accepts it with the same number of clips.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use media::timeline::flow::Flow;

#[allow(dead_code)]
#[path = "../../src/mtslink/plan.rs"]
mod plan;

use plan::{build_plan_from_slice, Plan};

fn sorted_by<T>(v: &[T], key: impl Fn(&T) -> f64) -> bool {
    v.windows(2).all(|w| key(&w[0]).total_cmp(&key(&w[1])).is_le())
}

fuzz_target!(|data: &[u8]| {
    let Ok(p) = build_plan_from_slice(data) else { return };

    assert!(sorted_by(&p.clips, |c| c.start), "clips not sorted by start");
    assert!(sorted_by(&p.slides, |s| s.start), "slides not sorted by start");
    assert!(sorted_by(&p.chat, |m| m.time), "chat not sorted by time");
    for w in p.cuts.windows(2) {
        assert!(w[0].end < w[1].start, "cuts overlap or out of order: {:?}", p.cuts);
    }
    for c in &p.cuts {
        assert!(c.end > c.start, "empty cut {c:?}");
    }
    if let Some(d) = p.duration {
        assert!(d >= 0.0 && d.is_finite(), "duration {d}");
    }
    for c in &p.clips {
        assert!(c.start.is_finite() && c.start >= 0.0, "clip {} starts at {}", c.id, c.start);
        if let Some(l) = c.length() {
            assert!(l >= 0.0, "clip {} has length {l}", c.id);
            let _ = c.timeline_end();
        }
        let f = c.file_name();
        assert!(f.starts_with("chunk_") && !f.contains(['/', '\\']), "bad file name {f:?}");
        assert!(f.len() <= 6 + 40 + 1 + 80, "file name too long: {f:?}");
    }

    // Manifest round trip (write_manifest / read_manifest without the files).
    let text = serde_json::to_vec_pretty(&p).expect("plan does not serialize");
    let back: Plan = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("manifest does not read back: {e}"));
    assert_eq!(back.clips.len(), p.clips.len());
    assert_eq!(back.participants, p.participants);

    // The flow JSON for the compiler.
    let flow = p.to_flow_json(|c| c.file_name());
    let listed = p.clips.iter().filter(|c| c.length().is_none_or(|l| l > 0.0)).count();
    let logs = flow["eventLogs"].as_array().expect("flow without eventLogs");
    assert_eq!(logs.len(), listed);
    let bytes = serde_json::to_vec(&flow).expect("flow does not serialize");
    if listed > 0 || p.duration.is_some() {
        match Flow::parse(&bytes, Path::new("/job")) {
            Ok(f) => assert_eq!(f.clips.len(), listed),
            Err(e) => panic!("the compiler rejects the plan's flow JSON: {e}"),
        }
    }
});
