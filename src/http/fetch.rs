//! One resumable fetch of a URL into a file, shared by the webinar downloader, `remote` clips
//! and the direct-MP4 recorder.
//!
//! The body goes to `<dest>.part` ([`part_path`]); a `.part` of `n > 0` bytes is resumed with
//! `Range: bytes=n-` (RFC 9110 §14.2) and the answer is checked per RFC 9110:
//! - `206 Partial Content` (§15.3.7): `Content-Range: bytes first-last/complete` (§14.4) must
//!   start at `n`; the body is appended. A 206 that starts elsewhere, or without a valid
//!   `Content-Range`, resets the `.part` ([`FetchError::Restart`]).
//! - `200 OK` to a range request: the server ignored `Range` (allowed, §14.2): the body is the
//!   whole file and the `.part` is written from 0.
//! - `416 Range Not Satisfiable` (§15.5.17): `Content-Range: bytes */complete`; a `.part` of
//!   exactly that length is complete, any other is discarded.
//! - Other statuses: [`FetchError::Status`] (the caller decides with
//!   [`retryable_status`](super::retry::retryable_status)).
//!
//! The final length must equal every size that is known (this response's range or
//! `Content-Length`, the complete length from `Content-Range` or `HEAD`, the expected size).
//! A body that ends early keeps its bytes ([`FetchError::Truncated`]): the next attempt resumes
//! after them. Compressed transfer is refused (`Accept-Encoding: identity`) so lengths are
//! byte counts of the file. When complete the `.part` is fsynced and renamed to `dest`
//! (atomic on POSIX), and the folder fsynced: a truncated file never appears under `dest`.
//! One call of [`Target::attempt`] is one attempt; the retry loop is the caller's
//! (with [`super::retry::Backoff`]).

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, ACCEPT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

pub use super::headers::{parse_content_range_str, ContentRange};
use super::retry::{retry_after, status_text, Failure};
use crate::net::RateLimiter;

/// Write buffer per transfer; what is buffered is flushed before any retry.
const WRITE_BUFFER: usize = 256 * 1024;

/// `dest` with `.part` appended to the file name.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request or the body failed in transit (see [`Failure`]).
    #[error("{}", .0.reason)]
    Transport(Failure),
    /// An answer other than 200/206/416.
    #[error("{}", status_text(*status))]
    Status { status: StatusCode, retry_after: Option<Duration> },
    /// The `.part` did not fit the server's answer and was reset: try again at once.
    #[error("{0}")]
    Restart(String),
    /// The body ended early; its bytes are kept for the next attempt.
    #[error("{0}")]
    Truncated(String),
    /// The server's file does not have the expected length.
    #[error("size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch { expected: u64, actual: u64 },
    /// A local file system error.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// [`Observer::stop`] said so; the bytes so far stay in the `.part`.
    #[error("stopped")]
    Stopped,
}

impl FetchError {
    /// When another attempt is worth it: the reason to report and the server's `Retry-After`
    /// (`Some(0)` for an immediate retry).
    pub fn retry(&self) -> Option<(String, Option<Duration>)> {
        match self {
            FetchError::Transport(f) if !f.permanent => Some((f.reason.clone(), None)),
            FetchError::Status { status, retry_after } if super::retry::retryable_status(*status) => {
                Some((status_text(*status), *retry_after))
            }
            FetchError::Restart(r) => Some((r.clone(), Some(Duration::ZERO))),
            FetchError::Truncated(r) => Some((r.clone(), None)),
            _ => None,
        }
    }

    /// A timeout made this attempt fail.
    pub fn is_timeout(&self) -> bool {
        matches!(self, FetchError::Transport(f) if f.timeout)
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
        move |source| FetchError::Io { path: path.to_path_buf(), source }
    }
}

/// What a fetch reports as it goes; every method has a default that does nothing.
pub trait Observer: Send {
    /// The complete size of the file became known.
    fn total(&mut self, _total: u64) {}
    /// The `.part` now holds `pos` bytes (after a reset, a resume or new bytes).
    fn position(&mut self, _pos: u64) {}
    /// The first response with a body arrived (once per [`Target`]).
    fn started(&mut self, _resume_from: u64, _total: Option<u64>) {}
    /// `n` new bytes were stored; the `.part` holds `pos`.
    fn received(&mut self, _n: u64, _pos: u64) {}
    /// Checked between chunks: stop now, keeping the bytes so far.
    fn stop(&self) -> bool {
        false
    }
}

/// Builds a request of the fetched URL with the caller's headers and cookies.
pub type MakeRequest<'a> = &'a (dyn Fn(Method) -> RequestBuilder + Send + Sync);

/// Where a body goes in the `.part` and where it must end.
enum Placement {
    Body {
        start: u64,
        end: Option<u64>,
    },
    /// The `.part` already holds the whole file.
    Complete(u64),
}

