//! `stitch record`: direct MP4, HLS VOD, live HLS and fMP4 HLS into a continuity-fixed
//! MPEG-TS or a faststart MP4, all in-process (no subprocess).
//!
//! [`record`] is blocking (it builds its own tokio runtime) and emits, through an
//! [`EventSink`], `start` (live: after `buffering` segments; VOD: at the first segment; MP4: the first chunk; before
//! any `progress`), `progress` (after every segment / every 2 % or 3 s of an MP4), and
//! exactly one `stop` at the end (`complete`, `user`, or `error` with an error id); see
//! `events.rs` for the fields. [`RecorderManager`] runs at most one recorder at a time in
//! its own thread. [`list_formats`] is `record -F`.
//!
//! Retries: `RecordOptions::retries` `None` is [`AUTO_RETRIES`] failed attempts per request,
//! lifted to "forever" once the stream turns out to be live; every retry prints one line
//! with the root cause and the URL (`http.rs`). An HLS VOD resumes after an interruption
//! (`resume.rs`).
//!
//! Output naming: `output: Some(NAME.EXT)`: first section `NAME.EXT`, later sections (a
//! change of resolution or codec, a new EXT-X-MAP) `NAME_1.EXT`, `NAME_2.EXT`...;
//! otherwise `rec_dir` (default: the current directory) gets `stream_0.EXT`,
//! `stream_1.EXT`... with EXT from `format`.
//!
//! Type detection ([`RecorderKind::Auto`]): a URL ending in `.mp4`/`.m4v`/`.mov` is a
//! direct MP4; otherwise the first response decides: an HLS content type or a body
//! starting with `#EXTM3U` is HLS (master: variant + audio rendition; `EXT-X-MAP`:
//! `hls_m4s`; no `EXT-X-ENDLIST`: `hls_live`; else `hls_basic`), `ftyp` / `video/mp4` is a
//! direct MP4. The forced HLS kinds all use the same engine (the playlist decides whether
//! it is live); the kind reported in events is the detected one.

mod direct;
pub mod events;
mod formats;
mod hls;
mod http;
pub(crate) mod output;
mod resume;
mod ui;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::hls::playlist::Quality;
pub use events::{iso8601, ErrorId, EventSink, RecordEvent, StopReason};
pub use formats::list_formats;
pub use http::{AUTO_RETRIES, RETRY_FOREVER};
pub use media::Container;
pub use output::remux as remux_file;

use http::{FetchErr, Http, Resp};
use output::Naming;
use ui::Ui;

/// Which recorder to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecorderKind {
    #[default]
    Auto,
    Mp4,
    HlsBasic,
    HlsLive,
    HlsM4s,
}

/// `--type` names no recorder.
#[derive(Debug, thiserror::Error)]
#[error("unknown recorder type {0:?} (auto, mp4, hls_basic, hls_live, hls_m4s)")]
pub struct UnknownRecorder(pub String);

impl std::str::FromStr for RecorderKind {
    type Err = UnknownRecorder;
    fn from_str(s: &str) -> Result<Self, UnknownRecorder> {
        Ok(match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "auto" => RecorderKind::Auto,
            "mp4" => RecorderKind::Mp4,
            "hls_basic" | "hls" => RecorderKind::HlsBasic,
            "hls_live" | "live" => RecorderKind::HlsLive,
            "hls_m4s" | "m4s" | "fmp4" => RecorderKind::HlsM4s,
            _ => return Err(UnknownRecorder(s.to_string())),
        })
    }
}

/// What to record and how.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    pub url: String,
    /// Output file of the first section (later sections get `_1`, `_2`... suffixes);
    /// `-` streams MPEG-TS to stdout.
    pub output: Option<PathBuf>,
    /// Directory for `stream_N.EXT` files when `output` is not given.
    pub rec_dir: Option<PathBuf>,
    pub format: Container,
    pub kind: RecorderKind,
    pub quality: Quality,
    /// Preferred language (or name) of the alternative audio rendition.
    pub audio_lang: Option<String>,
    /// Extra request headers for every request.
    pub headers: Vec<(String, String)>,
    /// Netscape cookies.txt.
    pub cookies_file: Option<PathBuf>,
    pub user_agent: Option<String>,
    /// AES-128 key overriding the playlist's key URIs.
    pub key_hex: Option<[u8; 16]>,
    /// Live: start at the window start instead of 3 target durations from the edge.
    pub live_from_start: bool,
    /// Stop after this many seconds of recorded media.
    pub max_duration: Option<f64>,
    /// Concurrent segment downloads (default 4).
    pub jobs: usize,
    /// Live: segments written before the `start` event (default 5).
    pub buffering: usize,
    /// Failed attempts allowed per request; `None`: automatic ([`AUTO_RETRIES`], forever
    /// for a live stream); [`RETRY_FOREVER`]: no limit.
    pub retries: Option<u32>,
    /// Do not print warnings as they happen (they are still in the summary and events).
    pub quiet: bool,
    /// `--proxy` and `--limit-rate`.
    pub net: crate::net::NetOptions,
}

