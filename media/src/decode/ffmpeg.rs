//! Decoding through the system FFmpeg libraries (libavcodec, libswscale, libswresample via
//! `ffmpeg-next`; FFmpeg >= 5.1 for the `AVChannelLayout` API): H.264 when
//! [`super::DecoderChoice`] says so (the default in this build) and every codec other than
//! AAC. Only built with the `ffmpeg` cargo feature; never spawns a process.
//!
//! - Codec configuration: [`StreamInfo::config`] holds the MP4 configuration box payload
//!   (see [`crate::packet`]). It becomes `extradata` in the form libavcodec's own MP4
//!   demuxer produces: H.264's `avcC` as its parameter sets in Annex B form (ITU-T H.264
//!   Annex B; our H.264 packets are Annex B, see [`crate::packet`], so the decoder must
//!   not expect length prefixes), `hvcC`/`av1C` and MPEG-4 `esds` DecoderSpecificInfo as is, `dOps`
//!   rewritten as an `OpusHead` (RFC 7845 §5.1), `dfLa` reduced to its STREAMINFO block,
//!   `alac` with its box header; VP8/VP9, MPEG audio, (E-)AC-3 and DTS need none.
//! - Packets go in with their pts/dts in the stream timebase (`pkt_timebase` =
//!   1/timebase); frames come out in presentation order (send/receive API, `EAGAIN` and
//!   `EOF` handled; [`VideoDecoder::flush`] sends EOF and drains).
//! - Video: decoded with frame and slice threads (`thread_count` = the available cores, at
//!   most 16, libavcodec's own limit for automatic counts). 8-bit 4:2:0 limited-range
//!   pictures are copied once, row by row, into the crate's packed I420 [`Picture`] (the
//!   decoder's frames are padded and shared with its reference list, so that one copy is
//!   the minimum); any other pixel format is converted by swscale to packed I420 at the same
//!   size (full-range input to limited range); pts = `best_effort_timestamp` in 90 kHz,
//!   strictly increasing (a frame not after the previous one is dropped).
//! - Audio: converted by swresample to interleaved `f32` at the decoded sample rate,
//!   downmixed to at most two channels; pts in samples of that rate.
//! - A packet or frame that fails to decode is counted in `errors()` and decoding goes on.
//!   FFmpeg's own log is silenced (it would interleave with stitch's output; some
//!   decoders log damaged input at "fatal" level); the counters report the errors.

use std::ffi::CString;
use std::ptr;
use std::sync::{Arc, OnceLock};

use ff::ffi;
use ffmpeg_next as ff;

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
        unsafe { ffi::av_log_set_level(ffi::AV_LOG_QUIET) };
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
        // avcC (ISO/IEC 14496-15 §5.3.3.1) to Annex B SPS/PPS: packets are Annex B.
        "h264" if config[0] == 1 => {
            let x = crate::codec::h264::AvcConfig::parse(config).ok()?.parameter_sets_annexb();
            (!x.is_empty()).then_some(x)
        }
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

/// An opened libavcodec decoder plus a reusable frame: the send/receive loop shared by
/// the video and audio decoders.
struct Core {
    dec: ff::decoder::Opened,
    frame: ff::Frame,
    timebase: u32,
    errors: u64,
    eof_sent: bool,
}

/// Called for every decoded frame, with the error counter.
type OnFrame<'a> = dyn FnMut(&ff::Frame, &mut u64) + 'a;

fn is_eagain(e: &ff::Error) -> bool {
    matches!(e, ff::Error::Other { errno } if *errno == ff::util::error::EAGAIN)
}