/// A file to fetch: its destination and what is known of it.
#[derive(Debug)]
pub struct Target {
    pub dest: PathBuf,
    pub part: PathBuf,
    /// Size known in advance: any other size is [`FetchError::SizeMismatch`].
    pub expected: Option<u64>,
    /// Size learnt so far (expected, `HEAD`, `Content-Range`, `Content-Length`).
    pub total: Option<u64>,
    /// Send `HEAD` for the size before resuming a `.part` (once, while the size is unknown).
    pub head_pending: bool,
    started: bool,
}

impl Target {
    pub fn new(dest: &Path, expected: Option<u64>, head: bool) -> Target {
        Target {
            dest: dest.to_path_buf(),
            part: part_path(dest),
            expected,
            total: expected,
            head_pending: head && expected.is_none(),
            started: false,
        }
    }

    /// One attempt: optional `HEAD`, one `GET` from the end of the `.part`, the body into it,
    /// the length checks and the commit. Returns the file's length.
    pub async fn attempt(
        &mut self,
        req: MakeRequest<'_>,
        limiter: Option<&RateLimiter>,
        obs: &mut dyn Observer,
    ) -> Result<u64, FetchError> {
        let part = self.part.clone();
        let mut offset = file_len(&part).await.map_err(FetchError::io(&part))?;
        if self.head_pending && offset > 0 {
            self.head(req, obs).await?;
        }
        if let Some(total) = self.total {
            if offset > total {
                truncate(&part, 0).await.map_err(FetchError::io(&part))?;
                offset = 0;
            } else if offset == total && (total > 0 || tokio::fs::metadata(&part).await.is_ok()) {
                obs.position(offset);
                return self.commit(None, offset).await;
            }
        }
        let mut get = req(Method::GET).header(ACCEPT_ENCODING, "identity");
        if offset > 0 {
            get = get.header(RANGE, format!("bytes={offset}-"));
        }
        let resp = get.send().await.map_err(|e| FetchError::Transport(Failure::of(&e)))?;
        let (start, end) = match self.placement(&resp, offset, obs).await? {
            Placement::Complete(len) => return self.commit(None, len).await,
            Placement::Body { start, end } => (start, end),
        };
        if !self.started {
            self.started = true;
            obs.started(start, self.total);
        }
        let (file, pos) = self.write_body(resp, start, limiter, obs).await?;
        self.verify(pos, end, obs).await?;
        self.commit(Some(file), pos).await
    }

    /// `HEAD` for the size; any non-2xx answer is tolerated (many storage servers refuse
    /// `HEAD`): the `GET` will tell.
    async fn head(&mut self, req: MakeRequest<'_>, obs: &mut dyn Observer) -> Result<(), FetchError> {
        let resp = req(Method::HEAD)
            .header(ACCEPT_ENCODING, "identity")
            .send()
            .await
            .map_err(|e| FetchError::Transport(Failure::of(&e)))?;
        self.head_pending = false;
        if resp.status().is_success() {
            if let Some(len) = header_u64(resp.headers(), &CONTENT_LENGTH) {
                self.learn_total(len, obs)?;
            }
        }
        Ok(())
    }

    /// The size of the file is `len`: an error when it contradicts the expected size.
    fn learn_total(&mut self, len: u64, obs: &mut dyn Observer) -> Result<(), FetchError> {
        if let Some(expected) = self.expected.filter(|&e| e != len) {
            return Err(FetchError::SizeMismatch { expected, actual: len });
        }
        self.total = Some(len);
        obs.total(len);
        Ok(())
    }

    /// Reset the `.part` to empty and say why (an immediate retry).
    async fn restart(&self, obs: &mut dyn Observer, why: String) -> FetchError {
        if let Err(e) = truncate(&self.part, 0).await {
            return FetchError::Io { path: self.part.clone(), source: e };
        }
        obs.position(0);
        FetchError::Restart(why)
    }

