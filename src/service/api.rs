//! The HTTP API of `stitch serve` (axum): `/api/v1` (bearer tokens), `/health` and
//! `/metrics` (open), the OpenAPI document at `/api/openapi.json` (utoipa) and an offline
//! docs page at `/api/docs` rendered from it (no script, no asset fetched at build or run time).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures_util::StreamExt;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{OpenApi, ToSchema};

use super::db::{rfc3339, JobRow, OutputRecord};
use super::jobs::{self, Ctx};
use super::recording::api as rec;
use super::storage::{self, sanitize_name};

pub struct AppState {
    pub ctx: Arc<Ctx>,
    pub metrics: Option<PrometheusHandle>,
    /// The recording service of this instance.
    pub recorder: Arc<super::recording::Recorder>,
}

type St = State<Arc<AppState>>;

/// An error answer: `{"error": {"id", "message"}}`.
pub struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": {"id": self.1, "message": self.2}}))).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        tracing::error!(error = %format!("{e:#}"), "request failed");
        ApiError(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("{e:#}"))
    }
}

#[derive(Serialize, ToSchema)]
pub struct Progress {
    percent: Option<f64>,
    stage: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorInfo {
    id: String,
    message: String,
}

/// A job as the API shows it (secrets in its params replaced).
#[derive(Serialize, ToSchema)]
pub struct JobView {
    id: String,
    kind: String,
    status: String,
    params: Value,
    progress: Progress,
    attempts: i64,
    worker: Option<String>,
    heartbeat_at: Option<String>,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    outputs: Vec<OutputRecord>,
    error: Option<ErrorInfo>,
}

impl From<JobRow> for JobView {
    fn from(j: JobRow) -> JobView {
        JobView {
            params: jobs::redact(&j.params),
            progress: Progress { percent: j.progress_percent, stage: j.progress_stage },
            attempts: j.attempts,
            worker: j.worker,
            heartbeat_at: j.heartbeat_at.map(rfc3339),
            created_at: rfc3339(j.created_at),
            started_at: j.started_at.map(rfc3339),
            finished_at: j.finished_at.map(rfc3339),
            outputs: j.outputs,
            error: match (j.error_id, j.error_message) {
                (Some(id), Some(message)) if j.status != "succeeded" => Some(ErrorInfo { id, message }),
                _ => None,
            },
            id: j.id,
            kind: j.kind,
            status: j.status,
        }
    }
}

/// `POST /api/v1/jobs` body (or an array of them).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submit {
    /// webinar, record or compile.
    kind: String,
    /// The flags of that command (see RecordParams, CompileParams, WebinarParams).
    params: Value,
}

#[derive(Serialize, ToSchema)]
pub struct Submitted {
    id: String,
    status: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    status: Option<String>,
    kind: Option<String>,
    /// At most 500 [default: 50].
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "stitch serve", description = "Archival jobs (webinar, record, compile) on a queue."),
    paths(submit, list, get_job, cancel, events, output, upload, health, metrics_route,
        rec::list_recordings, rec::get_recording, rec::retry_recording, rec::webhook),
    components(schemas(
        Submit, Submitted, JobView, Progress, ErrorInfo, OutputRecord, jobs::RecordParams, jobs::CompileParams,
        jobs::WebinarParams, Uploaded, rec::RecordingView
    )),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

struct Bearer;
impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    let authed = Router::new()
        .route("/jobs", post(submit).get(list))
        .route("/jobs/{id}", get(get_job))
        .route("/jobs/{id}/cancel", post(cancel))
        .route("/jobs/{id}/events", get(events))
        .route("/jobs/{id}/outputs/{name}", get(output))
        .layer(DefaultBodyLimit::max(1 << 20))
        .merge(
            Router::new()
                .route("/inputs/{upload}/{name}", put(upload))
                .layer(DefaultBodyLimit::max(state.ctx.cfg.max_upload.min(usize::MAX as u64) as usize)),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), auth));
    Router::new()
        .nest("/api/v1", authed)
        .merge(rec::routes())
        .nest("/api/v1", rec::routes())
        .route("/health", get(health))
        .route("/api/v1/health", get(health))
        .route("/metrics", get(metrics_route))
        .route("/api/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .route("/api/docs", get(docs))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Constant-time comparison of a presented token with each configured one.
fn token_ok(given: &str, tokens: &[String]) -> bool {
    let mut ok = false;
    for t in tokens {
        let (a, b) = (given.as_bytes(), t.as_bytes());
        let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
        for i in 0..b.len() {
            diff |= a.get(i).copied().unwrap_or(0) ^ b[i];
        }
        ok |= diff == 0;
    }
    ok
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
}

/// The request carries one of the API tokens.
pub fn bearer_ok(headers: &HeaderMap, tokens: &[String]) -> bool {
    bearer(headers).is_some_and(|t| token_ok(t.trim(), tokens))
}

async fn auth(State(s): St, headers: HeaderMap, req: Request, next: Next) -> Response {
    match bearer(&headers) {
        Some(t) if token_ok(t.trim(), &s.ctx.cfg.api_tokens) => next.run(req).await,
        Some(_) => ApiError(StatusCode::UNAUTHORIZED, "unauthorized", "wrong API token".into()).into_response(),
        None => ApiError(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an Authorization: Bearer <token> header is required".into(),
        )
        .into_response(),
    }
}

/// Submit one job or a batch (a JSON array).
#[utoipa::path(post, path = "/api/v1/jobs", request_body = Submit,
    responses((status = 202, body = Submitted), (status = 400, description = "bad params or refused by the SSRF policy"),
              (status = 401)), security(("bearer" = [])))]
