//! Jobs: kinds and their parameters (the CLI flags of `stitch record|compile|webinar`),
//! the job engine (apalis on apalis-sqlite / apalis-postgres: durable queue, `SKIP LOCKED`
//! fetch, worker heartbeats, orphans re-enqueued when a worker's heartbeats stop), and a
//! run of one job:
//!
//! 1. claim the job row (`running`, attempts + 1: the attempt number fences every later
//!    write of this run, so a run whose lease was lost can neither report nor publish);
//! 2. run the command in-process in `<data-dir>/scratch/<job id>/` (a retaken job on the
//!    same machine resumes from the chunks and segments already there), heartbeat and
//!    progress every second, cancellation and timeout checked as often;
//! 3. publish: size and SHA-256 of each output, recorded in the row (fenced), uploaded to its
//!    final key `jobs/<id>/<name>` (an atomic put), read back and compared, then `succeeded`;
//!    the scratch folder is deleted only after that.
//!
//! At-least-once execution, exactly-once effects: a job whose outputs are recorded and
//! present in storage is marked `succeeded` without running again (reconciliation at start and
//! on every retake).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use apalis::prelude::*;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::config::Config;
use super::db::{Db, EnginePool, OutputRecord};
use super::names::safe_file_name;
use super::ssrf;
use super::storage::{self, sanitize_name, Storage};

/// The queue's message: the id of a job row.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct JobRef {
    pub id: String,
}

/// Parameters of a `record` job: the flags of `stitch record`.
#[derive(Deserialize, Serialize, Debug, Clone, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordParams {
    /// The stream URL (MP4 file or HLS playlist).
    pub url: String,
    /// `mp4` or `ts` [default: ts].
    #[serde(default)]
    pub format: Option<String>,
    /// Output name without folder [default: recording].
    #[serde(default)]
    pub name: Option<String>,
    /// best, worst, 720p, or a minimum bandwidth.
    #[serde(default)]
    pub quality: Option<String>,
    /// Alternative audio rendition language.
    #[serde(default)]
    pub audio: Option<String>,
    /// Recorder: auto, mp4, hls_basic, hls_live, hls_m4s.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub live_from_start: bool,
    /// Live: stop after this many seconds.
    #[serde(default)]
    pub max_duration: Option<f64>,
    /// Extra request headers `Name: value` (secret: never returned).
    #[serde(default)]
    pub headers: Vec<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// AES-128 key, 32 hex digits (secret: never returned).
    #[serde(default)]
    pub key: Option<String>,
    /// Parallel segment downloads.
    #[serde(default)]
    pub jobs: Option<usize>,
}

/// Parameters of a `compile` job: a flow uploaded with its clips (`PUT /api/v1/inputs/{upload}/{name}`).
#[derive(Deserialize, Serialize, Debug, Clone, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompileParams {
    /// Object key of the flow JSON, `inputs/<upload>/<name>`; the other objects of that
    /// upload are its local clips.
    pub flow: String,
    /// `mp4` or `ts` [default: mp4].
    #[serde(default)]
    pub format: Option<String>,
    /// Output name [default: the flow's name].
    #[serde(default)]
    pub name: Option<String>,
    /// WxH, 720p, 1080p.
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub fps: Option<String>,
    /// sidebar, pip, grid, speaker.
    #[serde(default)]
    pub layout: Option<String>,
    #[serde(default)]
    pub start: Option<f64>,
    #[serde(default)]
    pub max_duration: Option<f64>,
    #[serde(default)]
    pub hide_silent: bool,
    #[serde(default)]
    pub chat_panel: bool,
    #[serde(default)]
    pub normalize: bool,
    #[serde(default)]
    pub switch_hold: Option<f64>,
    #[serde(default)]
    pub threads: Option<usize>,
    /// Which library decodes H.264: auto, openh264 or ffmpeg (`--decoder`).
    #[serde(default)]
    pub decoder: Option<String>,
}

/// Parameters of a `webinar` job: the flags of `stitch webinar`.
#[derive(Deserialize, Serialize, Debug, Clone, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebinarParams {
    /// The record link.
    pub link: String,
    /// The sessionId cookie (secret: never logged, never returned).
    #[serde(default)]
    pub session_id: Option<String>,
    /// The record's password (secret).
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub api_host: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub quality: Option<String>,
    #[serde(default)]
    pub layout: Option<String>,
    #[serde(default)]
    pub start: Option<f64>,
    #[serde(default)]
    pub max_duration: Option<f64>,
    #[serde(default)]
    pub hide_silent: bool,
    #[serde(default)]
    pub chat_panel: bool,
    #[serde(default)]
    pub normalize: bool,
    #[serde(default)]
    pub switch_hold: Option<f64>,
    #[serde(default)]
    pub threads: Option<usize>,
    /// Which library decodes H.264: auto, openh264 or ffmpeg (`--decoder`).
    #[serde(default)]
    pub decoder: Option<String>,
    #[serde(default)]
    pub jobs: Option<usize>,
}

/// `decoder` of compile and webinar jobs, as `--decoder` takes it.
fn decoder(v: Option<&str>) -> std::result::Result<media::decode::DecoderChoice, Invalid> {
    v.map(crate::compile::parse_decoder)
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|e| Invalid::Params(format!("decoder: {e}")))
}

