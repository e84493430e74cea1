//! One `cookies.txt` implementation for every command (`webinar`, `record`): a parser of the
//! Netscape cookie file that browsers and yt-dlp/curl export, and the RFC 6265 rules that
//! decide which cookies a request carries.
//!
//! # File format (Netscape / curl `cookies.txt`)
//!
//! One cookie per line, seven tab-separated fields:
//! `domain  include-subdomains  path  secure  expires  name  value`
//! - `include-subdomains` and `secure` are `TRUE` or `FALSE` (any case); a domain written
//!   with a leading dot also includes subdomains.
//! - `expires` is Unix seconds; `0` is a session cookie (always sent). A decimal value is
//!   accepted (rounded down).
//! - A `#HttpOnly_` prefix on the domain marks an HttpOnly cookie (curl, Firefox); every other
//!   line starting with `#` is a comment. Blank lines are ignored; CRLF line ends are fine.
//! - A line whose value is empty may lack the last tab (6 fields). A line without any tab is
//!   split on spaces (hand-written files).
//! - Malformed lines (wrong field count, empty domain or name, a flag that is not
//!   `TRUE`/`FALSE`, a non-numeric expiry, characters not allowed in a `Cookie` header) are
//!   skipped and counted ([`CookieJar::skipped`], [`CookieJar::warning`]).
//! - A later line with the same domain, path and name replaces the earlier one (RFC 6265
//!   §5.3 step 11).
//!
//! # Which cookies a request gets (RFC 6265 §5.4)
//!
//! - Domain match (§5.1.3): the request host equals the cookie domain, or, when the cookie
//!   includes subdomains, the host ends with `.` + domain. An IP address only matches
//!   exactly. Case-insensitive.
//! - Path match (§5.1.4): the paths are identical, or the cookie path is a prefix of the
//!   request path and either ends with `/` or is followed by `/` in the request path
//!   (`/hls` matches `/hls` and `/hls/a.ts`, not `/hlsx`).
//! - `secure` cookies only over `https`.
//! - Expired cookies (expiry at or before now) are not sent.
//! - The `Cookie` header lists longer paths first, then file order (§5.4 step 2).

use std::net::IpAddr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use url::Url;

/// One cookie of a `cookies.txt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cookie {
    /// Lower case, without a leading dot.
    pub domain: String,
    /// Subdomains of `domain` match too (the flag, or a leading dot in the file).
    pub include_subdomains: bool,
    /// Starts with `/` (an empty or relative path in the file becomes `/`).
    pub path: String,
    /// Only sent over https.
    pub secure: bool,
    /// Unix seconds; `None`: a session cookie (the file's `0`).
    pub expires: Option<i64>,
    pub name: String,
    /// May be empty.
    pub value: String,
    /// The line had the `#HttpOnly_` prefix.
    pub http_only: bool,
}

impl Cookie {
    /// Expired at Unix time `now`?
    pub fn expired(&self, now: i64) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }

    /// RFC 6265 §5.1.3 for this cookie and a request host.
    pub fn domain_matches(&self, host: &str) -> bool {
        domain_match(host, &self.domain, self.include_subdomains)
    }

    /// RFC 6265 §5.1.4 for this cookie and a request path.
    pub fn path_matches(&self, request_path: &str) -> bool {
        path_match(request_path, &self.path)
    }

    /// Would a request to `host` + `path` (over https when `secure_channel`) at Unix time
    /// `now` carry this cookie?
    pub fn sent_to(&self, host: &str, path: &str, secure_channel: bool, now: i64) -> bool {
        (!self.secure || secure_channel) && !self.expired(now) && self.domain_matches(host) && self.path_matches(path)
    }
}

/// `host` as an IP address (IPv6 with or without brackets).
fn ip_of(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host).parse().ok()
}

/// RFC 6265 §5.1.3 domain matching: identical (case-insensitive), or, when
/// `include_subdomains`, `host` ends with `.` + `domain` and is not an IP address.
pub fn domain_match(host: &str, domain: &str, include_subdomains: bool) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_start_matches('.').trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return false;
    }
    if let (Some(h), Some(d)) = (ip_of(&host), ip_of(&domain)) {
        return h == d;
    }
    if host == domain {
        return true;
    }
    include_subdomains
        && ip_of(&host).is_none()
        && host.len() > domain.len()
        && host.ends_with(&domain)
        && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
}

