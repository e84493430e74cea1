//! Configuration of `stitch serve` / `stitch worker`: command-line flags, environment
//! variables and a TOML file (`--config FILE`) with the same keys (the flag names without
//! the dashes: `database`, `storage`, `listen`, `workers`, `api-token`, `allow-hosts`, ...).
//! Precedence: flag, then environment, then file, then the default.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The flags (all optional: unset ones fall back to the environment, the file, the default).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServiceArgs {
    /// TOML file with the same keys as these flags (`database = "postgres://..."`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://... [env: DATABASE_URL]
    /// [default: sqlite://<data-dir>/stitch.db]
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// Object storage: a folder, or s3://bucket/prefix (endpoint, region, credentials from
    /// AWS_*) [env: STITCH_STORAGE] [default: <data-dir>]
    #[arg(long, value_name = "URL")]
    pub storage: Option<String>,
    /// Folder of the embedded database, local storage, scratch files and the generated
    /// token [env: STITCH_DATA_DIR] [default: ./stitch-data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// API address (serve) [env: STITCH_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Jobs run at once by this process [env: STITCH_WORKERS] [default: 2 for serve, 1 for worker]
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// API token (repeatable; comma-separated in the environment) [env: STITCH_API_TOKEN]
    /// [default: one generated at first start, kept in <data-dir>/api-token]
    #[arg(long = "api-token", value_name = "TOKEN")]
    pub api_tokens: Vec<String>,
    /// Hosts (name, IP, or name:port) a job may fetch from although they are loopback,
    /// link-local or private (repeatable; comma-separated in the environment) [env: STITCH_ALLOW_HOSTS]
    #[arg(long = "allow-hosts", value_name = "HOST", value_delimiter = ',')]
    pub allow_hosts: Vec<String>,
    /// A job's lease: a worker silent this long loses its jobs to another [env: STITCH_LEASE_SECS] [default: 30]
    #[arg(long, value_name = "SECONDS")]
    pub lease_secs: Option<u64>,
    /// A job running longer than this fails with `timeout` [env: STITCH_JOB_TIMEOUT] [default: 21600]
    #[arg(long, value_name = "SECONDS")]
    pub job_timeout: Option<u64>,
    /// Runs of a job before it is marked failed [env: STITCH_MAX_ATTEMPTS] [default: 3]
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// Largest upload accepted by PUT /api/v1/inputs (bytes) [env: STITCH_MAX_UPLOAD] [default: 4 GiB]
    #[arg(long, value_name = "BYTES")]
    pub max_upload: Option<u64>,
    /// Recording service: the live HLS playlist of a stream, a template with `{stream_key}`
    /// and `{stream_id}` (operator configuration: not subject to the SSRF policy)
    /// [env: STITCH_LIVE_HLS_URL]
    #[arg(long, value_name = "URL")]
    pub live_hls_url: Option<String>,
    /// Recording service: the live segments in a bucket, `s3://bucket/prefix/{stream_key}/`
    /// (the playlist `index.m3u8` there, or the `.m3u8` the template names), read with the
    /// storage's `AWS_*` credentials [env: STITCH_LIVE_SEGMENTS]
    #[arg(long, value_name = "S3_URL")]
    pub live_segments: Option<String>,
    /// Recording service: the stream service whose `GET /streams?status=live` the monitor
    /// reconciles captures with [env: STREAM_SERVICE_URL]
    #[arg(long, value_name = "URL")]
    pub stream_service_url: Option<String>,
    /// Recording service: seconds between two polls of the monitor [env: STITCH_MONITOR_INTERVAL] [default: 10]
    #[arg(long, value_name = "SECONDS")]
    pub monitor_interval: Option<f64>,
    /// Recording service: secret of the `X-Stitch-Signature` of `POST /webhook/stream`
    /// (without it the webhook takes the API token) [env: STITCH_WEBHOOK_SECRET]
    #[arg(long, value_name = "SECRET")]
    pub webhook_secret: Option<String>,
    /// Recording service: `GET /recordings` and `GET /recording/{id}` without a token, as the
    /// seed serves them [env: STITCH_PUBLIC_READ=1]
    #[arg(long)]
    pub public_read: bool,
    /// Recording service: a `stream.started` this many seconds after the end of the same
    /// stream key continues that recording [env: STITCH_END_GRACE] [default: 30]
    #[arg(long, value_name = "SECONDS")]
    pub end_grace: Option<f64>,
    /// Recording service: a capture's lease; another instance takes a capture whose holder
    /// was silent this long [env: STITCH_RECORDING_LEASE] [default: 15]
    #[arg(long, value_name = "SECONDS")]
    pub recording_lease: Option<u64>,
}

