//! What demuxers produce and muxers consume: stream parameters and compressed packets.
//!
//! Conventions every demuxer and muxer follows, so stages never need to know each other:
//! - H.264 packet data is **Annex B** (ITU-T H.264 Annex B): NAL units each preceded by a
//!   `00 00 00 01` start code. An MP4 demuxer converts from length-prefixed (AVCC) form; an
//!   MP4 muxer converts back. Parameter sets live in [`StreamInfo::config`] as well (they
//!   may also appear in-band).
//! - AAC packet data is one **raw access unit** (no ADTS header). The AudioSpecificConfig
//!   (ISO/IEC 14496-3 §1.6.2.1) is [`StreamInfo::config`]. A TS/ADTS demuxer strips ADTS
//!   headers; a TS muxer adds them.
//! - `pts`/`dts` are in ticks of [`StreamInfo::timebase`]. After edit lists are applied a
//!   packet's `pts` may be negative: that part precedes the presentation (decoder priming,
//!   frames needed only as references) and is dropped after decoding.
//!   [`StreamInfo::presentation_end`] likewise marks where presentation stops.

use bytes::Bytes;

/// Video or audio.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// A video stream (pictures).
    Video,
    /// An audio stream (PCM once decoded).
    Audio,
}

/// Codecs. Those other than H.264 and AAC are carried by name so that a clip using them can
/// be reported precisely ("unsupported codec hevc") or handed to the optional FFmpeg path.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 / AVC (ITU-T H.264), Annex B packets.
    H264,
    /// AAC (ISO/IEC 14496-3), one raw access unit per packet.
    Aac,
    /// Any other codec, by its short lowercase name: "hevc", "vp9", "av1", "opus", "mp3",
    /// "ac3", "eac3", "mpeg2video", ... (the names FFmpeg uses).
    Other(String),
}

impl Codec {
    /// The codec's short lowercase name as FFmpeg spells it: "h264", "aac", or the `Other` name.
    pub fn name(&self) -> &str {
        match self {
            Codec::H264 => "h264",
            Codec::Aac => "aac",
            Codec::Other(s) => s,
        }
    }
}

/// Parameters of one elementary stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInfo {
    /// Index of the stream within its container, as used in [`Packet::stream`].
    pub index: usize,
    /// Container-level id: MP4 track_ID or TS PID. Informational.
    pub id: u32,
    /// Video or audio.
    pub kind: MediaKind,
    /// The codec of the packets.
    pub codec: Codec,
    /// Ticks per second of `pts`, `dts` and `duration` of this stream's packets.
    pub timebase: u32,
    /// Codec configuration: for H.264 the AVCDecoderConfigurationRecord (`avcC` payload,
    /// ISO/IEC 14496-15 §5.3.3.1); for AAC the AudioSpecificConfig. May be empty when the
    /// container has none (TS): then the parameters are in-band.
    pub config: Bytes,
    /// Video: coded picture size in pixels (0 if unknown).
    pub width: u32,
    /// Video: coded picture height in pixels (0 if unknown).
    pub height: u32,
    /// Audio: sample rate in Hz and channel count (0 if unknown).
    pub sample_rate: u32,
    /// Audio: channel count (0 if unknown).
    pub channels: u16,
    /// Duration declared by the container, in `timebase` ticks (informational only: never
    /// trusted over the data).
    pub declared_duration: Option<i64>,
    /// End of presentation in `timebase` ticks after edit lists (samples with
    /// `pts >= presentation_end` are not presented). `None`: until the data ends.
    pub presentation_end: Option<i64>,
    /// Language tag when the container has one (ISO 639-2).
    pub language: Option<String>,
    /// Where the track's presentation starts (its time zero), in `timebase` ticks: `Some(0)`
    /// when the container's timestamps start there (MP4 after edit lists, raw ADTS); `None`
    /// when they are an absolute clock (MPEG-TS), so the earliest timestamp of the first
    /// packets is the time zero.
    pub start: Option<i64>,
    /// Audio: encoder delay (priming samples) the container says the decoder output starts
    /// with and that is not presented (MP4: the edit list's `media_time`); 0 when not said.
    pub encoder_delay: u32,
    /// Audio: samples at the end of the last frame that are not presented (MP4: past the
    /// edit's end); 0 when not said.
    pub padding: u32,
}

impl StreamInfo {
    /// A blank description; demuxers fill in what they know.
    pub fn new(index: usize, kind: MediaKind, codec: Codec, timebase: u32) -> StreamInfo {
        StreamInfo {
            index,
            id: index as u32,
            kind,
            codec,
            timebase,
            config: Bytes::new(),
            width: 0,
            height: 0,
            sample_rate: 0,
            channels: 0,
            declared_duration: None,
            presentation_end: None,
            language: None,
            start: Some(0),
            encoder_delay: 0,
            padding: 0,
        }
    }
}

/// One compressed access unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    /// Index into the demuxer's stream list.
    pub stream: usize,
    /// Presentation time in the stream's timebase (may be negative: not presented).
    pub pts: i64,
    /// Decode time in the stream's timebase; increases from packet to packet of a stream.
    pub dts: i64,
    /// Duration in timebase ticks (0 if unknown).
    pub duration: i64,
    /// A random access point (IDR picture / every AAC frame).
    pub keyframe: bool,
    /// The access unit: Annex B for H.264 (see the module documentation), raw for AAC.
    pub data: Bytes,
}

/// A demuxer: parameters first, then packets in decode order (interleaved across streams
/// by file position or time).
pub trait Demuxer: Send {
    /// All elementary streams found, including ones the pipeline cannot decode.
    fn streams(&self) -> &[StreamInfo];
    /// The next packet, `Ok(None)` at the end of data. After an `Err` the demuxer may be
    /// unable to continue (damaged input); callers keep what they already have.
    fn next_packet(&mut self) -> Result<Option<Packet>, crate::Error>;

    /// Reposition every stream so that decoding from the next packet on reproduces
    /// presentation time `t` (ticks of `timebase`, on the same clock as the packets'
    /// `pts`, i.e. after edit lists) and everything after it, exactly as reading from the
    /// start would:
    /// - video restarts at a sync sample (random access point) at or before `t` whose
    ///   decode order precedes every picture needed from `t` on: the picture showing at `t`
    ///   (the last with `pts <= t`) and all later ones, B-frame reordering included;
    /// - audio restarts a few frames before the one containing `t` (decoder priming: the
    ///   first frame decoded after a jump is not exact).
    ///
    /// Each stream then delivers exactly the tail of the packets it delivers when read from
    /// the start (how the streams interleave may differ during the first second or so).
    /// Some packets with `pts < t` are among them (the rest of the GOP, the audio pre-roll):
    /// the caller drops what they decode to. A `t` past the end leaves the last GOP and the
    /// last audio frames (no error); a `t` before the start reads everything.
    ///
    /// Returns whether the demuxer repositioned itself. The default does nothing and
    /// returns `false`: the caller then reads from wherever the demuxer is (formats without
    /// an index, such as MPEG-TS and ADTS). May be called at any time, also after the end.
    fn seek(&mut self, t: i64, timebase: u32) -> bool {
        let _ = (t, timebase);
        false
    }
}