async fn submit(State(s): St, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "bad_json", format!("the body is not JSON: {e}")))?;
    let batch = v.is_array();
    let items: Vec<Value> = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut checked = Vec::new();
    for (i, it) in items.into_iter().enumerate() {
        let sub: Submit = serde_json::from_value(it)
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "bad_json", format!("job {i}: {e}")))?;
        let params = jobs::validate(&sub.kind, &sub.params, &s.ctx.cfg.allow_hosts).await.map_err(|e| {
            ApiError(StatusCode::BAD_REQUEST, e.id(), if batch { format!("job {i}: {e}") } else { e.to_string() })
        })?;
        checked.push((sub.kind, params));
    }
    let mut out = Vec::new();
    for (kind, params) in checked {
        let id = uuid::Uuid::new_v4().to_string();
        s.ctx.db.insert(&id, &kind, &params, s.ctx.cfg.max_attempts as i64).await?;
        s.ctx.queue.push(&id, None).await?;
        s.ctx.wake_workers();
        tracing::info!(job_id = %id, kind = %kind, "job queued");
        metrics::counter!("stitch_jobs_submitted_total", "kind" => kind).increment(1);
        out.push(Submitted { id, status: "queued".into() });
    }
    Ok((StatusCode::ACCEPTED, if batch { Json(json!(out)) } else { Json(json!(out.pop())) }).into_response())
}

/// Jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", params(ListQuery),
    responses((status = 200, body = [JobView]), (status = 401)), security(("bearer" = [])))]
async fn list(State(s): St, Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let rows = s
        .ctx
        .db
        .list(q.status.as_deref(), q.kind.as_deref(), q.limit.unwrap_or(50).clamp(1, 500), q.offset.unwrap_or(0).max(0))
        .await?;
    Ok(Json(json!({"jobs": rows.into_iter().map(JobView::from).collect::<Vec<_>>()})))
}

async fn job(s: &AppState, id: &str) -> Result<JobRow, ApiError> {
    s.ctx.db.get(id).await?.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "not_found", format!("no job {id}")))
}

/// One job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404), (status = 401)), security(("bearer" = [])))]
async fn get_job(State(s): St, Path(id): Path<String>) -> Result<Json<JobView>, ApiError> {
    Ok(Json(job(&s, &id).await?.into()))
}

/// Cancel: a queued job at once, a running one within a second or two.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", params(("id" = String, Path)),
    responses((status = 202, body = JobView), (status = 404), (status = 401)), security(("bearer" = [])))]
async fn cancel(State(s): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    job(&s, &id).await?;
    s.ctx.db.request_cancel(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(JobView::from(job(&s, &id).await?))).into_response())
}

