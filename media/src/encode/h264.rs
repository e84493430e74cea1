//! H.264 encoding with OpenH264 (Constrained Baseline, CAVLC, no B-frames: PTS = DTS).
//!
//! Settings that matter for an archive (see docs/decisions.md): bitrate rate control with
//! frame skipping OFF (every input picture becomes an output picture), scene-change
//! detection OFF (IDR pictures only where we put them), an explicit intra period, and
//! SPS/PPS before every IDR (so every chunk decodes on its own). The output is Annex B.
//!
//! Repeats: a picture that is the same `Arc` as the one before, after the encoder has had it
//! [`REFINE_REPEATS`] more times to sharpen it, becomes an all-`P_Skip` frame written without
//! the encoder ([`super::skip`]), so a static canvas costs next to nothing.
//!
//! Parallelism: the timeline is cut into [`VideoChunk`]s of whole GOPs; each chunk is
//! encoded by a fresh encoder on a rayon worker ([`ChunkEncoder`]), and the results are
//! put back in order by the consumer (see [`EncodedChunk::index`]).

use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode, SpsPpsStrategy,
    UsageType,
};
use openh264::formats::YUVSource;
use openh264::OpenH264API;

use super::skip::SkipWriter;
use crate::codec::h264 as nal;
use crate::frame::Picture;
use crate::packet::Packet;
use crate::stats::{Collector, Span, Stage};
use crate::time::Ticks90k;
use crate::{Error, Result};

/// How many times a repeated picture still goes through the encoder before repeats become
/// skip frames: rate control gives a new picture a limited number of bits, and the next
/// encodes of the same picture add the detail it left out (text on a slide sharpens).
pub const REFINE_REPEATS: u32 = 2;

/// Output video parameters. Fields may be added: build them with [`H264Settings::new`] and
/// change what differs with the `with_*` methods:
///
/// ```
/// use media::encode::H264Settings;
///
/// let s = H264Settings::new(1280, 720, 30, 1).with_bitrate(2_500_000).with_gop(60);
/// assert_eq!((s.bitrate, s.gop), (2_500_000, 60));
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug)]
pub struct H264Settings {
    /// Picture width in pixels (even, at least 16).
    pub width: u32,
    /// Picture height in pixels (even, at least 16).
    pub height: u32,
    /// Frame rate as a fraction (num/den), e.g. 25/1 or 30000/1001.
    pub fps_num: u32,
    /// Frame rate denominator (> 0).
    pub fps_den: u32,
    /// Target bitrate in bits per second.
    pub bitrate: u32,
    /// Pictures per GOP (IDR interval). Chunks are whole GOPs.
    pub gop: u32,
}

impl H264Settings {
    /// Settings for `width` x `height` pictures at `fps_num / fps_den` frames per second, with
    /// the [`H264Settings::default_bitrate`] and a GOP of 2 s (the pipeline's default; at
    /// least one picture).
    pub fn new(width: u32, height: u32, fps_num: u32, fps_den: u32) -> H264Settings {
        let gop = ((2 * fps_num as u64) / fps_den.max(1) as u64).max(1) as u32;
        let bitrate = Self::default_bitrate(width, height, fps_num, fps_den);
        H264Settings { width, height, fps_num, fps_den, bitrate, gop }
    }
    /// The same settings with a target bitrate of `bps` bits per second.
    pub fn with_bitrate(mut self, bps: u32) -> H264Settings {
        self.bitrate = bps;
        self
    }
    /// The same settings with `gop` pictures per GOP (IDR interval; at least 1).
    pub fn with_gop(mut self, gop: u32) -> H264Settings {
        self.gop = gop.max(1);
        self
    }
    /// A bitrate that keeps screen text and faces readable: ~0.08 bit per pixel at 25 fps
    /// (1280x720 -> ~1.8 Mbit/s), at least 300 kbit/s.
    pub fn default_bitrate(width: u32, height: u32, fps_num: u32, fps_den: u32) -> u32 {
        let fps = fps_num as f64 / fps_den.max(1) as f64;
        ((width as f64 * height as f64 * fps * 0.08) as u32).max(300_000)
    }
    /// Timestamp of output frame `n` (frame 0 at 0).
    pub fn frame_pts(&self, n: u64) -> Ticks90k {
        Ticks90k(crate::time::rescale(n as i64 * self.fps_den as i64, self.fps_num, crate::time::VIDEO_HZ))
    }
}

