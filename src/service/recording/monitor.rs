//! The stream monitor: every `--monitor-interval`, `GET {stream service}/streams?status=live`
//! (`[{"id","stream_key","user_id","started_at"}]`, or that list under `"streams"`) is
//! reconciled with the live recordings: a listed stream without one starts (its
//! `stream.started` was missed), a live recording whose stream is no longer listed ends (its
//! `stream.ended` was missed). A recording younger than one interval is not ended: the
//! stream service may not list a stream the instant its webhook arrives.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use serde::Deserialize;

use super::{check_stream_id, check_stream_key, Recorder, StreamEvent};
use crate::service::db::now_ms;

/// One live stream as the stream service lists it.
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct LiveStream {
    pub id: String,
    pub stream_key: String,
    #[serde(default)]
    pub user_id: Option<serde_json::Value>,
    #[serde(default)]
    pub started_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Listing {
    Plain(Vec<LiveStream>),
    Wrapped { streams: Vec<LiveStream> },
}

/// The stream service's answer, parsed; streams with a bad key or id are left out (and
/// logged), never put into a URL.
pub fn parse_live(body: &[u8]) -> Result<Vec<StreamEvent>> {
    let l: Listing = serde_json::from_slice(body).map_err(|e| anyhow!("the stream service's answer: {e}"))?;
    let list = match l {
        Listing::Plain(v) | Listing::Wrapped { streams: v } => v,
    };
    let mut out = Vec::new();
    for s in list {
        match (check_stream_key(&s.stream_key), check_stream_id(&s.id)) {
            (Ok(()), Ok(id)) => out.push(StreamEvent {
                stream_id: id,
                stream_key: s.stream_key,
                user_id: s.user_id.map(|u| match u {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                }),
            }),
            (Err(e), _) | (_, Err(e)) => tracing::warn!(error = %e, "stream service lists a stream it cannot be"),
        }
    }
    Ok(out)
}

async fn poll(r: &Recorder, base: &str) -> Result<()> {
    let url = format!("{}/streams?status=live", base.trim_end_matches('/'));
    let resp = r.client.get(&url).send().await?;
    if !resp.status().is_success() {
        anyhow::bail!("{url}: HTTP {}", resp.status());
    }
    let polled_at = now_ms();
    let live = parse_live(&resp.bytes().await?)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_parse_and_bad_streams_are_left_out() {
        let id = "6f9619ff-8b86-d011-b42d-00cf4fc964ff";
        let body = format!(
            r#"[{{"id":"{id}","stream_key":"k1","user_id":"u","started_at":"2026-12-05T00:00:00Z"}},
                {{"id":"{id}","stream_key":"../../x"}}, {{"id":"nope","stream_key":"k3"}}]"#
        );
        let v = parse_live(body.as_bytes()).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].stream_key.as_str(), v[0].user_id.as_deref()), ("k1", Some("u")));
        let w =
            parse_live(format!(r#"{{"streams":[{{"id":"{id}","stream_key":"k2","user_id":7}}]}}"#).as_bytes()).unwrap();
        assert_eq!((w[0].stream_key.as_str(), w[0].user_id.as_deref()), ("k2", Some("7")));
        assert!(parse_live(b"{").is_err() && parse_live(b"[{\"id\":1}]").is_err());
        assert!(parse_live(b"[]").unwrap().is_empty());
    }
}
