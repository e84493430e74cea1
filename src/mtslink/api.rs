//! The MTS Link API client: fetches a record's event log and expands event pages.
//!
//! - Hosts: the link's own host first, then `my.mts-link.ru`, then `gw.mts-link.ru`; or only
//!   [`ApiOptions::api_host`] when set (tests point it at `http://127.0.0.1:PORT`).
//! - Browser-like headers (desktop User-Agent, JSON `Accept`, `Referer`/`Origin` of the page).
//! - Credentials (the `sessionId` cookie and a Netscape `cookies.txt`) go only to
//!   `https://*.mts-link.ru` and to the explicit `api_host`: [`cookie_allowed`] is the one
//!   place that decides, and every request goes through it. Within that rule the file's
//!   cookies are matched per RFC 6265 (domain, path, secure, expiry) by [`crate::cookies`].
//! - Timeouts on every request (connect 10 s, whole request 60 s); 3 tries with backoff on
//!   connection errors, timeouts and 5xx answers.
//! - Access errors become clear messages ([`ApiError`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, ACCEPT_LANGUAGE, COOKIE, ORIGIN, REFERER, USER_AGENT};
use serde_json::Value;
use url::Url;

use super::link::Link;
use super::plan::parse_record_bytes;
use crate::cookies::{header_value, now_unix, CookieJar};

/// A desktop browser's User-Agent (some servers refuse unknown clients).
pub const BROWSER_USER_AGENT: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36";

/// Fallback API hosts tried after the link's own host.
pub const FALLBACK_HOSTS: [&str; 2] = ["my.mts-link.ru", "gw.mts-link.ru"];

/// Connect timeout of every request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request timeout (headers and body).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Tries per request on connection errors and 5xx answers.
pub const TRIES: u32 = 3;
/// Backoff between tries: 0.5 s doubling, plus up to 0.25 s of jitter.
const API_BACKOFF: crate::http::Backoff = crate::http::Backoff {
    base: Duration::from_millis(500),
    cap: Duration::MAX,
    jitter: crate::http::retry::Jitter::Plus(Duration::from_millis(250)),
};

const PRIVATE_HINT: &str =
    "this record is private: pass --session-id (the sessionId cookie from your browser) or --cookies cookies.txt";

