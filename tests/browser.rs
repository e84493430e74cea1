//! A real player (issue 13, point 4): headless Chromium (Debian's `chromium`, which plays
//! H.264/AAC) driven by `tests/browser/play.mjs` (puppeteer-core) plays what stitch writes:
//! the compile, sidebar composite and record MP4 outputs with `<video>`, the compile and
//! record TS outputs through hls.js (a one-segment VOD playlist), all from a loopback HTTP
//! server the script starts. Per file:
//! - no `error` event (media element, or a fatal hls.js error) and `ended` is reached;
//! - `duration` is the same from `loadedmetadata` to `ended` (every `durationchange` is
//!   recorded) and equals ffprobe's within one frame;
//! - 5 seeks each paint the picture ffmpeg decodes at that time (4x4 grid of mean colours).
//!
//! The composites are also watched as a viewer sees them (issue 13, point 1): a window of
//! each is played in real time (rate 1) and every presented frame is captured with
//! `requestVideoFrameCallback`; the mean colour of the main area (and of the first tile)
//! names the camera shown there (the nearest of the cameras' own colours, as ffmpeg decodes
//! their clips). Per window: at least [`MIN_PRESENTED`] of its frames presented and
//! captured, and at most one main-area owner change per real speaker change in the flow
//! (the main area and the first tile used to swap owners on every frame, 12.5 Hz, while two
//! cameras without roles spoke at once). Windows: `flow_basic` sidebar 6-9 s (clips b and
//! e overlap), and a two-camera flow without roles made here (tests/cams), sidebar and
//! pip, 1-7 s, in which the tile must show the other camera in every frame.
//! Measured (headless Chromium 156, 640x360, 25 fps): 148-149 of 150 and 74 of 75 frames
//! captured, 24.6-24.9 fps, none dropped; 1 owner change in each window.
//! Checked once: with the old choice of the main-area camera restored in
//! media/src/compose/compositor.rs (`max_by_key((presenter, Reverse(slot_of(key))))`, before
//! e4f9a39), this test fails: 25 owner changes at 6.92-7.88 s in flow_basic (2 allowed), 63
//! at 1.48-3.96 s in each two-camera window (1 allowed).
//!
//! Chromium, node and the npm packages come from `.ci/setup.sh`; without them the test
//! fails under `CI` and is skipped with a note elsewhere.

mod cams;
mod common;
mod hls_origin;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use stitch::media::compose::layout::{place, LayoutKind, Rect};

/// Largest mean absolute RGB difference of one grid cell between Chromium's painted picture
/// and ffmpeg's decode of the same frame: `<video src=mp4>` decodes and converts like
/// ffmpeg (measured <= 2); the MSE path of hls.js converts the untagged colours a little
/// differently (measured 3-16 on the saturated ramp).
const PICTURE_TOL_MP4: f64 = 12.0;
const PICTURE_TOL_HLS: f64 = 25.0;
/// Media Source durations are whole microseconds in Chromium: a playlist duration and the
/// buffered end it is replaced with at end of stream may differ by that rounding.
const MSE_DURATION_SLACK: f64 = 1e-3;
const GRID: usize = 4;
/// Size of every output played here.
const W: u32 = 640;
const H: u32 = 360;
/// Least share of a watched window's frames that must be presented and captured at rate 1.
const MIN_PRESENTED: f64 = 0.8;
/// Largest RGB distance between a watched region's mean colour and the camera it is taken
/// for (flat colours: Chromium and ffmpeg agree within a few units).
const OWNER_TOL: f64 = 40.0;
/// How long after a real speaker change the main area may follow it: the speaking flag's
/// 1 s hold plus the default `--switch-hold` of 2 s.
const FOLLOW_SECS: f64 = 3.0;

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn browser_dir() -> PathBuf {
    common::root().join("tests").join("browser")
}

/// What is missing to run the test, if anything.
fn missing() -> Option<String> {
    if !chromium().exists() {
        return Some(format!("{} not found", chromium().display()));
    }
    if !Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Some("node not found".into());
    }
    for m in ["puppeteer-core", "hls.js"] {
        if !browser_dir().join("node_modules").join(m).join("package.json").exists() {
            return Some(format!("tests/browser/node_modules/{m} not installed"));
        }
    }
    None
}

