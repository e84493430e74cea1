//! The recording service's routes, at the seed's paths and again under `/api/v1`:
//!
//! - `GET /recordings` (newest first), `GET /recording/{id}`: with `--public-read` open, as
//!   the seed serves them; otherwise the API token.
//! - `POST /webhook/stream`: `stream.started` / `stream.ended`. With `--webhook-secret` it
//!   takes the `X-Stitch-Signature` ([`super::signature`]) instead of the API token.
//! - `POST /recording/{id}/retry`: a failed recording finalized again (API token).
//!
//! Errors are the seed's: `{"error": "<message>"}`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::db::Rec;
use super::signature;
use super::wire::parse_webhook;
use crate::service::api::{bearer_ok, AppState};
use crate::service::db::rfc3339;

type St = State<Arc<AppState>>;

/// An error in the seed's shape.
pub struct RecError(StatusCode, String);

impl IntoResponse for RecError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

impl From<anyhow::Error> for RecError {
    fn from(e: anyhow::Error) -> RecError {
        tracing::error!(error = %format!("{e:#}"), "recording request failed");
        RecError(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}"))
    }
}

fn bad(msg: impl Into<String>) -> RecError {
    RecError(StatusCode::BAD_REQUEST, msg.into())
}

/// A recording as the seed shows it (plus `stream_key` and, when it failed, `error`).
#[derive(Serialize, ToSchema)]
pub struct RecordingView {
    id: String,
    stream_id: String,
    video_id: Option<String>,
    /// The object key of the MP4 (`recordings/<stream key>.mp4`) once finalized.
    file_path: Option<String>,
    /// Seconds captured (updated while recording).
    duration: i64,
    /// Bytes captured; the MP4's size once completed.
    file_size: i64,
    /// recording, processing, completed or failed.
    status: String,
    started_at: String,
    completed_at: Option<String>,
    stream_key: String,
    error: Option<String>,
}

impl From<Rec> for RecordingView {
    fn from(r: Rec) -> RecordingView {
        RecordingView {
            id: r.id,
            stream_id: r.stream_id,
            video_id: r.video_id,
            file_path: r.file_path.filter(|_| r.status == "completed" || r.status == "processing"),
            duration: r.duration,
            file_size: r.file_size,
            started_at: rfc3339(r.started_at),
            completed_at: r.completed_at.map(rfc3339),
            stream_key: r.stream_key,
            error: r.error.filter(|_| r.status == "failed" || r.status == "processing"),
            status: r.status,
        }
    }
}

/// The routes, at the seed's paths; [`crate::service::api::router`] mounts them again under `/api/v1`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/recordings", get(list_recordings))
        .route("/recording/{id}", get(get_recording))
        .route("/recording/{id}/retry", post(retry_recording))
        .route("/webhook/stream", post(webhook))
}

fn may_read(s: &AppState, h: &HeaderMap) -> Result<(), RecError> {
    if s.ctx.cfg.recording.public_read || bearer_ok(h, &s.ctx.cfg.api_tokens) {
        Ok(())
    } else {
        Err(RecError(StatusCode::UNAUTHORIZED, "an Authorization: Bearer <token> header is required".into()))
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct Page {
    /// At most 1000 [default: 100].
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Recordings, newest first.
#[utoipa::path(get, path = "/recordings", params(Page), description = "Also at /api/v1/recordings.",
    responses((status = 200, description = "{\"recordings\": [RecordingView]}"), (status = 401)))]
pub async fn list_recordings(State(s): St, h: HeaderMap, Query(q): Query<Page>) -> Result<Json<Value>, RecError> {
    may_read(&s, &h)?;
    let rows = s.recorder.recs.list(q.limit.unwrap_or(100).clamp(1, 1000), q.offset.unwrap_or(0).max(0)).await?;
    Ok(Json(json!({"recordings": rows.into_iter().map(RecordingView::from).collect::<Vec<_>>()})))
}

async fn find(s: &AppState, id: &str) -> Result<Rec, RecError> {
    let not_found = || RecError(StatusCode::NOT_FOUND, "Recording not found".into());
    let id = uuid::Uuid::parse_str(id).map_err(|_| not_found())?.hyphenated().to_string();
    s.recorder.recs.get(&id).await?.ok_or_else(not_found)
}

/// One recording.
#[utoipa::path(get, path = "/recording/{id}", params(("id" = String, Path)), description = "Also at /api/v1/recording/{id}.",
    responses((status = 200, description = "{\"recording\": RecordingView}"), (status = 404), (status = 401)))]
pub async fn get_recording(State(s): St, h: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, RecError> {
    may_read(&s, &h)?;
    Ok(Json(json!({"recording": RecordingView::from(find(&s, &id).await?)})))
}

/// Finalize a failed recording again from its captured segments.
#[utoipa::path(post, path = "/recording/{id}/retry", params(("id" = String, Path)),
    description = "Also at /api/v1/recording/{id}/retry.",
    responses((status = 202), (status = 404), (status = 409, description = "not failed"), (status = 401)),
    security(("bearer" = [])))]
pub async fn retry_recording(State(s): St, h: HeaderMap, Path(id): Path<String>) -> Result<Response, RecError> {
    if !bearer_ok(&h, &s.ctx.cfg.api_tokens) {
        return Err(RecError(StatusCode::UNAUTHORIZED, "an Authorization: Bearer <token> header is required".into()));
    }
    let r = find(&s, &id).await?;
    if !s.recorder.recs.retry(&r.id).await? {
        return Err(RecError(StatusCode::CONFLICT, format!("Recording is {}, not failed", r.status)));
    }
    s.recorder.nudge();
    let r = find(&s, &r.id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"recording": RecordingView::from(r)}))).into_response())
}

/// `stream.started` / `stream.ended` from the stream service.
#[utoipa::path(post, path = "/webhook/stream", description = "Also at /api/v1/webhook/stream. \
    Authenticated by `X-Stitch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>` when a \
    webhook secret is configured, else by the API token. Duplicate deliveries are idempotent.",
    request_body(content = Value, description = "{\"event\":\"stream.started|stream.ended\",\"stream_id\",\"stream_key\",\"user_id\",\"timestamp\"}"),
    responses((status = 200, description = "{\"message\":\"Webhook processed successfully\"}"), (status = 400), (status = 401)))]
pub async fn webhook(State(s): St, h: HeaderMap, body: axum::body::Bytes) -> Result<Json<Value>, RecError> {
    match &s.ctx.cfg.recording.webhook_secret {
        Some(secret) => {
            let sig = h.get("x-stitch-signature").and_then(|v| v.to_str().ok());
            let now = crate::service::db::now_ms() / 1000;
            signature::verify(secret.as_bytes(), sig, &body, now)
                .map_err(|e| RecError(StatusCode::UNAUTHORIZED, e.to_string()))?;
        }
        None if bearer_ok(&h, &s.ctx.cfg.api_tokens) => {}
        None => {
            return Err(RecError(
                StatusCode::UNAUTHORIZED,
                "an Authorization: Bearer <token> header is required (or configure --webhook-secret)".into(),
            ))
        }
    }
    let (event, ev) = parse_webhook(&body).map_err(bad)?;
    if event == "stream.started" {
        if !s.ctx.cfg.recording.has_source() {
            return Err(RecError(StatusCode::SERVICE_UNAVAILABLE, super::NO_SOURCE.into()));
        }
        s.recorder.started(&ev).await?;
    } else {
        s.recorder.ended(&ev.stream_key).await?;
    }
    Ok(Json(json!({"message": "Webhook processed successfully"})))
}
