//! The recording service's outside data, parsed and checked: the webhook body, the stream
//! service's list of live streams, stream keys and ids, RFC 3339 times. Std and serde only
//! (the fuzz target `recording_wire` includes this file by path).

use serde::Deserialize;
use serde_json::Value;

/// Why a stream's identity was refused (HTTP 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadStream {
    #[error("stream_key {0:?}: expected 1 to 128 characters of A-Z a-z 0-9 _ -")]
    Key(String),
    #[error("stream_id {0:?}: expected a UUID")]
    Id(String),
}

/// A stream key goes into URLs, object keys and paths only after this check.
pub fn check_stream_key(k: &str) -> Result<(), BadStream> {
    let ok = !k.is_empty() && k.len() <= 128 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(BadStream::Key(k.chars().take(200).collect()))
    }
}

/// A stream id is a UUID (any version; written back lower-case).
pub fn check_stream_id(id: &str) -> Result<String, BadStream> {
    let b = id.as_bytes();
    let ok = b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() });
    if ok {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(BadStream::Id(id.chars().take(200).collect()))
    }
}

/// `--live-hls-url` with the stream's key and id (both checked before).
pub fn live_url(template: &str, stream_key: &str, stream_id: &str) -> Result<url::Url, url::ParseError> {
    let u = template.replace("{stream_key}", stream_key).replace("{stream_id}", stream_id);
    url::Url::parse(&u)
}

/// A stream event, from the webhook or the monitor.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub stream_id: String,
    pub stream_key: String,
    pub user_id: Option<String>,
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    if b.len() < 20 || !digits(0..4) || !digits(5..7) || !digits(8..10) || !digits(11..13) || !digits(14..16) {
        return false;
    }
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return false;
    }
    if !digits(17..19) {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', ..] => b.len() == i + 6 && digits(i + 1..i + 3) && b[i + 3] == b':' && digits(i + 4..i + 6),
        _ => false,
    }
}

/// The webhook body, checked: (event, stream).
pub fn parse_webhook(body: &[u8]) -> Result<(String, StreamEvent), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("Invalid JSON: {e}"))?;
    let o = v.as_object().ok_or("Invalid JSON: expected an object")?;
    let field = |name: &str| -> Result<String, String> {
        match o.get(name) {
            None | Some(Value::Null) => Err(format!("Missing required field: {name}")),
            Some(Value::String(s)) if s.trim().is_empty() => Err(format!("Missing required field: {name}")),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) if name == "user_id" => Ok(n.to_string()),
            Some(_) => Err(format!("Invalid field: {name} must be a string")),
        }
    };
    let event = field("event")?;
    if event != "stream.started" && event != "stream.ended" {
        return Err("Invalid event type".into());
    }
    let stream_id = check_stream_id(&field("stream_id")?).map_err(|e| e.to_string())?;
    let stream_key = field("stream_key")?;
    check_stream_key(&stream_key).map_err(|e| e.to_string())?;
    let user_id = field("user_id")?;
    let ts = field("timestamp")?;
    if !is_rfc3339(&ts) {
        return Err(format!("Invalid field: timestamp {ts:?} is not RFC 3339"));
    }
    Ok((event, StreamEvent { stream_id, stream_key, user_id: Some(user_id) }))
}

