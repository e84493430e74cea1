//! The `recordings` and `recording_segments` rows (migration
//! `20261205000001_recordings.sql`), on the service database through sqlx's `Any` driver.
//!
//! Every write of a capture or a finalize is fenced by the claim that started it
//! (`holder` and `lease_epoch`): an instance that lost its lease can neither add a segment
//! nor publish, whatever it still believes.

use anyhow::Result;
use sqlx::{AnyPool, Row};

use crate::service::db::now_ms;

/// A recording row.
#[derive(Debug, Clone)]
pub struct Rec {
    pub id: String,
    pub stream_id: String,
    pub video_id: Option<String>,
    pub file_path: Option<String>,
    pub duration: i64,
    pub file_size: i64,
    pub status: String,
    pub started_at: i64,
    pub completed_at: Option<i64>,
    pub stream_key: String,
    pub user_id: Option<String>,
    pub ended_at: Option<i64>,
    pub finalizing: bool,
    pub holder: Option<String>,
    pub lease_epoch: i64,
    pub segments: i64,
    pub duration_ms: i64,
    pub missed: i64,
    pub output_sha256: Option<String>,
    pub error: Option<String>,
}

const COLS: &str = "id, stream_id, video_id, file_path, duration, file_size, status, started_at, completed_at, \
                    stream_key, user_id, ended_at, finalizing, holder, lease_epoch, segments, duration_ms, missed, \
                    output_sha256, error";

fn rec(r: &sqlx::any::AnyRow) -> Result<Rec> {
    Ok(Rec {
        id: r.try_get("id")?,
        stream_id: r.try_get("stream_id")?,
        video_id: r.try_get("video_id")?,
        file_path: r.try_get("file_path")?,
        duration: r.try_get("duration")?,
        file_size: r.try_get("file_size")?,
        status: r.try_get("status")?,
        started_at: r.try_get("started_at")?,
        completed_at: r.try_get("completed_at")?,
        stream_key: r.try_get("stream_key")?,
        user_id: r.try_get("user_id")?,
        ended_at: r.try_get("ended_at")?,
        finalizing: r.try_get::<i64, _>("finalizing")? != 0,
        holder: r.try_get("holder")?,
        lease_epoch: r.try_get("lease_epoch")?,
        segments: r.try_get("segments")?,
        duration_ms: r.try_get("duration_ms")?,
        missed: r.try_get("missed")?,
        output_sha256: r.try_get("output_sha256")?,
        error: r.try_get("error")?,
    })
}

/// One captured segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg {
    pub seq: i64,
    pub media_seq: i64,
    pub duration_ms: i64,
    pub size: i64,
    pub discontinuity: bool,
}

fn seg(r: &sqlx::any::AnyRow) -> Result<Seg> {
    Ok(Seg {
        seq: r.try_get("seq")?,
        media_seq: r.try_get("media_seq")?,
        duration_ms: r.try_get("duration_ms")?,
        size: r.try_get("size")?,
        discontinuity: r.try_get::<i64, _>("discontinuity")? != 0,
    })
}

/// A claim: who holds the recording and the fencing token of that claim.
#[derive(Debug, Clone)]
pub struct Claim {
    pub holder: String,
    pub epoch: i64,
}

/// The recordings of one database.
#[derive(Clone)]
pub struct Recordings {
    pub pool: AnyPool,
}

