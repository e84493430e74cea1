//! A fake storage server for tests: axum on 127.0.0.1 (random port) serving in-memory
//! files with HEAD and byte ranges (206 / 416, `Content-Range`), fault injection switches
//! and per-path counters.
//!
//! ```ignore
//! mod fake_server;
//! let srv = fake_server::FakeServer::start(vec![("/a.mp4".into(), bytes)]).await;
//! let url = srv.url("/a.mp4");
//! srv.set_faults(Faults { fail_first: 2, ..Faults::default() });
//! assert_eq!(srv.counters("/a.mp4").gets, 3);
//! ```
#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How a connection is reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResetStyle {
    /// Close the TCP connection (RST) without any response.
    #[default]
    NoResponse,
    /// Send the headers and half the body, then RST.
    MidBody,
}

/// Fault injection switches; all off by default.
#[derive(Clone, Debug)]
pub struct Faults {
    /// Reset connections of requests that arrive while more than K requests are in flight.
    pub reset_above: Option<usize>,
    pub reset_style: ResetStyle,
    /// The first M requests (HEAD or GET) of each path get 503 with `retry_after`.
    pub fail_first: u32,
    /// `Retry-After` value sent with the injected 503s (None: no header).
    pub retry_after: Option<String>,
    /// The first T body-carrying GETs of each path send half of their body, then close.
    pub truncate_first: u32,
    /// Delay before answering each request.
    pub delay: Duration,
    /// Delay before each body chunk (slow transfers).
    pub chunk_delay: Duration,
    /// Body chunk size.
    pub chunk_size: usize,
    /// HEAD answers 405.
    pub no_head: bool,
    /// Ignore `Range` and always answer 200 with the whole file.
    pub ignore_range: bool,
    /// Fixed statuses for some paths (e.g. 403 for an expired link).
    pub status: HashMap<String, u16>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            reset_above: None,
            reset_style: ResetStyle::NoResponse,
            fail_first: 0,
            retry_after: Some("0".into()),
            truncate_first: 0,
            delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            chunk_size: 64 * 1024,
            no_head: false,
            ignore_range: false,
            status: HashMap::new(),
        }
    }
}

/// What the server saw for one path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// All requests, HEAD and GET, including failed and reset ones.
    pub requests: u32,
    pub heads: u32,
    pub gets: u32,
    /// GETs that carried a `Range` header.
    pub range_gets: u32,
    /// GETs answered with the file from byte 0 (200, or 206 starting at 0).
    pub full_gets: u32,
    /// Start offsets of the byte ranges answered with 206, in order.
    pub range_starts: Vec<u64>,
    /// GETs answered with a body (200 or 206).
    pub bodies: u32,
    /// 416 answers.
    pub unsatisfiable: u32,
    /// Body bytes handed to the connection.
    pub bytes_served: u64,
    /// Bodies sent up to the end of the file.
    pub completed_bodies: u32,
    /// Connections reset by `reset_above`.
    pub resets: u32,
    /// Injected 503s.
    pub injected_errors: u32,
    /// GET bodies cut by `truncate_first`.
    pub truncated: u32,
    /// Requests that carried a `Cookie` header (storage must never get credentials).
    pub with_cookie: u32,
}

