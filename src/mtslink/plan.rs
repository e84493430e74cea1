//! The event-log model: a record's JSON (`eventLogs`, `cuts`, ...) reduced to a [`Plan`]:
//! participants, media clips, slides, chat and cuts on one timeline (seconds from the start
//! of the edited record). The plan is saved as `manifest.json` in the job folder and turned
//! into the flow JSON the compiler reads with [`Plan::to_flow_json`].
//!
//! Rules (the facts behind them: `../shared/notes/mtslink.md` beside this repository):
//! - Clips are keyed by mediasession id (one stream arrives as many chunks). The kind
//!   (camera / screen / audio-only) comes from `data.stream.screensharing` vs
//!   `data.stream.conference` and that conference's `hasVideo`/`hasAudio` at the clip's start.
//!   Flag changes are applied in time order and only ever *add* to an open clip (a clip is
//!   never removed or downgraded by a later mute).
//! - A clip's length is `mediasession.update`'s `duration`; `conference.stream.delete`,
//!   `screensharing.stream.delete`, a deleted conference or screen share end open clips.
//! - Start = the chunk's epoch `time` minus the cuts before it, mapped to the timeline; when
//!   that disagrees with the event's `relativeTime` by more than [`MAX_TIME_DISAGREEMENT`],
//!   `relativeTime` wins. A chunk that starts before the record or inside a cut gets an
//!   [`PlanClip::offset`] (seconds of the file to skip: preroll).
//! - Cuts: what was recorded inside a cut is not on the timeline. A message, slide change or
//!   end event logged inside a cut lands at the cut point. A chunk that starts inside a cut
//!   starts at the cut point, its cut part skipped (the offset above). A chunk recorded
//!   *across* a cut loses the cut part: it is split into parts ([`PlanClip::chunk_id`]), one
//!   per stretch between cuts, the first ending at the cut point (`end`) and the next
//!   starting there with `offset` = the file's time at the cut's end; a chunk ending inside a
//!   cut just ends at the cut point. The parts share the chunk's url and local file (one
//!   download). The chunk's extent is its `duration`, else its end event, else unbounded
//!   (split at every later cut; a part beyond the file's end is simply empty). Chunks placed
//!   by `relativeTime` (their epoch disagreed) are never split: their epoch is unreliable.
//! - Snapshots (`snapshot.data.mediasession[]`): when two snapshots share one time (the two
//!   at t=0 of a preroll), the later one wins. In snapshot-only records (no
//!   `mediasession.add`) a new URL starts a clip and ends the previous clip of its stream.
//! - Unknown modules and fields are ignored.
//!
//! ```
//! use stitch::media::clip::SourceKind;
//! use stitch::mtslink::plan::build_plan;
//! let j = serde_json::json!({"name": "w", "duration": 60.0, "eventLogs": [
//!     {"module": "mediasession.add", "relativeTime": 1.0,
//!      "data": {"id": 7, "url": "https://s/a.mp4", "stream": {"screensharing": {"id": 3}}}},
//!     {"module": "mediasession.update", "relativeTime": 30.0, "data": {"id": 7, "duration": 29.0}}]});
//! let plan = build_plan(&j).unwrap();
//! assert_eq!(plan.clips[0].kind, SourceKind::Screen);
//! assert_eq!(plan.clips[0].duration, Some(29.0));
//! assert_eq!(plan.clips[0].file_name(), "chunk_7_a.mp4");
//! ```

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;

use media::clip::SourceKind;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// When a chunk's epoch time mapped through the cuts and its `relativeTime` differ by more
/// than this (seconds), `relativeTime` is used.
pub const MAX_TIME_DISAGREEMENT: f64 = 2.0;

/// File name of the plan in a job folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Why a record's JSON cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The JSON ends early (an interrupted download).
    #[error("truncated record JSON (ends at line {line} column {column}): the answer was cut short, fetch it again")]
    Truncated {
        /// Where the text ends.
        line: usize,
        /// Where the text ends.
        column: usize,
    },
    /// Not JSON at all.
    #[error("the record is not valid JSON (line {line} column {column}): {message}")]
    Invalid {
        /// Position of the error.
        line: usize,
        /// Position of the error.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// JSON, but not an object.
    #[error("the record JSON is not an object (expected {{\"name\", \"duration\", \"eventLogs\": [...]}})")]
    NotObject,
    /// No `eventLogs`.
    #[error("the record JSON has no \"eventLogs\" array: not an MTS Link record (or an error answer)")]
    NoEventLogs,
    /// `eventLogs` of the wrong type.
    #[error("\"eventLogs\" in the record JSON is not an array")]
    EventLogsNotArray,
}

/// Parse raw bytes of a record answer, with a clear error for truncated or corrupted JSON.
pub fn parse_record_bytes(bytes: &[u8]) -> Result<Value, PlanError> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            PlanError::Truncated { line: e.line(), column: e.column() }
        } else {
            PlanError::Invalid { line: e.line(), column: e.column(), message: e.to_string() }
        }
    })
}

