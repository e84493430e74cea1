//! Resumable, parallel HTTP downloader for webinar chunks.
//!
//! A [`Downloader`] fetches a list of [`DownloadItem`]s (URL → destination file) with a
//! bounded number of parallel transfers, retries, resume, and progress events. It is built
//! on tokio and reqwest; everything runs inside the future returned by [`Downloader::run`]
//! (or [`Downloader::run_streaming`]), so dropping that future (or aborting the task that
//! runs it) cancels every transfer at once and leaves only `.part` files that a later run
//! resumes.
//!
//! # Per-file protocol
//!
//! Steps 2 to 5 are the crate's one resumable fetch, [`crate::http::fetch`]; this module adds
//! the cache check, the parallel limit, the retry loop and the progress events.
//!
//! 1. **Complete files are never fetched again.** If `dest` exists and either no
//!    `expected_size` was given or its length matches, the item is reported as
//!    [`DownloadOutcome`] with `from_cache: true` and no request is sent. Files only ever
//!    appear under `dest` through an atomic rename of a verified, fsynced `.part` file, so
//!    an existing `dest` is a complete one.
//! 2. **Size probe.** When the size is not known (no `expected_size`) and a `.part` file
//!    exists, a `HEAD` request asks for `Content-Length` (disabled with
//!    [`DownloadOptions::head_request`]). Any non-2xx answer to `HEAD` is tolerated (many
//!    storage servers and pre-signed links refuse `HEAD` with 403/405/501): the `GET`'s
//!    `Content-Length` / `Content-Range` are then used instead. If the `.part` already has
//!    the full length the file is finished without a transfer; if it is longer it is
//!    discarded.
//! 3. **Transfer into `dest.part`** (`dest` with `.part` appended to its file name). If the
//!    `.part` has `n > 0` bytes, the `GET` carries `Range: bytes=n-` (RFC 9110 §14.2) and
//!    the answer is interpreted per RFC 9110:
//!    - `206 Partial Content` (§15.3.7): the `Content-Range: bytes first-last/complete`
//!      header (§14.4) must start at `n`; the body is appended. `complete` (when not `*`)
//!      becomes the file size. A 206 that starts elsewhere restarts the file from 0.
//!    - `200 OK` to a range request: the server ignored `Range` (it is allowed to, §14.2);
//!      the body is the whole file, so the `.part` is truncated and written from 0.
//!    - `416 Range Not Satisfiable` (§15.5.17): `n` is at or past the end of the file. The
//!      `Content-Range: bytes */complete` header tells the size; if the `.part` has exactly
//!      that length it is complete, otherwise (bigger, or size unknown) it is discarded and
//!      the next attempt starts from 0.
//! 4. **Verification.** The final length must equal every size that is known: the end of
//!    the range or `Content-Length` of this response, the complete length from
//!    `Content-Range` or `HEAD`, and `expected_size`. A body that ends early is a
//!    *truncated body*: the bytes received so far are kept and the next attempt resumes
//!    after them. A length that contradicts `expected_size` is a permanent error
//!    ([`DownloadError::SizeMismatch`]). Compressed transfer is refused
//!    (`Accept-Encoding: identity`) so lengths are byte counts of the file itself.
//! 5. **Commit.** The `.part` is fsynced, renamed to `dest` (atomic on POSIX file systems)
//!    and the directory is fsynced. A truncated file never appears under `dest`.
//!
//! # Failures and retries
//!
//! Retried (up to [`DownloadOptions::retries`] failed attempts per file, each followed by
//! an exponential backoff with jitter: base 0.5 s doubling up to 30 s, each delay drawn
//! from its upper half): connection errors, resets, timeouts (connect timeout, and
//! [`DownloadOptions::read_timeout`] of inactivity while waiting for data), `408`, `429`,
//! all `5xx`, and truncated bodies. On any of these a `Retry-After` header (delta-seconds
//! or an HTTP date, RFC 9110 §10.2.3; capped at 2 minutes) replaces the backoff. An
//! attempt that stored new bytes before failing does not count against the budget.
//!
//! Permanent: every other `4xx` (and unexpected `3xx`), with a message that names the
//! status, a hint and the URL, e.g.
//! `403 Forbidden: the storage link has expired or access is denied (https://…)`.
//!
//! # Adaptive concurrency
//!
//! Transfers take permits from a semaphore of [`DownloadOptions::concurrency`] permits.
//! When a server resets a connection (`ECONNRESET`, aborted connections, or "connection
//! closed before message completed"), a sign that it refuses this many parallel
//! connections, the transfer that saw it forgets its permit instead of returning it: the
//! limit drops by one (never below 1) and a [`DownloadEvent::ConcurrencyReduced`] says
//! why. Only one reduction happens per "generation" of transfers: a burst of resets from
//! transfers that all started under the old limit lowers it once. The limit never grows
//! above the configured maximum (nor grows back within a run).
//!
//! # Progress
//!
//! The `progress` callback receives [`DownloadEvent`]s: per-file start, bytes done (at most
//! every 100 ms per file), completion, retry (with the reason) and failure, limit changes,
//! and [`OverallProgress`] snapshots (at most every 250 ms and after every finished file)
//! with files done, bytes, speed averaged over the last 5 s and ETA.
//! [`OverallProgress::render`] makes a one-line status from it; [`DownloadEvent::log_line`]
//! gives a log line for the events worth logging.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use reqwest::StatusCode;
use tokio::sync::{mpsc, Semaphore, SemaphorePermit};

