//! http(s) clips and slides of a flow (`stitch compile`): downloaded before the compile
//! with the webinar's resumable downloader ([`crate::download::Downloader`]: bounded
//! parallel transfers, `Range` resume into `.part` files, retries), into a cache folder
//! beside the output, `<output stem>.clips/`, then compiled from there.
//!
//! - A file is named by a stable hash of its URL (64-bit FNV-1a, hex) plus the URL's file
//!   extension, so a rerun finds it: complete files are not downloaded again and `.part`
//!   files resume (RFC 9110 §14.2 ranges, see [`crate::download`]).
//! - A url used several times is downloaded once.
//! - A failed download does not fail the compile: its clip is skipped with the reason
//!   ([`media::timeline::Remote::Failed`]), its slide is not shown; the compile fails only
//!   when no clip is usable (as with missing local files).
//! - After a successful compile [`RemoteFiles::finish`] removes the cache (only the files
//!   it put there, and the folder when that leaves it empty) unless `--keep-files`, or a
//!   download failed (its `.part` lets a rerun resume). After a failure nothing is removed.
//!
//! Only `http://` and `https://` urls are downloaded; the flow parser rejects other schemes
//! with an error naming the event ([`media::timeline::Flow::parse`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use media::timeline::{Flow, Remote};
use url::Url;

use crate::download::{part_path, DownloadError, DownloadEvent, DownloadItem, DownloadOptions, Downloader};

/// Why the remote clips could not be fetched at all (one clip's failure is not one).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("creating the download folder {}", path.display())]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the download runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Client(DownloadError),
    #[error("stopped by the user while downloading the flow's clips")]
    Stopped,
    #[error("removing {}", path.display())]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why one remote url has no local file.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ClipFailure {
    #[error("invalid url (no host): {0}")]
    NoHost(String),
    #[error("invalid url {url}: {source}")]
    BadUrl { url: String, source: url::ParseError },
    /// The download failed (its message).
    #[error("{0}")]
    Download(String),
}

/// Parallel downloads of `stitch compile`.
pub const DEFAULT_JOBS: usize = 4;

/// What [`fetch_remote`] did, and the files it owns.
#[derive(Clone, Debug, Default)]
pub struct RemoteFiles {
    /// The cache folder (created only when the flow has remote urls).
    pub cache_dir: PathBuf,
    /// Distinct remote urls.
    pub urls: usize,
    /// Files transferred (fully or the rest of a `.part`) by this run.
    pub downloaded: usize,
    /// Files that were already complete in the cache.
    pub cached: usize,
    /// Bytes of the complete files.
    pub bytes: u64,
    /// `(url, reason)` of each failed download.
    pub failed: Vec<(String, String)>,
    /// Every cache file of this flow (complete or not).
    pub files: Vec<PathBuf>,
}

/// `<dir>/<stem>.clips` beside the output.
pub fn cache_dir_for(output: &Path) -> PathBuf {
    if crate::outpath::is_stdout(output) {
        return PathBuf::from("stitch-stdout.clips");
    }
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    output.with_file_name(format!("{stem}.clips"))
}

/// 64-bit FNV-1a: stable across Rust versions and platforms (unlike `DefaultHasher`).
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The cache file name of `url`: 16 hex digits of its hash, plus the extension of the URL's
/// last path segment when it is a plain one (1 to 8 letters or digits, lower-cased).
pub fn cache_name(url: &Url) -> String {
    let hash = format!("{:016x}", fnv1a64(url.as_str().as_bytes()));
    let last = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or("");
    match last.rsplit_once('.').map(|(_, e)| e) {
        Some(e) if (1..=8).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            format!("{hash}.{}", e.to_ascii_lowercase())
        }
        _ => hash,
    }
}