impl Core {
    fn open(info: &StreamInfo, kind: MediaKind) -> Result<Core> {
        let name = info.codec.name();
        let codec = find_decoder(&info.codec).ok_or_else(|| Error::UnsupportedCodec(name.to_string()))?;
        let timebase = info.timebase.max(1);
        let mut ctx = ff::codec::Context::new_with_codec(codec);
        // SAFETY: `ctx` owns a freshly allocated AVCodecContext (checked non-null); plain
        // fields are set before avcodec_open2. Extradata is allocated by av_mallocz with the
        // required padding and freed by avcodec_free_context when `ctx` drops.
        unsafe {
            let c = ctx.as_mut_ptr();
            if c.is_null() {
                return Err(Error::Decode(format!("{name}: cannot allocate a decoder context")));
            }
            let tb = ffi::AVRational { num: 1, den: timebase.min(i32::MAX as u32) as i32 };
            (*c).time_base = tb;
            (*c).pkt_timebase = tb;
            if let Some(x) = extradata(name, &info.config) {
                let p = ffi::av_mallocz(x.len() + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize) as *mut u8;
                if p.is_null() {
                    return Err(Error::Decode(format!("{name}: out of memory")));
                }
                ptr::copy_nonoverlapping(x.as_ptr(), p, x.len());
                (*c).extradata = p;
                (*c).extradata_size = x.len() as i32;
            }
            match kind {
                MediaKind::Video => {
                    (*c).width = info.width.min(1 << 15) as i32;
                    (*c).height = info.height.min(1 << 15) as i32;
                    // Frame threads (a picture per thread, one picture of latency each)
                    // and slice threads where the codec has no frame threading.
                    (*c).thread_count = video_threads() as i32;
                    (*c).thread_type = ffi::FF_THREAD_FRAME | ffi::FF_THREAD_SLICE;
                }
                MediaKind::Audio => {
                    (*c).sample_rate = info.sample_rate.min(i32::MAX as u32) as i32;
                    if info.channels > 0 {
                        ffi::av_channel_layout_default(&mut (*c).ch_layout, info.channels as i32);
                    }
                    (*c).thread_count = 1;
                }
            }
        }
        let dec = ctx
            .decoder()
            .open_as(codec)
            .map_err(|e| Error::Decode(format!("cannot open the FFmpeg {name} decoder: {e}")))?;
        // SAFETY: av_frame_alloc; the Frame owns the result, which is checked for null.
        let frame = unsafe { ff::Frame::empty() };
        if unsafe { frame.as_ptr() }.is_null() {
            return Err(Error::Decode(format!("{name}: out of memory")));
        }
        Ok(Core { dec, frame, timebase, errors: 0, eof_sent: false })
    }

    /// Send one packet (`None`: end of stream) and hand every frame that comes out to `f`.
    fn run(&mut self, pkt: Option<&Packet>, f: &mut OnFrame<'_>) {
        let packet = match pkt {
            Some(p) => {
                let mut k = ff::Packet::copy(&p.data);
                k.set_pts(Some(p.pts));
                k.set_dts(Some(p.dts));
                k.set_duration(p.duration.max(0));
                if p.keyframe {
                    k.set_flags(ff::packet::Flags::KEY);
                }
                Some(k)
            }
            None if self.eof_sent => return,
            None => None,
        };
        let mut send = true;
        // The decoder refuses input (EAGAIN) until its output has been read: alternate.
        for _ in 0..1000 {
            let sent = match &packet {
                Some(k) => self.dec.send_packet(k),
                None => self.dec.send_eof(),
            };
            match sent {
                Err(e) if is_eagain(&e) => {}
                Ok(()) | Err(ff::Error::Eof) => send = false,
                // Damaged data: count and go on with the next packet.
                Err(_) => {
                    self.errors += 1;
                    send = false;
                }
            }
            if packet.is_none() && !send {
                self.eof_sent = true;
            }
            let got = self.receive(f);
            if !send || !got {
                break;
            }
        }
        if send {
            // Still refused after reading all output: the decoder is stuck on this packet.
            self.errors += 1;
        }
    }