/// RFC 6265 §5.1.4 path matching of a request path against a cookie path.
pub fn path_match(request_path: &str, cookie_path: &str) -> bool {
    let request_path = if request_path.is_empty() { "/" } else { request_path };
    if request_path == cookie_path {
        return true;
    }
    request_path.starts_with(cookie_path)
        && (cookie_path.ends_with('/') || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/'))
}

/// Unix seconds now.
pub fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The cookies of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
    skipped: usize,
}

/// A flag column: `TRUE`/`FALSE`, any case.
fn flag(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("TRUE") {
        Some(true)
    } else if s.eq_ignore_ascii_case("FALSE") {
        Some(false)
    } else {
        None
    }
}

/// Expiry column: integer or decimal Unix seconds; `0` is a session cookie.
fn expiry(s: &str) -> Option<Option<i64>> {
    let s = s.trim();
    let t = match s.parse::<i64>() {
        Ok(t) => t,
        Err(_) => {
            let f = s.parse::<f64>().ok().filter(|f| f.is_finite())?;
            f.floor() as i64 // saturating
        }
    };
    Some(if t == 0 { None } else { Some(t) })
}

/// RFC 6265 §4.1.1 token characters (cookie names).
fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// Cookie values: printable ASCII (inner spaces allowed) without `;`, so the header stays
/// valid; a quoted value keeps its quotes.
fn valid_value(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b';')
}

fn valid_domain(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !b"/\\?#@;,".contains(&b))
}

/// One non-comment line; `None` when malformed.
fn parse_line(line: &str, http_only: bool) -> Option<Cookie> {
    let mut f: Vec<&str> = line.split('\t').collect();
    if f.len() == 1 {
        f = line.split_whitespace().collect();
    }
    if f.len() != 6 && f.len() != 7 {
        return None;
    }
    let raw_domain = f[0].trim();
    let domain = raw_domain.trim_start_matches('.').to_ascii_lowercase();
    if !valid_domain(&domain) {
        return None;
    }
    let include_subdomains = flag(f[1])? || raw_domain.starts_with('.');
    let path = f[2].trim();
    let path = if path.starts_with('/') { path.to_string() } else { "/".to_string() };
    let secure = flag(f[3])?;
    let expires = expiry(f[4])?;
    let name = f[5].trim();
    let value = f.get(6).map(|v| v.trim()).unwrap_or("");
    if !valid_name(name) || !valid_value(value) || path.bytes().any(|b| b.is_ascii_control() || b == b';') {
        return None;
    }
    Some(Cookie {
        domain,
        include_subdomains,
        path,
        secure,
        expires,
        name: name.to_string(),
        value: value.to_string(),
        http_only,
    })
}

impl CookieJar {
    /// Parse the text of a `cookies.txt` (see the module doc). Never fails: malformed lines
    /// are skipped and counted.
    ///
    /// ```
    /// use stitch::cookies::CookieJar;
    /// let jar = CookieJar::parse(
    ///     "# Netscape HTTP Cookie File\n#HttpOnly_.mts-link.ru\tTRUE\t/\tTRUE\t0\tsessionId\tabc\nbroken\n");
    /// assert_eq!(jar.cookies()[0].name, "sessionId");
    /// assert!(jar.cookies()[0].http_only);
    /// assert_eq!(jar.skipped(), 1);
    /// let url = url::Url::parse("https://my.mts-link.ru/api/x").unwrap();
    /// assert_eq!(jar.header_for_url(&url, stitch::cookies::now_unix()).as_deref(), Some("sessionId=abc"));
    /// ```
    pub fn parse(text: &str) -> CookieJar {
        let mut jar = CookieJar::default();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            let (line, http_only) = match line.strip_prefix("#HttpOnly_") {
                Some(rest) => (rest, true),
                None => (line, false),
            };
            if line.trim().is_empty() || (!http_only && line.starts_with('#')) {
                continue;
            }
            match parse_line(line, http_only) {
                Some(c) => {
                    match jar.cookies.iter_mut().find(|o| o.domain == c.domain && o.path == c.path && o.name == c.name)
                    {
                        Some(old) => *old = c,
                        None => jar.cookies.push(c),
                    }
                }
                None => jar.skipped += 1,
            }
        }
        jar
    }

    /// Read and parse a file (it need not be UTF-8: invalid bytes make their lines malformed).
    pub fn load(path: &Path) -> std::io::Result<CookieJar> {
        let bytes = std::fs::read(path)?;
        Ok(Self::parse(&String::from_utf8_lossy(&bytes)))
    }

    /// The cookies, in file order.
    pub fn cookies(&self) -> &[Cookie] {
        &self.cookies
    }

    /// Malformed lines that were skipped.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// A warning to print when lines were skipped (or nothing usable was found).
    pub fn warning(&self, file: &Path) -> Option<String> {
        match (self.skipped, self.cookies.len()) {
            (0, 0) => Some(format!("cookies file {}: no cookies in it", file.display())),
            (0, _) => None,
            (s, n) => Some(format!(
                "cookies file {}: {s} malformed line{} skipped ({n} cookie{} read)",
                file.display(),
                if s == 1 { "" } else { "s" },
                if n == 1 { "" } else { "s" }
            )),
        }
    }

    /// The cookies a request to `host` + `path` gets at Unix time `now`, longer paths first
    /// (then file order). `secure_channel`: the request goes over https.
    pub fn matching(&self, host: &str, path: &str, secure_channel: bool, now: i64) -> Vec<&Cookie> {
        let mut v: Vec<&Cookie> = self.cookies.iter().filter(|c| c.sent_to(host, path, secure_channel, now)).collect();
        v.sort_by_key(|c| std::cmp::Reverse(c.path.len())); // stable: file order among equals
        v
    }

    /// The `Cookie` header for `url` at Unix time `now`, or `None` when no cookie applies.
    pub fn header_for_url(&self, url: &Url, now: i64) -> Option<String> {
        let host = url.host_str()?;
        header_value(self.matching(host, url.path(), url.scheme() == "https", now))
    }
}