/// Server-sent events: `progress` and `state` (the job view), until the job is finished.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/event-stream"), (status = 404), (status = 401)), security(("bearer" = [])))]
async fn events(State(s): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    job(&s, &id).await?;
    let st = s.clone();
    let stream =
        futures_util::stream::unfold((st, id, None::<(String, String)>, false), |(st, id, last, done)| async move {
            if done {
                return None;
            }
            loop {
                let j = match st.ctx.db.get(&id).await {
                    Ok(Some(j)) => j,
                    _ => return None,
                };
                let state_key = j.status.clone();
                let prog_key = format!("{:?}{:?}", j.progress_percent, j.progress_stage);
                let changed = last.as_ref().map(|(a, b)| (a != &state_key, b != &prog_key));
                let finished = matches!(j.status.as_str(), "succeeded" | "failed" | "cancelled");
                let name = match changed {
                    None | Some((true, _)) => Some("state"),
                    Some((false, true)) => Some("progress"),
                    _ => None,
                };
                if let Some(name) = name {
                    let data = serde_json::to_string(&JobView::from(j)).unwrap_or_default();
                    let ev = Event::default().event(name).data(data);
                    return Some((Ok::<_, Infallible>(ev), (st, id, Some((state_key, prog_key)), finished)));
                }
                if finished {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// An output: a presigned redirect on S3, the bytes on local storage.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/outputs/{name}", params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream"), (status = 307), (status = 404), (status = 401)),
    security(("bearer" = [])))]
async fn output(State(s): St, Path((id, name)): Path<(String, String)>) -> Result<Response, ApiError> {
    let j = job(&s, &id).await?;
    let bad = |e: storage::BadName| ApiError(StatusCode::BAD_REQUEST, "bad_name", e.0);
    let name = sanitize_name(&name).map_err(bad)?;
    if !j.outputs.iter().any(|o| o.name == name) || j.status != "succeeded" {
        return Err(ApiError(StatusCode::NOT_FOUND, "not_found", format!("job {id} has no output {name}")));
    }
    let k = storage::key(&["jobs", &id, &name]).map_err(bad)?;
    if let Some(url) = s.ctx.storage.presign(&k, 900).await? {
        return Ok(Redirect::temporary(&url).into_response());
    }
    let Some((size, stream)) = s.ctx.storage.stream(&k).await? else {
        return Err(ApiError(StatusCode::NOT_FOUND, "not_found", format!("{k} is missing from storage")));
    };
    metrics::counter!("stitch_bytes_out_total").increment(size);
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, size)
        .body(Body::from_stream(stream.map(|r| r.map_err(std::io::Error::other))))
        .map_err(|e| anyhow::anyhow!(e))?)
}

#[derive(Serialize, ToSchema)]
pub struct Uploaded {
    key: String,
    size: u64,
    sha256: String,
}

/// Upload an input (a flow and its clips share one `upload` name) for compile jobs.
#[utoipa::path(put, path = "/api/v1/inputs/{upload}/{name}", params(("upload" = String, Path), ("name" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Uploaded), (status = 400), (status = 401), (status = 413)), security(("bearer" = [])))]
async fn upload(State(s): St, Path((up, name)): Path<(String, String)>, body: Body) -> Result<Response, ApiError> {
    let k = storage::key(&["inputs", &up, &name]).map_err(|e| ApiError(StatusCode::BAD_REQUEST, "bad_name", e.0))?;
    let tmp_dir = s.ctx.cfg.scratch_dir().join("uploads");
    std::fs::create_dir_all(&tmp_dir).map_err(anyhow::Error::from)?;
    let tmp = tmp_dir.join(uuid::Uuid::new_v4().to_string());
    let mut f = tokio::fs::File::create(&tmp).await.map_err(anyhow::Error::from)?;
    let mut stream = body.into_data_stream();
    use tokio::io::AsyncWriteExt;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(ApiError(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("upload refused: {e}")));
            }
        };
        f.write_all(&chunk).await.map_err(anyhow::Error::from)?;
    }
    f.flush().await.map_err(anyhow::Error::from)?;
    drop(f);
    let r = s.ctx.storage.put_file(&k, &tmp).await;
    let _ = tokio::fs::remove_file(&tmp).await;
    let d = r?;
    metrics::counter!("stitch_bytes_in_total").increment(d.size);
    Ok((StatusCode::CREATED, Json(Uploaded { key: k.to_string(), size: d.size, sha256: d.sha256 })).into_response())
}

