-- The recording service (src/service/recording/): the seed's `recordings` table (uuid id,
-- status check, indexes on stream_id, status and video_id) with the columns of the capture
-- beside it, and the segments captured so far. Portable SQL (SQLite and PostgreSQL): ids are
-- uuid strings, times unix milliseconds.
CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY CHECK (length(id) = 36),
    stream_id TEXT NOT NULL,
    video_id TEXT,
    file_path TEXT,
    duration BIGINT NOT NULL DEFAULT 0,
    file_size BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('recording', 'processing', 'completed', 'failed')),
    started_at BIGINT NOT NULL,
    completed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    stream_key TEXT NOT NULL,
    user_id TEXT,
    -- When the end was asked for (webhook, monitor or playlist); NULL while live.
    ended_at BIGINT,
    -- 1 once the join began: a stream.started can no longer continue this recording.
    finalizing BIGINT NOT NULL DEFAULT 0,
    -- The instance capturing or finalizing it, until when, and the fencing token of its claim.
    holder TEXT,
    lease_until BIGINT,
    lease_epoch BIGINT NOT NULL DEFAULT 0,
    segments BIGINT NOT NULL DEFAULT 0,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    -- Segments the origin dropped out of its window before they were fetched.
    missed BIGINT NOT NULL DEFAULT 0,
    output_sha256 TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS recordings_stream_id ON recordings (stream_id);
CREATE INDEX IF NOT EXISTS recordings_status ON recordings (status);
CREATE INDEX IF NOT EXISTS recordings_video_id ON recordings (video_id);
CREATE INDEX IF NOT EXISTS recordings_started ON recordings (started_at);
-- One live recording per stream key.
CREATE UNIQUE INDEX IF NOT EXISTS recordings_one_live ON recordings (stream_key) WHERE status = 'recording';

CREATE TABLE IF NOT EXISTS recording_segments (
    recording_id TEXT NOT NULL,
    -- This recording's own order (0, 1, ...); media_seq is the origin's EXT-X-MEDIA-SEQUENCE
    -- number, which restarts when the source reconnects.
    seq BIGINT NOT NULL,
    media_seq BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    size BIGINT NOT NULL,
    discontinuity BIGINT NOT NULL DEFAULT 0,
    fetched_at BIGINT NOT NULL,
    PRIMARY KEY (recording_id, seq)
);
