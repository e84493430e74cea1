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
    let path = path.to_path_buf();
    // One blocking task for the whole file (tokio's files hop to a thread per read).
    tokio::task::spawn_blocking(move || -> Result<Digested> {
        use std::io::Read;
        let mut f = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = f.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            size += n as u64;
        }
        Ok(Digested { size, sha256: hex(&h.finalize()) })
    })
    .await?
}

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// S3 only: signs GET URLs for output downloads.
    signer: Option<(Arc<AmazonS3>, String)>,
    /// Local storage only: the folder keys are paths under (outputs are hard-linked there
    /// and read back directly, without the object store's chunked streams).
    local: Option<std::path::PathBuf>,
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
            // A storage outage surfaces within ~20 s (the default retries for 3 minutes):
            // the callers have their own retries (jobs are queued again, a finalize waits).
            b = b.with_retry(object_store::RetryConfig {
                backoff: Default::default(),
                max_retries: 4,
                retry_timeout: std::time::Duration::from_secs(20),
            });
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
            return Ok(Storage { store, signer: Some((s3, prefix)), local: None, describe: format!("s3://{bucket}") });
        }
        std::fs::create_dir_all(spec).with_context(|| format!("creating the storage folder {spec}"))?;
        let fs = LocalFileSystem::new_with_prefix(spec).with_context(|| format!("--storage {spec}"))?;
        let local = std::fs::canonicalize(spec).with_context(|| format!("--storage {spec}"))?;
        Ok(Storage { store: Arc::new(fs), signer: None, local: Some(local), describe: spec.to_string() })
    }

    /// Local storage: the file behind `key` (read in place, no copy).
    pub fn local_path(&self, key: &Path) -> Option<std::path::PathBuf> {
        self.local.as_ref().map(|root| root.join(key.as_ref()))
    }

    pub fn is_s3(&self) -> bool {
        self.signer.is_some()
    }

    /// Upload a local file under `key` (atomic: the key appears complete or not at all)
    /// and check the stored size. Returns the file's digest.
    pub async fn put_file(&self, key: &Path, file: &FsPath) -> Result<Digested> {
        let d = digest_file(file).await?;
        self.upload(key, file, d.size).await?;
        Ok(d)
    }

    /// Upload `file` (of `size` bytes) under `key` and check the stored size.
    async fn upload(&self, key: &Path, file: &FsPath, size: u64) -> Result<()> {
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
        if stored != Some(size) {
            bail!("uploading {key}: {} bytes stored, {size} sent", stored.unwrap_or(0));
        }
        Ok(())
    }

    /// Publish the finished local file `file` under `key`: stored complete or not at all,
    /// then read back and compared with `expected` (size and SHA-256); an error when the
    /// stored object differs. On local storage on the same file system the file is
    /// hard-linked under its key (no copy: the name appears with the whole file at once);
    /// the object then is the very file `expected` was computed from, and its identity
    /// (device, inode) and size are checked instead of hashing the same bytes again.
    /// Elsewhere the file is uploaded and read back.
    pub async fn publish_file(&self, key: &Path, file: &FsPath, expected: &Digested) -> Result<()> {
        if self.link_local(key, file).await? {
            // The key is the very file the digest was computed from (a hard link: same
            // inode, no copy made): reading it back would hash the same bytes again.
            if self.is_same_file(key, file, expected.size) {
                return Ok(());
            }
        } else {
            self.upload(key, file, expected.size).await?;
        }
        let back = self.digest(key).await?;
        if back.as_ref() != Some(expected) {
            bail!("publishing {key}: the stored object does not match the output (size or SHA-256)");
        }
        Ok(())
    }

    /// Local storage: the object under `key` is `file` itself (same device and inode) of
    /// `size` bytes.
    fn is_same_file(&self, key: &Path, file: &FsPath, size: u64) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Some(root) = &self.local else { return false };
        match (std::fs::metadata(root.join(key.as_ref())), std::fs::metadata(file)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino(), a.len()) == (b.dev(), b.ino(), size),
            _ => false,
        }
    }

    /// Local storage: `file` hard-linked as `key` (an existing object replaced atomically
    /// through a temporary link and a rename). `false` when this storage is not local or the
    /// link cannot be made (another file system): the caller uploads instead.
    async fn link_local(&self, key: &Path, file: &FsPath) -> Result<bool> {
        let Some(root) = &self.local else { return Ok(false) };
        let dest = root.join(key.as_ref());
        let (file, dest) = (file.to_path_buf(), dest.clone());
        tokio::task::spawn_blocking(move || -> Result<bool> {
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            match std::fs::hard_link(&file, &dest) {
                Ok(()) => return Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(_) => return Ok(false),
            }
            use std::os::unix::fs::MetadataExt;
            let (a, b) = (std::fs::metadata(&file)?, std::fs::metadata(&dest)?);
            if (a.dev(), a.ino()) == (b.dev(), b.ino()) {
                return Ok(true); // already this very file
            }
            // A temporary name no other run uses (names never start with `.`), then renamed.
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let tmp = dest.with_file_name(format!(".{name}.{}-{n}.link", std::process::id()));
            if std::fs::hard_link(&file, &tmp).is_err() {
                return Ok(false);
            }
            if let Err(e) = std::fs::rename(&tmp, &dest) {
                let _ = std::fs::remove_file(&tmp);
                return Err(anyhow::Error::new(e).context(format!("renaming onto {}", dest.display())));
            }
            Ok(true)
        })
        .await?
    }

    pub async fn put_bytes(&self, key: &Path, data: bytes::Bytes) -> Result<()> {
        self.store.put(key, PutPayload::from(data)).await.with_context(|| format!("writing {key}"))?;
        Ok(())
    }

    /// A (small) object's bytes, `None` when absent.
    pub async fn get_bytes(&self, key: &Path) -> Result<Option<bytes::Bytes>> {
        match self.store.get(key).await {
            Ok(r) => Ok(Some(r.bytes().await.with_context(|| format!("reading {key}"))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading {key}"))),
        }
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
        if let Some(root) = &self.local {
            let path = root.join(key.as_ref());
            return match tokio::fs::metadata(&path).await {
                Ok(m) if m.is_file() => Ok(Some(digest_file(&path).await?)),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(anyhow::Error::new(e).context(format!("reading {key}"))),
            };
        }
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

    #[tokio::test]
    async fn local_publish_links_then_verifies_and_replaces_atomically() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("stitch-storage-pub-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = Storage::open(dir.join("objects").to_str().unwrap()).unwrap();
        let src = dir.join("scratch.ts");
        std::fs::write(&src, b"hello world").unwrap();
        let want = digest_file(&src).await.unwrap();
        let k = key(&["jobs", "j2", "out.ts"]).unwrap();
        s.publish_file(&k, &src, &want).await.unwrap();
        let stored = dir.join("objects/jobs/j2/out.ts");
        // The same file, not a copy; it outlives the scratch name.
        assert_eq!(std::fs::metadata(&stored).unwrap().ino(), std::fs::metadata(&src).unwrap().ino());
        // Published again (a rerun that found its output done): nothing changes, no temporary.
        s.publish_file(&k, &src, &want).await.unwrap();
        assert_eq!(std::fs::read_dir(stored.parent().unwrap()).unwrap().count(), 1);
        std::fs::remove_file(&src).unwrap();
        assert_eq!(s.digest(&k).await.unwrap().unwrap(), want);
        // A second publish under the same key replaces the object (no temporary left).
        std::fs::write(&src, b"second run").unwrap();
        let want2 = digest_file(&src).await.unwrap();
        s.publish_file(&k, &src, &want2).await.unwrap();
        assert_eq!(std::fs::read(&stored).unwrap(), b"second run");
        assert_eq!(std::fs::read_dir(stored.parent().unwrap()).unwrap().count(), 1);
        // A digest that does not match what is stored is an error.
        let wrong = Digested { size: 11, sha256: "0".repeat(64) };
        let e = s.publish_file(&k, &src, &wrong).await.unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
