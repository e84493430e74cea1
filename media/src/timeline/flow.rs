//! The flow JSON: an event log (the shape of MTS Link's), reduced to what places clips on a
//! timeline. [`FlowBuilder`] builds the same [`Flow`] from an application's own data.
//!
//! ```json
//! {"name": "...", "duration": 1234.5,
//!  "eventLogs": [{"relativeTime": 12.3, "module": "mediasession.add",
//!                 "data": {"id": 7, "url": "chunk.mp4", "duration": 10.0}},
//!                {"relativeTime": 20.0, "module": "mediasession.update",
//!                 "data": {"id": 7, "duration": 9.5}}]}
//! ```
//! Every event whose `data.url` is a string is a clip at its `relativeTime` (seconds). A
//! `mediasession.update` with the same `data.id` (or `data.duration` on the clip's own
//! event) bounds the clip's length on the timeline; `data.offset` (seconds) skips the start
//! of the file (the file's content at `offset` shows at `relativeTime`). Relative urls are resolved against the JSON file's
//! folder; `file://` urls are local paths. `http://` and `https://` urls stay urls
//! ([`Remote::Pending`], empty `path`): this crate has no network code, so the application
//! downloads them and fills in `path` (or records why it could not, [`Remote::Failed`]).
//! Any other scheme (`ftp://`, `data:`, ...) is an error that names the event. Seconds (f64) are converted to 90 kHz ticks here, once; nothing downstream
//! sees floating-point time. Unknown modules and fields are ignored.
//!
//! Who or what a clip shows is read from its `data` by a [`DescribeSource`]: the neutral
//! [`describe_source`] here; an application passes its own dialect's field names to
//! [`Flow::parse_with`] (stitch's MTS Link dialect lives in the application, not here).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use crate::clip::{is_http_url, ChatLine, ClipSpec, Flow, Remote, SlideSpec, SourceInfo, SourceKind};
use crate::time::{Ticks90k, Time, VIDEO_HZ};
use crate::{Error, Result};

/// The scheme of `url` when it looks like a url and not a path: `scheme://...` (RFC 3986
/// scheme characters, at least two so `C:` stays a path) or `data:`.
fn url_scheme(url: &str) -> Option<&str> {
    let u = url.trim_start();
    let (scheme, rest) = u.split_once(':')?;
    let valid = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (valid && (rest.starts_with("//") || scheme.eq_ignore_ascii_case("data"))).then_some(scheme)
}

/// Where `url` is: a local path, a url to download, or an unsupported scheme (the error).
fn locate(url: &str, base: &Path) -> std::result::Result<(PathBuf, Option<Remote>), String> {
    if is_http_url(url) {
        return Ok((PathBuf::new(), Some(Remote::Pending)));
    }
    match url_scheme(url) {
        Some(s) if !s.eq_ignore_ascii_case("file") => Err(format!(
            "url scheme \"{s}:\" is not supported (use http://, https:// or a local path): {}",
            url.chars().take(120).collect::<String>()
        )),
        _ => Ok((resolve(url, base), None)),
    }
}

/// Reads who or what a clip shows from its event's `data` object: the field names of one
/// flow dialect. The application supplies its own ([`Flow::parse_with`]).
pub type DescribeSource = fn(&Value) -> SourceInfo;

/// The neutral fields: `data.kind` (`camera`, `screen`, `audio_only`), `data.userId`,
/// `data.userName` and `data.presenter` (`true`: first in the tile order).
pub fn describe_source(data: &Value) -> SourceInfo {
    let kind = match data.get("kind").and_then(Value::as_str) {
        Some("camera") => SourceKind::Camera,
        Some("screen") => SourceKind::Screen,
        Some("audio_only") => SourceKind::AudioOnly,
        _ => SourceKind::Unknown,
    };
    let name = data.get("userName").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    SourceInfo {
        kind,
        participant: data.get("userId").and_then(id_of),
        name: name.map(String::from),
        presenter: data.get("presenter").and_then(Value::as_bool).unwrap_or(false),
    }
}

