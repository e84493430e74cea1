//! `stitch serve` (API + workers in one process) and `stitch worker` (workers only), the
//! foundation of the service systems (recording service, media service, session recorder):
//!
//! - [`config`]: flags, environment, TOML file; [`db`]: job records (sqlx, SQLite or
//!   PostgreSQL, one migration set); [`storage`]: object_store (folder or S3) and sanitized keys;
//! - [`jobs`]: job kinds and the engine (apalis), runs with exactly-once publishing;
//! - [`api`]: the HTTP API (axum, utoipa); [`ssrf`]: the URL policy; [`cli`]: `stitch jobs`;
//! - [`recording`]: the recording service (webhooks, stream monitor, crash-safe live capture,
//!   finalize to `recordings/`), run by `stitch serve`.
//!
//! With no configuration: `./stitch-data/` holds the SQLite database, the stored objects and
//! the scratch files; an API token is generated at first start and printed once.

pub mod api;
pub mod cli;
pub mod config;
pub mod db;
pub mod jobs;
pub mod names;
pub mod recording;
pub mod ssrf;
pub mod storage;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{Context, Result};

use config::{Config, ServiceArgs};

/// JSON log lines on stderr (tracing), with the span fields (the job id) on every line.
pub fn init_json_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "stitch=info,warn",
        1 => "stitch=debug,info",
        _ => "trace",
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(v).unwrap_or_else(|_| EnvFilter::new(level)),
        _ => EnvFilter::new(level),
    };
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The configured tokens, or the one kept in the data folder (generated, and printed once,
/// at first start).
fn tokens(cfg: &mut Config) -> Result<()> {
    if !cfg.api_tokens.is_empty() {
        return Ok(());
    }
    let p = cfg.data_dir.join("api-token");
    if let Ok(t) = std::fs::read_to_string(&p) {
        if !t.trim().is_empty() {
            cfg.api_tokens = vec![t.trim().to_string()];
            return Ok(());
        }
    }
    std::fs::create_dir_all(&cfg.data_dir)?;
    let t = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    {
        use std::io::Write;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o.open(&p).with_context(|| format!("writing {}", p.display()))?;
        f.write_all(t.as_bytes())?;
    }
    eprintln!("stitch serve: generated API token (kept in {}): {t}", p.display());
    cfg.api_tokens = vec![t];
    Ok(())
}

async fn context(cfg: &Config) -> Result<Arc<jobs::Ctx>> {
    let db = db::Db::open(&cfg.database).await?;
    let storage = storage::Storage::open(&cfg.storage)?;
    let queue = jobs::Queue::new(&db, cfg.lease_secs);
    std::fs::create_dir_all(cfg.scratch_dir()).with_context(|| format!("creating {}", cfg.scratch_dir().display()))?;
    Ok(Arc::new(jobs::Ctx::new(db, storage, cfg.clone(), queue)))
}

/// SIGTERM / Ctrl-C: workers stop taking jobs; running jobs are released to the queue.
fn on_shutdown(ctx: Arc<jobs::Ctx>) -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        tracing::info!("shutting down: running jobs are released");
        ctx.draining.store(true, Ordering::SeqCst);
        let _ = tx.send(true);
    });
    rx
}

/// `stitch serve`.
pub fn serve(args: &ServiceArgs) -> Result<()> {
    let mut cfg = Config::resolve(args, false)?;
    tokens(&mut cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&[1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0])
            .ok()
            .and_then(|b| b.install_recorder().ok());
        let ctx = context(&cfg).await?;
        let fixed = jobs::reconcile(&ctx).await?;
        let rx = on_shutdown(ctx.clone());
        let listener = tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("--listen {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, database = %redact_url(&cfg.database), storage = %ctx.storage.describe, workers = cfg.workers, reconciled = fixed, "stitch serve listening");
        eprintln!("stitch serve: listening on http://{addr} (docs: http://{addr}/api/docs)");
        let recorder = recording::Recorder::new(ctx.clone())?;
        let app = api::router(Arc::new(api::AppState { ctx: ctx.clone(), metrics, recorder: recorder.clone() }));
        let workers = tokio::spawn(jobs::run_workers(ctx.clone(), cfg.workers, rx.clone()));
        let recordings = tokio::spawn(recorder.run(rx.clone()));
        let mut rx2 = rx.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx2.wait_for(|v| *v).await;
            })
            .await?;
        let _ = workers.await;
        let _ = recordings.await;
        Ok(())
    })
}

/// `stitch worker`.
pub fn worker(args: &ServiceArgs) -> Result<()> {
    let cfg = Config::resolve(args, true)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let ctx = context(&cfg).await?;
        jobs::reconcile(&ctx).await?;
        let rx = on_shutdown(ctx.clone());
        tracing::info!(database = %redact_url(&cfg.database), storage = %ctx.storage.describe, workers = cfg.workers, "stitch worker started");
        jobs::run_workers(ctx, cfg.workers, rx).await
    })
}

/// A database URL without its password, for logs.
fn redact_url(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut p) if p.password().is_some() => {
            let _ = p.set_password(Some("***"));
            p.to_string()
        }
        _ => u.to_string(),
    }
}
