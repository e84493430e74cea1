//! One recording's task on the instance that holds its lease: capture the live playlist
//! while the stream runs, drain it after the end, wait out the grace window, then finalize.
//!
//! Live playlists are read as RFC 8216 §6.3.4 says a client reloads them: every half target
//! duration (at least 0.5 s, at most 5 s). Segments are identified by their media sequence
//! number (§4.3.3.2); a number lower than the last one captured means the source restarted
//! its stream (a reconnect): the new segments follow with a discontinuity. A number jump
//! after a restart of this service is counted as `missed` and marked as a discontinuity, so
//! the joiner does not bridge the hole with wrong timestamps.

use std::time::Duration;

use anyhow::{anyhow, Result};
use tokio::time::Instant;

use super::db::{Claim, Rec, Seg};
use super::source::Source;
use super::Recorder;
use crate::hls::playlist::{self, MediaPlaylist, Playlist};
use crate::service::db::now_ms;
use crate::service::storage;

/// The object key of a captured segment.
pub fn segment_key(id: &str, seq: i64) -> Result<object_store::path::Path> {
    Ok(storage::key(&["live", id, &format!("{seq:08}.ts")])?)
}

/// How a capture ended.
enum Outcome {
    /// Drained: go on to the grace window and the join.
    Ended,
    /// The claim was lost (another instance took the recording): stop, write nothing.
    Lost,
}

/// The task: until the recording is completed or failed, or the claim is lost.
pub async fn run(r: &Recorder, id: &str, c: &Claim) {
    match run_inner(r, id, c).await {
        Ok(()) => {}
        Err(e) => {
            // The database went away: the lease runs out and an instance takes it again.
            tracing::warn!(error = %format!("{e:#}"), "recording task stopped; its lease will be taken again");
        }
    }
}

async fn run_inner(r: &Recorder, id: &str, c: &Claim) -> Result<()> {
    loop {
        let Some(rec) = r.recs.get(id).await? else { return Ok(()) };
        if rec.holder.as_deref() != Some(c.holder.as_str()) || rec.lease_epoch != c.epoch {
            return Ok(());
        }
        match rec.status.as_str() {
            "recording" | "processing" if !rec.finalizing => {
                if let Outcome::Lost = capture(r, &rec, c).await? {
                    tracing::info!("capture taken over by another instance");
                    return Ok(());
                }
                // The grace window: a stream.started of the same key continues the recording.
                let grace = r.ctx.cfg.recording.end_grace.as_millis() as i64;
                let mut continued = false;
                loop {
                    let Some(rec) = r.recs.get(id).await? else { return Ok(()) };
                    let Some(ended) = rec.ended_at.filter(|_| rec.status == "processing") else {
                        continued = true; // a stream.started: capture again at once
                        break;
                    };
                    let wait = ended + grace - now_ms();
                    if wait <= 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(wait.min(500) as u64)).await;
                }
                if continued || !r.recs.begin_finalize(id, c, now_ms() - grace).await? {
                    continue; // continued, or the claim was lost: look again
                }
            }
            "processing" => {
                super::finalize::run(r, id, c).await?;
                return Ok(());
            }
            _ => return Ok(()),
        }
    }
}

/// Fetched segments not yet stored (storage down): kept in order, stored before newer
/// ones, at most this many bytes.
const PENDING_BYTES: usize = 1 << 30;

/// The segments of a capture so far, in memory.
struct State {
    next_seq: i64,
    last_media_seq: Option<u64>,
    discontinuity: bool,
    /// (segment, its bytes, segments missed before it), fetched but not yet stored.
    pending: std::collections::VecDeque<(Seg, bytes::Bytes, i64)>,
    pending_bytes: usize,
    /// When a storage failure was last noted in the row.
    noted: Option<Instant>,
}

