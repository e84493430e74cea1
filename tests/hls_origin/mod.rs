//! A fake HLS origin on 127.0.0.1:0 (axum, own thread and runtime) and fixtures made
//! once per test binary with /usr/bin/ffmpeg.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode, Uri};

/// What the handler answers.
pub struct Reply {
    pub status: u16,
    pub ctype: String,
    pub body: Vec<u8>,
    /// Send only this many bytes of the body, then abort the connection.
    pub cut_at: Option<usize>,
}

impl Reply {
    pub fn ok(ctype: &str, body: Vec<u8>) -> Reply {
        Reply { status: 200, ctype: ctype.into(), body, cut_at: None }
    }
    pub fn status(s: u16) -> Reply {
        Reply { status: s, ctype: "text/plain".into(), body: format!("status {s}").into_bytes(), cut_at: None }
    }
    pub fn m3u8(text: &str) -> Reply {
        Reply::ok("application/vnd.apple.mpegurl", text.as_bytes().to_vec())
    }
}

pub type Handler = Arc<dyn Fn(&str, Option<&str>) -> Reply + Send + Sync>;

pub struct Origin {
    pub base: String,
    /// Every request's path and query, in arrival order.
    pub log: Arc<Mutex<Vec<String>>>,
}

/// How long to hold the answer to a request (`path_and_query`), e.g. to throttle segments.
pub type Delay = Arc<dyn Fn(&str) -> std::time::Duration + Send + Sync>;

impl Origin {
    /// `handler(path_and_query, range_header)`.
    pub fn start(handler: Handler) -> Origin {
        Origin::start_delayed(handler, Arc::new(|_: &str| std::time::Duration::ZERO))
    }

