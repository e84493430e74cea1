//! `stitch`: the application crate. The binary's commands live here so they can be used
//! from other Rust code too; the media pipeline itself is the `media` crate.
//!
//! - [`compile`]: `stitch compile FLOW -o OUT` — a flow JSON of clips to one H.264/AAC file.
//! - [`webinar`]: `stitch webinar LINK` — an MTS Link record from its link to a file.
//! - [`mtslink`]: link parsing, the API client and the event-log plan (usable on their own).
//! - [`download`]: the resumable parallel downloader; [`remote`]: a flow's http(s) clips through it.
//! - [`http`]: the one HTTP layer (client, retry policy, resumable fetch) every request uses.
//! - [`hls`]: HLS playlists (RFC 8216). [`record`]: stream recorders and their events.
//! - [`cookies`]: the Netscape `cookies.txt` parser and RFC 6265 matching every command uses.

pub mod build_info;
pub mod compile;
pub mod cookies;
pub mod download;
pub mod exit;
pub mod hls;
pub mod http;
pub mod mtslink;
pub mod net;
pub mod outpath;
pub mod progress;
pub mod record;
pub mod remote;
pub mod report;
pub mod service;
pub mod stats;
pub mod webinar;

pub use media;