use crate::http::retry::{status_hint, Jitter, Next, Retrier};
pub use crate::http::{part_path, root_cause, ContentRange};
use crate::http::{Backoff, ClientConfig, FetchError, Observer, Target};

/// Window of the speed average.
const SPEED_WINDOW: Duration = Duration::from_secs(5);
const FILE_PROGRESS_EVERY: Duration = Duration::from_millis(100);
const OVERALL_EVERY: Duration = Duration::from_millis(250);

/// Configuration of a [`Downloader`].
#[derive(Clone, Debug)]
pub struct DownloadOptions {
    /// Maximum number of parallel transfers (at least 1). Default 3.
    pub concurrency: usize,
    /// Failed attempts allowed per file after the first one. Default 10.
    pub retries: u32,
    /// Timeout for establishing a connection. Default 15 s.
    pub connect_timeout: Duration,
    /// Inactivity timeout: the longest wait for the next bytes of a response. Default 30 s.
    pub read_timeout: Duration,
    /// `User-Agent` header. Default `stitch/<version>`.
    pub user_agent: String,
    /// Extra headers sent with every request (e.g. cookies or authorization).
    pub headers: Vec<(String, String)>,
    /// First backoff delay; doubles after each failed attempt. Default 0.5 s.
    pub backoff_base: Duration,
    /// Largest backoff delay. Default 30 s.
    pub backoff_cap: Duration,
    /// Send `HEAD` for the size before resuming a `.part` of unknown size. Default true.
    pub head_request: bool,
    /// `--proxy` and `--limit-rate` (one rate for all transfers of this downloader).
    pub net: crate::net::NetOptions,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            concurrency: 3,
            retries: 10,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            user_agent: concat!("stitch/", env!("CARGO_PKG_VERSION")).to_string(),
            headers: Vec::new(),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            head_request: true,
            net: Default::default(),
        }
    }
}

/// One file to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadItem {
    pub url: String,
    /// Final path. The transfer goes to `dest` + `.part` first.
    pub dest: PathBuf,
    /// Size in bytes when known in advance (e.g. from a manifest); checked when given.
    pub expected_size: Option<u64>,
}

/// A file that is complete under `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadOutcome {
    pub path: PathBuf,
    pub bytes: u64,
    /// True when the file was already complete and nothing was downloaded.
    pub from_cache: bool,
}

