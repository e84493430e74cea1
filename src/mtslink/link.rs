//! Parsing the links a user pastes: record pages, quick meetings, `/j/` short links, token
//! links and event pages.
//!
//! The robust rule (see `mtslink.md`): find the `/record-new/{sessionId}` part of the path,
//! optionally followed by `/record-file/{recordFileId}` or by a 32-hex `recordAccessToken`,
//! and accept any host. An event page `/j/{org}/{eventId}` (no `record-new`) on an MTS Link
//! host names an event whose sessions are the records (see
//! [`ApiClient::expand_event`](super::api::ApiClient::expand_event)).
//!
//! ```
//! use stitch::mtslink::{parse_link, Link};
//! let l = parse_link("https://my.mts-link.ru/MTC/99405140/record-new/123/record-file/456?utm_source=x").unwrap();
//! assert_eq!(l, Link::Record {
//!     host: "my.mts-link.ru".into(),
//!     session_id: "123".into(),
//!     record_file_id: Some("456".into()),
//!     access_token: None,
//! });
//! assert!(parse_link("http://example.com/foo").unwrap_err().to_string().contains("record-new"));
//! ```

use std::fmt;

use url::Url;

/// A parsed MTS Link address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Link {
    /// One recording: an event session, optionally one record file of it.
    Record {
        /// Host of the page (lower case, with `:port` when the link had one).
        host: String,
        /// The event session id (`record-new/{id}`).
        session_id: String,
        /// `record-file/{id}` when the link names one; `None` for quick meetings.
        record_file_id: Option<String>,
        /// The 32-hex `recordAccessToken` of token links (`record-new/{id}/{token}`).
        access_token: Option<String>,
    },
    /// An event page (`/j/{org}/{eventId}`): expanded to its sessions through the API.
    Event {
        /// Host of the page.
        host: String,
        /// The event id.
        event_id: String,
    },
}

impl Link {
    /// Host of the page the link points at.
    pub fn host(&self) -> &str {
        match self {
            Link::Record { host, .. } | Link::Event { host, .. } => host,
        }
    }
}

impl fmt::Display for Link {
    /// A canonical URL for the link (the org/room path parts are not kept).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Link::Record { host, session_id, record_file_id, access_token } => {
                write!(f, "https://{host}/record-new/{session_id}")?;
                if let Some(fid) = record_file_id {
                    write!(f, "/record-file/{fid}")?;
                }
                if let Some(t) = access_token {
                    write!(f, "/{t}")?;
                }
                Ok(())
            }
            Link::Event { host, event_id } => write!(f, "https://{host}/j/0/{event_id}"),
        }
    }
}

/// Accepted link forms, shown by every [`LinkError`].
pub const ACCEPTED_EXAMPLES: &str = "https://my.mts-link.ru/{org}/{room}/record-new/{sessionId}/record-file/{recordFileId} \
(also .../record-new/{sessionId}, .../record-new/{sessionId}/{32-hex token}, \
https://{org}.mts-link.ru/j/{org}/{room}/record-new/{sessionId}, or an event page https://my.mts-link.ru/j/{org}/{eventId})";

