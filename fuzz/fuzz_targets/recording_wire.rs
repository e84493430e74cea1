//! The recording service's outside data on arbitrary bytes: the webhook body, the stream
//! service's list of live streams and the `X-Stitch-Signature` header
//! (`src/service/recording/{wire,signature}.rs`, included by path).
//!
//! Invariants checked besides "no panic":
//! - an accepted webhook or listed stream has a key of `[A-Za-z0-9_-]{1,128}` (safe in a URL,
//!   an object key and a path) and a stream id shaped as a UUID;
//! - a header built by `sign` verifies for its own body and time, and for no other body.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/service/recording/wire.rs"]
mod wire;

#[allow(dead_code)]
#[path = "../../src/service/recording/signature.rs"]
mod signature;

fn key_is_safe(k: &str) {
    assert!(!k.is_empty() && k.len() <= 128, "{k:?}");
    assert!(k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'), "{k:?}");
}

fuzz_target!(|data: &[u8]| {
    if let Ok((event, ev)) = wire::parse_webhook(data) {
        assert!(event == "stream.started" || event == "stream.ended");
        key_is_safe(&ev.stream_key);
        assert_eq!(ev.stream_id.len(), 36);
    }
    if let Ok((streams, _)) = wire::parse_live(data) {
        for s in streams {
            key_is_safe(&s.stream_key);
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = signature::verify(b"secret", Some(&text), b"{}", 1_000_000);
    let h = signature::sign(b"secret", 1_000_000, data);
    assert_eq!(signature::verify(b"secret", Some(&h), data, 1_000_000), Ok(()));
    let mut other = data.to_vec();
    other.push(b'x');
    assert!(signature::verify(b"secret", Some(&h), &other, 1_000_000).is_err());
    let _ = wire::is_rfc3339(&text);
});
