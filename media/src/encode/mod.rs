//! Encode: pictures to H.264 with OpenH264 ([`h264`]), PCM to AAC-LC with FDK AAC
//! ([`aac`]). [`ChunkEncoder`] cuts the timeline into independent chunks (each opening with
//! an IDR picture) and encodes them on a rayon pool, so video encoding scales with cores
//! while the output stays one continuous stream.

pub mod aac;
pub mod h264;
mod skip;

pub(crate) use aac::AacEncoder;
pub use h264::{ChunkEncoder, EncodedChunk, H264Settings, VideoChunk};
