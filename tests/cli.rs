//! The command line as a user meets it: outputs never destroy inputs, the container follows
//! the extension, exit codes, `--json`, `--stats`, `--version`, completions and the man page.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A copy of one fixture clip and a flow naming it (in a scratch folder of its own).
fn setup(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = scratch(&format!("cli-{name}"));
    let clip = dir.join("clip.mp4");
    std::fs::copy(testdata("a_high_bframes.mp4"), &clip).unwrap();
    let flow = dir.join("flow.json");
    let json = serde_json::json!({"name": "cli", "duration": 1.0,
        "eventLogs": [{"relativeTime": 0, "data": {"url": "clip.mp4"}}]});
    std::fs::write(&flow, serde_json::to_vec(&json).unwrap()).unwrap();
    (dir, flow, clip)
}

fn fast<'a>(flow: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["compile", flow.to_str().unwrap(), "-o", out.to_str().unwrap(), "--size", "160x90", "-q"];
    v.extend_from_slice(extra);
    v
}

fn hash(p: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(p).unwrap().hash(&mut h);
    h.finish()
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let (dir, flow, clip) = setup("same");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::os::unix::fs::symlink(&clip, dir.join("link.mp4")).unwrap();
    std::fs::hard_link(&clip, dir.join("hard.mp4")).unwrap();
    let (flow_hash, clip_hash) = (hash(&flow), hash(&clip));
    let cases: Vec<(PathBuf, Vec<&str>, &str)> = vec![
        (flow.clone(), vec!["--format", "mp4", "--force"], "flow"),
        (clip.clone(), vec!["--force"], "clip"),
        (dir.join("link.mp4"), vec!["--force"], "clip"),
        (dir.join("hard.mp4"), vec!["--force"], "clip"),
        (dir.join("sub/../clip.mp4"), vec!["--force"], "clip"),
    ];
    for (out, extra, what) in cases {
        let o = stitch(&fast(&flow, &out, &extra));
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{}: exit 2: {err}", out.display());
        assert!(err.contains("same file as the") && err.contains(what), "{}: {err}", out.display());
        assert_eq!(hash(&flow), flow_hash, "the flow is unchanged");
        assert_eq!(hash(&clip), clip_hash, "the clip is unchanged");
    }
}

#[test]
fn an_existing_output_needs_force() {
    let (dir, flow, _) = setup("exists");
    let out = dir.join("out.mp4");
    std::fs::write(&out, b"precious").unwrap();
    let o = stitch(&fast(&flow, &out, &[]));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("already exists") && stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    for flag in ["--force", "-y"] {
        let o = stitch(&fast(&flow, &out, &[flag]));
        assert_eq!(code(&o), 0, "{flag}: {}", stderr(&o));
        assert_eq!(&std::fs::read(&out).unwrap()[4..8], b"ftyp");
    }
    // A folder is never an output.
    let o = stitch(&fast(&flow, &dir, &["--force", "--format", "mp4"]));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("is a folder"), "{}", stderr(&o));
}

fn is_ts(b: &[u8]) -> bool {
    b.len() >= 188 * 4 && b.chunks(188).all(|p| p[0] == 0x47)
}

fn is_mp4(b: &[u8]) -> bool {
    b.len() > 8 && &b[4..8] == b"ftyp"
}