/// Why an item could not be downloaded.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// A permanent HTTP error (4xx other than 408/429, unexpected statuses).
    #[error("{status}: {hint} ({url})")]
    Http { url: String, status: StatusCode, hint: String },
    /// Every allowed attempt failed with a transient error.
    #[error("{url}: gave up after {attempts} attempts; last error: {last}")]
    RetriesExhausted { url: String, attempts: u32, last: String },
    /// The server's file does not have the expected length.
    #[error("{url}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch { url: String, expected: u64, actual: u64 },
    /// A local file system error.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The request could not be built (bad URL, bad header, TLS setup, ...).
    #[error("{url}: {message}")]
    Request { url: String, message: String },
}

/// Something that happened during a run; see the module doc.
#[derive(Clone, Debug)]
pub enum DownloadEvent {
    /// The first response for item `index` arrived; `resume_from` bytes were already there.
    Started { index: usize, url: String, resume_from: u64, total: Option<u64> },
    /// Bytes of item `index` stored so far (including resumed ones).
    Progress { index: usize, done: u64, total: Option<u64> },
    /// Item `index` is complete.
    Done { index: usize, path: PathBuf, bytes: u64, from_cache: bool },
    /// Attempt `attempt` (counting from 1) of item `index` failed for `reason`; the next
    /// starts after `delay`. Attempts that stored new bytes do not count against
    /// [`DownloadOptions::retries`].
    Retrying { index: usize, url: String, attempt: u32, delay: Duration, reason: String },
    /// Item `index` failed for good.
    Failed { index: usize, url: String, error: String },
    /// The server reset connections: the parallel limit went from `from` to `to`.
    ConcurrencyReduced { from: usize, to: usize, reason: String },
    /// A snapshot of the whole run.
    Overall(OverallProgress),
}

impl DownloadEvent {
    /// A log line for events worth logging (retries, failures, limit changes).
    pub fn log_line(&self) -> Option<String> {
        match self {
            DownloadEvent::Retrying { url, attempt, delay, reason, .. } => {
                Some(format!("retrying in {:.1} s (attempt {attempt}): {reason}: {url}", delay.as_secs_f64()))
            }
            DownloadEvent::Failed { error, .. } => Some(format!("download failed: {error}")),
            DownloadEvent::ConcurrencyReduced { from, to, reason } => {
                Some(format!("server reset connections ({reason}): parallel downloads {from} -> {to}"))
            }
            _ => None,
        }
    }
}

/// Progress of a whole run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OverallProgress {
    pub files_total: usize,
    /// Files complete (downloaded or already there).
    pub files_done: usize,
    /// Of `files_done`, those already there before the run.
    pub files_cached: usize,
    pub files_failed: usize,
    /// Bytes of all files on disk so far (complete, resumed and in progress).
    pub bytes_done: u64,
    /// Sum of the known sizes, extrapolated to files whose size is not known yet.
    pub bytes_total_estimate: Option<u64>,
    /// Transfer speed averaged over the last few seconds, bytes per second.
    pub bytes_per_sec: f64,
    pub eta: Option<Duration>,
    /// Current parallel limit.
    pub concurrency: usize,
}

