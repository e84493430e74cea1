//! Network options shared by every downloader (webinar chunks, remote clips, recorders):
//! `--proxy URL` and `--limit-rate RATE`.
//!
//! Without `--proxy`, reqwest uses `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` and `NO_PROXY`
//! from the environment (curl's conventions); `--proxy` replaces them for every request
//! (http, https and socks5 proxy URLs). `--limit-rate` caps the sum of all body bytes
//! received per second, over every parallel transfer of the process, with a token bucket
//! (one second of burst).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::exit::UsageError;

/// `--proxy` and `--limit-rate`, as given.
#[derive(Clone, Debug, Default)]
pub struct NetOptions {
    /// Proxy for every request (`http://`, `https://`, `socks5://`, `socks5h://`).
    pub proxy: Option<String>,
    /// Bytes per second, all transfers together.
    pub limit_rate: Option<u64>,
}

impl NetOptions {
    /// Check the values (a usage error names the flag).
    pub fn validate(&self) -> Result<(), UsageError> {
        if let Some(p) = &self.proxy {
            let u = url::Url::parse(p).map_err(|e| UsageError(format!("--proxy {p:?}: {e}")))?;
            if !matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h") || u.host_str().is_none() {
                return Err(UsageError(format!(
                    "--proxy {p:?}: expected http://HOST:PORT, https://..., socks5://... or socks5h://..."
                )));
            }
        }
        Ok(())
    }

    /// Apply the proxy to a client under construction.
    pub fn apply(&self, b: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, UsageError> {
        match &self.proxy {
            None => Ok(b),
            Some(p) => {
                let proxy = reqwest::Proxy::all(p.as_str()).map_err(|e| UsageError(format!("--proxy {p:?}: {e}")))?;
                Ok(b.proxy(proxy))
            }
        }
    }

    /// The shared limiter, when a rate is set.
    pub fn limiter(&self) -> Option<RateLimiter> {
        self.limit_rate.map(RateLimiter::new)
    }
}

/// Parse `--limit-rate`: bytes per second with an optional K, M or G suffix (powers of 1024,
/// as curl and wget read them): `500K`, `1.5M`, `2000000`.
/// `--limit-rate` is not a rate of at least 1K.
#[derive(Debug, thiserror::Error)]
pub enum RateError {
    #[error("'{0}' is not a rate (examples: 500K, 1.5M, 2000000)")]
    NotARate(String),
    #[error("rate '{0}' is below the minimum of 1K (1024 bytes per second)")]
    TooLow(String),
}

pub fn parse_rate(s: &str) -> Result<u64, RateError> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1024f64),
        Some('M') => (&t[..t.len() - 1], 1024f64 * 1024.0),
        Some('G') => (&t[..t.len() - 1], 1024f64 * 1024.0 * 1024.0),
        _ => (t, 1f64),
    };
    let v: f64 = num.trim().parse().map_err(|_| RateError::NotARate(s.to_string()))?;
    let bytes = v * mult;
    if !bytes.is_finite() || bytes < 1024.0 {
        return Err(RateError::TooLow(s.to_string()));
    }
    Ok(bytes as u64)
}

/// A token bucket shared by every transfer (cheap to clone).
#[derive(Clone, Debug)]
pub struct RateLimiter {
    rate: u64,
    state: Arc<Mutex<(f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(bytes_per_sec: u64) -> RateLimiter {
        let rate = bytes_per_sec.max(1);
        RateLimiter { rate, state: Arc::new(Mutex::new((rate as f64, Instant::now()))) }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Account for `n` bytes just received; returns how long to wait before reading more.
    pub fn charge(&self, n: usize) -> Duration {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let burst = self.rate as f64;
        st.0 = (st.0 + now.duration_since(st.1).as_secs_f64() * self.rate as f64).min(burst);
        st.1 = now;
        st.0 -= n as f64;
        if st.0 >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-st.0 / self.rate as f64)
        }
    }

    /// [`charge`](Self::charge), then sleep as long as it says.
    pub async fn take(&self, n: usize) {
        let d = self.charge(n);
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("500K").unwrap(), 512_000);
        assert_eq!(parse_rate("1.5m").unwrap(), 1_572_864);
        assert_eq!(parse_rate("2000000").unwrap(), 2_000_000);
        assert_eq!(parse_rate("1G").unwrap(), 1 << 30);
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("10").is_err());
        assert!(parse_rate("-5M").is_err());
    }

    #[test]
    fn proxies() {
        let ok = |p: &str| NetOptions { proxy: Some(p.into()), limit_rate: None }.validate();
        assert!(ok("http://127.0.0.1:3128").is_ok());
        assert!(ok("socks5h://proxy:1080").is_ok());
        assert!(ok("ftp://proxy").is_err());
        assert!(ok("not a url").is_err());
    }

    #[test]
    fn bucket_paces_to_the_rate() {
        let l = RateLimiter::new(100_000);
        // One second of burst is free, then each byte costs 10 µs.
        assert_eq!(l.charge(100_000), Duration::ZERO);
        let d = l.charge(50_000);
        assert!(d >= Duration::from_millis(490) && d <= Duration::from_millis(510), "{d:?}");
    }
}
