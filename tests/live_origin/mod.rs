//! A live HLS origin on 127.0.0.1 for the recording service's tests and benchmark: one
//! stream per key (`/live/<key>/index.m3u8`, `/live/<key>/s<n>.ts`, 1 s segments in a sliding
//! window, `EXT-X-ENDLIST` once ended) and the stream service's `/streams?status=live`.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::hls_origin::{self, Origin, Reply};

/// Live segments in a playlist window.
pub const WINDOW: u64 = 10;

/// One stream of the origin: live since `start`; `end_after`: the last segment, then
/// `EXT-X-ENDLIST`; `gone`: 404 for everything.
#[derive(Clone)]
pub struct Stream {
    pub id: String,
    pub start: Instant,
    pub end_after: Option<u64>,
    pub gone: bool,
    /// Listed by the fake stream service.
    pub listed: bool,
}

#[derive(Default)]
pub struct Streams(pub Mutex<HashMap<String, Stream>>);

impl Streams {
    pub fn start(&self, key: &str) -> String {
        let id = uuid();
        let s = Stream { id: id.clone(), start: Instant::now(), end_after: None, gone: false, listed: true };
        self.0.lock().unwrap().insert(key.into(), s);
        id
    }
    /// Segments complete so far.
    pub fn available(s: &Stream) -> u64 {
        let n = s.start.elapsed().as_secs();
        s.end_after.map_or(n, |e| n.min(e + 1))
    }
    /// The stream disappears: its playlist and segments answer 404.
    pub fn vanish(&self, key: &str) {
        let mut m = self.0.lock().unwrap();
        let s = m.get_mut(key).unwrap();
        s.gone = true;
        s.listed = false;
    }

    /// The stream ends after the segment being produced now; returns its last sequence number.
    pub fn end(&self, key: &str) -> u64 {
        let mut m = self.0.lock().unwrap();
        let s = m.get_mut(key).unwrap();
        let last = Streams::available(s);
        s.end_after = Some(last);
        s.listed = false;
        last
    }
}

pub fn uuid() -> String {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let n = std::process::id() as u128;
    let h = format!("{:032x}", t ^ (n << 64) ^ 0x5a5a_1234_0000_0000_0000_0000_0000_0000u128);
    format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

/// The origin: `/live/<key>/index.m3u8`, `/live/<key>/s<n>.ts`, and the stream service's
/// `/streams?status=live`.
pub fn origin(streams: Arc<Streams>, segs: Vec<(f64, Vec<u8>)>) -> Origin {
    Origin::start(Arc::new(move |pq: &str, _range: Option<&str>| {
        let path = pq.split('?').next().unwrap();
        if path == "/streams" {
            let m = streams.0.lock().unwrap();
            let list: Vec<Value> = m
                .iter()
                .filter(|(_, s)| s.listed)
                .map(|(k, s)| json!({"id": s.id, "stream_key": k, "user_id": "u1", "started_at": "2026-12-05T00:00:00Z"}))
                .collect();
            return Reply::ok("application/json", serde_json::to_vec(&list).unwrap());
        }
        let parts: Vec<&str> = path.split('/').collect();
        let (Some(key), Some(file)) = (parts.get(2), parts.get(3)) else { return Reply::status(404) };
        let m = streams.0.lock().unwrap();
        let Some(s) = m.get(*key).filter(|s| !s.gone) else { return Reply::status(404) };
        let avail = Streams::available(s);
        if *file == "index.m3u8" {
            let first = avail.saturating_sub(WINDOW);
            let entries: Vec<(String, f64, String)> =
                (first..avail).map(|n| (String::new(), segs[n as usize % segs.len()].0, format!("s{n}.ts"))).collect();
            let ended = s.end_after.is_some_and(|e| avail > e);
            return Reply::m3u8(&hls_origin::media_playlist(1, first, &entries, ended, ""));
        }
        match file.strip_prefix('s').and_then(|f| f.strip_suffix(".ts")).and_then(|n| n.parse::<u64>().ok()) {
            Some(n) if n < avail && n + WINDOW + 2 >= avail => {
                Reply::ok("video/mp2t", segs[n as usize % segs.len()].1.clone())
            }
            _ => Reply::status(404),
        }
    }))
}

/// The segment numbers of `key` the origin served.
pub fn served(o: &Origin, key: &str) -> BTreeSet<u64> {
    let prefix = format!("/live/{key}/s");
    o.requests().iter().filter_map(|r| r.strip_prefix(&prefix)?.strip_suffix(".ts")?.parse().ok()).collect()
}
