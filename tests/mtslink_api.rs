//! The MTS Link API client against a fake server on 127.0.0.1 (random port): record and
//! quick-meeting routes, event expansion, access errors, and where the cookie goes.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use stitch::mtslink::{build_plan, parse_link, ApiClient, ApiError, ApiOptions, Link};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Ok,
    /// `{"error":{"code":403,...}}` with HTTP 200.
    Private200,
    /// The same body with HTTP 403.
    Private403,
    Unauthorized,
    NotFound,
    /// Private unless the right sessionId cookie arrives.
    NeedsCookie,
}

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: Option<String>,
    cookie: Option<String>,
    referer: Option<String>,
    user_agent: Option<String>,
}

#[derive(Clone)]
struct AppState {
    mode: Mode,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn record_json(sid: &str) -> Value {
    json!({"name": format!("Record {sid}"), "duration": 30.0, "eventLogs": [
        {"module": "mediasession.add", "relativeTime": 1.0,
         "data": {"id": 1, "url": "https://events-storage.webinar.ru/api-storage/files/wowza/2024/01/01/a.mp4",
                  "stream": {"conference": {"id": 5, "user": {"id": 9, "nickname": "Lecturer"}}}}},
        {"module": "mediasession.update", "relativeTime": 20.0, "data": {"id": 1, "duration": 19.0}}]})
}

fn answer(st: &AppState, headers: &HeaderMap, path: String, query: Option<String>, ok: Value) -> Response {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let cookie = header("cookie");
    st.seen.lock().unwrap().push(Seen {
        path,
        query,
        cookie: cookie.clone(),
        referer: header("referer"),
        user_agent: header("user-agent"),
    });
    let denied = json!({"error": {"code": 403, "message": "Access denied"}});
    match st.mode {
        Mode::Ok => Json(ok).into_response(),
        Mode::Private200 => Json(denied).into_response(),
        Mode::Private403 => (StatusCode::FORBIDDEN, Json(denied)).into_response(),
        Mode::Unauthorized => {
            (StatusCode::UNAUTHORIZED, Json(json!({"error": {"code": 401, "message": "Unauthorized"}}))).into_response()
        }
        Mode::NotFound => (StatusCode::NOT_FOUND, "not found").into_response(),
        Mode::NeedsCookie => {
            if cookie.as_deref().is_some_and(|c| c.split("; ").any(|kv| kv == "sessionId=GOOD")) {
                Json(ok).into_response()
            } else {
                Json(denied).into_response()
            }
        }
    }
}

async fn flow(
    State(st): State<AppState>,
    Path((sid, fid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let _ = fid;
    answer(&st, &headers, "flow".into(), q, record_json(&sid))
}

async fn record(
    State(st): State<AppState>,
    Path(sid): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    answer(&st, &headers, "record".into(), q, record_json(&sid))
}

async fn event(
    State(st): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let _ = id;
    let ok = json!({"id": 1, "eventSessions": [
        {"id": 111, "name": "Day 1", "status": "STOP"},
        {"id": "222", "name": "Day 2", "status": "STOP"},
        {"name": "no id"}]});
    answer(&st, &headers, "event".into(), q, ok)
}

/// Start a server in `mode`; returns its base URL and the request log.
async fn server(mode: Mode) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/api/event-sessions/{sid}/record-files/{fid}/flow", get(flow))
        .route("/api/eventsessions/{sid}/record", get(record))
        .route("/api/event/{id}", get(event))
        .with_state(AppState { mode, seen: seen.clone() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), seen)
}

fn client(base: &str, session_id: Option<&str>) -> ApiClient {
    ApiClient::new(ApiOptions {
        api_host: Some(base.to_string()),
        session_id: session_id.map(str::to_string),
        ..Default::default()
    })
    .unwrap()
}

const RECORD: &str = "https://my.mts-link.ru/j/Org/room/record-new/42/record-file/43?utm_source=x";

#[tokio::test]
async fn fetch_ok_sends_cookie_to_api_route() {
    let (base, seen) = server(Mode::Ok).await;
    let api = client(&base, Some("S3CRET"));
    let link = parse_link(RECORD).unwrap();
    let (json, host) = api.fetch_record(&link).await.unwrap();
    assert_eq!(json["name"], "Record 42");
    assert_eq!(host, base.trim_start_matches("http://"));
    let plan = build_plan(&json).unwrap();
    assert_eq!(plan.clips.len(), 1);
    assert_eq!(plan.clips[0].duration, Some(19.0));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "flow");
    assert_eq!(seen[0].cookie.as_deref(), Some("sessionId=S3CRET"));
    assert!(seen[0].query.as_deref().unwrap().contains("withoutCuts=false"));
    assert_eq!(seen[0].referer.as_deref(), Some("https://my.mts-link.ru/"));
    assert!(seen[0].user_agent.as_deref().unwrap().starts_with("Mozilla/5.0"));
}

#[tokio::test]
async fn quick_meeting_token_and_password() {
    let (base, seen) = server(Mode::Ok).await;
    let api = ApiClient::new(ApiOptions {
        api_host: Some(base.clone()),
        password: Some("p@ss word".into()),
        ..Default::default()
    })
    .unwrap();
    let link = parse_link("https://hse.mts-link.ru/1/2/record-new/77/0123456789abcdef0123456789abcdef").unwrap();
    let (json, _) = api.fetch_record(&link).await.unwrap();
    assert_eq!(json["name"], "Record 77");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].path, "record");
    let q = seen[0].query.clone().unwrap();
    assert!(q.contains("recordAccessToken=0123456789abcdef0123456789abcdef"), "{q}");
    assert!(q.contains("password=p%40ss+word"), "{q}");
    // No credentials configured: no Cookie header at all.
    assert_eq!(seen[0].cookie, None);
}

