//! Unit tests of `crate::decode::ffmpeg` (kept in `tests/` beside the code: they may run
//! Debian's ffmpeg/ffprobe as an independent oracle, which product code never does).

use super::*;
use crate::decode::{open_audio, open_video};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

/// Encode a test file with the system ffmpeg (test-time only); `None` (with a note) if
/// ffmpeg or the encoder is missing.
fn generate(name: &str, args: &[&str]) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("stitch-ffdec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let out = dir.join(name);
    let o = Command::new("/usr/bin/ffmpeg").args(["-nostdin", "-v", "error", "-y"]).args(args).arg(&out).output();
    match o {
        Ok(o) if o.status.success() => Some(out),
        Ok(o) => {
            eprintln!("NOTE: skipped {name}: ffmpeg could not encode it: {}", String::from_utf8_lossy(&o.stderr));
            None
        }
        Err(e) => {
            eprintln!("NOTE: skipped {name}: /usr/bin/ffmpeg not runnable ({e})");
            None
        }
    }
}

fn has_encoder(enc: &str) -> bool {
    Command::new("/usr/bin/ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().any(|w| w == enc))
        .unwrap_or(false)
}

/// All video frames of the file's first video stream, through `open_video`.
fn decode_video(path: &Path) -> (StreamInfo, Vec<VideoFrame>, u64) {
    let (_, mut d) = crate::demux::open(path).unwrap();
    let s = d.streams().iter().find(|s| s.kind == MediaKind::Video).unwrap().clone();
    let mut dec = open_video(&s, Default::default()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        if p.stream == s.index {
            dec.decode(&p, &mut out).unwrap();
        }
    }
    dec.flush(&mut out).unwrap();
    (s, out, dec.errors())
}

/// Presented audio (pts >= 0 and before the stream's presentation end), mono.
fn decode_audio(path: &Path) -> (StreamInfo, Vec<f32>, u32, u16) {
    let (_, mut d) = crate::demux::open(path).unwrap();
    let s = d.streams().iter().find(|s| s.kind == MediaKind::Audio).unwrap().clone();
    let mut dec = open_audio(&s).unwrap();
    let mut frames = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        if p.stream == s.index {
            dec.decode(&p, &mut frames).unwrap();
        }
    }
    dec.flush(&mut frames).unwrap();
    assert_eq!(dec.errors(), 0);
    assert!(!frames.is_empty());
    let (rate, ch) = (frames[0].sample_rate, frames[0].channels);
    let end = s.presentation_end.map(|e| rescale(e, s.timebase, rate)).unwrap_or(i64::MAX);
    let mut pcm = Vec::new();
    let mut next = None;
    for f in &frames {
        assert_eq!((f.sample_rate, f.channels), (rate, ch));
        assert!((1..=2).contains(&ch));
        if let Some(n) = next {
            assert_eq!(f.pts, n, "audio frames not contiguous");
        }
        next = Some(f.pts + f.len() as i64);
        for (i, s) in f.samples.chunks(ch as usize).enumerate() {
            let t = f.pts + i as i64;
            if t >= 0 && t < end {
                pcm.push(s.iter().sum::<f32>() / ch as f32);
            }
        }
    }
    (s, pcm, rate, ch)
}

/// Amplitude of `hz` in `x` (Goertzel, Hann window); a full-scale sine gives 1.
fn tone_level(x: &[f32], rate: f64, hz: f64) -> f64 {
    let n = x.len();
    let w = 2.0 * std::f64::consts::PI * hz / rate;
    let (mut re, mut im, mut wsum) = (0.0, 0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let win = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos();
        re += v as f64 * win * (w * i as f64).cos();
        im -= v as f64 * win * (w * i as f64).sin();
        wsum += win;
    }
    2.0 * (re * re + im * im).sqrt() / wsum
}

fn check_flat_video(path: &Path, frames: usize, luma: f64) {
    let (_, out, errors) = decode_video(path);
    assert_eq!(errors, 0);
    assert_eq!(out.len(), frames, "{}", path.display());
    for (i, f) in out.iter().enumerate() {
        assert_eq!(f.pts, i as i64 * 3600, "frame {i}");
        assert_eq!(f.picture.data.len(), 320 * 240 * 3 / 2);
        let m = f.picture.mean_luma();
        assert!((m - luma).abs() <= 5.0, "frame {i}: mean luma {m}");
    }
}

