//! `--stats`: the per-stage table of a compile ([`media::stats`]) for people and for `--json`.

use media::stats::StageStats;
use serde_json::{json, Value};

/// A table on stderr: one line per stage, then the bounding stage.
pub fn render(s: &StageStats) -> String {
    let mut out = format!(
        "stages ({:.2} s elapsed):\n  {:<8} {:>9} {:>9} {:>9} {:>9} {:>8} {:>6}\n",
        s.elapsed_secs, "stage", "wall s", "cpu s", "wait s", "items", "workers", "busy"
    );
    for f in &s.stages {
        out.push_str(&format!(
            "  {:<8} {:>9.2} {:>9.2} {:>9.2} {:>9} {:>8} {:>5.0}%\n",
            f.name,
            f.wall_secs,
            f.cpu_secs,
            f.wait_secs,
            f.items,
            f.workers,
            f.busy_share * 100.0
        ));
    }
    match s.bound {
        Some(b) => out.push_str(&format!("  throughput bounded by: {b}\n")),
        None => out.push_str("  throughput bounded by: (nothing measured)\n"),
    }
    out
}

/// The same as JSON: `{"elapsed_secs", "bound", "stages": [{"name", "wall_secs", "cpu_secs",
/// "wait_secs", "items", "workers", "busy_share"}]}`.
pub fn to_json(s: &StageStats) -> Value {
    json!({
        "elapsed_secs": s.elapsed_secs,
        "bound": s.bound,
        "stages": s.stages.iter().map(|f| json!({
            "name": f.name,
            "wall_secs": f.wall_secs,
            "cpu_secs": f.cpu_secs,
            "wait_secs": f.wait_secs,
            "items": f.items,
            "workers": f.workers,
            "busy_share": f.busy_share,
        })).collect::<Vec<_>>(),
    })
}