/// Database and storage checked, in the recording service's words:
/// `{"status":"healthy","service":"recording-service"}`, or 503 with the checks.
#[utoipa::path(get, path = "/health", description = "Also at /api/v1/health.", responses((status = 200), (status = 503)))]
async fn health(State(s): St) -> Response {
    let db = match tokio::time::timeout(Duration::from_secs(5), s.ctx.db.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => format!("{e:#}"),
        Err(_) => "timed out".into(),
    };
    let st = match tokio::time::timeout(Duration::from_secs(5), s.ctx.storage.check()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => format!("{e:#}"),
        Err(_) => "timed out".into(),
    };
    if db == "ok" && st == "ok" {
        return Json(json!({"status": "healthy", "service": "recording-service"})).into_response();
    }
    let checks = json!({"database": db, "storage": st});
    let body = json!({"status": "unhealthy", "service": "recording-service", "checks": checks});
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// Prometheus metrics: jobs by state and kind, queue depth, durations, bytes, heartbeats;
/// recordings by status and segments captured.
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain")))]
async fn metrics_route(State(s): St) -> Response {
    if let Ok(counts) = s.ctx.db.counts().await {
        for st in ["queued", "running", "succeeded", "failed", "cancelled"] {
            for k in ["webinar", "record", "compile"] {
                let n = counts.iter().find(|c| c.0 == st && c.1 == k).map(|c| c.2).unwrap_or(0);
                metrics::gauge!("stitch_jobs", "status" => st, "kind" => k).set(n as f64);
            }
        }
    }
    if let Ok(counts) = s.recorder.recs.counts().await {
        for st in ["recording", "processing", "completed", "failed"] {
            let n = counts.iter().find(|c| c.0 == st).map(|c| c.1).unwrap_or(0);
            metrics::gauge!("stitch_recordings", "status" => st).set(n as f64);
        }
    }
    if let Ok(n) = s.ctx.db.queue_depth().await {
        metrics::gauge!("stitch_queue_depth").set(n as f64);
    }
    let body = s.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The docs page: every route of the OpenAPI document, then the document itself.
async fn docs() -> Html<String> {
    let doc = ApiDoc::openapi();
    let v = serde_json::to_value(&doc).unwrap_or_default();
    let mut rows = String::new();
    if let Some(paths) = v.get("paths").and_then(|p| p.as_object()) {
        for (path, ops) in paths {
            for (method, op) in ops.as_object().into_iter().flatten() {
                let summary = op.get("summary").or(op.get("description")).and_then(|s| s.as_str()).unwrap_or("");
                rows.push_str(&format!(
                    "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>\n",
                    esc(&method.to_uppercase()),
                    esc(path),
                    esc(summary)
                ));
            }
        }
    }
    let pretty = serde_json::to_string_pretty(&v).unwrap_or_default();
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>stitch serve API</title><style>body{{font-family:sans-serif;\
         margin:2em}}td{{padding:.2em .8em;border-bottom:1px solid #ddd}}pre{{background:#f6f6f6;padding:1em}}</style>\
         </head><body><h1>stitch serve API</h1><p>Every <code>/api/v1</code> route takes <code>Authorization: Bearer \
         TOKEN</code>. Machine-readable: <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p><table>{rows}</table>\
         <h2>OpenAPI document</h2><pre>{}</pre></body></html>",
        esc(&pretty)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        let t = vec!["abc".to_string(), "secret-2".to_string()];
        assert!(token_ok("abc", &t) && token_ok("secret-2", &t));
        for bad in ["", "ab", "abcd", "ABC", "secret-", "secret-22"] {
            assert!(!token_ok(bad, &t), "{bad}");
        }
    }

    /// Every `.route(PATH, METHOD(handler)...)` of [`router`] (read from this file, so a
    /// route added there without its `#[utoipa::path]` fails here), with the `/api/v1`
    /// prefix of the nested routes; the document's own routes left out.
    fn routes_of_router() -> Vec<(String, String)> {
        let mut out = Vec::new();
        // The recording service's routes, documented at the seed's paths.
        for (src, start) in
            [(include_str!("api.rs"), "pub fn router("), (include_str!("recording/api.rs"), "pub fn routes(")]
        {
            routes_in(src, start, &mut out);
        }
        out
    }

    fn routes_in(src: &str, start: &str, out: &mut Vec<(String, String)>) {
        let body = &src[src.find(start).unwrap()..];
        let body = &body[..body.find("\n}\n").unwrap()];
        for line in body.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
            let path = line[8..].split('"').next().unwrap();
            if path.starts_with("/api/") {
                continue;
            }
            let full = if path.starts_with("/jobs") || path.starts_with("/inputs") {
                format!("/api/v1{path}")
            } else {
                path.to_string()
            };
            let rest = &line[8 + path.len()..];
            for m in ["get", "post", "put", "delete", "patch"] {
                if rest.contains(&format!(" {m}(")) || rest.contains(&format!(".{m}(")) {
                    out.push((full.clone(), m.to_string()));
                }
            }
        }
    }

    #[test]
    fn openapi_lists_every_route() {
        let v = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let paths = v["paths"].as_object().unwrap();
        let routes = routes_of_router();
        assert!(routes.len() >= 13, "{routes:?}");
        for (p, m) in &routes {
            assert!(paths.get(p).and_then(|o| o.get(m)).is_some(), "{m} {p} is routed but not in the OpenAPI document");
        }
        for (p, ops) in paths {
            for m in ops.as_object().unwrap().keys() {
                assert!(routes.contains(&(p.clone(), m.clone())), "{m} {p} is documented but not routed");
            }
        }
        assert!(v["openapi"].as_str().unwrap().starts_with("3."));
        assert!(v["components"]["schemas"]["JobView"].is_object());
    }
}
