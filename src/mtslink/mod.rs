//! MTS Link (webinar.ru) recordings: the front half of `stitch`.
//!
//! - [`link`]: parse the links users paste ([`parse_link`] -> [`Link`]).
//! - [`api`]: the HTTP client that fetches a record's event log or expands an event page
//!   ([`ApiClient`]); credentials only ever go to MTS Link API hosts.
//! - [`plan`]: the event log reduced to a [`Plan`] (participants, clips, slides, chat, cuts),
//!   saved as `manifest.json`, turned into the [`media::timeline::Flow`] the compiler runs
//!   ([`Plan::to_flow`]) and into `flow.json` for the user to read.
//! - [`flow`]: MTS Link's field names in flow JSON ([`flow::load`]), and `Plan::to_flow`.
//! - [`chat`]: the chat exported as SubRip subtitles and JSON.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use stitch::mtslink::{build_plan, parse_link, ApiClient, ApiOptions};
//! let link = parse_link("https://my.mts-link.ru/1/2/record-new/3/record-file/4")?;
//! let api = ApiClient::new(ApiOptions::default())?;
//! for rec in api.records_of(&link).await? {
//!     let (json, _host) = api.fetch_record(&rec).await?;
//!     let plan = build_plan(&json)?;
//!     plan.write_manifest(std::path::Path::new("job"))?;
//!     let flow = plan.to_flow_json(|c| c.file_name());
//!     # let _ = flow;
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod api;
pub mod chat;
pub mod flow;
pub mod link;
pub mod plan;

pub use api::{ApiClient, ApiError, ApiOptions};
pub use link::{parse_link, Link, LinkError};
pub use plan::{build_plan, ChatMessage, Cut, Participant, Plan, PlanClip, PlanError, Slide};
