//! Stream recorders against a fake HLS origin (see `hls_origin`), with clips made by
//! /usr/bin/ffmpeg (tests are skipped with a note when it is absent).

mod hls_origin;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hls_origin::*;
use stitch::media::remux::tsjoin::check_ts;
use stitch::record::{
    record, Container, ErrorId, EventSink, Quality, RecordError, RecordEvent, RecordOptions, RecordSummary,
    RecorderManager, RecorderStatus, StopReason,
};

macro_rules! need_ffmpeg {
    () => {
        if !have_ffmpeg() {
            eprintln!("note: /usr/bin/ffmpeg not found, test skipped");
            return;
        }
    };
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stitch-record-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn opts(url: String, dir: &Path, format: Container) -> RecordOptions {
    let mut o = RecordOptions::new(url);
    o.rec_dir = Some(dir.to_path_buf());
    o.format = format;
    o.retries = Some(5);
    o.buffering = 2;
    o
}

fn run(o: &RecordOptions) -> (Result<RecordSummary, RecordError>, Vec<RecordEvent>) {
    let sink = EventSink::none().with_log();
    let r = record(o, &sink, Arc::new(AtomicBool::new(false)));
    (r, sink.logged())
}

fn dir_files(d: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn entries(clip: &Clip, prefix: &str) -> Vec<(String, f64, String)> {
    clip.segments.iter().enumerate().map(|(i, (d, _))| (String::new(), *d, format!("{prefix}{i}.ts"))).collect()
}

fn add_clip(files: &mut HashMap<String, Vec<u8>>, clip: &Clip, prefix: &str, ext: &str) {
    for (i, (_, b)) in clip.segments.iter().enumerate() {
        files.insert(format!("{prefix}{i}.{ext}"), b.clone());
    }
}

fn vod_origin(clip: &Clip) -> (Origin, f64) {
    let mut files = HashMap::new();
    add_clip(&mut files, clip, "/s", "ts");
    files.insert("/index.m3u8".into(), media_playlist(2, 0, &entries(clip, "s"), true, "").into_bytes());
    let total = clip.segments.iter().map(|s| s.0).sum();
    (Origin::start(static_files(files)), total)
}

#[test]
fn vod_ts_to_ts_with_events() {
    need_ffmpeg!();
    let f = fixtures();
    let (o, total) = vod_origin(&f.a);
    let dir = temp_dir("vod-ts");
    let sink = EventSink::none().with_log().with_socket("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(sink.socket_addr().unwrap()).unwrap();
    let t0 = Instant::now();
    while sink.clients() < 1 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut op = opts(o.url("/index.m3u8"), &dir, Container::Ts);
    op.jobs = 3;
    let s = record(&op, &sink, Arc::new(AtomicBool::new(false))).unwrap();
    assert_eq!(s.kind, "hls_basic");
    assert_eq!(s.reason, StopReason::Complete);
    assert_eq!(s.segments, f.a.segments.len() as u64);
    assert_eq!(dir_files(&dir), vec!["stream_0.ts"]);
    check_output_ts(&dir.join("stream_0.ts"), total);
    // Events in order: start (naming the final file, with the totals) at the first
    // segment of a VOD, progress per segment, one stop.
    let ev = sink.logged();
    let names: Vec<&str> = ev
        .iter()
        .map(|e| match e {
            RecordEvent::Start { .. } => "start",
            RecordEvent::Progress { .. } => "progress",
            RecordEvent::Stop { .. } => "stop",
        })
        .collect();
    assert_eq!(names, vec!["start", "progress", "progress", "progress", "progress", "stop"]);
    match &ev[0] {
        RecordEvent::Start { path, segments_total, duration_total_secs, .. } => {
            assert_eq!(Path::new(path), dir.join("stream_0.ts"));
            assert_eq!(*segments_total, Some(f.a.segments.len() as u64));
            assert!((duration_total_secs.unwrap() - total).abs() < 1e-6);
        }
        e => panic!("{e:?}"),
    }
    assert!(matches!(ev.last(), Some(RecordEvent::Stop { reason: StopReason::Complete, .. })));
    // The socket client got the same lines.
    use std::io::{BufRead, BufReader};
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(client);
    for (_, sent) in sink.logged_lines() {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line.trim_end(), sent);
    }
}

#[test]
fn vod_ts_to_mp4() {
    need_ffmpeg!();
    let f = fixtures();
    let (o, total) = vod_origin(&f.a);
    let dir = temp_dir("vod-mp4");
    let mut op = opts(o.url("/index.m3u8"), &dir, Container::Mp4);
    op.output = Some(dir.join("out.mp4"));
    let (r, _) = run(&op);
    let s = r.unwrap();
    assert_eq!(s.files, vec![dir.join("out.mp4")]);
    assert_eq!(dir_files(&dir), vec!["out.mp4"], "temporaries removed");
    let (types, dur) = ffprobe(&dir.join("out.mp4"));
    assert_eq!(types.len(), 2, "{types:?}");
    assert!((dur - total).abs() < 0.2, "{dur} vs {total}");
    assert_eq!(ffmpeg_errors(&dir.join("out.mp4")), "");
}

fn encrypt(data: &[u8], key: &[u8; 16], iv: &[u8; 16]) -> Vec<u8> {
    use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
    cbc::Encryptor::<aes::Aes128>::new(key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(data)
}

#[test]
fn aes128_explicit_and_implicit_iv_with_rotation() {
    need_ffmpeg!();
    let f = fixtures();
    // Clear reference recording.
    let (o, _) = vod_origin(&f.a);
    let dir0 = temp_dir("aes-ref");
    run(&opts(o.url("/index.m3u8"), &dir0, Container::Ts)).0.unwrap();
    let reference = std::fs::read(dir0.join("stream_0.ts")).unwrap();

    let k1 = [0x11u8; 16];
    let k2: [u8; 16] = std::array::from_fn(|i| i as u8 * 7 + 3);
    let iv1: [u8; 16] = std::array::from_fn(|i| 0xa0 + i as u8);
    let seq0 = 40u64;
    let mut files = HashMap::new();
    let mut ents = Vec::new();
    for (i, (d, b)) in f.a.segments.iter().enumerate() {
        let seq = seq0 + i as u64;
        let (tags, enc) = if i < 2 {
            let t = if i == 0 {
                format!("#EXT-X-KEY:METHOD=AES-128,URI=\"/k1.key\",IV=0x{}\n", hex(&iv1))
            } else {
                String::new()
            };
            (t, encrypt(b, &k1, &iv1))
        } else {
            let t = if i == 2 { "#EXT-X-KEY:METHOD=AES-128,URI=\"k2.key\"\n".to_string() } else { String::new() };
            (t, encrypt(b, &k2, &(seq as u128).to_be_bytes()))
        };
        files.insert(format!("/e{i}.ts"), enc);
        ents.push((tags, *d, format!("e{i}.ts")));
    }
    files.insert("/k1.key".into(), k1.to_vec());
    files.insert("/k2.key".into(), k2.to_vec());
    files.insert("/enc.m3u8".into(), media_playlist(2, seq0, &ents, true, "").into_bytes());
    let o = Origin::start(static_files(files));
    let dir = temp_dir("aes");
    run(&opts(o.url("/enc.m3u8"), &dir, Container::Ts)).0.unwrap();
    assert_eq!(std::fs::read(dir.join("stream_0.ts")).unwrap(), reference, "decrypted recording differs");
    let key_fetches = o.requests().iter().filter(|r| r.ends_with(".key")).count();
    assert_eq!(key_fetches, 2, "keys fetched once per URI");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn drm_playlists_stop_before_writing() {
    let cases = [
        "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"k.key\"\n",
        "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://abc\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"\n",
        "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;base64,AAAA\",KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\"\n",
        "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;base64,AAAA\",KEYFORMAT=\"com.microsoft.playready\"\n",
    ];
    let mut files = HashMap::new();
    for (i, k) in cases.iter().enumerate() {
        let ents = vec![(k.to_string(), 2.0, "s0.ts".to_string())];
        files.insert(format!("/drm{i}.m3u8"), media_playlist(2, 0, &ents, true, "").into_bytes());
    }
    files.insert(
        "/session.m3u8".into(),
        b"#EXTM3U\n#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"skd://x\",KEYFORMAT=\"com.apple.streamingkeydelivery\"\n#EXT-X-STREAM-INF:BANDWIDTH=100000\ndrm0.m3u8\n".to_vec(),
    );
    files.insert("/s0.ts".into(), vec![0x47; 188 * 10]);
    let o = Origin::start(static_files(files));
    let mut paths: Vec<String> = (0..cases.len()).map(|i| format!("/drm{i}.m3u8")).collect();
    paths.push("/session.m3u8".into());
    for p in paths {
        let dir = temp_dir("drm");
        let (r, ev) = run(&opts(o.url(&p), &dir, Container::Ts));
        let e = r.unwrap_err();
        assert_eq!(e.error_id(), ErrorId::DrmProtected, "{p}: {e}");
        assert!(dir_files(&dir).is_empty(), "{p}: files written");
        assert_eq!(ev.len(), 1);
        assert!(matches!(
            &ev[0],
            RecordEvent::Stop { reason: StopReason::Error, error_id: Some(ErrorId::DrmProtected), .. }
        ));
    }
    assert!(!o.requests().iter().any(|r| r.ends_with(".ts")), "no segment fetched");
}

fn master_origin() -> Origin {
    let f = fixtures();
    let mut files = HashMap::new();
    for v in 0..3 {
        add_clip(&mut files, &f.video_only, &format!("/v{v}/s"), "ts");
        files.insert(
            format!("/v{v}/index.m3u8"),
            media_playlist(2, 0, &entries(&f.video_only, "s"), true, "").into_bytes(),
        );
    }
    add_clip(&mut files, &f.audio_only, "/aud/s", "ts");
    files.insert("/aud/index.m3u8".into(), media_playlist(2, 0, &entries(&f.audio_only, "s"), true, "").into_bytes());
    let master = "#EXTM3U\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,URI=\"aud/index.m3u8\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,AUDIO=\"aac\"\nv0/index.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1920x1080,AUDIO=\"aac\"\nv2/index.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=1500000,RESOLUTION=1280x720,AUDIO=\"aac\"\nv1/index.m3u8\n";
    files.insert("/master.m3u8".into(), master.as_bytes().to_vec());
    Origin::start(static_files(files))
}

#[test]
fn master_selection_and_audio_rendition() {
    need_ffmpeg!();
    for (q, want, fmt) in [
        (Quality::Best, "/v2/", Container::Ts),
        (Quality::Worst, "/v0/", Container::Mp4),
        (Quality::Height(720), "/v1/", Container::Ts),
    ] {
        let o = master_origin();
        let dir = temp_dir("master");
        let mut op = opts(o.url("/master.m3u8"), &dir, fmt);
        op.quality = q;
        let s = run(&op).0.unwrap();
        let reqs = o.requests();
        let variants: Vec<&String> = reqs.iter().filter(|r| r.starts_with("/v")).collect();
        assert!(variants.iter().all(|r| r.starts_with(want)), "{q:?}: {variants:?}");
        assert!(reqs.iter().any(|r| r.starts_with("/aud/s")), "audio rendition fetched");
        let (types, _) = ffprobe(&s.files[0]);
        assert!(types.contains(&"video".into()) && types.contains(&"audio".into()), "{q:?}: {types:?}");
        assert_eq!(ffmpeg_errors(&s.files[0]), "");
        assert_eq!(dir_files(&dir).len(), 1, "{:?}", dir_files(&dir));
    }
}

fn fmp4_origin() -> (Origin, f64) {
    let f = fixtures();
    let mut files = HashMap::new();
    add_clip(&mut files, &f.fmp4, "/f", "m4s");
    files.insert("/init.mp4".into(), f.fmp4.init.clone().unwrap());
    let ents: Vec<_> =
        f.fmp4.segments.iter().enumerate().map(|(i, (d, _))| (String::new(), *d, format!("f{i}.m4s"))).collect();
    files.insert("/f.m3u8".into(), media_playlist(2, 0, &ents, true, "#EXT-X-MAP:URI=\"init.mp4\"\n").into_bytes());
    (Origin::start(static_files(files)), f.fmp4.segments.iter().map(|s| s.0).sum())
}

#[test]
fn fmp4_to_ts_and_mp4() {
    need_ffmpeg!();
    for fmt in [Container::Ts, Container::Mp4] {
        let (o, total) = fmp4_origin();
        let dir = temp_dir("fmp4");
        let s = run(&opts(o.url("/f.m3u8"), &dir, fmt)).0.unwrap();
        assert_eq!(s.kind, "hls_m4s");
        assert_eq!(s.files.len(), 1);
        assert_eq!(dir_files(&dir).len(), 1, "{:?}", dir_files(&dir));
        let (types, dur) = ffprobe(&s.files[0]);
        assert_eq!(types.len(), 2, "{types:?}");
        assert!((dur - total).abs() < 0.25, "{fmt:?}: {dur} vs {total}");
        assert_eq!(ffmpeg_errors(&s.files[0]), "", "{fmt:?}");
    }
}

#[test]
fn fmp4_init_with_pssh_is_drm() {
    let mut init = b"\0\0\0\x14ftypiso6\0\0\0\0iso6".to_vec();
    init.extend_from_slice(b"\0\0\0\x20psshxxxxxxxxxxxxxxxxxxxxxxxx");
    let mut files = HashMap::new();
    files.insert("/init.mp4".into(), init);
    files.insert("/f0.m4s".into(), vec![0u8; 100]);
    files.insert(
        "/f.m3u8".into(),
        media_playlist(2, 0, &[(String::new(), 2.0, "f0.m4s".into())], true, "#EXT-X-MAP:URI=\"init.mp4\"\n")
            .into_bytes(),
    );
    let o = Origin::start(static_files(files));
    let dir = temp_dir("pssh");
    let e = run(&opts(o.url("/f.m3u8"), &dir, Container::Ts)).0.unwrap_err();
    assert_eq!(e.error_id(), ErrorId::DrmProtected, "{e}");
    assert!(dir_files(&dir).is_empty());
}

#[test]
fn byte_ranges_match_separate_segments() {
    need_ffmpeg!();
    let f = fixtures();
    let (o, _) = vod_origin(&f.a);
    let dir0 = temp_dir("br-ref");
    run(&opts(o.url("/index.m3u8"), &dir0, Container::Ts)).0.unwrap();
    let reference = std::fs::read(dir0.join("stream_0.ts")).unwrap();
    let mut all = Vec::new();
    let mut ents = Vec::new();
    for (i, (d, b)) in f.a.segments.iter().enumerate() {
        // First with an explicit offset, later ones continuing after the previous range.
        let tag = if i == 0 {
            format!("#EXT-X-BYTERANGE:{}@{}\n", b.len(), all.len())
        } else {
            format!("#EXT-X-BYTERANGE:{}\n", b.len())
        };
        all.extend_from_slice(b);
        ents.push((tag, *d, "all.ts".to_string()));
    }
    let mut files = HashMap::new();
    files.insert("/all.ts".into(), all);
    files.insert("/br.m3u8".into(), media_playlist(2, 0, &ents, true, "").into_bytes());
    let o = Origin::start(static_files(files));
    let dir = temp_dir("br");
    run(&opts(o.url("/br.m3u8"), &dir, Container::Ts)).0.unwrap();
    assert_eq!(std::fs::read(dir.join("stream_0.ts")).unwrap(), reference);
}

#[test]
fn discontinuity_with_restarted_timestamps() {
    need_ffmpeg!();
    let f = fixtures();
    let mut files = HashMap::new();
    add_clip(&mut files, &f.a, "/a", "ts");
    add_clip(&mut files, &f.c, "/c", "ts");
    let mut ents = entries(&f.a, "a");
    let mut c = entries(&f.c, "c");
    c[0].0 = "#EXT-X-DISCONTINUITY\n".into();
    ents.extend(c);
    let total: f64 = ents.iter().map(|e| e.1).sum();
    files.insert("/d.m3u8".into(), media_playlist(2, 0, &ents, true, "").into_bytes());
    let o = Origin::start(static_files(files));
    let dir = temp_dir("disc");
    let s = run(&opts(o.url("/d.m3u8"), &dir, Container::Ts)).0.unwrap();
    assert_eq!(s.files.len(), 1);
    check_output_ts(&s.files[0], total);
}

#[test]
fn resolution_change_starts_a_new_section() {
    need_ffmpeg!();
    let f = fixtures();
    let mut files = HashMap::new();
    add_clip(&mut files, &f.a, "/a", "ts");
    add_clip(&mut files, &f.big, "/b", "ts");
    let mut ents = entries(&f.a, "a");
    let mut b = entries(&f.big, "b");
    b[0].0 = "#EXT-X-DISCONTINUITY\n".into();
    ents.extend(b);
    files.insert("/r.m3u8".into(), media_playlist(2, 0, &ents, true, "").into_bytes());
    let o = Origin::start(static_files(files));
    let dir = temp_dir("res");
    let s = run(&opts(o.url("/r.m3u8"), &dir, Container::Ts)).0.unwrap();
    assert_eq!(dir_files(&dir), vec!["stream_0.ts", "stream_1.ts"]);
    assert_eq!(s.files.len(), 2);
    check_output_ts(&dir.join("stream_0.ts"), f.a.segments.iter().map(|s| s.0).sum());
    check_output_ts(&dir.join("stream_1.ts"), f.big.segments.iter().map(|s| s.0).sum());
    // -o naming
    let dir2 = temp_dir("res-o");
    let mut op = opts(o.url("/r.m3u8"), &dir2, Container::Mp4);
    op.output = Some(dir2.join("rec.mp4"));
    run(&op).0.unwrap();
    assert_eq!(dir_files(&dir2), vec!["rec.mp4", "rec_1.mp4"]);
}

/// A resolution change in the video variant of a master with a separate audio rendition:
/// both sections carry the rendition's audio of their own time span.
#[test]
fn audio_rendition_reaches_every_section() {
    need_ffmpeg!();
    let f = fixtures();
    let mut files = HashMap::new();
    add_clip(&mut files, &f.video_only, "/v/a", "ts");
    add_clip(&mut files, &f.big, "/v/b", "ts");
    let mut ents = entries(&f.video_only, "a");
    let mut b = entries(&f.big, "b");
    b[0].0 = "#EXT-X-DISCONTINUITY\n".into();
    ents.extend(b);
    files.insert("/v/index.m3u8".into(), media_playlist(2, 0, &ents, true, "").into_bytes());
    // The rendition: 8 s of audio, then (after a discontinuity) its first 4 s again.
    add_clip(&mut files, &f.audio_only, "/aud/s", "ts");
    let mut aents = entries(&f.audio_only, "s");
    let mut again: Vec<_> = entries(&f.audio_only, "s").into_iter().take(2).collect();
    again[0].0 = "#EXT-X-DISCONTINUITY\n".into();
    aents.extend(again);
    let a_secs: f64 = aents.iter().map(|e| e.1).sum();
    let v_secs: f64 = ents.iter().map(|e| e.1).sum();
    assert!((a_secs - v_secs).abs() < 0.1, "fixture: {a_secs} vs {v_secs}");
    files.insert("/aud/index.m3u8".into(), media_playlist(2, 0, &aents, true, "").into_bytes());
    files.insert(
        "/master.m3u8".into(),
        "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",LANGUAGE=\"en\",DEFAULT=YES,URI=\"aud/index.m3u8\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=800000,AUDIO=\"a\"\nv/index.m3u8\n"
            .as_bytes()
            .to_vec(),
    );
    let o = Origin::start(static_files(files));
    for fmt in [Container::Ts, Container::Mp4] {
        let dir = temp_dir("alt-sections");
        let s = run(&opts(o.url("/master.m3u8"), &dir, fmt)).0.unwrap();
        assert_eq!(s.files.len(), 2, "{:?}", s.files);
        let first: f64 = f.video_only.segments.iter().map(|s| s.0).sum();
        let second: f64 = f.big.segments.iter().map(|s| s.0).sum();
        for (file, secs) in s.files.iter().zip([first, second]) {
            let (types, _) = ffprobe(file);
            assert!(types.contains(&"video".into()) && types.contains(&"audio".into()), "{file:?}: {types:?}");
            assert_eq!(ffmpeg_errors(file), "", "{file:?}");
            // The audio spans the section without holes and starts with its picture.
            let packets = |sel: &str| -> Vec<(f64, f64)> {
                let out = std::process::Command::new("/usr/bin/ffprobe")
                    .args([
                        "-v",
                        "error",
                        "-select_streams",
                        sel,
                        "-show_entries",
                        "packet=pts_time,duration_time",
                        "-of",
                        "json",
                    ])
                    .arg(file)
                    .output()
                    .unwrap();
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let f = |x: &serde_json::Value| x.as_str().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
                let mut p: Vec<(f64, f64)> = v["packets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (f(&p["pts_time"]), f(&p["duration_time"])))
                    .collect();
                p.sort_by(|a, b| a.0.total_cmp(&b.0));
                p
            };
            let (a, v) = (packets("a:0"), packets("v:0"));
            let (a0, v0) = (a.first().unwrap().0, v.first().unwrap().0);
            let end = a.last().map(|p| p.0 + p.1).unwrap();
            assert!((a0 - v0).abs() < 0.1, "{file:?}: audio starts at {a0}, video at {v0}");
            assert!((end - a0 - secs).abs() < 0.1, "{file:?}: audio {a0}..{end} for a {secs} s section");
            let hole = a.windows(2).map(|w| w[1].0 - w[0].0 - w[0].1).fold(0.0, f64::max);
            assert!(hole < 0.005, "{file:?}: hole of {hole} s in the audio");
        }
    }
}

#[test]
fn forbidden_token_reloads_master() {
    need_ffmpeg!();
    let f = fixtures();
    let token = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let clip = f.a.clone();
    let (t2, s2) = (token.clone(), served.clone());
    let h: Handler = Arc::new(move |pq: &str, _r| {
        let (path, q) = pq.split_once('?').unwrap_or((pq, ""));
        let tok: usize = q.strip_prefix("t=").and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
        if path == "/master.m3u8" {
            let n = t2.fetch_add(1, Ordering::SeqCst) + 1;
            s2.store(0, Ordering::SeqCst);
            return Reply::m3u8(&format!("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000\nv.m3u8?t={n}\n"));
        }
        if tok != t2.load(Ordering::SeqCst) {
            return Reply::status(403);
        }
        if path == "/v.m3u8" {
            let ents: Vec<_> = clip
                .segments
                .iter()
                .enumerate()
                .map(|(i, (d, _))| (String::new(), *d, format!("s{i}.ts?t={tok}")))
                .collect();
            return Reply::m3u8(&media_playlist(2, 0, &ents, true, ""));
        }
        // A token is good for two segments.
        if s2.fetch_add(1, Ordering::SeqCst) >= 2 {
            return Reply::status(403);
        }
        let i: usize = path.trim_start_matches("/s").trim_end_matches(".ts").parse().unwrap();
        Reply::ok("video/mp2t", clip.segments[i].1.clone())
    });
    let o = Origin::start(h);
    let dir = temp_dir("403");
    let mut op = opts(o.url("/master.m3u8"), &dir, Container::Ts);
    op.jobs = 1;
    let s = run(&op).0.unwrap();
    assert_eq!(s.segments, f.a.segments.len() as u64);
    assert_eq!(s.sequences, (0..f.a.segments.len() as u64).collect::<Vec<_>>());
    assert!(token.load(Ordering::SeqCst) >= 2);
    check_output_ts(&s.files[0], f.a.segments.iter().map(|s| s.0).sum());
}

#[test]
fn server_errors_and_resets_are_retried() {
    need_ffmpeg!();
    let f = fixtures();
    let clip = f.a.clone();
    let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let h: Handler = Arc::new(move |pq: &str, _r| {
        let n = {
            let mut m = hits.lock().unwrap();
            let e = m.entry(pq.to_string()).or_insert(0);
            *e += 1;
            *e
        };
        if pq == "/index.m3u8" {
            if n == 1 {
                return Reply::status(503);
            }
            return Reply::m3u8(&media_playlist(2, 0, &entries(&clip, "s"), true, ""));
        }
        let i: usize = pq.trim_start_matches("/s").trim_end_matches(".ts").parse().unwrap();
        let b = clip.segments[i].1.clone();
        match (i % 2, n) {
            (0, 1) => Reply::status(500),
            (1, 1) => Reply { status: 200, ctype: "video/mp2t".into(), cut_at: Some(b.len() / 3), body: b },
            _ => Reply::ok("video/mp2t", b),
        }
    });
    let o = Origin::start(h);
    let dir = temp_dir("5xx");
    let s = run(&opts(o.url("/index.m3u8"), &dir, Container::Ts)).0.unwrap();
    check_output_ts(&s.files[0], f.a.segments.iter().map(|s| s.0).sum());
}

/// A live window of 10 one-second segments advancing every second, with an outage.
fn live_origin(outage: Option<(f64, f64)>, end_at: usize) -> Origin {
    let f = fixtures();
    let clip = f.live.clone();
    let t0 = Instant::now();
    let h: Handler = Arc::new(move |pq: &str, _r| {
        let el = t0.elapsed().as_secs_f64();
        if outage.is_some_and(|(a, b)| el >= a && el < b) {
            return Reply::status(503);
        }
        let edge = ((el as usize) + 10).min(end_at).min(clip.segments.len()); // exclusive
        if pq == "/live.m3u8" {
            let first = edge.saturating_sub(10);
            let ents: Vec<_> = (first..edge).map(|i| (String::new(), clip.segments[i].0, format!("s{i}.ts"))).collect();
            return Reply::m3u8(&media_playlist(1, first as u64, &ents, edge >= end_at, ""));
        }
        let i: usize = pq.trim_start_matches("/s").trim_end_matches(".ts").parse().unwrap();
        Reply::ok("video/mp2t", clip.segments[i].1.clone())
    });
    Origin::start(h)
}

#[test]
fn live_through_an_outage_misses_nothing() {
    need_ffmpeg!();
    let o = live_origin(Some((2.0, 7.0)), 20);
    let dir = temp_dir("live");
    let mut op = opts(o.url("/live.m3u8"), &dir, Container::Ts);
    op.retries = None;
    let t = Instant::now();
    let s = run(&op).0.unwrap();
    assert!(t.elapsed() < Duration::from_secs(30));
    assert_eq!(s.kind, "hls_live");
    assert_eq!(s.reason, StopReason::Complete);
    assert_eq!(s.missed_segments, 0, "{:?}", s.warnings);
    let first = s.sequences[0];
    assert_eq!(first, 7, "starts 3 target durations from the edge");
    assert_eq!(s.sequences, (first..20).collect::<Vec<_>>());
    assert_eq!(ffmpeg_errors(&s.files[0]), "");
    assert_eq!(check_ts(&std::fs::read(&s.files[0]).unwrap()).cc_errors, 0);
}

#[test]
fn live_stop_flag_and_manager() {
    need_ffmpeg!();
    let o = live_origin(None, 1000);
    let dir = temp_dir("live-stop");
    let mut op = opts(o.url("/live.m3u8"), &dir, Container::Mp4);
    op.live_from_start = true;
    let sink = EventSink::none().with_log();
    let mgr = RecorderManager::new(sink.clone());
    mgr.start(op).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(matches!(mgr.status(), RecorderStatus::Running { .. }));
    let s = mgr.stop().unwrap().unwrap();
    assert_eq!(s.reason, StopReason::User);
    assert!(s.segments >= 10, "{}", s.segments);
    assert_eq!(s.sequences[0], 0);
    assert_eq!(dir_files(&dir), vec!["stream_0.mp4"]);
    let (types, _) = ffprobe(&s.files[0]);
    assert_eq!(types.len(), 2);
    assert_eq!(ffmpeg_errors(&s.files[0]), "");
    let ev = sink.logged();
    assert!(matches!(ev.last(), Some(RecordEvent::Stop { reason: StopReason::User, .. })));
    assert_eq!(ev.iter().filter(|e| matches!(e, RecordEvent::Stop { .. })).count(), 1);
    assert!(matches!(mgr.status(), RecorderStatus::Finished(Ok(_))));
}

#[test]
fn live_max_duration() {
    need_ffmpeg!();
    let o = live_origin(None, 1000);
    let dir = temp_dir("live-max");
    let mut op = opts(o.url("/live.m3u8"), &dir, Container::Ts);
    op.max_duration = Some(3.0);
    let s = run(&op).0.unwrap();
    assert_eq!(s.reason, StopReason::Complete);
    assert!(s.recorded_secs >= 3.0 && s.recorded_secs < 4.5, "{}", s.recorded_secs);
}

#[test]
fn direct_mp4_with_resume() {
    need_ffmpeg!();
    let f = fixtures();
    let mp4 = f.mp4.clone();
    let first = Arc::new(AtomicBool::new(true));
    let h: Handler = Arc::new(move |_pq: &str, range: Option<&str>| {
        if range.is_none() && first.swap(false, Ordering::SeqCst) {
            return Reply { status: 200, ctype: "video/mp4".into(), cut_at: Some(mp4.len() / 2), body: mp4.clone() };
        }
        serve_range(&mp4, range, "video/mp4")
    });
    let o = Origin::start(h);
    let dir = temp_dir("mp4");
    let mut op = opts(o.url("/video"), &dir, Container::Mp4);
    op.output = Some(dir.join("v.mp4"));
    let (r, ev) = run(&op);
    let s = r.unwrap();
    assert_eq!(s.kind, "mp4");
    assert_eq!(std::fs::read(dir.join("v.mp4")).unwrap(), f.mp4);
    assert!(o.requests().len() >= 3);
    assert!(matches!(ev.first(), Some(RecordEvent::Start { .. })));
    assert!(matches!(ev.last(), Some(RecordEvent::Stop { reason: StopReason::Complete, .. })));
    // TS output of the same file.
    let dir2 = temp_dir("mp4-ts");
    let s = run(&opts(o.url("/clip.mp4"), &dir2, Container::Ts)).0.unwrap();
    assert_eq!(dir_files(&dir2), vec!["stream_0.ts"]);
    assert_eq!(ffmpeg_errors(&s.files[0]), "");
}
