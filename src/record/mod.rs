//! `stitch record`: direct MP4, HLS VOD, live HLS and fMP4 HLS into a continuity-fixed
//! MPEG-TS or a faststart MP4, all in-process.

pub mod events;