#[test]
fn names() {
    for n in ["hevc", "vp8", "vp9", "av1", "opus", "mp3", "ac3", "eac3", "flac", "mpeg4", "mpeg2video", "pcm_s16le"] {
        assert!(supports(&Codec::Other(n.into())), "{n}");
    }
    for n in ["encrypted", "", "no_such_codec", "vvc1"] {
        assert!(!supports(&Codec::Other(n.into())), "{n}");
    }
}

#[test]
fn vp9_fixture() {
    let (s, out, errors) = decode_video(&fixture("h_vp9.mp4"));
    assert_eq!(s.codec, Codec::Other("vp9".into()));
    assert_eq!(errors, 0);
    assert_eq!(out.len(), 50);
    for (i, f) in out.iter().enumerate() {
        assert_eq!(f.pts, i as i64 * 3600, "frame {i}");
        assert_eq!((f.picture.width, f.picture.height), (320, 240));
        let m = f.picture.mean_luma();
        assert!((m - 135.0).abs() <= 5.0, "frame {i}: mean luma {m}");
    }
}

#[test]
fn vp9_10bit_converted() {
    if !has_encoder("libvpx-vp9") {
        eprintln!("NOTE: skipped: no libvpx-vp9 encoder");
        return;
    }
    let args = [
        "-f",
        "lavfi",
        "-i",
        "color=c=0xCE7B29:s=320x240:r=25:d=1",
        "-c:v",
        "libvpx-vp9",
        "-pix_fmt",
        "yuv420p10le",
        "-b:v",
        "200k",
    ];
    if let Some(p) = generate("vp9_10bit.mp4", &args) {
        check_flat_video(&p, 25, 135.0);
    }
}

#[test]
fn hevc_with_bframes() {
    if !has_encoder("libx265") {
        eprintln!("NOTE: skipped: no libx265 encoder in this ffmpeg");
        return;
    }
    let args = [
        "-f",
        "lavfi",
        "-i",
        "color=c=0xCE7B29:s=320x240:r=25:d=1",
        "-c:v",
        "libx265",
        "-pix_fmt",
        "yuv420p",
        "-x265-params",
        "log-level=none:bframes=3",
        "-tag:v",
        "hvc1",
    ];
    if let Some(p) = generate("hevc.mp4", &args) {
        let (_, mut d) = crate::demux::open(&p).unwrap();
        assert_eq!(d.streams()[0].codec, Codec::Other("hevc".into()));
        assert!(!d.streams()[0].config.is_empty(), "hvcC expected");
        // B-frames: some packets have pts != dts.
        let mut reordered = false;
        while let Some(k) = d.next_packet().unwrap() {
            reordered |= k.pts != k.dts;
        }
        assert!(reordered);
        check_flat_video(&p, 25, 135.0);
    }
}

#[test]
fn av1() {
    if !has_encoder("libaom-av1") {
        eprintln!("NOTE: skipped: no libaom-av1 encoder");
        return;
    }
    let args = [
        "-f",
        "lavfi",
        "-i",
        "color=c=0xCE7B29:s=320x240:r=25:d=0.4",
        "-c:v",
        "libaom-av1",
        "-cpu-used",
        "8",
        "-b:v",
        "100k",
    ];
    if let Some(p) = generate("av1.mp4", &args) {
        check_flat_video(&p, 10, 135.0);
    }
}

