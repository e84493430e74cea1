//! `--stats`: the per-stage table of a compile ([`media::stats`]) for people and for `--json`.

use media::stats::{StageFigures, StageStats};
use serde_json::{json, Value};

/// A table on stderr: one line per stage, then the bounding stage.
pub fn render(s: &StageStats) -> String {
    let mut out = format!(
        "stages ({:.2} s elapsed):\n  {:<8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8} {:>6}\n",
        s.elapsed_secs, "stage", "wall s", "cpu s", "wait s", "items", "MB", "workers", "busy"
    );
    for f in &s.stages {
        out.push_str(&format!(
            "  {:<8} {:>9.2} {:>9.2} {:>9.2} {:>9} {:>10.1} {:>8} {:>5.0}%\n",
            f.name,
            f.wall_secs,
            f.cpu_secs,
            f.wait_secs,
            f.items,
            f.bytes as f64 / 1e6,
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

/// Add the downloads of a run as the `download` stage: wall time, files, bytes and the
/// parallel limit. Its CPU time is not separable from the async runtime's (reported 0);
/// `concurrent`: the downloads overlapped the compile (webinar), so their share of the
/// compile's elapsed time competes for the bounding stage; downloads that ran before the
/// compile (http clips of `stitch compile`) are reported but cannot bound it.
pub fn with_download(
    s: StageStats,
    wall_secs: f64,
    files: u64,
    bytes: u64,
    workers: u32,
    concurrent: bool,
) -> StageStats {
    let busy_share = if concurrent && s.elapsed_secs > 0.0 { (wall_secs / s.elapsed_secs).min(1.0) } else { 0.0 };
    s.with_stage_first(StageFigures {
        name: "download",
        wall_secs,
        cpu_secs: 0.0,
        wait_secs: 0.0,
        items: files,
        workers,
        busy_share,
        bytes,
    })
}

/// The same as JSON: `{"elapsed_secs", "bound", "stages": [{"name", "wall_secs", "cpu_secs",
/// "wait_secs", "items", "workers", "busy_share", "bytes"}]}`.
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
            "bytes": f.bytes,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_line_up_and_download_comes_first() {
        let mux = StageFigures {
            name: "mux",
            wall_secs: 2.0,
            cpu_secs: 0.5,
            wait_secs: 1.5,
            items: 50,
            workers: 1,
            busy_share: 0.25,
            bytes: 3_000_000,
        };
        let s = StageStats { elapsed_secs: 2.0, stages: vec![mux], bound: Some("mux") };
        let s = with_download(s, 1.9, 4, 8_000_000, 3, true);
        assert_eq!(s.stages[0].name, "download");
        assert_eq!(s.bound, Some("download"), "downloads that span the run bound it: {s:?}");
        let t = render(&s);
        let lines: Vec<&str> = t.lines().collect();
        let header = lines[1];
        let mux_line = lines[3];
        for col in ["MB", "workers", "busy"] {
            assert!(header.contains(col), "{header}");
        }
        // Every column ends where its header ends.
        assert_eq!(header.len(), mux_line.len(), "{t}");
        assert!(mux_line.contains("3.0") && mux_line.contains("25%"), "{t}");
        assert!(t.ends_with("throughput bounded by: download\n"), "{t}");
        let j = to_json(&s);
        assert_eq!(j["stages"][0]["bytes"], 8_000_000);
        assert_eq!(j["bound"], "download");
    }
}