/// The same keys in the TOML file.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    database: Option<String>,
    storage: Option<String>,
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    workers: Option<usize>,
    api_token: Option<Vec<String>>,
    allow_hosts: Option<Vec<String>>,
    lease_secs: Option<u64>,
    job_timeout: Option<u64>,
    max_attempts: Option<u32>,
    max_upload: Option<u64>,
    live_hls_url: Option<String>,
    live_segments: Option<String>,
    stream_service_url: Option<String>,
    monitor_interval: Option<f64>,
    webhook_secret: Option<String>,
    public_read: Option<bool>,
    end_grace: Option<f64>,
    recording_lease: Option<u64>,
}

/// The recording service's settings (src/service/recording/).
#[derive(Debug, Clone)]
pub struct RecordingConfig {
    /// Template of a stream's live playlist URL (`{stream_key}`, `{stream_id}`).
    pub live_hls_url: Option<String>,
    /// Template of a stream's live segments in a bucket (`s3://bucket/prefix/{stream_key}/`).
    pub live_segments: Option<String>,
    pub stream_service_url: Option<String>,
    pub monitor_interval: std::time::Duration,
    pub webhook_secret: Option<String>,
    pub public_read: bool,
    pub end_grace: std::time::Duration,
    pub lease: std::time::Duration,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: String,
    pub storage: String,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub workers: usize,
    pub api_tokens: Vec<String>,
    pub allow_hosts: Vec<String>,
    pub lease_secs: u64,
    pub job_timeout: u64,
    pub max_attempts: u32,
    pub max_upload: u64,
    pub recording: RecordingConfig,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn list(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn num<T: std::str::FromStr>(name: &str) -> Result<Option<T>> {
    match env(name) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| anyhow::anyhow!("{name}={v:?} is not a number")),
    }
}

fn secs(name: &str, v: f64, min: f64) -> Result<std::time::Duration> {
    if !v.is_finite() || v < min || v > 86_400.0 {
        bail!("--{name} {v}: expected seconds between {min} and 86400");
    }
    Ok(std::time::Duration::from_secs_f64(v))
}

impl RecordingConfig {
    /// A live source is configured: captures can start.
    pub fn has_source(&self) -> bool {
        self.live_hls_url.is_some() || self.live_segments.is_some()
    }

    fn resolve(a: &ServiceArgs, file: &FileConfig) -> Result<RecordingConfig> {
        let live_hls_url = a.live_hls_url.clone().or_else(|| env("STITCH_LIVE_HLS_URL")).or(file.live_hls_url.clone());
        if let Some(t) = &live_hls_url {
            let probe = t.replace("{stream_key}", "k").replace("{stream_id}", "00000000-0000-0000-0000-000000000000");
            match url::Url::parse(&probe) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => bail!("--live-hls-url {t:?}: expected an http(s) URL template with {{stream_key}}"),
            }
        }
        let live_segments =
            a.live_segments.clone().or_else(|| env("STITCH_LIVE_SEGMENTS")).or(file.live_segments.clone());
        if let Some(t) = &live_segments {
            let bucket = t.strip_prefix("s3://").and_then(|r| r.split('/').next()).unwrap_or("");
            if bucket.is_empty() || bucket.contains('{') {
                bail!("--live-segments {t:?}: expected s3://bucket/prefix/{{stream_key}}/");
            }
            if live_hls_url.is_some() {
                bail!("--live-hls-url and --live-segments: one live source, not both");
            }
        }
        let stream_service_url =
            a.stream_service_url.clone().or_else(|| env("STREAM_SERVICE_URL")).or(file.stream_service_url.clone());
        if let Some(u) = &stream_service_url {
            match url::Url::parse(u) {
                Ok(p) if matches!(p.scheme(), "http" | "https") => {}
                _ => bail!("--stream-service-url {u:?}: expected an http(s) URL"),
            }
        }
        let monitor = a.monitor_interval.or(num("STITCH_MONITOR_INTERVAL")?).or(file.monitor_interval).unwrap_or(10.0);
        let grace = a.end_grace.or(num("STITCH_END_GRACE")?).or(file.end_grace).unwrap_or(30.0);
        let lease = a.recording_lease.or(num("STITCH_RECORDING_LEASE")?).or(file.recording_lease).unwrap_or(15);
        if lease < 3 {
            bail!("--recording-lease must be at least 3");
        }
        let public_read = a.public_read
            || env("STITCH_PUBLIC_READ").is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"))
            || file.public_read.unwrap_or(false);
        Ok(RecordingConfig {
            live_hls_url,
            live_segments,
            stream_service_url,
            monitor_interval: secs("monitor-interval", monitor, 0.2)?,
            webhook_secret: a
                .webhook_secret
                .clone()
                .or_else(|| env("STITCH_WEBHOOK_SECRET"))
                .or(file.webhook_secret.clone()),
            public_read,
            end_grace: secs("end-grace", grace, 0.0)?,
            lease: std::time::Duration::from_secs(lease),
        })
    }
}