fn secs(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

/// A JSON id (number or non-empty string) as text.
pub fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Limit on the number of clips (a guard against absurd inputs; real webinars have ~2000).
pub const MAX_CLIPS: usize = 1_000_000;

/// One clip for [`FlowBuilder::clip`]: times in seconds as the flow gives them.
#[derive(Clone, Debug)]
pub struct ClipEntry<'a> {
    /// Position of the event in the flow (named in errors).
    pub event: usize,
    /// `data.url`: the recording's path or url, relative ones against the builder's base.
    pub url: &'a str,
    /// `relativeTime`: start on the timeline.
    pub at: f64,
    /// `data.id`, when present (non-empty).
    pub id: Option<String>,
    /// `data.duration`: length on the timeline (ignored unless positive).
    pub duration: Option<f64>,
    /// `data.offset`: how much of the file's start to skip (ignored unless positive).
    pub offset: Option<f64>,
    /// Who the clip belongs to and what it shows.
    pub source: SourceInfo,
}

/// Builds a [`Flow`] from its events, whatever they come from (the flow JSON, or an
/// application's own plan): converts seconds to 90 kHz ticks once, resolves urls against
/// `base`, bounds clips by their updates, orders slides and chat.
pub struct FlowBuilder {
    base: PathBuf,
    name: String,
    duration: Option<i64>,
    updates: HashMap<String, i64>,
    clips: Vec<ClipSpec>,
    /// Each clip's own `duration` (ticks), applied when no update names it.
    own: Vec<Option<i64>>,
    slides: Vec<SlideSpec>,
    chat: Vec<ChatLine>,
}

impl FlowBuilder {
    /// Relative urls resolve against `base`.
    pub fn new(base: &Path) -> FlowBuilder {
        FlowBuilder {
            base: base.to_path_buf(),
            name: "stitch".into(),
            duration: None,
            updates: HashMap::new(),
            clips: Vec::new(),
            own: Vec::new(),
            slides: Vec::new(),
            chat: Vec::new(),
        }
    }

    /// The flow's name (default "stitch"), shown in reports.
    pub fn name(&mut self, name: &str) {
        self.name = name.to_string();
    }

    /// The timeline's length in seconds (not finite: unknown).
    pub fn duration(&mut self, secs: f64) -> Result<()> {
        if !secs.is_finite() {
            self.duration = None;
            return Ok(());
        }
        if secs < 0.0 {
            return Err(Error::Flow(format!("negative duration {secs}")));
        }
        self.duration = Some(Time::from_secs_f64(secs, VIDEO_HZ).ticks);
        Ok(())
    }

    /// A `mediasession.update`: the clip with this id lasts `secs` on the timeline.
    pub fn update(&mut self, id: String, secs: f64) {
        if secs.is_finite() && secs >= 0.0 {
            self.updates.insert(id, Time::from_secs_f64(secs, VIDEO_HZ).ticks);
        }
    }

    /// A clip.
    pub fn clip(&mut self, c: ClipEntry) -> Result<()> {
        let (i, url) = (c.event, c.url);
        if url.trim().is_empty() {
            return Err(Error::Flow(format!("event {i}: empty url")));
        }
        if !c.at.is_finite() {
            return Err(Error::Flow(format!("event {i} ({url}): relativeTime is not a number")));
        }
        if c.at < 0.0 {
            return Err(Error::Flow(format!("event {i} ({url}): negative relativeTime {}", c.at)));
        }
        let ticks =
            |x: Option<f64>| x.filter(|d| d.is_finite() && *d > 0.0).map(|d| Time::from_secs_f64(d, VIDEO_HZ).ticks);
        let (path, remote) = locate(url, &self.base).map_err(|e| Error::Flow(format!("event {i} (clip): {e}")))?;
        self.clips.push(ClipSpec {
            index: self.clips.len(),
            url: url.to_string(),
            path,
            remote,
            start: Ticks90k::from_secs_f64(c.at),
            max_len: None,
            id: c.id,
            offset: Ticks90k(ticks(c.offset).unwrap_or(0)),
            source: c.source,
        });
        self.own.push(ticks(c.duration));
        if self.clips.len() > MAX_CLIPS {
            return Err(Error::Flow(format!("more than {MAX_CLIPS} clips")));
        }
        Ok(())
    }