impl OverallProgress {
    /// One-line status, e.g. `12/40 files, 310.2 MB of ~1.1 GB, 25.3 MB/s, ETA 0:31, 3 parallel`.
    pub fn render(&self) -> String {
        let mut s = format!("{}/{} files", self.files_done, self.files_total);
        if self.files_failed > 0 {
            s += &format!(" ({} failed)", self.files_failed);
        }
        s += &format!(", {}", human_bytes(self.bytes_done));
        if let Some(t) = self.bytes_total_estimate {
            s += &format!(" of ~{}", human_bytes(t));
        }
        s += &format!(", {}/s", human_bytes(self.bytes_per_sec as u64));
        if let Some(eta) = self.eta {
            let secs = eta.as_secs();
            if secs >= 3600 {
                s += &format!(", ETA {}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
            } else {
                s += &format!(", ETA {}:{:02}", secs / 60, secs % 60);
            }
        }
        s += &format!(", {} parallel", self.concurrency);
        s
    }
}

/// Same as [`OverallProgress::render`].
pub fn render_status(p: &OverallProgress) -> String {
    p.render()
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Result of one item, as sent by [`Downloader::run_streaming`].
pub type ItemResult = (usize, Result<DownloadOutcome, DownloadError>);

/// A configured HTTP client; cheap to clone (clones share the connection pool).
#[derive(Clone, Debug)]
pub struct Downloader {
    client: reqwest::Client,
    opts: DownloadOptions,
    limiter: Option<crate::net::RateLimiter>,
}

impl Downloader {
    /// Builds the HTTP client. Fails on an invalid header or user agent.
    pub fn new(opts: DownloadOptions) -> Result<Downloader, DownloadError> {
        let config = ClientConfig {
            connect_timeout: opts.connect_timeout,
            read_timeout: opts.read_timeout,
            timeout: None,
            user_agent: opts.user_agent.clone(),
            headers: opts.headers.clone(),
            net: opts.net.clone(),
        };
        let client =
            config.build().map_err(|e| DownloadError::Request { url: String::new(), message: e.to_string() })?;
        let mut opts = opts;
        opts.concurrency = opts.concurrency.max(1);
        let limiter = opts.net.limiter();
        Ok(Downloader { client, opts, limiter })
    }

    pub fn options(&self) -> &DownloadOptions {
        &self.opts
    }

    /// Downloads every item; returns one result per item, in the order of `items`.
    pub async fn run(
        &self,
        items: Vec<DownloadItem>,
        progress: impl Fn(&DownloadEvent) + Send + Sync,
    ) -> Vec<Result<DownloadOutcome, DownloadError>> {
        let n = items.len();
        let mut out: Vec<Option<Result<DownloadOutcome, DownloadError>>> = (0..n).map(|_| None).collect();
        self.drive(items, &progress, |i, r| out[i] = Some(r)).await;
        out.into_iter().map(|r| r.expect("every item produces a result")).collect()
    }

    /// Downloads every item and sends `(index, result)` on `results` as soon as each item is
    /// finished (in completion order, cached items first). Returns when all are finished.
    /// A closed receiver does not stop the downloads.
    pub async fn run_streaming(
        &self,
        items: Vec<DownloadItem>,
        progress: impl Fn(&DownloadEvent) + Send + Sync,
        results: mpsc::UnboundedSender<ItemResult>,
    ) {
        self.drive(items, &progress, |i, r| {
            let _ = results.send((i, r));
        })
        .await;
    }

    /// [`run_streaming`](Self::run_streaming) on a new tokio task. The receiver yields each
    /// finished item; it ends when all are finished. Aborting the handle cancels the run
    /// (dropping it does not).
    pub fn spawn(
        &self,
        items: Vec<DownloadItem>,
        progress: impl Fn(&DownloadEvent) + Send + Sync + 'static,
    ) -> (tokio::task::JoinHandle<()>, mpsc::UnboundedReceiver<ItemResult>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let this = self.clone();
        let handle = tokio::spawn(async move { this.run_streaming(items, progress, tx).await });
        (handle, rx)
    }

    async fn drive(
        &self,
        items: Vec<DownloadItem>,
        progress: &(dyn Fn(&DownloadEvent) + Send + Sync),
        mut sink: impl FnMut(usize, Result<DownloadOutcome, DownloadError>) + Send,
    ) {
        let run = Run::new(self, progress, items.len());
        let mut futs: FuturesUnordered<_> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let run = &run;
                async move { (i, self.fetch(run, i, item).await) }
            })
            .collect();
        while let Some((i, r)) = futs.next().await {
            run.finished(i, &items[i], &r);
            sink(i, r);
        }
    }