/// Parameter names whose values are secrets: stored for the worker, never logged or returned.
pub const SECRET_PARAMS: &[&str] = &["session_id", "password", "key", "headers", "cookies"];

/// `params` with its secrets replaced.
pub fn redact(params: &serde_json::Value) -> serde_json::Value {
    let mut p = params.clone();
    if let Some(m) = p.as_object_mut() {
        for k in SECRET_PARAMS {
            if let Some(v) = m.get_mut(*k) {
                if !v.is_null() {
                    *v = serde_json::Value::String("(secret)".into());
                }
            }
        }
    }
    p
}

/// A submission refused before it is queued (HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    #[error("{0}")]
    Params(String),
    #[error(transparent)]
    Ssrf(#[from] ssrf::Refused),
}

impl Invalid {
    pub fn id(&self) -> &'static str {
        match self {
            Invalid::Params(_) => "bad_params",
            Invalid::Ssrf(_) => "ssrf_policy",
        }
    }
}

fn fmt_ext(format: Option<&str>, default: &str) -> Result<&'static str, Invalid> {
    match format.unwrap_or(default) {
        "mp4" => Ok("mp4"),
        "ts" => Ok("ts"),
        other => Err(Invalid::Params(format!("format {other:?}: mp4 or ts"))),
    }
}

/// Validate a submission: known kind, parameters that parse, names that sanitize, URLs the
/// SSRF policy allows. Returns the normalized parameters.
pub async fn validate(kind: &str, params: &serde_json::Value, allow: &[String]) -> Result<serde_json::Value, Invalid> {
    let bad = |e: serde_json::Error| Invalid::Params(format!("{kind} params: {e}"));
    match kind {
        "record" => {
            let p: RecordParams = serde_json::from_value(params.clone()).map_err(bad)?;
            fmt_ext(p.format.as_deref(), "ts")?;
            if let Some(n) = &p.name {
                sanitize_name(n).map_err(|e| Invalid::Params(e.0))?;
            }
            if let Some(d) = p.max_duration {
                if !d.is_finite() || d <= 0.0 {
                    return Err(Invalid::Params("max_duration must be a positive number of seconds".into()));
                }
            }
            if let Some(k) = &p.key {
                crate::record::parse_key_hex(k).map_err(|e| Invalid::Params(format!("key: {e}")))?;
            }
            ssrf::check_url(&p.url, allow).await?;
            Ok(serde_json::to_value(p).unwrap_or_default())
        }
        "compile" => {
            let p: CompileParams = serde_json::from_value(params.clone()).map_err(bad)?;
            fmt_ext(p.format.as_deref(), "mp4")?;
            input_key(&p.flow)?;
            if let Some(n) = &p.name {
                sanitize_name(n).map_err(|e| Invalid::Params(e.0))?;
            }
            Ok(serde_json::to_value(p).unwrap_or_default())
        }
        "webinar" => {
            let p: WebinarParams = serde_json::from_value(params.clone()).map_err(bad)?;
            fmt_ext(p.format.as_deref(), "mp4")?;
            ssrf::check_url(&p.link, allow).await?;
            if let Some(h) = &p.api_host {
                let u = if h.contains("://") { h.clone() } else { format!("https://{h}/") };
                ssrf::check_url(&u, allow).await?;
            }
            Ok(serde_json::to_value(p).unwrap_or_default())
        }
        other => Err(Invalid::Params(format!("unknown job kind {other:?}: webinar, record or compile"))),
    }
}

/// `inputs/<upload>/<name>` as (upload, name), sanitized.
pub fn input_key(k: &str) -> Result<(String, String), Invalid> {
    super::names::split_input_key(k).map_err(|e| Invalid::Params(e.0))
}

/// The job engine's queue of one database.
#[derive(Clone)]
pub enum Queue {
    Sqlite(apalis_sqlite::SqliteStorage<JobRef>),
    Postgres(apalis_postgres::PostgresStorage<JobRef>),
}

impl Queue {
    pub fn new(db: &Db, lease_secs: u64) -> Queue {
        // A worker missing 3 heartbeats (the lease) loses its jobs to the others.
        let beat = Duration::from_secs((lease_secs / 3).max(1));
        match &db.engine {
            EnginePool::Sqlite(p) => Queue::Sqlite(
                apalis_sqlite::SqliteStorage::new(p).with_config(
                    apalis_sqlite::Config::default()
                        .queue("stitch-jobs")
                        .batch_size(1)
                        .heartbeat_interval(beat)
                        .missed_heartbeats(3),
                ),
            ),
            EnginePool::Postgres(p) => Queue::Postgres(
                apalis_postgres::PostgresStorage::new(p).with_config(
                    apalis_postgres::Config::default()
                        .queue("stitch-jobs")
                        .batch_size(1)
                        .heartbeat_interval(beat)
                        .missed_heartbeats(3),
                ),
            ),
        }
    }

    /// Queue a run of job `id`, after `delay`.
    pub async fn push(&self, id: &str, delay: Option<Duration>) -> Result<()> {
        let mut t = TaskBuilder::new(JobRef { id: id.to_string() }).max_attempts(5);
        if let Some(d) = delay {
            t = t.run_after(d);
        }
        let task = t.build();
        match self.clone() {
            Queue::Sqlite(mut q) => q.push_task(task).await.map_err(|e| anyhow!("queueing job {id}: {e}"))?,
            Queue::Postgres(mut q) => q.push_task(task).await.map_err(|e| anyhow!("queueing job {id}: {e}"))?,
        }
        Ok(())
    }
}

