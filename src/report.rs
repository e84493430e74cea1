//! `--json`: one machine-readable summary object per command run, printed on stdout.
//!
//! ```json
//! {"command": "compile", "ok": true, "outputs": [{"path": "out.mp4", "bytes": 123}],
//!  "duration_secs": 12.0, "frames": 300, "elapsed_secs": 2.1, "speed_x_realtime": 5.7,
//!  "clips": {"total": 8, "used": 6, "damaged": 1, "skipped": 1, "unused": 0,
//!            "items": [{"index": 0, "url": "a.mp4", "start_secs": 0.0, "status": "used",
//!                       "reason": null, "frames_shown": 120, "notes": []}]},
//!  "composite": {"frames_drawn": 10, "frames_reused": 290}, "skip_frames": 280,
//!  "stages": {...}}
//! ```
//!
//! Field names carry their unit (`_secs`, `bytes`); `stages` is the per-stage table of
//! [`media::pipeline::StageStats`] (wall and CPU seconds, frames, queue waits, the stage
//! that bounded throughput). `webinar` prints `{"command": "webinar", "ok", "records":
//! [{"link", "name", "status": "done|already_done|planned|failed", "error", ...compile
//! fields}]}`.

use std::path::{Path, PathBuf};

use media::pipeline::CompileReport;
use media::timeline::ClipStatus;
use serde_json::{json, Value};

fn status_of(s: &ClipStatus) -> (&'static str, Option<&str>) {
    match s {
        ClipStatus::Unused => ("unused", None),
        ClipStatus::Used => ("used", None),
        ClipStatus::Damaged(w) => ("damaged", Some(w.as_str())),
        ClipStatus::Skipped(w) => ("skipped", Some(w.as_str())),
        // A status a later `media` adds.
        _ => ("unknown", None),
    }
}

fn file_entry(p: &Path) -> Value {
    json!({"path": p.display().to_string(), "bytes": std::fs::metadata(p).map(|m| m.len()).ok()})
}

/// The compile fields of a summary (also used per webinar record).
pub fn compile_fields(report: &CompileReport, outputs: &[PathBuf]) -> serde_json::Map<String, Value> {
    let count = |name: &str| report.clips.iter().filter(|c| status_of(&c.status).0 == name).count();
    let items: Vec<Value> = report
        .clips
        .iter()
        .map(|c| {
            let (status, reason) = status_of(&c.status);
            json!({
                "index": c.spec.index,
                "url": c.spec.url,
                "start_secs": c.spec.start.secs_f64(),
                "status": status,
                "reason": reason,
                "frames_shown": c.frames_shown,
                "notes": c.notes,
            })
        })
        .collect();
    let speed = if report.elapsed_secs > 0.0 { report.duration_secs / report.elapsed_secs } else { 0.0 };
    let mut m = serde_json::Map::new();
    m.insert("outputs".into(), outputs.iter().map(|p| file_entry(p)).collect());
    m.insert("duration_secs".into(), json!(report.duration_secs));
    m.insert("frames".into(), json!(report.frames));
    m.insert("audio_samples".into(), json!(report.audio_samples));
    m.insert("bytes".into(), json!(report.bytes));
    m.insert("elapsed_secs".into(), json!(report.elapsed_secs));
    m.insert("speed_x_realtime".into(), json!(speed));
    m.insert(
        "clips".into(),
        json!({
            "total": report.clips.len(),
            "used": count("used"),
            "damaged": count("damaged"),
            "skipped": count("skipped"),
            "unused": count("unused"),
            "items": items,
        }),
    );
    m.insert(
        "composite".into(),
        match report.composite_frames {
            Some((drawn, reused)) => json!({"frames_drawn": drawn, "frames_reused": reused}),
            None => Value::Null,
        },
    );
    m.insert("slide_problems".into(), json!(report.slide_problems));
    m.insert("skip_frames".into(), json!(report.skipped_frames));
    m.insert("stages".into(), crate::stats::to_json(&report.stages));
    m
}

/// `stitch compile --json` after a successful run.
pub fn compile_json(report: &CompileReport, outputs: &[PathBuf]) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("command".into(), json!("compile"));
    m.insert("ok".into(), json!(true));
    m.extend(compile_fields(report, outputs));
    Value::Object(m)
}

/// `--json` after a failure: `{"command", "ok": false, "exit_code", "error"}`.
pub fn error_json(command: &str, code: u8, error: &str) -> Value {
    json!({"command": command, "ok": false, "exit_code": code, "error": error})
}

/// `stitch webinar --json`.
pub fn webinar_json(results: &[crate::webinar::RecordResult]) -> Value {
    let records: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut m = serde_json::Map::new();
            m.insert("link".into(), json!(r.link));
            m.insert("name".into(), json!(r.name));
            let status = match (&r.error, &r.output, r.already_done) {
                (Some(_), _, _) => "failed",
                (None, Some(_), true) => "already_done",
                (None, Some(_), false) => "done",
                (None, None, _) => "planned",
            };
            m.insert("status".into(), json!(status));
            m.insert("error".into(), json!(r.error));
            if let Some(rep) = &r.report {
                m.extend(compile_fields(rep, &r.outputs));
            } else {
                m.insert("outputs".into(), r.output.iter().map(|p| file_entry(p)).collect());
            }
            Value::Object(m)
        })
        .collect();
    json!({
        "command": "webinar",
        "ok": results.iter().all(|r| r.error.is_none()),
        "records": records,
    })
}