    /// Receive frames until the decoder wants input or is drained; `true` if any came out.
    /// When draining (EOF sent), frames that fail are skipped until the decoder reports EOF.
    fn receive(&mut self, f: &mut OnFrame<'_>) -> bool {
        let mut any = false;
        let mut failures = 0;
        loop {
            match self.dec.receive_frame(&mut self.frame) {
                Ok(()) => {
                    any = true;
                    // SAFETY: the frame was just filled by avcodec_receive_frame.
                    let corrupt = unsafe {
                        let fr = self.frame.as_ptr();
                        (*fr).decode_error_flags != 0 || (*fr).flags & ffi::AV_FRAME_FLAG_CORRUPT != 0
                    };
                    if corrupt {
                        self.errors += 1;
                    }
                    f(&self.frame, &mut self.errors);
                    // SAFETY: releases the frame's buffers; the AVFrame stays allocated.
                    unsafe { ffi::av_frame_unref(self.frame.as_mut_ptr()) };
                }
                Err(e) if is_eagain(&e) => return any,
                Err(ff::Error::Eof) => return any,
                Err(_) => {
                    // This frame failed; the decoder stays usable.
                    self.errors += 1;
                    failures += 1;
                    if !self.eof_sent || failures > 64 {
                        return any;
                    }
                }
            }
        }
    }
}

/// Decoder threads per video stream: the available cores, at most 16 (libavcodec's own
/// ceiling for automatic thread counts: more frame threads only add latency and memory).
fn video_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(16)
}

/// The frame's timestamp in stream ticks, if it has one.
fn frame_ts(f: &ff::Frame) -> Option<i64> {
    f.timestamp().or_else(|| f.pts())
}

/// `v` as a pixel format of the linked libavutil, if it is one.
fn pix_fmt(v: i32) -> Option<ffi::AVPixelFormat> {
    if v < 0 || v >= ffi::AVPixelFormat::AV_PIX_FMT_NB as i32 {
        return None;
    }
    // SAFETY: AVPixelFormat is a C enum with consecutive values from NONE (-1) to NB,
    // generated from the headers of the linked library; `v` is in that range.
    Some(unsafe { std::mem::transmute::<i32, ffi::AVPixelFormat>(v) })
}

/// `v` as a sample format, if it is one.
fn sample_fmt(v: i32) -> Option<ffi::AVSampleFormat> {
    if v < 0 || v >= ffi::AVSampleFormat::AV_SAMPLE_FMT_NB as i32 {
        return None;
    }
    // SAFETY: as for `pix_fmt`: consecutive values, `v` in range.
    Some(unsafe { std::mem::transmute::<i32, ffi::AVSampleFormat>(v) })
}

// ---------------------------------------------------------------------------------------
// Video
// ---------------------------------------------------------------------------------------

/// Frame to I420 conversion state: a swscale context, owned.
struct ToI420 {
    sws: *mut ffi::SwsContext,
    /// (format, width, height, full range) `sws` was set up for.
    key: Option<(i32, i32, i32, bool)>,
}

// SAFETY: an SwsContext has no thread affinity; it is owned by one decoder and only used
// through `&mut self`.
unsafe impl Send for ToI420 {}

impl Drop for ToI420 {
    fn drop(&mut self) {
        // SAFETY: null or a context from sws_getCachedContext, freed once.
        unsafe { ffi::sws_freeContext(self.sws) }
    }
}