/// What a worker needs.
pub struct Ctx {
    pub db: Db,
    pub storage: Storage,
    pub cfg: Config,
    pub queue: Queue,
    /// SIGTERM: running jobs stop and go back to the queue.
    pub draining: Arc<AtomicBool>,
    /// Wakes this process's idle workers at once: a job was queued here, or a worker here
    /// finished one (between wakes they ask the queue every [`POLL`]).
    pub wake: tokio::sync::broadcast::Sender<()>,
}

impl Ctx {
    pub fn new(db: Db, storage: Storage, cfg: Config, queue: Queue) -> Ctx {
        let (wake, _) = tokio::sync::broadcast::channel(16);
        Ctx { db, storage, cfg, queue, draining: Arc::new(AtomicBool::new(false)), wake }
    }

    /// Wake this process's idle workers (no one listening is fine).
    pub fn wake_workers(&self) {
        let _ = self.wake.send(());
    }
}

/// When a worker asks the queue for work: every [`POLL`], and at once when [`Ctx::wake`]
/// fires. apalis's interval strategy alone asks only on its ticks, so a worker that
/// finished a job sat idle until the next tick: half a poll interval per job on average
/// (measured: ~45 ms of the ~50 ms per-job overhead in benches/serve_throughput.rs).
fn wake_stream(ctx: &Ctx) -> std::pin::Pin<Box<dyn futures_util::Stream<Item = ()> + Send>> {
    use futures_util::stream;
    let ticks = stream::unfold((), |()| async {
        tokio::time::sleep(POLL).await;
        Some(((), ()))
    });
    let wakes = stream::unfold(ctx.wake.subscribe(), |mut rx| async move {
        match rx.recv().await {
            Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Some(((), rx)),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    });
    Box::pin(stream::select(Box::pin(ticks), Box::pin(wakes)))
}

/// Why a run stopped early.
const STOP_NONE: u8 = 0;
const STOP_CANCEL: u8 = 1;
const STOP_LOST: u8 = 2;
const STOP_TIMEOUT: u8 = 3;
const STOP_DRAIN: u8 = 4;

/// Progress of a run, written by the command, read by the heartbeat.
#[derive(Clone, Default)]
pub struct Progress(Arc<Mutex<(Option<f64>, String)>>);

impl Progress {
    pub fn set(&self, percent: Option<f64>, stage: &str) {
        if let Ok(mut g) = self.0.lock() {
            *g = (percent.map(|p| p.clamp(0.0, 100.0)), stage.to_string());
        }
    }
    fn get(&self) -> (Option<f64>, String) {
        self.0.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

/// A run's heartbeat task and its command's stop flag: dropping it (the run ended, or its
/// future was dropped by the engine) ends the heartbeat and stops the command.
struct RunGuard {
    beat: tokio::task::JoinHandle<()>,
    cancel: Arc<AtomicBool>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.beat.abort();
        self.cancel.store(true, Ordering::SeqCst);
    }
}

/// The apalis handler: one run of a job.
async fn handle(job: JobRef, ctx: Data<Arc<Ctx>>, worker: WorkerContext) -> Result<(), BoxDynError> {
    let ctx: Arc<Ctx> = (*ctx).clone();
    let span = tracing::info_span!("job", job_id = %job.id, worker = %worker.name());
    let r = run_job(&ctx, &job.id, worker.name()).instrument(span).await;
    // This worker is free again: it (and any idle one here) asks for the next job now.
    ctx.wake_workers();
    match r {
        Ok(()) => Ok(()),
        Err(e) => {
            // The database or storage failed around the run: the engine retries the message.
            tracing::error!(job_id = %job.id, error = %format!("{e:#}"), "job run failed before its outcome was recorded");
            Err(e.into())
        }
    }
}

/// How often an idle worker asks the queue for a job (the engine's default backs off to
/// seconds: measured 1.5 s from submit to start on an idle queue, benches/serve_throughput.rs).
const POLL: Duration = Duration::from_millis(100);

/// Run `n` apalis workers in this process until `shutdown` resolves.
pub async fn run_workers(ctx: Arc<Ctx>, n: usize, shutdown: tokio::sync::watch::Receiver<bool>) -> Result<()> {
    let host = std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string()).unwrap_or_default();
    let host = if host.is_empty() { "stitch".to_string() } else { host };
    let mut tasks = Vec::new();
    for i in 0..n {
        let name = format!("{host}-{}-{i}", std::process::id());
        let ctx2 = ctx.clone();
        let rx = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            // The engine's worker ends on a backend error (database down): start it again
            // until shutdown.
            loop {
                let mut rx2 = rx.clone();
                let signal = async move {
                    while !*rx2.borrow() {
                        if rx2.changed().await.is_err() {
                            break;
                        }
                    }
                    Ok::<(), std::io::Error>(())
                };
                let r = match ctx2.queue.clone() {
                    Queue::Sqlite(q) => {
                        WorkerBuilder::new(name.as_str())
                            .backend(q.poll_with_stream(wake_stream(&ctx2)))
                            .data(ctx2.clone())
                            .concurrency(1)
                            .build(handle)
                            .run_until(signal)
                            .await
                    }
                    Queue::Postgres(q) => {
                        WorkerBuilder::new(name.as_str())
                            .backend(q.poll_with_stream(wake_stream(&ctx2)))
                            .data(ctx2.clone())
                            .concurrency(1)
                            .build(handle)
                            .run_until(signal)
                            .await
                    }
                };
                if *rx.borrow() {
                    break;
                }
                tracing::warn!(worker = %name, error = ?r.err().map(|e| e.to_string()), "worker stopped; restarting in 2 s");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }));
    }
    if n > 0 {
        tasks.push(tokio::spawn(reaper(ctx.clone(), shutdown.clone())));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// Every lease: a job marked running whose heartbeat is older than two leases (its run died
/// and its engine task was lost, e.g. while the database was down) is queued again; the
/// lease in [`Db::claim`] makes extra copies harmless.
async fn reaper(ctx: Arc<Ctx>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let lease = Duration::from_secs(ctx.cfg.lease_secs);
    while !*shutdown.borrow() {
        tokio::select! {
            _ = tokio::time::sleep(lease) => {}
            _ = shutdown.changed() => continue,
        }
        match ctx.db.stale_running(2 * lease.as_millis() as i64).await {
            Ok(jobs) => {
                for j in jobs {
                    tracing::info!(job_id = %j.id, "no heartbeat for two leases: queued again");
                    if let Err(e) = ctx.queue.push(&j.id, None).await {
                        tracing::warn!(job_id = %j.id, error = %e, "queueing again failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reaper: database unavailable"),
        }
    }
}

/// On start: jobs marked running whose outputs are all in storage, complete and verified,
/// are marked succeeded (a worker died between its upload and its last write).
pub async fn reconcile(ctx: &Ctx) -> Result<usize> {
    let mut fixed = 0;
    for j in ctx.db.stale_running((ctx.cfg.lease_secs * 1000) as i64).await? {
        if !j.outputs.is_empty() && outputs_present(ctx, &j.id, &j.outputs).await? {
            if ctx.db.finish(&j.id, Some(j.attempts), "succeeded", None).await? {
                tracing::info!(job_id = %j.id, "reconciled: outputs present in storage, marked succeeded");
                fixed += 1;
            }
        }
    }
    Ok(fixed)
}

async fn outputs_present(ctx: &Ctx, id: &str, outputs: &[OutputRecord]) -> Result<bool> {
    for o in outputs {
        let k = storage::key(&["jobs", id, &o.name])?;
        match ctx.storage.digest(&k).await? {
            Some(d) if d.size == o.size && d.sha256 == o.sha256 => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

async fn run_job(ctx: &Arc<Ctx>, id: &str, worker: &str) -> Result<()> {
    let Some(job) = ctx.db.get(id).await? else {
        tracing::warn!("queued job has no record; dropped");
        return Ok(());
    };
    if matches!(job.status.as_str(), "succeeded" | "failed" | "cancelled") {
        return Ok(());
    }
    if job.cancel_requested {
        ctx.db.finish(id, None, "cancelled", None).await?;
        return Ok(());
    }
    let lease_ms = (ctx.cfg.lease_secs * 1000) as i64;
    let Some(token) = ctx.db.claim(id, worker, lease_ms).await? else {
        // A live run holds it (a duplicate delivery): look again after a lease, so the job is
        // never dropped if that run dies.
        if ctx.db.get(id).await?.is_some_and(|j| j.status == "running") {
            ctx.queue.push(id, Some(Duration::from_secs(ctx.cfg.lease_secs))).await?;
        }
        return Ok(());
    };
    tracing::info!(attempt = token, kind = %job.kind, "job started");
    if !job.outputs.is_empty() && outputs_present(ctx, id, &job.outputs).await? {
        ctx.db.finish(id, Some(token), "succeeded", None).await?;
        tracing::info!("outputs already published by an earlier attempt: succeeded without running again");
        return Ok(());
    }
    let started = Instant::now();
    let scratch = ctx.cfg.scratch_dir().join(storage::sanitize_name(id)?);
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let cancel = Arc::new(AtomicBool::new(false));
    let why = Arc::new(AtomicU8::new(STOP_NONE));
    let progress = Progress::default();
    progress.set(Some(0.0), "starting");
    // Heartbeat, progress, cancellation, timeout, drain: every second. Tied to this run: if
    // the engine drops the run (its worker stopped on a backend error), the guard stops the
    // heartbeat and the command, so the job goes silent and the reaper queues it again.
    let beat = {
        let (ctx, id, cancel, why, progress) =
            (ctx.clone(), id.to_string(), cancel.clone(), why.clone(), progress.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let (pct, stage) = progress.get();
                let mut stop = STOP_NONE;
                match ctx.db.beat(&id, token, pct, &stage).await {
                    Ok(Some(true)) => stop = STOP_CANCEL,
                    Ok(None) => stop = STOP_LOST,
                    Ok(Some(false)) => {}
                    Err(e) => tracing::warn!(error = %e, "heartbeat not written (database unavailable?)"),
                }
                metrics::gauge!("stitch_worker_heartbeat_timestamp_seconds").set(super::db::now_ms() as f64 / 1000.0);
                if stop == STOP_NONE && started.elapsed() > Duration::from_secs(ctx.cfg.job_timeout) {
                    stop = STOP_TIMEOUT;
                }
                if stop == STOP_NONE && ctx.draining.load(Ordering::SeqCst) {
                    stop = STOP_DRAIN;
                }
                if stop != STOP_NONE {
                    why.store(stop, Ordering::SeqCst);
                    cancel.store(true, Ordering::SeqCst);
                    return;
                }
            }
        })
    };
    // The heartbeat goes on until this function returns: publishing a large output takes
    // time, and a silent job would be taken by another worker meanwhile.
    let _run = RunGuard { beat, cancel: cancel.clone() };
    let result = execute(ctx, &job.kind, &job.params, &scratch, cancel.clone(), progress.clone()).await;
    let kind = job.kind.clone();
    let outcome: &str;
    match (result, why.load(Ordering::SeqCst)) {
        (_, STOP_LOST) => {
            tracing::warn!("lease lost to another attempt: this run publishes nothing");
            return Ok(());
        }
        (_, STOP_CANCEL) => {
            ctx.db.finish(id, Some(token), "cancelled", None).await?;
            let _ = std::fs::remove_dir_all(&scratch);
            outcome = "cancelled";
        }
        (_, STOP_DRAIN) => {
            // Released: back to the queue, its scratch folder kept for the next run here.
            ctx.db.finish(id, Some(token), "queued", None).await?;
            ctx.queue.push(id, None).await?;
            tracing::info!("released on shutdown");
            return Ok(());
        }
        (_, STOP_TIMEOUT) => {
            let msg = format!("the job ran longer than its timeout of {} s", ctx.cfg.job_timeout);
            ctx.db.finish(id, Some(token), "failed", Some(("timeout", &msg))).await?;
            let _ = std::fs::remove_dir_all(&scratch);
            outcome = "failed";
        }
        (Ok(files), _) => {
            progress.set(Some(100.0), "publishing");
            if let Err(e) = publish(ctx, id, token, &files).await {
                // Storage (or the database) unavailable: not the job's fault, so no attempt is
                // used up; the outputs stay in scratch and the job is queued again.
                let msg = format!("{e:#}");
                tracing::warn!(error = %msg, "publishing failed; queued again in 5 s");
                ctx.db.finish(id, Some(token), "queued", Some(("storage_unavailable", &msg))).await?;
                ctx.db.refund_attempt(id).await?;
                ctx.queue.push(id, Some(Duration::from_secs(5))).await?;
                return Ok(());
            }
            let _ = std::fs::remove_dir_all(&scratch);
            outcome = "succeeded";
        }
        (Err(e), _) => {
            let (eid, retry) = error_id(&e);
            let msg = format!("{e:#}");
            tracing::warn!(error_id = eid, error = %msg, attempt = token, "job run failed");
            if retry && token < job.max_attempts {
                ctx.db.finish(id, Some(token), "queued", Some((eid, &msg))).await?;
                let backoff = Duration::from_secs((1u64 << token.clamp(0, 6)).min(60));
                ctx.queue.push(id, Some(backoff)).await?;
                return Ok(());
            }
            ctx.db.finish(id, Some(token), "failed", Some((eid, &msg))).await?;
            let _ = std::fs::remove_dir_all(&scratch);
            outcome = "failed";
        }
    }
    metrics::counter!("stitch_jobs_finished_total", "kind" => kind.clone(), "status" => outcome).increment(1);
    metrics::histogram!("stitch_job_duration_seconds", "kind" => kind).record(started.elapsed().as_secs_f64());
    tracing::info!(status = outcome, secs = started.elapsed().as_secs_f64(), "job finished");
    Ok(())
}

/// A failure's error id and whether another attempt may succeed.
fn error_id(e: &anyhow::Error) -> (&'static str, bool) {
    if let Some(r) = e.downcast_ref::<crate::record::RecordError>() {
        use crate::record::ErrorId;
        return match r.error_id() {
            // Another attempt cannot help.
            ErrorId::DrmProtected => ("drm_protected", false),
            ErrorId::Forbidden => ("forbidden", false),
            ErrorId::Timeout => ("timeout", true),
            _ => ("record", true),
        };
    }
    if e.downcast_ref::<Invalid>().is_some() || e.downcast_ref::<crate::exit::UsageError>().is_some() {
        return ("bad_params", false);
    }
    ("failed", true)
}

/// Publish the outputs of run `token`: digests recorded (fenced), each uploaded to its final
/// key, read back and compared, then the job marked succeeded.
async fn publish(ctx: &Ctx, id: &str, token: i64, files: &[(String, PathBuf)]) -> Result<()> {
    let t0 = Instant::now();
    let mut records = Vec::new();
    for (name, path) in files {
        let d = storage::digest_file(path).await?;
        records.push(OutputRecord { name: name.clone(), size: d.size, sha256: d.sha256 });
    }
    if !ctx.db.fence_outputs(id, token, &records).await? {
        tracing::warn!("lease lost before publishing: nothing published");
        return Ok(());
    }
    for ((name, path), rec) in files.iter().zip(&records) {
        let k = storage::key(&["jobs", id, name])?;
        let t1 = Instant::now();
        let expected = storage::Digested { size: rec.size, sha256: rec.sha256.clone() };
        ctx.storage.publish_file(&k, path, &expected).await?;
        metrics::counter!("stitch_bytes_out_total").increment(rec.size);
        let secs = t1.elapsed().as_secs_f64();
        tracing::info!(key = %k, size = rec.size, sha256 = %rec.sha256, secs, "output published");
    }
    ctx.db.finish(id, Some(token), "succeeded", None).await?;
    tracing::debug!(secs = t0.elapsed().as_secs_f64(), "published");
    Ok(())
}

async fn execute(
    ctx: &Arc<Ctx>,
    kind: &str,
    params: &serde_json::Value,
    scratch: &Path,
    cancel: Arc<AtomicBool>,
    progress: Progress,
) -> Result<Vec<(String, PathBuf)>> {
    // The policy again at run time: `--allow-hosts` may have changed since the submission.
    validate(kind, params, &ctx.cfg.allow_hosts).await?;
    match kind {
        "record" => {
            let p: RecordParams = serde_json::from_value(params.clone())?;
            record_job(p, scratch, cancel, progress).await
        }
        "compile" => {
            let p: CompileParams = serde_json::from_value(params.clone())?;
            compile_job(ctx, p, scratch, cancel, progress).await
        }
        "webinar" => {
            let p: WebinarParams = serde_json::from_value(params.clone())?;
            webinar_job(p, scratch, cancel, progress).await
        }
        other => bail!("unknown job kind {other:?}"),
    }
}

fn kind_of(ext: &str) -> media::Container {
    if ext == "mp4" {
        media::Container::Mp4
    } else {
        media::Container::Ts
    }
}

/// `record`: [`crate::record::record_in_runtime`] into the scratch folder (a rerun of the
/// same job resumes a VOD from the segments already there).
async fn record_job(
    p: RecordParams,
    scratch: &Path,
    cancel: Arc<AtomicBool>,
    progress: Progress,
) -> Result<Vec<(String, PathBuf)>> {
    use crate::record::{self, RecordOptions};
    let ext = fmt_ext(p.format.as_deref(), "ts")?;
    let name = format!("{}.{ext}", p.name.as_deref().unwrap_or("recording"));
    sanitize_name(&name)?;
    let out = scratch.join(&name);
    let mut opts = RecordOptions::new(p.url.clone());
    opts.output = Some(out.clone());
    opts.format = kind_of(ext);
    if let Some(k) = &p.kind {
        opts.kind = k.parse().map_err(|e| Invalid::Params(format!("type: {e}")))?;
    }
    if let Some(q) = &p.quality {
        opts.quality = q.parse().map_err(|e| Invalid::Params(format!("quality: {e}")))?;
    }
    opts.audio_lang = p.audio.clone();
    for h in &p.headers {
        match h.split_once(':') {
            Some((k, v)) => opts.headers.push((k.trim().to_string(), v.trim().to_string())),
            None => return Err(Invalid::Params("headers: 'Name: value' expected".into()).into()),
        }
    }
    opts.user_agent = p.user_agent.clone();
    if let Some(k) = &p.key {
        opts.key_hex =
            Some(record::parse_key_hex(k).map_err(|_| Invalid::Params("key: expected 32 hex digits".into()))?);
    }
    opts.live_from_start = p.live_from_start;
    opts.max_duration = p.max_duration;
    opts.jobs = p.jobs.unwrap_or(4).clamp(1, 16);
    opts.quiet = true;
    progress.set(None, "recording");
    let s = record::record_in_runtime(&opts, cancel.clone()).await?;
    if cancel.load(Ordering::SeqCst) {
        bail!("stopped");
    }
    if s.resumable {
        bail!("the recording stopped before the end ({} segments)", s.segments);
    }
    let mut files = Vec::new();
    for f in &s.files {
        let n = f.file_name().and_then(|n| n.to_str()).map(safe_file_name).unwrap_or_else(|| name.clone());
        files.push((n, f.clone()));
    }
    if files.is_empty() {
        bail!("the recording wrote no file");
    }
    Ok(files)
}

/// `compile`: the upload's objects into the scratch folder, then the compile pipeline with
/// its progress (frames done of the total).
async fn compile_job(
    ctx: &Arc<Ctx>,
    p: CompileParams,
    scratch: &Path,
    cancel: Arc<AtomicBool>,
    progress: Progress,
) -> Result<Vec<(String, PathBuf)>> {
    let (upload, flow_name) = input_key(&p.flow)?;
    let inputs = scratch.join("inputs");
    std::fs::create_dir_all(&inputs)?;
    progress.set(Some(0.0), "fetching inputs");
    let prefix = storage::key(&["inputs", &upload])?;
    let listed = ctx.storage.list(&prefix).await?;
    if !listed.iter().any(|(k, _)| k.filename() == Some(flow_name.as_str())) {
        return Err(Invalid::Params(format!("flow {}: no such uploaded input", p.flow)).into());
    }
    for (k, size) in listed {
        let Some(n) = k.filename().map(str::to_string) else { continue };
        let n = sanitize_name(&n)?;
        let dst = inputs.join(&n);
        if std::fs::metadata(&dst).ok().map(|m| m.len()) == Some(size) {
            continue; // already fetched by an earlier attempt
        }
        let got = ctx.storage.get_to_file(&k, &dst).await?;
        metrics::counter!("stitch_bytes_in_total").increment(got);
    }
    let flow_path = inputs.join(&flow_name);
    // Remote clips of the flow pass the SSRF policy too.
    let text = std::fs::read_to_string(&flow_path)?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Invalid::Params(format!("flow {}: {e}", p.flow)))?;
    let mut urls = Vec::new();
    collect_urls(&v, &mut urls);
    for u in urls {
        ssrf::check_url(&u, &ctx.cfg.allow_hosts).await?;
    }
    let ext = fmt_ext(p.format.as_deref(), "mp4")?;
    let stem = p
        .name
        .clone()
        .or_else(|| v.get("name").and_then(|n| n.as_str()).map(safe_file_name))
        .unwrap_or_else(|| "output".into());
    let out_name = safe_file_name(&format!("{stem}.{ext}"));
    let out_dir = scratch.join("out");
    std::fs::create_dir_all(&out_dir)?;
    let output = out_dir.join(&out_name);
    let bad = |what: &str, e: String| Invalid::Params(format!("{what}: {e}"));
    let args = crate::compile::CompileArgs {
        flow: flow_path,
        output: output.clone(),
        format: Some(kind_of(ext)),
        size: p.size.as_deref().map(crate::compile::parse_size).transpose().map_err(|e| bad("size", e.to_string()))?,
        fps: p.fps.as_deref().map(crate::compile::parse_fps).transpose().map_err(|e| bad("fps", e.to_string()))?,
        start: p.start,
        max_duration: p.max_duration,
        threads: p.threads,
        decoder: decoder(p.decoder.as_deref())?,
        layout: p
            .layout
            .as_deref()
            .map(|l| l.parse::<media::compose::layout::LayoutKind>())
            .transpose()
            .map_err(|e| bad("layout", e.to_string()))?,
        export: Default::default(),
        hide_silent: p.hide_silent,
        chat_panel: p.chat_panel,
        normalize: p.normalize,
        switch_hold: p.switch_hold,
        quiet: true,
        force: true,
        keep_files: false,
        net: Default::default(),
    };
    let outputs = tokio::task::spawn_blocking(move || -> Result<Vec<PathBuf>> {
        use crate::compile;
        let mut flow = media::timeline::Flow::load(&args.flow).map_err(anyhow::Error::new)?;
        let opts = compile::prepare(&args, &flow)?;
        progress.set(Some(0.0), "downloading clips");
        let remote = crate::remote::fetch_remote(
            &mut flow,
            &crate::remote::cache_dir_for(&args.output),
            crate::remote::DEFAULT_JOBS,
            &args.net,
            true,
            &cancel,
        )?;
        let total = compile::total_frames(&flow, &opts);
        progress.set(Some(0.0), "compiling");
        media::pipeline::compile(
            &flow,
            &opts,
            &mut |pr| {
                let pct = total.filter(|t| *t > 0).map(|t| pr.frames_done as f64 * 100.0 / t as f64);
                progress.set(pct, "compiling");
            },
            &cancel,
        )
        .map_err(anyhow::Error::new)?;
        let mut outputs = vec![args.output.clone()];
        outputs.extend(opts.export_audio.clone());
        remote.finish(false, true)?;
        Ok(outputs)
    })
    .await??;
    Ok(outputs
        .into_iter()
        .map(|p| (p.file_name().and_then(|n| n.to_str()).map(safe_file_name).unwrap_or_else(|| out_name.clone()), p))
        .collect())
}

fn collect_urls(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if s.starts_with("http://") || s.starts_with("https://") => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_urls(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| collect_urls(x, out)),
        _ => {}
    }
}

/// `webinar`: [`crate::webinar::run`] with the job folder in the scratch folder (a retaken job
/// on the same machine reuses the chunks already downloaded).
async fn webinar_job(
    p: WebinarParams,
    scratch: &Path,
    cancel: Arc<AtomicBool>,
    progress: Progress,
) -> Result<Vec<(String, PathBuf)>> {
    let ext = fmt_ext(p.format.as_deref(), "mp4")?;
    let bad = |what: &str, e: String| Invalid::Params(format!("{what}: {e}"));
    let size = p
        .size
        .as_deref()
        .or(p.quality.as_deref())
        .map(crate::compile::parse_size)
        .transpose()
        .map_err(|e| bad("size", e.to_string()))?;
    let layout = p
        .layout
        .as_deref()
        .map(|l| l.parse::<media::compose::layout::LayoutKind>())
        .transpose()
        .map_err(|e| bad("layout", e.to_string()))?;
    let args = crate::webinar::WebinarArgs {
        links: vec![p.link.clone()],
        links_file: None,
        session_id: p.session_id.clone(),
        cookies: None,
        password: p.password.clone(),
        output_dir: scratch.join("webinar"),
        jobs: p.jobs.unwrap_or(3).clamp(1, 8),
        api_host: p.api_host.clone(),
        keep_files: false,
        start: p.start,
        max_duration: p.max_duration,
        format: kind_of(ext),
        dry_run: false,
        debug: false,
        quiet: true,
        size,
        layout: Some(layout.unwrap_or(media::compose::layout::LayoutKind::Sidebar)),
        export: Default::default(),
        hide_silent: p.hide_silent,
        chat_panel: p.chat_panel,
        normalize: p.normalize,
        switch_hold: p.switch_hold,
        threads: p.threads,
        decoder: decoder(p.decoder.as_deref())?,
        force: false,
        net: Default::default(),
    };
    progress.set(None, "webinar");
    let results = tokio::task::spawn_blocking(move || crate::webinar::run(&args, cancel)).await??;
    let r = results.into_iter().next().ok_or_else(|| anyhow!("the webinar link gave no record"))?;
    if let Some(e) = r.error {
        bail!("{e}");
    }
    let mut files: Vec<PathBuf> = r.outputs.clone();
    if files.is_empty() {
        files.extend(r.output.clone());
    }
    if files.is_empty() {
        bail!("the webinar run wrote no file");
    }
    Ok(files
        .into_iter()
        .map(|f| {
            (f.file_name().and_then(|n| n.to_str()).map(safe_file_name).unwrap_or_else(|| "webinar.mp4".into()), f)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose future the engine drops (its worker stopped on a database error) must go
    /// silent: no heartbeat keeps its job "running" forever, and its command is told to stop.
    #[tokio::test]
    async fn a_dropped_run_stops_its_heartbeat_and_its_command() {
        let beats = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let cancel = Arc::new(AtomicBool::new(false));
        let b2 = beats.clone();
        let beat = tokio::spawn(async move {
            loop {
                b2.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let run = async {
            let _guard = RunGuard { beat, cancel: cancel.clone() };
            std::future::pending::<()>().await
        };
        // The engine gives up on the run after a while and drops it.
        assert!(tokio::time::timeout(Duration::from_millis(50), run).await.is_err());
        assert!(cancel.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let after = beats.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(beats.load(Ordering::SeqCst), after, "the heartbeat outlived its run");
    }

    #[test]
    fn secrets_are_redacted_and_names_made_safe() {
        let p =
            serde_json::json!({"link": "https://x/", "session_id": "s3cr3t", "password": null, "headers": ["A: b"]});
        let r = redact(&p);
        assert_eq!(r["session_id"], "(secret)");
        assert_eq!(r["headers"], "(secret)");
        assert!(r["password"].is_null());
        assert!(!r.to_string().contains("s3cr3t"));
        for n in ["../../etc/passwd", "Лекция 1.mp4", ".x", "a/b.mp4", ""] {
            let s = safe_file_name(n);
            assert!(sanitize_name(&s).is_ok(), "{n:?} -> {s:?}");
        }
    }

    #[tokio::test]
    async fn submissions_are_validated() {
        let allow: Vec<String> = vec![];
        let e = validate("record", &serde_json::json!({"url": "http://127.0.0.1:9/x.m3u8"}), &allow).await.unwrap_err();
        assert_eq!(e.id(), "ssrf_policy");
        let e = validate("record", &serde_json::json!({"url": "http://93.184.215.14/", "fromat": "mp4"}), &allow)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("fromat"), "{e}");
        let e = validate("compile", &serde_json::json!({"flow": "inputs/../x/f.json"}), &allow).await.unwrap_err();
        assert_eq!(e.id(), "bad_params");
        let e = validate("compile", &serde_json::json!({"flow": "inputs/u/f.json", "name": "../x"}), &allow)
            .await
            .unwrap_err();
        assert_eq!(e.id(), "bad_params");
        assert!(validate("nope", &serde_json::json!({}), &allow).await.is_err());
        validate("compile", &serde_json::json!({"flow": "inputs/u1/flow.json"}), &allow).await.unwrap();
    }

    /// A worker died after its upload and before its last write: the next start finds the
    /// verified output in storage and marks the job succeeded; a wrong or missing object does not.
    #[tokio::test]
    async fn reconcile_repairs_a_running_job_whose_outputs_are_stored() {
        let dir = std::env::temp_dir().join(format!("stitch-reconcile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let args = super::super::config::ServiceArgs {
            data_dir: Some(dir.clone()),
            lease_secs: Some(3),
            ..Default::default()
        };
        let cfg = Config::resolve(&args, true).unwrap();
        let db = Db::open(&cfg.database).await.unwrap();
        let ctx = Ctx::new(db.clone(), Storage::open(dir.to_str().unwrap()).unwrap(), cfg, Queue::new(&db, 3));
        let src = dir.join("out.ts");
        std::fs::write(&src, b"0123456789").unwrap();
        for id in ["ok", "bad"] {
            ctx.db.insert(id, "record", &serde_json::json!({}), 3).await.unwrap();
            let t = ctx.db.claim(id, "dead-worker", 3000).await.unwrap().unwrap();
            let d = storage::digest_file(&src).await.unwrap();
            let sha = if id == "ok" { d.sha256 } else { "0".repeat(64) };
            assert!(ctx
                .db
                .fence_outputs(id, t, &[OutputRecord { name: "out.ts".into(), size: d.size, sha256: sha }])
                .await
                .unwrap());
            ctx.storage.put_file(&storage::key(&["jobs", id, "out.ts"]).unwrap(), &src).await.unwrap();
        }
        // Heartbeats still fresh: nothing is touched.
        assert_eq!(reconcile(&ctx).await.unwrap(), 0);
        tokio::time::sleep(Duration::from_millis(3100)).await;
        assert_eq!(reconcile(&ctx).await.unwrap(), 1);
        assert_eq!(ctx.db.get("ok").await.unwrap().unwrap().status, "succeeded");
        assert_eq!(ctx.db.get("bad").await.unwrap().unwrap().status, "running");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
