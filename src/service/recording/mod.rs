//! The recording service: live streams captured on a webhook, joined into one MP4 when they
//! end and published to the `recordings/` prefix of the service storage, with the seed's
//! `recordings` metadata in the service database.
//!
//! - [`api`]: the seed's routes (`/health`, `/recordings`, `/recording/{id}`,
//!   `/webhook/stream`; each also under `/api/v1`) and `POST /recording/{id}/retry`;
//!   [`signature`]: the webhook's `X-Stitch-Signature` (HMAC-SHA256).
//! - [`Recorder`]: one per `stitch serve` instance. Its supervisor claims recordings that
//!   nobody holds (a lease in the row, `--recording-lease`, renewed every third of it; an
//!   instance's own leases are taken back at once after a restart) and runs one capture task
//!   per recording.
//! - [`capture`]: polls the stream's live playlist (RFC 8216 §6.3.4), stores every new segment
//!   in the service storage (`live/<recording id>/<seq>.ts`) and records it in
//!   `recording_segments` before it moves on, so a kill -9 loses nothing already fetched;
//!   after the end it keeps reading until `EXT-X-ENDLIST`, a 404 or two target durations.
//! - [`finalize`]: the segments joined in-process (the recorder's continuity-fixing TS
//!   joiner, then a remux to a faststart MP4: ISO/IEC 13818-1 in, ISO/IEC 14496-12 out) and
//!   published as `recordings/<stream key>.mp4` (or `<stream key>-<id>.mp4` when that key is
//!   taken), verified, then `completed`; storage failures are retried, other failures leave
//!   the recording `failed` with its error and its segments, for `POST /recording/{id}/retry`.
//! - [`monitor`]: every `--monitor-interval`, the stream service's live streams reconciled
//!   with the live recordings (missed webhooks).
//!
//! A recording: `recording` (capturing) -> `processing` (ended: draining the playlist, the
//! grace window in which a `stream.started` of the same key continues it, then the join)
//! -> `completed` | `failed`.

pub mod api;
pub mod capture;
pub mod db;
pub mod finalize;
pub mod monitor;
pub mod signature;
pub mod source;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use super::jobs::Ctx;
use db::Recordings;
pub use wire::{check_stream_id, check_stream_key, live_url, BadStream, StreamEvent};

/// Why captures cannot start.
pub const NO_SOURCE: &str = "no live stream source is configured (--live-hls-url or --live-segments)";

/// The recording service of one instance.
pub struct Recorder {
    pub ctx: Arc<Ctx>,
    /// This instance's name in the `holder` column: kept in `<data dir>/instance-id`, so a
    /// restarted instance knows its own leases.
    pub me: String,
    pub recs: Recordings,
    pub client: reqwest::Client,
    running: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    wake: tokio::sync::Notify,
}

