//! The record's chat, exported beside the video: `<name>.chat.srt` (SubRip: every message
//! from its time, as "Author: text") and `<name>.chat.json` (the messages as they are).
//!
//! SubRip cue timing: a message shows from its timeline time for [`SHOW_SECS`], or until
//! the next message when that comes sooner (at least [`MIN_SECS`]), so cues do not pile
//! up on players that show one cue at a time.

use std::path::Path;

use super::plan::ChatMessage;

/// How long a message stays on screen when no other follows.
pub const SHOW_SECS: f64 = 5.0;
/// Shortest cue.
pub const MIN_SECS: f64 = 1.0;

/// `HH:MM:SS,mmm`
fn srt_time(secs: f64) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02},{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// The chat as SubRip text (messages in time order; blank lines inside a message removed,
/// since a blank line ends a SubRip cue).
pub fn to_srt(chat: &[ChatMessage]) -> String {
    let mut msgs: Vec<&ChatMessage> = chat.iter().filter(|m| m.time.is_finite()).collect();
    msgs.sort_by(|a, b| a.time.total_cmp(&b.time));
    let mut out = String::new();
    for (i, m) in msgs.iter().enumerate() {
        let next = msgs.get(i + 1).map(|n| n.time).unwrap_or(f64::INFINITY);
        let end = m.time + (next - m.time).clamp(MIN_SECS, SHOW_SECS);
        let text: Vec<&str> = m.text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
        let body = if m.author.trim().is_empty() {
            text.join("\n")
        } else {
            format!("{}: {}", m.author.trim(), text.join("\n"))
        };
        out.push_str(&format!("{}\n{} --> {}\n{}\n\n", i + 1, srt_time(m.time), srt_time(end), body));
    }
    out
}

/// The chat as a JSON array of `{"time", "author", "text"}`.
pub fn to_json(chat: &[ChatMessage]) -> serde_json::Value {
    serde_json::json!(chat)
}

/// Write `<dir>/<stem>.chat.srt` and `<dir>/<stem>.chat.json`.
pub fn export(chat: &[ChatMessage], dir: &Path, stem: &str) -> std::io::Result<()> {
    std::fs::write(dir.join(format!("{stem}.chat.srt")), to_srt(chat))?;
    let json = serde_json::to_vec_pretty(&to_json(chat)).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(format!("{stem}.chat.json")), json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(t: f64, a: &str, x: &str) -> ChatMessage {
        ChatMessage { time: t, author: a.into(), text: x.into() }
    }

    #[test]
    fn srt_cues_at_message_times() {
        let chat = vec![msg(62.5, "Пётр", "Добрый день"), msg(3.0, "", "first\n\nline two"), msg(63.0, "A", "b")];
        let s = to_srt(&chat);
        assert_eq!(
            s,
            "1\n00:00:03,000 --> 00:00:08,000\nfirst\nline two\n\n\
             2\n00:01:02,500 --> 00:01:03,500\nПётр: Добрый день\n\n\
             3\n00:01:03,000 --> 00:01:08,000\nA: b\n\n"
        );
        assert_eq!(srt_time(3725.0371), "01:02:05,037");
    }

    #[test]
    fn json_keeps_every_message() {
        let chat = vec![msg(1.0, "a", "x"), msg(2.0, "b", "y")];
        let v = to_json(&chat);
        assert_eq!(v.as_array().unwrap().len(), 2);
        assert_eq!(v[1]["author"], "b");
        assert_eq!(v[1]["time"], 2.0);
    }
}