impl ToI420 {
    /// The frame as tightly packed I420 of the same size, or `None` if it cannot be converted.
    fn convert(&mut self, frame: &ff::Frame) -> Option<Picture> {
        // SAFETY: `frame` holds a decoded picture: data/linesize describe `height` rows of
        // each plane. The direct copy checks every plane pointer and stride; swscale writes
        // exactly the packed I420 planes of `pic`, whose strides and sizes we pass.
        unsafe {
            let f = frame.as_ptr();
            let (w, h, fmt) = ((*f).width, (*f).height, (*f).format);
            if w <= 0 || h <= 0 || w > 1 << 15 || h > 1 << 15 {
                return None;
            }
            let full = (*f).color_range == ffi::AVColorRange::AVCOL_RANGE_JPEG;
            let (wu, hu) = (w as usize, h as usize);
            let (cw, ch) = Picture::chroma_size(w as u32, h as u32);
            let (cw, ch) = (cw as usize, ch as usize);
            if fmt == ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32 && !full {
                // Every byte of every plane is written below (or the picture is dropped).
                let mut pic = Picture::uninit(w as u32, h as u32);
                let (py, pu, pv) = pic.planes_mut();
                for (i, dst, pw, ph) in [(0usize, py, wu, hu), (1, pu, cw, ch), (2, pv, cw, ch)] {
                    let (src, stride) = ((*f).data[i], (*f).linesize[i]);
                    if src.is_null() || stride < pw as i32 {
                        return None;
                    }
                    for r in 0..ph {
                        let row = std::slice::from_raw_parts(src.offset(r as isize * stride as isize), pw);
                        dst[r * pw..r * pw + pw].copy_from_slice(row);
                    }
                }
                return Some(pic);
            }
            let mut pic = Picture::black(w as u32, h as u32);
            let src_fmt = pix_fmt(fmt)?;
            let key = (fmt, w, h, full);
            if self.key != Some(key) {
                self.key = None;
                self.sws = ffi::sws_getCachedContext(
                    self.sws,
                    w,
                    h,
                    src_fmt,
                    w,
                    h,
                    ffi::AVPixelFormat::AV_PIX_FMT_YUV420P,
                    ffi::SWS_BILINEAR,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null(),
                );
                if self.sws.is_null() {
                    return None;
                }
                if full {
                    // Full range signalled by the frame rather than by a yuvj* format.
                    let coef = ffi::sws_getCoefficients(ffi::SWS_CS_DEFAULT);
                    ffi::sws_setColorspaceDetails(self.sws, coef, 1, coef, 0, 0, 1 << 16, 1 << 16);
                }
                self.key = Some(key);
            }
            let (py, pu, pv) = pic.planes_mut();
            let dst = [py.as_mut_ptr(), pu.as_mut_ptr(), pv.as_mut_ptr(), ptr::null_mut()];
            let dst_stride = [w, cw as i32, cw as i32, 0];
            let n = ffi::sws_scale(
                self.sws,
                (*f).data.as_ptr() as *const *const u8,
                (*f).linesize.as_ptr(),
                0,
                h,
                dst.as_ptr(),
                dst_stride.as_ptr(),
            );
            (n == h).then_some(pic)
        }
    }
}

/// Video through libavcodec; see the module doc.
pub struct FfVideoDecoder {
    core: Core,
    conv: ToI420,
    last_pts: Option<i64>,
}

impl FfVideoDecoder {
    /// A libavcodec decoder for the video stream `info` (its codec and extradata); fails when
    /// FFmpeg has no decoder for it or refuses to open it.
    pub fn new(info: &StreamInfo) -> Result<FfVideoDecoder> {
        let core = Core::open(info, MediaKind::Video)?;
        Ok(FfVideoDecoder { core, conv: ToI420 { sws: ptr::null_mut(), key: None }, last_pts: None })
    }

    fn step(&mut self, pkt: Option<&Packet>, out: &mut Vec<VideoFrame>) {
        let FfVideoDecoder { core, conv, last_pts } = self;
        let timebase = core.timebase;
        core.run(pkt, &mut |frame, errors| {
            let Some(pic) = conv.convert(frame) else {
                *errors += 1;
                return;
            };
            let pts = match frame_ts(frame) {
                Some(t) => rescale(t, timebase, VIDEO_HZ),
                // No timestamp at all (not seen with container input): right after the last.
                None => last_pts.map_or(0, |p| p + 1),
            };
            if last_pts.is_some_and(|l| pts <= l) {
                return;
            }
            *last_pts = Some(pts);
            out.push(VideoFrame { pts, picture: Arc::new(pic) });
        });
    }
}

