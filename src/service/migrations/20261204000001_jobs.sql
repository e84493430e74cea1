-- The job records of `stitch serve` (src/service/db.rs). Portable SQL: the same file runs
-- on SQLite and PostgreSQL (times are unix milliseconds, JSON is TEXT).
CREATE TABLE IF NOT EXISTS stitch_jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    progress_percent DOUBLE PRECISION,
    progress_stage TEXT,
    worker TEXT,
    heartbeat_at BIGINT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    outputs TEXT NOT NULL DEFAULT '[]',
    error_id TEXT,
    error_message TEXT
);
CREATE INDEX IF NOT EXISTS stitch_jobs_status_kind ON stitch_jobs (status, kind);
CREATE INDEX IF NOT EXISTS stitch_jobs_created ON stitch_jobs (created_at);
