//! Webhook signatures: `X-Stitch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<raw body>")>` (the scheme of Stripe's webhooks: RFC 2104 HMAC over the timestamp and
//! the exact bytes received, so a replayed body with a new time does not verify).
//!
//! Several `v1=` entries may be present (a sender rotating its secret); one match is enough.
//! Times more than [`TOLERANCE_SECS`] from now, in either direction, are refused; the MAC is
//! compared in constant time ([`hmac::Mac::verify_slice`]). Depends on hmac and sha2 only
//! (the fuzz target `recording_wire` includes this file by path).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signature's time may be from now.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a webhook was refused (HTTP 401).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("the X-Stitch-Signature header is missing")]
    Missing,
    #[error("the X-Stitch-Signature header is not `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    #[error("the signature's time is more than {TOLERANCE_SECS} s from now")]
    Stale,
    #[error("the signature does not match the body")]
    Mismatch,
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The header value a sender puts on `body` at unix time `t`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 256 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Check `header` against `body` at unix time `now`.
pub fn verify(secret: &[u8], header: Option<&str>, body: &[u8], now: i64) -> Result<(), SigError> {
    let header = header.ok_or(SigError::Missing)?;
    let mut t = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(SigError::Malformed)?;
        match k.trim() {
            "t" => t = Some(v.trim().parse::<i64>().map_err(|_| SigError::Malformed)?),
            "v1" => tags.push(unhex(v.trim()).ok_or(SigError::Malformed)?),
            _ => {} // other schemes (v0, ...) are ignored
        }
    }
    let t = t.ok_or(SigError::Malformed)?;
    if tags.is_empty() {
        return Err(SigError::Malformed);
    }
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(SigError::Stale);
    }
    let m = mac(secret, t, body);
    if tags.iter().any(|tag| m.clone().verify_slice(tag).is_ok()) {
        Ok(())
    } else {
        Err(SigError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_forgeries_do_not() {
        let body = br#"{"event":"stream.started"}"#;
        let h = sign(b"s3cret", 1_000_000, body);
        assert!(h.starts_with("t=1000000,v1=") && h.len() == "t=1000000,v1=".len() + 64, "{h}");
        assert_eq!(verify(b"s3cret", Some(&h), body, 1_000_000), Ok(()));
        assert_eq!(verify(b"s3cret", Some(&h), body, 1_000_000 + 300), Ok(()));
        assert_eq!(verify(b"s3cret", Some(&h), body, 1_000_000 - 300), Ok(()));
        assert_eq!(verify(b"s3cret", Some(&h), body, 1_000_301), Err(SigError::Stale));
        assert_eq!(verify(b"s3cret", Some(&h), body, 999_699), Err(SigError::Stale));
        assert_eq!(verify(b"other", Some(&h), body, 1_000_000), Err(SigError::Mismatch));
        assert_eq!(verify(b"s3cret", Some(&h), b"{}", 1_000_000), Err(SigError::Mismatch));
        assert_eq!(verify(b"s3cret", None, body, 1_000_000), Err(SigError::Missing));
        // The time is signed: moving it breaks the signature.
        let moved = h.replacen("t=1000000", "t=1000001", 1);
        assert_eq!(verify(b"s3cret", Some(&moved), body, 1_000_000), Err(SigError::Mismatch));
        // A rotated secret: one matching v1 is enough.
        let tag = h.split("v1=").nth(1).unwrap();
        let two = format!("t=1000000, v1={}, v1={tag}", "00".repeat(32));
        assert_eq!(verify(b"s3cret", Some(&two), body, 1_000_000), Ok(()));
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1000000,v1=zz", "t=1000000,v1=0", "garbage"] {
            assert_eq!(verify(b"s3cret", Some(bad), body, 1_000_000), Err(SigError::Malformed), "{bad}");
        }
        // A truncated tag is a mismatch, not a prefix match.
        let short = format!("t=1000000,v1={}", &tag[..62]);
        assert_eq!(verify(b"s3cret", Some(&short), body, 1_000_000), Err(SigError::Mismatch));
    }
}
