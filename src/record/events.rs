//! Recorder events: `start`, `progress`, `stop`, in the seed recorder's shape
//! `["stop", {...}]`, as JSON lines on stdout (`--events json`) and broadcast to every client
//! of a TCP socket server (`--events-socket HOST:PORT`), in order.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Why a recording stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StopReason {
    Complete,
    Error,
    User,
}

/// Error ids of a `stop` with reason `error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorId {
    Failure,
    DrmProtected,
    Timeout,
    Forbidden,
}

/// One event.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordEvent {
    /// The file may be played from now on (after `--buffering` segments or the first MP4
    /// chunk).
    Start {
        path: String,
        kind: String,
    },
    Progress {
        segments: u64,
        bytes: u64,
        speed_bps: f64,
        recorded_secs: f64,
    },
    Stop {
        reason: StopReason,
        error_id: Option<ErrorId>,
        message: Option<String>,
        path: Option<String>,
    },
}

impl RecordEvent {
    /// `["name", {fields}]`
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            RecordEvent::Start { path, kind } => json!(["start", {"path": path, "type": kind}]),
            RecordEvent::Progress { segments, bytes, speed_bps, recorded_secs } => json!(["progress", {
                "segments": segments, "bytes": bytes, "speed": (speed_bps * 10.0).round() / 10.0,
                "duration": (recorded_secs * 1000.0).round() / 1000.0}]),
            RecordEvent::Stop { reason, error_id, message, path } => {
                let mut m = serde_json::Map::new();
                m.insert("reason".into(), json!(reason));
                if let Some(e) = error_id {
                    m.insert("error_id".into(), json!(e));
                }
                if let Some(msg) = message {
                    m.insert("message".into(), json!(msg));
                }
                if let Some(p) = path {
                    m.insert("path".into(), json!(p));
                }
                json!(["stop", m])
            }
        }
    }
}

/// Where events go. Cheap to clone; thread-safe.
#[derive(Clone, Default)]
pub struct EventSink {
    json_stdout: bool,
    clients: Option<Arc<Mutex<Vec<TcpStream>>>>,
    local_addr: Option<SocketAddr>,
    log: Option<Arc<Mutex<Vec<RecordEvent>>>>,
}

impl EventSink {
    /// No output.
    pub fn none() -> EventSink {
        EventSink::default()
    }

    /// JSON lines on stdout.
    pub fn stdout() -> EventSink {
        EventSink { json_stdout: true, ..Default::default() }
    }

    /// Keep every event in memory too (library users, tests).
    pub fn with_log(mut self) -> EventSink {
        self.log = Some(Arc::new(Mutex::new(Vec::new())));
        self
    }

    /// Also broadcast to every client of a TCP server on `addr` (clients may connect at
    /// any time; each gets the events emitted after it connected).
    pub fn with_socket(mut self, addr: &str) -> std::io::Result<EventSink> {
        let listener = TcpListener::bind(addr)?;
        self.local_addr = listener.local_addr().ok();
        let clients: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let c = clients.clone();
        std::thread::Builder::new().name("events-socket".into()).spawn(move || {
            for s in listener.incoming().flatten() {
                let _ = s.set_nodelay(true);
                c.lock().unwrap_or_else(|e| e.into_inner()).push(s);
            }
        })?;
        self.clients = Some(clients);
        Ok(self)
    }

    /// The socket server's address, when there is one.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Number of connected socket clients.
    pub fn clients(&self) -> usize {
        self.clients.as_ref().map(|c| c.lock().unwrap_or_else(|e| e.into_inner()).len()).unwrap_or(0)
    }

    pub fn emit(&self, ev: &RecordEvent) {
        let line = format!("{}\n", ev.to_json());
        if self.json_stdout {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
        if let Some(c) = &self.clients {
            let mut g = c.lock().unwrap_or_else(|e| e.into_inner());
            g.retain_mut(|s| s.write_all(line.as_bytes()).is_ok());
        }
        if let Some(l) = &self.log {
            l.lock().unwrap_or_else(|e| e.into_inner()).push(ev.clone());
        }
    }

    /// Events emitted so far (only with [`EventSink::with_log`]).
    pub fn logged(&self) -> Vec<RecordEvent> {
        self.log.as_ref().map(|l| l.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    #[test]
    fn seed_shape() {
        let e = RecordEvent::Stop {
            reason: StopReason::Error,
            error_id: Some(ErrorId::DrmProtected),
            message: Some("FairPlay".into()),
            path: None,
        };
        assert_eq!(
            e.to_json().to_string(),
            r#"["stop",{"error_id":"drm_protected","message":"FairPlay","reason":"error"}]"#
        );
        let p = RecordEvent::Progress { segments: 3, bytes: 100, speed_bps: 12.34, recorded_secs: 6.0 };
        assert_eq!(p.to_json()[0], "progress");
    }

    #[test]
    fn socket_clients_get_events_in_order() {
        let sink = EventSink::none().with_socket("127.0.0.1:0").unwrap();
        let addr = sink.socket_addr().unwrap();
        let a = TcpStream::connect(addr).unwrap();
        let b = TcpStream::connect(addr).unwrap();
        let t0 = std::time::Instant::now();
        while sink.clients() < 2 && t0.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for i in 0..50 {
            sink.emit(&RecordEvent::Progress { segments: i, bytes: 0, speed_bps: 0.0, recorded_secs: 0.0 });
        }
        for s in [a, b] {
            let mut r = BufReader::new(s);
            for i in 0..50u64 {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                assert_eq!(v[1]["segments"], i);
            }
        }
    }
}
