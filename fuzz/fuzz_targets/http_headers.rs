//! The HTTP header parsers of `src/http/headers.rs` (`Content-Range`, `Retry-After` and its
//! HTTP date) on arbitrary bytes, decoded as lossy UTF-8. The module depends only on std, so
//! it is included by path.
//!
//! Invariants checked besides "no panic":
//! - a parsed byte range has `first <= last < complete` (when `complete` is known);
//! - a `Retry-After` never exceeds the cap, and a later "now" never lengthens the wait.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/http/headers.rs"]
mod headers;

use headers::{parse_content_range_str, parse_retry_after_str, ContentRange, RETRY_AFTER_CAP};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(ContentRange::Bytes { first, last, complete }) = parse_content_range_str(&text) {
        assert!(first <= last, "{text:?}");
        assert!(complete.is_none_or(|c| last < c), "{text:?}");
    }
    let early = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let late = early + Duration::from_secs(60);
    if let Some(a) = parse_retry_after_str(&text, early) {
        assert!(a <= RETRY_AFTER_CAP);
        let b = parse_retry_after_str(&text, late).expect("the same value parses at any time");
        assert!(b <= a, "{text:?}");
    }
});
