//! The recorders' HTTP client: one reqwest client with the user's headers, cookies (Netscape
//! `cookies.txt`, matched per RFC 6265 by [`crate::cookies`]) and user agent on every
//! request (playlists, keys, segments), connect timeout 10 s, read (inactivity) timeout
//! 30 s, and retries with exponential backoff and jitter on network errors, timeouts, `408`,
//! `429` and `5xx` (a `Retry-After` header replaces the backoff). A `403` is returned at once
//! as [`FetchErr::Forbidden`] so the caller can reload the master playlist (expired signed
//! URLs); other `4xx` are permanent. Every wait checks the stop flag.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, COOKIE, RANGE, RETRY_AFTER};
use url::Url;

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
    retries: Option<u32>,
    stop: Arc<AtomicBool>,
    /// Set when an attempt failed (for progress / warnings).
    pub failures: std::sync::atomic::AtomicU64,
    /// A problem with the cookies file worth a warning (malformed lines skipped).
    pub cookies_warning: Option<String>,
}

use crate::cookies::{now_unix, CookieJar};
use crate::download::error_chain;

impl Http {
    pub fn new(
        headers: &[(String, String)],
        user_agent: Option<&str>,
        cookies_file: Option<&Path>,
        retries: Option<u32>,
        stop: Arc<AtomicBool>,
    ) -> Result<Http, String> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            let name =
                HeaderName::from_bytes(k.trim().as_bytes()).map_err(|e| format!("invalid header name {k:?}: {e}"))?;
            let value = HeaderValue::from_str(v.trim()).map_err(|e| format!("invalid value for header {k}: {e}"))?;
            map.append(name, value);
        }
        let cookies = match cookies_file {
            Some(p) => CookieJar::load(p)
                .map_err(|e| format!("cannot read cookies file {}: {}", p.display(), error_chain(&e)))?,
            None => CookieJar::default(),
        };
        let cookies_warning = cookies_file.and_then(|p| cookies.warning(p));
        let ua = user_agent.map(str::to_string).unwrap_or_else(|| format!("stitch/{}", env!("CARGO_PKG_VERSION")));
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(ua)
            .default_headers(map)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))?;
        Ok(Http { client, cookies, retries, stop, failures: Default::default(), cookies_warning })
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
        let base = 0.3f64 * 2f64.powi(failures.saturating_sub(1).min(16) as i32);
        let d = base.min(cap.as_secs_f64());
        Duration::from_secs_f64(d * (0.5 + 0.5 * fastrand::f64()))
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

    /// Has the retry budget run out after `failures` failed attempts?
    pub fn exhausted(&self, failures: u32) -> bool {
        self.retries.is_some_and(|m| failures > m)
    }

    /// GET a whole body with retries. `cap`: the longest backoff.
    pub async fn get(&self, url: &Url, range: Option<&str>, cap: Duration) -> Result<Resp, FetchErr> {
        let mut failures = 0u32;
        loop {
            if self.stopped() {
                return Err(FetchErr::Stopped);
            }
            let mut retry_after = None;
            let (reason, timeout) = match self.request(reqwest::Method::GET, url, range).send().await {
                Ok(resp) => {
                    let st = resp.status();
                    if st.is_success() {
                        let final_url = resp.url().clone();
                        let ct = resp
                            .headers()
                            .get(CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .map(|s| s.to_ascii_lowercase());
                        match resp.bytes().await {
                            Ok(body) => return Ok(Resp { url: final_url, content_type: ct, body: Vec::from(body) }),
                            Err(e) => (format!("{url}: {}", error_chain(&e)), e.is_timeout()),
                        }
                    } else if st.as_u16() == 403 {
                        return Err(FetchErr::Forbidden(format!(
                            "403 Forbidden: access denied or the link expired ({url})"
                        )));
                    } else if st.is_server_error() || st.as_u16() == 408 || st.as_u16() == 429 {
                        retry_after = resp
                            .headers()
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| crate::download::parse_retry_after_str(v, SystemTime::now()))
                            .map(|d| d.min(Duration::from_secs(120)));
                        (format!("{st} ({url})"), false)
                    } else {
                        return Err(FetchErr::Fatal(format!("{st} ({url})")));
                    }
                }
                Err(e) => {
                    if e.is_builder() {
                        return Err(FetchErr::Fatal(format!("{url}: {}", error_chain(&e))));
                    }
                    (format!("{url}: {}", error_chain(&e)), e.is_timeout())
                }
            };
            failures += 1;
            self.failures.fetch_add(1, Ordering::Relaxed);
            if self.exhausted(failures) {
                let m = format!("giving up after {failures} attempts: {reason}");
                return Err(if timeout { FetchErr::Timeout(m) } else { FetchErr::Fatal(m) });
            }
            self.sleep(retry_after.unwrap_or_else(|| Self::backoff(failures, cap))).await?;
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
        let h = Http::new(&[], None, Some(&p), None, Default::default()).unwrap();
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
        let none = Http::new(&[], None, None, None, Default::default()).unwrap();
        assert!(none.cookies_warning.is_none());
        assert!(Http::new(&[], None, Some(Path::new("/nonexistent/c.txt")), None, Default::default())
            .err()
            .unwrap()
            .contains("cannot read cookies file"));
    }
}
