//! The recorders' HTTP client, on the crate's one HTTP layer ([`crate::http`]): a client with
//! the user's headers, cookies (Netscape `cookies.txt`, matched per RFC 6265 by
//! [`crate::cookies`]) and user agent on every request (playlists, keys, segments), connect
//! timeout 10 s, read (inactivity) timeout 30 s, and retries with exponential backoff and
//! jitter ([`Backoff::record`]) on network errors, timeouts, `408`, `429` and `5xx` (a
//! `Retry-After` header, RFC 9110 §10.2.3, replaces the backoff). The retry budget is [`AUTO_RETRIES`] unless the
//! caller set one; [`Http::set_live`] lifts the automatic budget for live streams (an
//! outage is ridden out). Every retry prints one line (root cause and URL) through the
//! [`Ui`], unless `--quiet`. A `403` is returned at once as [`FetchErr::Forbidden`] so the
//! caller can reload the master playlist (expired signed URLs); other `4xx` are permanent.
//! Every wait checks the stop flag.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, RANGE};
use url::Url;

use super::ui::Ui;
pub use crate::http::retry::{retry_after, retryable_status};
use crate::http::retry::{Next, Retrier};
use crate::http::{error_chain, Backoff, ClientConfig, ConfigError, Failure};

/// Failed attempts allowed per request when `--retries` is not given (VOD, direct MP4,
/// and every request before a stream is known to be live).
pub const AUTO_RETRIES: u32 = 10;
/// `--retries inf`.
pub const RETRY_FOREVER: u32 = u32::MAX;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request finally failed.
#[derive(Debug, Clone)]
pub enum FetchErr {
    /// `403 Forbidden` (not retried here).
    Forbidden(String),
    /// A permanent error (other 4xx, bad URL...), or retries exhausted.
    Fatal(String),
    /// Retries exhausted and the last failure was a timeout.
    Timeout(String),
    /// The stop flag was set while waiting.
    Stopped,
}

impl std::fmt::Display for FetchErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchErr::Forbidden(m) | FetchErr::Fatal(m) | FetchErr::Timeout(m) => f.write_str(m),
            FetchErr::Stopped => f.write_str("stopped"),
        }
    }
}