    /// Like [`Origin::start`], each answer held for `delay(path_and_query)`.
    pub fn start_delayed(handler: Handler, delay: Delay) -> Origin {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let l2 = log.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
                    let h = handler.clone();
                    let log = l2.clone();
                    let delay = delay.clone();
                    async move {
                        let pq = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
                        log.lock().unwrap().push(pq.clone());
                        let d = delay(&pq);
                        if !d.is_zero() {
                            tokio::time::sleep(d).await;
                        }
                        let range = headers.get("range").and_then(|v| v.to_str().ok()).map(str::to_string);
                        let r = h(&pq, range.as_deref());
                        let mut b = Response::builder()
                            .status(StatusCode::from_u16(r.status).unwrap())
                            .header("content-type", r.ctype.clone());
                        match r.cut_at {
                            Some(n) => {
                                b = b.header("content-length", r.body.len().to_string());
                                let first = r.body[..n.min(r.body.len())].to_vec();
                                let s = futures_util::stream::iter(vec![
                                    Ok::<Vec<u8>, std::io::Error>(first),
                                    Err(std::io::Error::other("cut")),
                                ]);
                                b.body(Body::from_stream(s)).unwrap()
                            }
                            None => b.body(Body::from(r.body)).unwrap(),
                        }
                    }
                });
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Origin { base: format!("http://{addr}"), log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// Serve `files` (path -> bytes) with Range support; `.m3u8` as HLS.
pub fn serve_range(body: &[u8], range: Option<&str>, ctype: &str) -> Reply {
    if let Some(r) = range.and_then(|r| r.strip_prefix("bytes=")) {
        let (a, b) = r.split_once('-').unwrap();
        let a: usize = a.parse().unwrap();
        let b: usize = if b.is_empty() { body.len() - 1 } else { b.parse::<usize>().unwrap().min(body.len() - 1) };
        if a >= body.len() {
            return Reply::status(416);
        }
        return Reply { status: 206, ctype: ctype.into(), body: body[a..=b].to_vec(), cut_at: None };
    }
    Reply::ok(ctype, body.to_vec())
}

pub fn static_files(files: HashMap<String, Vec<u8>>) -> Handler {
    Arc::new(move |pq: &str, range: Option<&str>| {
        let path = pq.split('?').next().unwrap();
        match files.get(path) {
            Some(b) => {
                let ct = if path.ends_with(".m3u8") {
                    "application/vnd.apple.mpegurl"
                } else if path.ends_with(".mp4") {
                    "video/mp4"
                } else {
                    "video/mp2t"
                };
                serve_range(b, range, ct)
            }
            None => Reply::status(404),
        }
    })
}

/// `clip` as a VOD: its segments by name (`s0.ts`, `s1.ts`...) and the media playlist
/// that lists them (target duration 2, ENDLIST).
pub fn vod_files(clip: &Clip) -> (HashMap<String, Vec<u8>>, String) {
    let mut segs = HashMap::new();
    let mut entries = Vec::new();
    for (i, (d, b)) in clip.segments.iter().enumerate() {
        segs.insert(format!("s{i}.ts"), b.clone());
        entries.push((String::new(), *d, format!("s{i}.ts")));
    }
    (segs, media_playlist(2, 0, &entries, true, ""))
}

/// A clip cut into HLS segments by ffmpeg.
#[derive(Clone, Debug)]
pub struct Clip {
    /// (duration, bytes)
    pub segments: Vec<(f64, Vec<u8>)>,
    pub init: Option<Vec<u8>>,
}

pub struct Fixtures {
    pub dir: PathBuf,
    /// 160x120 H.264+AAC, 8 s, 2 s TS segments.
    pub a: Clip,
    /// 320x240, 4 s, TS.
    pub big: Clip,
    /// 160x120, 4 s, an independent encode (timestamps restart).
    pub c: Clip,
    /// 160x120 fMP4, 6 s.
    pub fmp4: Clip,
    /// Video only 160x120 8 s, TS.
    pub video_only: Clip,
    /// Audio only 8 s, TS.
    pub audio_only: Clip,
    /// 160x120, 20 s, 1 s segments (live).
    pub live: Clip,
    /// Plain faststart MP4, 4 s.
    pub mp4: Vec<u8>,
}

pub fn have_ffmpeg() -> bool {
    Path::new("/usr/bin/ffmpeg").exists() && Path::new("/usr/bin/ffprobe").exists()
}

fn run(args: &[&str]) {
    let st = std::process::Command::new("/usr/bin/ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "ffmpeg {args:?}");
}

#[allow(clippy::too_many_arguments)]
fn encode(
    dir: &Path,
    name: &str,
    size: &str,
    secs: u32,
    freq: u32,
    seg_type: &str,
    hls_time: u32,
    extra: &[&str],
) -> Clip {
    let src_v = format!("testsrc2=size={size}:rate=25");
    let src_a = format!("sine=frequency={freq}:sample_rate=48000");
    encode_source(dir, name, &src_v, &src_a, secs, seg_type, hls_time, extra)
}

/// `encode` from any lavfi video and audio source.
#[allow(clippy::too_many_arguments)]
pub fn encode_source(
    dir: &Path,
    name: &str,
    src_v: &str,
    src_a: &str,
    secs: u32,
    seg_type: &str,
    hls_time: u32,
    extra: &[&str],
) -> Clip {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let t = secs.to_string();
    let ht = hls_time.to_string();
    let pl = d.join("index.m3u8");
    let mut args: Vec<&str> = vec!["-f", "lavfi", "-i", src_v, "-f", "lavfi", "-i", src_a, "-t", &t];
    args.extend_from_slice(extra);
    let seg_name = d.join(if seg_type == "fmp4" { "s%d.m4s" } else { "s%d.ts" });
    let seg_name = seg_name.to_str().unwrap().to_string();
    args.extend_from_slice(&[
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "25",
        "-keyint_min",
        "25",
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        "-f",
        "hls",
        "-hls_time",
        &ht,
        "-hls_list_size",
        "0",
        "-hls_segment_type",
        seg_type,
        "-hls_segment_filename",
        &seg_name,
    ]);
    if seg_type == "fmp4" {
        args.extend_from_slice(&["-hls_fmp4_init_filename", "init.mp4"]);
    }
    let pls = pl.to_str().unwrap().to_string();
    args.push(&pls);
    run(&args);
    let text = std::fs::read_to_string(&pl).unwrap();
    let mut segments = Vec::new();
    let mut dur = 0.0;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXTINF:") {
            dur = v.trim_end_matches(',').split(',').next().unwrap().parse().unwrap();
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            segments.push((dur, std::fs::read(d.join(line.trim())).unwrap()));
        }
    }
    let init = if seg_type == "fmp4" { Some(std::fs::read(d.join("init.mp4")).unwrap()) } else { None };
    Clip { segments, init }
}