struct Shared {
    files: Mutex<HashMap<String, Bytes>>,
    faults: Mutex<Faults>,
    counters: Mutex<HashMap<String, Counters>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A running fake server; stops when dropped.
pub struct FakeServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    /// Serves `files` (path beginning with `/`, contents) on 127.0.0.1 at a random port.
    pub async fn start(files: Vec<(String, Vec<u8>)>) -> FakeServer {
        let shared = Arc::new(Shared {
            files: Mutex::new(files.into_iter().map(|(p, b)| (p, Bytes::from(b))).collect()),
            faults: Mutex::new(Faults::default()),
            counters: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(KillListener(listener), app.into_make_service_with_connect_info::<ConnHandle>()).await;
        });
        FakeServer { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn add_file(&self, path: &str, bytes: Vec<u8>) {
        self.shared.files.lock().unwrap().insert(path.to_string(), Bytes::from(bytes));
    }

    pub fn set_faults(&self, f: Faults) {
        *self.shared.faults.lock().unwrap() = f;
    }

    pub fn counters(&self, path: &str) -> Counters {
        self.shared.counters.lock().unwrap().get(path).cloned().unwrap_or_default()
    }

    pub fn all_counters(&self) -> HashMap<String, Counters> {
        self.shared.counters.lock().unwrap().clone()
    }

    pub fn reset_counters(&self) {
        self.shared.counters.lock().unwrap().clear();
        self.shared.max_in_flight.store(0, Ordering::SeqCst);
    }

    /// Most requests in flight at once (from the handler's start to the body's last chunk).
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn total(&self, f: impl Fn(&Counters) -> u64) -> u64 {
        self.shared.counters.lock().unwrap().values().map(f).sum()
    }
}

/// Deterministic pseudo-random bytes (xorshift) from a seed.
pub fn gen_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// FNV-1a 64 of `bytes`.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

// ---- connections that a handler can reset ----

/// Per-connection handle, available to handlers as `ConnectInfo`.
#[derive(Clone, Debug, Default)]
pub struct ConnHandle(Arc<AtomicBool>);

impl ConnHandle {
    /// Makes the connection fail all further I/O and close with RST.
    pub fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn killed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

struct KillListener(TcpListener);

impl Listener for KillListener {
    type Io = KillIo;
    type Addr = ConnHandle;

    async fn accept(&mut self) -> (KillIo, ConnHandle) {
        loop {
            if let Ok((s, _)) = self.0.accept().await {
                let _ = s.set_nodelay(true);
                let h = ConnHandle::default();
                return (KillIo { inner: s, handle: h.clone() }, h);
            }
        }
    }

    fn local_addr(&self) -> io::Result<ConnHandle> {
        Ok(ConnHandle::default())
    }
}

impl Connected<IncomingStream<'_, KillListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, KillListener>) -> Self {
        stream.remote_addr().clone()
    }
}

struct KillIo {
    inner: TcpStream,
    handle: ConnHandle,
}

impl Drop for KillIo {
    fn drop(&mut self) {
        if self.handle.killed() {
            // SO_LINGER 0: the close sends RST instead of FIN.
            let _ = self.inner.set_zero_linger();
        }
    }
}

fn killed_err() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "killed by the fake server")
}