#[tokio::test]
async fn cookies_file_reaches_the_api() {
    let (base, seen) = server(Mode::NeedsCookie).await;
    let dir = std::env::temp_dir().join(format!("stitch-mtslink-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cookies = dir.join("cookies.txt");
    std::fs::write(
        &cookies,
        "# Netscape HTTP Cookie File\n#HttpOnly_.mts-link.ru\tTRUE\t/\tTRUE\t0\tsessionId\tGOOD\n.example.com\tTRUE\t/\tFALSE\t0\tother\tx\n",
    )
    .unwrap();
    let api = ApiClient::new(ApiOptions {
        api_host: Some(base.clone()),
        cookies_file: Some(cookies),
        debug_dir: Some(dir.clone()),
        ..Default::default()
    })
    .unwrap();
    let (json, _) = api.fetch_record(&parse_link(RECORD).unwrap()).await.unwrap();
    assert_eq!(json["name"], "Record 42");
    assert_eq!(seen.lock().unwrap()[0].cookie.as_deref(), Some("sessionId=GOOD"));
    // The raw answer is kept beside the output.
    let saved = std::fs::read(dir.join("Record 42.flow.json")).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&saved).unwrap(), json);
    let _ = std::fs::remove_dir_all(&dir);

    // Without the cookie the same server says private.
    let e = client(&base, Some("BAD")).fetch_record(&parse_link(RECORD).unwrap()).await.unwrap_err();
    assert!(matches!(e, ApiError::Private { .. }), "{e}");
}

async fn error_of(mode: Mode, link: &str) -> ApiError {
    let (base, _) = server(mode).await;
    client(&base, None).fetch_record(&parse_link(link).unwrap()).await.unwrap_err()
}

#[tokio::test]
async fn private_in_json_with_http_200() {
    let e = error_of(Mode::Private200, RECORD).await.to_string();
    assert!(
        e.starts_with("this record is private: pass --session-id (the sessionId cookie from your browser) or --cookies cookies.txt"),
        "{e}"
    );
    assert!(e.contains("Access denied"), "{e}");
}

#[tokio::test]
async fn private_with_http_403() {
    let e = error_of(Mode::Private403, "https://my.mts-link.ru/1/2/record-new/5").await;
    assert!(matches!(e, ApiError::Private { .. }));
    assert!(e.to_string().starts_with("this record is private: pass --session-id"), "{e}");
}

#[tokio::test]
async fn unauthorized_401() {
    let e = error_of(Mode::Unauthorized, RECORD).await;
    assert!(matches!(e, ApiError::Unauthorized { .. }));
    let s = e.to_string();
    assert!(s.contains("(401)") && s.contains("--session-id") && s.contains("--password"), "{s}");
}

#[tokio::test]
async fn not_found_404() {
    let e = error_of(Mode::NotFound, RECORD).await;
    assert_eq!(e.to_string(), "record not found (404): check the link");
}

#[tokio::test]
async fn event_expansion() {
    let (base, seen) = server(Mode::Ok).await;
    let api = client(&base, Some("S"));
    let link = parse_link("https://hse.mts-link.ru/j/21462290/13201551527").unwrap();
    let Link::Event { host, event_id } = &link else { panic!("{link:?}") };
    let sessions = api.expand_event(host, event_id).await.unwrap();
    let want: Vec<Link> = ["111", "222"]
        .iter()
        .map(|s| Link::Record {
            host: "hse.mts-link.ru".into(),
            session_id: s.to_string(),
            record_file_id: None,
            access_token: None,
        })
        .collect();
    assert_eq!(sessions, want);
    assert_eq!(api.records_of(&link).await.unwrap(), want);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].path, "event");
    assert_eq!(seen[0].cookie.as_deref(), Some("sessionId=S"));

    // Each session is then fetched through the quick-meeting route.
    let (json, _) = api.fetch_record(&sessions[1]).await.unwrap();
    assert_eq!(json["name"], "Record 222");

    // An event link is not a record.
    assert!(matches!(api.fetch_record(&link).await, Err(ApiError::EventLink(_))));
    // A missing event.
    let (base404, _) = server(Mode::NotFound).await;
    let e = client(&base404, None).expand_event("my.mts-link.ru", "1").await.unwrap_err();
    assert_eq!(e.to_string(), "event not found (404): check the link");
}
