//! The flow JSON: MTS Link's event-log shape, reduced to what places clips on a timeline.
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use crate::clip::{is_http_url, ChatLine, ClipSpec, Flow, Remote, SlideSpec, SourceInfo, SourceKind};
use crate::time::{Time, VIDEO_HZ};
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

/// The clip's [`SourceInfo`] from its event's `data`.
fn source_info(data: &Value) -> SourceInfo {
    let st = |v: Option<&Value>| v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    let conf_user = data.get("stream").and_then(|s| s.get("conference")).and_then(|c| c.get("user"));
    let kind = match data.get("kind").and_then(Value::as_str) {
        Some("camera") => SourceKind::Camera,
        Some("screen") => SourceKind::Screen,
        Some("audio_only") => SourceKind::AudioOnly,
        _ if data.get("stream").and_then(|s| s.get("screensharing")).is_some() => SourceKind::Screen,
        _ if conf_user.is_some() => SourceKind::Camera,
        _ => SourceKind::Unknown,
    };
    let participant =
        data.get("userId").and_then(id_of).or_else(|| conf_user.and_then(|u| u.get("id")).and_then(id_of));
    let name = st(data.get("userName")).or_else(|| st(conf_user.and_then(|u| u.get("nickname"))));
    let role = st(data.get("role")).or_else(|| st(conf_user.and_then(|u| u.get("role"))));
    let presenter = matches!(role.as_deref(), Some("ADMIN" | "LECTURER" | "admin" | "lecturer"));
    SourceInfo { kind, participant, name, presenter }
}

