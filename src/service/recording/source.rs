//! Where a stream's live playlist and segments are read: an HTTP origin (`--live-hls-url`,
//! RFC 8216 over HTTP) or a bucket (`--live-segments s3://bucket/prefix/{stream_key}/`: the
//! stream service's own segment store, read with the storage's `AWS_*` credentials).
//!
//! Both are operator configuration, outside the SSRF policy (which governs URLs from API
//! callers); the stream key is checked before it goes into either, and in a bucket every
//! segment key must stay under the stream's prefix.

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use url::Url;

use super::db::Rec;
use super::Recorder;
use crate::service::storage::Storage;

/// A stream's live source.
pub enum Source {
    Http { client: reqwest::Client, playlist: Url },
    Bucket { storage: Storage, bucket: String, prefix: String, playlist: Url },
}

impl Source {
    /// The source of `rec` from the configuration.
    pub fn open(r: &Recorder, rec: &Rec) -> Result<Source> {
        let cfg = &r.ctx.cfg.recording;
        if let Some(t) = &cfg.live_hls_url {
            let playlist = super::live_url(t, &rec.stream_key, &rec.stream_id)?;
            return Ok(Source::Http { client: r.client.clone(), playlist });
        }
        let Some(t) = &cfg.live_segments else { bail!("{}", super::NO_SOURCE) };
        let filled = t.replace("{stream_key}", &rec.stream_key).replace("{stream_id}", &rec.stream_id);
        let rest = filled.strip_prefix("s3://").ok_or_else(|| anyhow!("--live-segments {t}: not s3://"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let key = if key.ends_with(".m3u8") { key.to_string() } else { format!("{}index.m3u8", with_slash(key)) };
        let prefix = key.rsplit_once('/').map(|(p, _)| format!("{p}/")).unwrap_or_default();
        let playlist = Url::parse(&format!("s3://{bucket}/{key}"))?;
        Ok(Source::Bucket {
            storage: Storage::open(&format!("s3://{bucket}"))?,
            bucket: bucket.into(),
            prefix,
            playlist,
        })
    }

    pub fn playlist(&self) -> &Url {
        match self {
            Source::Http { playlist, .. } | Source::Bucket { playlist, .. } => playlist,
        }
    }

    /// The object key of a URL of this bucket, under the stream's prefix.
    fn key_of(url: &Url, bucket: &str, prefix: &str) -> Result<object_store::path::Path> {
        if url.scheme() != "s3" || url.host_str() != Some(bucket) {
            bail!("{url}: outside the live segments bucket {bucket}");
        }
        let path = percent_encoding::percent_decode_str(url.path().trim_start_matches('/')).decode_utf8()?;
        if !path.starts_with(prefix) || path.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
            bail!("{url}: outside the stream's prefix {prefix}");
        }
        Ok(object_store::path::Path::parse(path.as_ref())?)
    }

    /// A playlist's text, or the HTTP status (404 for a missing object) when there is none.
    pub async fn text(&self, url: &Url) -> Result<std::result::Result<String, u16>> {
        match self {
            Source::Http { client, .. } => {
                let resp = client.get(url.clone()).send().await?;
                if !resp.status().is_success() {
                    return Ok(Err(resp.status().as_u16()));
                }
                Ok(Ok(resp.text().await?))
            }
            Source::Bucket { storage, bucket, prefix, .. } => {
                match storage.get_bytes(&Source::key_of(url, bucket, prefix)?).await? {
                    Some(b) => Ok(Ok(String::from_utf8_lossy(&b).into_owned())),
                    None => Ok(Err(404)),
                }
            }
        }
    }

    /// A segment's bytes; `None` when it is gone (404, 410, no such object).
    pub async fn bytes(&self, url: &Url) -> Result<Option<Bytes>> {
        match self {
            Source::Http { client, .. } => {
                let resp = client
                    .get(url.clone())
                    .send()
                    .await
                    .map_err(|e| anyhow!("{url}: {}", crate::http::root_cause(&e)))?;
                match resp.status().as_u16() {
                    404 | 410 => Ok(None),
                    s if (200..300).contains(&s) => {
                        Ok(Some(resp.bytes().await.map_err(|e| anyhow!("{url}: {}", crate::http::root_cause(&e)))?))
                    }
                    s => bail!("{url}: HTTP {s}"),
                }
            }
            Source::Bucket { storage, bucket, prefix, .. } => {
                storage.get_bytes(&Source::key_of(url, bucket, prefix)?).await
            }
        }
    }
}

fn with_slash(p: &str) -> String {
    if p.is_empty() || p.ends_with('/') {
        p.to_string()
    } else {
        format!("{p}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_keys_stay_under_the_stream_prefix() {
        let ok = Url::parse("s3://live/k1/s5.ts").unwrap();
        assert_eq!(Source::key_of(&ok, "live", "k1/").unwrap().as_ref(), "k1/s5.ts");
        for bad in [
            "s3://live/k2/s5.ts",
            "s3://other/k1/s5.ts",
            "http://live/k1/s5.ts",
            "s3://live/k1/../k2/s.ts",
            "s3://live/k1//s.ts",
        ] {
            let u = Url::parse(bad).unwrap();
            assert!(Source::key_of(&u, "live", "k1/").is_err(), "{bad}");
        }
        // Relative segment URIs resolve under the playlist, as over HTTP.
        let pl = Url::parse("s3://live/a/k1/index.m3u8").unwrap();
        assert_eq!(pl.join("s7.ts").unwrap().as_str(), "s3://live/a/k1/s7.ts");
        assert_eq!(pl.join("../k2/s7.ts").unwrap().as_str(), "s3://live/a/k2/s7.ts");
    }
}
