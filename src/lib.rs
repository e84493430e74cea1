//! `stitch`: the application crate. The binary's commands live here so they can be used
//! from other Rust code too; the media pipeline itself is the `media` crate.
//!
//! - [`compile`]: `stitch compile FLOW -o OUT` — a flow JSON of clips to one H.264/AAC file.

pub mod compile;
pub mod progress;

pub use media;