fn secs(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Limit on the number of clips (a guard against absurd inputs; real webinars have ~2000).
pub const MAX_CLIPS: usize = 1_000_000;

impl Flow {
    pub fn load(path: &Path) -> Result<Flow> {
        let text = std::fs::read(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &base).map_err(|e| match e {
            Error::Flow(m) => Error::Flow(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parse flow JSON; relative urls resolve against `base`.
    pub fn parse(json: &[u8], base: &Path) -> Result<Flow> {
        let v: Value = serde_json::from_slice(json).map_err(|e| {
            if e.is_eof() {
                Error::Flow(format!("truncated JSON (ends at line {} column {})", e.line(), e.column()))
            } else {
                Error::Flow(format!("not valid JSON: {e}"))
            }
        })?;
        let obj = v.as_object().ok_or_else(|| Error::Flow("top level is not a JSON object".into()))?;
        let name = obj.get("name").and_then(Value::as_str).unwrap_or("stitch").to_string();
        let duration = match obj.get("duration") {
            None | Some(Value::Null) => None,
            Some(d) => {
                let s = secs(d).ok_or_else(|| Error::Flow(format!("\"duration\" is not a number: {d}")))?;
                if s < 0.0 {
                    return Err(Error::Flow(format!("negative duration {s}")));
                }
                Some(Time::from_secs_f64(s, VIDEO_HZ).ticks)
            }
        };
        let logs = match obj.get("eventLogs") {
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err(Error::Flow("\"eventLogs\" is not an array".into())),
            None => return Err(Error::Flow("no \"eventLogs\" array".into())),
        };
        let mut updates: HashMap<String, i64> = HashMap::new();
        for ev in logs {
            if ev.get("module").and_then(Value::as_str) == Some("mediasession.update") {
                let data = ev.get("data");
                if let (Some(id), Some(d)) = (
                    data.and_then(|d| d.get("id")).and_then(id_of),
                    data.and_then(|d| d.get("duration")).and_then(secs),
                ) {
                    if d >= 0.0 {
                        updates.insert(id, Time::from_secs_f64(d, VIDEO_HZ).ticks);
                    }
                }
            }
        }
        let mut clips = Vec::new();
        let mut slides: Vec<SlideSpec> = Vec::new();
        let mut chat: Vec<ChatLine> = Vec::new();
        for (i, ev) in logs.iter().enumerate() {
            let Some(data) = ev.get("data").filter(|d| d.is_object()) else {
                continue;
            };
            if ev.get("module").and_then(Value::as_str) == Some("chat.message") {
                if let Some(t) = ev.get("relativeTime").and_then(secs) {
                    let s = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    chat.push(ChatLine {
                        at: Time::from_secs_f64(t.max(0.0), VIDEO_HZ).ticks,
                        author: s("author"),
                        text: s("text"),
                    });
                }
                continue;
            }
            if ev.get("module").and_then(Value::as_str) == Some("slide.show") {
                let (Some(img), Some(t)) =
                    (data.get("image").and_then(Value::as_str), ev.get("relativeTime").and_then(secs))
                else {
                    return Err(Error::Flow(format!("event {i}: slide.show needs data.image and relativeTime")));
                };
                let start = Time::from_secs_f64(t.max(0.0), VIDEO_HZ).ticks;
                let end = data
                    .get("duration")
                    .and_then(secs)
                    .filter(|d| *d > 0.0)
                    .map(|d| start + Time::from_secs_f64(d, VIDEO_HZ).ticks);
                let (path, remote) = locate(img, base).map_err(|e| Error::Flow(format!("event {i} (slide): {e}")))?;
                slides.push(SlideSpec { start, end, url: img.to_string(), path, remote });
                continue;
            }
            let Some(url) = data.get("url").and_then(Value::as_str) else {
                continue;
            };
            if ev.get("module").and_then(Value::as_str) == Some("mediasession.update") {
                continue;
            }
            if url.trim().is_empty() {
                return Err(Error::Flow(format!("event {i}: empty url")));
            }
            let rt =
                ev.get("relativeTime").ok_or_else(|| Error::Flow(format!("event {i} ({url}): no relativeTime")))?;
            let rt = secs(rt).ok_or_else(|| Error::Flow(format!("event {i} ({url}): relativeTime is not a number")))?;
            if rt < 0.0 {
                return Err(Error::Flow(format!("event {i} ({url}): negative relativeTime {rt}")));
            }
            let id = data.get("id").and_then(id_of);
            let own = data
                .get("duration")
                .and_then(secs)
                .filter(|d| *d > 0.0)
                .map(|d| Time::from_secs_f64(d, VIDEO_HZ).ticks);
            let max_len = id.as_ref().and_then(|id| updates.get(id).copied()).or(own);
            let offset = data
                .get("offset")
                .and_then(secs)
                .filter(|o| *o > 0.0)
                .map(|o| Time::from_secs_f64(o, VIDEO_HZ).ticks)
                .unwrap_or(0);
            let (path, remote) = locate(url, base).map_err(|e| Error::Flow(format!("event {i} (clip): {e}")))?;
            clips.push(ClipSpec {
                index: clips.len(),
                url: url.to_string(),
                path,
                remote,
                start: Time::from_secs_f64(rt, VIDEO_HZ).ticks,
                max_len,
                id,
                offset,
                source: source_info(data),
            });
            if clips.len() > MAX_CLIPS {
                return Err(Error::Flow(format!("more than {MAX_CLIPS} clips")));
            }
        }
        if clips.is_empty() && duration.is_none() {
            return Err(Error::Flow("no clips (no event has data.url) and no duration".into()));
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
        Ok(Flow { name, duration, clips, slides, chat })
    }
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
        assert_eq!(f.duration, Some(2_745_000));
        assert_eq!(f.clips.len(), 2);
        assert_eq!(f.clips[0].path, PathBuf::from("/base/a.mp4"));
        assert_eq!(f.clips[0].start, 45_000);
        assert_eq!(f.clips[0].max_len, Some(378_000));
        assert_eq!(f.clips[1].path, PathBuf::from("/abs/b.mp4"));
        assert_eq!(f.clips[1].start, 292_500);
        assert_eq!(f.clips[1].max_len, Some(900_000));
        assert_eq!(f.clips[1].offset, 135_000);
        assert_eq!(f.clips[0].offset, 0);
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
