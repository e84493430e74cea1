//! The service database: job records in `stitch_jobs` (one migration set,
//! `src/service/migrations/`, run on SQLite and PostgreSQL through sqlx's `Any` driver),
//! and beside them the queue tables of the job engine (apalis-sqlite / apalis-postgres,
//! their own migrations and migration table).

use std::str::FromStr;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

/// The concrete pool the job engine runs on.
#[derive(Clone)]
pub enum EnginePool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

#[derive(Clone)]
pub struct Db {
    pub any: AnyPool,
    pub engine: EnginePool,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// RFC 3339 (UTC, milliseconds) of unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    crate::record::iso8601(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64))
}

/// One output of a job, as published.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct OutputRecord {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// A job row.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub params: serde_json::Value,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub progress_percent: Option<f64>,
    pub progress_stage: Option<String>,
    pub worker: Option<String>,
    pub heartbeat_at: Option<i64>,
    pub cancel_requested: bool,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub outputs: Vec<OutputRecord>,
    pub error_id: Option<String>,
    pub error_message: Option<String>,
}

const COLUMNS: &str = "id, kind, params, status, attempts, max_attempts, progress_percent, progress_stage, worker, \
                       heartbeat_at, cancel_requested, created_at, started_at, finished_at, outputs, error_id, \
                       error_message";

fn row(r: &sqlx::any::AnyRow) -> Result<JobRow> {
    let params: String = r.try_get("params")?;
    let outputs: String = r.try_get("outputs")?;
    Ok(JobRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        max_attempts: r.try_get("max_attempts")?,
        progress_percent: r.try_get("progress_percent")?,
        progress_stage: r.try_get("progress_stage")?,
        worker: r.try_get("worker")?,
        heartbeat_at: r.try_get("heartbeat_at")?,
        cancel_requested: r.try_get::<i64, _>("cancel_requested")? != 0,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        outputs: serde_json::from_str(&outputs).unwrap_or_default(),
        error_id: r.try_get("error_id")?,
        error_message: r.try_get("error_message")?,
    })
}

