//! The stream monitor: every `--monitor-interval`, `GET {stream service}/streams?status=live`
//! (`[{"id","stream_key","user_id","started_at"}]`, or that list under `"streams"`) is
//! reconciled with the live recordings: a listed stream without one starts (its
//! `stream.started` was missed), a live recording whose stream is no longer listed ends (its
//! `stream.ended` was missed). A recording younger than one interval is not ended: the
//! stream service may not list a stream the instant its webhook arrives.

use std::sync::Arc;

use anyhow::{anyhow, Result};

use super::wire::parse_live;
use super::Recorder;
use crate::service::db::now_ms;

async fn poll(r: &Recorder, base: &str) -> Result<()> {
    let url = format!("{}/streams?status=live", base.trim_end_matches('/'));
    let resp = r.client.get(&url).send().await?;
    if !resp.status().is_success() {
        anyhow::bail!("{url}: HTTP {}", resp.status());
    }
    let polled_at = now_ms();
    let (live, refused) = parse_live(&resp.bytes().await?).map_err(|e| anyhow!(e))?;
    for e in refused {
        tracing::warn!(error = %e, "monitor: the stream service lists a stream that cannot be recorded");
    }
    for ev in &live {
        if r.recs.live_of(&ev.stream_key).await?.is_none() {
            tracing::info!(stream_key = %ev.stream_key, "monitor: a live stream without a recording (missed stream.started)");
            r.started(ev).await?;
        }
    }
    let young = polled_at - r.ctx.cfg.recording.monitor_interval.as_millis() as i64;
    for rec in r.recs.with_status("recording").await? {
        if rec.started_at < young && !live.iter().any(|s| s.stream_key == rec.stream_key) {
            tracing::info!(stream_key = %rec.stream_key, "monitor: a recording whose stream is gone (missed stream.ended)");
            r.ended(&rec.stream_key).await?;
        }
    }
    Ok(())
}

/// Until shutdown.
pub async fn run(r: Arc<Recorder>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let Some(base) = r.ctx.cfg.recording.stream_service_url.clone() else { return };
    let every = r.ctx.cfg.recording.monitor_interval;
    while !*shutdown.borrow() {
        if let Err(e) = poll(&r, &base).await {
            tracing::warn!(error = %format!("{e:#}"), "monitor: stream service not read");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}
