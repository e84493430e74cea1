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
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::stream::{FuturesUnordered, StreamExt};
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, RANGE, RETRY_AFTER,
};
use reqwest::StatusCode;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, Semaphore, SemaphorePermit};

/// Largest wait a `Retry-After` header can impose.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(120);
/// Write buffer per transfer; what is buffered is flushed before any retry.
const WRITE_BUFFER: usize = 256 * 1024;
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
        let bad = |message: String| DownloadError::Request { url: String::new(), message };
        let mut headers = HeaderMap::new();
        for (k, v) in &opts.headers {
            let name =
                HeaderName::from_bytes(k.as_bytes()).map_err(|e| bad(format!("invalid header name {k:?}: {e}")))?;
            let value = HeaderValue::from_str(v).map_err(|e| bad(format!("invalid value for header {k}: {e}")))?;
            headers.append(name, value);
        }
        let builder = reqwest::Client::builder()
            .connect_timeout(opts.connect_timeout)
            .read_timeout(opts.read_timeout)
            .user_agent(opts.user_agent.clone())
            .default_headers(headers);
        let client = opts
            .net
            .apply(builder)
            .map_err(|e| bad(e.0))?
            .build()
            .map_err(|e| bad(format!("cannot build the HTTP client: {}", error_chain(&e))))?;
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
        let mut st = FileState {
            index,
            part: part_path(dest),
            total: item.expected_size,
            head_done: !self.opts.head_request || item.expected_size.is_some(),
            started: false,
            accounted: 0,
            total_accounted: None,
            last_progress: None,
        };
        let known = st.total;
        run.set_total(&mut st, known);
        let mut failures = 0u32;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let (permit, generation) = run.acquire().await;
            let before = st.accounted;
            let r = self.attempt(run, item, &mut st).await;
            match r {
                Ok(outcome) => return Ok(outcome),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry { reason, retry_after, reset }) => {
                    if reset {
                        run.reduce(permit, generation, &reason);
                    } else {
                        drop(permit);
                    }
                    let progressed = st.accounted > before;
                    if !progressed {
                        failures += 1;
                    }
                    if failures > self.opts.retries {
                        return Err(DownloadError::RetriesExhausted {
                            url: item.url.clone(),
                            attempts: failures,
                            last: reason,
                        });
                    }
                    let delay = retry_after.unwrap_or_else(|| self.backoff(failures.max(1)));
                    run.emit(&DownloadEvent::Retrying {
                        index,
                        url: item.url.clone(),
                        attempt: attempts,
                        delay,
                        reason,
                    });
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Exponential backoff with jitter: `base * 2^(n-1)` capped, then a uniform draw from
    /// its upper half.
    fn backoff(&self, failures: u32) -> Duration {
        let exp = self.opts.backoff_base.as_secs_f64() * 2f64.powi(failures.saturating_sub(1).min(30) as i32);
        let d = exp.min(self.opts.backoff_cap.as_secs_f64());
        Duration::from_secs_f64(d * (0.5 + 0.5 * fastrand::f64()))
    }

    /// One attempt: optional HEAD, one GET, the body into `.part`, verification and commit.
    async fn attempt(
        &self,
        run: &Run<'_>,
        item: &DownloadItem,
        st: &mut FileState,
    ) -> Result<DownloadOutcome, Attempt> {
        let url = item.url.as_str();
        let io_err = |path: &Path, source| Attempt::Fatal(DownloadError::Io { path: path.to_path_buf(), source });
        let part = st.part.clone();
        let mut offset = file_len(&part).await.map_err(|e| io_err(&part, e))?;

        if !st.head_done && offset > 0 {
            let resp = self
                .client
                .head(url)
                .header(ACCEPT_ENCODING, "identity")
                .send()
                .await
                .map_err(|e| Attempt::from_reqwest(&e, url))?;
            st.head_done = true;
            if resp.status().is_success() {
                if let Some(len) = header_u64(resp.headers(), &CONTENT_LENGTH) {
                    self.check_expected(item, len)?;
                    run.set_total(st, Some(len));
                }
            }
            // Anything else: the server does not do HEAD for us; the GET will tell.
        }

        if let Some(total) = st.total {
            if offset > total {
                truncate(&part, 0).await.map_err(|e| io_err(&part, e))?;
                offset = 0;
            } else if offset == total && (total > 0 || part_exists(&part).await) {
                run.set_pos(st, offset);
                return self.commit(item, st, None, offset).await;
            }
        }

        let mut req = self.client.get(url).header(ACCEPT_ENCODING, "identity");
        if offset > 0 {
            req = req.header(RANGE, format!("bytes={offset}-"));
        }
        let mut resp = req.send().await.map_err(|e| Attempt::from_reqwest(&e, url))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body_len = header_u64(&headers, &CONTENT_LENGTH);
        // Where the body goes, and where it must end when known.
        let (start, end): (u64, Option<u64>) = match status {
            StatusCode::PARTIAL_CONTENT => match parse_content_range(&headers) {
                Some(ContentRange::Bytes { first, last, complete }) => {
                    if let Some(c) = complete {
                        self.check_expected(item, c)?;
                        run.set_total(st, Some(c));
                    }
                    if first != offset {
                        truncate(&part, 0).await.map_err(|e| io_err(&part, e))?;
                        run.set_pos(st, 0);
                        return Err(Attempt::retry_now(format!(
                            "asked for bytes from {offset}, the server sent from {first}; restarting"
                        )));
                    }
                    (first, Some(last + 1))
                }
                _ => {
                    truncate(&part, 0).await.map_err(|e| io_err(&part, e))?;
                    run.set_pos(st, 0);
                    return Err(Attempt::retry_now("206 without a valid Content-Range; restarting".to_string()));
                }
            },
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let complete = match parse_content_range(&headers) {
                    Some(ContentRange::Unsatisfied { complete }) => Some(complete),
                    Some(ContentRange::Bytes { complete, .. }) => complete,
                    None => None,
                };
                if let Some(c) = complete {
                    self.check_expected(item, c)?;
                    run.set_total(st, Some(c));
                    if c == offset {
                        run.set_pos(st, offset);
                        return self.commit(item, st, None, offset).await;
                    }
                }
                truncate(&part, 0).await.map_err(|e| io_err(&part, e))?;
                run.set_pos(st, 0);
                return Err(Attempt::retry_now(format!(
                    "416 Range Not Satisfiable: the .part ({offset} bytes) does not fit the file{}; restarting",
                    complete.map(|c| format!(" ({c} bytes)")).unwrap_or_default()
                )));
            }
            s if s.is_success() => {
                // 200 (also to a range request: the server ignored Range): the whole file.
                if s == StatusCode::OK {
                    if let Some(len) = body_len {
                        self.check_expected(item, len)?;
                        run.set_total(st, Some(len));
                    }
                }
                (0, if s == StatusCode::OK { body_len } else { None })
            }
            s if s == StatusCode::REQUEST_TIMEOUT || s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                return Err(Attempt::Retry {
                    reason: status_text(s),
                    retry_after: parse_retry_after(&headers, SystemTime::now()),
                    reset: false,
                });
            }
            s => {
                return Err(Attempt::Fatal(DownloadError::Http {
                    url: url.to_string(),
                    status: s,
                    hint: status_hint(s),
                }))
            }
        };

        if !st.started {
            st.started = true;
            run.emit(&DownloadEvent::Started {
                index: st.index,
                url: url.to_string(),
                resume_from: start,
                total: st.total,
            });
        }

        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part)
            .await
            .map_err(|e| io_err(&part, e))?;
        file.set_len(start).await.map_err(|e| io_err(&part, e))?;
        let mut w = BufWriter::with_capacity(WRITE_BUFFER, file);
        w.seek(SeekFrom::Start(start)).await.map_err(|e| io_err(&part, e))?;
        run.set_pos(st, start);
        let mut pos = start;
        let body_error = loop {
            match resp.chunk().await {
                Ok(Some(bytes)) => {
                    if let Some(l) = &self.limiter {
                        l.take(bytes.len()).await;
                    }
                    w.write_all(&bytes).await.map_err(|e| io_err(&part, e))?;
                    pos += bytes.len() as u64;
                    run.transferred(bytes.len() as u64);
                    run.set_pos(st, pos);
                    run.file_progress(st, pos);
                }
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        // Keep what arrived: the next attempt resumes after it.
        w.flush().await.map_err(|e| io_err(&part, e))?;
        let file = w.into_inner();
        if let Some(e) = body_error {
            let mut a = Attempt::from_reqwest(&e, url);
            if let Attempt::Retry { reason, .. } = &mut a {
                *reason = format!("body interrupted after {} bytes: {reason}", pos - start);
            }
            return Err(a);
        }
        for (limit, what) in [(end, "response"), (st.total, "file")] {
            let Some(limit) = limit else { continue };
            if pos < limit {
                return Err(Attempt::Retry {
                    reason: format!("truncated body: {pos} of {limit} bytes of the {what}"),
                    retry_after: None,
                    reset: false,
                });
            }
            if pos > limit {
                drop(file);
                truncate(&part, 0).await.map_err(|e| io_err(&part, e))?;
                run.set_pos(st, 0);
                return Err(Attempt::retry_now(format!(
                    "got {pos} bytes, more than the {limit} of the {what}; restarting"
                )));
            }
        }
        if let Some(expected) = item.expected_size {
            if pos != expected {
                drop(file);
                let _ = tokio::fs::remove_file(&part).await;
                return Err(Attempt::Fatal(DownloadError::SizeMismatch {
                    url: url.to_string(),
                    expected,
                    actual: pos,
                }));
            }
        }
        self.commit(item, st, Some(file), pos).await
    }

    fn check_expected(&self, item: &DownloadItem, server_size: u64) -> Result<(), Attempt> {
        match item.expected_size {
            Some(e) if e != server_size => Err(Attempt::Fatal(DownloadError::SizeMismatch {
                url: item.url.clone(),
                expected: e,
                actual: server_size,
            })),
            _ => Ok(()),
        }
    }

    /// fsync the `.part`, check its length, rename it to `dest`, fsync the directory.
    async fn commit(
        &self,
        item: &DownloadItem,
        st: &FileState,
        file: Option<tokio::fs::File>,
        len: u64,
    ) -> Result<DownloadOutcome, Attempt> {
        let part = &st.part;
        let io_err = |path: &Path, source| Attempt::Fatal(DownloadError::Io { path: path.to_path_buf(), source });
        let file = match file {
            Some(f) => f,
            None => tokio::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(part)
                .await
                .map_err(|e| io_err(part, e))?,
        };
        file.sync_all().await.map_err(|e| io_err(part, e))?;
        let on_disk = file.metadata().await.map_err(|e| io_err(part, e))?.len();
        drop(file);
        if on_disk != len {
            return Err(Attempt::retry_now(format!("{} has {on_disk} bytes, expected {len}", part.display())));
        }
        tokio::fs::rename(part, &item.dest).await.map_err(|e| io_err(&item.dest, e))?;
        if let Some(dir) = item.dest.parent().map(Path::to_path_buf) {
            let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
            // Best effort: makes the rename durable on POSIX file systems.
            let _ = tokio::task::spawn_blocking(move || std::fs::File::open(dir).and_then(|d| d.sync_all())).await;
        }
        Ok(DownloadOutcome { path: item.dest.clone(), bytes: len, from_cache: false })
    }
}