/// ffprobe facts about one file.
struct Probe {
    /// Video frames' presentation times, in order.
    frames: Vec<f64>,
    /// Largest packet pts + duration over all streams.
    end: f64,
    /// Smallest packet dts over all streams.
    min_dts: f64,
    /// Frame duration of the video.
    frame_dur: f64,
    width: usize,
    height: usize,
}

fn probe(path: &Path) -> Probe {
    let info = common::ffprobe(path);
    let v = info["streams"].as_array().unwrap().iter().find(|s| s["codec_type"] == "video").expect("video stream");
    let (width, height) = (v["width"].as_u64().unwrap() as usize, v["height"].as_u64().unwrap() as usize);
    let rate: Vec<f64> = v["avg_frame_rate"].as_str().unwrap().split('/').map(|x| x.parse().unwrap()).collect();
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "packet=pts_time,dts_time,duration_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let (mut end, mut min_dts) = (f64::NEG_INFINITY, f64::INFINITY);
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let f: Vec<f64> = line.split(',').take(3).filter_map(|x| x.parse().ok()).collect();
        if let [pts, dts, dur] = f[..] {
            end = end.max(pts + dur);
            min_dts = min_dts.min(dts);
        }
    }
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let frames = String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.trim_matches(',').parse().ok()).collect();
    Probe { frames, end, min_dts, frame_dur: rate[1] / rate[0], width, height }
}

/// ffmpeg's decode of video frame `n` as a GRIDxGRID grid of mean RGB (cell bounds as in
/// play.mjs).
fn ffmpeg_grid(path: &Path, n: usize, w: usize, h: usize) -> Vec<[f64; 3]> {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-an",
            "-vf",
            &format!("select=eq(n\\,{n})"),
            "-frames:v",
            "1",
            "-pix_fmt",
            "rgb24",
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.stdout.len(),
        w * h * 3,
        "ffmpeg frame {n} of {}: {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut cells = Vec::new();
    for gy in 0..GRID {
        for gx in 0..GRID {
            let (x0, x1) = (gx * w / GRID, (gx + 1) * w / GRID);
            let (y0, y1) = (gy * h / GRID, (gy + 1) * h / GRID);
            let mut s = [0f64; 3];
            for y in y0..y1 {
                for x in x0..x1 {
                    for (c, v) in s.iter_mut().enumerate() {
                        *v += o.stdout[(y * w + x) * 3 + c] as f64;
                    }
                }
            }
            let k = ((x1 - x0) * (y1 - y0)) as f64;
            cells.push(s.map(|v| v / k));
        }
    }
    cells
}

/// Largest per-cell mean absolute channel difference.
fn grid_diff(a: &[[f64; 3]], b: &[[f64; 3]]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (0..3).map(|c| (x[c] - y[c]).abs()).sum::<f64>() / 3.0).fold(0.0, f64::max)
}

struct Item {
    name: &'static str,
    file: PathBuf,
    hls: bool,
    seeks: Vec<f64>,
    watch: Vec<Watch>,
}

/// A window of a composite played in real time, every presented frame captured.
struct Watch {
    from: f64,
    to: f64,
    layout: LayoutKind,
    /// Who can be on screen: a name and its colour (RGB, as ffmpeg decodes its clip).
    refs: Vec<(String, [f64; 3])>,
    /// The flow's speaking windows (from, to, who), by start.
    speech: Vec<(f64, f64, String)>,
    /// The first tile is shown throughout and must show another camera than the main area.
    tile: bool,
    /// The main area's owners in order over the window.
    owners: Vec<String>,
}

impl Watch {
    /// The main area and the first tile when the composite has one tile.
    fn rects(&self) -> (Rect, Rect) {
        let p = place(self.layout, W, H, true, 1, false);
        (p.main.unwrap(), p.tiles[0])
    }

    /// Real speaker changes the main area may follow inside the window: changes of who
    /// speaks (consecutive speaking windows of different people) from [`FOLLOW_SECS`]
    /// before the window's start to its end.
    fn real_changes(&self) -> usize {
        self.speech
            .windows(2)
            .filter(|w| w[0].2 != w[1].2 && w[1].0 > self.from - FOLLOW_SECS && w[1].0 < self.to)
            .count()
    }
}

