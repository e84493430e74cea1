//! The end of a recording: its segments joined into one MPEG-TS by the recorder's joiner
//! (continuity counters, PCR/PTS/DTS made continuous across discontinuities: ISO/IEC
//! 13818-1 §2.4.3), remuxed to a faststart MP4 (ISO/IEC 14496-12, `moov` before `mdat`) by
//! `media::remux`, then published under `recordings/<stream key>.mp4`: the key and the
//! checksum are recorded first, the object is stored whole or not at all and verified (read
//! back; on local storage the hard link checked to be the digested file itself), and only
//! then is the recording `completed` and are its segments deleted.
//!
//! Storage and database failures are retried with a growing pause (the segments stay where
//! they are); a join or remux failure leaves the recording `failed` with its error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use super::capture::segment_key;
use super::db::{Claim, Rec, Seg};
use super::Recorder;
use crate::service::storage::{self, Digested};

/// How many times a finalize waits for storage before the recording is marked failed
/// (with the pause growing to 30 s: about a quarter of an hour).
const STORAGE_TRIES: u32 = 40;

/// Why a finalize stopped.
enum Stop {
    /// Storage or the database: try again later.
    Transient(anyhow::Error),
    /// The segments cannot be made into a file.
    Fatal(anyhow::Error),
    /// The claim was lost.
    Lost,
}

fn transient(e: anyhow::Error) -> Stop {
    Stop::Transient(e)
}

/// Finalize, retrying storage failures; `Err` only when the database is gone.
pub async fn run(r: &Recorder, id: &str, c: &Claim) -> Result<()> {
    let mut tries = 0u32;
    loop {
        let rec = r.recs.get(id).await?.ok_or_else(|| anyhow!("recording {id} is gone"))?;
        let t0 = std::time::Instant::now();
        match attempt(r, &rec, c).await {
            Ok(()) => {
                tracing::info!(secs = t0.elapsed().as_secs_f64(), "recording completed");
                metrics::counter!("stitch_recordings_completed_total").increment(1);
                return Ok(());
            }
            Err(Stop::Lost) => return Ok(()),
            Err(Stop::Fatal(e)) => {
                let msg = format!("{e:#}");
                tracing::error!(error = %msg, "recording failed");
                metrics::counter!("stitch_recordings_failed_total").increment(1);
                r.recs.fail(id, c, &msg).await?;
                return Ok(());
            }
            Err(Stop::Transient(e)) => {
                tries += 1;
                let msg = format!("{e:#}");
                if tries >= STORAGE_TRIES {
                    tracing::error!(error = %msg, tries, "recording failed: storage unavailable");
                    r.recs.fail(id, c, &format!("storage unavailable after {tries} tries: {msg}")).await?;
                    return Ok(());
                }
                tracing::warn!(error = %msg, tries, "finalize waits for storage");
                let _ = r.recs.note_error(id, c, &format!("retrying (try {tries}): {msg}")).await;
                tokio::time::sleep(Duration::from_secs((1u64 << tries.min(5)).min(30))).await;
            }
        }
    }
}