/// A person seen in the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    /// User id (as text).
    pub id: String,
    /// Nickname (may be empty).
    pub name: String,
    /// Role from the user list (`ADMIN`, `LECTURER`, ...), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl Participant {
    /// `ADMIN` or `LECTURER`.
    pub fn is_presenter(&self) -> bool {
        matches!(self.role.as_deref(), Some("ADMIN" | "LECTURER"))
    }
}

/// One media chunk (one mediasession) placed on the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanClip {
    /// The mediasession id (`u` + a hash of the url when the log had none).
    pub id: String,
    /// The MP4 on storage.
    pub url: String,
    /// Its HLS twin, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hls_url: Option<String>,
    /// Camera, screen share or microphone only (never `Unknown` in a plan).
    pub kind: SourceKind,
    /// Start on the timeline, seconds.
    pub start: f64,
    /// Seconds at the start of the file that are not on the timeline (preroll, or the part
    /// recorded during a cut). The clip's first shown frame is at `offset` in the file.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset: f64,
    /// The chunk's real length from `mediasession.update`, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Where the clip ends on the timeline when an event ended it (stream deleted, next
    /// snapshot file) or, for a part of a chunk split at a cut, the cut point, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    /// Set on the later parts of a chunk recorded across a cut (see the module doc): the id of
    /// the whole chunk (its first part keeps that id; later parts are `{chunk_id}#2`, `#3`,
    /// ...). The local file is named by it ([`file_name`](Self::file_name)), so all parts
    /// share one download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_id: Option<String>,
    /// Conference or screen-share id of the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The participant's user id.
    pub user_id: Option<String>,
    /// The participant's nickname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The conference's `hasVideo` during the clip (true if it was ever true while open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_video: Option<bool>,
    /// The conference's `hasAudio` during the clip (true if it was ever true while open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_audio: Option<bool>,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn sanitize(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(max)
        .collect()
}

impl PlanClip {
    /// Deterministic local file name: `chunk_{id}_{last path segment of the url}`.
    ///
    /// ```
    /// # use stitch::media::clip::SourceKind;
    /// # use stitch::mtslink::plan::PlanClip;
    /// let c = PlanClip { id: "12".into(), url: "https://h/x/ab12.mp4?sig=1".into(), hls_url: None,
    ///     kind: SourceKind::Camera, start: 0.0, offset: 0.0, duration: None, end: None, chunk_id: None,
    ///     stream_id: None, user_id: None, user_name: None, has_video: None, has_audio: None };
    /// assert_eq!(c.file_name(), "chunk_12_ab12.mp4");
    /// // A later part of chunk 12 split at a cut: the same file.
    /// let part = PlanClip { id: "12#2".into(), chunk_id: Some("12".into()), start: 5.0, offset: 9.0, ..c.clone() };
    /// assert_eq!(part.file_name(), "chunk_12_ab12.mp4");
    /// ```
    ///
    /// `{id}` is [`chunk_id`](Self::chunk_id) when set, so the parts of a chunk split at cuts
    /// name one file.
    pub fn file_name(&self) -> String {
        let no_query = self.url.split(['?', '#']).next().unwrap_or("");
        let seg = no_query.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let seg = sanitize(seg, 80);
        let id = sanitize(self.chunk_id.as_deref().unwrap_or(&self.id), 40);
        let seg = seg.trim_start_matches('.');
        if seg.is_empty() {
            format!("chunk_{id}.mp4")
        } else {
            format!("chunk_{id}_{seg}")
        }
    }

    /// Length on the timeline, when known: the chunk's duration minus the skipped offset,
    /// bounded by [`end`](Self::end) (which also ends a part of a chunk split at a cut).
    pub fn length(&self) -> Option<f64> {
        let by_dur = self.duration.map(|d| (d - self.offset).max(0.0));
        let by_end = self.end.map(|e| (e - self.start).max(0.0));
        match (by_dur, by_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// End on the timeline, when known.
    pub fn timeline_end(&self) -> Option<f64> {
        self.length().map(|l| self.start + l)
    }
}

impl Slide {
    /// Deterministic local file name of slide `i`: `slide_{i}_{last path segment}`.
    pub fn file_name(&self, i: usize) -> String {
        let no_query = self.url.split(['?', '#']).next().unwrap_or("");
        let seg = sanitize(no_query.trim_end_matches('/').rsplit('/').next().unwrap_or(""), 80);
        let seg = seg.trim_start_matches('.');
        if seg.is_empty() {
            format!("slide_{i}")
        } else {
            format!("slide_{i}_{seg}")
        }
    }
}

/// A slide shown from `start` to `end`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slide {
    /// Timeline seconds.
    pub start: f64,
    /// `None`: until the end of the record (duration unknown).
    pub end: Option<f64>,
    /// Image URL of the slide.
    pub url: String,
    /// Slide number in its presentation (1-based), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// Presentation file name, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presentation: Option<String>,
}

/// A chat message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Timeline seconds.
    pub time: f64,
    /// Author's name (may be empty).
    pub author: String,
    /// Message text as sent.
    pub text: String,
}

