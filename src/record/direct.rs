//! Direct MP4 recording: `HEAD` for the size, then `GET` into `<target>.part`, resuming
//! with `Range: bytes=N-` after a failure (or a previous run), renamed when complete: the
//! resumable fetch of [`crate::http::fetch`] (its `Content-Range` and size checks), with the
//! recorders' retry budget and lines ([`super::http::Http::retry`]); a retry after new bytes
//! arrived starts the failure count again.
//! `start` at the first chunk (the final path and the size when known), `progress` every
//! 2 % (size known) or 3 s, a progress bar with bytes/total and speed on a terminal. With
//! TS output the downloaded MP4 is a hidden temporary remuxed to TS at the end. Each retry
//! prints one line with the root cause (`http.rs`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use url::Url;

use super::events::{EventSink, RecordEvent, StopReason};
use super::http::{Http, Retry};
use super::output::{remux, Naming};
use super::{Container, RecordError, RecordOptions, RecordSummary};
use crate::http::fetch::header_u64;
use crate::http::{FetchError, Observer, Target};

/// The longest stream duration the MP4 declares (seconds).
fn mp4_duration(p: &Path) -> f64 {
    use media::packet::Demuxer;
    match media::demux::mp4::Mp4Demuxer::open(p) {
        Ok(d) => d
            .streams()
            .iter()
            .filter_map(|s| s.declared_duration.map(|t| t as f64 / s.timebase.max(1) as f64))
            .fold(0.0, f64::max),
        Err(_) => 0.0,
    }
}

fn user_stop(received: u64) -> RecordSummary {
    RecordSummary {
        kind: "mp4".into(),
        reason: StopReason::User,
        bytes: received,
        resumable: true,
        ..Default::default()
    }
}

fn start(path: &Path, total: Option<u64>) -> RecordEvent {
    RecordEvent::Start {
        path: path.display().to_string(),
        kind: "mp4".into(),
        segments_total: None,
        bytes_total: total,
        duration_total_secs: None,
    }
}

/// Progress of the transfer as events, the progress bar and the stop flag.
struct Progress<'a> {
    http: &'a Http,
    events: &'a EventSink,
    final_path: &'a Path,
    total: Option<u64>,
    /// The `start` event was sent.
    started: bool,
    /// Bytes received by this run.
    received: u64,
    /// Bytes arrived since the last failed attempt (then the failure count starts again).
    progressed: bool,
    t0: Instant,
    last_report: (Instant, u64),
}

impl Observer for Progress<'_> {
    fn total(&mut self, total: u64) {
        self.total = Some(total);
    }

    fn started(&mut self, _resume_from: u64, total: Option<u64>) {
        self.started = true;
        self.events.emit(&start(self.final_path, total));
    }

    fn received(&mut self, n: u64, pos: u64) {
        self.received += n;
        self.progressed = true;
        self.http.ui.download(pos, self.total);
        let step = self.total.map(|t| t / 50).unwrap_or(u64::MAX).max(1);
        if pos - self.last_report.1.min(pos) >= step || self.last_report.0.elapsed() >= Duration::from_secs(3) {
            self.last_report = (Instant::now(), pos);
            self.events.emit(&RecordEvent::Progress {
                segments: 0,
                segments_total: None,
                bytes: pos,
                bytes_total: self.total,
                speed_bps: self.received as f64 / self.t0.elapsed().as_secs_f64().max(1e-3),
                recorded_secs: 0.0,
            });
        }
    }

    fn stop(&self) -> bool {
        self.http.stopped()
    }
}

/// Where the MP4 is downloaded to: the final file, or a hidden temporary remuxed at the end.
fn download_path(opts: &RecordOptions, url: &Url, naming: &Naming, final_path: &Path) -> PathBuf {
    match opts.format {
        // `-o -`: the file is downloaded (resumable, named by its URL in the temporary
        // folder) and remuxed to stdout when complete.
        _ if naming.is_stdout() => std::env::temp_dir()
            .join(format!("stitch-stdout-{:016x}.rec.mp4", crate::remote::fnv1a64(url.as_str().as_bytes()))),
        Container::Mp4 => final_path.to_path_buf(),
        Container::Ts | Container::Adts => {
            let name = final_path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            final_path.with_file_name(format!(".{name}.rec.mp4"))
        }
    }
}