async fn attempt(r: &Recorder, rec: &Rec, c: &Claim) -> Result<(), Stop> {
    let segs = r.recs.segments(&rec.id).await.map_err(transient)?;
    if segs.is_empty() {
        return Err(Stop::Fatal(anyhow!("no segment was captured")));
    }
    let dir = scratch_of(r, &rec.id);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display())).map_err(transient)?;
    let t0 = std::time::Instant::now();
    let files = local_segments(r, rec, &segs, &dir).await?;
    let t_fetch = t0.elapsed().as_secs_f64();
    let out = dir.join(format!("{}.mp4", rec.stream_key));
    let (joined, out2, discs) = (dir.join("joined.ts"), out.clone(), segs.iter().map(|s| s.discontinuity).collect());
    tokio::task::spawn_blocking(move || join_and_remux(&files, discs, &joined, &out2))
        .await
        .map_err(|e| Stop::Fatal(anyhow!(e)))?
        .map_err(Stop::Fatal)?;
    let t_join = t0.elapsed().as_secs_f64() - t_fetch;
    let d = storage::digest_file(&out).await.map_err(transient)?;
    let key = match &rec.file_path {
        // An earlier try chose the key (and may have stored the object): the same one again.
        Some(k) if rec.output_sha256.as_deref() == Some(d.sha256.as_str()) => k.clone(),
        _ => free_key(r, rec).await?,
    };
    if !r.recs.set_output(&rec.id, c, &key, &d.sha256).await.map_err(transient)? {
        return Err(Stop::Lost);
    }
    let t1 = std::time::Instant::now();
    publish(r, &key, &out, &d).await?;
    let t_publish = t1.elapsed().as_secs_f64();
    tracing::info!(fetch_secs = t_fetch, join_remux_secs = t_join, publish_verify_secs = t_publish, key = %key, size = d.size, "recording published");
    let duration = (segs.iter().map(|s| s.duration_ms).sum::<i64>() + 500) / 1000;
    if !r.recs.complete(&rec.id, c, duration, d.size as i64).await.map_err(transient)? {
        return Err(Stop::Lost);
    }
    metrics::counter!("stitch_bytes_out_total").increment(d.size);
    // Published and verified: the segments and the scratch files go.
    for s in &segs {
        if let Ok(k) = segment_key(&rec.id, s.seq) {
            if let Err(e) = r.ctx.storage.delete(&k).await {
                tracing::warn!(error = %format!("{e:#}"), key = %k, "segment not deleted");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The segments as local files: on local storage the stored files themselves; on S3 the
/// copies the capture kept in the scratch folder ([`cache_path`]) when this instance
/// captured them, else downloaded there (8 at a time; kept across tries).
async fn local_segments(r: &Recorder, rec: &Rec, segs: &[Seg], dir: &Path) -> Result<Vec<PathBuf>, Stop> {
    use futures_util::StreamExt;
    let fetch = |s: &Seg| {
        let (s, dir) = (s.clone(), dir.to_path_buf());
        async move {
            let k = segment_key(&rec.id, s.seq).map_err(Stop::Fatal)?;
            let size_ok = |p: &Path| std::fs::metadata(p).map(|m| m.len() as i64 == s.size).unwrap_or(false);
            if let Some(p) = r.ctx.storage.local_path(&k) {
                if size_ok(&p) {
                    return Ok(p);
                }
                return Err(Stop::Fatal(anyhow!("segment {} ({k}) is missing or truncated in storage", s.seq)));
            }
            let p = cache_path(&dir, s.seq);
            if !size_ok(&p) {
                let n = r.ctx.storage.get_to_file(&k, &p).await.map_err(transient)?;
                if n as i64 != s.size {
                    return Err(Stop::Fatal(anyhow!("segment {} ({k}): {n} bytes stored, {} captured", s.seq, s.size)));
                }
            }
            Ok(p)
        }
    };
    let got: Vec<Result<PathBuf, Stop>> = futures_util::stream::iter(segs).map(fetch).buffered(8).collect().await;
    got.into_iter().collect()
}

/// Where a segment's local copy lives: `<scratch>/recordings/<id>/<seq>.ts`.
pub fn cache_path(dir: &Path, seq: i64) -> PathBuf {
    dir.join(format!("{seq:08}.ts"))
}

/// The scratch folder of a recording.
pub fn scratch_of(r: &Recorder, id: &str) -> PathBuf {
    r.ctx.cfg.scratch_dir().join("recordings").join(id)
}

/// The segments through the continuity-fixing joiner into `joined`, then remuxed to `out`.
fn join_and_remux(files: &[PathBuf], discontinuity: Vec<bool>, joined: &Path, out: &Path) -> Result<()> {
    use std::io::Write;
    let f = std::fs::File::create(joined).with_context(|| format!("creating {}", joined.display()))?;
    let mut j = media::remux::tsjoin::TsJoiner::new(std::io::BufWriter::with_capacity(1 << 20, f));
    for (p, disc) in files.iter().zip(discontinuity) {
        let data = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        // Typed errors already name their cause (Display, not an anyhow chain: no repeats).
        j.push_segment(&data, disc).map_err(|e| anyhow!("joining {}: {e}", p.display()))?;
    }
    let mut w = j.finish().map_err(|e| anyhow!("joining the segments: {e}"))?;
    w.flush()?;
    drop(w);
    let _ = std::fs::remove_file(out);
    crate::record::output::remux((joined, media::Container::Ts), None, out, media::Container::Mp4)
        .map_err(|e| anyhow!("remuxing to MP4: {e}"))?;
    let _ = std::fs::remove_file(joined);
    Ok(())
}

/// `recordings/<stream key>.mp4`, or `recordings/<stream key>-<id>.mp4` when an earlier
/// recording of the key holds it: a recording never replaces another.
async fn free_key(r: &Recorder, rec: &Rec) -> Result<String, Stop> {
    let first = storage::key(&["recordings", &format!("{}.mp4", rec.stream_key)]).map_err(|e| Stop::Fatal(e.into()))?;
    if r.ctx.storage.size(&first).await.map_err(transient)?.is_none() {
        return Ok(first.to_string());
    }
    let k = storage::key(&["recordings", &format!("{}-{}.mp4", rec.stream_key, rec.id)])
        .map_err(|e| Stop::Fatal(e.into()))?;
    Ok(k.to_string())
}

async fn publish(r: &Recorder, key: &str, out: &Path, d: &Digested) -> Result<(), Stop> {
    let k = object_store::path::Path::from(key);
    if r.ctx.storage.digest(&k).await.map_err(transient)?.as_ref() == Some(d) {
        return Ok(()); // stored by an earlier try
    }
    r.ctx.storage.publish_file(&k, out, d).await.map_err(transient)
}
