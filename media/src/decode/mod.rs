//! Decode: compressed packets to pictures and PCM.
//!
//! H.264 through OpenH264 ([`h264`]) or libavcodec ([`ffmpeg`], the `ffmpeg` feature),
//! chosen per run by [`DecoderChoice`] (`--decoder`; `auto` is libavcodec when it is built
//! in); AAC through FDK AAC ([`aac`]). Any other codec goes through FFmpeg's libraries
//! when the crate is built with the `ffmpeg` feature; without it,
//! [`open_video`]/[`open_audio`] return [`Error::UnsupportedCodec`] naming the codec and
//! the feature. [`resample`] converts PCM to the output rate and channel layout.

pub mod aac;
#[cfg(feature = "ffmpeg")]
pub mod ffmpeg;
pub mod h264;
pub mod resample;

use crate::frame::{AudioFrame, VideoFrame};
use crate::packet::{Codec, Packet, StreamInfo};
use crate::{Error, Result};

/// Packets in decode order in, pictures in presentation order out (pts in 90 kHz).
pub trait VideoDecoder: Send {
    /// Decode one access unit; pictures that become ready (in presentation order) are appended
    /// to `out`. Damaged data is counted in [`VideoDecoder::errors`] rather than failing.
    fn decode(&mut self, pkt: &Packet, out: &mut Vec<VideoFrame>) -> Result<()>;
    /// End of stream: emit every picture still buffered.
    fn flush(&mut self, out: &mut Vec<VideoFrame>) -> Result<()>;
    /// Number of access units that failed to decode (damaged data), for the summary.
    fn errors(&self) -> u64;
}

/// Packets in, PCM out (pts in ticks of the frame's own sample rate).
pub trait AudioDecoder: Send {
    /// Decode one access unit; the PCM it yields is appended to `out`. Damaged data is counted
    /// in [`AudioDecoder::errors`] rather than failing.
    fn decode(&mut self, pkt: &Packet, out: &mut Vec<AudioFrame>) -> Result<()>;
    /// End of stream: emit every sample still buffered.
    fn flush(&mut self, out: &mut Vec<AudioFrame>) -> Result<()>;
    /// Number of access units that failed to decode (damaged data), for the summary.
    fn errors(&self) -> u64;
}

fn unsupported(codec: &Codec) -> Error {
    if cfg!(feature = "ffmpeg") {
        Error::UnsupportedCodec(codec.name().to_string())
    } else {
        Error::UnsupportedCodec(format!("{} (build with --features ffmpeg)", codec.name()))
    }
}

/// H.264 features OpenH264 cannot decode, from the SPS in the stream's configuration:
/// anything beyond 8-bit 4:2:0 (High 10, High 4:2:2, High 4:4:4, 4:0:0 monochrome).
fn h264_unsupported_profile(info: &StreamInfo) -> Option<String> {
    let cfg = crate::codec::h264::AvcConfig::parse(&info.config).ok()?;
    let sps = crate::codec::h264::Sps::parse(cfg.sps.first()?).ok()?;
    let name = match sps.profile_idc {
        110 => "High 10",
        122 => "High 4:2:2",
        244 => "High 4:4:4 Predictive",
        44 => "CAVLC 4:4:4 Intra",
        _ => "",
    };
    if sps.chroma_format_idc != 1
        || sps.bit_depth_luma_minus8 != 0
        || sps.bit_depth_chroma_minus8 != 0
        || !name.is_empty()
    {
        let fmt = match sps.chroma_format_idc {
            0 => "4:0:0",
            2 => "4:2:2",
            3 => "4:4:4",
            _ => "4:2:0",
        };
        let what = if name.is_empty() { format!("profile {}", sps.profile_idc) } else { name.to_string() };
        return Some(format!("h264 {what} ({fmt}, {} bit)", 8 + sps.bit_depth_luma_minus8));
    }
    None
}

/// Which library decodes H.264 (`--decoder`). Other video codecs always go through
/// libavcodec (when built in), whatever the choice.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DecoderChoice {
    /// libavcodec when this build has it (the `ffmpeg` feature), else OpenH264.
    #[default]
    Auto,
    /// OpenH264 for every H.264 stream it can decode (8-bit 4:2:0); what it cannot decode
    /// still goes to libavcodec when built in.
    OpenH264,
    /// libavcodec (frame threads); only in a build with the `ffmpeg` feature.
    Ffmpeg,
}

