//! Bitstream helpers for the two codecs the default build handles end to end:
//! H.264 (ITU-T H.264, Annex B byte streams, ISO/IEC 14496-15 `avcC`) and
//! AAC (ISO/IEC 14496-3 AudioSpecificConfig, ISO/IEC 13818-7 ADTS).

pub mod aac;
pub(crate) mod bits;
pub mod h264;
