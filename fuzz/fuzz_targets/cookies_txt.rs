//! Netscape `cookies.txt` parser and RFC 6265 matching (`src/cookies.rs`) on arbitrary bytes
//! (decoded as lossy UTF-8, as `CookieJar::load` does).
//!
//! The module depends only on std and `url`, so it is included by path (like `m3u8`)
//! instead of depending on the whole `stitch` crate.
//!
//! Invariants checked besides "no panic":
//! - kept cookies plus skipped lines never exceed the number of lines;
//! - every kept cookie is well formed: lower-case domain without a leading dot, a path
//!   starting with `/`, a token name, a value without `;` or control characters;
//! - for a few request URLs (including hosts and paths taken from the input): every cookie
//!   sent domain-matches and path-matches (RFC 6265 §5.1.3, §5.1.4), secure ones only over
//!   https, none expired; longer paths come first; the header is visible ASCII and spaces;
//! - `path_match(p, p)` and `domain_match(h, h, _)` hold for every kept path and domain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use url::Url;

#[allow(dead_code)]
#[path = "../../src/cookies.rs"]
mod cookies;

use cookies::{domain_match, path_match, CookieJar};

const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let jar = CookieJar::parse(&text);
    assert!(jar.cookies().len() + jar.skipped() <= text.lines().count());
    let mut urls: Vec<String> = vec![
        "https://example.com/".into(),
        "http://www.example.com/a/b".into(),
        "http://127.0.0.1:8080/hls/x.ts".into(),
        "https://[::1]/".into(),
    ];
    for c in jar.cookies() {
        assert!(!c.domain.is_empty() && !c.domain.starts_with('.'), "{c:?}");
        assert_eq!(c.domain, c.domain.to_ascii_lowercase());
        assert!(c.path.starts_with('/'), "{c:?}");
        assert!(!c.name.is_empty() && !c.name.contains(['=', ';', ' ']), "{c:?}");
        assert!(!c.value.contains(';') && !c.value.chars().any(|ch| ch.is_control()), "{c:?}");
        assert!(path_match(&c.path, &c.path));
        assert!(domain_match(&c.domain, &c.domain, c.include_subdomains));
        if urls.len() < 12 {
            urls.push(format!("https://{}{}", c.domain, c.path));
            urls.push(format!("http://sub.{}{}x", c.domain, c.path));
        }
    }
    for u in &urls {
        let Ok(url) = Url::parse(u) else { continue };
        let Some(host) = url.host_str() else { continue };
        let https = url.scheme() == "https";
        let sent = jar.matching(host, url.path(), https, NOW);
        for w in sent.windows(2) {
            assert!(w[0].path.len() >= w[1].path.len());
        }
        for c in &sent {
            assert!(domain_match(host, &c.domain, c.include_subdomains), "{c:?} {u}");
            assert!(path_match(url.path(), &c.path), "{c:?} {u}");
            assert!(https || !c.secure);
            assert!(!c.expired(NOW));
        }
        if let Some(h) = jar.header_for_url(&url, NOW) {
            assert!(h.bytes().all(|b| (0x20..0x7f).contains(&b)), "{h:?}");
        }
    }
});