#[test]
fn the_container_follows_the_extension() {
    let (dir, flow, _) = setup("ext");
    for (ext, mp4) in [("mp4", true), ("m4v", true), ("mov", true), ("ts", false), ("m2ts", false), ("mts", false)] {
        let right = if mp4 { "mp4" } else { "ts" };
        let wrong = if mp4 { "ts" } else { "mp4" };
        for format in [None, Some(right)] {
            let out = dir.join(format!("o-{}.{ext}", format.is_some()));
            let mut extra = vec![];
            if let Some(f) = format {
                extra = vec!["--format", f];
            }
            let o = stitch(&fast(&flow, &out, &extra));
            assert_eq!(code(&o), 0, "{ext} {format:?}: {}", stderr(&o));
            let b = std::fs::read(&out).unwrap();
            assert_eq!(is_mp4(&b), mp4, "{ext}: MP4 signature");
            assert_eq!(is_ts(&b), !mp4, "{ext}: 0x47 every 188 bytes");
        }
        let out = dir.join(format!("wrong.{ext}"));
        let o = stitch(&fast(&flow, &out, &["--format", wrong]));
        assert_eq!(code(&o), 2, "{ext} --format {wrong}");
        assert!(stderr(&o).contains("contradicts"), "{}", stderr(&o));
        assert!(!out.exists());
    }
    for name in ["x.mkv", "noext"] {
        let out = dir.join(name);
        let o = stitch(&fast(&flow, &out, &[]));
        assert_eq!(code(&o), 2, "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains("--format"), "{}", stderr(&o));
        assert!(!out.exists());
        let o = stitch(&fast(&flow, &out, &["--format", "ts"]));
        assert_eq!(code(&o), 0, "{name} --format ts: {}", stderr(&o));
        assert!(is_ts(&std::fs::read(&out).unwrap()));
    }
}

#[test]
fn exit_codes() {
    let (dir, flow, _) = setup("codes");
    let out = dir.join("out.mp4");
    let f = flow.to_str().unwrap();
    let o = out.to_str().unwrap();
    // Usage: 2, with a message that says what is allowed.
    for (args, needle) in [
        (vec!["compile", f, "-o", o, "--fps", "0"], "above 0 and at most 120"),
        (vec!["compile", f, "-o", o, "--fps", "500"], "at most 120"),
        (vec!["compile", f, "-o", o, "--threads", "0"], "--threads must be at least 1"),
        (vec!["compile", f, "-o", o, "--start=-1"], "--start must be a non-negative"),
        (vec!["compile", f, "-o", o, "--start", "30"], "beyond the end"),
        (vec!["compile", f, "-o", o, "--size", "17x9"], "must be even"),
        (vec!["compile", f, "-o", o, "--no-such-flag"], "unexpected argument"),
        (vec!["compile", f], "--output"),
        (vec!["webinar", "--threads", "0", "https://my.mts-link.ru/1/2/record-new/3/record-file/4"], "--threads"),
    ] {
        let r = stitch(&args);
        assert_eq!(code(&r), 2, "{args:?}: {}", stderr(&r));
        assert!(stderr(&r).contains(needle), "{args:?}: '{needle}' in {}", stderr(&r));
        assert!(!out.exists(), "{args:?}: nothing written");
    }
    // Runtime failures: 1, each cause printed once.
    let missing = dir.join("missing.json");
    let r = stitch(&["compile", missing.to_str().unwrap(), "-o", o]);
    assert_eq!(code(&r), 1, "{}", stderr(&r));
    let e = stderr(&r);
    assert_eq!(e.matches("No such file or directory").count(), 1, "one cause, once: {e}");
    // A flow whose only clip is missing: nothing usable is a failure, and no file.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"eventLogs": [{"relativeTime": 0, "data": {"url": "nope.mp4"}}]}"#).unwrap();
    let r = stitch(&["compile", bad.to_str().unwrap(), "-o", o, "-q"]);
    assert_eq!(code(&r), 1, "{}", stderr(&r));
    assert!(stderr(&r).contains("no clip could be used"), "{}", stderr(&r));
    assert!(!out.exists());
    // Clips that all lie outside the compiled window: also nothing usable.
    let late = dir.join("late.json");
    std::fs::write(&late, r#"{"duration": 20, "eventLogs": [{"relativeTime": 10, "data": {"url": "clip.mp4"}}]}"#)
        .unwrap();
    let r = stitch(&["compile", late.to_str().unwrap(), "-o", o, "--max-duration", "2", "-q", "--size", "160x90"]);
    assert_eq!(code(&r), 1, "{}", stderr(&r));
    assert!(stderr(&r).contains("no clip"), "{}", stderr(&r));
    // A flow with no clips at all.
    let empty = dir.join("empty.json");
    std::fs::write(&empty, r#"{"eventLogs": []}"#).unwrap();
    let r = stitch(&["compile", empty.to_str().unwrap(), "-o", o]);
    assert_eq!(code(&r), 1, "{}", stderr(&r));
    assert!(stderr(&r).contains("no clips"), "{}", stderr(&r));
    assert!(!out.exists());
    // Success: 0.
    let r = stitch(&fast(&flow, &out, &[]));
    assert_eq!(code(&r), 0, "{}", stderr(&r));
}

#[test]
fn json_summary_and_stats() {
    let (dir, flow, _) = setup("json");
    let out = dir.join("out.mp4");
    let r = stitch(&fast(&flow, &out, &["--json", "--stats", "--export", "audio"]));
    assert_eq!(code(&r), 0, "{}", stderr(&r));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).expect("stdout is one JSON object");
    assert_eq!(v["command"], "compile");
    assert_eq!(v["ok"], true);
    assert_eq!(v["outputs"][0]["path"], out.to_str().unwrap());
    assert!(v["outputs"][0]["bytes"].as_u64().unwrap() > 1000);
    assert!(v["outputs"][1]["path"].as_str().unwrap().ends_with("out.audio.wav"));
    assert!((v["duration_secs"].as_f64().unwrap() - 1.0).abs() < 0.05, "{v}");
    assert_eq!(v["clips"]["total"], 1);
    assert_eq!(v["clips"]["used"], 1);
    assert_eq!(v["clips"]["items"][0]["status"], "used");
    assert_eq!(v["clips"]["items"][0]["url"], "clip.mp4");
    let stages = v["stages"]["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["demux", "decode", "compose", "encode", "mux"]);
    for s in stages {
        assert!(s["cpu_secs"].as_f64().unwrap() > 0.0, "{s}");
        assert!(s["wall_secs"].as_f64().unwrap() + 0.01 >= s["cpu_secs"].as_f64().unwrap(), "{s}");
        assert!(s["items"].as_u64().unwrap() > 0, "{s}");
    }
    assert!(v["stages"]["bound"].is_string());
    // --stats on stderr: the table and the bounding stage.
    let e = stderr(&r);
    for stage in ["demux", "decode", "compose", "encode", "mux", "throughput bounded by"] {
        assert!(e.contains(stage), "{stage} in {e}");
    }
    // A failure is JSON too, with the exit code.
    let r = stitch(&fast(&flow, &out, &["--json"]));
    assert_eq!(code(&r), 2);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).expect("JSON on failure");
    assert_eq!(v["ok"], false);
    assert_eq!(v["exit_code"], 2);
    assert!(v["error"].as_str().unwrap().contains("already exists"));
}

#[test]
fn version_completions_and_man_page() {
    let r = stitch(&["--version"]);
    assert_eq!(code(&r), 0);
    let v = String::from_utf8_lossy(&r.stdout);
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
    assert!(v.contains("commit: "), "{v}");
    let ffmpeg = if cfg!(feature = "ffmpeg") { "ffmpeg: yes" } else { "ffmpeg: no" };
    assert!(v.contains(ffmpeg), "{v}");
    let commit = v.lines().find_map(|l| l.strip_prefix("commit: ")).unwrap().trim().to_string();
    assert!(commit == "unknown" || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())), "{v}");
    for shell in ["bash", "zsh", "fish"] {
        let r = stitch(&["completions", shell]);
        assert_eq!(code(&r), 0, "{shell}");
        let s = String::from_utf8_lossy(&r.stdout);
        assert!(s.contains("stitch") && s.contains("max-duration"), "{shell}: {s}");
    }
    let r = stitch(&["man"]);
    assert_eq!(code(&r), 0);
    let s = String::from_utf8_lossy(&r.stdout);
    assert!(s.starts_with(".ie") || s.contains(".TH stitch"), "{}", &s[..200.min(s.len())]);
    // Help: examples, option groups, exit codes; no doubled defaults.
    let r = stitch(&["compile", "--help"]);
    let h = String::from_utf8_lossy(&r.stdout);
    for needle in ["Examples:", "Output:", "Composite:", "Exit codes", "--force"] {
        assert!(h.contains(needle), "'{needle}' in compile --help");
    }
    let r = stitch(&["webinar", "--help"]);
    let h = String::from_utf8_lossy(&r.stdout);
    assert!(!h.contains("(default"), "a default is shown once, by clap: {h}");
}

