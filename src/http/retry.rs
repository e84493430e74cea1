//! Retry policy of every HTTP request: which failures are worth another attempt, how long to
//! wait before it, and how to name what went wrong.
//!
//! - Retryable: connection errors, resets, timeouts, `408`, `429` and every `5xx`
//!   ([`retryable_status`]); everything else (other `4xx`, bad URLs) is permanent.
//! - The wait: a `Retry-After` header (RFC 9110 §10.2.3: delta-seconds or an HTTP date,
//!   capped at [`RETRY_AFTER_CAP`]) replaces the [`Backoff`]: exponential with jitter.
//! - The words: [`root_cause`] reduces a reqwest error to what users know (`connection
//!   refused`, `timed out`, `DNS lookup failed (...)`, `TLS error: ...`, an HTTP status).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

pub use super::headers::{parse_http_date, parse_retry_after_str, RETRY_AFTER_CAP};

/// How a backoff delay is spread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Jitter {
    /// A uniform draw from the upper half of the delay: `[d/2, d]`.
    UpperHalf,
    /// The delay plus a uniform draw from `[0, max)`.
    Plus(Duration),
}

/// Exponential backoff: `base * 2^(failures-1)`, capped, then jittered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub jitter: Jitter,
}

impl Backoff {
    /// The webinar downloader's: 0.5 s doubling up to 30 s, upper-half jitter.
    pub const DOWNLOAD: Backoff =
        Backoff { base: Duration::from_millis(500), cap: Duration::from_secs(30), jitter: Jitter::UpperHalf };

    /// The recorders': 0.3 s doubling up to `cap`, upper-half jitter.
    pub const fn record(cap: Duration) -> Backoff {
        Backoff { base: Duration::from_millis(300), cap, jitter: Jitter::UpperHalf }
    }

    /// The wait after the `failures`-th failed attempt (counting from 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = self.base.as_secs_f64() * 2f64.powi(failures.saturating_sub(1).min(30) as i32);
        let d = exp.min(self.cap.as_secs_f64());
        match self.jitter {
            Jitter::UpperHalf => Duration::from_secs_f64(d * (0.5 + 0.5 * fastrand::f64())),
            Jitter::Plus(max) => Duration::from_secs_f64(d + max.as_secs_f64() * fastrand::f64()),
        }
    }

    /// `Retry-After` when the server sent one, else [`delay`](Self::delay).
    pub fn wait(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        retry_after.unwrap_or_else(|| self.delay(failures))
    }
}

/// The retry budget of one request: counts failed attempts and says how long to wait before
/// the next one, or that the budget is spent.
#[derive(Clone, Debug)]
pub struct Retrier {
    pub backoff: Backoff,
    /// Failed attempts allowed after the first one; `None`: no limit.
    pub limit: Option<u32>,
    failures: u32,
    attempts: u32,
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Wait this long, then try again.
    Wait(Duration),
    /// The budget is spent after this many counted failures.
    GiveUp(u32),
}

impl Retrier {
    pub fn new(backoff: Backoff, limit: Option<u32>) -> Retrier {
        Retrier { backoff, limit, failures: 0, attempts: 0 }
    }

    /// A failed attempt. `counted` is false for an attempt that made progress (stored new
    /// bytes): it does not use the budget. The wait is the server's `Retry-After` when given.
    pub fn failed(&mut self, counted: bool, retry_after: Option<Duration>) -> Next {
        self.attempts += 1;
        if counted {
            self.failures += 1;
        }
        if self.limit.is_some_and(|m| self.failures > m) {
            return Next::GiveUp(self.failures);
        }
        Next::Wait(self.backoff.wait(self.failures.max(1), retry_after))
    }

    /// Progress was made: the next failure counts from 1 again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Counted failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Failed attempts so far, counted or not.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// `408`, `429` and `5xx` are worth another attempt.
pub fn retryable_status(st: StatusCode) -> bool {
    st.is_server_error() || st == StatusCode::REQUEST_TIMEOUT || st == StatusCode::TOO_MANY_REQUESTS
}

/// A transport failure, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The root cause in plain words ([`root_cause`]).
    pub reason: String,
    /// A timeout (connect or read).
    pub timeout: bool,
    /// The server reset or dropped the connection ([`is_reset`]).
    pub reset: bool,
    /// Not worth another attempt: the request could not be built, or a bad redirect.
    pub permanent: bool,
}