impl AsyncRead for KillIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.handle.killed() {
            return Poll::Ready(Err(killed_err()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.handle.killed() {
            return Poll::Ready(Err(killed_err()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.handle.killed() {
            return Poll::Ready(Err(killed_err()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.handle.killed() {
            return Poll::Ready(Err(killed_err()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// ---- the handler ----

/// Counts a request as in flight until dropped.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn new(s: &Arc<Shared>) -> (InFlight, usize) {
        let n = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.max_in_flight.fetch_max(n, Ordering::SeqCst);
        (InFlight(s.clone()), n)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn count(s: &Shared, path: &str, f: impl FnOnce(&mut Counters)) {
    f(s.counters.lock().unwrap().entry(path.to_string()).or_default())
}

fn plain(status: StatusCode, msg: &str) -> Response {
    Response::builder().status(status).body(Body::from(msg.to_string())).unwrap()
}

fn parse_range(h: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let v = h.get(header::RANGE)?.to_str().ok()?;
    let (a, b) = v.strip_prefix("bytes=")?.split_once('-')?;
    let b = if b.is_empty() { None } else { Some(b.parse().ok()?) };
    Some((a.parse().ok()?, b))
}

async fn handle(
    State(s): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_string();
    let faults = s.faults.lock().unwrap().clone();
    let (guard, n) = InFlight::new(&s);
    let is_head = method == Method::HEAD;
    let mut nth_request = 0;
    let has_cookie = headers.contains_key(header::COOKIE);
    count(&s, &path, |c| {
        c.requests += 1;
        if has_cookie {
            c.with_cookie += 1;
        }
        nth_request = c.requests;
        if is_head {
            c.heads += 1
        } else {
            c.gets += 1;
            if headers.contains_key(header::RANGE) {
                c.range_gets += 1
            }
        }
    });
    let reset = faults.reset_above.is_some_and(|k| n > k);
    if reset && faults.reset_style == ResetStyle::NoResponse {
        count(&s, &path, |c| c.resets += 1);
        conn.kill();
        return plain(StatusCode::OK, "");
    }
    if !faults.delay.is_zero() {
        tokio::time::sleep(faults.delay).await;
    }
    if let Some(code) = faults.status.get(&path) {
        let st = StatusCode::from_u16(*code).unwrap();
        return plain(st, st.canonical_reason().unwrap_or(""));
    }
    let Some(data) = s.files.lock().unwrap().get(&path).cloned() else {
        return plain(StatusCode::NOT_FOUND, "no such file");
    };
    if nth_request <= faults.fail_first {
        count(&s, &path, |c| c.injected_errors += 1);
        let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, "busy");
        if let Some(ra) = &faults.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, ra.parse().unwrap());
        }
        return r;
    }
    let len = data.len() as u64;
    if is_head {
        if faults.no_head {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "no HEAD here");
        }
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, len)
            .header(header::ACCEPT_RANGES, "bytes")
            .body(Body::empty())
            .unwrap();
    }
    let range = if faults.ignore_range { None } else { parse_range(&headers) };
    let (status, first, last) = match range {
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
        Some((a, _)) if a >= len => {
            count(&s, &path, |c| c.unsatisfiable += 1);
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Body::empty())
                .unwrap();
        }
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b.unwrap_or(len - 1).min(len - 1)),
    };
    let body_len = if len == 0 { 0 } else { last + 1 - first };
    let mut truncate = false;
    count(&s, &path, |c| {
        if first == 0 {
            c.full_gets += 1
        }
        if status == StatusCode::PARTIAL_CONTENT {
            c.range_starts.push(first)
        }
        c.bodies += 1;
        if c.bodies <= faults.truncate_first {
            truncate = true;
            c.truncated += 1;
        }
    });
    let cut_at = if truncate || reset { Some(body_len / 2) } else { None };
    if reset {
        count(&s, &path, |c| c.resets += 1);
    }
    let mut b = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, body_len)
        .header(header::ACCEPT_RANGES, "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        b = b.header(header::CONTENT_RANGE, format!("bytes {first}-{last}/{len}"));
    }
    let body = BodyState {
        data,
        pos: first,
        end: first + body_len,
        cut_at: cut_at.map(|c| first + c),
        kill: if reset { Some(conn) } else { None },
        chunk: faults.chunk_size.max(1) as u64,
        delay: faults.chunk_delay,
        guard: Some(guard),
        shared: s.clone(),
        path,
        len,
    };
    let stream = futures_util::stream::unfold(body, |mut b| async move {
        let chunk = b.next().await?;
        Some((chunk, b))
    });
    b.body(Body::from_stream(stream)).unwrap()
}

struct BodyState {
    data: Bytes,
    pos: u64,
    end: u64,
    cut_at: Option<u64>,
    kill: Option<ConnHandle>,
    chunk: u64,
    delay: Duration,
    guard: Option<InFlight>,
    shared: Arc<Shared>,
    path: String,
    len: u64,
}

impl BodyState {
    async fn next(&mut self) -> Option<io::Result<Bytes>> {
        if self.pos >= self.end && self.guard.is_none() {
            return None;
        }
        if let Some(cut) = self.cut_at {
            if self.pos >= cut {
                // Let the connection write out what came before the cut.
                tokio::time::sleep(Duration::from_millis(30)).await;
                self.guard = None;
                self.end = self.pos; // ends the stream after this error
                if let Some(k) = &self.kill {
                    k.kill();
                }
                return Some(Err(io::Error::new(io::ErrorKind::ConnectionAborted, "cut by the fake server")));
            }
        }
        if self.pos >= self.end {
            self.guard = None;
            return None;
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let mut stop = (self.pos + self.chunk).min(self.end);
        if let Some(cut) = self.cut_at {
            stop = stop.min(cut.max(self.pos + 1));
        }
        let bytes = self.data.slice(self.pos as usize..stop as usize);
        self.pos = stop;
        count(&self.shared, &self.path, |c| c.bytes_served += bytes.len() as u64);
        if self.pos >= self.end && self.cut_at.is_none_or(|c| c >= self.end) {
            // Leave the in-flight count before the last bytes go out, so a client that
            // starts its next request on receiving them is not counted twice.
            self.guard = None;
            if self.end == self.len {
                count(&self.shared, &self.path, |c| c.completed_bodies += 1);
            }
        }
        Some(Ok(bytes))
    }
}
