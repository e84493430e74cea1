//! The webinar composite (`--layout`), end to end on a synthetic webinar made by Debian's
//! ffmpeg (x264/AAC, generated into a scratch folder by this test): a lecturer camera, a
//! second camera that joins late and leaves, a 1920x1080 video-only screen share, two
//! audio-only participants (shown as name cards while they speak, plus a 1 s hold), three
//! slides (PNG and JPEG; the main area shows a slide unless a screen share is on). The output is decoded by ffmpeg: the main area shows the screen
//! share while it is active and the lecturer otherwise; the tiles hold the other camera and
//! the speaking audio-only participants' name cards where the layout puts them; every voice
//! is in the mix exactly while it speaks.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use stitch::media::compose::layout::{place, LayoutKind, Rect};

const W: u32 = 640;
const H: u32 = 360;

/// (file, size, luma grey level, tone Hz (0: none), seconds, video?, audio?)
const SOURCES: [(&str, &str, u8, u32, u32, bool, bool); 5] = [
    ("lecturer.mp4", "320x180", 0x40, 440, 10, true, true),
    ("second.mp4", "320x180", 0xa0, 660, 5, true, true),
    ("screen.mp4", "1920x1080", 0xe0, 0, 5, true, false),
    ("anna.m4a", "", 0, 880, 3, false, true),
    ("boris.m4a", "", 0, 1100, 3, false, true),
];

/// (file, grey level): three slides, PNG and JPEG.
const SLIDES: [(&str, u8); 3] = [("slide1.png", 0xc0), ("slide2.jpg", 0x60), ("slide3.png", 0x20)];

fn make_sources(dir: &Path) {
    for (name, grey) in SLIDES {
        let st = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("color=c=#{grey:02x}{grey:02x}{grey:02x}:s=1280x720"))
            .args(["-frames:v", "1"])
            .arg(dir.join(name))
            .status()
            .expect("ffmpeg");
        assert!(st.success(), "ffmpeg could not make {name}");
    }
    for (name, size, grey, tone, secs, video, audio) in SOURCES {
        let mut c = Command::new("ffmpeg");
        c.args(["-nostdin", "-v", "error", "-y"]);
        if video {
            c.args(["-f", "lavfi", "-i", &format!("color=c=#{grey:02x}{grey:02x}{grey:02x}:s={size}:r=25:d={secs}")]);
        }
        if audio {
            c.args(["-f", "lavfi", "-i", &format!("sine=frequency={tone}:sample_rate=48000:duration={secs}")]);
        }
        if video {
            c.args(["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25"]);
        }
        if audio {
            c.args(["-c:a", "aac", "-b:a", "96k"]);
        }
        c.arg(dir.join(name));
        let st = c.status().expect("ffmpeg");
        assert!(st.success(), "ffmpeg could not make {name}");
    }
}

/// The flow as `stitch webinar` writes it (kind, userId, userName, role per clip).
fn flow(dir: &Path) -> PathBuf {
    let ev = |t: f64, url: &str, kind: &str, user: u32, name: &str, role: &str| {
        serde_json::json!({"relativeTime": t, "module": "mediasession.add",
            "data": {"url": url, "kind": kind, "userId": user.to_string(), "userName": name, "role": role}})
    };
    let f = serde_json::json!({"name": "composite", "duration": 10.0, "eventLogs": [
        ev(0.0, "lecturer.mp4", "camera", 1, "Лектор Иванов", "LECTURER"),
        ev(1.0, "anna.m4a", "audio_only", 3, "Анна", "GUEST"),
        ev(2.0, "second.mp4", "camera", 2, "Пётр", "GUEST"),
        ev(3.0, "screen.mp4", "screen", 1, "Лектор Иванов", "LECTURER"),
        ev(5.0, "boris.m4a", "audio_only", 4, "Борис", "GUEST"),
        // Slides: the first before the screen share, the second under it (hidden: the screen
        // share has priority), the third until the end.
        serde_json::json!({"relativeTime": 0.2, "module": "slide.show", "data": {"image": "slide1.png", "duration": 1.3}}),
        serde_json::json!({"relativeTime": 5.0, "module": "slide.show", "data": {"image": "slide2.jpg", "duration": 1.0}}),
        serde_json::json!({"relativeTime": 8.5, "module": "slide.show", "data": {"image": "slide3.png"}}),
        // Chat for the side panel.
        serde_json::json!({"relativeTime": 1.0, "module": "chat.message", "data": {"author": "Анна", "text": "Здравствуйте!"}}),
        serde_json::json!({"relativeTime": 6.0, "module": "chat.message", "data": {"author": "Пётр", "text": "Вопрос про слайд 2"}}),
    ]});
    let p = dir.join("flow.json");
    std::fs::write(&p, serde_json::to_vec_pretty(&f).unwrap()).unwrap();
    p
}