/// A removed stretch of the wall-clock recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cut {
    /// Epoch seconds.
    pub start: f64,
    /// Epoch seconds.
    pub end: f64,
    /// Timeline position where the cut was removed, when the timeline origin is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<f64>,
}

/// Everything needed to download and compose a record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Record name (`name` of the JSON, `record` when absent).
    pub name: String,
    /// The edited timeline's length from the record, seconds.
    pub duration: Option<f64>,
    /// In order of first appearance.
    pub participants: Vec<Participant>,
    /// Sorted by start.
    pub clips: Vec<PlanClip>,
    /// Sorted by start.
    pub slides: Vec<Slide>,
    /// Sorted by time.
    pub chat: Vec<ChatMessage>,
    /// Removed stretches, in time order.
    pub cuts: Vec<Cut>,
}

impl Plan {
    /// The flow JSON the compiler reads: one `mediasession.add` per clip with a non-zero
    /// length, `data.url` = `local_path_of(clip)`, `data.duration` = the clip's length on
    /// the timeline (from `mediasession.update` and end events) when known, `data.offset` =
    /// [`PlanClip::offset`] when non-zero, `data.kind`.
    pub fn to_flow_json(&self, local_path_of: impl Fn(&PlanClip) -> String) -> Value {
        let logs: Vec<Value> = self
            .flow_clips()
            .iter()
            .map(|c| {
                let mut data = Map::new();
                data.insert("id".into(), json!(c.id));
                data.insert("url".into(), json!(local_path_of(c)));
                if let Some(l) = c.length() {
                    data.insert("duration".into(), json!(l));
                }
                if c.offset > 0.0 {
                    data.insert("offset".into(), json!(c.offset));
                }
                data.insert("kind".into(), serde_json::to_value(c.kind).unwrap_or(Value::Null));
                if let Some(u) = &c.user_id {
                    data.insert("userId".into(), json!(u));
                    if let Some(r) = self.participants.iter().find(|p| &p.id == u).and_then(|p| p.role.clone()) {
                        data.insert("role".into(), json!(r));
                    }
                }
                if let Some(n) = c.user_name.as_ref().or_else(|| {
                    c.user_id.as_ref().and_then(|u| self.participants.iter().find(|p| &p.id == u)).map(|p| &p.name)
                }) {
                    data.insert("userName".into(), json!(n));
                }
                json!({"relativeTime": c.start, "module": "mediasession.add", "data": data})
            })
            .collect();
        let mut top = Map::new();
        top.insert("name".into(), json!(self.name));
        if let Some(d) = self.duration {
            top.insert("duration".into(), json!(d));
        }
        top.insert("eventLogs".into(), Value::Array(logs));
        Value::Object(top)
    }

    /// The clips of the flow: those with a non-zero length, by start.
    pub fn flow_clips(&self) -> Vec<&PlanClip> {
        let mut clips: Vec<&PlanClip> = self.clips.iter().filter(|c| c.length().is_none_or(|l| l > 0.0)).collect();
        clips.sort_by(|a, b| a.start.total_cmp(&b.start));
        clips
    }

    /// Whether a slide is in the flow (a known start, and an end after it if any).
    pub(crate) fn slide_shown(s: &Slide) -> bool {
        s.start.is_finite() && s.end.is_none_or(|e| e > s.start)
    }

    /// Flow events for the slides (`module: "slide.show"`, `data.image` = `local_path_of(i,
    /// slide)`, `data.duration` when the slide's end is known), for the composite.
    pub fn slide_flow_events(&self, local_path_of: impl Fn(usize, &Slide) -> String) -> Vec<Value> {
        self.slides
            .iter()
            .enumerate()
            .filter(|(_, s)| Self::slide_shown(s))
            .map(|(i, s)| {
                let mut data = Map::new();
                data.insert("image".into(), json!(local_path_of(i, s)));
                if let Some(e) = s.end {
                    data.insert("duration".into(), json!(e - s.start));
                }
                json!({"relativeTime": s.start.max(0.0), "module": "slide.show", "data": data})
            })
            .collect()
    }

    /// Flow events for the chat (`module: "chat.message"`, `data.author`, `data.text`), for
    /// the composite's chat panel.
    pub fn chat_flow_events(&self) -> Vec<Value> {
        self.chat
            .iter()
            .filter(|m| m.time.is_finite())
            .map(|m| {
                json!({"relativeTime": m.time.max(0.0), "module": "chat.message",
                       "data": {"author": m.author, "text": m.text}})
            })
            .collect()
    }

    /// Write `dir/manifest.json` (via a temporary file and a rename).
    pub fn write_manifest(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        let text = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join(MANIFEST_FILE))
    }

    /// Read `dir/manifest.json`.
    pub fn read_manifest(dir: &Path) -> io::Result<Plan> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
    }
}