    /// A slide: `image` shown from `at` (seconds, negative: 0) for `duration` (if positive).
    pub fn slide(&mut self, event: usize, image: &str, at: f64, duration: Option<f64>) -> Result<()> {
        let start = Time::from_secs_f64(at.max(0.0), VIDEO_HZ).ticks;
        let end =
            duration.filter(|d| d.is_finite() && *d > 0.0).map(|d| start + Time::from_secs_f64(d, VIDEO_HZ).ticks);
        let (path, remote) =
            locate(image, &self.base).map_err(|e| Error::Flow(format!("event {event} (slide): {e}")))?;
        let (start, end) = (Ticks90k(start), end.map(Ticks90k));
        self.slides.push(SlideSpec { start, end, url: image.to_string(), path, remote });
        Ok(())
    }

    /// A chat message said at `at` (seconds, negative: 0).
    pub fn chat(&mut self, at: f64, author: &str, text: &str) {
        let at = Time::from_secs_f64(at.max(0.0), VIDEO_HZ).ticks;
        self.chat.push(ChatLine { at: Ticks90k(at), author: author.to_string(), text: text.to_string() });
    }

    /// The flow: needs a clip or a duration.
    pub fn build(self) -> Result<Flow> {
        let FlowBuilder { name, duration, updates, mut clips, own, mut slides, mut chat, .. } = self;
        if clips.is_empty() && duration.is_none() {
            return Err(Error::Flow("no clips (no event has data.url) and no duration".into()));
        }
        for (c, own) in clips.iter_mut().zip(own) {
            c.max_len = c.id.as_ref().and_then(|id| updates.get(id).copied()).or(own).map(Ticks90k);
        }
        slides.sort_by_key(|s| s.start);
        for i in 0..slides.len() {
            let next = slides.get(i + 1).map(|n| n.start);
            let s = &mut slides[i];
            s.end = match (s.end, next) {
                (Some(e), Some(n)) => Some(e.min(n)),
                (e, n) => e.or(n),
            };
        }
        chat.sort_by_key(|c| c.at);
        Ok(Flow { name, duration: duration.map(Ticks90k), clips, slides, chat })
    }
}

impl Flow {
    /// Read a flow JSON file with the neutral source fields ([`describe_source`]).
    pub fn load(path: &Path) -> Result<Flow> {
        Self::load_with(path, describe_source)
    }

