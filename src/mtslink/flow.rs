//! MTS Link's side of the flow: the field names of its event log, and the [`Plan`] as a
//! [`Flow`] in code.
//!
//! `media` reads flows with neutral field names ([`media::timeline::flow::describe_source`]);
//! a flow written by MTS Link (or by [`Plan::to_flow_json`], which keeps its role names)
//! also says who a clip belongs to with `data.stream.conference.user` (`id`, `nickname`,
//! `role`), `data.stream.screensharing`, and `data.role` = `ADMIN` / `LECTURER` for the
//! presenters. [`load`] and [`parse`] read both; `stitch compile` uses them.

use std::path::Path;

use media::timeline::flow::{id_of, ClipEntry, FlowBuilder};
use media::timeline::{Flow, SourceInfo, SourceKind};
use serde_json::Value;

use super::plan::Plan;

/// Roles that make a participant a presenter (first in the tile order).
fn is_presenter_role(role: Option<&str>) -> bool {
    matches!(role, Some("ADMIN" | "LECTURER" | "admin" | "lecturer"))
}

/// A trimmed, non-empty string field.
fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

/// Who a clip belongs to: `data.kind` (`camera`, `screen`, `audio_only`), `data.userId`,
/// `data.userName`, `data.role`, or MTS Link's own `data.stream.conference.user` /
/// `data.stream.screensharing`.
pub fn describe_source(data: &Value) -> SourceInfo {
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
    let name = text(data.get("userName")).or_else(|| text(conf_user.and_then(|u| u.get("nickname"))));
    let role = text(data.get("role")).or_else(|| text(conf_user.and_then(|u| u.get("role"))));
    SourceInfo { kind, participant, name, presenter: is_presenter_role(role.as_deref()) }
}

/// Read a flow JSON file in MTS Link's dialect.
pub fn load(path: &Path) -> media::Result<Flow> {
    Flow::load_with(path, describe_source)
}

/// Parse flow JSON in MTS Link's dialect; relative urls resolve against `base`.
pub fn parse(json: &[u8], base: &Path) -> media::Result<Flow> {
    Flow::parse_with(json, base, describe_source)
}

impl Plan {
    /// The flow the compiler runs: the clips, slides and chat of [`Plan::to_flow_json`],
    /// [`Plan::slide_flow_events`] and [`Plan::chat_flow_events`] (the same events, in the
    /// same order), built in code; file names resolve against the job folder `job`.
    pub fn to_flow(&self, job: &Path) -> media::Result<Flow> {
        let mut b = FlowBuilder::new(job);
        b.name(&self.name);
        if let Some(d) = self.duration {
            b.duration(d)?;
        }
        let clips = self.flow_clips();
        for (event, c) in clips.iter().enumerate() {
            let url = c.file_name();
            b.clip(ClipEntry {
                event,
                url: &url,
                at: c.start,
                id: Some(c.id.clone()).filter(|id| !id.is_empty()),
                duration: c.length(),
                offset: Some(c.offset),
                source: self.source_of(c),
            })?;
        }
        let mut event = clips.len();
        for (i, s) in self.slides.iter().enumerate().filter(|(_, s)| Self::slide_shown(s)) {
            b.slide(event, &s.file_name(i), s.start.max(0.0), s.end.map(|e| e - s.start))?;
            event += 1;
        }
        for m in self.chat.iter().filter(|m| m.time.is_finite()) {
            b.chat(m.time.max(0.0), &m.author, &m.text);
        }
        b.build()
    }

    /// Who clip `c` shows (what [`describe_source`] reads from its flow event).
    fn source_of(&self, c: &super::PlanClip) -> SourceInfo {
        let user = c.user_id.as_ref().and_then(|u| self.participants.iter().find(|p| &p.id == u));
        let name = c.user_name.as_ref().or(user.map(|p| &p.name));
        SourceInfo {
            kind: c.kind,
            participant: c.user_id.clone().filter(|u| !u.is_empty()),
            name: name.map(|n| n.trim()).filter(|n| !n.is_empty()).map(String::from),
            presenter: is_presenter_role(user.and_then(|p| p.role.as_deref()).map(str::trim)),
        }
    }
}