impl State {
    /// Store what is pending, oldest first. `Ok(false)`: the claim was lost. A storage
    /// failure keeps the rest pending (noted in the row) for the next round.
    async fn flush(&mut self, r: &Recorder, id: &str, c: &Claim) -> Result<bool> {
        while let Some((seg, data, missed)) = self.pending.front() {
            if let Err(e) = r.ctx.storage.put_bytes(&segment_key(id, seg.seq)?, data.clone()).await {
                let msg = format!("{e:#}");
                tracing::warn!(error = %msg, pending = self.pending.len(), "segments wait for storage");
                if self.noted.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                    self.noted = Some(Instant::now());
                    let _ = r.recs.note_error(id, c, &format!("retrying: storage unavailable: {msg}")).await;
                }
                return Ok(true);
            }
            if !r.recs.add_segment(id, c, seg, *missed).await? {
                return Ok(false);
            }
            if r.ctx.storage.is_s3() {
                // A local copy spares the finalize on this instance the download.
                let dir = super::finalize::scratch_of(r, id);
                let p = super::finalize::cache_path(&dir, seg.seq);
                if let Err(e) = tokio::fs::create_dir_all(&dir).await.and(tokio::fs::write(&p, data).await) {
                    tracing::debug!(error = %e, "no local copy of the segment (the finalize downloads it)");
                }
            }
            metrics::counter!("stitch_recording_segments_total").increment(1);
            metrics::counter!("stitch_bytes_in_total").increment(seg.size as u64);
            self.pending_bytes -= data.len();
            self.pending.pop_front();
        }
        if self.noted.take().is_some() {
            let _ = r.recs.note_error(id, c, "").await;
        }
        Ok(true)
    }
}

async fn get_playlist(src: &Source) -> Result<std::result::Result<MediaPlaylist, u16>> {
    let mut url = src.playlist().clone();
    for _ in 0..3 {
        let text = match src.text(&url).await? {
            Ok(t) => t,
            Err(status) => return Ok(Err(status)),
        };
        match playlist::parse(&text, &url)? {
            Playlist::Media(m) => return Ok(Ok(m)),
            Playlist::Master(m) => {
                // A multivariant playlist: the best variant with a picture.
                let v = m
                    .variants
                    .iter()
                    .filter(|v| !v.is_audio_only())
                    .max_by_key(|v| v.bandwidth)
                    .or_else(|| m.variants.first())
                    .ok_or_else(|| anyhow!("{url}: a multivariant playlist without variants"))?;
                url = v.uri.clone();
            }
        }
    }
    Err(anyhow!("{url}: playlists nested too deep"))
}

async fn get_segment(src: &Source, url: &url::Url) -> Result<Option<bytes::Bytes>> {
    let mut last = None;
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(300 << attempt)).await;
        }
        match src.bytes(url).await {
            Ok(b) => return Ok(b),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("{url}: no answer")))
}