impl RecordOptions {
    pub fn new(url: impl Into<String>) -> RecordOptions {
        RecordOptions {
            url: url.into(),
            output: None,
            rec_dir: None,
            format: Container::Ts,
            kind: RecorderKind::Auto,
            quality: Quality::Best,
            audio_lang: None,
            headers: Vec::new(),
            cookies_file: None,
            user_agent: None,
            key_hex: None,
            live_from_start: false,
            max_duration: None,
            jobs: 4,
            buffering: 5,
            retries: None,
            quiet: false,
            net: Default::default(),
        }
    }
}

/// `--key` is not 32 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("invalid key {0:?}: expected 32 hex digits")]
pub struct BadKey(pub String);

/// Parse `--key HEX` (32 hex digits, optional `0x`).
pub fn parse_key_hex(s: &str) -> Result<[u8; 16], BadKey> {
    let t = s.trim().trim_start_matches("0x").trim_start_matches("0X");
    if t.len() != 32 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(BadKey(s.to_string()));
    }
    let mut k = [0u8; 16];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|_| BadKey(s.to_string()))?;
    }
    Ok(k)
}

/// Why a recording failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    #[error("{0}")]
    Failure(String),
    #[error("DRM-protected stream, not recordable: {0}")]
    Drm(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("access denied: {0}")]
    Forbidden(String),
}

impl RecordError {
    pub fn error_id(&self) -> ErrorId {
        match self {
            RecordError::Failure(_) => ErrorId::Failure,
            RecordError::Drm(_) => ErrorId::DrmProtected,
            RecordError::Timeout(_) => ErrorId::Timeout,
            RecordError::Forbidden(_) => ErrorId::Forbidden,
        }
    }
}

/// A failure of the recording's files: a [`RecordError::Failure`] in their words.
impl From<output::OutputError> for RecordError {
    fn from(e: output::OutputError) -> Self {
        RecordError::Failure(e.to_string())
    }
}

impl From<FetchErr> for RecordError {
    fn from(e: FetchErr) -> Self {
        match e {
            FetchErr::Forbidden(m) => RecordError::Forbidden(m),
            FetchErr::Fatal(m) => RecordError::Failure(m),
            FetchErr::Timeout(m) => RecordError::Timeout(m),
            FetchErr::Stopped => RecordError::Failure("stopped".into()),
        }
    }
}

/// What a finished recording produced.
#[derive(Clone, Debug, Default)]
pub struct RecordSummary {
    /// `mp4`, `hls_basic`, `hls_live` or `hls_m4s`.
    pub kind: String,
    /// Output files, one per section.
    pub files: Vec<PathBuf>,
    pub segments: u64,
    /// Segments of a VOD playlist.
    pub segments_total: Option<u64>,
    /// Bytes downloaded (media).
    pub bytes: u64,
    /// Seconds of media recorded (sum of segment durations; direct MP4: the file's
    /// duration).
    pub recorded_secs: f64,
    /// `Complete` (end of stream or `max_duration`) or `User` (stop flag).
    pub reason: StopReason,
    /// Live segments that expired before they could be fetched (or failed).
    pub missed_segments: u64,
    /// EXT-X-GAP segments skipped.
    pub gap_segments: u64,
    /// Media sequence numbers written, in order (main track).
    pub sequences: Vec<u64>,
    pub warnings: Vec<String>,
    /// Segments taken over from an interrupted run.
    pub resumed_segments: u64,
    /// Stopped before the end; the temporaries are kept and a rerun continues.
    pub resumable: bool,
}

