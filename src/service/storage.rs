//! Object storage of the service (object_store): a local folder by default, S3 (or any
//! SigV4 S3 server) from `s3://bucket/prefix` with endpoint, region, path style and
//! credentials from the usual `AWS_*` variables.
//!
//! Every object key is built here from names that passed [`sanitize_name`]: no `..`, no
//! absolute paths, no separators, no control characters, so no name can leave its prefix.

use std::path::Path as FsPath;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

pub use super::names::{sanitize_name, BadName};

/// An object key from sanitized segments.
pub fn key(segments: &[&str]) -> Result<Path, BadName> {
    let mut parts = Vec::with_capacity(segments.len());
    for s in segments {
        parts.push(sanitize_name(s)?);
    }
    Ok(Path::from(parts.join("/")))
}

/// A stored object's size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    pub size: u64,
    pub sha256: String,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Size and SHA-256 of a local file.
pub async fn digest_file(path: &FsPath) -> Result<Digested> {
    let mut f = tokio::fs::File::open(path).await.with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok(Digested { size, sha256: hex(&h.finalize()) })
}

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// S3 only: signs GET URLs for output downloads.
    signer: Option<(Arc<AmazonS3>, String)>,
    pub describe: String,
}

impl Storage {
    /// From `--storage`: `s3://bucket[/prefix]` or a local folder (created).
    pub fn open(spec: &str) -> Result<Storage> {
        if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                bail!("--storage {spec:?}: no bucket name");
            }
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            // Every outgoing request has a timeout (set key by key: the client options read
            // from the environment stay).
            use object_store::aws::AmazonS3ConfigKey as K;
            use object_store::ClientConfigKey as C;
            b = b.with_config(K::Client(C::Timeout), "300s").with_config(K::Client(C::ConnectTimeout), "10s");
            if let Ok(ep) = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT")) {
                b = b.with_endpoint(&ep).with_allow_http(ep.starts_with("http://"));
            }
            if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
                b = b.with_region("us-east-1");
            }
            if let Ok(v) = std::env::var("AWS_S3_FORCE_PATH_STYLE") {
                b = b.with_virtual_hosted_style_request(!matches!(v.as_str(), "1" | "true"));
            }
            let s3 = Arc::new(b.build().with_context(|| format!("--storage {spec}"))?);
            let prefix = prefix.trim_matches('/').to_string();
            for seg in prefix.split('/').filter(|s| !s.is_empty()) {
                sanitize_name(seg).map_err(|e| anyhow::anyhow!("--storage prefix: {e}"))?;
            }
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                s3.clone()
            } else {
                Arc::new(PrefixStore::new(s3.clone() as Arc<dyn ObjectStore>, prefix.as_str()))
            };
            return Ok(Storage { store, signer: Some((s3, prefix)), describe: format!("s3://{bucket}") });
        }
        std::fs::create_dir_all(spec).with_context(|| format!("creating the storage folder {spec}"))?;
        let fs = LocalFileSystem::new_with_prefix(spec).with_context(|| format!("--storage {spec}"))?;
        Ok(Storage { store: Arc::new(fs), signer: None, describe: spec.to_string() })
    }

    pub fn is_s3(&self) -> bool {
        self.signer.is_some()
    }

    /// Upload a local file under `key` (atomic: the key appears complete or not at all)
    /// and check the stored size. Returns the file's digest.
    pub async fn put_file(&self, key: &Path, file: &FsPath) -> Result<Digested> {
        let d = digest_file(file).await?;
        let mut f = tokio::fs::File::open(file).await?;
        let mut up = object_store::buffered::BufWriter::with_capacity(self.store.clone(), key.clone(), 8 << 20);
        let mut buf = vec![0u8; 1 << 20];
        use tokio::io::AsyncWriteExt;
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            up.write_all(&buf[..n]).await.with_context(|| format!("uploading {key}"))?;
        }
        up.shutdown().await.with_context(|| format!("uploading {key}"))?;
        let stored = self.size(key).await?;
        if stored != Some(d.size) {
            bail!("uploading {key}: {} bytes stored, {} sent", stored.unwrap_or(0), d.size);
        }
        Ok(d)
    }

    pub async fn put_bytes(&self, key: &Path, data: bytes::Bytes) -> Result<()> {
        self.store.put(key, PutPayload::from(data)).await.with_context(|| format!("writing {key}"))?;
        Ok(())
    }

    /// The object's size, `None` when absent.
    pub async fn size(&self, key: &Path) -> Result<Option<u64>> {
        match self.store.head(key).await {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading {key}"))),
        }
    }

    /// Size and SHA-256 of a stored object (read back in full).
    pub async fn digest(&self, key: &Path) -> Result<Option<Digested>> {
        let r = match self.store.get(key).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {key}"))),
        };
        let mut s = r.into_stream();
        let mut h = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = s.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            h.update(&chunk);
        }
        Ok(Some(Digested { size, sha256: hex(&h.finalize()) }))
    }

    /// Download an object to a local file (written beside, then renamed).
    pub async fn get_to_file(&self, key: &Path, file: &FsPath) -> Result<u64> {
        let r = self.store.get(key).await.with_context(|| format!("reading {key}"))?;
        let part = file.with_extension("part");
        let mut out = tokio::fs::File::create(&part).await?;
        let mut s = r.into_stream();
        let mut n = 0u64;
        use tokio::io::AsyncWriteExt;
        while let Some(chunk) = s.next().await {
            let chunk = chunk.with_context(|| format!("reading {key}"))?;
            n += chunk.len() as u64;
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        drop(out);
        tokio::fs::rename(&part, file).await?;
        Ok(n)
    }

    /// A byte stream of the object.
    pub async fn stream(
        &self,
        key: &Path,
    ) -> Result<Option<(u64, futures_util::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>)>> {
        match self.store.get(key).await {
            Ok(r) => {
                let size = r.meta.size;
                Ok(Some((size, r.into_stream())))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading {key}"))),
        }
    }

    /// S3: a presigned GET URL valid for `secs`.
    pub async fn presign(&self, key: &Path, secs: u64) -> Result<Option<String>> {
        let Some((s3, prefix)) = &self.signer else { return Ok(None) };
        let full = if prefix.is_empty() { key.clone() } else { Path::from(format!("{prefix}/{key}")) };
        let url = s3
            .signed_url(reqwest_method_get(), &full, std::time::Duration::from_secs(secs))
            .await
            .with_context(|| format!("signing {key}"))?;
        Ok(Some(url.to_string()))
    }

    pub async fn delete(&self, key: &Path) -> Result<()> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context(format!("deleting {key}"))),
        }
    }

    /// Keys under a prefix.
    pub async fn list(&self, prefix: &Path) -> Result<Vec<(Path, u64)>> {
        let mut s = self.store.list(Some(prefix));
        let mut out = Vec::new();
        while let Some(m) = s.next().await {
            let m = m?;
            out.push((m.location, m.size));
        }
        Ok(out)
    }

    /// Health: storage answers (a small marker object is written and read back).
    pub async fn check(&self) -> Result<()> {
        let k = Path::from("health/probe");
        self.store.put(&k, PutPayload::from_static(b"ok")).await?;
        self.store.head(&k).await?;
        Ok(())
    }
}