/// What can go wrong talking to the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 403 (in the JSON body or as the HTTP status).
    #[error("{}{}", PRIVATE_HINT, server_said(.message))]
    Private {
        /// The server's message, when it gave one.
        message: Option<String>,
    },
    /// 401.
    #[error("not signed in (401): pass --session-id (the sessionId cookie from your browser) or --cookies cookies.txt; a password-protected record also needs --password{}", server_said(.message))]
    Unauthorized {
        /// The server's message, when it gave one.
        message: Option<String>,
    },
    /// 404.
    #[error("{what} not found (404): check the link")]
    NotFound {
        /// "record" or "event".
        what: &'static str,
    },
    /// Another `{"error":{"code":..,"message":..}}` answer.
    #[error("MTS Link API error {code} from {url}: {message}")]
    Api {
        /// The request URL.
        url: String,
        /// `error.code`.
        code: i64,
        /// `error.message`.
        message: String,
    },
    /// Another HTTP status.
    #[error("HTTP {status} from {url}")]
    Http {
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// Connection error or timeout after all tries.
    #[error("cannot reach {url} ({} tries): {source}", TRIES)]
    Network {
        /// The request URL.
        url: String,
        /// The last failure.
        #[source]
        source: reqwest::Error,
    },
    /// The answer is not the JSON expected.
    #[error("the answer from {url} is not usable: {reason}")]
    BadAnswer {
        /// The request URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An event has no sessions to download.
    #[error("event {event_id} has no sessions (nothing was recorded?)")]
    NoSessions {
        /// The event id.
        event_id: String,
    },
    /// [`ApiClient::fetch_record`] was given an event link.
    #[error("{0} is an event page, not a record: expand it into its sessions first")]
    EventLink(String),
    /// Bad [`ApiOptions::api_host`].
    #[error("bad API host `{0}`: expected e.g. https://my.mts-link.ru or http://127.0.0.1:8080")]
    BadApiHost(String),
    /// Bad `--proxy`.
    #[error("{0}")]
    BadProxy(String),
    /// The cookies file cannot be read.
    #[error("cannot read cookies file {}: {source}", .path.display())]
    Cookies {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// Writing a debug copy failed.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

fn server_said(m: &Option<String>) -> String {
    match m {
        Some(m) if !m.trim().is_empty() => format!(" (server: {})", m.trim()),
        _ => String::new(),
    }
}

impl ApiError {
    /// How informative the error is when several hosts failed: the best one is reported.
    fn rank(&self) -> u8 {
        match self {
            ApiError::Private { .. } | ApiError::Unauthorized { .. } => 4,
            ApiError::NotFound { .. } => 3,
            ApiError::Api { .. } | ApiError::BadAnswer { .. } => 2,
            ApiError::Http { .. } => 1,
            _ => 0,
        }
    }
}

/// Options of [`ApiClient::new`].
#[derive(Clone, Debug, Default)]
pub struct ApiOptions {
    /// Use only this API base (`https://host` or `http://127.0.0.1:PORT`; a bare host means
    /// https) instead of the link's host and the fallbacks. Credentials are sent to it.
    pub api_host: Option<String>,
    /// The `sessionId` cookie value (a leading `sessionId=` is accepted).
    pub session_id: Option<String>,
    /// A Netscape `cookies.txt` (browser export).
    pub cookies_file: Option<PathBuf>,
    /// The record's password, sent as `password=`.
    pub password: Option<String>,
    /// When set, every raw JSON answer is written there (`<name>.flow.json`,
    /// `event_<id>.json`).
    pub debug_dir: Option<PathBuf>,
    /// `--proxy` (the rate limit applies to the chunk downloads, not to the API).
    pub net: crate::net::NetOptions,
}

/// The shared `cookies.txt` parser (kept under its old name).
///
/// ```
/// let jar = stitch::mtslink::api::parse_cookies_txt(
///     "# Netscape HTTP Cookie File\n#HttpOnly_.mts-link.ru\tTRUE\t/\tTRUE\t0\tsessionId\tabc\n");
/// assert_eq!(jar.cookies()[0].name, "sessionId");
/// assert!(jar.cookies()[0].http_only);
/// ```
pub fn parse_cookies_txt(text: &str) -> CookieJar {
    CookieJar::parse(text)
}

fn is_mts_api_host(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    h == "mts-link.ru" || h.ends_with(".mts-link.ru")
}

/// The credential rule: may cookies go to `url`? Only `https://*.mts-link.ru` (and
/// `mts-link.ru`) and the explicit `api_override` origin; never a storage host such as
/// `events-storage.webinar.ru`, never plain http (except the override).
///
/// ```
/// use stitch::mtslink::api::cookie_allowed;
/// use url::Url;
/// assert!(cookie_allowed(&Url::parse("https://my.mts-link.ru/api/x").unwrap(), None));
/// assert!(!cookie_allowed(&Url::parse("https://events-storage.webinar.ru/a.mp4").unwrap(), None));
/// ```
pub fn cookie_allowed(url: &Url, api_override: Option<&Url>) -> bool {
    if let Some(o) = api_override {
        if url.scheme() == o.scheme()
            && url.host_str().map(str::to_ascii_lowercase) == o.host_str().map(str::to_ascii_lowercase)
            && url.port_or_known_default() == o.port_or_known_default()
        {
            return true;
        }
    }
    url.scheme() == "https" && url.port_or_known_default() == Some(443) && url.host_str().is_some_and(is_mts_api_host)
}

/// The API client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    api_override: Option<Url>,
    session_id: Option<String>,
    cookies: CookieJar,
    cookies_warning: Option<String>,
    password: Option<String>,
    debug_dir: Option<PathBuf>,
}

/// A name safe as a file name stem (keeps letters of any script, digits, `-`, `_`, `.`, space).
pub fn safe_file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ') { c } else { '_' })
        .take(120)
        .collect();
    let s = s.trim().trim_matches('.').to_string();
    if s.is_empty() {
        "record".into()
    } else {
        s
    }
}

impl ApiClient {
    /// Build a client; reads the cookies file now.
    pub fn new(opts: ApiOptions) -> Result<Self, ApiError> {
        let api_override = match opts.api_host.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(h) => {
                let with_scheme = if h.contains("://") { h.to_string() } else { format!("https://{h}") };
                let u = Url::parse(&with_scheme).map_err(|_| ApiError::BadApiHost(h.into()))?;
                if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
                    return Err(ApiError::BadApiHost(h.into()));
                }
                Some(u)
            }
        };
        let cookies = match &opts.cookies_file {
            None => CookieJar::default(),
            Some(p) => CookieJar::load(p).map_err(|e| ApiError::Cookies { path: p.clone(), source: e })?,
        };
        let cookies_warning = opts.cookies_file.as_deref().and_then(|p| cookies.warning(p));
        let session_id = opts
            .session_id
            .map(|s| s.trim().trim_start_matches("sessionId=").trim().to_string())
            .filter(|s| !s.is_empty());
        let config = crate::http::ClientConfig {
            connect_timeout: CONNECT_TIMEOUT,
            read_timeout: REQUEST_TIMEOUT,
            timeout: Some(REQUEST_TIMEOUT),
            user_agent: BROWSER_USER_AGENT.to_string(),
            headers: Vec::new(),
            net: opts.net.clone(),
        };
        let builder = config
            .builder()
            .map_err(|e| ApiError::BadProxy(e.to_string()))?
            // API answers never redirect to storage; refuse to follow anywhere cookies may
            // not go (reqwest also drops the Cookie header on cross-host redirects).
            .redirect(reqwest::redirect::Policy::custom({
                let ov = api_override.clone();
                move |attempt| {
                    if attempt.previous().len() >= 5 || !cookie_allowed(attempt.url(), ov.as_ref()) {
                        attempt.stop()
                    } else {
                        attempt.follow()
                    }
                }
            }));
        let http = builder.build().map_err(ApiError::Client)?;
        Ok(ApiClient {
            http,
            api_override,
            session_id,
            cookies,
            cookies_warning,
            password: opts.password.filter(|p| !p.is_empty()),
            debug_dir: opts.debug_dir,
        })
    }

    /// API bases to try for a page on `host`.
    fn bases(&self, host: &str) -> Vec<Url> {
        if let Some(o) = &self.api_override {
            return vec![o.clone()];
        }
        let mut hosts = vec![host.to_ascii_lowercase()];
        for h in FALLBACK_HOSTS {
            if !hosts.iter().any(|x| x == h) {
                hosts.push(h.to_string());
            }
        }
        hosts.iter().filter_map(|h| Url::parse(&format!("https://{h}/")).ok()).collect()
    }

    /// The `Cookie` header for `url`, or `None`. Goes through [`cookie_allowed`].
    pub fn cookie_header(&self, url: &Url) -> Option<String> {
        if !cookie_allowed(url, self.api_override.as_ref()) {
            return None;
        }
        // The override (a test server, a proxy) gets the cookies of the MTS Link domain.
        let host = match (&self.api_override, url.host_str()) {
            (Some(_), Some(h)) if !is_mts_api_host(h) => "my.mts-link.ru".to_string(),
            (_, h) => h.unwrap_or_default().to_string(),
        };
        // The override may be plain http (a test server): it still gets secure cookies.
        let secure_channel = url.scheme() == "https" || self.api_override.is_some();
        let mut parts: Vec<String> = Vec::new();
        if let Some(s) = &self.session_id {
            parts.push(format!("sessionId={s}"));
        }
        let from_file = self
            .cookies
            .matching(&host, url.path(), secure_channel, now_unix())
            .into_iter()
            .filter(|c| self.session_id.is_none() || c.name != "sessionId");
        parts.extend(header_value(from_file));
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// A problem with the cookies file worth a warning (malformed lines skipped, no cookies).
    pub fn cookies_warning(&self) -> Option<&str> {
        self.cookies_warning.as_deref()
    }

    fn headers(&self, url: &Url, page_host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(USER_AGENT, HeaderValue::from_static(BROWSER_USER_AGENT));
        h.insert(ACCEPT, HeaderValue::from_static("application/json, text/plain, */*"));
        h.insert(ACCEPT_LANGUAGE, HeaderValue::from_static("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"));
        if let Ok(v) = HeaderValue::from_str(&format!("https://{page_host}/")) {
            h.insert(REFERER, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("https://{page_host}")) {
            h.insert(ORIGIN, v);
        }
        if let Some(c) = self.cookie_header(url) {
            if let Ok(mut v) = HeaderValue::from_str(&c) {
                v.set_sensitive(true);
                h.insert(COOKIE, v);
            }
        }
        h
    }

    /// GET with retries (network errors, `429`, `5xx`; exponential backoff with jitter, or
    /// the server's `Retry-After`); every retry is one warning line with its root cause.
    /// Returns the status and the body.
    async fn get(&self, url: &Url, page_host: &str) -> Result<(u16, Vec<u8>), ApiError> {
        let mut last_err = None;
        let mut retrier = crate::http::retry::Retrier::new(API_BACKOFF, Some(TRIES - 1));
        loop {
            let last_try = retrier.failures() + 1 >= TRIES;
            let resp = self.http.get(url.clone()).headers(self.headers(url, page_host)).send().await;
            let (reason, retry_after) = match resp {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = crate::http::retry::retry_after(r.headers());
                    match r.bytes().await {
                        Ok(_) if (status >= 500 || status == 429) && !last_try => {
                            (format!("HTTP {status}"), retry_after)
                        }
                        Ok(b) => return Ok((status, b.to_vec())),
                        Err(e) => {
                            let cause = crate::http::root_cause(&e);
                            last_err = Some(e);
                            (cause, None)
                        }
                    }
                }
                Err(e) => {
                    let cause = crate::http::root_cause(&e);
                    last_err = Some(e);
                    (cause, None)
                }
            };
            let wait = match retrier.failed(true, retry_after) {
                crate::http::retry::Next::Wait(d) => d,
                crate::http::retry::Next::GiveUp(_) => break,
            };
            tracing::warn!(
                "retrying in {:.1} s (attempt {}/{TRIES} failed): {reason}: {url}",
                wait.as_secs_f64(),
                retrier.failures()
            );
            tokio::time::sleep(wait).await;
        }
        match last_err {
            Some(source) => Err(ApiError::Network { url: url.to_string(), source }),
            None => Err(ApiError::Http { url: url.to_string(), status: 0 }),
        }
    }

    /// Turn an answer into JSON or a clear error.
    fn classify(url: &Url, status: u16, body: &[u8], what: &'static str) -> Result<Value, ApiError> {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        // {"error":{"code":403,"message":"..."}} with any HTTP status.
        if let Some(e) = parsed.as_ref().and_then(|v| v.get("error")) {
            let (code, message) = match e {
                Value::Object(o) => (
                    o.get("code").and_then(|c| c.as_i64().or_else(|| c.as_str().and_then(|s| s.parse().ok()))),
                    o.get("message").and_then(Value::as_str).map(str::to_string),
                ),
                Value::String(s) => (None, Some(s.clone())),
                _ => (None, None),
            };
            if code.is_some() || message.is_some() {
                let code = code.unwrap_or(status as i64);
                return Err(match code {
                    401 => ApiError::Unauthorized { message },
                    403 => ApiError::Private { message },
                    404 => ApiError::NotFound { what },
                    _ => ApiError::Api { url: url.to_string(), code, message: message.unwrap_or_default() },
                });
            }
        }
        let message = || parsed.as_ref().and_then(|v| v.get("message")).and_then(Value::as_str).map(str::to_string);
        match status {
            200..=299 => {}
            401 => return Err(ApiError::Unauthorized { message: message() }),
            403 => return Err(ApiError::Private { message: message() }),
            404 => return Err(ApiError::NotFound { what }),
            s => return Err(ApiError::Http { url: url.to_string(), status: s }),
        }
        match parsed {
            Some(v) if v.is_object() => Ok(v),
            Some(_) => Err(ApiError::BadAnswer { url: url.to_string(), reason: "not a JSON object".into() }),
            None => {
                let reason = match parse_record_bytes(body) {
                    Err(e) => e.to_string(),
                    Ok(_) => "not JSON".into(),
                };
                let html = body.iter().take(512).copied().collect::<Vec<u8>>();
                let html = String::from_utf8_lossy(&html).to_ascii_lowercase();
                let reason = if html.contains("<html") || html.contains("<!doctype") {
                    "an HTML page instead of JSON (a login page? pass --session-id or --cookies)".to_string()
                } else {
                    reason
                };
                Err(ApiError::BadAnswer { url: url.to_string(), reason })
            }
        }
    }

    /// Try each base in turn; the first JSON answer wins, otherwise the most informative error.
    async fn get_json(
        &self,
        page_host: &str,
        path: &str,
        query: &[(&str, String)],
        what: &'static str,
    ) -> Result<(Value, Vec<u8>, String), ApiError> {
        let mut best: Option<ApiError> = None;
        for mut url in self.bases(page_host) {
            url.set_path(path);
            url.set_query(None);
            if !query.is_empty() {
                let mut q = url.query_pairs_mut();
                for (k, v) in query {
                    q.append_pair(k, v);
                }
            }
            let res = match self.get(&url, page_host).await {
                Ok((status, body)) => Self::classify(&url, status, &body, what).map(|v| (v, body)),
                Err(e) => Err(e),
            };
            match res {
                Ok((v, body)) => {
                    let host = match (url.host_str(), url.port()) {
                        (Some(h), Some(p)) => format!("{h}:{p}"),
                        (Some(h), None) => h.to_string(),
                        _ => String::new(),
                    };
                    return Ok((v, body, host));
                }
                Err(e) => {
                    if best.as_ref().is_none_or(|b| e.rank() > b.rank()) {
                        best = Some(e);
                    }
                }
            }
        }
        Err(best.expect("at least one API host"))
    }

    fn write_debug(&self, file: &str, body: &[u8]) -> Result<(), ApiError> {
        let Some(dir) = &self.debug_dir else {
            return Ok(());
        };
        let path = dir.join(file);
        std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(&path, body))
            .map_err(|e| ApiError::Io { path, source: e })
    }

    /// Fetch a record's event log (`/flow` for record-file links, `/record` for quick
    /// meetings). Returns the JSON and the API host that answered (`host[:port]`).
    pub async fn fetch_record(&self, link: &Link) -> Result<(Value, String), ApiError> {
        let Link::Record { host, session_id, record_file_id, access_token } = link else {
            return Err(ApiError::EventLink(link.to_string()));
        };
        let path = match record_file_id {
            Some(fid) => format!("/api/event-sessions/{session_id}/record-files/{fid}/flow"),
            None => format!("/api/eventsessions/{session_id}/record"),
        };
        let mut query = vec![("withoutCuts", "false".to_string())];
        if let Some(t) = access_token {
            query.push(("recordAccessToken", t.clone()));
        }
        if let Some(p) = &self.password {
            query.push(("password", p.clone()));
        }
        let (v, body, used) = self.get_json(host, &path, &query, "record").await?;
        if self.debug_dir.is_some() {
            let stem = match v.get("name").and_then(Value::as_str) {
                Some(n) if !n.trim().is_empty() => safe_file_stem(n),
                _ => format!("record_{session_id}"),
            };
            self.write_debug(&format!("{stem}.flow.json"), &body)?;
        }
        Ok((v, used))
    }

    /// Expand an event page into its sessions' record links (`GET /api/event/{id}`,
    /// `eventSessions[].id`), in the order the server lists them.
    pub async fn expand_event(&self, host: &str, event_id: &str) -> Result<Vec<Link>, ApiError> {
        let path = format!("/api/event/{event_id}");
        let (v, body, _) = self.get_json(host, &path, &[], "event").await?;
        self.write_debug(&format!("event_{}.json", safe_file_stem(event_id)), &body)?;
        let sessions =
            v.get("eventSessions").or_else(|| v.get("sessions")).and_then(Value::as_array).cloned().unwrap_or_default();
        let mut out = Vec::new();
        for s in &sessions {
            let id = match s.get("id") {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                _ => continue,
            };
            let link =
                Link::Record { host: host.to_string(), session_id: id, record_file_id: None, access_token: None };
            if !out.contains(&link) {
                out.push(link);
            }
        }
        if out.is_empty() {
            return Err(ApiError::NoSessions { event_id: event_id.to_string() });
        }
        Ok(out)
    }

    /// Convenience: the record links a link stands for (itself, or an event's sessions).
    pub async fn records_of(&self, link: &Link) -> Result<Vec<Link>, ApiError> {
        match link {
            Link::Record { .. } => Ok(vec![link.clone()]),
            Link::Event { host, event_id } => self.expand_event(host, event_id).await,
        }
    }
}