/// A body with the final URL (after redirects) and its content type.
pub struct Resp {
    pub url: Url,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

pub struct Http {
    pub client: reqwest::Client,
    cookies: CookieJar,
    /// `--limit-rate`: shared by every request of this client.
    pub limiter: Option<crate::net::RateLimiter>,
    /// A problem with the cookies file worth a warning (malformed lines skipped).
    pub cookies_warning: Option<String>,
    /// Failed attempts allowed per request ([`RETRY_FOREVER`]: no limit).
    retries: std::sync::atomic::AtomicU32,
    /// The budget is the automatic one (no `--retries`).
    auto_retries: bool,
    stop: Arc<AtomicBool>,
    pub ui: Arc<Ui>,
    /// Set when an attempt failed (for progress / warnings).
    pub failures: std::sync::atomic::AtomicU64,
}

/// What to do after a failed attempt ([`Http::retry`]).
pub enum Retry {
    /// The wait is over: try again.
    Again,
    /// The budget ran out; the message names the attempts, the root cause and the URL.
    GiveUp(String),
    Stopped,
}

use crate::cookies::{now_unix, CookieJar};

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read cookies file {}: {}", path.display(), error_chain(source))]
    Cookies {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a body read may stop at early: `(content type, bytes so far)` says "enough".
pub type Enough<'a> = &'a (dyn Fn(Option<&str>, &[u8]) -> bool + Send + Sync);

impl Http {
    pub fn new(
        headers: &[(String, String)],
        user_agent: Option<&str>,
        cookies_file: Option<&Path>,
        retries: Option<u32>,
        stop: Arc<AtomicBool>,
        ui: Arc<Ui>,
        net: &crate::net::NetOptions,
    ) -> Result<Http, ClientError> {
        let cookies = match cookies_file {
            Some(p) => CookieJar::load(p).map_err(|source| ClientError::Cookies { path: p.to_path_buf(), source })?,
            None => CookieJar::default(),
        };
        let cookies_warning = cookies_file.and_then(|p| cookies.warning(p));
        let client = ClientConfig {
            connect_timeout: CONNECT_TIMEOUT,
            read_timeout: READ_TIMEOUT,
            timeout: None,
            user_agent: user_agent.map(str::to_string).unwrap_or_else(crate::http::default_user_agent),
            headers: headers.to_vec(),
            net: net.clone(),
        }
        .build()?;
        Ok(Http {
            client,
            cookies,
            limiter: net.limiter(),
            cookies_warning,
            retries: retries.unwrap_or(AUTO_RETRIES).into(),
            auto_retries: retries.is_none(),
            stop,
            ui,
            failures: Default::default(),
        })
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The `Cookie` header for `url` now (RFC 6265 matching, see [`crate::cookies`]).
    pub fn cookie_header(&self, url: &Url) -> Option<String> {
        self.cookies.header_for_url(url, now_unix())
    }

    /// A request builder with cookies (and an optional Range).
    pub fn request(&self, method: reqwest::Method, url: &Url, range: Option<&str>) -> reqwest::RequestBuilder {
        let mut req = self.client.request(method, url.clone());
        if let Some(r) = range {
            req = req.header(RANGE, r);
        }
        if let Some(c) = self.cookie_header(url) {
            req = req.header(COOKIE, c);
        }
        req
    }

    /// Backoff before attempt `failures + 1`: 0.3 s doubling up to `cap`, drawn from the
    /// upper half (jitter).
    pub fn backoff(failures: u32, cap: Duration) -> Duration {
        Backoff::record(cap).delay(failures)
    }

    /// Sleep `d` in small steps; `Err(Stopped)` when the stop flag is set.
    pub async fn sleep(&self, d: Duration) -> Result<(), FetchErr> {
        let end = tokio::time::Instant::now() + d;
        loop {
            if self.stopped() {
                return Err(FetchErr::Stopped);
            }
            let now = tokio::time::Instant::now();
            if now >= end {
                return Ok(());
            }
            tokio::time::sleep((end - now).min(Duration::from_millis(50))).await;
        }
    }

    /// The stream is live: with the automatic budget, retry forever from now on.
    pub fn set_live(&self) {
        if self.auto_retries {
            self.retries.store(RETRY_FOREVER, Ordering::Relaxed);
        }
    }

    /// Failed attempts allowed per request; `None`: no limit.
    pub fn retry_limit(&self) -> Option<u32> {
        Some(self.retries.load(Ordering::Relaxed)).filter(|&m| m != RETRY_FOREVER)
    }

    /// The retry budget of one request: the recorders' backoff up to `cap`, this client's limit.
    pub fn retrier(&self, cap: Duration) -> Retrier {
        Retrier::new(Backoff::record(cap), self.retry_limit())
    }

    /// After a failed attempt of a request of `url` for `reason` (the root cause: `connection
    /// refused`, `503 Service Unavailable`...): count it, give up when the budget is spent,
    /// else print one `retrying` line and wait (`Retry-After` when the server sent one,
    /// else exponential backoff with jitter).
    pub async fn retry(&self, r: &mut Retrier, reason: &str, url: &Url, retry_after: Option<Duration>) -> Retry {
        self.failures.fetch_add(1, Ordering::Relaxed);
        // The limit of now: a stream found to be live lifts the automatic one.
        r.limit = self.retry_limit();
        let delay = match r.failed(true, retry_after) {
            Next::Wait(d) => d,
            Next::GiveUp(n) => {
                let s = if n == 1 { "" } else { "s" };
                return Retry::GiveUp(format!("giving up after {n} attempt{s}: {reason} ({url})"));
            }
        };
        let budget = r.limit.map(|m| format!("/{}", m + 1)).unwrap_or_default();
        self.ui.line(&format!(
            "retrying in {:.1} s (attempt {}{budget} failed): {reason}: {url}",
            delay.as_secs_f64(),
            r.failures()
        ));
        match self.sleep(delay).await {
            Ok(()) => Retry::Again,
            Err(_) => Retry::Stopped,
        }
    }

    /// A response body, paced by `--limit-rate`, up to where `enough` says (whole when `None`).
    async fn body(
        &self,
        mut resp: reqwest::Response,
        content_type: Option<&str>,
        enough: Option<Enough<'_>>,
    ) -> Result<Vec<u8>, reqwest::Error> {
        let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0).min(64 << 20) as usize);
        while let Some(c) = resp.chunk().await? {
            self.pace(c.len()).await;
            body.extend_from_slice(&c);
            if enough.is_some_and(|f| f(content_type, &body)) {
                break;
            }
        }
        Ok(body)
    }

    /// Wait as `--limit-rate` says after `n` bytes were received.
    pub async fn pace(&self, n: usize) {
        if let Some(l) = &self.limiter {
            l.take(n).await;
        }
    }

    /// GET a whole body with retries. `cap`: the longest backoff.
    pub async fn get(&self, url: &Url, range: Option<&str>, cap: Duration) -> Result<Resp, FetchErr> {
        self.get_until(url, range, cap, None).await
    }

    /// GET a body with retries, stopping early where `enough` says. `cap`: the longest backoff.
    pub async fn get_until(
        &self,
        url: &Url,
        range: Option<&str>,
        cap: Duration,
        enough: Option<Enough<'_>>,
    ) -> Result<Resp, FetchErr> {
        let mut retrier = self.retrier(cap);
        loop {
            if self.stopped() {
                return Err(FetchErr::Stopped);
            }
            let (reason, retry_after, timeout) = match self.get_once(url, range, enough).await? {
                Ok(resp) => return Ok(resp),
                Err(failed) => failed,
            };
            match self.retry(&mut retrier, &reason, url, retry_after).await {
                Retry::Again => {}
                Retry::Stopped => return Err(FetchErr::Stopped),
                Retry::GiveUp(m) => return Err(if timeout { FetchErr::Timeout(m) } else { FetchErr::Fatal(m) }),
            }
        }
    }

    /// One attempt of [`get_until`](Self::get_until): the response, or a retryable failure
    /// (reason, `Retry-After`, timeout), or a permanent error.
    async fn get_once(
        &self,
        url: &Url,
        range: Option<&str>,
        enough: Option<Enough<'_>>,
    ) -> Result<Result<Resp, (String, Option<Duration>, bool)>, FetchErr> {
        let resp = match self.request(reqwest::Method::GET, url, range).send().await {
            Ok(r) => r,
            Err(e) => {
                let f = Failure::of(&e);
                if e.is_builder() {
                    return Err(FetchErr::Fatal(format!("{url}: {}", f.reason)));
                }
                return Ok(Err((f.reason, None, f.timeout)));
            }
        };
        let st = resp.status();
        if st.as_u16() == 403 {
            return Err(FetchErr::Forbidden(format!("403 Forbidden: access denied or the link expired ({url})")));
        } else if retryable_status(st) {
            return Ok(Err((st.to_string(), retry_after(resp.headers()), false)));
        } else if !st.is_success() {
            return Err(FetchErr::Fatal(format!("{st} ({url})")));
        }
        let final_url = resp.url().clone();
        let ct = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|s| s.to_ascii_lowercase());
        match self.body(resp, ct.as_deref(), enough).await {
            Ok(body) => Ok(Ok(Resp { url: final_url, content_type: ct, body })),
            Err(e) => Ok(Err((format!("body interrupted: {}", crate::http::root_cause(&e)), None, e.is_timeout()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_carries_the_matching_cookies() {
        let dir = std::env::temp_dir().join(format!("stitch-http-cookies-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("cookies.txt");
        std::fs::write(
            &p,
            "# Netscape\n.example.com\tTRUE\t/\tFALSE\t0\ta\t1\n#HttpOnly_cdn.test\tFALSE\t/hls\tTRUE\t0\tb\t2\n\
             cdn.test\tFALSE\t/\tFALSE\t1000000000\told\t3\nbroken\n",
        )
        .unwrap();
        let new = |c: Option<&Path>| {
            Http::new(&[], None, c, None, Default::default(), Arc::new(Ui::new(true)), &Default::default())
        };
        let h = new(Some(&p)).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(h.cookies_warning.as_deref().unwrap().contains("1 malformed line skipped"));
        let cookie = |u: &str| {
            let req = h.request(reqwest::Method::GET, &Url::parse(u).unwrap(), None).build().unwrap();
            req.headers().get(COOKIE).map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(cookie("http://www.example.com/x").as_deref(), Some("a=1"));
        assert_eq!(cookie("https://cdn.test/hls/a.ts").as_deref(), Some("b=2"));
        assert_eq!(cookie("http://cdn.test/hls/a.ts"), None); // secure
        assert_eq!(cookie("https://cdn.test/hlsx/a.ts"), None); // path boundary; `old` expired
        assert!(new(None).unwrap().cookies_warning.is_none());
        assert!(new(Some(Path::new("/nonexistent/c.txt")))
            .err()
            .unwrap()
            .to_string()
            .contains("cannot read cookies file"));
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    /// Has the budget run out after `n` failed attempts?
    fn exhausted(h: &Http, n: u32) -> bool {
        let mut r = h.retrier(Duration::from_millis(1));
        (0..n).any(|_| matches!(r.failed(true, Some(Duration::ZERO)), Next::GiveUp(_)))
    }

    fn http(retries: Option<u32>) -> Http {
        Http::new(&[], None, None, retries, Default::default(), Arc::new(Ui::new(true)), &Default::default()).unwrap()
    }

    #[test]
    fn default_budget_is_finite_until_live() {
        let h = http(None);
        assert_eq!(h.retry_limit(), Some(AUTO_RETRIES));
        assert!(!exhausted(&h, AUTO_RETRIES) && exhausted(&h, AUTO_RETRIES + 1));
        h.set_live();
        assert_eq!(h.retry_limit(), None);
        assert!(!exhausted(&h, 1_000_000));
        // An explicit budget stays, live or not.
        let h = http(Some(2));
        h.set_live();
        assert!(exhausted(&h, 3));
        assert_eq!(http(Some(RETRY_FOREVER)).retry_limit(), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_cap() {
        for n in 1..20 {
            let d = Http::backoff(n, Duration::from_secs(10)).as_secs_f64();
            let base = (0.3 * 2f64.powi(n as i32 - 1)).min(10.0);
            assert!(d >= base * 0.5 - 1e-9 && d <= base + 1e-9, "{n}: {d}");
        }
    }
}
