//! The end of a recording: its segments joined into one MPEG-TS by the recorder's joiner
//! (continuity counters, PCR/PTS/DTS made continuous across discontinuities: ISO/IEC
//! 13818-1 §2.4.3), remuxed to a faststart MP4 (ISO/IEC 14496-12, `moov` before `mdat`) by
//! `media::remux`, then published under `recordings/<stream key>.mp4`: the key and the
//! checksum are recorded first, the object is stored whole or not at all and read back, and
//! only then is the recording `completed` and are its segments deleted.
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
    let dir = r.ctx.cfg.scratch_dir().join("recordings").join(&rec.id);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display())).map_err(transient)?;
    let files = local_segments(r, rec, &segs, &dir).await?;
    let out = dir.join(format!("{}.mp4", rec.stream_key));
    let (joined, out2, discs) = (dir.join("joined.ts"), out.clone(), segs.iter().map(|s| s.discontinuity).collect());
    tokio::task::spawn_blocking(move || join_and_remux(&files, discs, &joined, &out2))
        .await
        .map_err(|e| Stop::Fatal(anyhow!(e)))?
        .map_err(Stop::Fatal)?;
    let d = storage::digest_file(&out).await.map_err(transient)?;
    let key = match &rec.file_path {
        // An earlier try chose the key (and may have stored the object): the same one again.
        Some(k) if rec.output_sha256.as_deref() == Some(d.sha256.as_str()) => k.clone(),
        _ => free_key(r, rec).await?,
    };
    if !r.recs.set_output(&rec.id, c, &key, &d.sha256).await.map_err(transient)? {
        return Err(Stop::Lost);
    }
    publish(r, &key, &out, &d).await?;
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

/// The segments as local files: on local storage the stored files themselves, else
/// downloaded into the scratch folder (kept across tries).
async fn local_segments(r: &Recorder, rec: &Rec, segs: &[Seg], dir: &Path) -> Result<Vec<PathBuf>, Stop> {
    let mut files = Vec::with_capacity(segs.len());
    for s in segs {
        let k = segment_key(&rec.id, s.seq).map_err(Stop::Fatal)?;
        if let Some(p) = r.ctx.storage.local_path(&k) {
            if std::fs::metadata(&p).map(|m| m.len() as i64 == s.size).unwrap_or(false) {
                files.push(p);
                continue;
            }
            return Err(Stop::Fatal(anyhow!("segment {} ({k}) is missing or truncated in storage", s.seq)));
        }
        let p = dir.join(format!("{:08}.ts", s.seq));
        if std::fs::metadata(&p).map(|m| m.len() as i64 != s.size).unwrap_or(true) {
            let n = r.ctx.storage.get_to_file(&k, &p).await.map_err(transient)?;
            if n as i64 != s.size {
                return Err(Stop::Fatal(anyhow!("segment {} ({k}): {n} bytes stored, {} captured", s.seq, s.size)));
            }
        }
        files.push(p);
    }
    Ok(files)
}

/// The segments through the continuity-fixing joiner into `joined`, then remuxed to `out`.
fn join_and_remux(files: &[PathBuf], discontinuity: Vec<bool>, joined: &Path, out: &Path) -> Result<()> {
    use std::io::Write;
    let f = std::fs::File::create(joined).with_context(|| format!("creating {}", joined.display()))?;
    let mut j = media::remux::tsjoin::TsJoiner::new(std::io::BufWriter::with_capacity(1 << 20, f));
    for (p, disc) in files.iter().zip(discontinuity) {
        let data = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        j.push_segment(&data, disc).with_context(|| format!("joining {}", p.display()))?;
    }
    let mut w = j.finish().context("joining the segments")?;
    w.flush()?;
    drop(w);
    let _ = std::fs::remove_file(out);
    crate::record::output::remux((joined, media::Container::Ts), None, out, media::Container::Mp4)
        .context("remuxing to MP4")?;
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