fn reqwest_method_get() -> axum::http::Method {
    axum::http::Method::GET
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_their_prefix() {
        for bad in ["..", "../x", "a/../../b", "/etc/passwd", "a/b", "a\\b", ".hidden", "x\n", "x\0y", "", "a..b"] {
            assert!(sanitize_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["basic.mp4", "stream_0.ts", "lecture-1.mp4"] {
            assert_eq!(sanitize_name(good).unwrap(), good);
        }
        assert_eq!(key(&["jobs", "abc", "out.mp4"]).unwrap().as_ref(), "jobs/abc/out.mp4");
        assert!(key(&["jobs", "../x"]).is_err());
    }

    #[tokio::test]
    async fn local_put_is_verified_and_stays_in_the_folder() {
        let dir = std::env::temp_dir().join(format!("stitch-storage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = Storage::open(dir.join("objects").to_str().unwrap()).unwrap();
        let src = dir.join("src.bin");
        std::fs::write(&src, b"hello world").unwrap();
        let k = key(&["jobs", "j1", "out.bin"]).unwrap();
        let d = s.put_file(&k, &src).await.unwrap();
        assert_eq!(d.size, 11);
        assert_eq!(d.sha256, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_eq!(s.digest(&k).await.unwrap().unwrap(), d);
        assert!(dir.join("objects/jobs/j1/out.bin").is_file());
        assert_eq!(s.size(&key(&["jobs", "nothing"]).unwrap()).await.unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