// ---------------------------------------------------------------------------------------

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

/// Epoch seconds (milliseconds are recognised by size).
fn epoch(v: Option<&Value>) -> Option<f64> {
    num(v).filter(|x| *x > 0.0).map(|x| if x > 1e11 { x / 1000.0 } else { x })
}

fn id_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

fn boolean(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|x| x != 0),
        Value::String(s) => match s.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Epoch <-> timeline through the cuts.
struct TimeMap {
    /// Timeline 0 in epoch seconds, before subtracting cuts.
    origin: Option<f64>,
    /// Sorted, merged.
    cuts: Vec<(f64, f64)>,
}

impl TimeMap {
    fn removed_before(&self, e: f64) -> f64 {
        self.cuts.iter().map(|&(s, t)| (e - s).clamp(0.0, t - s)).sum()
    }

    /// Timeline position of epoch `e` (unclamped); `None` when the arithmetic overflows
    /// (absurd epochs / relativeTimes).
    fn pos(&self, e: f64) -> Option<f64> {
        Some(e - self.origin? - self.removed_before(e)).filter(|p| p.is_finite())
    }

    /// Where a chunk starting at epoch `e` lands and how much of its beginning is skipped.
    fn place(&self, e: f64) -> Option<(f64, f64)> {
        let mut skip = 0.0;
        let mut ee = e;
        if let Some(&(_, t)) = self.cuts.iter().find(|&&(s, t)| ee >= s && ee < t) {
            skip += t - ee;
            ee = t;
        }
        let p = self.pos(ee)?;
        if p < 0.0 {
            skip += -p;
            return skip.is_finite().then_some((0.0, skip));
        }
        skip.is_finite().then_some((p, skip))
    }
}

struct Ev<'a> {
    idx: usize,
    rt: Option<f64>,
    time: Option<f64>,
    module: &'a str,
    data: &'a Value,
    snapshot: Option<&'a Map<String, Value>>,
}

#[derive(Default, Clone)]
struct Conf {
    has_audio: Option<bool>,
    has_video: Option<bool>,
}

struct Builder {
    map: TimeMap,
    durations: HashMap<String, f64>,
    confs: HashMap<String, Conf>,
    participants: Vec<Participant>,
    part_idx: HashMap<String, usize>,
    roles: HashMap<String, (String, Option<String>)>,
    clips: Vec<PlanClip>,
    /// Per clip: stream ids that end it, whether its flags are still unknown.
    aliases: Vec<Vec<String>>,
    pending_flags: Vec<bool>,
    /// Per clip: the chunk's epoch start when it was placed by it (not by `relativeTime`),
    /// and the seconds of cuts inside its recorded span (known duration only).
    epochs: Vec<Option<f64>>,
    cut_within: Vec<f64>,
    by_id: HashMap<String, usize>,
    by_url: HashMap<String, usize>,
    last_of_stream: HashMap<String, usize>,
    snapshot_only: bool,
    slides: Vec<Slide>,
    open_slide: Option<Slide>,
    chat: Vec<ChatMessage>,
    seen_msgs: HashSet<String>,
}

const EPS: f64 = 1e-6;

impl Builder {
    fn add_participant(&mut self, user: Option<&Value>) -> (Option<String>, Option<String>) {
        let Some(user) = user.filter(|u| u.is_object()) else {
            return (None, None);
        };
        let id = id_str(user.get("id"));
        let name = string(user.get("nickname")).or_else(|| string(user.get("name"))).or_else(|| {
            let n = [string(user.get("name")), string(user.get("secondName")).or_else(|| string(user.get("lastName")))]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (!n.is_empty()).then_some(n)
        });
        if let Some(id) = &id {
            self.ensure_participant(id, name.clone());
        }
        (id, name)
    }

    fn ensure_participant(&mut self, id: &str, name: Option<String>) {
        match self.part_idx.get(id) {
            Some(&i) => {
                if self.participants[i].name.is_empty() {
                    if let Some(n) = name {
                        self.participants[i].name = n;
                    }
                }
            }
            None => {
                let role = self.roles.get(id).map(|r| r.0.clone());
                let name = name.or_else(|| self.roles.get(id).and_then(|r| r.1.clone())).unwrap_or_default();
                self.part_idx.insert(id.to_string(), self.participants.len());
                self.participants.push(Participant { id: id.to_string(), name, role });
            }
        }
    }

    fn userlist_entry(&mut self, entry: &Value) {
        let user = entry.get("user").filter(|u| u.is_object()).unwrap_or(entry);
        let Some(id) = id_str(user.get("id")).or_else(|| id_str(entry.get("userId"))) else {
            return;
        };
        let name = string(user.get("nickname")).or_else(|| string(user.get("name")));
        let Some(role) = string(entry.get("role")).or_else(|| string(user.get("role"))) else {
            return;
        };
        let presenter = matches!(role.as_str(), "ADMIN" | "LECTURER");
        self.roles.insert(id.clone(), (role.clone(), name.clone()));
        match self.part_idx.get(&id) {
            Some(&i) => self.participants[i].role = Some(role),
            None if presenter => self.ensure_participant(&id, name),
            None => {}
        }
    }