/// A 720p compile of `flow` into `out` (an MP4), returned once its sample data sidecar
/// exists (the compile is under way); stderr is piped.
fn compile_under_way(flow: &Path, out: &Path) -> std::process::Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_stitch"))
        .args(["compile", flow.to_str().unwrap(), "-o", out.to_str().unwrap(), "--size", "1280x720", "-q"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut sidecar = out.as_os_str().to_owned();
    sidecar.push(".mdat.part");
    let sidecar = PathBuf::from(sidecar);
    let t0 = std::time::Instant::now();
    while !sidecar.exists() && t0.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(sidecar.exists(), "the compile writes its sidecar");
    child
}

#[test]
fn a_killed_compile_leaves_no_output_and_the_rerun_cleans_its_temporaries() {
    let dir = scratch("cli-kill");
    let out = dir.join("out.mp4");
    let flow = testdata("flow_basic.json");
    for _ in 0..2 {
        // Kill once the sidecar exists (the compile is under way).
        let mut child = compile_under_way(&flow, &out);
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        assert!(!out.exists(), "no half file under the final name");
    }
    let r = stitch(&["compile", flow.to_str().unwrap(), "-o", out.to_str().unwrap(), "--size", "320x180", "-q"]);
    assert_eq!(code(&r), 0, "{}", stderr(&r));
    assert!(is_mp4(&std::fs::read(&out).unwrap()));
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "out.mp4")
        .collect();
    assert!(left.is_empty(), "temporaries of the killed runs are gone: {left:?}");
}