impl DecoderChoice {
    /// The names `--decoder` accepts.
    pub const NAMES: &'static str = "auto|openh264|ffmpeg";

    /// The choice's name on the command line: "auto", "openh264" or "ffmpeg".
    pub fn name(self) -> &'static str {
        match self {
            DecoderChoice::Auto => "auto",
            DecoderChoice::OpenH264 => "openh264",
            DecoderChoice::Ffmpeg => "ffmpeg",
        }
    }

    /// Whether this build can decode with this choice (`ffmpeg` needs the feature).
    pub fn available(self) -> bool {
        self != DecoderChoice::Ffmpeg || cfg!(feature = "ffmpeg")
    }

    /// Whether H.264 (of a profile OpenH264 decodes) goes to libavcodec in this build.
    pub fn h264_through_ffmpeg(self) -> bool {
        match self {
            DecoderChoice::Auto | DecoderChoice::Ffmpeg => cfg!(feature = "ffmpeg"),
            DecoderChoice::OpenH264 => false,
        }
    }
}

impl std::fmt::Display for DecoderChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DecoderChoice {
    type Err = String;

    /// One of [`DecoderChoice::NAMES`] (any case); says what is accepted otherwise.
    fn from_str(s: &str) -> std::result::Result<DecoderChoice, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(DecoderChoice::Auto),
            "openh264" => Ok(DecoderChoice::OpenH264),
            "ffmpeg" | "libavcodec" => Ok(DecoderChoice::Ffmpeg),
            _ => Err(format!("unknown decoder '{s}' (expected {})", DecoderChoice::NAMES)),
        }
    }
}

/// A video decoder for the stream: H.264 by the library `choice` names (see
/// [`DecoderChoice`]), any other codec by libavcodec when built in.
/// [`DecoderChoice::Ffmpeg`] in a build without the `ffmpeg` feature is an error.
pub fn open_video(info: &StreamInfo, choice: DecoderChoice) -> Result<Box<dyn VideoDecoder>> {
    if !choice.available() {
        return Err(Error::UnsupportedCodec(format!(
            "{} through libavcodec (--decoder ffmpeg needs a build with --features ffmpeg)",
            info.codec.name()
        )));
    }
    match &info.codec {
        #[cfg(feature = "ffmpeg")]
        Codec::H264 if choice.h264_through_ffmpeg() || h264_unsupported_profile(info).is_some() => {
            Ok(Box::new(ffmpeg::FfVideoDecoder::new(info)?))
        }
        #[cfg(not(feature = "ffmpeg"))]
        Codec::H264 if h264_unsupported_profile(info).is_some() => {
            let what = h264_unsupported_profile(info).unwrap_or_default();
            Err(unsupported(&Codec::Other(what)))
        }
        Codec::H264 => Ok(Box::new(h264::H264Decoder::new(info)?)),
        #[cfg(feature = "ffmpeg")]
        c @ Codec::Other(_) if ffmpeg::supports(c) => Ok(Box::new(ffmpeg::FfVideoDecoder::new(info)?)),
        c => Err(unsupported(c)),
    }
}

/// A decoder for an audio stream: FDK AAC for AAC, libavcodec for other codecs in a build
/// with the `ffmpeg` feature; any other codec is [`Error::UnsupportedCodec`].
pub fn open_audio(info: &StreamInfo) -> Result<Box<dyn AudioDecoder>> {
    match &info.codec {
        Codec::Aac => Ok(Box::new(aac::AacDecoder::new(info)?)),
        #[cfg(feature = "ffmpeg")]
        c @ Codec::Other(_) if ffmpeg::supports(c) => Ok(Box::new(ffmpeg::FfAudioDecoder::new(info)?)),
        c => Err(unsupported(c)),
    }
}

#[cfg(all(test, feature = "ffmpeg"))]
#[path = "tests/decoders.rs"]
mod decoders_tests;