    /// Where the body of `resp` goes, per its status (see the module doc).
    async fn placement(
        &mut self,
        resp: &Response,
        offset: u64,
        obs: &mut dyn Observer,
    ) -> Result<Placement, FetchError> {
        let headers = resp.headers();
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => match parse_content_range(headers) {
                Some(ContentRange::Bytes { first, last, complete }) => {
                    if let Some(c) = complete {
                        self.learn_total(c, obs)?;
                    }
                    if first != offset {
                        let why = format!("asked for bytes from {offset}, the server sent from {first}; restarting");
                        return Err(self.restart(obs, why).await);
                    }
                    Ok(Placement::Body { start: first, end: Some(last.saturating_add(1)) })
                }
                _ => Err(self.restart(obs, "206 without a valid Content-Range; restarting".into()).await),
            },
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let complete = match parse_content_range(headers) {
                    Some(ContentRange::Unsatisfied { complete }) => Some(complete),
                    Some(ContentRange::Bytes { complete, .. }) => complete,
                    None => None,
                };
                if let Some(c) = complete {
                    self.learn_total(c, obs)?;
                    if c == offset {
                        obs.position(offset);
                        return Ok(Placement::Complete(offset));
                    }
                }
                let size = complete.map(|c| format!(" ({c} bytes)")).unwrap_or_default();
                let why = format!(
                    "416 Range Not Satisfiable: the .part ({offset} bytes) does not fit the file{size}; restarting"
                );
                Err(self.restart(obs, why).await)
            }
            s if s.is_success() => {
                // 200 (also to a range request: the server ignored Range): the whole file.
                let body_len = header_u64(headers, &CONTENT_LENGTH).filter(|_| s == StatusCode::OK);
                if let Some(len) = body_len {
                    self.learn_total(len, obs)?;
                }
                Ok(Placement::Body { start: 0, end: body_len })
            }
            status => Err(FetchError::Status { status, retry_after: retry_after(headers) }),
        }
    }

    /// The body into the `.part` from `start`, paced by `limiter`. What arrived is kept
    /// (flushed) whatever happens; returns the file and the position reached.
    async fn write_body(
        &self,
        mut resp: Response,
        start: u64,
        limiter: Option<&RateLimiter>,
        obs: &mut dyn Observer,
    ) -> Result<(tokio::fs::File, u64), FetchError> {
        let part = &self.part;
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(part)
            .await
            .map_err(FetchError::io(part))?;
        file.set_len(start).await.map_err(FetchError::io(part))?;
        let mut w = BufWriter::with_capacity(WRITE_BUFFER, file);
        w.seek(SeekFrom::Start(start)).await.map_err(FetchError::io(part))?;
        obs.position(start);
        let mut pos = start;
        let failure = loop {
            if obs.stop() {
                break Some(FetchError::Stopped);
            }
            match resp.chunk().await {
                Ok(Some(bytes)) => {
                    if let Some(l) = limiter {
                        l.take(bytes.len()).await;
                    }
                    w.write_all(&bytes).await.map_err(FetchError::io(part))?;
                    pos += bytes.len() as u64;
                    obs.position(pos);
                    obs.received(bytes.len() as u64, pos);
                }
                Ok(None) => break None,
                Err(e) => {
                    let mut f = Failure::of(&e);
                    f.reason = format!("body interrupted after {} bytes: {}", pos - start, f.reason);
                    break Some(FetchError::Transport(f));
                }
            }
        };
        // Keep what arrived: the next attempt resumes after it.
        w.flush().await.map_err(FetchError::io(part))?;
        match failure {
            Some(e) => Err(e),
            None => Ok((w.into_inner(), pos)),
        }
    }

    /// The length `pos` against the end of this response and the size of the file.
    async fn verify(&self, pos: u64, end: Option<u64>, obs: &mut dyn Observer) -> Result<(), FetchError> {
        for (limit, what) in [(end, "response"), (self.total, "file")] {
            let Some(limit) = limit else { continue };
            if pos < limit {
                return Err(FetchError::Truncated(format!("truncated body: {pos} of {limit} bytes of the {what}")));
            }
            if pos > limit {
                let why = format!("got {pos} bytes, more than the {limit} of the {what}; restarting");
                return Err(self.restart(obs, why).await);
            }
        }
        if let Some(expected) = self.expected.filter(|&e| e != pos) {
            let _ = tokio::fs::remove_file(&self.part).await;
            return Err(FetchError::SizeMismatch { expected, actual: pos });
        }
        Ok(())
    }

    /// fsync the `.part`, check its length, rename it to `dest`, fsync the folder.
    async fn commit(&self, file: Option<tokio::fs::File>, len: u64) -> Result<u64, FetchError> {
        let part = &self.part;
        let file = match file {
            Some(f) => f,
            None => tokio::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(part)
                .await
                .map_err(FetchError::io(part))?,
        };
        file.sync_all().await.map_err(FetchError::io(part))?;
        let on_disk = file.metadata().await.map_err(FetchError::io(part))?.len();
        drop(file);
        if on_disk != len {
            return Err(FetchError::Restart(format!("{} has {on_disk} bytes, expected {len}", part.display())));
        }
        tokio::fs::rename(part, &self.dest).await.map_err(FetchError::io(&self.dest))?;
        if let Some(dir) = self.dest.parent().map(Path::to_path_buf) {
            let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
            // Best effort: makes the rename durable on POSIX file systems.
            let _ = tokio::task::spawn_blocking(move || std::fs::File::open(dir).and_then(|d| d.sync_all())).await;
        }
        Ok(len)
    }
}

/// A header's value as an unsigned number.
pub fn header_u64(h: &HeaderMap, name: &HeaderName) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

async fn file_len(p: &Path) -> std::io::Result<u64> {
    match tokio::fs::metadata(p).await {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

async fn truncate(p: &Path, len: u64) -> std::io::Result<()> {
    match tokio::fs::OpenOptions::new().write(true).open(p).await {
        Ok(f) => f.set_len(len).await,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn parse_content_range(h: &HeaderMap) -> Option<ContentRange> {
    parse_content_range_str(h.get(CONTENT_RANGE)?.to_str().ok()?)
}