impl VideoDecoder for FfVideoDecoder {
    fn decode(&mut self, pkt: &Packet, out: &mut Vec<VideoFrame>) -> Result<()> {
        if !pkt.data.is_empty() {
            self.step(Some(pkt), out);
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut Vec<VideoFrame>) -> Result<()> {
        self.step(None, out);
        Ok(())
    }

    fn errors(&self) -> u64 {
        self.core.errors
    }
}

// ---------------------------------------------------------------------------------------
// Audio
// ---------------------------------------------------------------------------------------

/// Frame to interleaved f32 (<= 2 channels, same rate): a swresample context, owned, and
/// a copy of the input layout it was set up for.
struct ToF32 {
    swr: *mut ffi::SwrContext,
    in_layout: ffi::AVChannelLayout,
    in_fmt: i32,
    rate: i32,
    out_channels: i32,
}

// SAFETY: the SwrContext and the layout copy are owned by one decoder, have no thread
// affinity and are only used through `&mut self`.
unsafe impl Send for ToF32 {}

impl Drop for ToF32 {
    fn drop(&mut self) {
        // SAFETY: swr_free accepts null; the layout copy is ours and uninitialised once.
        unsafe {
            ffi::swr_free(&mut self.swr);
            ffi::av_channel_layout_uninit(&mut self.in_layout);
        }
    }
}

impl ToF32 {
    fn new() -> ToF32 {
        // SAFETY: an all-zero AVChannelLayout is the empty layout (what av_channel_layout_uninit leaves).
        ToF32 { swr: ptr::null_mut(), in_layout: unsafe { std::mem::zeroed() }, in_fmt: -1, rate: 0, out_channels: 0 }
    }

    /// Set up (or keep) the resampler for this frame's format; `false` if impossible.
    fn prepare(&mut self, f: *const ffi::AVFrame, rate: i32) -> bool {
        // SAFETY: `f` is a decoded audio frame; layouts are copied/initialised through the
        // libavutil API and the old ones uninitialised before being overwritten.
        unsafe {
            let nb = (*f).ch_layout.nb_channels;
            if !(1..=64).contains(&nb) || sample_fmt((*f).format).is_none() {
                return false;
            }
            let mut inl: ffi::AVChannelLayout = std::mem::zeroed();
            if (*f).ch_layout.order == ffi::AVChannelOrder::AV_CHANNEL_ORDER_UNSPEC {
                ffi::av_channel_layout_default(&mut inl, nb);
            } else if ffi::av_channel_layout_copy(&mut inl, &(*f).ch_layout) < 0 {
                return false;
            }
            if !self.swr.is_null()
                && self.in_fmt == (*f).format
                && self.rate == rate
                && ffi::av_channel_layout_compare(&inl, &self.in_layout) == 0
            {
                ffi::av_channel_layout_uninit(&mut inl);
                return true;
            }
            ffi::swr_free(&mut self.swr);
            ffi::av_channel_layout_uninit(&mut self.in_layout);
            self.in_layout = inl;
            self.in_fmt = (*f).format;
            self.rate = rate;
            self.out_channels = nb.min(2);
            let mut outl: ffi::AVChannelLayout = std::mem::zeroed();
            ffi::av_channel_layout_default(&mut outl, self.out_channels);
            let r = ffi::swr_alloc_set_opts2(
                &mut self.swr,
                &mut outl,
                ffi::AVSampleFormat::AV_SAMPLE_FMT_FLT,
                rate,
                &mut self.in_layout,
                sample_fmt(self.in_fmt).unwrap_or(ffi::AVSampleFormat::AV_SAMPLE_FMT_NONE),
                rate,
                0,
                ptr::null_mut(),
            );
            ffi::av_channel_layout_uninit(&mut outl);
            if r < 0 || self.swr.is_null() || ffi::swr_init(self.swr) < 0 {
                ffi::swr_free(&mut self.swr);
                return false;
            }
            true
        }
    }