impl Recordings {
    /// A new live recording of `stream_key`; false when one is already live (the unique
    /// index `recordings_one_live`), so duplicate deliveries make one recording.
    pub async fn insert(&self, id: &str, stream_id: &str, stream_key: &str, user_id: Option<&str>) -> Result<bool> {
        let now = now_ms();
        let r = sqlx::query(
            "INSERT INTO recordings (id, stream_id, status, started_at, created_at, updated_at, stream_key, user_id) \
             VALUES ($1, $2, 'recording', $3, $3, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(stream_id)
        .bind(now)
        .bind(stream_key)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Rec>> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM recordings WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(rec).transpose()
    }

    /// Newest first.
    pub async fn list(&self, limit: i64, offset: i64) -> Result<Vec<Rec>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM recordings ORDER BY started_at DESC, id LIMIT $1 OFFSET $2"
        )))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rec).collect()
    }

    /// Recordings by status, for the metrics.
    pub async fn counts(&self) -> Result<Vec<(String, i64)>> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM recordings GROUP BY status").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("status")?, r.try_get("n")?))).collect()
    }

    /// Recordings in `status`.
    pub async fn with_status(&self, status: &str) -> Result<Vec<Rec>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM recordings WHERE status = $1")))
            .bind(status)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rec).collect()
    }

    /// The live recording of `stream_key`.
    pub async fn live_of(&self, stream_key: &str) -> Result<Option<Rec>> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM recordings WHERE stream_key = $1 AND status = 'recording'"
        )))
        .bind(stream_key)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(rec).transpose()
    }

    /// A `stream.started` within the grace window after the end of `stream_key`: its latest
    /// recording not yet being joined goes on. Returns its id.
    pub async fn resume_within_grace(&self, stream_key: &str, ended_since: i64) -> Result<Option<String>> {
        let r = sqlx::query(
            "UPDATE recordings SET status = 'recording', ended_at = NULL, updated_at = $3 WHERE id = (SELECT id FROM \
             recordings WHERE stream_key = $1 AND status = 'processing' AND finalizing = 0 AND ended_at >= $2 ORDER \
             BY started_at DESC LIMIT 1) AND status = 'processing' AND finalizing = 0 RETURNING id",
        )
        .bind(stream_key)
        .bind(ended_since)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => Some(r.try_get("id")?),
            None => None,
        })
    }

    /// The end of `stream_key` (webhook or monitor): its live recording goes to `processing`.
    pub async fn end_stream(&self, stream_key: &str) -> Result<Option<String>> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE recordings SET status = 'processing', ended_at = $2, updated_at = $2 WHERE stream_key = $1 AND \
             status = 'recording' RETURNING id",
        )
        .bind(stream_key)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => Some(r.try_get("id")?),
            None => None,
        })
    }

    /// The end found by the capture itself (`EXT-X-ENDLIST`, the playlist gone), fenced.
    pub async fn end_by_capture(&self, id: &str, c: &Claim) -> Result<bool> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE recordings SET status = 'processing', ended_at = COALESCE(ended_at, $4), updated_at = $4 WHERE id \
             = $1 AND holder = $2 AND lease_epoch = $3 AND status IN ('recording', 'processing')",
        )
        .bind(id)
        .bind(&c.holder)
        .bind(c.epoch)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Recordings to capture or finalize that nobody holds (no holder, an expired lease, or
    /// this instance's own from before a restart).
    pub async fn claimable(&self, me: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM recordings WHERE status IN ('recording', 'processing') AND (holder IS NULL OR holder = $1 \
             OR lease_until IS NULL OR lease_until < $2) ORDER BY started_at",
        )
        .bind(me)
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// Take a recording for `lease_ms`; the returned claim fences every later write.
    pub async fn claim(&self, id: &str, me: &str, lease_ms: i64) -> Result<Option<Claim>> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE recordings SET holder = $2, lease_until = $3, lease_epoch = lease_epoch + 1 WHERE id = $1 AND \
             status IN ('recording', 'processing') AND (holder IS NULL OR holder = $2 OR lease_until IS NULL OR \
             lease_until < $4) RETURNING lease_epoch",
        )
        .bind(id)
        .bind(me)
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => Some(Claim { holder: me.to_string(), epoch: r.try_get("lease_epoch")? }),
            None => None,
        })
    }

    /// Renew every lease this instance holds.
    pub async fn renew(&self, me: &str, lease_ms: i64) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE recordings SET lease_until = $2 WHERE holder = $1 AND status IN ('recording', 'processing')",
        )
        .bind(me)
        .bind(now_ms() + lease_ms)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// On a clean shutdown: the leases go at once, another instance takes over.
    pub async fn release_all(&self, me: &str) -> Result<()> {
        sqlx::query("UPDATE recordings SET holder = NULL, lease_until = NULL WHERE holder = $1")
            .bind(me)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The segments captured so far, in order.
    pub async fn segments(&self, id: &str) -> Result<Vec<Seg>> {
        let rows = sqlx::query(
            "SELECT seq, media_seq, duration_ms, size, discontinuity FROM recording_segments WHERE recording_id = $1 \
             ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(seg).collect()
    }

    /// The last segment captured.
    pub async fn last_segment(&self, id: &str) -> Result<Option<Seg>> {
        let r = sqlx::query(
            "SELECT seq, media_seq, duration_ms, size, discontinuity FROM recording_segments WHERE recording_id = $1 \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(seg).transpose()
    }

    /// Record a segment stored under its key, and the recording's running totals, in one
    /// transaction, fenced by the claim. False: the claim was lost (nothing written).
    pub async fn add_segment(&self, id: &str, c: &Claim, s: &Seg, missed: i64) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "UPDATE recordings SET segments = segments + 1, duration_ms = duration_ms + $4, file_size = file_size + \
             $5, duration = (duration_ms + $4) / 1000, missed = missed + $6, updated_at = $7 WHERE id = $1 AND holder \
             = $2 AND lease_epoch = $3 AND status IN ('recording', 'processing') AND finalizing = 0",
        )
        .bind(id)
        .bind(&c.holder)
        .bind(c.epoch)
        .bind(s.duration_ms)
        .bind(s.size)
        .bind(missed)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO recording_segments (recording_id, seq, media_seq, duration_ms, size, discontinuity, \
             fetched_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(s.seq)
        .bind(s.media_seq)
        .bind(s.duration_ms)
        .bind(s.size)
        .bind(i64::from(s.discontinuity))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The join begins once the grace window after the end has passed: from here on a
    /// `stream.started` makes a new recording.
    pub async fn begin_finalize(&self, id: &str, c: &Claim, ended_before: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE recordings SET finalizing = 1, updated_at = $5 WHERE id = $1 AND holder = $2 AND lease_epoch = $3 \
             AND status = 'processing' AND ended_at IS NOT NULL AND ended_at <= $4",
        )
        .bind(id)
        .bind(&c.holder)
        .bind(c.epoch)
        .bind(ended_before)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The final key and checksum, recorded before the upload (a retried finalize publishes
    /// under the same key, never a second copy).
    pub async fn set_output(&self, id: &str, c: &Claim, key: &str, sha256: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE recordings SET file_path = $4, output_sha256 = $5, updated_at = $6 WHERE id = $1 AND holder = $2 \
             AND lease_epoch = $3 AND status = 'processing'",
        )
        .bind(id)
        .bind(&c.holder)
        .bind(c.epoch)
        .bind(key)
        .bind(sha256)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn complete(&self, id: &str, c: &Claim, duration: i64, size: i64) -> Result<bool> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE recordings SET status = 'completed', duration = $4, file_size = $5, completed_at = $6, \
             updated_at = $6, error = NULL, holder = NULL, lease_until = NULL WHERE id = $1 AND holder = $2 AND \
             lease_epoch = $3 AND status = 'processing'",
        )
        .bind(id)
        .bind(&c.holder)
        .bind(c.epoch)
        .bind(duration)
        .bind(size)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// A problem worth showing while the work goes on (a finalize waiting for storage).
    pub async fn note_error(&self, id: &str, c: &Claim, error: &str) -> Result<()> {
        sqlx::query("UPDATE recordings SET error = NULLIF($4, '') WHERE id = $1 AND holder = $2 AND lease_epoch = $3")
            .bind(id)
            .bind(&c.holder)
            .bind(c.epoch)
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn fail(&self, id: &str, c: &Claim, error: &str) -> Result<bool> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE recordings SET status = 'failed', error = $4, ended_at = COALESCE(ended_at, $5), updated_at = $5, \
             holder = NULL, lease_until = NULL WHERE id = $1 AND holder = $2 AND lease_epoch = $3 AND status IN \
             ('recording', 'processing')",
        )
        .bind(id)
        .bind(&c.holder)
        .bind(c.epoch)
        .bind(error)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// `POST /recording/{id}/retry`: a failed recording is finalized again from its segments.
    pub async fn retry(&self, id: &str) -> Result<bool> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE recordings SET status = 'processing', error = NULL, holder = NULL, lease_until = NULL, ended_at \
             = COALESCE(ended_at, $2), finalizing = 1, updated_at = $2 WHERE id = $1 AND status = 'failed'",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}