/// A link that is not an MTS Link record or event address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: `{input}`; expected a link like {}", ACCEPTED_EXAMPLES)]
pub struct LinkError {
    /// The text as given (trimmed, shortened when very long).
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

fn err(input: &str, reason: impl Into<String>) -> LinkError {
    let mut shown: String = input.chars().take(200).collect();
    if shown.len() < input.len() {
        shown.push('…');
    }
    LinkError { input: shown, reason: reason.into() }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 30 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_event_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Hosts where a bare `/j/{org}/{eventId}` path is an event page.
fn is_platform_host(host: &str) -> bool {
    let h = host.split(':').next().unwrap_or(host);
    ["mts-link.ru", "webinar.ru"].iter().any(|d| h == *d || h.ends_with(&format!(".{d}")))
}

/// A `/record-new/{sessionId}[/record-file/{id} | /{token}]` link; `rest`: the path after
/// `record-new`.
fn record_link(input: &str, host: String, rest: &[&str], query_token: Option<String>) -> Result<Link, LinkError> {
    let Some(sid) = rest.first() else {
        return Err(err(input, "`record-new` is not followed by a session id"));
    };
    if !is_digits(sid) {
        return Err(err(input, format!("session id `{sid}` is not a number")));
    }
    let mut record_file_id = None;
    let mut access_token = None;
    match &rest[1..] {
        [] => {}
        [rf, fid, ..] if rf.eq_ignore_ascii_case("record-file") => {
            if !is_digits(fid) {
                return Err(err(input, format!("record file id `{fid}` is not a number")));
            }
            record_file_id = Some(fid.to_string());
        }
        [rf] if rf.eq_ignore_ascii_case("record-file") => {
            return Err(err(input, "`record-file` is not followed by an id"));
        }
        [tok, ..] => {
            if !is_hex32(tok) {
                return Err(err(
                    input,
                    format!("`{tok}` after the session id is neither `record-file/{{id}}` nor a 32-hex access token"),
                ));
            }
            access_token = Some(tok.to_ascii_lowercase());
        }
    }
    if access_token.is_none() {
        if let Some(t) = query_token {
            if !is_hex32(&t) {
                return Err(err(input, "recordAccessToken is not 32 hex digits"));
            }
            access_token = Some(t.to_ascii_lowercase());
        }
    }
    Ok(Link::Record { host, session_id: sid.to_string(), record_file_id, access_token })
}

/// Parse a pasted link. Scheme-less links (`my.mts-link.ru/...`) are accepted; query strings
/// and fragments are ignored except `recordAccessToken=`.
pub fn parse_link(s: &str) -> Result<Link, LinkError> {
    let input = s.trim();
    if input.is_empty() {
        return Err(err(input, "empty link"));
    }
    let with_scheme = if input.contains("://") { input.to_string() } else { format!("https://{input}") };
    let url = Url::parse(&with_scheme).map_err(|e| err(input, format!("not a URL ({e})")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(err(input, format!("unsupported scheme `{}`", url.scheme())));
    }
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
        _ => return Err(err(input, "no host")),
    };
    let host = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    let segs: Vec<&str> = url.path_segments().map(|s| s.filter(|p| !p.is_empty()).collect()).unwrap_or_default();
    let query_token = url
        .query_pairs()
        .find(|(k, _)| k == "recordAccessToken")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty());

    if let Some(pos) = segs.iter().position(|s| s.eq_ignore_ascii_case("record-new")) {
        return record_link(input, host, &segs[pos + 1..], query_token);
    }

    if is_platform_host(&host) {
        // Event page: /j/{org}/{eventId} (or /{org}/{eventId} with a numeric event id).
        match segs.as_slice() {
            [j, _org, ev] if j.eq_ignore_ascii_case("j") && is_event_id(ev) => {
                return Ok(Link::Event { host, event_id: ev.to_string() });
            }
            [org, ev] if !org.eq_ignore_ascii_case("j") && is_event_id(org) && is_digits(ev) => {
                return Ok(Link::Event { host, event_id: ev.to_string() });
            }
            _ => {}
        }
    }
    Err(err(input, "no `/record-new/{sessionId}` in the path and not an event page"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(host: &str, sid: &str, fid: Option<&str>, tok: Option<&str>) -> Link {
        Link::Record {
            host: host.into(),
            session_id: sid.into(),
            record_file_id: fid.map(Into::into),
            access_token: tok.map(Into::into),
        }
    }

    fn ev(host: &str, id: &str) -> Link {
        Link::Event { host: host.into(), event_id: id.into() }
    }

    #[test]
    fn table() {
        let tok = "0123456789abcdef0123456789ABCDEF";
        let tok_l = "0123456789abcdef0123456789abcdef";
        let with_tok = format!("https://my.mts-link.ru/1/2/record-new/9/{tok}");
        let with_query_tok = format!("https://my.mts-link.ru/1/2/record-new/9?recordAccessToken={tok_l}");
        let ok: Vec<(&str, Link)> = vec![
            (
                "https://my.mts-link.ru/12345678/987654321/record-new/123456789/record-file/1234567890",
                rec("my.mts-link.ru", "123456789", Some("1234567890"), None),
            ),
            (
                "https://my.mts-link.ru/12345678/987654321/record-new/123456789",
                rec("my.mts-link.ru", "123456789", None, None),
            ),
            (
                "https://hse.mts-link.ru/j/21462290/13201551527/record-new/12430577767",
                rec("hse.mts-link.ru", "12430577767", None, None),
            ),
            (
                "https://my.mts-link.ru/MTC/99405140/record-new/555/record-file/777",
                rec("my.mts-link.ru", "555", Some("777"), None),
            ),
            (
                "https://my.mts-link.ru/j/Flant/iot_1007/record-new/42/record-file/43",
                rec("my.mts-link.ru", "42", Some("43"), None),
            ),
            ("https://gw.mts-link.ru/1/2/record-new/9/record-file/10", rec("gw.mts-link.ru", "9", Some("10"), None)),
            (
                "https://events.webinar.ru/1/2/record-new/9/record-file/10",
                rec("events.webinar.ru", "9", Some("10"), None),
            ),
            ("https://Custom.MTS-Link.ru/1/2/record-new/9/", rec("custom.mts-link.ru", "9", None, None)),
            (
                "https://my.mts-link.ru/1/2/record-new/9/record-file/10?utm_source=tg&utm_medium=x#frag",
                rec("my.mts-link.ru", "9", Some("10"), None),
            ),
            ("  my.mts-link.ru/1/2/record-new/9  ", rec("my.mts-link.ru", "9", None, None)),
            (&with_tok, rec("my.mts-link.ru", "9", None, Some(tok_l))),
            (&with_query_tok, rec("my.mts-link.ru", "9", None, Some(tok_l))),
            ("http://127.0.0.1:8080/x/record-new/5/record-file/6", rec("127.0.0.1:8080", "5", Some("6"), None)),
            ("https://my.mts-link.ru/j/21462290/13201551527", ev("my.mts-link.ru", "13201551527")),
            ("https://hse.mts-link.ru/j/Flant/iot_1007/?utm=1", ev("hse.mts-link.ru", "iot_1007")),
            ("https://events.webinar.ru/21462290/13201551527", ev("events.webinar.ru", "13201551527")),
        ];
        for (s, want) in ok {
            assert_eq!(parse_link(s), Ok(want), "{s}");
        }

        let bad: Vec<(&str, &str)> = vec![
            ("", "empty"),
            ("   ", "empty"),
            ("http://example.com/foo", "record-new"),
            ("https://my.mts-link.ru/1/2/record-new", "not followed"),
            ("https://my.mts-link.ru/1/2/record-new/", "not followed"),
            ("https://my.mts-link.ru/1/2/record-new/abc", "not a number"),
            ("https://my.mts-link.ru/1/2/record-new/9/record-file", "not followed"),
            ("https://my.mts-link.ru/1/2/record-new/9/record-file/x1", "not a number"),
            ("https://my.mts-link.ru/1/2/record-new/9/0123456789abcdef", "32-hex"),
            ("https://my.mts-link.ru/1/2/record-new/9/0123456789abcdef0123456789abcdeg", "32-hex"),
            ("https://my.mts-link.ru/1/2/record-new/9?recordAccessToken=xyz", "32 hex"),
            ("ftp://my.mts-link.ru/1/2/record-new/9", "scheme"),
            ("https://my.mts-link.ru/", "record-new"),
            ("https://my.mts-link.ru/j/21462290", "record-new"),
            ("https://example.com/j/1/2", "record-new"),
            ("not a link at all", "URL"),
        ];
        for (s, want) in bad {
            let e = parse_link(s).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(want), "{s}: {msg}");
            assert!(msg.contains("record-new/{sessionId}/record-file/{recordFileId}"), "{s}: no example in {msg}");
        }
    }

    #[test]
    fn display_roundtrips() {
        for s in [
            "https://my.mts-link.ru/1/2/record-new/9/record-file/10",
            "https://my.mts-link.ru/1/2/record-new/9/0123456789abcdef0123456789abcdef",
            "https://my.mts-link.ru/j/1/777",
        ] {
            let l = parse_link(s).unwrap();
            assert_eq!(parse_link(&l.to_string()).unwrap(), l);
        }
    }
}
