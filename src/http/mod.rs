//! The one HTTP layer of the `stitch` crate: every request (webinar chunks, remote clips,
//! recorders' playlists, keys, segments and direct MP4s, the MTS Link API) goes through a
//! client built by [`ClientConfig`], is retried by the policy of [`retry`] and, when it
//! fetches a file, through the resumable fetch of [`fetch`].
//!
//! - [`ClientConfig`]: connect and read (inactivity) timeouts on every request, optionally a
//!   whole-request timeout, user agent, extra headers, `--proxy` ([`crate::net::NetOptions`]).
//!   `--limit-rate` ([`crate::net::RateLimiter`]) paces the bodies read through [`fetch`] and
//!   the recorders; cookies (Netscape `cookies.txt`, [`crate::cookies`]) are added per request
//!   by the callers that have a jar.
//! - [`retry`]: backoff with jitter, `Retry-After` (RFC 9110 §10.2.3), which failures are
//!   retried, and the root cause in plain words.
//! - [`fetch`]: `Range` resume into a `.part` file with `Content-Range` and size checks
//!   (RFC 9110 §14.2, §14.4, §15.3.7, §15.5.17), then an atomic rename.
//!
//! Everything is async (tokio, reqwest); there is no blocking wrapper.

pub mod fetch;
pub mod headers;
pub mod retry;

#[cfg(test)]
mod tests;

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

pub use fetch::{part_path, FetchError, Observer, Target};
pub use headers::ContentRange;
pub use retry::{error_chain, root_cause, Backoff, Failure};

/// The `User-Agent` of every request unless the user sets one.
pub fn default_user_agent() -> String {
    concat!("stitch/", env!("CARGO_PKG_VERSION")).to_string()
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid header name {name:?}: {source}")]
    HeaderName {
        name: String,
        #[source]
        source: reqwest::header::InvalidHeaderName,
    },
    #[error("invalid value for header {name}: {source}")]
    HeaderValue {
        name: String,
        #[source]
        source: reqwest::header::InvalidHeaderValue,
    },
    /// `--proxy` is not a usable proxy URL.
    #[error("{0}")]
    Proxy(String),
    #[error("cannot build the HTTP client: {}", error_chain(.0))]
    Build(#[source] reqwest::Error),
}

/// How to build a client; see the module doc.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    /// The longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// A limit on each whole request (headers and body), for small API answers.
    pub timeout: Option<Duration>,
    pub user_agent: String,
    /// Extra headers sent with every request (names and values are trimmed).
    pub headers: Vec<(String, String)>,
    pub net: crate::net::NetOptions,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            timeout: None,
            user_agent: default_user_agent(),
            headers: Vec::new(),
            net: Default::default(),
        }
    }
}

impl ClientConfig {
    /// The extra headers as a map; an error names the bad header.
    pub fn header_map(&self) -> Result<HeaderMap, ConfigError> {
        let mut map = HeaderMap::new();
        for (k, v) in &self.headers {
            let name = HeaderName::from_bytes(k.trim().as_bytes())
                .map_err(|source| ConfigError::HeaderName { name: k.clone(), source })?;
            let value = HeaderValue::from_str(v.trim())
                .map_err(|source| ConfigError::HeaderValue { name: k.clone(), source })?;
            map.append(name, value);
        }
        Ok(map)
    }

    /// The client builder with every setting applied (for callers that add their own).
    pub fn builder(&self) -> Result<reqwest::ClientBuilder, ConfigError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .user_agent(self.user_agent.clone())
            .default_headers(self.header_map()?);
        if let Some(t) = self.timeout {
            b = b.timeout(t);
        }
        self.net.apply(b).map_err(|e| ConfigError::Proxy(e.0))
    }

    pub fn build(&self) -> Result<reqwest::Client, ConfigError> {
        self.builder()?.build().map_err(ConfigError::Build)
    }
}