impl Config {
    /// Flags over environment over file over defaults. `worker`: the default of `--workers` is 1.
    pub fn resolve(a: &ServiceArgs, worker: bool) -> Result<Config> {
        let file: FileConfig = match &a.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("{} is not a valid stitch configuration", p.display()))?
            }
            None => FileConfig::default(),
        };
        let recording = RecordingConfig::resolve(a, &file)?;
        let data_dir = a
            .data_dir
            .clone()
            .or_else(|| env("STITCH_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("stitch-data"));
        let database = a
            .database
            .clone()
            .or_else(|| env("DATABASE_URL"))
            .or(file.database)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("stitch.db").display()));
        let storage = a
            .storage
            .clone()
            .or_else(|| env("STITCH_STORAGE"))
            .or(file.storage)
            .unwrap_or_else(|| data_dir.display().to_string());
        let listen_s = a
            .listen
            .clone()
            .or_else(|| env("STITCH_LISTEN"))
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_s
            .parse()
            .map_err(|_| anyhow::anyhow!("--listen {listen_s:?} is not an address like 127.0.0.1:8080"))?;
        let workers = match a.workers {
            Some(n) => n,
            None => num("STITCH_WORKERS")?.or(file.workers).unwrap_or(if worker { 1 } else { 2 }),
        };
        let mut api_tokens = a.api_tokens.clone();
        if api_tokens.is_empty() {
            api_tokens = env("STITCH_API_TOKEN").map(|v| list(&v)).or(file.api_token).unwrap_or_default();
        }
        let mut allow_hosts = a.allow_hosts.clone();
        if allow_hosts.is_empty() {
            allow_hosts = env("STITCH_ALLOW_HOSTS").map(|v| list(&v)).or(file.allow_hosts).unwrap_or_default();
        }
        let lease_secs = a.lease_secs.or(num("STITCH_LEASE_SECS")?).or(file.lease_secs).unwrap_or(30);
        if lease_secs < 3 {
            bail!("--lease-secs must be at least 3");
        }
        let job_timeout = a.job_timeout.or(num("STITCH_JOB_TIMEOUT")?).or(file.job_timeout).unwrap_or(6 * 3600);
        let max_attempts = a.max_attempts.or(num("STITCH_MAX_ATTEMPTS")?).or(file.max_attempts).unwrap_or(3).max(1);
        let max_upload = a.max_upload.or(num("STITCH_MAX_UPLOAD")?).or(file.max_upload).unwrap_or(4 << 30);
        Ok(Config {
            recording,
            database,
            storage,
            data_dir,
            listen,
            workers: workers.max(if worker { 1 } else { 0 }),
            api_tokens,
            allow_hosts,
            lease_secs,
            job_timeout,
            max_attempts,
            max_upload,
        })
    }

    /// Local files of running jobs (checkpoints: downloaded chunks and segments).
    pub fn scratch_dir(&self) -> PathBuf {
        self.data_dir.join("scratch")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_equal_flag_names_and_flags_win() {
        let dir = std::env::temp_dir().join(format!("stitch-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("stitch.toml");
        std::fs::write(
            &p,
            "database = \"postgres://db/x\"\nstorage = \"s3://b/p\"\nlisten = \"127.0.0.1:9000\"\nworkers = 7\n\
             api-token = [\"a\", \"b\"]\nallow-hosts = [\"127.0.0.1\"]\nlease-secs = 9\n",
        )
        .unwrap();
        let a = ServiceArgs { config: Some(p.clone()), workers: Some(3), ..Default::default() };
        let c = Config::resolve(&a, false).unwrap();
        assert_eq!(c.database, "postgres://db/x");
        assert_eq!(c.storage, "s3://b/p");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.workers, 3);
        assert_eq!(c.api_tokens, vec!["a", "b"]);
        assert_eq!(c.allow_hosts, vec!["127.0.0.1"]);
        assert_eq!(c.lease_secs, 9);
        std::fs::write(&p, "databse = \"typo\"\n").unwrap();
        let e = Config::resolve(&a, false).unwrap_err();
        assert!(format!("{e:#}").contains("databse"), "{e:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