/// Capture until the end is drained (or the claim lost).
async fn capture(r: &Recorder, rec: &Rec, c: &Claim) -> Result<Outcome> {
    let src = match Source::open(r, rec) {
        Ok(s) => s,
        Err(e) => {
            r.recs.fail(&rec.id, c, &format!("{e:#}")).await?;
            return Ok(Outcome::Lost);
        }
    };
    let last = r.recs.last_segment(&rec.id).await?;
    let mut st = State {
        next_seq: last.as_ref().map(|s| s.seq + 1).unwrap_or(0),
        last_media_seq: last.as_ref().map(|s| s.media_seq as u64),
        discontinuity: last.is_some(),
        pending: Default::default(),
        pending_bytes: 0,
        noted: None,
    };
    let standalone = r.ctx.cfg.recording.stream_service_url.is_none();
    let mut misses = 0u32;
    let mut target = 2.0f64;
    tracing::info!(url = %src.playlist(), resume_at = st.next_seq, "capture started");
    loop {
        let now = Instant::now();
        let row = r.recs.get(&rec.id).await?.ok_or_else(|| anyhow!("the recording row is gone"))?;
        if row.holder.as_deref() != Some(c.holder.as_str()) || row.lease_epoch != c.epoch {
            return Ok(Outcome::Lost);
        }
        // Ended: the last segments are still read, at most two target durations after the end.
        let drain_until = match (row.status.as_str(), row.ended_at) {
            ("processing", Some(e)) => Some(e + (2000.0 * target) as i64),
            _ => None,
        };
        if !st.flush(r, &rec.id, c).await? {
            return Ok(Outcome::Lost);
        }
        if drain_until.is_some_and(|d| now_ms() >= d) {
            if st.pending.is_empty() {
                return Ok(Outcome::Ended);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue; // storage is down: nothing more to read, the rest to store
        }
        match get_playlist(&src).await {
            Ok(Ok(pl)) => {
                misses = 0;
                target = pl.target_duration.clamp(0.5, 30.0);
                if !take_new(r, &src, rec, c, &pl, &mut st).await? {
                    return Ok(Outcome::Lost);
                }
                if pl.end_list && st.pending.is_empty() {
                    if row.status == "recording" {
                        tracing::info!("the playlist ended (EXT-X-ENDLIST)");
                        r.recs.end_by_capture(&rec.id, c).await?;
                    }
                    return Ok(Outcome::Ended);
                }
            }
            Ok(Err(status)) => {
                misses += 1;
                tracing::info!(status, misses, "live playlist not available");
                if status == 404 && drain_until.is_some() && st.pending.is_empty() {
                    return Ok(Outcome::Ended);
                }
                if status == 404 && standalone && misses >= 3 && row.status == "recording" {
                    tracing::info!("the playlist is gone (404 for 3 polls): the stream ended");
                    r.recs.end_by_capture(&rec.id, c).await?;
                    return Ok(Outcome::Ended);
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "live playlist not read"),
        }
        let pause = Duration::from_secs_f64((target / 2.0).clamp(0.5, 5.0));
        tokio::time::sleep_until(now + pause).await;
    }
}

/// Fetch and store the playlist's segments that are new to this recording. False: the
/// claim was lost.
async fn take_new(
    r: &Recorder,
    src: &Source,
    rec: &Rec,
    c: &Claim,
    pl: &MediaPlaylist,
    st: &mut State,
) -> Result<bool> {
    if pl.segments.iter().any(|s| s.map.is_some()) {
        let msg = "the live stream is fragmented MP4 (EXT-X-MAP): the recording service captures MPEG-TS streams";
        r.recs.fail(&rec.id, c, msg).await?;
        return Ok(false);
    }
    if pl.segments.iter().any(|s| s.key.as_ref().is_some_and(|k| !k.is_identity())) {
        r.recs
            .fail(&rec.id, c, "the live stream is encrypted (EXT-X-KEY): not supported by the recording service")
            .await?;
        return Ok(false);
    }
    let Some(newest) = pl.segments.last().map(|s| s.sequence) else { return Ok(true) };
    if let Some(last) = st.last_media_seq {
        if newest < last {
            // The source restarted its numbering (a reconnect): everything listed is new.
            tracing::info!(last, newest, "media sequence restarted: the source reconnected");
            st.last_media_seq = None;
            st.discontinuity = true;
            for s in &pl.segments {
                if !take_one(r, src, rec, c, s, st, 0).await? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
    }
    for s in &pl.segments {
        let missed = match st.last_media_seq {
            Some(last) if s.sequence <= last => continue,
            Some(last) => s.sequence - last - 1,
            // A fresh capture starts at the live edge: the newest segment.
            None if st.next_seq == 0 && s.sequence != newest => continue,
            None => 0,
        };
        if missed > 0 {
            tracing::warn!(missed, "segments left the live window before they were fetched");
            st.discontinuity = true;
        }
        if !take_one(r, src, rec, c, s, st, missed as i64).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn take_one(
    r: &Recorder,
    src: &Source,
    rec: &Rec,
    c: &Claim,
    s: &playlist::Segment,
    st: &mut State,
    missed: i64,
) -> Result<bool> {
    if s.gap {
        st.last_media_seq = Some(s.sequence);
        st.discontinuity = true;
        return Ok(true);
    }
    let Some(data) = get_segment(src, &s.uri).await? else {
        tracing::warn!(seq = s.sequence, "segment gone (404) before it was fetched");
        st.last_media_seq = Some(s.sequence);
        st.discontinuity = true;
        return Ok(true);
    };
    let seg = Seg {
        seq: st.next_seq,
        media_seq: s.sequence as i64,
        duration_ms: (s.duration * 1000.0).round() as i64,
        size: data.len() as i64,
        discontinuity: st.discontinuity || s.discontinuity,
    };
    if st.pending_bytes + data.len() > PENDING_BYTES {
        anyhow::bail!("storage has been down too long: {} bytes of segments wait to be stored", st.pending_bytes);
    }
    st.next_seq += 1;
    st.last_media_seq = Some(s.sequence);
    st.discontinuity = false;
    st.pending_bytes += data.len();
    st.pending.push_back((seg, data, missed));
    st.flush(r, &rec.id, c).await
}