#[allow(clippy::derivable_impls)]
impl Default for StopReason {
    fn default() -> Self {
        StopReason::Complete
    }
}

/// Record `opts.url` until its end, an error, or `stop`. Blocking. Emits exactly one
/// `stop` event.
pub fn record(opts: &RecordOptions, events: &EventSink, stop: Arc<AtomicBool>) -> Result<RecordSummary, RecordError> {
    let res = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt.block_on(run(opts, events, stop)),
        Err(e) => Err(RecordError::Failure(format!("cannot start the async runtime: {e}"))),
    };
    let ev = match &res {
        Ok(s) => RecordEvent::Stop {
            reason: s.reason,
            error_id: None,
            message: None,
            path: s.files.first().map(|p| p.display().to_string()),
            segments: s.segments,
            bytes: s.bytes,
            recorded_secs: s.recorded_secs,
        },
        Err(e) => RecordEvent::Stop {
            reason: StopReason::Error,
            error_id: Some(e.error_id()),
            message: Some(e.to_string()),
            path: None,
            segments: 0,
            bytes: 0,
            recorded_secs: 0.0,
        },
    };
    events.emit(&ev);
    res
}

/// [`record`] inside an existing tokio runtime (no `stop` event is emitted: the caller owns
/// the outcome). Used by `stitch webinar` to fetch a chunk's HLS twin.
pub async fn record_in_runtime(opts: &RecordOptions, stop: Arc<AtomicBool>) -> Result<RecordSummary, RecordError> {
    run(opts, &EventSink::none(), stop).await
}

fn looks_mp4_url(u: &url::Url) -> bool {
    let p = u.path().to_ascii_lowercase();
    p.ends_with(".mp4") || p.ends_with(".m4v") || p.ends_with(".mov")
}

enum Probe {
    Hls(Resp),
    Mp4,
}

/// First request of an `Auto` recording: reads a playlist whole, stops at the first bytes
/// of anything else.
async fn probe(http: &Http, url: &url::Url) -> Result<Probe, RecordError> {
    let too_large = std::sync::atomic::AtomicBool::new(false);
    let enough = |ct: Option<&str>, body: &[u8]| {
        let hls = ct.is_some_and(|c| c.contains("mpegurl")) || body.trim_ascii_start().starts_with(b"#EXTM3U");
        if hls && body.len() > crate::hls::playlist::MAX_PLAYLIST_BYTES {
            too_large.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        (!hls && body.len() >= 16) || too_large.load(std::sync::atomic::Ordering::Relaxed)
    };
    let r = match http.get_until(url, None, Duration::from_secs(10), Some(&enough)).await {
        Ok(r) => r,
        Err(FetchErr::Forbidden(_)) => return Err(RecordError::Forbidden(format!("403 Forbidden ({url})"))),
        Err(e) => return Err(e.into()),
    };
    if too_large.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(RecordError::Failure(format!("{url}: playlist too large")));
    }
    if hls::is_playlist(&r) {
        return Ok(Probe::Hls(r));
    }
    let is_mp4 = r.content_type.as_deref().is_some_and(|c| c.starts_with("video/mp4") || c.starts_with("audio/mp4"))
        || (r.body.len() >= 8 && &r.body[4..8] == b"ftyp");
    if is_mp4 {
        return Ok(Probe::Mp4);
    }
    Err(RecordError::Failure(format!(
        "{url}: neither an HLS playlist nor an MP4 file (content type {})",
        r.content_type.as_deref().unwrap_or("none")
    )))
}

/// The client every request of `opts` goes through.
fn client(opts: &RecordOptions, stop: Arc<AtomicBool>) -> Result<(url::Url, Arc<Http>), RecordError> {
    let url = url::Url::parse(opts.url.trim())
        .map_err(|e| RecordError::Failure(format!("invalid URL {:?}: {e}", opts.url)))?;
    let ui = Arc::new(Ui::new(opts.quiet));
    let http = Http::new(
        &opts.headers,
        opts.user_agent.as_deref(),
        opts.cookies_file.as_deref(),
        opts.retries,
        stop,
        ui,
        &opts.net,
    )
    .map_err(|e| RecordError::Failure(e.to_string()))?;
    if let (Some(w), false) = (&http.cookies_warning, opts.quiet) {
        eprintln!("warning: {w}");
    }
    Ok((url, Arc::new(http)))
}

