//! `media`: stitch's in-process media pipeline.
//!
//! Stages, in data order, one module each: [`demux`] (containers to packets), [`decode`]
//! (packets to pictures and PCM), [`timeline`] (what is active at each output frame, gaps
//! filled, audio placed on the sample clock), [`compose`] (pictures onto the output
//! canvas), [`mix`] (audio summed, levelled, limited), [`encode`] (H.264/AAC), [`mux`]
//! (MP4 / MPEG-TS). They share only the vocabulary in [`time`], [`packet`], [`frame`],
//! [`clip`], [`Container`] and [`error`] (and the bitstream helpers in [`codec`], the
//! MPEG-TS primitives in [`ts`]); no stage imports a later one (`.ci/check_arch.py`).
//! [`pipeline`] wires them with bounded channels; [`remux`] is the recorder's path from
//! demuxers straight to a muxer, without decoding. No network, no async runtime.

#![forbid(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod clip;
pub mod codec;
pub mod container;
pub mod error;
pub mod frame;
pub mod packet;
pub mod time;

pub use container::Container;
pub use error::{Error, Result};
pub mod compose;
pub mod decode;
pub mod demux;
pub mod encode;
pub mod mix;
pub mod mux;
pub mod pipeline;
pub mod remux;
pub mod stats;
#[cfg(test)]
pub(crate) mod testutil;
pub mod timeline;
pub mod ts;