/// Download the flow's http(s) clips and slides into `cache_dir` and point them at the
/// local files; a failed one becomes [`Remote::Failed`]. Does nothing (and creates no
/// folder) when the flow has no remote url. `Err` only for a cache folder that cannot be
/// made, or when `cancel` is set.
pub fn fetch_remote(
    flow: &mut Flow,
    cache_dir: &Path,
    jobs: usize,
    net: &crate::net::NetOptions,
    quiet: bool,
    cancel: &AtomicBool,
) -> Result<RemoteFiles, RemoteError> {
    let mut report = RemoteFiles { cache_dir: cache_dir.to_path_buf(), ..Default::default() };
    let wanted: Vec<String> = flow
        .clips
        .iter()
        .filter(|c| c.remote == Some(Remote::Pending))
        .map(|c| c.url.clone())
        .chain(flow.slides.iter().filter(|s| s.remote == Some(Remote::Pending)).map(|s| s.url.clone()))
        .collect();
    if wanted.is_empty() {
        return Ok(report);
    }
    let (mut result, items, keys) = plan(wanted, cache_dir);
    report.urls = result.len();
    report.files = items.iter().map(|i| i.dest.clone()).collect();
    if !items.is_empty() {
        std::fs::create_dir_all(cache_dir)
            .map_err(|source| RemoteError::Folder { path: cache_dir.to_path_buf(), source })?;
        let outcomes = download(&items, jobs, net, quiet, cancel)?;
        for (key, outcome) in keys.into_iter().zip(outcomes) {
            match outcome {
                Ok(o) if o.from_cache => (report.bytes, report.cached) = (report.bytes + o.bytes, report.cached + 1),
                Ok(o) => (report.bytes, report.downloaded) = (report.bytes + o.bytes, report.downloaded + 1),
                Err(e) => {
                    result.insert(key, Err(ClipFailure::Download(e.to_string())));
                }
            }
        }
    }
    report.failed = result.iter().filter_map(|(u, r)| r.as_ref().err().map(|e| (u.clone(), e.to_string()))).collect();
    report.failed.sort();
    point_at_files(flow, &result);
    if !quiet {
        eprintln!("{}", report.line());
    }
    Ok(report)
}

/// Url -> local file, or why not.
type Outcomes = HashMap<String, Result<PathBuf, ClipFailure>>;

/// The distinct urls: where each goes (or why it cannot), the items to download and the
/// flow's url of each item.
fn plan(wanted: Vec<String>, cache_dir: &Path) -> (Outcomes, Vec<DownloadItem>, Vec<String>) {
    let mut result = Outcomes::new();
    let mut items: Vec<DownloadItem> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    for raw in wanted {
        if result.contains_key(&raw) {
            continue;
        }
        match Url::parse(raw.trim()) {
            Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => {
                let dest = cache_dir.join(cache_name(&u));
                result.insert(raw.clone(), Ok(dest.clone()));
                items.push(DownloadItem { url: u.to_string(), dest, expected_size: None });
                keys.push(raw.clone());
            }
            Ok(_) => {
                result.insert(raw.clone(), Err(ClipFailure::NoHost(raw.clone())));
            }
            Err(source) => {
                result.insert(raw.clone(), Err(ClipFailure::BadUrl { url: raw.clone(), source }));
            }
        }
    }
    (result, items, keys)
}

/// Point the flow's pending clips and slides at their local files (or mark them failed).
fn point_at_files(flow: &mut Flow, result: &Outcomes) {
    let apply = |url: &str, path: &mut PathBuf, remote: &mut Option<Remote>| {
        if *remote != Some(Remote::Pending) {
            return;
        }
        match result.get(url) {
            Some(Ok(p)) => {
                *path = p.clone();
                *remote = None;
            }
            Some(Err(e)) => *remote = Some(Remote::Failed(e.to_string())),
            None => {}
        }
    };
    for c in &mut flow.clips {
        apply(&c.url, &mut c.path, &mut c.remote);
    }
    for s in &mut flow.slides {
        apply(&s.url, &mut s.path, &mut s.remote);
    }
}