impl Db {
    /// Connect (creating an SQLite file and its folder when needed) and migrate.
    pub async fn open(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(std::time::Duration::from_secs(10))
                .connect(url)
                .await
                .context("connecting to PostgreSQL")?;
            apalis_postgres::PostgresStorage::<()>::setup(&pool)
                .await
                .context("job engine tables (apalis-postgres)")?;
            EnginePool::Postgres(pool)
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(std::time::Duration::from_secs(30));
            let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(4).connect_with(opts).await?;
            apalis_sqlite::SqliteStorage::setup(&pool).await.context("job engine tables (apalis-sqlite)")?;
            EnginePool::Sqlite(pool)
        } else {
            anyhow::bail!("--database {url:?}: expected sqlite://FILE or postgres://...");
        };
        let any_url = match &engine {
            EnginePool::Sqlite(_) => {
                if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                }
            }
            EnginePool::Postgres(_) => url.to_string(),
        };
        let any = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        sqlx::query("PRAGMA busy_timeout = 30000").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&any_url)
            .await
            .context("connecting to the database")?;
        let mut m = sqlx::migrate!("src/service/migrations");
        m.dangerous_set_table_name("stitch_migrations");
        m.run(&any).await.context("migrating the stitch tables")?;
        Ok(Db { any, engine })
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.any).await?;
        Ok(())
    }

    pub async fn insert(&self, id: &str, kind: &str, params: &serde_json::Value, max_attempts: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO stitch_jobs (id, kind, params, status, max_attempts, created_at) VALUES ($1, $2, $3, \
             'queued', $4, $5)",
        )
        .bind(id)
        .bind(kind)
        .bind(params.to_string())
        .bind(max_attempts)
        .bind(now_ms())
        .execute(&self.any)
        .await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<JobRow>> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM stitch_jobs WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.any)
            .await?;
        r.as_ref().map(row).transpose()
    }

    pub async fn list(&self, status: Option<&str>, kind: Option<&str>, limit: i64, offset: i64) -> Result<Vec<JobRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM stitch_jobs WHERE ($1 = '' OR status = $1) AND ($2 = '' OR kind = $2) ORDER BY \
             created_at DESC, id LIMIT $3 OFFSET $4"
        )))
        .bind(status.unwrap_or(""))
        .bind(kind.unwrap_or(""))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.any)
        .await?;
        rows.iter().map(row).collect()
    }

    /// Jobs by (status, kind), for the metrics.
    pub async fn counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query("SELECT status, kind, COUNT(*) AS n FROM stitch_jobs GROUP BY status, kind")
            .fetch_all(&self.any)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("status")?, r.try_get("kind")?, r.try_get("n")?))).collect()
    }

    /// Take the job for a run: `running`, attempts + 1, when it is queued or its last run's
    /// heartbeat is older than `lease_ms` (a lease). Returns the new attempt number (the
    /// fencing token of every later write of this run), or None when the job is finished or
    /// a live run holds it.
    pub async fn claim(&self, id: &str, worker: &str, lease_ms: i64) -> Result<Option<i64>> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE stitch_jobs SET status = 'running', attempts = attempts + 1, worker = $2, heartbeat_at = $3, \
             started_at = COALESCE(started_at, $3), progress_stage = 'starting' WHERE id = $1 AND (status = 'queued' \
             OR (status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < $4))) RETURNING attempts",
        )
        .bind(id)
        .bind(worker)
        .bind(now)
        .bind(now - lease_ms)
        .fetch_optional(&self.any)
        .await?;
        Ok(match r {
            Some(r) => Some(r.try_get("attempts")?),
            None => None,
        })
    }

    /// Heartbeat and progress of a run; returns whether cancellation was asked for, or None
    /// when the run lost the job (another attempt took it).
    pub async fn beat(&self, id: &str, token: i64, percent: Option<f64>, stage: &str) -> Result<Option<bool>> {
        let r = sqlx::query(
            "UPDATE stitch_jobs SET heartbeat_at = $3, progress_percent = COALESCE($4, progress_percent), \
             progress_stage = $5 WHERE id = $1 AND attempts = $2 AND status = 'running' RETURNING cancel_requested",
        )
        .bind(id)
        .bind(token)
        .bind(now_ms())
        .bind(percent)
        .bind(stage)
        .fetch_optional(&self.any)
        .await?;
        Ok(match r {
            Some(r) => Some(r.try_get::<i64, _>("cancel_requested")? != 0),
            None => None,
        })
    }

    /// Record the outputs about to be published (fenced by the attempt). False: the run
    /// lost the job and must publish nothing.
    pub async fn fence_outputs(&self, id: &str, token: i64, outputs: &[OutputRecord]) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE stitch_jobs SET outputs = $3, progress_stage = 'publishing' WHERE id = $1 AND attempts = $2 AND \
             status = 'running'",
        )
        .bind(id)
        .bind(token)
        .bind(serde_json::to_string(outputs)?)
        .execute(&self.any)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// End a run: `succeeded`, `failed`, `cancelled`, or back to `queued` for a retry.
    pub async fn finish(
        &self,
        id: &str,
        token: Option<i64>,
        status: &str,
        error: Option<(&str, &str)>,
    ) -> Result<bool> {
        let finished = if status == "queued" { None } else { Some(now_ms()) };
        let percent = if status == "succeeded" { Some(100.0) } else { None };
        let r = sqlx::query(
            "UPDATE stitch_jobs SET status = $2, finished_at = $3, error_id = $4, error_message = $5, \
             progress_percent = COALESCE($6, progress_percent), progress_stage = $2, worker = CASE WHEN $2 = 'queued' \
             THEN NULL ELSE worker END WHERE id = $1 AND ($7 < 0 OR attempts = $7) AND status IN ('queued', \
             'running')",
        )
        .bind(id)
        .bind(status)
        .bind(finished)
        .bind(error.map(|e| e.0))
        .bind(error.map(|e| e.1))
        .bind(percent)
        .bind(token.unwrap_or(-1))
        .execute(&self.any)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// A queued job's last run does not count against its attempts (it failed for want of
    /// the database or storage, not by its own fault).
    pub async fn refund_attempt(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE stitch_jobs SET max_attempts = max_attempts + 1 WHERE id = $1 AND status = 'queued'")
            .bind(id)
            .execute(&self.any)
            .await?;
        Ok(())
    }

    /// Ask for cancellation: a queued job is cancelled at once, a running one by its worker.
    pub async fn request_cancel(&self, id: &str) -> Result<Option<String>> {
        sqlx::query("UPDATE stitch_jobs SET cancel_requested = 1 WHERE id = $1 AND status IN ('queued', 'running')")
            .bind(id)
            .execute(&self.any)
            .await?;
        sqlx::query(
            "UPDATE stitch_jobs SET status = 'cancelled', finished_at = $2, progress_stage = 'cancelled' WHERE id = \
             $1 AND status = 'queued'",
        )
        .bind(id)
        .bind(now_ms())
        .execute(&self.any)
        .await?;
        Ok(self.get(id).await?.map(|j| j.status))
    }

    /// Jobs marked running whose worker has been silent for `stale_ms` (for reconciliation).
    pub async fn stale_running(&self, stale_ms: i64) -> Result<Vec<JobRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM stitch_jobs WHERE status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < \
             $1)"
        )))
        .bind(now_ms() - stale_ms)
        .fetch_all(&self.any)
        .await?;
        rows.iter().map(row).collect()
    }

    /// Queued jobs, for the metrics.
    pub async fn queue_depth(&self) -> Result<i64> {
        let r =
            sqlx::query("SELECT COUNT(*) AS n FROM stitch_jobs WHERE status = 'queued'").fetch_one(&self.any).await?;
        Ok(r.try_get("n")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_unix_ms() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_796_428_800_000), "2026-12-05T00:00:00.000Z");
    }

    #[tokio::test]
    async fn sqlite_job_lifecycle_is_fenced_by_attempt() {
        let dir = std::env::temp_dir().join(format!("stitch-db-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = Db::open(&format!("sqlite://{}", dir.join("t.db").display())).await.unwrap();
        db.insert("j1", "record", &serde_json::json!({"url": "http://x/"}), 3).await.unwrap();
        let t1 = db.claim("j1", "w1", 60_000).await.unwrap().unwrap();
        // A live run holds the lease; once its heartbeat is older than the lease, another takes it.
        assert_eq!(db.claim("j1", "w2", 60_000).await.unwrap(), None);
        let t2 = db.claim("j1", "w2", -1).await.unwrap().unwrap();
        assert_eq!((t1, t2), (1, 2));
        // The first run lost the job: its heartbeat and its publish are refused.
        assert_eq!(db.beat("j1", t1, Some(10.0), "x").await.unwrap(), None);
        assert!(!db.fence_outputs("j1", t1, &[]).await.unwrap());
        assert_eq!(db.beat("j1", t2, Some(50.0), "recording").await.unwrap(), Some(false));
        let out = OutputRecord { name: "a.ts".into(), size: 3, sha256: "ab".into() };
        assert!(db.fence_outputs("j1", t2, &[out.clone()]).await.unwrap());
        assert!(db.finish("j1", Some(t2), "succeeded", None).await.unwrap());
        assert!(db.claim("j1", "w3", -1).await.unwrap().is_none());
        let j = db.get("j1").await.unwrap().unwrap();
        assert_eq!((j.status.as_str(), j.outputs, j.progress_percent), ("succeeded", vec![out], Some(100.0)));
        db.insert("j2", "compile", &serde_json::json!({}), 3).await.unwrap();
        assert_eq!(db.request_cancel("j2").await.unwrap().as_deref(), Some("cancelled"));
        assert_eq!(db.list(Some("succeeded"), None, 10, 0).await.unwrap().len(), 1);
        assert_eq!(db.list(None, Some("compile"), 10, 0).await.unwrap()[0].id, "j2");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
