//! Recorder events: `start`, `progress`, `stop`, in the seed recorder's shape
//! `["stop", {...}]`, as JSON lines on stdout (`--events json`) and broadcast to every client
//! of a TCP socket server (`--events-socket HOST:PORT`), in order.
//!
//! Every event has `time`, its emission time in ISO 8601 / RFC 3339 UTC with milliseconds
//! (`2026-12-04T18:40:00.123Z`). `start` comes first (no `progress` before it) and names the
//! final output path; totals are given when known. Units are in the field names:
//! - `start`: `path`, `type`, `segments_total`, `bytes_total`, `duration_total_secs`
//! - `progress`: `segments`, `segments_total`, `bytes`, `bytes_total`,
//!   `speed_bytes_per_sec`, `recorded_secs`
//! - `stop`: `reason` (`complete`, `user`, `error`), `error_id`, `message`, `path`,
//!   `segments`, `bytes`, `recorded_secs`

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

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
        /// The final output path (of the first section).
        path: String,
        kind: String,
        segments_total: Option<u64>,
        bytes_total: Option<u64>,
        duration_total_secs: Option<f64>,
    },
    Progress {
        segments: u64,
        segments_total: Option<u64>,
        bytes: u64,
        bytes_total: Option<u64>,
        speed_bps: f64,
        recorded_secs: f64,
    },
    Stop {
        reason: StopReason,
        error_id: Option<ErrorId>,
        message: Option<String>,
        path: Option<String>,
        segments: u64,
        bytes: u64,
        recorded_secs: f64,
    },
}

/// (year, month, day) of a day number since 1970-01-01 (H. Hinnant, "chrono-Compatible
/// Low-Level Date Algorithms", civil_from_days).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `2026-12-04T18:40:00.123Z` (RFC 3339, UTC, milliseconds).
pub fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

impl RecordEvent {
    /// `["name", {fields}]` without `time`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| {
            if !v.is_null() {
                m.insert(k.into(), v);
            }
        };
        let name = match self {
            RecordEvent::Start { path, kind, segments_total, bytes_total, duration_total_secs } => {
                put("path", json!(path));
                put("type", json!(kind));
                put("segments_total", json!(segments_total));
                put("bytes_total", json!(bytes_total));
                put("duration_total_secs", json!(duration_total_secs.map(|d| round(d, 3))));
                "start"
            }
            RecordEvent::Progress { segments, segments_total, bytes, bytes_total, speed_bps, recorded_secs } => {
                put("segments", json!(segments));
                put("segments_total", json!(segments_total));
                put("bytes", json!(bytes));
                put("bytes_total", json!(bytes_total));
                put("speed_bytes_per_sec", json!(round(*speed_bps, 1)));
                put("recorded_secs", json!(round(*recorded_secs, 3)));
                "progress"
            }
            RecordEvent::Stop { reason, error_id, message, path, segments, bytes, recorded_secs } => {
                put("reason", json!(reason));
                put("error_id", json!(error_id));
                put("message", json!(message));
                put("path", json!(path));
                put("segments", json!(segments));
                put("bytes", json!(bytes));
                put("recorded_secs", json!(round(*recorded_secs, 3)));
                "stop"
            }
        };
        json!([name, m])
    }

    /// `["name", {"time": ISO 8601, fields}]`.
    pub fn to_json_at(&self, t: SystemTime) -> serde_json::Value {
        let mut v = self.to_json();
        if let Some(m) = v.get_mut(1).and_then(|m| m.as_object_mut()) {
            m.insert("time".into(), serde_json::Value::String(iso8601(t)));
        }
        v
    }
}

/// Where events go. Cheap to clone; thread-safe.
#[derive(Clone, Default)]
pub struct EventSink {
    json_stdout: bool,
    clients: Option<Arc<Mutex<Vec<TcpStream>>>>,
    local_addr: Option<SocketAddr>,
    log: Option<Arc<Mutex<EventLog>>>,
}

/// Events with the JSON line each was sent as.
type EventLog = Vec<(RecordEvent, String)>;

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
        let line = format!("{}\n", ev.to_json_at(SystemTime::now()));
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
            l.lock().unwrap_or_else(|e| e.into_inner()).push((ev.clone(), line.trim_end().to_string()));
        }
    }

    /// Events emitted so far (only with [`EventSink::with_log`]).
    pub fn logged(&self) -> Vec<RecordEvent> {
        self.logged_lines().into_iter().map(|(e, _)| e).collect()
    }

    /// Events emitted so far with their JSON lines as sent (only with [`EventSink::with_log`]).
    pub fn logged_lines(&self) -> Vec<(RecordEvent, String)> {
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
            segments: 0,
            bytes: 0,
            recorded_secs: 0.0,
        };
        assert_eq!(
            e.to_json().to_string(),
            r#"["stop",{"bytes":0,"error_id":"drm_protected","message":"FairPlay","reason":"error","recorded_secs":0.0,"segments":0}]"#
        );
        let p = progress(3);
        let j = p.to_json_at(UNIX_EPOCH + std::time::Duration::from_millis(1_796_409_600_123));
        assert_eq!(j[0], "progress");
        assert_eq!(j[1]["time"], "2026-12-04T18:40:00.123Z");
        assert_eq!(j[1]["speed_bytes_per_sec"], 12.3);
        assert_eq!(j[1]["recorded_secs"], 6.0);
        assert!(j[1].get("segments_total").is_none());
    }

    fn progress(segments: u64) -> RecordEvent {
        RecordEvent::Progress {
            segments,
            segments_total: None,
            bytes: 100,
            bytes_total: None,
            speed_bps: 12.34,
            recorded_secs: 6.0,
        }
    }

    #[test]
    fn iso8601_dates() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 12:00:00 (leap day), 2100-03-01 (not a leap year), 1999-12-31 23:59:59.999.
        assert_eq!(iso8601(UNIX_EPOCH + std::time::Duration::from_secs(951_825_600)), "2000-02-29T12:00:00.000Z");
        assert_eq!(iso8601(UNIX_EPOCH + std::time::Duration::from_secs(4_107_542_400)), "2100-03-01T00:00:00.000Z");
        assert_eq!(iso8601(UNIX_EPOCH + std::time::Duration::from_millis(946_684_799_999)), "1999-12-31T23:59:59.999Z");
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
            sink.emit(&progress(i));
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
