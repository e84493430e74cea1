//! Decode: compressed packets to pictures and PCM.
//!
//! H.264 through OpenH264 ([`h264`]), AAC through FDK AAC ([`aac`]). Any other codec goes
//! through FFmpeg's libraries when the crate is built with the `ffmpeg` feature
//! ([`ffmpeg`]); without it, [`open_video`]/[`open_audio`] return
//! [`Error::UnsupportedCodec`] naming the codec and the feature. [`resample`] converts PCM
//! to the output rate and channel layout.

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
    fn decode(&mut self, pkt: &Packet, out: &mut Vec<VideoFrame>) -> Result<()>;
    /// End of stream: emit every picture still buffered.
    fn flush(&mut self, out: &mut Vec<VideoFrame>) -> Result<()>;
    /// Number of access units that failed to decode (damaged data), for the summary.
    fn errors(&self) -> u64;
}

/// Packets in, PCM out (pts in ticks of the frame's own sample rate).
pub trait AudioDecoder: Send {
    fn decode(&mut self, pkt: &Packet, out: &mut Vec<AudioFrame>) -> Result<()>;
    fn flush(&mut self, out: &mut Vec<AudioFrame>) -> Result<()>;
    fn errors(&self) -> u64;
}

fn unsupported(codec: &Codec) -> Error {
    if cfg!(feature = "ffmpeg") {
        Error::UnsupportedCodec(codec.name().to_string())
    } else {
        Error::UnsupportedCodec(format!("{} (build with --features ffmpeg)", codec.name()))
    }
}

pub fn open_video(info: &StreamInfo) -> Result<Box<dyn VideoDecoder>> {
    match &info.codec {
        Codec::H264 => Ok(Box::new(h264::H264Decoder::new(info)?)),
        #[cfg(feature = "ffmpeg")]
        c @ Codec::Other(_) if ffmpeg::supports(c) => Ok(Box::new(ffmpeg::FfVideoDecoder::new(info)?)),
        c => Err(unsupported(c)),
    }
}

pub fn open_audio(info: &StreamInfo) -> Result<Box<dyn AudioDecoder>> {
    match &info.codec {
        Codec::Aac => Ok(Box::new(aac::AacDecoder::new(info)?)),
        #[cfg(feature = "ffmpeg")]
        c @ Codec::Other(_) if ffmpeg::supports(c) => Ok(Box::new(ffmpeg::FfAudioDecoder::new(info)?)),
        c => Err(unsupported(c)),
    }
}