/// `dest` with `.part` appended to the file name.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

async fn file_len(p: &Path) -> std::io::Result<u64> {
    match tokio::fs::metadata(p).await {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

async fn part_exists(p: &Path) -> bool {
    tokio::fs::metadata(p).await.is_ok()
}

async fn truncate(p: &Path, len: u64) -> std::io::Result<()> {
    match tokio::fs::OpenOptions::new().write(true).open(p).await {
        Ok(f) => f.set_len(len).await,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

enum Attempt {
    Fatal(DownloadError),
    Retry { reason: String, retry_after: Option<Duration>, reset: bool },
}

impl Attempt {
    fn retry_now(reason: String) -> Attempt {
        Attempt::Retry { reason, retry_after: Some(Duration::ZERO), reset: false }
    }

    fn from_reqwest(e: &reqwest::Error, url: &str) -> Attempt {
        if e.is_builder() || e.is_redirect() {
            return Attempt::Fatal(DownloadError::Request { url: url.to_string(), message: error_chain(e) });
        }
        let reset = is_reset(e);
        Attempt::Retry { reason: root_cause(e), retry_after: None, reset }
    }
}

/// The error and its sources, `: `-joined, each cause once: a message already contained in
/// another one ("No such file or directory" inside "No such file or directory (os error
/// 2)", in either order) is dropped.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    crate::exit::chain_message(e)
}

/// What went wrong with a request, in the words users know: `connection refused`,
/// `timed out`, `DNS lookup failed (...)`, `TLS error: ...`, `connection reset`,
/// `connection closed early`, else the innermost cause. The same wording for the webinar
/// downloader and the recorders; the URL is the caller's to add.
pub fn root_cause(e: &reqwest::Error) -> String {
    use std::io::ErrorKind::*;
    let mut root: &(dyn std::error::Error + 'static) = e;
    let mut io_kind = None;
    let mut dns = false;
    let mut tls: Option<String> = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        root = err;
        let s = err.to_string().to_ascii_lowercase();
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        if s.starts_with("dns error")
            || s.contains("failed to lookup address")
            || s.contains("name or service not known")
        {
            dns = true;
        }
        let tls_words = ["certificate", "tls", "handshake", "ssl"];
        if tls.is_none() && err.source().is_none() && tls_words.iter().any(|w| s.contains(w)) {
            tls = Some(err.to_string());
        }
        cur = err.source();
    }
    let root_text = root.to_string();
    // rustls' errors while connecting to an https URL have no I/O error kind of their own.
    let https = e.url().is_some_and(|u| u.scheme() == "https");
    let plain_io = matches!(
        io_kind,
        Some(TimedOut | ConnectionRefused | ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof)
            | Some(HostUnreachable | NetworkUnreachable)
    );
    if tls.is_none() && https && e.is_connect() && !e.is_timeout() && !plain_io && !dns {
        tls = Some(root_text.clone());
    }
    if dns {
        return format!("DNS lookup failed ({root_text})");
    }
    if let Some(t) = tls {
        return format!("TLS error: {t}");
    }
    if e.is_timeout() || io_kind == Some(TimedOut) {
        return "timed out".into();
    }
    match io_kind {
        Some(ConnectionRefused) => return "connection refused".into(),
        Some(ConnectionReset) => return "connection reset".into(),
        Some(ConnectionAborted) => return "connection aborted".into(),
        Some(BrokenPipe) => return "connection closed (broken pipe)".into(),
        Some(UnexpectedEof) => return "connection closed early".into(),
        Some(HostUnreachable) => return "host unreachable".into(),
        Some(NetworkUnreachable) => return "network unreachable".into(),
        _ => {}
    }
    let l = root_text.to_ascii_lowercase();
    if l.contains("connection closed before message completed") || l.contains("incomplete message") {
        return "connection closed early".into();
    }
    if l.contains("connection reset") {
        return "connection reset".into();
    }
    if e.is_connect() {
        return format!("cannot connect: {root_text}");
    }
    if e.is_status() {
        if let Some(s) = e.status() {
            return status_text(s);
        }
    }
    root_text
}

/// Did the server reset or drop the connection (as opposed to a timeout, a refused
/// connection or a body that merely ended early)?
fn is_reset(e: &reqwest::Error) -> bool {
    use std::io::ErrorKind::*;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe) {
                return true;
            }
        }
        let s = err.to_string().to_ascii_lowercase();
        if s.contains("connection closed before message completed") || s.contains("connection reset") {
            return true;
        }
        cur = err.source();
    }
    false
}

