//! The layer against a scripted loopback server (axum on 127.0.0.1): retries with
//! `Retry-After`, bounded backoff, resume after a cut, `Content-Range` and size checks, timeouts.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode};

use super::*;
use crate::download::{DownloadError, DownloadEvent, DownloadItem, DownloadOptions, Downloader};

/// One scripted answer.
#[derive(Clone)]
enum Reply {
    /// A status with no body, with optional `Retry-After`.
    Status(u16, Option<&'static str>),
    /// `status`, headers, the body; `cut`: send only that many bytes, then break the connection.
    Body { status: u16, headers: Vec<(&'static str, String)>, body: Vec<u8>, cut: Option<usize> },
    /// Wait this long before answering 200 with an empty body.
    Slow(Duration),
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    /// The `Range` header of each request, in order.
    ranges: Mutex<Vec<Option<String>>>,
    /// When each request arrived.
    times: Mutex<Vec<Instant>>,
}

async fn answer(State(s): State<Arc<Script>>, headers: HeaderMap) -> Response<Body> {
    s.ranges.lock().unwrap().push(headers.get("range").map(|v| v.to_str().unwrap().to_string()));
    s.times.lock().unwrap().push(Instant::now());
    let reply = s.replies.lock().unwrap().pop_front().unwrap_or(Reply::Status(500, None));
    let mut r = Response::builder();
    match reply {
        Reply::Status(code, retry_after) => {
            r = r.status(code);
            if let Some(v) = retry_after {
                r = r.header("retry-after", v);
            }
            r.body(Body::empty()).unwrap()
        }
        Reply::Body { status, headers, body, cut } => {
            r = r.status(status).header("content-length", body.len().to_string());
            for (k, v) in headers {
                r = r.header(k, v);
            }
            match cut {
                None => r.body(Body::from(body)).unwrap(),
                Some(n) => {
                    // The first `n` bytes, a pause (so they reach the client), then a broken stream.
                    let first = Bytes::from(body[..n].to_vec());
                    let chunks = futures_util::stream::unfold(0, move |i| {
                        let first = first.clone();
                        async move {
                            match i {
                                0 => Some((Ok(first), 1)),
                                1 => {
                                    tokio::time::sleep(Duration::from_millis(200)).await;
                                    Some((Err(std::io::Error::other("cut")), 2))
                                }
                                _ => None,
                            }
                        }
                    });
                    r.body(Body::from_stream(chunks)).unwrap()
                }
            }
        }
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            r.status(StatusCode::OK).body(Body::empty()).unwrap()
        }
    }
}

/// A server answering with `replies` in order (then 500); returns its base URL.
async fn serve(replies: Vec<Reply>) -> (String, Arc<Script>) {
    let script = Arc::new(Script { replies: Mutex::new(replies.into()), ..Default::default() });
    let app = axum::Router::new().fallback(answer).with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/f.bin"), script)
}

/// A fresh folder, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `f.bin` in a fresh folder (kept while the guard lives).
fn temp(name: &str) -> (TempDir, PathBuf) {
    let d = std::env::temp_dir().join(format!("stitch-http-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let dest = d.join("f.bin");
    (TempDir(d), dest)
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn ok(body: &[u8]) -> Reply {
    Reply::Body { status: 200, headers: vec![], body: body.to_vec(), cut: None }
}

fn partial(all: &[u8], from: usize) -> Reply {
    let cr = format!("bytes {from}-{}/{}", all.len() - 1, all.len());
    Reply::Body { status: 206, headers: vec![("content-range", cr)], body: all[from..].to_vec(), cut: None }
}

struct Quiet;
impl Observer for Quiet {}

fn client(read_timeout: Duration) -> reqwest::Client {
    ClientConfig { read_timeout, ..Default::default() }.build().unwrap()
}

async fn attempt(c: &reqwest::Client, url: &str, t: &mut Target) -> Result<u64, FetchError> {
    let req = |m: reqwest::Method| c.request(m, url);
    t.attempt(&req, None, &mut Quiet).await
}

#[tokio::test]
async fn resume_after_a_cut_mid_body_sends_range_and_checks_content_range() {
    let all = data(100_000);
    let cut = Reply::Body { status: 200, headers: vec![], body: all.clone(), cut: Some(30_000) };
    let (url, script) = serve(vec![cut, partial(&all, 30_000)]).await;
    let (_dir, dest) = temp("resume");
    let c = client(Duration::from_secs(5));
    let mut t = Target::new(&dest, None, false);
    let e = attempt(&c, &url, &mut t).await.unwrap_err();
    assert!(e.to_string().starts_with("body interrupted after 30000 bytes"), "{e}");
    assert!(e.retry().is_some());
    assert_eq!(std::fs::metadata(&t.part).unwrap().len(), 30_000);
    assert!(!dest.exists());
    assert_eq!(attempt(&c, &url, &mut t).await.unwrap(), 100_000);
    assert_eq!(std::fs::read(&dest).unwrap(), all);
    assert!(!t.part.exists());
    assert_eq!(*script.ranges.lock().unwrap(), vec![None, Some("bytes=30000-".to_string())]);
}

#[tokio::test]
async fn a_full_200_to_a_range_request_restarts_cleanly() {
    let all = data(50_000);
    let (url, script) = serve(vec![ok(&all)]).await;
    let (_dir, dest) = temp("full200");
    std::fs::write(part_path(&dest), vec![0xEEu8; 20_000]).unwrap();
    let mut t = Target::new(&dest, None, false);
    assert_eq!(attempt(&client(Duration::from_secs(5)), &url, &mut t).await.unwrap(), 50_000);
    assert_eq!(std::fs::read(&dest).unwrap(), all);
    assert_eq!(script.ranges.lock().unwrap()[0].as_deref(), Some("bytes=20000-"));
}

#[tokio::test]
async fn a_206_from_elsewhere_resets_the_part() {
    let all = data(10_000);
    let (url, _) = serve(vec![partial(&all, 0), partial(&all, 4_000)]).await;
    let (_dir, dest) = temp("cr");
    std::fs::write(part_path(&dest), &all[..4_000]).unwrap();
    let c = client(Duration::from_secs(5));
    let mut t = Target::new(&dest, None, false);
    let e = attempt(&c, &url, &mut t).await.unwrap_err();
    assert!(matches!(e, FetchError::Restart(_)), "{e}");
    assert_eq!(e.retry().unwrap().1, Some(Duration::ZERO));
    assert_eq!(std::fs::metadata(&t.part).unwrap().len(), 0);
    // Next attempt from 0: the server's 206 from 4000 is refused too; from 0 works.
    let e = attempt(&c, &url, &mut t).await.unwrap_err();
    assert!(e.to_string().contains("asked for bytes from 0, the server sent from 4000"), "{e}");
}

#[tokio::test]
async fn a_size_mismatch_is_an_error_and_leaves_no_file() {
    let all = data(1_000);
    let (url, _) = serve(vec![ok(&all), ok(&all)]).await;
    let (_dir, dest) = temp("size");
    let c = client(Duration::from_secs(5));
    let mut t = Target::new(&dest, Some(1_001), false);
    let e = attempt(&c, &url, &mut t).await.unwrap_err();
    assert!(matches!(e, FetchError::SizeMismatch { expected: 1_001, actual: 1_000 }), "{e}");
    assert!(e.retry().is_none());
    assert!(!dest.exists());
    // A body longer than its Content-Range says is refused as well.
    let cr = "bytes 0-99/100".to_string();
    let long = Reply::Body { status: 206, headers: vec![("content-range", cr)], body: data(100), cut: None };
    let (url, _) = serve(vec![long]).await;
    std::fs::write(part_path(&dest), b"").unwrap();
    let mut t = Target::new(&dest, Some(100), false);
    assert_eq!(attempt(&c, &url, &mut t).await.unwrap(), 100);
}

#[tokio::test]
async fn a_416_with_the_part_complete_commits() {
    let all = data(2_000);
    let r416 =
        Reply::Body { status: 416, headers: vec![("content-range", "bytes */2000".into())], body: vec![], cut: None };
    let (url, _) = serve(vec![r416]).await;
    let (_dir, dest) = temp("416");
    std::fs::write(part_path(&dest), &all).unwrap();
    let mut t = Target::new(&dest, None, false);
    assert_eq!(attempt(&client(Duration::from_secs(5)), &url, &mut t).await.unwrap(), 2_000);
    assert_eq!(std::fs::read(&dest).unwrap(), all);
}

#[tokio::test]
async fn every_request_times_out() {
    let (url, _) = serve(vec![Reply::Slow(Duration::from_secs(3))]).await;
    let (_dir, dest) = temp("timeout");
    let c = client(Duration::from_millis(300));
    let t0 = Instant::now();
    let e = attempt(&c, &url, &mut Target::new(&dest, None, false)).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(e.is_timeout() && e.to_string() == "timed out", "{e}");
}

fn options(retries: u32, base_ms: u64, cap_ms: u64) -> DownloadOptions {
    DownloadOptions {
        retries,
        backoff_base: Duration::from_millis(base_ms),
        backoff_cap: Duration::from_millis(cap_ms),
        ..Default::default()
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let all = data(5_000);
    let (url, script) = serve(vec![Reply::Status(503, Some("1")), ok(&all)]).await;
    let (_dir, dest) = temp("retry-after");
    let dl = Downloader::new(options(3, 10, 20)).unwrap();
    let delays = Mutex::new(Vec::new());
    let item = DownloadItem { url, dest: dest.clone(), expected_size: None };
    let r = dl
        .run(vec![item], |e| {
            if let DownloadEvent::Retrying { delay, reason, .. } = e {
                delays.lock().unwrap().push((*delay, reason.clone()));
            }
        })
        .await;
    assert_eq!(r[0].as_ref().unwrap().bytes, 5_000);
    assert_eq!(*delays.lock().unwrap(), vec![(Duration::from_secs(1), "503 Service Unavailable".to_string())]);
    let times = script.times.lock().unwrap();
    let gap = times[1] - times[0];
    assert!(gap >= Duration::from_secs(1) && gap < Duration::from_millis(1_500), "{gap:?}");
}

#[tokio::test]
async fn backoff_is_bounded_and_the_budget_counted() {
    let (url, script) = serve(vec![Reply::Status(500, None); 8]).await;
    let (_dir, dest) = temp("backoff");
    let dl = Downloader::new(options(5, 40, 80)).unwrap();
    let item = DownloadItem { url, dest, expected_size: None };
    let t0 = Instant::now();
    let r = dl.run(vec![item], |_| {}).await;
    let elapsed = t0.elapsed();
    match &r[0] {
        Err(DownloadError::RetriesExhausted { attempts: 6, last, .. }) => assert_eq!(last, "500 Internal Server Error"),
        other => panic!("{other:?}"),
    }
    // 6 requests; waits: 20-40, 40-80, then 40-80 (capped) x3 ms.
    let times = script.times.lock().unwrap();
    assert_eq!(times.len(), 6);
    for (i, w) in times.windows(2).enumerate() {
        let top = Duration::from_millis((40u64 << i).min(80));
        let gap = w[1] - w[0];
        assert!(gap >= top / 2 && gap < top + Duration::from_millis(60), "wait {i}: {gap:?}");
    }
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn content_range_parsing() {
    use fetch::parse_content_range_str;
    assert_eq!(
        parse_content_range_str("bytes 10-19/100"),
        Some(ContentRange::Bytes { first: 10, last: 19, complete: Some(100) })
    );
    assert_eq!(parse_content_range_str("bytes 0-0/*"), Some(ContentRange::Bytes { first: 0, last: 0, complete: None }));
    assert_eq!(parse_content_range_str("bytes */77"), Some(ContentRange::Unsatisfied { complete: 77 }));
    assert_eq!(parse_content_range_str("bytes 5-4/10"), None);
    assert_eq!(parse_content_range_str("bytes 5-10/10"), None);
    assert_eq!(parse_content_range_str("items 0-1/2"), None);
    assert_eq!(parse_content_range_str("bytes 1-2/x"), None);
}

#[test]
fn part_path_appends() {
    assert_eq!(part_path(std::path::Path::new("/a/b/c.mp4")), PathBuf::from("/a/b/c.mp4.part"));
}

#[test]
fn bad_headers_and_proxies_are_typed_errors() {
    let bad = |h: (&str, &str)| ClientConfig { headers: vec![(h.0.into(), h.1.into())], ..Default::default() }.build();
    assert!(matches!(bad(("a b", "1")), Err(ConfigError::HeaderName { .. })));
    assert!(matches!(bad(("a", "x\ny")), Err(ConfigError::HeaderValue { .. })));
    let net = crate::net::NetOptions { proxy: Some("::".into()), limit_rate: None };
    assert!(matches!(ClientConfig { net, ..Default::default() }.build(), Err(ConfigError::Proxy(_))));
}

#[tokio::test]
async fn limit_rate_paces_the_body() {
    let all = data(60_000);
    let (url, _) = serve(vec![ok(&all)]).await;
    let (_dir, dest) = temp("rate");
    let c = client(Duration::from_secs(5));
    let limiter = crate::net::RateLimiter::new(30_000);
    let req = |m: reqwest::Method| c.request(m, url.as_str());
    let t0 = Instant::now();
    let n = Target::new(&dest, None, false).attempt(&req, Some(&limiter), &mut Quiet).await.unwrap();
    // One second of burst (30 kB), then 30 kB at 30 kB/s.
    assert_eq!(n, 60_000);
    assert!(t0.elapsed() >= Duration::from_millis(900), "{:?}", t0.elapsed());
}