    /// Read a flow JSON file; `describe` reads each clip's source fields.
    pub fn load_with(path: &Path, describe: DescribeSource) -> Result<Flow> {
        let text = std::fs::read(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse_with(&text, &base, describe).map_err(|e| match e {
            Error::Flow(m) => Error::Flow(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parse flow JSON with the neutral source fields; relative urls resolve against `base`.
    pub fn parse(json: &[u8], base: &Path) -> Result<Flow> {
        Self::parse_with(json, base, describe_source)
    }

    /// Parse flow JSON; `describe` reads each clip's source fields.
    pub fn parse_with(json: &[u8], base: &Path, describe: DescribeSource) -> Result<Flow> {
        let v: Value = serde_json::from_slice(json).map_err(|e| {
            if e.is_eof() {
                Error::Flow(format!("truncated JSON (ends at line {} column {})", e.line(), e.column()))
            } else {
                Error::Flow(format!("not valid JSON: {e}"))
            }
        })?;
        let obj = v.as_object().ok_or_else(|| Error::Flow("top level is not a JSON object".into()))?;
        let mut b = FlowBuilder::new(base);
        b.name(obj.get("name").and_then(Value::as_str).unwrap_or("stitch"));
        match obj.get("duration") {
            None | Some(Value::Null) => {}
            Some(d) => b.duration(secs(d).ok_or_else(|| Error::Flow(format!("\"duration\" is not a number: {d}")))?)?,
        }
        let logs = match obj.get("eventLogs") {
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err(Error::Flow("\"eventLogs\" is not an array".into())),
            None => return Err(Error::Flow("no \"eventLogs\" array".into())),
        };
        for ev in logs {
            if ev.get("module").and_then(Value::as_str) == Some("mediasession.update") {
                let data = ev.get("data");
                if let (Some(id), Some(d)) = (
                    data.and_then(|d| d.get("id")).and_then(id_of),
                    data.and_then(|d| d.get("duration")).and_then(secs),
                ) {
                    b.update(id, d);
                }
            }
        }
        for (i, ev) in logs.iter().enumerate() {
            if let Some(data) = ev.get("data").filter(|d| d.is_object()) {
                event(&mut b, i, ev, data, describe)?;
            }
        }
        b.build()
    }
}

/// One event of the flow JSON into the builder (events of unknown shape are ignored).
fn event(b: &mut FlowBuilder, i: usize, ev: &Value, data: &Value, describe: DescribeSource) -> Result<()> {
    let module = ev.get("module").and_then(Value::as_str);
    let at = ev.get("relativeTime");
    if module == Some("chat.message") {
        if let Some(t) = at.and_then(secs) {
            let s = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("");
            b.chat(t, s("author"), s("text"));
        }
        return Ok(());
    }
    if module == Some("slide.show") {
        let (Some(img), Some(t)) = (data.get("image").and_then(Value::as_str), at.and_then(secs)) else {
            return Err(Error::Flow(format!("event {i}: slide.show needs data.image and relativeTime")));
        };
        return b.slide(i, img, t, data.get("duration").and_then(secs));
    }
    let Some(url) = data.get("url").and_then(Value::as_str) else {
        return Ok(());
    };
    if module == Some("mediasession.update") {
        return Ok(());
    }
    if url.trim().is_empty() {
        return Err(Error::Flow(format!("event {i}: empty url")));
    }
    let rt = at.ok_or_else(|| Error::Flow(format!("event {i} ({url}): no relativeTime")))?;
    let rt = secs(rt).ok_or_else(|| Error::Flow(format!("event {i} ({url}): relativeTime is not a number")))?;
    b.clip(ClipEntry {
        event: i,
        url,
        at: rt,
        id: data.get("id").and_then(id_of),
        duration: data.get("duration").and_then(secs),
        offset: data.get("offset").and_then(secs),
        source: describe(data),
    })
}

fn resolve(url: &str, base: &Path) -> PathBuf {
    let u = url.strip_prefix("file://").unwrap_or(url);
    let p = Path::new(u);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mts_shape() {
        let j = br#"{"name":"w","duration":30.5,"eventLogs":[
            {"relativeTime":0.5,"module":"mediasession.add","data":{"id":1,"url":"a.mp4"}},
            {"relativeTime":2,"module":"conference.add","data":{"id":9}},
            {"relativeTime":"3.25","module":"mediasession.add","data":{"id":"2","url":"/abs/b.mp4","duration":10,"offset":1.5}},
            {"relativeTime":9,"module":"mediasession.update","data":{"id":1,"duration":4.2}}]}"#;
        let f = Flow::parse(j, Path::new("/base")).unwrap();
        assert_eq!(f.name, "w");
        assert_eq!(f.duration, Some(Ticks90k(2_745_000)));
        assert_eq!(f.clips.len(), 2);
        assert_eq!(f.clips[0].path, PathBuf::from("/base/a.mp4"));
        assert_eq!(f.clips[0].start, Ticks90k(45_000));
        assert_eq!(f.clips[0].max_len, Some(Ticks90k(378_000)));
        assert_eq!(f.clips[1].path, PathBuf::from("/abs/b.mp4"));
        assert_eq!(f.clips[1].start, Ticks90k(292_500));
        assert_eq!(f.clips[1].max_len, Some(Ticks90k(900_000)));
        assert_eq!(f.clips[1].offset, Ticks90k(135_000));
        assert_eq!(f.clips[0].offset, Ticks90k::ZERO);
    }

    #[test]
    fn clear_errors() {
        let e = |j: &[u8]| Flow::parse(j, Path::new("/")).unwrap_err().to_string();
        assert!(e(b"").contains("truncated"), "{}", e(b""));
        assert!(e(br#"{"eventLogs":[{"relativeTime":1,"da"#).contains("truncated"));
        assert!(e(b"[1,2]").contains("not a JSON object"));
        assert!(e(br#"{"name":"x"}"#).contains("eventLogs"));
        assert!(e(br#"{"eventLogs":[{"data":{"url":"a.mp4"}}]}"#).contains("relativeTime"));
        assert!(e(br#"{"eventLogs":[{"relativeTime":-1,"data":{"url":"a.mp4"}}]}"#).contains("negative"));
        assert!(e(br#"{"eventLogs":[]}"#).contains("no clips"));
        assert!(e(br#"{"duration":"x","eventLogs":[]}"#).contains("duration"));
        for bad in ["ftp://h/a.mp4", "data:video/mp4;base64,AAAA", "rtmp://h/live", "S3://bucket/a.mp4"] {
            let j = format!(
                r#"{{"eventLogs":[{{"relativeTime":0,"data":{{"url":"x.mp4"}}}},{{"relativeTime":1,"data":{{"url":"{bad}"}}}}]}}"#
            );
            let m = e(j.as_bytes());
            assert!(m.contains("event 1 (clip)") && m.contains("not supported") && m.contains(bad), "{m}");
        }
        let j = br#"{"eventLogs":[{"relativeTime":0,"module":"slide.show","data":{"image":"ftp://h/s.png"}}],"duration":1}"#;
        assert!(e(j).contains("event 0 (slide)"), "{}", e(j));
    }

    #[test]
    fn remote_urls_stay_urls() {
        let j = br#"{"eventLogs":[
            {"relativeTime":0,"data":{"url":"https://cdn.test/a/clip.mp4?sig=1"}},
            {"relativeTime":1,"data":{"url":"HTTP://cdn.test/b.mp4"}},
            {"relativeTime":2,"data":{"url":"file:///abs/c.mp4"}},
            {"relativeTime":3,"data":{"url":"C:/d.mp4"}},
            {"relativeTime":4,"data":{"url":"dir/e:1.mp4"}},
            {"relativeTime":5,"module":"slide.show","data":{"image":"https://cdn.test/s.png"}}]}"#;
        let f = Flow::parse(j, Path::new("/base")).unwrap();
        assert_eq!((f.clips[0].path.as_os_str().is_empty(), &f.clips[0].remote), (true, &Some(Remote::Pending)));
        assert_eq!(f.clips[0].url, "https://cdn.test/a/clip.mp4?sig=1");
        assert_eq!(f.clips[1].remote, Some(Remote::Pending));
        assert_eq!((f.clips[2].path.as_path(), &f.clips[2].remote), (Path::new("/abs/c.mp4"), &None));
        assert_eq!(f.clips[3].path, PathBuf::from("/base/C:/d.mp4"));
        assert_eq!(f.clips[4].path, PathBuf::from("/base/dir/e:1.mp4"));
        assert_eq!(f.slides[0].remote, Some(Remote::Pending));
        assert!(f.slides[0].path.as_os_str().is_empty());
        assert!(Remote::Failed("404".into()).reason("u").contains("download failed: 404"));
    }
}