/// Full-resolution Y planes (limited range, as written) of the output at the given times.
fn frames_at(out: &Path, times: &[f64]) -> Vec<Vec<u8>> {
    let all = ffmpeg_yuv_frames(out, W as usize, H as usize);
    times.iter().map(|t| all[(t * 25.0).round() as usize][..(W * H) as usize].to_vec()).collect()
}

#[test]
fn sidebar_composite_places_every_source_and_mixes_every_voice() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("composite");
    make_sources(&dir);
    let flow = flow(&dir);
    let out = dir.join("out.mp4");
    let o = stitch(&[
        "compile",
        flow.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--size",
        &format!("{W}x{H}"),
        "--layout",
        "sidebar",
        "--export",
        "sources,audio",
        "--chat-panel",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(summary.contains("composite: "), "{summary}");
    assert_eq!(ffmpeg_decode_errors(&out), "");

    let (lect, second, screen) = (luma_of(0x40), luma_of(0xa0), luma_of(0xe0));
    let card = stitch::media::compose::card::CARD_Y as f64;
    let (slide1, slide3) = (luma_of(SLIDES[0].1), luma_of(SLIDES[2].1));
    // (time, main area content, tile contents in any order)
    let cases: [(f64, f64, &[f64]); 6] = [
        (0.5, slide1, &[lect]),
        (2.5, lect, &[second, card]),
        (5.5, screen, &[lect, second, card]),
        (7.5, screen, &[lect, card]),
        (8.2, lect, &[]),
        (9.5, slide3, &[lect]),
    ];
    let times: Vec<f64> = cases.iter().map(|c| c.0).collect();
    let frames = frames_at(&out, &times);
    for ((t, main, tiles), y) in cases.iter().zip(&frames) {
        let p = place(LayoutKind::Sidebar, W, H, true, tiles.len(), true);
        // The chat panel: empty before the first message, text after it.
        let panel = p.panel.unwrap();
        let lit = (panel.y..panel.y + panel.h)
            .flat_map(|yy| (panel.x..panel.x + panel.w).map(move |x| (x, yy)))
            .filter(|&(x, yy)| y[(yy * W + x) as usize] > 150)
            .count();
        if *t < 1.0 {
            assert_eq!(lit, 0, "t={t}: chat panel should be empty");
        } else {
            assert!(lit > 20, "t={t}: chat panel shows no text");
        }
        let m = mean_in(y, W, p.main.unwrap());
        assert!((m - main).abs() < 8.0, "t={t}: main area luma {m:.1}, want {main:.1}");
        let mut got: Vec<f64> = p.tiles.iter().map(|r| mean_in(y, W, *r)).collect();
        let mut want = tiles.to_vec();
        got.sort_by(f64::total_cmp);
        want.sort_by(f64::total_cmp);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 12.0, "t={t}: tiles {got:?}, want {want:?}");
        }
        // Outside main and tiles: black.
        let covered = |x: u32, yy: u32| {
            p.main
                .iter()
                .chain(&p.tiles)
                .chain(&p.panel)
                .any(|r| x >= r.x && x < r.x + r.w && yy >= r.y && yy < r.y + r.h)
        };
        let bare: Vec<u8> = (0..H)
            .step_by(4)
            .flat_map(|yy| (0..W).step_by(4).map(move |x| (x, yy)))
            .filter(|&(x, yy)| !covered(x, yy))
            .map(|(x, yy)| y[(yy * W + x) as usize])
            .collect();
        assert!(bare.iter().all(|&v| v < 40), "t={t}: the background is not black");
    }

    check_exports(&dir, &out);
    // Every voice exactly while it speaks.
    let pcm = ffmpeg_pcm(&out);
    let at = |t: f64| &pcm[(t * 48000.0) as usize..((t + 0.2) * 48000.0) as usize];
    for (t, on, off) in [
        (0.5, vec![440.0], vec![880.0, 660.0, 1100.0]),
        (2.5, vec![440.0, 880.0, 660.0], vec![1100.0]),
        (5.5, vec![440.0, 660.0, 1100.0], vec![880.0]),
        (7.5, vec![440.0, 1100.0], vec![660.0, 880.0]),
        (9.5, vec![440.0], vec![660.0, 880.0, 1100.0]),
    ] {
        for hz in on {
            assert!(tone_level(at(t), 48000.0, hz) > 0.05, "t={t}: {hz} Hz missing");
        }
        for hz in off {
            assert!(tone_level(at(t), 48000.0, hz) < 0.005, "t={t}: {hz} Hz should be silent");
        }
    }
}