    /// Convert `n` samples at `data` (null: drain what swresample still holds).
    fn convert(&mut self, data: *const *const u8, n: i32) -> Option<Vec<f32>> {
        if self.swr.is_null() {
            return None;
        }
        // SAFETY: `swr` is initialised; `data` is null or the frame's extended_data with
        // `n` samples per plane; the output buffer holds `cap` samples of `out_channels`.
        unsafe {
            let cap = ffi::swr_get_out_samples(self.swr, n.max(0));
            if cap <= 0 {
                return Some(Vec::new());
            }
            let mut buf = vec![0f32; cap as usize * self.out_channels as usize];
            let mut outp = [buf.as_mut_ptr() as *mut u8];
            let got = ffi::swr_convert(self.swr, outp.as_mut_ptr(), cap, data as *mut *const u8, n.max(0));
            if got < 0 {
                return None;
            }
            buf.truncate(got as usize * self.out_channels as usize);
            Some(buf)
        }
    }
}

/// Audio through libavcodec; see the module doc.
pub struct FfAudioDecoder {
    core: Core,
    conv: ToF32,
    /// Expected pts (in output samples) of the next frame.
    next_pts: Option<i64>,
}

impl FfAudioDecoder {
    /// A libavcodec decoder for the audio stream `info` (its codec and extradata); fails when
    /// FFmpeg has no decoder for it or refuses to open it.
    pub fn new(info: &StreamInfo) -> Result<FfAudioDecoder> {
        let core = Core::open(info, MediaKind::Audio)?;
        Ok(FfAudioDecoder { core, conv: ToF32::new(), next_pts: None })
    }

    fn step(&mut self, pkt: Option<&Packet>, out: &mut Vec<AudioFrame>) {
        let FfAudioDecoder { core, conv, next_pts } = self;
        let timebase = core.timebase;
        // SAFETY (closure): reads plain fields of the decoded frame.
        core.run(pkt, &mut |frame, errors| unsafe {
            let f = frame.as_ptr();
            let rate = if (*f).sample_rate > 0 { (*f).sample_rate } else { conv.rate };
            let n = (*f).nb_samples;
            if rate <= 0 || n <= 0 || !conv.prepare(f, rate) {
                *errors += 1;
                return;
            }
            let Some(samples) = conv.convert((*f).extended_data as *const *const u8, n) else {
                *errors += 1;
                return;
            };
            let rate = rate as u32;
            let pts = frame_ts(frame).map(|t| rescale(t, timebase, rate));
            let pts = match (pts, *next_pts) {
                // Absorb sub-millisecond rounding jitter of container timestamps.
                (Some(p), Some(np)) if (p - np).abs() <= (rate as i64 / 1000).max(1) => np,
                (Some(p), _) => p,
                (None, np) => np.unwrap_or(0),
            };
            let channels = conv.out_channels as u16;
            let len = samples.len() / channels.max(1) as usize;
            *next_pts = Some(pts + len as i64);
            if len > 0 {
                out.push(AudioFrame { pts, sample_rate: rate, channels, samples });
            }
        });
    }
}

impl AudioDecoder for FfAudioDecoder {
    fn decode(&mut self, pkt: &Packet, out: &mut Vec<AudioFrame>) -> Result<()> {
        if !pkt.data.is_empty() {
            self.step(Some(pkt), out);
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut Vec<AudioFrame>) -> Result<()> {
        self.step(None, out);
        // Whatever swresample still buffers (nothing without rate conversion, normally).
        if let (Some(samples), Some(pts)) = (self.conv.convert(ptr::null(), 0), self.next_pts) {
            let channels = self.conv.out_channels.max(1) as u16;
            if !samples.is_empty() {
                self.next_pts = Some(pts + (samples.len() / channels as usize) as i64);
                out.push(AudioFrame { pts, sample_rate: self.conv.rate as u32, channels, samples });
            }
        }
        Ok(())
    }

    fn errors(&self) -> u64 {
        self.core.errors
    }
}

#[cfg(test)]
#[path = "tests/ffmpeg.rs"]
mod tests;
