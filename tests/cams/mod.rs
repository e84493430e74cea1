//! Camera fixtures for the composite tests (tests/composite_frames.rs, tests/browser.rs),
//! made with /usr/bin/ffmpeg: each camera is a 320x180, 25 fps clip of one solid colour
//! with a sine tone only in known windows, so the real speaker changes are known.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A camera of the fixture: colour, tone and the windows (seconds) in which it speaks.
pub struct Cam {
    pub file: &'static str,
    pub user: &'static str,
    pub role: Option<&'static str>,
    pub rgb: &'static str,
    pub hz: u32,
    pub speaks: &'static [(f64, f64)],
}

/// Makes the camera's clip (320x180, 25 fps, `secs` long) with its tone in its windows.
pub fn make_cam(dir: &Path, c: &Cam, secs: f64) {
    let gate: Vec<String> = c.speaks.iter().map(|(a, b)| format!("between(t\\,{a}\\,{b})")).collect();
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c={}:s=320x180:r=25:d={secs}", c.rgb))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("aevalsrc=0.3*sin(2*PI*{}*t)*({}):s=48000:d={secs}", c.hz, gate.join("+")))
        .args(["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac"])
        .arg(dir.join(c.file))
        .status()
        .expect("ffmpeg");
    assert!(st.success(), "ffmpeg could not make {}", c.file);
}

/// Writes `dir/flow.json`: every camera added at 0 s (userId = `user`, role if any).
pub fn write_flow(dir: &Path, cams: &[Cam], secs: f64) -> PathBuf {
    let ev: Vec<serde_json::Value> = cams
        .iter()
        .map(|c| {
            let mut data = serde_json::json!({"url": c.file, "kind": "camera", "userId": c.user, "userName": c.user});
            if let Some(r) = c.role {
                data["role"] = r.into();
            }
            serde_json::json!({"relativeTime": 0.0, "module": "mediasession.add", "data": data})
        })
        .collect();
    let f = serde_json::json!({"name": "frames", "duration": secs, "eventLogs": ev});
    let p = dir.join("flow.json");
    std::fs::write(&p, serde_json::to_vec_pretty(&f).unwrap()).unwrap();
    p
}

/// Every speaking window of `cams` as (from, to, participant key), by start time.
pub fn speech_windows(cams: &[Cam]) -> Vec<(f64, f64, String)> {
    let mut w: Vec<(f64, f64, String)> =
        cams.iter().flat_map(|c| c.speaks.iter().map(move |&(a, b)| (a, b, format!("user:{}", c.user)))).collect();
    w.sort_by(|a, b| a.0.total_cmp(&b.0));
    w
}
