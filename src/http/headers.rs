//! Parsers of the HTTP header values the layer relies on, on std only (so a fuzz target
//! includes this file by path): `Content-Range` (RFC 9110 §14.4) and `Retry-After`
//! (RFC 9110 §10.2.3, with the IMF-fixdate of §5.6.7).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest wait a `Retry-After` header can impose.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(120);

/// A parsed `Content-Range` header (RFC 9110 §14.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes first-last/complete` (`complete` is `None` for `*`).
    Bytes { first: u64, last: u64, complete: Option<u64> },
    /// `bytes */complete`, sent with 416.
    Unsatisfied { complete: u64 },
}

/// Parses a `Content-Range` value; `None` when it is not a valid byte range.
pub fn parse_content_range_str(v: &str) -> Option<ContentRange> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, complete) = rest.split_once('/')?;
    let complete = complete.trim();
    let range = range.trim();
    if range == "*" {
        return Some(ContentRange::Unsatisfied { complete: complete.parse().ok()? });
    }
    let (a, b) = range.split_once('-')?;
    let (first, last): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    let complete = if complete == "*" { None } else { Some(complete.parse().ok()?) };
    if last < first || complete.is_some_and(|c| last >= c) {
        return None;
    }
    Some(ContentRange::Bytes { first, last, complete })
}

/// Parses `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP date (IMF-fixdate,
/// e.g. `Sun, 06 Nov 1994 08:49:37 GMT`), relative to `now`; capped at 2 minutes. A
/// date in the past means "now".
pub fn parse_retry_after_str(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = parse_http_date(v)?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(d.min(RETRY_AFTER_CAP))
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the HTTP date format senders must use.
pub fn parse_http_date(v: &str) -> Option<SystemTime> {
    let mut it = v.split_whitespace();
    let _weekday = it.next()?.strip_suffix(',')?;
    let day: u32 = it.next()?.parse().ok()?;
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':').map(|x| x.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    // IMF-fixdate has a four-digit year; anything else could overflow the day count.
    if !(1..=9999).contains(&year) {
        return None;
    }
    if it.next()? != "GMT" || it.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + (h * 3600 + m * 60 + s) as i64;
    Some(if secs >= 0 { UNIX_EPOCH + Duration::from_secs(secs as u64) } else { UNIX_EPOCH })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Corrupted and hostile values: no panic, no overflow, `None` for anything invalid.
    #[test]
    fn corrupted_values_are_refused() {
        for v in [
            "",
            "bytes",
            "bytes -/",
            "bytes 1-/5",
            "bytes 18446744073709551615-18446744073709551615/*",
            "bytes 0-18446744073709551616/*",
            "bytes */-1",
            "bytes 3-2/*",
            "bytes\u{0}0-1/2",
        ] {
            let r = parse_content_range_str(v);
            assert!(r.is_none() || v.starts_with("bytes 1844"), "{v:?}: {r:?}");
        }
        let now = UNIX_EPOCH;
        for v in ["", "-1", "1.5", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun 06 Nov"] {
            assert_eq!(parse_retry_after_str(v, now), None, "{v:?}");
        }
        assert_eq!(parse_retry_after_str("18446744073709551615", now), Some(RETRY_AFTER_CAP));
        for year in ["-99999999999", "9223372036854775807", "0", "10000"] {
            assert_eq!(parse_retry_after_str(&format!("Sun, 06 Nov {year} 08:49:37 GMT"), now), None, "{year}");
        }
    }
}