/// An ffmpeg-made HLS VOD whose every frame is distinguishable in time: a saturated colour
/// whose hue turns 40 degrees per second (320x240, 25 fps, x264 with 2 B-frames, GOP 25),
/// with a 440 Hz AAC tone at 48 kHz, cut into 2 s MPEG-TS segments under `dir/ramp`.
/// Returns the clip and its origin serving `/index.m3u8` and `/sN.ts`.
pub fn ramp_vod(dir: &Path, secs: u32) -> (Clip, Origin) {
    let clip = encode_source(
        dir,
        "ramp",
        "color=c=0xE02020:size=320x240:rate=25,hue=h=t*40",
        "sine=frequency=440:sample_rate=48000",
        secs,
        "mpegts",
        2,
        &["-bf", "2"],
    );
    let mut files = HashMap::new();
    let mut entries = Vec::new();
    for (i, (d, b)) in clip.segments.iter().enumerate() {
        files.insert(format!("/s{i}.ts"), b.clone());
        entries.push((String::new(), *d, format!("s{i}.ts")));
    }
    files.insert("/index.m3u8".into(), media_playlist(2, 0, &entries, true, "").into_bytes());
    (clip, Origin::start(static_files(files)))
}

pub fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("stitch-record-fixtures-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let a = encode(&dir, "a", "160x120", 8, 440, "mpegts", 2, &[]);
        let big = encode(&dir, "big", "320x240", 4, 440, "mpegts", 2, &[]);
        let c = encode(&dir, "c", "160x120", 4, 660, "mpegts", 2, &[]);
        let fmp4 = encode(&dir, "f", "160x120", 6, 440, "fmp4", 2, &[]);
        let video_only = encode(&dir, "vo", "160x120", 8, 440, "mpegts", 2, &["-an"]);
        let audio_only = encode(&dir, "ao", "160x120", 8, 550, "mpegts", 2, &["-vn"]);
        let live = encode(&dir, "live", "160x120", 20, 440, "mpegts", 1, &[]);
        let mp4p = dir.join("clip.mp4");
        run(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
            mp4p.to_str().unwrap(),
        ]);
        let mp4 = std::fs::read(&mp4p).unwrap();
        Fixtures { dir, a, big, c, fmp4, video_only, audio_only, live, mp4 }
    })
}

/// A media playlist: `entries` are (extra tag lines, duration, uri).
pub fn media_playlist(td: u32, seq: u64, entries: &[(String, f64, String)], endlist: bool, head: &str) -> String {
    let mut s = format!("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:{td}\n#EXT-X-MEDIA-SEQUENCE:{seq}\n{head}");
    for (tags, d, u) in entries {
        s.push_str(tags);
        s.push_str(&format!("#EXTINF:{d:.6},\n{u}\n"));
    }
    if endlist {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    s
}

/// ffprobe: (codec_type list, format duration).
pub fn ffprobe(path: &Path) -> (Vec<String>, f64) {
    let out = std::process::Command::new("/usr/bin/ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type:format=duration", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe rejects {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let types = v["streams"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["codec_type"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let dur = v["format"]["duration"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0.0);
    (types, dur)
}

/// Output TS checks: ffprobe, clean decode, no CC error, no video jump > 1 frame, video
/// duration `expect_secs` within one frame.
pub fn check_output_ts(path: &Path, expect_secs: f64) {
    use stitch::media::remux::tsjoin::check_ts;
    use stitch::media::time::Ticks90k;
    let (types, _) = ffprobe(path);
    assert!(types.contains(&"video".to_string()), "{types:?}");
    assert_eq!(ffmpeg_errors(path), "", "decode errors in {}", path.display());
    let data = std::fs::read(path).unwrap();
    let c = check_ts(&data);
    assert_eq!(c.cc_errors, 0, "{:?}", c.cc_errors_by_pid);
    let frame = c.video_frame_90k().unwrap();
    assert_eq!(c.pts_jumps_over(frame + Ticks90k(frame.0 / 2)), 0, "video PTS jumps; max gap {}", c.max_pts_gap);
    let dur = c.video_duration_90k().unwrap().secs_f64();
    assert!((dur - expect_secs).abs() <= frame.secs_f64() + 1e-3, "duration {dur} vs {expect_secs}");
}

/// `ffmpeg -v error -i OUT -f null -` output (empty = clean decode).
pub fn ffmpeg_errors(path: &Path) -> String {
    let out = std::process::Command::new("/usr/bin/ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).to_string()
}