    async fn fetch(&self, run: &Run<'_>, index: usize, item: &DownloadItem) -> Result<DownloadOutcome, DownloadError> {
        let dest = &item.dest;
        if let Ok(meta) = tokio::fs::metadata(dest).await {
            if meta.is_file() && item.expected_size.is_none_or(|s| s == meta.len()) {
                return Ok(DownloadOutcome { path: dest.clone(), bytes: meta.len(), from_cache: true });
            }
        }
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| DownloadError::Io { path: parent.to_path_buf(), source })?;
        }
        let mut target = Target::new(dest, item.expected_size, self.opts.head_request);
        let mut tracker = Tracker { run, st: FileState::new(index), url: &item.url };
        run.set_total(&mut tracker.st, item.expected_size);
        let request = |m: reqwest::Method| self.client.request(m, item.url.as_str());
        let backoff = Backoff { base: self.opts.backoff_base, cap: self.opts.backoff_cap, jitter: Jitter::UpperHalf };
        let mut retrier = Retrier::new(backoff, Some(self.opts.retries));
        loop {
            let (permit, generation) = run.acquire().await;
            let before = tracker.st.accounted;
            let e = match target.attempt(&request, self.limiter.as_ref(), &mut tracker).await {
                Ok(bytes) => return Ok(DownloadOutcome { path: dest.clone(), bytes, from_cache: false }),
                Err(e) => e,
            };
            let Some((reason, retry_after)) = e.retry() else { return Err(download_error(e, item)) };
            match &e {
                FetchError::Transport(f) if f.reset => run.reduce(permit, generation, &reason),
                _ => drop(permit),
            }
            // An attempt that stored new bytes does not count against the budget.
            let delay = match retrier.failed(tracker.st.accounted <= before, retry_after) {
                Next::Wait(d) => d,
                Next::GiveUp(attempts) => {
                    return Err(DownloadError::RetriesExhausted { url: item.url.clone(), attempts, last: reason })
                }
            };
            let (url, attempt) = (item.url.clone(), retrier.attempts());
            run.emit(&DownloadEvent::Retrying { index, url, attempt, delay, reason });
            tokio::time::sleep(delay).await;
        }
    }
}

/// A failed attempt that is not retried, as a [`DownloadError`].
fn download_error(e: FetchError, item: &DownloadItem) -> DownloadError {
    let url = item.url.clone();
    match e {
        FetchError::Status { status, .. } => DownloadError::Http { url, status, hint: status_hint(status) },
        FetchError::SizeMismatch { expected, actual } => DownloadError::SizeMismatch { url, expected, actual },
        FetchError::Io { path, source } => DownloadError::Io { path, source },
        other => DownloadError::Request { url, message: other.to_string() },
    }
}

/// The run's bookkeeping and events for one file, fed by the fetch.
struct Tracker<'a> {
    run: &'a Run<'a>,
    st: FileState,
    url: &'a str,
}

impl Observer for Tracker<'_> {
    fn total(&mut self, total: u64) {
        self.run.set_total(&mut self.st, Some(total));
    }

    fn position(&mut self, pos: u64) {
        self.run.set_pos(&mut self.st, pos);
    }

    fn started(&mut self, resume_from: u64, total: Option<u64>) {
        let index = self.st.index;
        self.run.emit(&DownloadEvent::Started { index, url: self.url.to_string(), resume_from, total });
    }

    fn received(&mut self, n: u64, pos: u64) {
        self.run.transferred(n);
        self.run.file_progress(&mut self.st, pos);
    }
}

struct FileState {
    index: usize,
    /// Size of the file when known.
    total: Option<u64>,
    /// This file's contribution to `Stats::bytes_done`.
    accounted: u64,
    /// This file's contribution to `Stats::known_total`.
    total_accounted: Option<u64>,
    last_progress: Option<Instant>,
}