/// `name=value; name2=value2`, or `None` for no cookies.
pub fn header_value<'a>(cookies: impl IntoIterator<Item = &'a Cookie>) -> Option<String> {
    let parts: Vec<String> = cookies.into_iter().map(|c| format!("{}={}", c.name, c.value)).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn jar(lines: &[&str]) -> CookieJar {
        CookieJar::parse(&lines.join("\n"))
    }

    fn header(j: &CookieJar, url: &str) -> Option<String> {
        j.header_for_url(&Url::parse(url).unwrap(), NOW)
    }

    #[test]
    fn parses_fields_prefixes_comments_and_crlf() {
        let j = CookieJar::parse(
            "# Netscape HTTP Cookie File\r\n\
             # https://curl.se/docs/http-cookies.html\r\n\
             \r\n\
             #HttpOnly_.Example.COM\tTRUE\t/\tTRUE\t1900000000\tsid\tabc\r\n\
             cdn.test\tFALSE\t/hls\tFALSE\t0\tb\t2\r\n\
             host.test\tfalse\t/\tfalse\t1900000000.75\tempty\r\n\
             spaces.test FALSE / FALSE 0 s v\n",
        );
        assert_eq!(j.skipped(), 0, "{j:#?}");
        let c = j.cookies();
        assert_eq!(c.len(), 4);
        assert_eq!(
            c[0],
            Cookie {
                domain: "example.com".into(),
                include_subdomains: true,
                path: "/".into(),
                secure: true,
                expires: Some(1_900_000_000),
                name: "sid".into(),
                value: "abc".into(),
                http_only: true,
            }
        );
        assert_eq!((c[1].include_subdomains, c[1].expires, c[1].http_only), (false, None, false));
        assert_eq!((c[2].value.as_str(), c[2].expires), ("", Some(1_900_000_000)));
        assert_eq!((c[3].domain.as_str(), c[3].name.as_str(), c[3].value.as_str()), ("spaces.test", "s", "v"));
        assert_eq!(j.warning(Path::new("c.txt")), None);
    }

    #[test]
    fn leading_dot_means_subdomains() {
        let j = jar(&[".example.com\tFALSE\t/\tFALSE\t0\ta\t1"]);
        assert!(j.cookies()[0].include_subdomains);
        assert_eq!(header(&j, "http://www.example.com/").as_deref(), Some("a=1"));
    }

    #[test]
    fn path_match_rfc6265_5_1_4() {
        assert!(path_match("/hls", "/hls"));
        assert!(path_match("/hls/a.ts", "/hls"));
        assert!(!path_match("/hlsx", "/hls"));
        assert!(!path_match("/hlsx/a.ts", "/hls"));
        assert!(path_match("/hls/a.ts", "/hls/"));
        assert!(!path_match("/hls", "/hls/"));
        assert!(path_match("/anything", "/"));
        assert!(path_match("", "/"));
        assert!(!path_match("/HLS/a.ts", "/hls"));
        let j = jar(&["cdn.test\tFALSE\t/hls\tFALSE\t0\tb\t2"]);
        assert_eq!(header(&j, "http://cdn.test/hls/a.ts").as_deref(), Some("b=2"));
        assert_eq!(header(&j, "http://cdn.test/hls").as_deref(), Some("b=2"));
        assert_eq!(header(&j, "http://cdn.test/hlsx/a.ts"), None);
        assert_eq!(header(&j, "http://cdn.test/hlsx"), None);
        assert_eq!(header(&j, "http://cdn.test/"), None);
        let j = jar(&["cdn.test\tFALSE\t/hls/\tFALSE\t0\tb\t2"]);
        assert_eq!(header(&j, "http://cdn.test/hls/a.ts").as_deref(), Some("b=2"));
        assert_eq!(header(&j, "http://cdn.test/hls"), None);
    }

    #[test]
    fn domain_match_rfc6265_5_1_3() {
        assert!(domain_match("example.com", "example.com", false));
        assert!(domain_match("EXAMPLE.com", "example.COM", false));
        assert!(!domain_match("www.example.com", "example.com", false));
        assert!(domain_match("www.example.com", "example.com", true));
        assert!(domain_match("a.b.example.com", "example.com", true));
        assert!(!domain_match("badexample.com", "example.com", true));
        assert!(!domain_match("example.com.evil.test", "example.com", true));
        assert!(!domain_match("com", "example.com", true));
        assert!(!domain_match("example.com", "", true));
        let j = jar(&["example.com\tTRUE\t/\tFALSE\t0\tsub\t1", "only.example.com\tFALSE\t/\tFALSE\t0\thost\t2"]);
        assert_eq!(header(&j, "http://example.com/").as_deref(), Some("sub=1"));
        assert_eq!(header(&j, "http://x.only.example.com/").as_deref(), Some("sub=1"));
        assert_eq!(header(&j, "http://only.example.com/").as_deref(), Some("sub=1; host=2"));
        assert_eq!(header(&j, "http://notexample.com/"), None);
    }

    #[test]
    fn ip_addresses_only_match_exactly() {
        assert!(domain_match("127.0.0.1", "127.0.0.1", true));
        assert!(!domain_match("10.0.0.1", "0.0.1", true));
        assert!(!domain_match("1.2.3.4", "3.4", true));
        assert!(domain_match("[::1]", "::1", true));
        assert!(domain_match("[::1]", "[::1]", false));
        assert!(!domain_match("127.0.0.2", "127.0.0.1", true));
        let j = jar(&["127.0.0.1\tTRUE\t/\tFALSE\t0\tip\t1", "0.1\tTRUE\t/\tFALSE\t0\tsuffix\t2"]);
        assert_eq!(header(&j, "http://127.0.0.1:8080/x").as_deref(), Some("ip=1"));
        assert_eq!(header(&j, "http://10.0.0.1/x"), None);
    }

    #[test]
    fn secure_only_over_https() {
        let j = jar(&["cdn.test\tFALSE\t/\tTRUE\t0\ts\t1", "cdn.test\tFALSE\t/\tFALSE\t0\tp\t2"]);
        assert_eq!(header(&j, "https://cdn.test/").as_deref(), Some("s=1; p=2"));
        assert_eq!(header(&j, "http://cdn.test/").as_deref(), Some("p=2"));
    }

    #[test]
    fn expired_cookies_are_not_sent() {
        let j = jar(&[
            &format!("cdn.test\tFALSE\t/\tFALSE\t{}\tpast\t1", NOW - 1),
            &format!("cdn.test\tFALSE\t/\tFALSE\t{NOW}\tnow\t1"),
            &format!("cdn.test\tFALSE\t/\tFALSE\t{}\tfuture\t1", NOW + 1),
            "cdn.test\tFALSE\t/\tFALSE\t0\tsession\t1",
            "cdn.test\tFALSE\t/\tFALSE\t-1\tnegative\t1",
        ]);
        assert_eq!(j.skipped(), 0);
        assert_eq!(header(&j, "http://cdn.test/").as_deref(), Some("future=1; session=1"));
        // Against the real clock: a cookie that expired in 2001 is never sent.
        let j = jar(&["cdn.test\tFALSE\t/\tFALSE\t1000000000\told\t1", "cdn.test\tFALSE\t/\tFALSE\t0\tnew\t1"]);
        assert_eq!(j.header_for_url(&Url::parse("http://cdn.test/").unwrap(), now_unix()).as_deref(), Some("new=1"));
    }

    #[test]
    fn longer_paths_first_then_file_order() {
        let j = jar(&[
            "cdn.test\tFALSE\t/\tFALSE\t0\troot\t1",
            "cdn.test\tFALSE\t/a/b\tFALSE\t0\tdeep\t1",
            "cdn.test\tFALSE\t/\tFALSE\t0\troot2\t1",
            "cdn.test\tFALSE\t/a\tFALSE\t0\tmid\t1",
        ]);
        assert_eq!(header(&j, "http://cdn.test/a/b/c").as_deref(), Some("deep=1; mid=1; root=1; root2=1"));
    }

    #[test]
    fn later_duplicate_replaces_earlier() {
        let j = jar(&["cdn.test\tFALSE\t/\tFALSE\t0\ta\told", "cdn.test\tFALSE\t/\tFALSE\t0\ta\tnew"]);
        assert_eq!(j.cookies().len(), 1);
        assert_eq!(header(&j, "http://cdn.test/").as_deref(), Some("a=new"));
    }

    #[test]
    fn malformed_lines_are_skipped_and_counted() {
        let j = CookieJar::parse(
            "good.test\tFALSE\t/\tFALSE\t0\tok\t1\n\
             too\tfew\n\
             good.test\tFALSE\t/\tFALSE\t0\tn\tv\textra\n\
             good.test\tMAYBE\t/\tFALSE\t0\tflag\t1\n\
             good.test\tFALSE\t/\tyes\t0\tflag2\t1\n\
             good.test\tFALSE\t/\tFALSE\tsoon\texp\t1\n\
             \tFALSE\t/\tFALSE\t0\tnodomain\t1\n\
             good.test\tFALSE\t/\tFALSE\t0\t\tnoname\n\
             good.test\tFALSE\t/\tFALSE\t0\tsemi\ta;b\n\
             good.test\tFALSE\t/\tFALSE\t0\tctl\ta\u{1}b\n\
             good.test\tFALSE\t/\tFALSE\t0\tna=me\tv\n\
             good.test\tFALSE\t/\tFALSE\t0\tutf\tзначение\n\
             #HttpOnly_broken\n\
             # comment\t\t\t\n",
        );
        assert_eq!(j.cookies().len(), 1);
        assert_eq!(j.skipped(), 12);
        let w = j.warning(Path::new("c.txt")).unwrap();
        assert!(w.contains("12 malformed lines skipped (1 cookie read)"), "{w}");
        assert!(CookieJar::parse("# only comments\n").warning(Path::new("c.txt")).unwrap().contains("no cookies"));
    }

    /// Corrupted input: random bytes, cut lines, binary junk: never a panic, every cookie
    /// kept is well formed, and the header is always a valid HTTP header value.
    #[test]
    fn corrupted_input() {
        let good = "#HttpOnly_.example.com\tTRUE\t/p\tFALSE\t0\tsid\tabc\nexample.com\tFALSE\t/\tTRUE\t0\tx\ty\n";
        let mut rng = fastrand::Rng::with_seed(12);
        for round in 0..2000 {
            let mut b = good.as_bytes().to_vec();
            match round % 4 {
                0 => b.truncate(rng.usize(0..b.len())),
                1 => {
                    for _ in 0..rng.usize(1..8) {
                        let i = rng.usize(0..b.len());
                        b[i] = rng.u8(..);
                    }
                }
                2 => b = (0..rng.usize(0..200)).map(|_| rng.u8(..)).collect(),
                _ => {
                    let i = rng.usize(0..b.len());
                    b.insert(i, *b"\t\r\n#;= \0".get(rng.usize(0..8)).unwrap());
                }
            }
            let j = CookieJar::parse(&String::from_utf8_lossy(&b));
            let lines = b.split(|&c| c == b'\n').count();
            assert!(j.cookies().len() + j.skipped() <= lines);
            for c in j.cookies() {
                assert!(valid_name(&c.name) && valid_value(&c.value) && c.path.starts_with('/'));
            }
            for url in ["https://example.com/p/x", "http://www.example.com/", "http://127.0.0.1/"] {
                if let Some(h) = j.header_for_url(&Url::parse(url).unwrap(), NOW) {
                    reqwest::header::HeaderValue::from_str(&h).unwrap();
                }
            }
        }
        // A file that is not text at all.
        let dir = std::env::temp_dir().join(format!("stitch-cookies-corrupt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("cookies.txt");
        std::fs::write(&p, [0xff, 0xfe, 0x00, b'\t', 0x80, b'\n', b'a']).unwrap();
        let j = CookieJar::load(&p).unwrap();
        assert_eq!((j.cookies().len(), j.skipped()), (0, 2));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