struct PicSource<'a>(&'a Picture);

impl YUVSource for PicSource<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width as usize, self.0.height as usize)
    }
    fn strides(&self) -> (usize, usize, usize) {
        let cw = self.0.width.div_ceil(2) as usize;
        (self.0.width as usize, cw, cw)
    }
    fn y(&self) -> &[u8] {
        self.0.y()
    }
    fn u(&self) -> &[u8] {
        self.0.u()
    }
    fn v(&self) -> &[u8] {
        self.0.v()
    }
}

/// One H.264 encoder instance.
pub(crate) struct H264Encoder {
    enc: Encoder,
    settings: H264Settings,
}

impl H264Encoder {
    /// An OpenH264 encoder for `settings`; fails for odd or smaller than 16x16 sizes, or when
    /// the library refuses the parameters.
    pub fn new(settings: H264Settings) -> Result<H264Encoder> {
        if settings.width % 2 != 0 || settings.height % 2 != 0 || settings.width < 16 || settings.height < 16 {
            return Err(Error::Encode(format!(
                "canvas {}x{} must be even and at least 16x16",
                settings.width, settings.height
            )));
        }
        let fps = settings.fps_num as f32 / settings.fps_den.max(1) as f32;
        let cfg = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(settings.bitrate))
            .max_frame_rate(FrameRate::from_hz(fps))
            .skip_frames(false)
            .scene_change_detect(false)
            .background_detection(false)
            .adaptive_quantization(true)
            .complexity(Complexity::Low)
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            .intra_frame_period(IntraFramePeriod::from_num_frames(settings.gop.max(1)));
        let mut enc = Encoder::with_api_config(OpenH264API::from_source(), cfg)
            .map_err(|e| Error::Encode(format!("cannot create H.264 encoder: {e}")))?;
        // Quiet the library's own logging before it initialises (it would print a warning
        // about frame skipping being off to stderr for every chunk). OpenH264 accepts the
        // trace level before initialisation.
        let mut level: i32 = openh264_sys2::WELS_LOG_QUIET as i32;
        // SAFETY: valid pointer to an int option for the lifetime of the call.
        unsafe {
            enc.raw_api().set_option(openh264_sys2::ENCODER_OPTION_TRACE_LEVEL, (&mut level as *mut i32).cast());
        }
        Ok(H264Encoder { enc, settings })
    }

    /// Encode one picture; returns the Annex B access unit and whether it is an IDR.
    pub fn encode(&mut self, pic: &Picture, force_idr: bool) -> Result<(Vec<u8>, bool)> {
        if pic.width != self.settings.width || pic.height != self.settings.height {
            return Err(Error::Encode(format!(
                "picture {}x{} does not match the canvas {}x{}",
                pic.width, pic.height, self.settings.width, self.settings.height
            )));
        }
        if force_idr {
            self.enc.force_intra_frame();
        }
        let bs = self.enc.encode(&PicSource(pic)).map_err(|e| Error::Encode(e.to_string()))?;
        let data = bs.to_vec();
        let idr = nal::annexb_has_idr(&data);
        Ok((data, idr))
    }
}

/// A run of consecutive output pictures starting at output frame `first_frame`, handed to
/// a worker when the run *starts*: its pictures follow through `pictures` as they are made
/// (the sender is dropped at the end of the run). A worker thus encodes while the chunk is
/// still being produced, and the producer starts a chunk only when a worker takes it, so
/// at most about one chunk of pictures waits per worker (memory: see docs/performance.md).
pub struct VideoChunk {
    /// Sequence number of the chunk (0-based); chunks are muxed in this order.
    pub index: u64,
    /// Output frame number of the chunk's first picture.
    pub first_frame: u64,
    /// The chunk's pictures in output order; the channel closes at the end of the run.
    pub pictures: Receiver<Arc<Picture>>,
}