fn audio_case(name: &str, codec: &str, extra: &[&str], enc: &str) {
    if !has_encoder(enc) {
        eprintln!("NOTE: skipped {name}: no {enc} encoder");
        return;
    }
    let mut args = vec!["-f", "lavfi", "-i", "sine=f=440:d=1:sample_rate=48000"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-c:a", enc, "-strict", "-2"]);
    let Some(p) = generate(name, &args) else {
        return;
    };
    let (s, pcm, rate, _) = decode_audio(&p);
    assert_eq!(s.codec, Codec::Other(codec.into()), "{name}");
    assert_eq!(rate, 48000, "{name}");
    // 1 s of tone, give or take one codec frame of padding/priming.
    assert!((pcm.len() as i64 - 48000).abs() <= 1600, "{name}: {} samples", pcm.len());
    let mid = &pcm[12000..36000];
    let lvl = tone_level(mid, 48000.0, 440.0);
    assert!(lvl > 0.04, "{name}: 440 Hz level {lvl}");
    assert!(tone_level(mid, 48000.0, 1000.0) < 0.01, "{name}");
    // The tone starts at the start (no decoder delay left in the timestamps).
    let onset = pcm.iter().position(|v| v.abs() > 0.02).unwrap();
    eprintln!("{name}: {} samples, 440 Hz level {lvl:.3}, onset {onset}", pcm.len());
    assert!(onset < 200, "{name}: tone starts at sample {onset}");
}

#[test]
fn opus_in_mp4() {
    audio_case("opus.mp4", "opus", &["-ac", "2"], "libopus");
}

#[test]
fn mp3_in_mp4() {
    audio_case("mp3.mp4", "mp3", &[], "libmp3lame");
}

#[test]
fn flac_in_mp4() {
    audio_case("flac.mp4", "flac", &[], "flac");
}

#[test]
fn ac3_5_1_downmixed() {
    audio_case("ac3.mp4", "ac3", &["-ac", "6"], "ac3");
}

#[test]
fn opus_head_from_dops() {
    let dops = [0, 2, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0, 0, 0];
    let h = extradata("opus", &dops).unwrap();
    assert_eq!(&h[..8], b"OpusHead");
    assert_eq!(&h[8..], &[1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
    assert_eq!(extradata("opus", &[0, 2]), None);
    assert_eq!(extradata("flac", &[0, 0, 0, 0, 0x80, 0, 0, 34]), None);
    assert_eq!(extradata("vp9", &[1, 0, 0, 0]), None);
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x1234_5678u32;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let (mut opened, mut errors) = (0, 0);
    for name in ["hevc", "vp9", "av1", "mpeg4", "mpeg2video", "mjpeg"] {
        let mut info = StreamInfo::new(0, MediaKind::Video, Codec::Other(name.into()), 90000);
        info.config = (0..40).map(|_| rnd() as u8).collect::<Vec<u8>>().into();
        let Ok(mut d) = FfVideoDecoder::new(&info) else {
            continue;
        };
        let mut out = Vec::new();
        for i in 0..30 {
            let data: Vec<u8> = (0..(rnd() % 3000) as usize).map(|_| rnd() as u8).collect();
            let p =
                Packet { stream: 0, pts: i * 3600, dts: i * 3600, duration: 3600, keyframe: i == 0, data: data.into() };
            d.decode(&p, &mut out).unwrap();
        }
        d.flush(&mut out).unwrap();
        d.flush(&mut out).unwrap();
        opened += 1;
        errors += d.errors();
    }
    for name in ["opus", "mp3", "ac3", "eac3", "flac", "vorbis", "dts"] {
        let mut info = StreamInfo::new(0, MediaKind::Audio, Codec::Other(name.into()), 48000);
        info.sample_rate = 48000;
        info.channels = 2;
        info.config = (0..(rnd() % 50) as usize).map(|_| rnd() as u8).collect::<Vec<u8>>().into();
        let Ok(mut d) = FfAudioDecoder::new(&info) else {
            continue;
        };
        let mut out = Vec::new();
        for i in 0..30 {
            let data: Vec<u8> = (0..(rnd() % 1500) as usize).map(|_| rnd() as u8).collect();
            let p = Packet { stream: 0, pts: i * 960, dts: i * 960, duration: 960, keyframe: true, data: data.into() };
            d.decode(&p, &mut out).unwrap();
        }
        d.flush(&mut out).unwrap();
        opened += 1;
        errors += d.errors();
    }
    eprintln!("garbage: {opened} decoders opened, {errors} errors counted");
    assert!(opened >= 8 && errors > 0);
}

#[test]
fn decoders_are_send() {
    fn send<T: Send>() {}
    send::<FfVideoDecoder>();
    send::<FfAudioDecoder>();
}