/// Run the downloads on a small runtime; a set `cancel` stops them (their `.part` files
/// stay for the next run).
fn download(
    items: &[DownloadItem],
    jobs: usize,
    net: &crate::net::NetOptions,
    quiet: bool,
    cancel: &AtomicBool,
) -> Result<Vec<Result<crate::download::DownloadOutcome, DownloadError>>, RemoteError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RemoteError::Runtime)?;
    let dl = Downloader::new(DownloadOptions { concurrency: jobs.max(1), net: net.clone(), ..Default::default() })
        .map_err(RemoteError::Client)?;
    let bar = (!quiet).then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>9} {spinner} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.set_prefix("download");
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let progress = |ev: &DownloadEvent| {
        if let (Some(l), false) = (ev.log_line(), quiet) {
            match &bar {
                Some(b) if !b.is_hidden() => b.println(format!("  {l}")),
                _ => eprintln!("  {l}"),
            }
        }
        if let (DownloadEvent::Overall(o), Some(b)) = (ev, &bar) {
            b.set_message(o.render());
        }
    };
    let outcomes = rt.block_on(async {
        tokio::select! {
            r = dl.run(items.to_vec(), progress) => Some(r),
            _ = async {
                while !cancel.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            } => None,
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match outcomes {
        Some(v) => Ok(v),
        None => Err(RemoteError::Stopped),
    }
}

impl RemoteFiles {
    /// Did the flow have remote urls?
    pub fn is_empty(&self) -> bool {
        self.urls == 0
    }

    /// One line for the terminal.
    pub fn line(&self) -> String {
        let mut s = format!(
            "remote clips: {} url{}: {} downloaded, {} already there, {:.1} MB in {}",
            self.urls,
            if self.urls == 1 { "" } else { "s" },
            self.downloaded,
            self.cached,
            self.bytes as f64 / 1e6,
            self.cache_dir.display()
        );
        for (url, why) in &self.failed {
            s.push_str(&format!("\n  failed   {url}: {why}"));
        }
        s
    }

    /// After a successful compile: remove the cache unless `keep` or a download failed
    /// (then a rerun resumes it). Only this flow's files go, then the folder if empty.
    pub fn finish(&self, keep: bool, quiet: bool) -> Result<(), RemoteError> {
        if self.is_empty() {
            return Ok(());
        }
        if keep || !self.failed.is_empty() {
            if !quiet && !self.files.is_empty() {
                let why = if keep { "--keep-files" } else { "some downloads failed; a rerun resumes them" };
                eprintln!("remote clips kept in {} ({why})", self.cache_dir.display());
            }
            return Ok(());
        }
        for f in &self.files {
            for p in [f.clone(), part_path(f)] {
                match std::fs::remove_file(&p) {
                    Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                        return Err(RemoteError::Remove { path: p, source });
                    }
                    _ => {}
                }
            }
        }
        // Not remove_dir_all: anything else in the folder is not ours.
        let _ = std::fs::remove_dir(&self.cache_dir);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_names_are_stable_and_keep_the_extension() {
        let u = |s: &str| Url::parse(s).unwrap();
        // FNV-1a 64 test vectors (http://www.isthe.com/chongo/tech/comp/fnv/).
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        let a = cache_name(&u("https://cdn.test/rec/Chunk_1.MP4?sig=abc"));
        assert_eq!(a, format!("{:016x}.mp4", fnv1a64(b"https://cdn.test/rec/Chunk_1.MP4?sig=abc")));
        assert_eq!(a, cache_name(&u("https://cdn.test/rec/Chunk_1.MP4?sig=abc")));
        assert_ne!(a, cache_name(&u("https://cdn.test/rec/Chunk_1.MP4?sig=abd")));
        assert!(cache_name(&u("https://cdn.test/slide.png")).ends_with(".png"));
        assert_eq!(cache_name(&u("https://cdn.test/noext")).len(), 16);
        assert_eq!(cache_name(&u("https://cdn.test/dir/")).len(), 16);
        assert_eq!(cache_name(&u("https://cdn.test/a.tar%2Fx")).len(), 16);
        assert_eq!(cache_name(&u("https://cdn.test/a.verylongext")).len(), 16);
        assert_eq!(cache_dir_for(Path::new("/o/talk.mp4")), PathBuf::from("/o/talk.clips"));
        assert_eq!(cache_dir_for(Path::new("talk.ts")), PathBuf::from("talk.clips"));
    }

    #[test]
    fn no_remote_urls_no_folder() {
        let mut f =
            Flow::parse(br#"{"eventLogs":[{"relativeTime":0,"data":{"url":"a.mp4"}}]}"#, Path::new("/b")).unwrap();
        let dir = std::env::temp_dir().join(format!("stitch-remote-none-{}", std::process::id()));
        let r = fetch_remote(&mut f, &dir, 2, &Default::default(), true, &AtomicBool::new(false)).unwrap();
        assert!(r.is_empty() && !dir.exists());
        assert_eq!(f.clips[0].path, PathBuf::from("/b/a.mp4"));
        r.finish(false, true).unwrap();
    }

    #[test]
    fn bad_urls_fail_their_clip_only() {
        // `http://` without a host: the clip is marked failed, nothing is requested.
        let mut f = Flow::parse(
            br#"{"eventLogs":[{"relativeTime":0,"data":{"url":"http://"}},{"relativeTime":1,"data":{"url":"b.mp4"}}]}"#,
            Path::new("/b"),
        )
        .unwrap();
        let dir = std::env::temp_dir().join(format!("stitch-remote-bad-{}", std::process::id()));
        let r = fetch_remote(&mut f, &dir, 2, &Default::default(), true, &AtomicBool::new(false)).unwrap();
        assert_eq!(r.failed.len(), 1);
        assert!(matches!(&f.clips[0].remote, Some(Remote::Failed(w)) if w.contains("invalid url")), "{f:?}");
        assert_eq!(f.clips[1].remote, None);
        assert!(!dir.exists());
    }
}