fn status_text(s: StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("{} {r}", s.as_u16()),
        None => s.as_u16().to_string(),
    }
}

fn status_hint(s: StatusCode) -> String {
    match s.as_u16() {
        401 => "authentication is required",
        403 => "the storage link has expired or access is denied",
        404 => "the file is not on the server",
        410 => "the file was removed from the server",
        300..=399 => "unexpected redirect",
        _ => "the server refused the request",
    }
    .to_string()
}

fn header_u64(h: &HeaderMap, name: &HeaderName) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// A parsed `Content-Range` header (RFC 9110 §14.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes first-last/complete` (`complete` is `None` for `*`).
    Bytes { first: u64, last: u64, complete: Option<u64> },
    /// `bytes */complete`, sent with 416.
    Unsatisfied { complete: u64 },
}

fn parse_content_range(h: &HeaderMap) -> Option<ContentRange> {
    parse_content_range_str(h.get(CONTENT_RANGE)?.to_str().ok()?)
}

/// Parses a `Content-Range` value; `None` when it is not a valid byte range.
pub fn parse_content_range_str(v: &str) -> Option<ContentRange> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, complete) = rest.split_once('/')?;
    let complete = complete.trim();
    let range = range.trim();
    if range == "*" {
        return Some(ContentRange::Unsatisfied { complete: complete.parse().ok()? });
    }
    let (a, b) = range.split_once('-')?;
    let (first, last): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    let complete = if complete == "*" { None } else { Some(complete.parse().ok()?) };
    if last < first || complete.is_some_and(|c| last >= c) {
        return None;
    }
    Some(ContentRange::Bytes { first, last, complete })
}