/// The part of `r` sampled for its colour: the middle half of the width, from a fifth to
/// half of the height (letterbox bars, edges and the name label stay outside), as
/// [x, y, w, h].
fn sample_rect(r: Rect) -> [u32; 4] {
    [r.x + r.w / 4, r.y + r.h / 5, r.w / 2, r.h / 2 - r.h / 5]
}

/// Mean RGB of ffmpeg's decode of frame 10 of `clip` (one flat colour).
fn clip_rgb(clip: &Path) -> [f64; 3] {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(clip)
        .args(["-an", "-vf", "select=eq(n\\,10),scale=16:16", "-frames:v", "1", "-pix_fmt", "rgb24", "-f", "rawvideo"])
        .arg("-")
        .output()
        .unwrap();
    assert_eq!(o.stdout.len(), 16 * 16 * 3, "{}: {}", clip.display(), String::from_utf8_lossy(&o.stderr));
    let mut s = [0f64; 3];
    for px in o.stdout.chunks_exact(3) {
        for c in 0..3 {
            s[c] += px[c] as f64 / 256.0;
        }
    }
    s
}

fn rgb_dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    (0..3).map(|c| (a[c] - b[c]) * (a[c] - b[c])).sum::<f64>().sqrt()
}

fn rgb_of(v: &Value) -> [f64; 3] {
    let a = v.as_array().unwrap();
    [a[0].as_f64().unwrap(), a[1].as_f64().unwrap(), a[2].as_f64().unwrap()]
}