    /// Whether clip `i` plays at timeline `t` (its cut parts do not count: they are removed).
    fn clip_open_at(&self, i: usize, t: f64) -> bool {
        let c = &self.clips[i];
        c.start <= t + EPS
            && c.end.is_none_or(|e| t < e)
            && c.duration.is_none_or(|d| t < c.start + d - c.offset - self.cut_within[i])
    }

    fn conference(&mut self, d: &Value, t: f64, deleted_module: bool) {
        let Some(cid) = id_str(d.get("id")) else {
            return;
        };
        let user = d.get("user").cloned();
        let (uid, uname) = self.add_participant(user.as_ref());
        let conf = self.confs.entry(cid.clone()).or_default();
        if let Some(a) = boolean(d.get("hasAudio")) {
            conf.has_audio = Some(a);
        }
        if let Some(v) = boolean(d.get("hasVideo")) {
            conf.has_video = Some(v);
        }
        let conf = conf.clone();
        let deleted = deleted_module || boolean(d.get("isDeleted")) == Some(true);
        for i in 0..self.clips.len() {
            if self.clips[i].kind == SourceKind::Screen || self.clips[i].stream_id.as_deref() != Some(&cid) {
                continue;
            }
            if self.pending_flags[i] {
                // First state seen for a conference the clip started before: best guess.
                self.pending_flags[i] = false;
                let c = &mut self.clips[i];
                c.has_audio = conf.has_audio.or(c.has_audio);
                c.has_video = conf.has_video.or(c.has_video);
                if c.has_video == Some(false) {
                    c.kind = SourceKind::AudioOnly;
                }
            } else if self.clip_open_at(i, t) {
                // Only upgrades: a later mute never erases what was recorded.
                let c = &mut self.clips[i];
                if conf.has_video == Some(true) {
                    c.has_video = Some(true);
                    if c.kind == SourceKind::AudioOnly {
                        c.kind = SourceKind::Camera;
                    }
                }
                if conf.has_audio == Some(true) {
                    c.has_audio = Some(true);
                }
            }
            if self.clips[i].user_id.is_none() {
                self.clips[i].user_id = uid.clone();
                self.clips[i].user_name = uname.clone();
            }
            if deleted && self.clip_open_at(i, t) && self.clips[i].end.is_none() {
                self.clips[i].end = Some(t.max(self.clips[i].start));
            }
        }
    }

    /// End open clips of a stream (`screen`: only screen clips; otherwise only others).
    fn end_stream(&mut self, stream: &str, screen: bool, t: f64) {
        for i in 0..self.clips.len() {
            if (self.clips[i].kind == SourceKind::Screen) != screen || !self.aliases[i].iter().any(|a| a == stream) {
                continue;
            }
            if self.clips[i].end.is_none() && self.clip_open_at(i, t) {
                self.clips[i].end = Some(t.max(self.clips[i].start));
            }
        }
    }

    /// Place a chunk: its epoch time through the cuts, or `rt` when they disagree. Returns
    /// (start, offset, the epoch when the placement came from it).
    fn place(&self, chunk_epoch: Option<f64>, rt: Option<f64>) -> Option<(f64, f64, Option<f64>)> {
        let mapped = chunk_epoch.and_then(|e| Some((self.map.place(e)?, e)));
        match (mapped, rt) {
            (Some(((p, skip), e)), Some(rt)) if (p - rt).abs() <= MAX_TIME_DISAGREEMENT => Some((p, skip, Some(e))),
            (_, Some(rt)) => Some((rt.max(0.0), 0.0, None)),
            (Some(((p, skip), e)), None) => Some((p, skip, Some(e))),
            (None, None) => None,
        }
    }