impl VideoChunk {
    /// A chunk whose pictures are all known already.
    pub fn from_pictures(index: u64, first_frame: u64, pictures: Vec<Arc<Picture>>) -> VideoChunk {
        let (tx, rx) = crossbeam_channel::bounded(pictures.len().max(1));
        for p in pictures {
            let _ = tx.send(p);
        }
        VideoChunk { index, first_frame, pictures: rx }
    }
}

/// The packets of one chunk, in order; the first is an IDR.
pub struct EncodedChunk {
    /// The [`VideoChunk::index`] it was encoded from.
    pub index: u64,
    /// The chunk's packets (Annex B, timebase 90 kHz), in decode order.
    pub packets: Vec<Packet>,
    /// How many of the packets are skip frames for repeated pictures (not encoded).
    pub skipped: u64,
}

/// Encodes chunks in parallel on a rayon pool of `threads` workers.
pub struct ChunkEncoder {
    /// The settings every chunk is encoded with.
    pub settings: H264Settings,
    pool: rayon::ThreadPool,
    stats: Option<Arc<Collector>>,
}

impl ChunkEncoder {
    /// A pool of `threads` (at least 1) encoder workers for `settings`; fails early when the
    /// settings are unusable (odd or smaller than 16x16 sizes, or refused by OpenH264).
    pub fn new(settings: H264Settings, threads: usize) -> Result<ChunkEncoder> {
        // Fail early with a clear message if the parameters are unusable.
        H264Encoder::new(settings)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("h264-enc-{i}"))
            .build()
            .map_err(|e| Error::Encode(format!("thread pool: {e}")))?;
        Ok(ChunkEncoder { settings, pool, stats: None })
    }

    /// Encode one chunk synchronously (on the calling thread).
    pub fn encode_chunk(settings: H264Settings, chunk: &VideoChunk) -> Result<EncodedChunk> {
        let mut enc = H264Encoder::new(settings)?;
        let mut packets = Vec::with_capacity(settings.gop as usize);
        // Skip frames: the writer comes from the chunk's IDR; `frame_num` is what the next
        // picture must carry, `enc_frame_num` what OpenH264 will write into it.
        let mut skip: Option<SkipWriter> = None;
        let (mut frame_num, mut enc_frame_num) = (0u32, 0u32);
        let mut prev: Option<Arc<Picture>> = None;
        let mut repeats = 0u32;
        let mut skipped = 0u64;
        for (i, pic) in chunk.pictures.iter().enumerate() {
            let n = chunk.first_frame + i as u64;
            repeats = if prev.as_ref().is_some_and(|p| Arc::ptr_eq(p, &pic)) { repeats + 1 } else { 0 };
            // IDRs where the GOP says, whatever OpenH264 counted (it does not see skips).
            let gop_start = i as u64 % settings.gop.max(1) as u64 == 0;
            let (data, idr) = match &skip {
                Some(w) if repeats > REFINE_REPEATS && !gop_start => {
                    let au = w.skip_frame(frame_num);
                    frame_num = (frame_num + 1) % w.max_frame_num();
                    skipped += 1;
                    (au, false)
                }
                _ => {
                    let (mut data, idr) = enc.encode(&pic, gop_start)?;
                    if idr {
                        // A new IDR starts over: new parameters, frame_num 0, and its
                        // picture gets its own refinement encodes.
                        skip = SkipWriter::from_access_unit(&data);
                        (frame_num, enc_frame_num) = (1, 1);
                        repeats = 0;
                    } else if let Some(w) = &skip {
                        if frame_num != enc_frame_num {
                            data = w.renumber(&data, frame_num).ok_or_else(|| {
                                Error::Encode(format!("cannot renumber encoder picture {n} after skip frames"))
                            })?;
                        }
                        frame_num = (frame_num + 1) % w.max_frame_num();
                        enc_frame_num = (enc_frame_num + 1) % w.max_frame_num();
                    }
                    (data, idr)
                }
            };
            prev = Some(pic);
            if i == 0 && !idr {
                return Err(Error::Encode("encoder did not start the chunk with an IDR picture".into()));
            }
            if data.is_empty() {
                return Err(Error::Encode(format!("encoder produced no data for frame {n}")));
            }
            let pts = settings.frame_pts(n).ticks();
            packets.push(Packet {
                stream: 0,
                pts,
                dts: pts,
                duration: settings.frame_pts(n + 1).ticks() - pts,
                keyframe: idr,
                data: Bytes::from(data),
            });
        }
        Ok(EncodedChunk { index: chunk.index, packets, skipped })
    }

    /// Run until `input` closes: every chunk received is encoded on the pool and its result
    /// sent to `output` (in completion order; the consumer reorders by index). At most
    /// `threads` chunks are in flight, so memory stays bounded by the channel capacities.
    pub fn run(&self, input: Receiver<VideoChunk>, output: Sender<Result<EncodedChunk>>) {
        let settings = self.settings;
        let stats = self.stats.as_deref();
        self.pool.install(|| {
            use rayon::iter::{ParallelBridge, ParallelIterator};
            input.into_iter().par_bridge().for_each_with(output, |out, chunk| {
                // Encode time per chunk; waiting for its pictures counts as the stage's wait.
                let _worker = stats.map(|s| s.enter(Stage::Encode));
                let span = Span::start();
                let r = Self::encode_chunk(settings, &chunk);
                drop(chunk);
                if let Some(s) = stats {
                    s.add_span(Stage::Encode, span);
                    s.add_items(Stage::Encode, r.as_ref().map(|c| c.packets.len() as u64).unwrap_or(0));
                }
                let _ = out.send(r);
            });
        });
    }

    /// Count encode time in `stats` (see [`crate::stats`]).
    pub(crate) fn with_stats(mut self, stats: Arc<Collector>) -> Self {
        self.stats = Some(stats);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> H264Settings {
        H264Settings::new(64, 48, 25, 1).with_bitrate(200_000).with_gop(10)
    }

    #[test]
    fn chunk_starts_with_idr_and_has_every_frame() {
        let pics: Vec<Arc<Picture>> =
            (0..20).map(|i| Arc::new(Picture::filled(64, 48, 16 + i * 8, 128, 128))).collect();
        let chunk = VideoChunk::from_pictures(3, 100, pics);
        let out = ChunkEncoder::encode_chunk(settings(), &chunk).unwrap();
        assert_eq!(out.index, 3);
        assert_eq!(out.packets.len(), 20);
        assert!(out.packets[0].keyframe);
        assert!(out.packets[10].keyframe, "GOP of 10 puts an IDR at frame 10");
        assert_eq!(out.packets.iter().filter(|p| p.keyframe).count(), 2, "no scene-change IDRs");
        assert_eq!(out.packets[0].pts, 100 * 3600);
        assert_eq!(out.packets[19].pts, 119 * 3600);
        // SPS and PPS precede the first IDR.
        let types: Vec<u8> = nal::annexb_nals(&out.packets[0].data).map(nal::nal_type).collect();
        assert!(types.contains(&nal::NAL_SPS) && types.contains(&nal::NAL_PPS), "{types:?}");
    }

    /// A picture with detail (so the encoder has work) and a brightness offset.
    fn textured(w: u32, h: u32, k: u32) -> Arc<Picture> {
        let mut p = Picture::black(w, h);
        let (y, _, _) = p.planes_mut();
        for (i, px) in y.iter_mut().enumerate() {
            let (x, r) = (i as u32 % w, i as u32 / w);
            *px = (32 + ((x * 7 + r * 3 + k * 5) % 160)) as u8;
        }
        Arc::new(p)
    }

    fn decode_all(packets: &[Packet]) -> (Vec<Arc<Picture>>, u64) {
        use crate::decode::VideoDecoder;
        use crate::packet::{Codec, MediaKind, StreamInfo};
        let info = StreamInfo::new(0, MediaKind::Video, Codec::H264, crate::time::VIDEO_HZ);
        let mut dec = crate::decode::h264::H264Decoder::new(&info).unwrap();
        let mut out = Vec::new();
        for p in packets {
            dec.decode(p, &mut out).unwrap();
        }
        dec.flush(&mut out).unwrap();
        (out.into_iter().map(|f| f.picture).collect(), dec.errors())
    }

    fn psnr(a: &Picture, b: &Picture) -> f64 {
        let mse =
            a.y().iter().zip(b.y()).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>() / a.y().len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
    }

    #[test]
    fn repeats_become_skip_frames_that_decode_to_the_same_picture() {
        // A, A x7, B, B x3, C: repeats past REFINE_REPEATS are skip frames; the encoder's
        // pictures after them are renumbered and still decode (with the reference the skip
        // frames carried forward); a second GOP in the same chunk opens with an IDR.
        let s = H264Settings::new(96, 64, 25, 1).with_gop(14).with_bitrate(400_000);
        let (a, b, c) = (textured(96, 64, 0), textured(96, 64, 1), textured(96, 64, 2));
        let mut pics = vec![a.clone(); 8];
        pics.extend(vec![b.clone(); 4]);
        pics.push(c.clone());
        pics.extend(vec![c.clone(); 7]); // crosses the GOP boundary at 14
        let out = ChunkEncoder::encode_chunk(s, &VideoChunk::from_pictures(0, 0, pics.clone())).unwrap();
        assert_eq!(out.packets.len(), pics.len());
        // Skips: A repeats 3..=7 (5), B repeat 3 (1); frame 14 (C's repeat 2) opens the second
        // GOP as an IDR, which restarts the count: 15 and 16 refine it, 17..=19 are skips (3).
        let key: Vec<usize> = (0..pics.len()).filter(|&i| out.packets[i].keyframe).collect();
        assert_eq!(key, vec![0, 14]);
        let small = [3, 4, 5, 6, 7, 11, 17, 18, 19];
        assert_eq!(out.skipped, small.len() as u64);
        for i in small {
            assert!(out.packets[i].data.len() < 16, "skip frame {i}: {} bytes", out.packets[i].data.len());
        }
        let (dec, errors) = decode_all(&out.packets);
        assert_eq!(errors, 0);
        assert_eq!(dec.len(), pics.len(), "every frame decodes");
        for (i, (d, p)) in dec.iter().zip(&pics).enumerate() {
            assert!(psnr(d, p) > 30.0, "frame {i}: PSNR {:.1}", psnr(d, p));
            if small.contains(&i) {
                assert_eq!(d.data, dec[i - 1].data, "skip frame {i} is an exact copy of the one before");
            }
        }
        // One picture for 30 frames, GOP 14: a GOP start is never a skip frame.
        let still = ChunkEncoder::encode_chunk(s, &VideoChunk::from_pictures(0, 0, vec![a.clone(); 30])).unwrap();
        let key: Vec<usize> = (0..30).filter(|&i| still.packets[i].keyframe).collect();
        assert_eq!(key, vec![0, 14, 28]);
        assert_eq!(still.skipped, 30 - 3 - 3 * REFINE_REPEATS as u64 + 1, "28's GOP has only 29 after it");
        assert_eq!(decode_all(&still.packets).1, 0);
        // The same chunk with no repeats (distinct Arcs of equal pictures) has no skips.
        let copies: Vec<Arc<Picture>> = pics.iter().map(|p| Arc::new(Picture::clone(p))).collect();
        let plain = ChunkEncoder::encode_chunk(s, &VideoChunk::from_pictures(0, 0, copies)).unwrap();
        assert_eq!(plain.skipped, 0);
    }

    #[test]
    fn rejects_odd_canvas() {
        let mut s = settings();
        s.width = 63;
        assert!(H264Encoder::new(s).is_err());
    }

    #[test]
    fn ntsc_timestamps_do_not_drift() {
        let s = H264Settings::new(64, 48, 30000, 1001).with_bitrate(200_000).with_gop(10);
        // One hour of 29.97 fps frames lands exactly on the 90 kHz grid.
        assert_eq!(s.frame_pts(107_892), Ticks90k(107_892 * 3003));
    }
}