/// `HEAD` for the size (optional: any failure but `403` leaves it unknown).
async fn head_size(http: &Http, url: &Url) -> Result<Option<u64>, RecordError> {
    match http.request(reqwest::Method::HEAD, url, None).send().await {
        Ok(r) if r.status().is_success() => Ok(header_u64(r.headers(), &reqwest::header::CONTENT_LENGTH)),
        Ok(r) if r.status().as_u16() == 403 => Err(RecordError::Forbidden(format!("403 Forbidden ({url})"))),
        _ => Ok(None),
    }
}

/// A failed attempt that is not retried, as a [`RecordError`].
fn fatal(e: FetchError, url: &Url) -> RecordError {
    match e {
        FetchError::Status { status, .. } if status.as_u16() == 403 => {
            RecordError::Forbidden(format!("403 Forbidden ({url})"))
        }
        FetchError::Status { status, .. } => RecordError::Failure(format!("{status} ({url})")),
        FetchError::Io { .. } => RecordError::Failure(e.to_string()),
        e => RecordError::Failure(format!("{url}: {e}")),
    }
}

/// Download `url` to `target` (resuming its `.part`) with retries. `Ok(None)`: stopped.
async fn download(
    http: &Http,
    url: &Url,
    target: &Path,
    progress: &mut Progress<'_>,
) -> Result<Option<u64>, RecordError> {
    let mut file = Target::new(target, None, false);
    file.total = progress.total;
    let request = |m: reqwest::Method| http.request(m, url, None);
    let mut retrier = http.retrier(Duration::from_secs(10));
    loop {
        if http.stopped() {
            return Ok(None);
        }
        progress.progressed = false;
        let e = match file.attempt(&request, http.limiter.as_ref(), progress).await {
            Ok(len) => return Ok(Some(len)),
            Err(FetchError::Stopped) => return Ok(None),
            Err(e) => e,
        };
        let Some((reason, retry_after)) = e.retry() else { return Err(fatal(e, url)) };
        if progress.progressed {
            retrier.reset();
        }
        match http.retry(&mut retrier, &reason, url, retry_after).await {
            Retry::Again => {}
            Retry::Stopped => return Ok(None),
            Retry::GiveUp(m) => return Err(RecordError::Failure(m)),
        }
    }
}

pub(crate) async fn record_mp4(
    opts: &RecordOptions,
    events: &EventSink,
    http: &Http,
    url: &Url,
    naming: &Naming,
) -> Result<RecordSummary, RecordError> {
    let final_path = naming.path(0);
    let target = download_path(opts, url, naming, &final_path);
    if let Some(d) = target.parent() {
        if !d.as_os_str().is_empty() {
            std::fs::create_dir_all(d).map_err(|e| RecordError::Failure(format!("{}: {e}", d.display())))?;
        }
    }
    let total = head_size(http, url).await?;
    let now = Instant::now();
    let mut progress = Progress {
        http,
        events,
        final_path: &final_path,
        total,
        started: false,
        received: 0,
        progressed: false,
        t0: now,
        last_report: (now, 0),
    };
    let Some(size) = download(http, url, &target, &mut progress).await? else {
        return Ok(user_stop(progress.received));
    };
    let (received, t0) = (progress.received, progress.t0);
    if !progress.started {
        events.emit(&start(&final_path, Some(size)));
    }
    let duration = mp4_duration(&target);
    if target != final_path {
        remux((&target, Container::Mp4), None, &final_path, opts.format).map_err(RecordError::from)?;
        let _ = std::fs::remove_file(&target);
    }
    events.emit(&RecordEvent::Progress {
        segments: 0,
        segments_total: None,
        bytes: size,
        bytes_total: Some(size),
        speed_bps: received as f64 / t0.elapsed().as_secs_f64().max(1e-3),
        recorded_secs: duration,
    });
    Ok(RecordSummary {
        kind: "mp4".into(),
        files: vec![final_path],
        segments: 0,
        bytes: size,
        recorded_secs: duration,
        reason: StopReason::Complete,
        ..Default::default()
    })
}