#[test]
fn dash_o_streams_to_stdout_for_a_player() {
    let (dir, flow, _) = setup("stdout");
    for (format, ts) in [(None, true), (Some("ts"), true), (Some("mp4"), false)] {
        let mut args = vec!["compile", flow.to_str().unwrap(), "-o", "-", "--size", "160x90", "-q"];
        if let Some(f) = format {
            args.extend(["--format", f]);
        }
        let r = stitch(&args);
        assert_eq!(code(&r), 0, "{format:?}: {}", stderr(&r));
        let b = &r.stdout;
        if ts {
            assert!(is_ts(b), "{format:?}: MPEG-TS on stdout");
        } else {
            assert!(is_mp4(b), "fragmented MP4 on stdout");
            assert!(b.windows(4).any(|w| w == b"moof"), "movie fragments");
        }
        assert!(!dir.join("-").exists() && !dir.join("-.part").exists(), "no file named -");
        if have_ffmpeg() {
            // The oracle reads it from a pipe, as a player would.
            let mut child = std::process::Command::new("ffprobe")
                .args(["-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames", "-of"])
                .args(["csv=p=0", "-i", "pipe:0"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(b).unwrap();
            }
            let o = child.wait_with_output().unwrap();
            let s = String::from_utf8_lossy(&o.stdout);
            assert!(s.contains("h264,25") && s.contains("aac"), "{format:?}: {s}");
        }
    }
    // Usage errors: exports and --json need stdout or a file name.
    for extra in [&["--export", "audio"][..], &["--json"][..]] {
        let mut args = vec!["compile", flow.to_str().unwrap(), "-o", "-"];
        args.extend_from_slice(extra);
        let r = stitch(&args);
        assert_eq!(code(&r), 2, "{extra:?}: {}", stderr(&r));
        assert!(r.stdout.is_empty());
    }
}

#[test]
fn a_file_that_appears_during_the_compile_is_not_replaced() {
    let dir = scratch("cli-race");
    let out = dir.join("out.mp4");
    let flow = testdata("flow_basic.json");
    let child = compile_under_way(&flow, &out);
    // Someone else writes the output's name while stitch works on it.
    std::fs::write(&out, b"written meanwhile").unwrap();
    let r = child.wait_with_output().unwrap();
    assert_eq!(code(&r), 1, "{}", stderr(&r));
    assert!(stderr(&r).contains("appeared"), "{}", stderr(&r));
    assert_eq!(std::fs::read(&out).unwrap(), b"written meanwhile", "not replaced without --force");
}