/// One live stream as the stream service lists it.
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct LiveStream {
    pub id: String,
    pub stream_key: String,
    #[serde(default)]
    pub user_id: Option<serde_json::Value>,
    #[serde(default)]
    pub started_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Listing {
    Plain(Vec<LiveStream>),
    Wrapped { streams: Vec<LiveStream> },
}

/// The stream service's answer, parsed; streams with a bad key or id are left out (and
/// returned apart, to be logged), never put into a URL.
pub fn parse_live(body: &[u8]) -> Result<(Vec<StreamEvent>, Vec<BadStream>), String> {
    let l: Listing = serde_json::from_slice(body).map_err(|e| format!("the stream service's answer: {e}"))?;
    let list = match l {
        Listing::Plain(v) | Listing::Wrapped { streams: v } => v,
    };
    let (mut out, mut refused) = (Vec::new(), Vec::new());
    for s in list {
        match (check_stream_key(&s.stream_key), check_stream_id(&s.id)) {
            (Ok(()), Ok(id)) => out.push(StreamEvent {
                stream_id: id,
                stream_key: s.stream_key,
                user_id: s.user_id.map(|u| match u {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                }),
            }),
            (Err(e), _) | (_, Err(e)) => refused.push(e),
        }
    }
    Ok((out, refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_and_ids_are_checked() {
        for k in ["abc", "A-b_9", &"k".repeat(128)] {
            assert_eq!(check_stream_key(k), Ok(()), "{k}");
        }
        for k in ["", "../../x", "a/b", "a b", "a.b", "ключ", "a%2F", &"k".repeat(129), "a\n"] {
            assert!(check_stream_key(k).is_err(), "{k:?}");
        }
        assert_eq!(
            check_stream_id("6F9619FF-8B86-D011-B42D-00CF4FC964FF").unwrap(),
            "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
        );
        assert!(check_stream_id("x").is_err() && check_stream_id("../x").is_err());
        let u = live_url("http://h:1/live/{stream_key}/index.m3u8?id={stream_id}", "k1", "id1").unwrap();
        assert_eq!(u.as_str(), "http://h:1/live/k1/index.m3u8?id=id1");
    }
    #[test]
    fn webhook_bodies_are_checked_field_by_field() {
        let ok = r#"{"event":"stream.started","stream_id":"6f9619ff-8b86-d011-b42d-00cf4fc964ff","stream_key":"k1",
                     "user_id":"u1","timestamp":"2026-12-05T10:00:00Z"}"#;
        let (e, ev) = parse_webhook(ok.as_bytes()).unwrap();
        assert_eq!((e.as_str(), ev.stream_key.as_str()), ("stream.started", "k1"));
        let with = |k: &str, v: &str| {
            let mut m: serde_json::Map<String, Value> = serde_json::from_str(ok).unwrap();
            if v == "-" {
                m.remove(k);
            } else {
                m.insert(k.into(), serde_json::from_str(v).unwrap());
            }
            parse_webhook(Value::Object(m).to_string().as_bytes())
        };
        assert_eq!(with("event", "\"stream.paused\"").unwrap_err(), "Invalid event type");
        for f in ["event", "stream_id", "stream_key", "user_id", "timestamp"] {
            let e = with(f, "-").unwrap_err();
            assert!(e.contains(f), "{f}: {e}");
        }
        assert!(with("stream_key", "\"../../x\"").unwrap_err().contains("stream_key"));
        assert!(with("stream_id", "\"x\"").unwrap_err().contains("stream_id"));
        assert!(with("timestamp", "\"yesterday\"").unwrap_err().contains("timestamp"));
        assert!(with("stream_key", "5").unwrap_err().contains("stream_key"));
        assert!(with("user_id", "42").is_ok());
        assert!(parse_webhook(b"{").unwrap_err().starts_with("Invalid JSON"));
        assert!(parse_webhook(b"[]").unwrap_err().starts_with("Invalid JSON"));
        for t in ["2026-12-05T10:00:00Z", "2026-12-05T10:00:00.123456+03:00", "2026-12-05t10:00:00z"] {
            assert!(is_rfc3339(t), "{t}");
        }
        for t in ["2026-12-05", "2026-12-05T10:00:00", "2026-12-05T10:00:00.Z", "2026-12-05T10:00:00+0300", ""] {
            assert!(!is_rfc3339(t), "{t}");
        }
    }
    #[test]
    fn listings_parse_and_bad_streams_are_left_out() {
        let id = "6f9619ff-8b86-d011-b42d-00cf4fc964ff";
        let body = format!(
            r#"[{{"id":"{id}","stream_key":"k1","user_id":"u","started_at":"2026-12-05T00:00:00Z"}},
                {{"id":"{id}","stream_key":"../../x"}}, {{"id":"nope","stream_key":"k3"}}]"#
        );
        let (v, refused) = parse_live(body.as_bytes()).unwrap();
        assert_eq!(refused.len(), 2);
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].stream_key.as_str(), v[0].user_id.as_deref()), ("k1", Some("u")));
        let w = parse_live(format!(r#"{{"streams":[{{"id":"{id}","stream_key":"k2","user_id":7}}]}}"#).as_bytes())
            .unwrap()
            .0;
        assert_eq!((w[0].stream_key.as_str(), w[0].user_id.as_deref()), ("k2", Some("7")));
        assert!(parse_live(b"{").is_err() && parse_live(b"[{\"id\":1}]").is_err());
        assert!(parse_live(b"[]").unwrap().0.is_empty());
    }
}