    /// A mediasession (from `mediasession.add` or a snapshot).
    fn media(&mut self, d: &Value, ev_time: Option<f64>, rt: Option<f64>, from_snapshot: bool) {
        let Some(url) = string(d.get("url")) else {
            return;
        };
        let id = id_str(d.get("id")).unwrap_or_else(|| format!("u{:016x}", fnv(&url)));
        let hls = string(d.get("hlsUrl"));
        if let Some(&i) = self.by_id.get(&id).or_else(|| self.by_url.get(&url)) {
            if self.clips[i].hls_url.is_none() {
                self.clips[i].hls_url = hls;
            }
            return;
        }
        let chunk_epoch = epoch(d.get("time")).or(if from_snapshot { None } else { ev_time });
        let Some((start, offset, placed_epoch)) = self.place(chunk_epoch, rt) else {
            return;
        };

        let empty = Value::Null;
        let stream = d.get("stream").unwrap_or(&empty);
        let screen_obj = stream.get("screensharing").filter(|s| s.is_object());
        let conf_obj = stream.get("conference").filter(|s| s.is_object());
        let stype = format!(
            "{} {}",
            stream.get("type").and_then(Value::as_str).unwrap_or(""),
            stream.get("name").and_then(Value::as_str).unwrap_or("")
        )
        .to_ascii_lowercase();
        let is_screen = screen_obj.is_some() || (conf_obj.is_none() && stype.contains("screen"));
        let conf_id = conf_obj.and_then(|c| id_str(c.get("id")));
        let screen_id = screen_obj.and_then(|s| id_str(s.get("id")));
        let stream_id = if is_screen { screen_id.clone().or(conf_id.clone()) } else { conf_id.clone() };
        let mut aliases: Vec<String> =
            [id_str(stream.get("id")), screen_id, conf_id.clone()].into_iter().flatten().collect();
        aliases.dedup();

        let user = conf_obj
            .and_then(|c| c.get("user"))
            .or_else(|| screen_obj.and_then(|s| s.get("user")))
            .or_else(|| d.get("user"))
            .cloned();
        let (user_id, user_name) = self.add_participant(user.as_ref());

        let mut has_video = conf_id.as_ref().and_then(|c| self.confs.get(c)).and_then(|c| c.has_video);
        let mut has_audio = conf_id.as_ref().and_then(|c| self.confs.get(c)).and_then(|c| c.has_audio);
        if let Some(c) = conf_obj {
            has_video = boolean(c.get("hasVideo")).or(has_video);
            has_audio = boolean(c.get("hasAudio")).or(has_audio);
        }
        let pending = !is_screen && conf_id.is_some() && has_video.is_none() && has_audio.is_none();
        let kind = if is_screen {
            SourceKind::Screen
        } else if has_video == Some(false) {
            SourceKind::AudioOnly
        } else {
            SourceKind::Camera
        };

        let i = self.clips.len();
        let duration = self.durations.get(&id).copied().or_else(|| num(d.get("duration")).filter(|x| *x > 0.0));
        if self.snapshot_only {
            let key = format!("{}:{}", is_screen, stream_id.clone().unwrap_or_default());
            if let Some(&prev) = self.last_of_stream.get(&key) {
                if self.clips[prev].end.is_none() && self.clips[prev].start <= start {
                    self.clips[prev].end = Some(start);
                }
            }
            self.last_of_stream.insert(key, i);
        }
        self.clips.push(PlanClip {
            id: id.clone(),
            url: url.clone(),
            hls_url: hls,
            kind,
            start,
            offset,
            duration,
            end: None,
            chunk_id: None,
            stream_id,
            user_id,
            user_name,
            has_video,
            has_audio,
        });
        self.aliases.push(aliases);
        self.pending_flags.push(pending);
        let within = match (placed_epoch, duration) {
            (Some(e), Some(d)) => self.map.removed_before(e + d) - self.map.removed_before(e + offset),
            _ => 0.0,
        };
        self.epochs.push(placed_epoch);
        self.cut_within.push(if within.is_finite() { within.max(0.0) } else { 0.0 });
        self.by_id.insert(id, i);
        self.by_url.insert(url, i);
    }

    fn slide_event(&mut self, module: &str, d: &Value, t: f64) {
        let empty = Value::Null;
        let fref = d.get("fileReference").filter(|f| f.is_object()).unwrap_or(&empty);
        let file = fref.get("file").or_else(|| d.get("file")).unwrap_or(&empty);
        let slide = fref
            .get("slide")
            .or_else(|| d.get("slide"))
            .filter(|s| s.is_object())
            .unwrap_or(if d.get("url").is_some() || d.get("downloadUrl").is_some() { d } else { &empty });
        let number = num(slide.get("number")).filter(|n| *n >= 0.0).map(|n| n as u32);
        let url = string(slide.get("url")).or_else(|| string(slide.get("downloadUrl"))).or_else(|| {
            let n = number? as usize;
            let s = file.get("slides")?.as_array()?.get(n.checked_sub(1)?)?;
            string(s.get("url")).or_else(|| string(s.get("downloadUrl")))
        });
        let deleted = module.ends_with(".delete") || boolean(d.get("isDeleted")) == Some(true);
        let active = boolean(d.get("isActive")).unwrap_or(true);
        let presentation = string(file.get("name"));
        match url {
            Some(url) if !deleted && active => {
                if self.open_slide.as_ref().is_some_and(|s| s.url == url) {
                    return;
                }
                self.close_slide(t);
                self.open_slide = Some(Slide { start: t, end: None, url, number, presentation });
            }
            _ => {
                if deleted || !active {
                    self.close_slide(t);
                }
            }
        }
    }

    fn close_slide(&mut self, t: f64) {
        if let Some(mut s) = self.open_slide.take() {
            s.end = Some(t.max(s.start));
            if s.end > Some(s.start) {
                self.slides.push(s);
            }
        }
    }