impl Failure {
    pub fn of(e: &reqwest::Error) -> Failure {
        let permanent = e.is_builder() || e.is_redirect();
        Failure {
            reason: if permanent { error_chain(e) } else { root_cause(e) },
            timeout: e.is_timeout(),
            reset: is_reset(e),
            permanent,
        }
    }
}

/// The error and its sources, `: `-joined, each cause once ([`crate::exit::chain_message`]).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    crate::exit::chain_message(e)
}

/// The `Retry-After` of a response's headers, relative to now, capped at [`RETRY_AFTER_CAP`].
pub fn retry_after(h: &HeaderMap) -> Option<Duration> {
    parse_retry_after(h, SystemTime::now())
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
pub fn is_reset(e: &reqwest::Error) -> bool {
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

pub fn status_text(s: StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("{} {r}", s.as_u16()),
        None => s.as_u16().to_string(),
    }
}

pub fn status_hint(s: StatusCode) -> String {
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

pub fn parse_retry_after(h: &HeaderMap, now: SystemTime) -> Option<Duration> {
    parse_retry_after_str(h.get(RETRY_AFTER)?.to_str().ok()?, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770); // Sun, 06 Nov 1994 08:49:30 GMT
        assert_eq!(parse_retry_after_str("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after_str("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after_str("Sun, 06 Nov 1994 08:49:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after_str("99999", now), Some(RETRY_AFTER_CAP));
        assert_eq!(parse_retry_after_str("soon", now), None);
        assert_eq!(parse_retry_after_str("Sun, 06 Nov 1994 25:49:00 GMT", now), None);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(UNIX_EPOCH));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(951_825_600))
        );
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        for n in 1..40 {
            let b = Backoff::DOWNLOAD;
            let top = (0.5 * 2f64.powi(n.min(31) as i32 - 1)).min(30.0);
            let d = b.delay(n).as_secs_f64();
            assert!(d >= top * 0.5 - 1e-9 && d <= top + 1e-9, "{n}: {d}");
            let d = Backoff::record(Duration::from_secs(10)).delay(n).as_secs_f64();
            let top = (0.3 * 2f64.powi(n.min(31) as i32 - 1)).min(10.0);
            assert!(d >= top * 0.5 - 1e-9 && d <= top + 1e-9, "{n}: {d}");
        }
        let plus = Backoff {
            base: Duration::from_millis(500),
            cap: Duration::MAX,
            jitter: Jitter::Plus(Duration::from_millis(250)),
        };
        let d = plus.delay(2);
        assert!(d >= Duration::from_millis(1000) && d < Duration::from_millis(1250), "{d:?}");
        assert_eq!(Backoff::DOWNLOAD.wait(5, Some(Duration::from_secs(2))), Duration::from_secs(2));
    }

    #[test]
    fn retrier_counts_the_budget() {
        let fast =
            Backoff { base: Duration::from_millis(10), cap: Duration::from_millis(20), jitter: Jitter::UpperHalf };
        let mut r = Retrier::new(fast, Some(2));
        assert!(matches!(r.failed(true, None), Next::Wait(d) if d <= Duration::from_millis(10)));
        // Progress does not use the budget; Retry-After replaces the backoff.
        assert_eq!(r.failed(false, Some(Duration::from_secs(3))), Next::Wait(Duration::from_secs(3)));
        assert!(matches!(r.failed(true, None), Next::Wait(_)));
        assert_eq!(r.failed(true, None), Next::GiveUp(3));
        assert_eq!((r.failures(), r.attempts()), (3, 4));
        r.reset();
        assert!(matches!(r.failed(true, None), Next::Wait(_)));
        let mut forever = Retrier::new(fast, None);
        assert!(
            (0..1000).all(|_| matches!(forever.failed(true, None), Next::Wait(d) if d <= Duration::from_millis(20)))
        );
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 599] {
            assert!(retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 410, 416] {
            assert!(!retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
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
        assert!(!Failure::of(&e).permanent && !Failure::of(&e).timeout);
        // Accepts, never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let e = c.get(format!("http://{addr}/x")).send().await.unwrap_err();
        assert_eq!(root_cause(&e), "timed out");
        assert!(Failure::of(&e).timeout);
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
        let e = c.get("http://[::1/x").send().await.unwrap_err();
        assert!(Failure::of(&e).permanent);
        drop(silent);
    }
}