/// Write `body` to `dir/name` (helper for callers that keep their own debug copies).
pub fn write_debug_json(dir: &Path, name: &str, body: &Value) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), serde_json::to_vec_pretty(body).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn cookie_host_rule() {
        for ok in [
            "https://my.mts-link.ru/api/eventsessions/1/record",
            "https://gw.mts-link.ru/api/x",
            "https://hse.mts-link.ru/api/x",
            "https://MY.MTS-LINK.RU/api/x",
            "https://mts-link.ru/api/x",
        ] {
            assert!(cookie_allowed(&u(ok), None), "{ok}");
        }
        for bad in [
            "https://events-storage.webinar.ru/api-storage/files/wowza/2024/01/01/a.mp4",
            "https://events-delivery-records.webinar.ru/record/2024/01/01/a.mp4/playlist.m3u8",
            "https://events.webinar.ru/api/x",
            "https://mts-link.ru.evil.com/api/x",
            "https://evilmts-link.ru/api/x",
            "https://my.mts-link.ru.evil.com/",
            "http://my.mts-link.ru/api/x",
            "https://my.mts-link.ru:8443/api/x",
            "http://127.0.0.1:8080/api/x",
        ] {
            assert!(!cookie_allowed(&u(bad), None), "{bad}");
        }
        let ov = u("http://127.0.0.1:8080");
        assert!(cookie_allowed(&u("http://127.0.0.1:8080/api/x"), Some(&ov)));
        assert!(!cookie_allowed(&u("http://127.0.0.1:8081/api/x"), Some(&ov)));
        assert!(!cookie_allowed(&u("https://127.0.0.1:8080/api/x"), Some(&ov)));
        assert!(!cookie_allowed(&u("https://events-storage.webinar.ru/a.mp4"), Some(&ov)));
        assert!(cookie_allowed(&u("https://my.mts-link.ru/api/x"), Some(&ov)));

        // The client's header builder obeys the rule.
        let c = ApiClient::new(ApiOptions { session_id: Some("sessionId=S1".into()), ..Default::default() }).unwrap();
        assert_eq!(c.cookie_header(&u("https://my.mts-link.ru/api/x")).as_deref(), Some("sessionId=S1"));
        assert_eq!(c.cookie_header(&u("https://events-storage.webinar.ru/a.mp4")), None);
        let h = c.headers(&u("https://events-storage.webinar.ru/a.mp4"), "my.mts-link.ru");
        assert!(h.get(COOKIE).is_none());
    }

    #[test]
    fn cookies_txt() {
        let far = now_unix() + 86400;
        let text = format!(
            "# Netscape HTTP Cookie File\n\
             # a comment\n\
             \n\
             #HttpOnly_.mts-link.ru\tTRUE\t/\tTRUE\t{far}\tsessionId\tSID123\n\
             my.mts-link.ru\tFALSE\t/\tFALSE\t0\tlang\tru\r\n\
             .mts-link.ru\tTRUE\t/\tFALSE\t1\told\texpired\n\
             .webinar.ru\tTRUE\t/\tFALSE\t0\tstorage\tnope\n\
             .mts-link.ru\tTRUE\t/api/other\tFALSE\t0\tscoped\tx\n\
             .mts-link.ru\tTRUE\t/ap\tFALSE\t0\tprefix\tx\n\
             broken line\n\
             .mts-link.ru\tTRUE\t/\tFALSE\t0\tempty\n"
        );
        let jar = parse_cookies_txt(&text);
        assert_eq!((jar.cookies().len(), jar.skipped()), (7, 1), "{jar:#?}");
        let cs = jar.cookies();
        assert_eq!(cs[0].domain, "mts-link.ru");
        assert!(cs[0].http_only && cs[0].secure && cs[0].include_subdomains);
        assert_eq!((cs[0].name.as_str(), cs[0].value.as_str(), cs[0].expires), ("sessionId", "SID123", Some(far)));

        let dir = std::env::temp_dir().join(format!("stitch-cookies-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("cookies.txt");
        std::fs::write(&p, &text).unwrap();
        let c = ApiClient::new(ApiOptions { cookies_file: Some(p.clone()), ..Default::default() }).unwrap();
        assert!(c.cookies_warning().unwrap().contains("1 malformed line skipped"));
        // `old` is expired, `storage` is another domain, `scoped` and `prefix` do not
        // path-match `/api/x` (RFC 6265 5.1.4: `/ap` is not a prefix at a `/`).
        assert_eq!(
            c.cookie_header(&u("https://my.mts-link.ru/api/x")).as_deref(),
            Some("sessionId=SID123; lang=ru; empty=")
        );
        assert_eq!(c.cookie_header(&u("https://gw.mts-link.ru/api/x")).as_deref(), Some("sessionId=SID123; empty="));
        assert_eq!(c.cookie_header(&u("https://events-storage.webinar.ru/x.mp4")), None);
        // --session-id wins over the file's sessionId.
        let c =
            ApiClient::new(ApiOptions { cookies_file: Some(p), session_id: Some("S2".into()), ..Default::default() })
                .unwrap();
        assert_eq!(
            c.cookie_header(&u("https://my.mts-link.ru/api/x")).as_deref(),
            Some("sessionId=S2; lang=ru; empty=")
        );
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(
            ApiClient::new(ApiOptions { cookies_file: Some("/nonexistent/c.txt".into()), ..Default::default() }),
            Err(ApiError::Cookies { .. })
        ));
    }

    #[test]
    fn classify_answers() {
        let url = u("https://my.mts-link.ru/api/x");
        let c = |s: u16, b: &str| ApiClient::classify(&url, s, b.as_bytes(), "record");
        let e403 = r#"{"error":{"code":403,"message":"Access denied"}}"#;
        assert!(c(200, e403).unwrap_err().to_string().starts_with(PRIVATE_HINT));
        assert!(c(403, e403).unwrap_err().to_string().contains("Access denied"));
        assert!(c(403, "").unwrap_err().to_string().starts_with(PRIVATE_HINT));
        assert!(c(401, "{}").unwrap_err().to_string().contains("401"));
        assert_eq!(c(404, "").unwrap_err().to_string(), "record not found (404): check the link");
        assert!(c(200, "<!DOCTYPE html><html>").unwrap_err().to_string().contains("HTML"));
        assert!(c(200, r#"{"eventLogs":[{"#).unwrap_err().to_string().contains("truncated"));
        assert!(matches!(c(502, "bad gateway"), Err(ApiError::Http { status: 502, .. })));
        assert!(c(200, r#"{"name":"x","eventLogs":[]}"#).is_ok());
    }

    #[test]
    fn bases_order() {
        let c = ApiClient::new(ApiOptions::default()).unwrap();
        let b: Vec<String> = c.bases("hse.mts-link.ru").iter().map(|u| u.host_str().unwrap().to_string()).collect();
        assert_eq!(b, ["hse.mts-link.ru", "my.mts-link.ru", "gw.mts-link.ru"]);
        let b: Vec<String> = c.bases("gw.mts-link.ru").iter().map(|u| u.host_str().unwrap().to_string()).collect();
        assert_eq!(b, ["gw.mts-link.ru", "my.mts-link.ru"]);
        let c =
            ApiClient::new(ApiOptions { api_host: Some("http://127.0.0.1:9".into()), ..Default::default() }).unwrap();
        assert_eq!(c.bases("my.mts-link.ru").len(), 1);
        assert!(ApiClient::new(ApiOptions { api_host: Some("ftp://x".into()), ..Default::default() }).is_err());
    }
}