/// Judges one watched window; returns its failures.
fn judge_watch(name: &str, w: &Watch, pr: &Probe, res: &Value) -> Vec<String> {
    let what = format!("{name} {:.1}-{:.1} s at rate 1", w.from, w.to);
    let mut failures = Vec::new();
    let eps = 1e-3;
    let frames: Vec<&Value> = res["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["t"].as_f64().is_some_and(|t| t >= w.from - eps && t < w.to - eps))
        .collect();
    let expected = pr.frames.iter().filter(|&&t| t >= w.from - eps && t < w.to - eps).count();
    let presented = match (frames.first(), frames.last()) {
        (Some(a), Some(b)) => b["presented"].as_u64().unwrap() - a["presented"].as_u64().unwrap() + 1,
        _ => 0,
    };
    let wall = match (frames.first(), frames.last()) {
        (Some(a), Some(b)) => (b["now"].as_f64().unwrap() - a["now"].as_f64().unwrap()) / 1000.0,
        _ => 0.0,
    };
    let rate = if wall > 0.0 { (frames.len() as f64 - 1.0) / wall } else { 0.0 };
    eprintln!(
        "{what}: captured {} of {expected} frames ({presented} presented, {:.1} fps over {wall:.2} s; \
         element: {} decoded, {} dropped)",
        frames.len(),
        rate,
        res["decoded"],
        res["dropped"]
    );
    if (frames.len() as f64) < MIN_PRESENTED * expected as f64 {
        failures.push(format!(
            "{what}: only {} of the window's {expected} frames presented and captured ({presented} presented)",
            frames.len()
        ));
    }
    let owner_of = |c: [f64; 3]| {
        w.refs.iter().map(|(k, r)| (k.as_str(), rgb_dist(*r, c))).min_by(|a, b| a.1.total_cmp(&b.1)).unwrap()
    };
    let mut owners: Vec<(f64, &str)> = Vec::new();
    let mut unknown = Vec::new();
    for f in &frames {
        let t = f["t"].as_f64().unwrap();
        let (main, d) = owner_of(rgb_of(&f["main"]));
        if d > OWNER_TOL {
            unknown.push(format!("main at {t:.3} s: {:?} (nearest {main}, {d:.1})", rgb_of(&f["main"])));
        }
        owners.push((t, main));
        if w.tile {
            let (tile, d) = owner_of(rgb_of(&f["tile"]));
            if d > OWNER_TOL || tile == main {
                unknown.push(format!("tile at {t:.3} s shows {tile} ({d:.1}), the main area {main}"));
            }
        }
    }
    if !unknown.is_empty() {
        failures.push(format!(
            "{what}: {} frames not as expected: {:?}",
            unknown.len(),
            &unknown[..unknown.len().min(8)]
        ));
    }
    let changes: Vec<String> = owners
        .windows(2)
        .filter(|p| p[0].1 != p[1].1)
        .map(|p| format!("{:.2} s {} -> {}", p[1].0, p[0].1, p[1].1))
        .collect();
    let real = w.real_changes();
    eprintln!("{what}: {} main-area owner changes (real speaker changes: {real}): {changes:?}", changes.len());
    if changes.len() > real {
        failures.push(format!(
            "{what}: the main area changed owner {} times in {} presented frames, the flow has {real} real speaker \
             change(s) there (flicker): {:?}",
            changes.len(),
            frames.len(),
            &changes[..changes.len().min(12)]
        ));
    }
    let mut seq: Vec<&str> = owners.iter().map(|o| o.1).collect();
    seq.dedup();
    if changes.len() <= real && seq != w.owners {
        failures.push(format!("{what}: main-area owners {seq:?}, want {:?}", w.owners));
    }
    failures
}

/// The file time shown at element time `t`, and the duration the element must report.
/// MP4: the file's own timeline (edit lists applied). TS through hls.js: hls.js binds the
/// timeline's 0 to the lowest DTS of the first segment (mp4-remuxer.ts: "Bind initPTS to
/// the lowest DTS across tracks to prevent negative timestamps"), so the element shows TS
/// time `t + min_dts` and lasts until the last packet's end.
fn timeline(p: &Probe, hls: bool) -> (f64, f64) {
    if hls {
        (p.min_dts, p.end - p.min_dts)
    } else {
        (0.0, p.end)
    }
}

#[test]
fn outputs_play_in_chromium() {
    if let Some(why) = missing() {
        assert!(std::env::var_os("CI").is_none(), "CI needs the browser test's tools (.ci/setup.sh): {why}");
        eprintln!("NOTE: browser test skipped: {why} (run .ci/setup.sh)");
        return;
    }
    assert!(common::have_ffmpeg(), "the browser test needs ffmpeg/ffprobe as its oracle");
    let dir = common::scratch("browser");
    let flow = common::testdata("flow_basic.json");
    let flow = flow.to_str().unwrap();
    let run = |args: &[&str]| {
        let o = common::stitch(args);
        assert!(o.status.success(), "stitch {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    run(&["compile", flow, "-o", &p("compile.mp4"), "--size", "640x360", "-q"]);
    run(&["compile", flow, "-o", &p("composite.mp4"), "--size", "640x360", "--layout", "sidebar", "-q"]);
    run(&["compile", flow, "-o", &p("compile.ts"), "--size", "640x360", "-q"]);
    // Two cameras without roles (red and blue): a speaks 0-3 s, b 1.5-8 s. Both speak at
    // 1.5-4 s (a's speaking flag holds 1 s), where the main area used to swap on every
    // frame; b leads from 4 s and takes the main area at 6 s.
    let two = [
        cams::Cam { file: "red.mp4", user: "1", role: None, rgb: "#d02020", hz: 440, speaks: &[(0.0, 3.0)] },
        cams::Cam { file: "blue.mp4", user: "2", role: None, rgb: "#2040d0", hz: 660, speaks: &[(1.5, 8.0)] },
    ];
    for c in &two {
        cams::make_cam(&dir, c, 8.0);
    }
    let two_flow = cams::write_flow(&dir, &two, 8.0);
    let two_flow = two_flow.to_str().unwrap();
    for layout in ["sidebar", "pip"] {
        run(&[
            "compile",
            two_flow,
            "-o",
            &p(&format!("two_{layout}.mp4")),
            "--size",
            "640x360",
            "--layout",
            layout,
            "-q",
        ]);
    }
    let two_watch = |layout: LayoutKind| Watch {
        from: 1.0,
        to: 7.0,
        layout,
        refs: two.iter().map(|c| (format!("user:{}", c.user), clip_rgb(&dir.join(c.file)))).collect(),
        speech: cams::speech_windows(&two),
        tile: true,
        owners: vec!["user:1".into(), "user:2".into()],
    };
    // flow_basic, sidebar, 6-9 s: b (4.87-7.87 s) alone, then e from 6.87 s beside it, then e
    // alone. Speaking windows: the clips' tones (testdata/README.md) at their relativeTime.
    let basic_refs = ["a_high_bframes.mp4", "b_other_res.mp4", "d_video_only.mp4", "e_clip.ts", "f_fragmented.mp4"]
        .iter()
        .map(|f| (f.to_string(), clip_rgb(&common::testdata(f))))
        .chain(std::iter::once(("black".to_string(), [0.0; 3])))
        .collect();
    let basic_watch = Watch {
        from: 6.0,
        to: 9.0,
        layout: LayoutKind::Sidebar,
        refs: basic_refs,
        speech: vec![
            (0.5, 4.5, "a_high_bframes.mp4".into()),
            (4.87, 7.87, "b_other_res.mp4".into()),
            (6.87 + 0.0215, 6.87 + 3.0212, "e_clip.ts".into()),
            (9.0, 12.0, "c_audio_only.m4a".into()),
        ],
        tile: false,
        owners: vec!["b_other_res.mp4".into(), "e_clip.ts".into()],
    };
    let (_clip, origin) = hls_origin::ramp_vod(&dir, 8);
    let url = origin.url("/index.m3u8");
    run(&["record", &url, "--format", "mp4", "-o", &p("record.mp4"), "--retries", "3", "-q"]);
    run(&["record", &url, "--format", "ts", "-o", &p("record.ts"), "--retries", "3", "-q"]);

    // flow_basic: one flat colour per clip; these instants lie inside clips a, b, e, d, f.
    let flow_seeks = vec![2.0, 5.9, 8.0, 12.0, 15.5];
    // The ramp's hue turns 40 degrees a second.
    let ramp_seeks = vec![0.5, 2.02, 4.5, 6.3, 7.9];
    let items = [
        Item {
            name: "compile_mp4",
            file: dir.join("compile.mp4"),
            hls: false,
            seeks: flow_seeks.clone(),
            watch: vec![],
        },
        Item {
            name: "composite_mp4",
            file: dir.join("composite.mp4"),
            hls: false,
            seeks: flow_seeks.clone(),
            watch: vec![basic_watch],
        },
        Item {
            name: "two_sidebar_mp4",
            file: dir.join("two_sidebar.mp4"),
            hls: false,
            seeks: vec![],
            watch: vec![two_watch(LayoutKind::Sidebar)],
        },
        Item {
            name: "two_pip_mp4",
            file: dir.join("two_pip.mp4"),
            hls: false,
            seeks: vec![],
            watch: vec![two_watch(LayoutKind::Pip)],
        },
        Item { name: "compile_ts", file: dir.join("compile.ts"), hls: true, seeks: flow_seeks, watch: vec![] },
        Item { name: "record_mp4", file: dir.join("record.mp4"), hls: false, seeks: ramp_seeks.clone(), watch: vec![] },
        Item { name: "record_ts", file: dir.join("record.ts"), hls: true, seeks: ramp_seeks, watch: vec![] },
    ];
    for w in items.iter().flat_map(|i| &i.watch) {
        let (main, tile) = w.rects();
        let [x, y, ww, hh] = sample_rect(main);
        assert!(!Rect::new(x, y, ww, hh).intersects(&tile), "{}: the main area's sample covers the tile", w.layout);
        for (i, a) in w.refs.iter().enumerate() {
            for b in &w.refs[i + 1..] {
                assert!(rgb_dist(a.1, b.1) > 2.0 * OWNER_TOL, "fixture colours too close: {a:?} {b:?}");
            }
        }
    }
    let probes: Vec<Probe> = items.iter().map(|i| probe(&i.file)).collect();
    let spec = json!({
        "dir": dir,
        "rate": 8,
        "timeout_secs": 40,
        "items": items.iter().zip(&probes).map(|(i, pr)| json!({
            "name": i.name,
            "path": i.file.file_name().unwrap().to_str().unwrap(),
            "kind": if i.hls { "hls" } else { "mp4" },
            // The playlist says how long the segment plays in hls.js's timeline.
            "extinf": timeline(pr, i.hls).1,
            "seeks": i.seeks,
            "watch": i.watch.iter().map(|w| {
                let (main, tile) = w.rects();
                let mut rects = json!({"main": sample_rect(main)});
                if w.tile {
                    rects["tile"] = json!(sample_rect(tile));
                }
                json!({"from": w.from, "to": w.to, "rects": rects})
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    let mut cmd = Command::new("node");
    cmd.arg(browser_dir().join("play.mjs")).arg(&spec_path).env("CHROMIUM", chromium());
    let r = common::run_limited(cmd, Duration::from_secs(100), &dir, "play");
    assert!(!r.timed_out, "play.mjs timed out after {:.0} s: {}", r.secs, r.stderr);
    assert!(r.status.is_some_and(|s| s.success()), "play.mjs failed: {}", r.stderr);
    let out: Value = serde_json::from_slice(&r.stdout).unwrap_or_else(|e| panic!("play.mjs output: {e}: {}", r.stderr));
    eprintln!("{} played {} files in {:.1} s", out["browser"], items.len(), r.secs);

    let mut failures = Vec::new();
    for ((item, pr), res) in items.iter().zip(&probes).zip(out["items"].as_array().unwrap()) {
        let name = item.name;
        let (shift, want) = timeline(pr, item.hls);
        let errors = res["errors"].as_array().cloned().unwrap_or_default();
        if !errors.is_empty() {
            failures.push(format!("{name}: errors {errors:?}"));
        }
        if res["ended"] != json!(true) {
            failures.push(format!("{name}: did not play to the end"));
        }
        // Every duration the element ever reported.
        let mut seen: Vec<f64> =
            res["durations"].as_array().unwrap().iter().filter_map(|d| d["duration"].as_f64()).collect();
        seen.extend(res["loaded_duration"].as_f64());
        seen.extend(res["ended_duration"].as_f64());
        let changes: Vec<String> =
            res["durations"].as_array().unwrap().iter().map(|d| format!("{}@{}ms", d["duration"], d["ms"])).collect();
        eprintln!("{name}: durations {changes:?}, ffprobe {want:.6}, warnings {}", res["warnings"]);
        let lo = seen.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = seen.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let slack = if item.hls { MSE_DURATION_SLACK } else { 1e-6 };
        if seen.is_empty() || hi - lo > slack {
            failures.push(format!("{name}: duration changed during playback: {changes:?}"));
        }
        if (hi - want).abs() > pr.frame_dur || (lo - want).abs() > pr.frame_dur {
            failures.push(format!("{name}: duration {lo}..{hi} s, ffprobe {want} s (> one frame apart)"));
        }
        // Seeks.
        let seeks = res["seeks"].as_array().unwrap();
        if seeks.len() != item.seeks.len() {
            failures.push(format!("{name}: {} of {} seeks done", seeks.len(), item.seeks.len()));
        }
        let tol = if item.hls { PICTURE_TOL_HLS } else { PICTURE_TOL_MP4 };
        let mut expected = Vec::new();
        for s in seeks {
            let t = s["t"].as_f64().unwrap();
            let file_t = t + shift;
            let n = pr.frames.iter().rposition(|&f| f <= file_t + 1e-6).unwrap_or(0);
            let want = ffmpeg_grid(&item.file, n, pr.width, pr.height);
            let got: Vec<[f64; 3]> = s["grid"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let c = c.as_array().unwrap();
                    [c[0].as_f64().unwrap(), c[1].as_f64().unwrap(), c[2].as_f64().unwrap()]
                })
                .collect();
            let d = grid_diff(&got, &want);
            eprintln!("  seek {t:>5.2} s (frame {n} at {:.3} s): difference {d:.1}", pr.frames.get(n).unwrap_or(&-1.0));
            if got.len() != GRID * GRID || d > tol {
                failures.push(format!(
                    "{name}: seek to {t} s painted {got:?}, ffmpeg's frame {n} is {want:?} (difference {d:.1})"
                ));
            }
            expected.push(want);
        }
        // Real-time windows.
        let watched = res["watches"].as_array().cloned().unwrap_or_default();
        if watched.len() != item.watch.len() {
            failures.push(format!("{name}: {} of {} windows watched", watched.len(), item.watch.len()));
        }
        for (w, r) in item.watch.iter().zip(&watched) {
            failures.extend(judge_watch(name, w, pr, r));
        }
        // The fixture must make a wrong picture visible: the 5 expected pictures differ.
        for i in 0..expected.len() {
            for j in i + 1..expected.len() {
                assert!(
                    grid_diff(&expected[i], &expected[j]) > 2.0 * PICTURE_TOL_HLS,
                    "{name}: seeks {i} and {j} expect similar pictures; the fixture cannot tell them apart"
                );
            }
        }
    }
    assert!(failures.is_empty(), "browser playback:\n{}", failures.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
