//! Decoding of every codec other than H.264/AAC through the system FFmpeg libraries
//! (libavcodec, libswscale, libswresample via `ffmpeg-next`; FFmpeg >= 5.1 for the
//! `AVChannelLayout` API). Only built with the `ffmpeg` cargo feature; never spawns a process.
//!
//! - Codec configuration: [`StreamInfo::config`] holds the MP4 configuration box payload
//!   (see [`crate::packet`]). It becomes `extradata` in the form libavcodec's own MP4
//!   demuxer produces: `hvcC`/`av1C` and MPEG-4 `esds` DecoderSpecificInfo as is, `dOps`
//!   rewritten as an `OpusHead` (RFC 7845 §5.1), `dfLa` reduced to its STREAMINFO block,
//!   `alac` with its box header; VP8/VP9, MPEG audio, (E-)AC-3 and DTS need none.
//! - Packets go in with their pts/dts in the stream timebase (`pkt_timebase` =
//!   1/timebase); frames come out in presentation order (send/receive API, `EAGAIN` and
//!   `EOF` handled; [`VideoDecoder::flush`] sends EOF and drains).
//! - Video: any pixel format is converted by swscale to tightly packed I420 at the same
//!   size (full-range input to limited range); pts = `best_effort_timestamp` in 90 kHz,
//!   strictly increasing (a frame not after the previous one is dropped).
//! - Audio: converted by swresample to interleaved `f32` at the decoded sample rate,
//!   downmixed to at most two channels; pts in samples of that rate.
//! - A packet or frame that fails to decode is counted in `errors()` and decoding goes on.
//!   FFmpeg's own log is limited to fatal messages (errors are reported by the counters).

use std::ffi::CString;
use std::ptr;
use std::sync::{Arc, OnceLock};

use ffmpeg_next as ff;
use ff::ffi;

use crate::frame::{AudioFrame, Picture, VideoFrame};
use crate::packet::{Codec, MediaKind, Packet, StreamInfo};
use crate::time::{rescale, VIDEO_HZ};
use crate::{Error, Result};

use super::{AudioDecoder, VideoDecoder};

/// Initialise the libraries once; `false` if that failed (then nothing is supported).
fn init() -> bool {
    static INIT: OnceLock<bool> = OnceLock::new();
    *INIT.get_or_init(|| {
        let ok = ff::init().is_ok();
        // SAFETY: sets a global integer; callable from any thread.
        unsafe { ffi::av_log_set_level(ffi::AV_LOG_FATAL) };
        ok
    })
}

/// The FFmpeg decoder for one of our codec names: the codec's preferred decoder
/// (`avcodec_find_decoder` on the id whose descriptor has that name, so "av1" gets libdav1d
/// where available), else a decoder of that exact name.
fn find_decoder(codec: &Codec) -> Option<ff::Codec> {
    if !init() {
        return None;
    }
    let name = codec.name();
    if name.is_empty() || name == "encrypted" {
        return None;
    }
    let cname = CString::new(name).ok()?;
    // SAFETY: `cname` is a valid C string; the descriptor table is static.
    let desc = unsafe { ffi::avcodec_descriptor_get_by_name(cname.as_ptr()) };
    if !desc.is_null() {
        // SAFETY: non-null descriptor from libavcodec's static table.
        let id = unsafe { (*desc).id };
        if let Some(c) = ff::decoder::find(ff::codec::Id::from(id)) {
            return Some(c);
        }
    }
    ff::decoder::find_by_name(name)
}

/// Whether this build's FFmpeg has a decoder for `codec`.
pub fn supports(codec: &Codec) -> bool {
    find_decoder(codec).is_some()
}

/// `extradata` for the decoder from our `config` (see the module doc), or `None`.
fn extradata(codec: &str, config: &[u8]) -> Option<Vec<u8>> {
    if config.is_empty() {
        return None;
    }
    match codec {
        "vp8" | "vp9" | "ac3" | "eac3" | "dts" | "mp1" | "mp2" | "mp3" => None,
        "opus" if config.starts_with(b"OpusHead") => Some(config.to_vec()),
        "opus" => {
            // dOps (ISO/IEC 23003-5 / Opus-in-ISOBMFF §4.3.2): Version, OutputChannelCount,
            // PreSkip(be16), InputSampleRate(be32), OutputGain(be16), ChannelMappingFamily,
            // [StreamCount, CoupledCount, ChannelMapping[n]]. OpusHead has the same fields,
            // little-endian, after the magic, with version 1.
            if config.len() < 11 {
                return None;
            }
            let mut h = b"OpusHead".to_vec();
            h.push(1);
            h.push(config[1]);
            h.extend_from_slice(&u16::from_be_bytes([config[2], config[3]]).to_le_bytes());
            h.extend_from_slice(&u32::from_be_bytes([config[4], config[5], config[6], config[7]]).to_le_bytes());
            h.extend_from_slice(&i16::from_be_bytes([config[8], config[9]]).to_le_bytes());
            h.extend_from_slice(&config[10..]);
            Some(h)
        }
        "flac" if config.starts_with(b"fLaC") => Some(config.to_vec()),
        "flac" => {
            // dfLa: FullBox header, then FLAC metadata blocks; the first is STREAMINFO (34 bytes).
            let b = config.get(4..)?;
            let (typ, len) = (*b.first()? & 0x7f, u32::from_be_bytes([0, *b.get(1)?, *b.get(2)?, *b.get(3)?]) as usize);
            (typ == 0 && len >= 34).then(|| b.get(4..4 + 34).map(|s| s.to_vec())).flatten()
        }
        "alac" => {
            // FFmpeg expects the whole 36-byte `alac` box: size, type, version/flags, config.
            let body: Vec<u8> = if config.len() == 24 { [&[0u8; 4][..], config].concat() } else { config.to_vec() };
            let mut e = ((body.len() + 8) as u32).to_be_bytes().to_vec();
            e.extend_from_slice(b"alac");
            e.extend_from_slice(&body);
            Some(e)
        }
        _ => Some(config.to_vec()),
    }
}