fn parse_retry_after(h: &HeaderMap, now: SystemTime) -> Option<Duration> {
    parse_retry_after_str(h.get(RETRY_AFTER)?.to_str().ok()?, now)
}

/// Parses `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP date (IMF-fixdate,
/// e.g. `Sun, 06 Nov 1994 08:49:37 GMT`), relative to `now`; capped at 2 minutes. A
/// date in the past means "now".
pub fn parse_retry_after_str(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = parse_http_date(v)?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(d.min(RETRY_AFTER_CAP))
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the HTTP date format senders must use.
fn parse_http_date(v: &str) -> Option<SystemTime> {
    let mut it = v.split_whitespace();
    let _weekday = it.next()?.strip_suffix(',')?;
    let day: u32 = it.next()?.parse().ok()?;
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':').map(|x| x.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if it.next()? != "GMT" || it.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + (h * 3600 + m * 60 + s) as i64;
    Some(if secs >= 0 { UNIX_EPOCH + Duration::from_secs(secs as u64) } else { UNIX_EPOCH })
}

struct FileState {
    index: usize,
    part: PathBuf,
    /// Size of the file when known.
    total: Option<u64>,
    head_done: bool,
    started: bool,
    /// This file's contribution to `Stats::bytes_done`.
    accounted: u64,
    /// This file's contribution to `Stats::known_total`.
    total_accounted: Option<u64>,
    last_progress: Option<Instant>,
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
    fn content_range() {
        assert_eq!(
            parse_content_range_str("bytes 10-19/100"),
            Some(ContentRange::Bytes { first: 10, last: 19, complete: Some(100) })
        );
        assert_eq!(
            parse_content_range_str("bytes 0-0/*"),
            Some(ContentRange::Bytes { first: 0, last: 0, complete: None })
        );
        assert_eq!(parse_content_range_str("bytes */77"), Some(ContentRange::Unsatisfied { complete: 77 }));
        assert_eq!(parse_content_range_str("bytes 5-4/10"), None);
        assert_eq!(parse_content_range_str("bytes 5-10/10"), None);
        assert_eq!(parse_content_range_str("items 0-1/2"), None);
    }

    #[test]
    fn retry_after() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770); // Sun, 06 Nov 1994 08:49:30 GMT
        assert_eq!(parse_retry_after_str("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after_str("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after_str("Sun, 06 Nov 1994 08:49:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after_str("99999", now), Some(RETRY_AFTER_CAP));
        assert_eq!(parse_retry_after_str("soon", now), None);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(UNIX_EPOCH));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(951_825_600))
        );
    }

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn error_chain_names_each_cause_once() {
        let nf = "No such file or directory";
        let e = E("No such file or directory (os error 2)", Some(Box::new(E(nf, None))));
        assert_eq!(error_chain(&e), "No such file or directory (os error 2)");
        let e = E(nf, Some(Box::new(E("No such file or directory (os error 2)", None))));
        assert_eq!(error_chain(&e), "No such file or directory (os error 2)");
        let e = E("cannot open a.mp4", Some(Box::new(E(nf, None))));
        assert_eq!(error_chain(&e), "cannot open a.mp4: No such file or directory");
    }

    #[tokio::test]
    async fn root_causes_in_plain_words() {
        let c = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
        let dropped = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let e = c.get(format!("http://{dropped}/x")).send().await.unwrap_err();
        assert_eq!(root_cause(&e), "connection refused");
        // Accepts, never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let e = c.get(format!("http://{addr}/x")).send().await.unwrap_err();
        assert_eq!(root_cause(&e), "timed out");
        // TLS to a server that answers in plain text.
        let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = plain.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Ok((mut s, _)) = plain.accept().await {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await;
            }
        });
        let e = c.get(format!("https://{addr}/x")).send().await.unwrap_err();
        assert!(root_cause(&e).starts_with("TLS error: "), "{}", root_cause(&e));
        let e = c.get("http://no-such-host.invalid/x").send().await.unwrap_err();
        assert!(root_cause(&e).starts_with("DNS lookup failed"), "{}", root_cause(&e));
        drop(silent);
    }

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
    fn part_path_appends() {
        assert_eq!(part_path(Path::new("/a/b/c.mp4")), PathBuf::from("/a/b/c.mp4.part"));
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