    fn message(&mut self, d: &Value, t: f64) {
        if let Some(id) = id_str(d.get("id")) {
            if !self.seen_msgs.insert(id) {
                return;
            }
        }
        let Some(text) = string(d.get("text")).or_else(|| string(d.get("message"))) else {
            return;
        };
        let user = d.get("user").or_else(|| d.get("author"));
        let author = string(d.get("authorName"))
            .or_else(|| user.and_then(|u| string(u.get("nickname")).or_else(|| string(u.get("name")))))
            .unwrap_or_default();
        self.chat.push(ChatMessage { time: t, author, text });
    }
}

/// The parts of clip `c` (its chunk began at epoch `e0`, the clip shows the file from
/// `c.offset`) between the `cuts` (sorted, merged, epoch): see the module doc. The first part
/// keeps the clip's id; later ones get `{id}#{n}` (made unique against `ids`) and
/// [`PlanClip::chunk_id`]. An end event (`c.end`) bounds the last part and drops the parts
/// after it. The clip comes back unchanged when it spans no cut (or the arithmetic fails).
fn split_at_cuts(c: PlanClip, e0: f64, cuts: &[(f64, f64)], ids: &mut HashSet<String>) -> Vec<PlanClip> {
    // Epoch where the chunk's recording ends, when its duration is known.
    let file_end = c.duration.map(|d| e0 + d);
    let mut shown_from = e0 + c.offset; // epoch of the current part's first frame
    let first = cuts.partition_point(|&(s, _)| s <= shown_from);
    let mut parts: Vec<PlanClip> = Vec::new();
    let mut cur = c.clone();
    for &(s, e) in &cuts[first..] {
        if file_end.is_some_and(|fe| s >= fe) {
            break; // recorded to its end before this cut
        }
        let at = cur.start + (s - shown_from); // the cut point on the timeline
        let offset = e - e0;
        if !at.is_finite() || !offset.is_finite() {
            return vec![c];
        }
        if c.end.is_some_and(|x| x <= at) {
            break; // ended (by an event) before the cut or inside it
        }
        cur.end = Some(at);
        let n = parts.len() + 2;
        parts.push(cur);
        if file_end.is_some_and(|fe| e >= fe) {
            return parts; // ended inside the cut: shortened
        }
        let mut id = format!("{}#{n}", c.id);
        while !ids.insert(id.clone()) {
            id.push('#');
        }
        cur = PlanClip { id, start: at, offset, end: c.end, chunk_id: Some(c.id.clone()), ..c.clone() };
        shown_from = e;
    }
    parts.push(cur);
    parts
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Build the plan from a record's JSON. Fails only when there is no usable event log;
/// unknown modules and fields are ignored.
pub fn build_plan(record: &Value) -> Result<Plan, PlanError> {
    let obj = record.as_object().ok_or(PlanError::NotObject)?;
    let logs = match obj.get("eventLogs") {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => return Err(PlanError::NoEventLogs),
        Some(_) => return Err(PlanError::EventLogsNotArray),
    };
    let name = string(obj.get("name")).unwrap_or_else(|| "record".into());
    let duration = num(obj.get("duration")).filter(|d| *d >= 0.0);

    // Cuts (epoch seconds), sorted and merged.
    let mut cuts: Vec<(f64, f64)> = obj
        .get("cuts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| Some((epoch(c.get("start"))?, epoch(c.get("end"))?)))
                .filter(|(s, e)| e > s)
                .collect()
        })
        .unwrap_or_default();
    cuts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::new();
    for (s, e) in cuts {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }

    let empty = Value::Null;
    let mut evs: Vec<Ev> = logs
        .iter()
        .enumerate()
        .filter_map(|(idx, e)| {
            let o = e.as_object()?;
            Some(Ev {
                idx,
                rt: num(o.get("relativeTime")),
                time: epoch(o.get("time")),
                module: o.get("module").and_then(Value::as_str).unwrap_or(""),
                data: o.get("data").unwrap_or(&empty),
                snapshot: o.get("snapshot").and_then(|s| s.get("data")).and_then(Value::as_object),
            })
        })
        .collect();

    // Timeline origin: the median of time - cuts - relativeTime over events with both.
    let mut map = TimeMap { origin: None, cuts: merged };
    let estimates: Vec<f64> = evs.iter().filter_map(|e| Some(e.time? - map.removed_before(e.time?) - e.rt?)).collect();
    map.origin = median(estimates);
    for e in evs.iter_mut() {
        if e.rt.is_none() {
            e.rt = e.time.and_then(|t| map.pos(t)).map(|p| p.max(0.0));
        }
    }
    // Time order (stable: ties keep the log's order).
    evs.sort_by(|a, b| a.rt.unwrap_or(0.0).total_cmp(&b.rt.unwrap_or(0.0)).then(a.idx.cmp(&b.idx)));

    let mut durations = HashMap::new();
    let mut snapshot_only = true;
    for e in &evs {
        match e.module {
            "mediasession.update" => {
                if let (Some(id), Some(d)) = (id_str(e.data.get("id")), num(e.data.get("duration"))) {
                    if d > 0.0 {
                        durations.insert(id, d);
                    }
                }
            }
            "mediasession.add" if e.data.get("url").and_then(Value::as_str).is_some() => snapshot_only = false,
            _ => {}
        }
    }

    // Snapshots listing media: of two at the same time, the later one wins (preroll).
    let media_snaps: Vec<usize> = (0..evs.len())
        .filter(|&i| evs[i].snapshot.and_then(|s| s.get("mediasession")).and_then(Value::as_array).is_some())
        .collect();
    let mut superseded: HashSet<usize> = HashSet::new();
    for w in media_snaps.windows(2) {
        let (a, b) = (&evs[w[0]], &evs[w[1]]);
        if (a.rt.unwrap_or(0.0) - b.rt.unwrap_or(0.0)).abs() < 0.01 {
            superseded.insert(w[0]);
        }
    }

    let mut b = Builder {
        map,
        durations,
        confs: HashMap::new(),
        participants: Vec::new(),
        part_idx: HashMap::new(),
        roles: HashMap::new(),
        clips: Vec::new(),
        aliases: Vec::new(),
        pending_flags: Vec::new(),
        epochs: Vec::new(),
        cut_within: Vec::new(),
        by_id: HashMap::new(),
        by_url: HashMap::new(),
        last_of_stream: HashMap::new(),
        snapshot_only,
        slides: Vec::new(),
        open_slide: None,
        chat: Vec::new(),
        seen_msgs: HashSet::new(),
    };

    for (k, e) in evs.iter().enumerate() {
        let t = e.rt.unwrap_or(0.0);
        if let Some(snap) = e.snapshot {
            for entry in snap.get("userlist").and_then(Value::as_array).into_iter().flatten() {
                b.userlist_entry(entry);
            }
            for c in snap.get("conference").and_then(Value::as_array).into_iter().flatten() {
                b.conference(c, t, false);
            }
            if !superseded.contains(&k) {
                for m in snap.get("mediasession").and_then(Value::as_array).into_iter().flatten() {
                    b.media(m, e.time, e.rt, true);
                }
            }
            for m in snap.get("message").and_then(Value::as_array).into_iter().flatten() {
                let mt = epoch(m.get("createAt")).and_then(|x| b.map.pos(x)).map(|p| p.max(0.0)).unwrap_or(t);
                b.message(m, mt);
            }
        }
        let d = e.data;
        match e.module {
            "mediasession.add" => b.media(d, e.time, e.rt, false),
            "mediasession.delete" => {
                if let Some(&i) = id_str(d.get("id")).and_then(|id| b.by_id.get(&id)) {
                    if b.clips[i].end.is_none() {
                        b.clips[i].end = Some(t.max(b.clips[i].start));
                    }
                }
            }
            "conference.add" | "conference.update" => b.conference(d, t, false),
            "conference.delete" => b.conference(d, t, true),
            "conference.stream.delete" => {
                if let Some(id) = id_str(d.get("id")) {
                    b.end_stream(&id, false, t);
                }
            }
            "screensharing.stream.delete" | "screensharing.delete" => {
                if let Some(id) = id_str(d.get("id")) {
                    b.end_stream(&id, true, t);
                }
            }
            "screensharing.update" | "screensharing.add" if boolean(d.get("isDeleted")) == Some(true) => {
                if let Some(id) = id_str(d.get("id")) {
                    b.end_stream(&id, true, t);
                }
            }
            "presentation.add" | "presentation.update" | "presentation.delete" => b.slide_event(e.module, d, t),
            "message.add" => b.message(d, t),
            m if m.starts_with("userlist.") && d.is_object() => b.userlist_entry(d),
            _ => {}
        }
    }

    // Close the last slide at the end of the record.
    if let Some(mut s) = b.open_slide.take() {
        s.end = duration.filter(|d| *d > s.start);
        b.slides.push(s);
    }
    // Chunks recorded across cuts lose their cut parts.
    let mut ids: HashSet<String> = b.clips.iter().map(|c| c.id.clone()).collect();
    let mut clips = Vec::with_capacity(b.clips.len());
    for (c, e0) in b.clips.into_iter().zip(b.epochs) {
        match e0 {
            Some(e0) => clips.extend(split_at_cuts(c, e0, &b.map.cuts, &mut ids)),
            None => clips.push(c),
        }
    }
    clips.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut chat = b.chat;
    chat.sort_by(|a, b| a.time.total_cmp(&b.time));
    let cuts =
        b.map.cuts.iter().map(|&(s, e)| Cut { start: s, end: e, at: b.map.pos(s).map(|p| p.max(0.0)) }).collect();
    Ok(Plan { name, duration, participants: b.participants, clips, slides: b.slides, chat, cuts })
}

/// [`parse_record_bytes`] then [`build_plan`].
pub fn build_plan_from_slice(bytes: &[u8]) -> Result<Plan, PlanError> {
    build_plan(&parse_record_bytes(bytes)?)
}

#[cfg(test)]
mod tests;