fn instance_id(data_dir: &std::path::Path) -> Result<String> {
    let p = data_dir.join("instance-id");
    if let Ok(s) = std::fs::read_to_string(&p) {
        if !s.trim().is_empty() {
            return Ok(s.trim().to_string());
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let host = std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string()).unwrap_or_default();
    let id = format!("{}-{}", if host.is_empty() { "stitch" } else { &host }, uuid::Uuid::new_v4().simple());
    std::fs::write(&p, &id)?;
    Ok(id)
}

impl Recorder {
    pub fn new(ctx: Arc<Ctx>) -> Result<Arc<Recorder>> {
        let me = instance_id(&ctx.cfg.data_dir)?;
        let client = crate::http::ClientConfig {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(15),
            timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        }
        .build()?;
        Ok(Arc::new(Recorder {
            recs: Recordings { pool: ctx.db.any.clone() },
            ctx,
            me,
            client,
            running: Mutex::default(),
            wake: tokio::sync::Notify::new(),
        }))
    }

    fn lease_ms(&self) -> i64 {
        self.ctx.cfg.recording.lease.as_millis() as i64
    }

    /// `stream.started`: a new recording, or the same one when the stream key is live or
    /// ended less than the grace window ago. Returns the recording's id.
    pub async fn started(&self, ev: &StreamEvent) -> Result<String> {
        if let Some(r) = self.recs.live_of(&ev.stream_key).await? {
            return Ok(r.id);
        }
        let grace = self.ctx.cfg.recording.end_grace.as_millis() as i64;
        if let Some(id) = self.recs.resume_within_grace(&ev.stream_key, super::db::now_ms() - grace).await? {
            tracing::info!(recording_id = %id, stream_key = %ev.stream_key, "stream started again within the grace window: same recording");
            self.wake.notify_one();
            return Ok(id);
        }
        let id = uuid::Uuid::new_v4().to_string();
        if !self.recs.insert(&id, &ev.stream_id, &ev.stream_key, ev.user_id.as_deref()).await? {
            // Another delivery (or instance) made it meanwhile.
            if let Some(r) = self.recs.live_of(&ev.stream_key).await? {
                return Ok(r.id);
            }
            anyhow::bail!("stream {}: the recording could not be created", ev.stream_key);
        }
        tracing::info!(recording_id = %id, stream_key = %ev.stream_key, "recording started");
        metrics::counter!("stitch_recordings_started_total").increment(1);
        self.wake.notify_one();
        Ok(id)
    }

    /// `stream.ended`: the live recording of the key goes to `processing`.
    pub async fn ended(&self, stream_key: &str) -> Result<Option<String>> {
        let id = self.recs.end_stream(stream_key).await?;
        if let Some(id) = &id {
            tracing::info!(recording_id = %id, stream_key, "stream ended");
            self.wake.notify_one();
        }
        Ok(id)
    }

    /// A retried recording is taken at once.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// The supervisor, until `shutdown`: renew leases, claim what nobody holds, run it.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        if let Err(e) = self.sweep_scratch().await {
            tracing::warn!(error = %format!("{e:#}"), "recordings: scratch folder not swept");
        }
        if self.ctx.cfg.recording.stream_service_url.is_some() {
            tokio::spawn(monitor::run(self.clone(), shutdown.clone()));
        }
        let lease = self.ctx.cfg.recording.lease;
        let mut last_renew = tokio::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            if last_renew.elapsed() >= lease / 3 {
                match self.recs.renew(&self.me, self.lease_ms()).await {
                    Ok(_) => last_renew = tokio::time::Instant::now(),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "recording leases not renewed"),
                }
            }
            if let Err(e) = self.claim_new().await {
                tracing::warn!(error = %format!("{e:#}"), "recordings: database unavailable");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
        let handles: Vec<_> = self.running.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
        for h in handles {
            h.abort();
        }
        if let Err(e) = self.recs.release_all(&self.me).await {
            tracing::warn!(error = %format!("{e:#}"), "recording leases not released");
        }
    }

    /// At start: the local copies of recordings that are finished, or that another instance
    /// holds now (it took them over while this one was down), are deleted.
    async fn sweep_scratch(&self) -> Result<()> {
        let dir = self.ctx.cfg.scratch_dir().join("recordings");
        let Ok(rd) = std::fs::read_dir(&dir) else { return Ok(()) };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let stale = match check_stream_id(&name) {
                Ok(id) => match self.recs.get(&id).await? {
                    None => true,
                    Some(r) => {
                        matches!(r.status.as_str(), "completed" | "failed")
                            || r.holder.as_deref().is_some_and(|h| h != self.me)
                    }
                },
                Err(_) => false, // not ours
            };
            if stale {
                tracing::info!(recording_id = %name, "removing the local copies of a recording finished or held elsewhere");
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(())
    }

    async fn claim_new(self: &Arc<Self>) -> Result<()> {
        for id in self.recs.claimable(&self.me).await? {
            let busy = self.running.lock().map(|m| m.contains_key(&id)).unwrap_or(true);
            if busy {
                continue;
            }
            let Some(claim) = self.recs.claim(&id, &self.me, self.lease_ms()).await? else { continue };
            let me = self.clone();
            let id2 = id.clone();
            let span = tracing::info_span!("recording", recording_id = %id);
            let task = tokio::spawn(tracing::Instrument::instrument(
                async move {
                    capture::run(&me, &id2, &claim).await;
                    if let Ok(mut m) = me.running.lock() {
                        m.remove(&id2);
                    }
                },
                span,
            ));
            if let Ok(mut m) = self.running.lock() {
                m.insert(id, task.abort_handle());
            }
        }
        Ok(())
    }
}