async fn run(opts: &RecordOptions, events: &EventSink, stop: Arc<AtomicBool>) -> Result<RecordSummary, RecordError> {
    let (url, http) = client(opts, stop.clone())?;
    let r = run_with(opts, events, &http, &url, stop).await;
    http.ui.finish();
    r
}

async fn run_with(
    opts: &RecordOptions,
    events: &EventSink,
    http: &Arc<Http>,
    url: &url::Url,
    stop: Arc<AtomicBool>,
) -> Result<RecordSummary, RecordError> {
    let (url, http) = (url.clone(), http.clone());
    let naming = Naming {
        output: opts.output.clone(),
        dir: opts.rec_dir.clone().unwrap_or_else(|| PathBuf::from(".")),
        format: opts.format,
    };
    let user_stop = |r: Result<RecordSummary, RecordError>| match r {
        Err(_) if stop.load(Ordering::Relaxed) => Ok(RecordSummary { reason: StopReason::User, ..Default::default() }),
        r => r,
    };
    let r = match opts.kind {
        RecorderKind::Mp4 => direct::record_mp4(opts, events, &http, &url, &naming).await,
        RecorderKind::Auto if looks_mp4_url(&url) => direct::record_mp4(opts, events, &http, &url, &naming).await,
        RecorderKind::Auto => match probe(&http, &url).await {
            Ok(Probe::Mp4) => direct::record_mp4(opts, events, &http, &url, &naming).await,
            Ok(Probe::Hls(first)) => hls::record_hls(opts, events, http.clone(), first, naming).await,
            Err(e) => Err(e),
        },
        _ => match http.get(&url, None, Duration::from_secs(10)).await {
            Ok(first) => hls::record_hls(opts, events, http.clone(), first, naming).await,
            Err(e) => Err(e.into()),
        },
    };
    user_stop(r)
}

/// State of a [`RecorderManager`].
#[derive(Debug, Clone)]
pub enum RecorderStatus {
    Idle,
    Running { url: String },
    Finished(Result<RecordSummary, RecordError>),
}

struct Running {
    url: String,
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Result<RecordSummary, RecordError>>,
}

/// Runs at most one recorder at a time, each in its own thread with its own stop flag.
pub struct RecorderManager {
    events: EventSink,
    cur: Mutex<Option<Running>>,
    last: Mutex<Option<Result<RecordSummary, RecordError>>>,
}

impl RecorderManager {
    pub fn new(events: EventSink) -> RecorderManager {
        RecorderManager { events, cur: Mutex::new(None), last: Mutex::new(None) }
    }

    /// Start recording `opts`; a running recorder is stopped first (and waited for).
    pub fn start(&self, opts: RecordOptions) -> std::io::Result<()> {
        self.stop();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, ev, o) = (stop.clone(), self.events.clone(), opts.clone());
        let handle = std::thread::Builder::new().name("recorder".into()).spawn(move || record(&o, &ev, s))?;
        *self.cur.lock().unwrap_or_else(|e| e.into_inner()) = Some(Running { url: opts.url, stop, handle });
        Ok(())
    }

    /// Stop the running recorder (if any), wait for it, and return its result.
    pub fn stop(&self) -> Option<Result<RecordSummary, RecordError>> {
        let cur = self.cur.lock().unwrap_or_else(|e| e.into_inner()).take();
        let r = cur.map(|r| {
            r.stop.store(true, Ordering::Relaxed);
            r.handle.join().unwrap_or_else(|_| Err(RecordError::Failure("the recorder thread panicked".into())))
        });
        if let Some(r) = &r {
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(r.clone());
        }
        r
    }

    pub fn status(&self) -> RecorderStatus {
        let mut cur = self.cur.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = cur.as_ref() {
            if !r.handle.is_finished() {
                return RecorderStatus::Running { url: r.url.clone() };
            }
            let r = cur.take().expect("running");
            let res =
                r.handle.join().unwrap_or_else(|_| Err(RecordError::Failure("the recorder thread panicked".into())));
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(res);
        }
        match self.last.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(r) => RecorderStatus::Finished(r.clone()),
            None => RecorderStatus::Idle,
        }
    }
}

impl Drop for RecorderManager {
    fn drop(&mut self) {
        self.stop();
    }
}