/// `--export audio`: 16 kHz mono WAV with the same voices at the same times;
/// `--export sources`: one file per camera / screen share / voice on the common timeline.
fn check_exports(dir: &Path, out: &Path) {
    let wav = dir.join("out.audio.wav");
    let b = std::fs::read(&wav).expect("out.audio.wav");
    assert_eq!(&b[..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([b[22], b[23]]), 1, "mono");
    assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 16000);
    let pcm: Vec<f32> = b[44..].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0).collect();
    assert!((pcm.len() as f64 / 16000.0 - 10.0).abs() < 0.01, "{} samples", pcm.len());
    let at = |t: f64| &pcm[(t * 16000.0) as usize..((t + 0.2) * 16000.0) as usize];
    for (t, on, off) in [(2.5, vec![440.0, 660.0, 880.0], vec![1100.0]), (5.5, vec![440.0, 660.0, 1100.0], vec![880.0])]
    {
        for hz in on {
            assert!(tone_level(at(t), 16000.0, hz) > 0.03, "wav t={t}: {hz} Hz missing");
        }
        for hz in off {
            assert!(tone_level(at(t), 16000.0, hz) < 0.005, "wav t={t}: {hz} Hz should be silent");
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("out.") && n.ends_with(".mp4") && n != "out.mp4")
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "out.camera-Лектор Иванов.mp4",
            "out.camera-Пётр.mp4",
            "out.screen-Лектор Иванов.mp4",
            "out.voice-Анна.mp4",
            "out.voice-Борис.mp4"
        ],
        "next to {}",
        out.display()
    );
    let anna = ffmpeg_pcm(&dir.join("out.voice-Анна.mp4"));
    assert!((anna.len() as f64 / 48000.0 - 10.0).abs() < 0.05, "common timeline: {} samples", anna.len());
    let a = |t: f64| &anna[(t * 48000.0) as usize..((t + 0.2) * 48000.0) as usize];
    assert!(tone_level(a(2.5), 48000.0, 880.0) > 0.05 && tone_level(a(2.5), 48000.0, 440.0) < 0.005);
    assert!(rms(a(5.5)) == 0.0, "Анна is silent after she stopped");
    let second = ffmpeg_lumas(&dir.join("out.camera-Пётр.mp4"));
    assert!((second[(0.5 * 25.0) as usize] - 16.0).abs() < 3.0, "black before Пётр joins");
    assert!((second[(3.0 * 25.0) as usize] - luma_of(0xa0)).abs() < 6.0, "Пётр at 3 s");
}

#[test]
fn unknown_layout_is_a_clear_error() {
    let o = stitch(&["compile", "x.json", "-o", "y.mp4", "--layout", "mosaic"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("sidebar, pip, grid, speaker"), "{e}");
}

/// `--hide-silent`: a camera that is black and silent gets no tile (grid of one), without
/// the flag it has its cell.
#[test]
fn hide_silent_removes_a_black_silent_camera() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch("composite-hide");
    let mk = |name: &str, lavfi: &str, audio: bool| {
        let mut c = Command::new("ffmpeg");
        c.args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", lavfi]);
        if audio {
            c.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3"]);
        }
        c.args(["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]);
        if audio {
            c.args(["-c:a", "aac"]);
        }
        assert!(c.arg(dir.join(name)).status().unwrap().success());
    };
    mk("lit.mp4", "color=c=#808080:s=320x180:r=25:d=3", true);
    mk("dark.mp4", "color=c=black:s=320x180:r=25:d=3", false);
    let f = serde_json::json!({"name": "h", "duration": 3.0, "eventLogs": [
        {"relativeTime": 0, "data": {"url": "lit.mp4", "kind": "camera", "userId": "1", "userName": "A"}},
        {"relativeTime": 0, "data": {"url": "dark.mp4", "kind": "camera", "userId": "2", "userName": "B"}}]});
    let flow = dir.join("flow.json");
    std::fs::write(&flow, serde_json::to_vec(&f).unwrap()).unwrap();
    let mut right = Vec::new();
    for hide in [false, true] {
        let out = dir.join(format!("h{hide}.mp4"));
        let mut args = vec!["compile", flow.to_str().unwrap(), "-o", out.to_str().unwrap(), "--size", "640x360"];
        args.extend(["--layout", "grid"]);
        if hide {
            args.push("--hide-silent");
        }
        let o = stitch(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let y = &frames_at(&out, &[1.5])[0];
        // Middle of the right half: the second grid cell, or the one full-canvas cell.
        right.push(mean_in(y, W, Rect { x: 400, y: 120, w: 160, h: 160 }));
    }
    let lit = luma_of(0x80);
    assert!((right[0] - 16.0).abs() < 6.0, "without --hide-silent the dark camera has its cell: {right:?}");
    assert!((right[1] - lit).abs() < 8.0, "with --hide-silent the lit camera fills the canvas: {right:?}");
}