impl FileState {
    fn new(index: usize) -> FileState {
        FileState { index, total: None, accounted: 0, total_accounted: None, last_progress: None }
    }
}

struct Stats {
    files_total: usize,
    files_done: usize,
    files_cached: usize,
    files_failed: usize,
    bytes_done: u64,
    known_total: u64,
    known_count: usize,
    transferred: u64,
    /// (time, transferred) samples over the speed window.
    samples: VecDeque<(Instant, u64)>,
    last_overall: Option<Instant>,
}

struct Limit {
    current: usize,
    generation: u64,
}

/// State shared by the transfers of one run.
struct Run<'a> {
    progress: &'a (dyn Fn(&DownloadEvent) + Send + Sync),
    sem: Semaphore,
    limit: Mutex<Limit>,
    stats: Mutex<Stats>,
}

impl<'a> Run<'a> {
    fn new(dl: &Downloader, progress: &'a (dyn Fn(&DownloadEvent) + Send + Sync), n: usize) -> Run<'a> {
        let c = dl.opts.concurrency.max(1);
        Run {
            progress,
            sem: Semaphore::new(c),
            limit: Mutex::new(Limit { current: c, generation: 0 }),
            stats: Mutex::new(Stats {
                files_total: n,
                files_done: 0,
                files_cached: 0,
                files_failed: 0,
                bytes_done: 0,
                known_total: 0,
                known_count: 0,
                transferred: 0,
                samples: VecDeque::new(),
                last_overall: None,
            }),
        }
    }

    fn emit(&self, e: &DownloadEvent) {
        (self.progress)(e);
    }

    async fn acquire(&self) -> (SemaphorePermit<'_>, u64) {
        let permit = self.sem.acquire().await.expect("the semaphore is never closed");
        let generation = self.limit.lock().unwrap().generation;
        (permit, generation)
    }

    /// A transfer started in `generation` saw a reset: lower the limit by one by forgetting
    /// its permit, unless the limit is 1 or was already lowered since it started.
    fn reduce(&self, permit: SemaphorePermit<'_>, generation: u64, reason: &str) {
        let change = {
            let mut l = self.limit.lock().unwrap();
            if l.current > 1 && l.generation == generation {
                l.current -= 1;
                l.generation += 1;
                permit.forget();
                Some((l.current + 1, l.current))
            } else {
                None
            }
        };
        if let Some((from, to)) = change {
            self.emit(&DownloadEvent::ConcurrencyReduced { from, to, reason: reason.to_string() });
        }
    }

    fn concurrency(&self) -> usize {
        self.limit.lock().unwrap().current
    }

    fn set_total(&self, st: &mut FileState, total: Option<u64>) {
        if total.is_some() {
            st.total = total;
        }
        if st.total == st.total_accounted {
            return;
        }
        let mut s = self.stats.lock().unwrap();
        if let Some(old) = st.total_accounted {
            s.known_total -= old;
            s.known_count -= 1;
        }
        if let Some(new) = st.total {
            s.known_total += new;
            s.known_count += 1;
        }
        st.total_accounted = st.total;
    }

    fn set_pos(&self, st: &mut FileState, pos: u64) {
        if pos != st.accounted {
            let mut s = self.stats.lock().unwrap();
            s.bytes_done = s.bytes_done + pos - st.accounted;
            st.accounted = pos;
        }
    }

    fn transferred(&self, n: u64) {
        let snapshot = {
            let mut s = self.stats.lock().unwrap();
            s.transferred += n;
            let now = Instant::now();
            let t = s.transferred;
            if s.samples.back().is_none_or(|(at, _)| now.duration_since(*at) >= Duration::from_millis(100)) {
                s.samples.push_back((now, t));
            }
            if s.last_overall.is_none_or(|at| now.duration_since(at) >= OVERALL_EVERY) {
                s.last_overall = Some(now);
                Some(self.overall(&mut s, now))
            } else {
                None
            }
        };
        if let Some(o) = snapshot {
            self.emit(&DownloadEvent::Overall(o));
        }
    }

    fn file_progress(&self, st: &mut FileState, done: u64) {
        let now = Instant::now();
        if st.last_progress.is_none_or(|at| now.duration_since(at) >= FILE_PROGRESS_EVERY) {
            st.last_progress = Some(now);
            self.emit(&DownloadEvent::Progress { index: st.index, done, total: st.total });
        }
    }

    fn overall(&self, s: &mut Stats, now: Instant) -> OverallProgress {
        while s.samples.len() > 1 && now.duration_since(s.samples[1].0) >= SPEED_WINDOW {
            s.samples.pop_front();
        }
        let bytes_per_sec = match s.samples.front() {
            Some((at, b)) if now.duration_since(*at) >= Duration::from_millis(200) => {
                (s.transferred - b) as f64 / now.duration_since(*at).as_secs_f64()
            }
            _ => 0.0,
        };
        let unfinished = s.files_total - s.files_done - s.files_failed;
        let estimate = if s.known_count > 0 {
            let unknown = s.files_total.saturating_sub(s.known_count) as u64;
            Some(s.known_total + unknown * (s.known_total / s.known_count as u64))
        } else {
            None
        };
        let eta = match estimate {
            _ if unfinished == 0 => Some(Duration::ZERO),
            Some(t) if bytes_per_sec > 0.0 => {
                Some(Duration::from_secs_f64(t.saturating_sub(s.bytes_done) as f64 / bytes_per_sec))
            }
            _ => None,
        };
        OverallProgress {
            files_total: s.files_total,
            files_done: s.files_done,
            files_cached: s.files_cached,
            files_failed: s.files_failed,
            bytes_done: s.bytes_done,
            bytes_total_estimate: estimate,
            bytes_per_sec,
            eta,
            concurrency: self.concurrency(),
        }
    }

    /// Bookkeeping and events for a finished item.
    fn finished(&self, index: usize, item: &DownloadItem, r: &Result<DownloadOutcome, DownloadError>) {
        let overall = {
            let mut s = self.stats.lock().unwrap();
            match r {
                Ok(o) => {
                    s.files_done += 1;
                    if o.from_cache {
                        s.files_cached += 1;
                        s.bytes_done += o.bytes;
                        s.known_total += o.bytes;
                        s.known_count += 1;
                    }
                }
                Err(_) => s.files_failed += 1,
            }
            let now = Instant::now();
            s.last_overall = Some(now);
            self.overall(&mut s, now)
        };
        match r {
            Ok(o) => self.emit(&DownloadEvent::Done {
                index,
                path: o.path.clone(),
                bytes: o.bytes,
                from_cache: o.from_cache,
            }),
            Err(e) => self.emit(&DownloadEvent::Failed { index, url: item.url.clone(), error: e.to_string() }),
        }
        self.emit(&DownloadEvent::Overall(overall));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_log_line() {
        let ev = DownloadEvent::Retrying {
            index: 0,
            url: "http://h/a.mp4".into(),
            attempt: 2,
            delay: Duration::from_millis(1500),
            reason: "connection refused".into(),
        };
        assert_eq!(ev.log_line().unwrap(), "retrying in 1.5 s (attempt 2): connection refused: http://h/a.mp4");
    }

    #[test]
    fn render() {
        let p = OverallProgress {
            files_total: 40,
            files_done: 12,
            bytes_done: 310_200_000,
            bytes_total_estimate: Some(1_100_000_000),
            bytes_per_sec: 25_300_000.0,
            eta: Some(Duration::from_secs(31)),
            concurrency: 3,
            ..Default::default()
        };
        assert_eq!(p.render(), "12/40 files, 310.2 MB of ~1.1 GB, 25.3 MB/s, ETA 0:31, 3 parallel");
    }
}
