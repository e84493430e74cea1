//! H.264 decoding with OpenH264 (Cisco's decoder, built from source by `openh264-sys2`).
//!
//! Input: Annex B access units (ITU-T H.264 Annex B) in decode order with their PTS.
//! Output: I420 pictures in presentation order. OpenH264 is fed one access unit at a time
//! through `DecodeFrameNoDelay`, tagged with a sequence number in `uiInBsTimeStamp`; the tag
//! comes back in `uiOutYuvTimeStamp` and is mapped to the packet's PTS. A small reorder
//! buffer (depth from the SPS `max_num_reorder_frames`, else 4 for profiles with B-frames)
//! then releases pictures in PTS order, so streams with B-frames (x264 High, CABAC) come
//! out in display order whether or not the library reorders itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use openh264::decoder::{Decoder, DecoderConfig, Flush};
use openh264::OpenH264API;
use openh264_sys2::{SBufferInfo, DECODER_OPTION_NUM_OF_FRAMES_REMAINING_IN_BUFFER};

use crate::codec::h264::{self, AvcConfig, Sps};
use crate::frame::{Picture, VideoFrame};
use crate::packet::{Packet, StreamInfo};
use crate::time::{rescale, VIDEO_HZ};
use crate::{Error, Result};

use super::VideoDecoder;

/// H.264 decoder (OpenH264): Annex B access units in decode order, I420 pictures out in
/// presentation order with 90 kHz pts.
pub(crate) struct H264Decoder {
    dec: Decoder,
    timebase: u32,
    /// Parameter sets from the container, sent before the first access unit.
    headers: Vec<u8>,
    headers_sent: bool,
    next_tag: u64,
    tags: HashMap<u64, i64>,
    reorder: BTreeMap<(i64, u64), Arc<Picture>>,
    depth: usize,
    /// Decode errors seen (corrupt slices); decoding continues with the next access unit.
    pub errors: u64,
    last_out_pts: Option<i64>,
}

// SAFETY: the OpenH264 decoder instance is owned exclusively by this struct and only used
// through `&mut self`; the library keeps no thread-local state.
unsafe impl Send for H264Decoder {}

impl H264Decoder {
    /// A decoder for the stream; the parameter sets of its avcC record (if any) are sent before
    /// the first access unit, and its profile sets the reorder depth.
    pub fn new(info: &StreamInfo) -> Result<H264Decoder> {
        let mut headers = Vec::new();
        let mut depth = 4;
        if !info.config.is_empty() {
            if let Ok(cfg) = AvcConfig::parse(&info.config) {
                headers = cfg.parameter_sets_annexb();
                if let Some(Ok(sps)) = cfg.sps.first().map(|s| Sps::parse(s)) {
                    if let Some(n) = sps.max_num_reorder_frames {
                        depth = (n as usize).min(16);
                    }
                }
            }
        }
        let cfg = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        let dec = Decoder::with_api_config(OpenH264API::from_source(), cfg)
            .map_err(|e| Error::Decode(format!("cannot create H.264 decoder: {e}")))?;
        Ok(H264Decoder {
            dec,
            timebase: info.timebase.max(1),
            headers,
            headers_sent: false,
            next_tag: 1,
            tags: HashMap::new(),
            reorder: BTreeMap::new(),
            depth,
            errors: 0,
            last_out_pts: None,
        })
    }

    fn take_output(&mut self, dst: &[*mut u8; 3], info: &SBufferInfo) {
        if info.iBufferStatus != 1 || dst.iter().any(|p| p.is_null()) {
            return;
        }
        // SAFETY: OpenH264 reported a ready frame; the pointers and strides describe its
        // planes, valid until the next decoder call. We copy them out immediately.
        let buf = unsafe { info.UsrData.sSystemBuffer };
        let (w, h) = (buf.iWidth.max(0) as usize, buf.iHeight.max(0) as usize);
        let (sy, suv) = (buf.iStride[0].max(0) as usize, buf.iStride[1].max(0) as usize);
        if w == 0 || h == 0 || sy < w || suv < w.div_ceil(2) {
            return;
        }
        let mut pic = Picture::uninit(w as u32, h as u32); // every byte is written below
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        {
            let (py, pu, pv) = pic.planes_mut();
            unsafe {
                for row in 0..h {
                    let src = std::slice::from_raw_parts(dst[0].add(row * sy), w);
                    py[row * w..row * w + w].copy_from_slice(src);
                }
                for row in 0..ch {
                    let su = std::slice::from_raw_parts(dst[1].add(row * suv), cw);
                    let sv = std::slice::from_raw_parts(dst[2].add(row * suv), cw);
                    pu[row * cw..row * cw + cw].copy_from_slice(su);
                    pv[row * cw..row * cw + cw].copy_from_slice(sv);
                }
            }
        }
        let tag = info.uiOutYuvTimeStamp;
        let pts = match self.tags.remove(&tag) {
            Some(p) => p,
            // Unknown tag (should not happen): place it right after the last output.
            None => self.last_out_pts.map(|p| p + 1).unwrap_or(0),
        };
        self.reorder.insert((pts, tag), Arc::new(pic));
    }

    fn drain(&mut self, keep: usize, out: &mut Vec<VideoFrame>) {
        while self.reorder.len() > keep {
            let Some(((pts, _), pic)) = self.reorder.pop_first() else {
                break;
            };
            // Never emit out of order (a late frame after a newer one is dropped).
            if self.last_out_pts.is_some_and(|l| pts <= l) {
                continue;
            }
            self.last_out_pts = Some(pts);
            out.push(VideoFrame { pts: rescale(pts, self.timebase, VIDEO_HZ), picture: pic });
        }
    }

    fn decode_bytes(&mut self, data: &[u8], tag: u64) -> Result<()> {
        let mut dst = [std::ptr::null_mut::<u8>(); 3];
        let mut info = SBufferInfo { uiInBsTimeStamp: tag, ..Default::default() };
        // SAFETY: data outlives the call; dst/info are valid out-pointers.
        let state = unsafe {
            self.dec.raw_api().decode_frame_no_delay(data.as_ptr(), data.len() as i32, dst.as_mut_ptr(), &mut info)
        };
        self.take_output(&dst, &info);
        if state != 0 {
            self.errors += 1;
        }
        Ok(())
    }
}

impl VideoDecoder for H264Decoder {
    fn decode(&mut self, pkt: &Packet, out: &mut Vec<VideoFrame>) -> Result<()> {
        if !self.headers_sent && !self.headers.is_empty() {
            let hdr = std::mem::take(&mut self.headers);
            self.decode_bytes(&hdr, 0)?;
            self.headers_sent = true;
        }
        if pkt.data.is_empty() {
            return Ok(());
        }
        // OpenH264 wants Annex B; be lenient with bare length-prefixed data.
        let owned;
        let data: &[u8] = if h264::looks_like_annexb(&pkt.data) {
            &pkt.data
        } else {
            owned = h264::avcc_to_annexb(&pkt.data, 4)?;
            &owned
        };
        // SVC/MVC extension NAL units (prefix 14, subset SPS 15, coded slice extension 20)
        // are not for the base-layer decoder OpenH264 is; drop them (as FFmpeg does).
        let filtered;
        let data: &[u8] = if h264::annexb_nals(data).any(|n| matches!(h264::nal_type(n), 14 | 15 | 20)) {
            let mut v = Vec::with_capacity(data.len());
            for n in h264::annexb_nals(data).filter(|n| !matches!(h264::nal_type(n), 14 | 15 | 20)) {
                h264::push_annexb(&mut v, n);
            }
            filtered = v;
            &filtered
        } else {
            data
        };
        let tag = self.next_tag;
        self.next_tag += 1;
        self.tags.insert(tag, pkt.pts);
        self.decode_bytes(data, tag)?;
        // Forget tags of access units that produced no picture long ago (corrupt data).
        if self.tags.len() > 64 {
            let min_keep = tag.saturating_sub(64);
            self.tags.retain(|&t, _| t >= min_keep);
        }
        let depth = self.depth;
        self.drain(depth, out);
        Ok(())
    }

    fn flush(&mut self, out: &mut Vec<VideoFrame>) -> Result<()> {
        for _ in 0..32 {
            let mut n: i32 = 0;
            // SAFETY: valid out-pointer for an int option.
            unsafe {
                self.dec
                    .raw_api()
                    .get_option(DECODER_OPTION_NUM_OF_FRAMES_REMAINING_IN_BUFFER, (&mut n as *mut i32).cast());
            }
            if n <= 0 {
                break;
            }
            let mut dst = [std::ptr::null_mut::<u8>(); 3];
            let mut info = SBufferInfo::default();
            unsafe {
                self.dec.raw_api().flush_frame(dst.as_mut_ptr(), &mut info);
            }
            if info.iBufferStatus != 1 {
                break;
            }
            self.take_output(&dst, &info);
        }
        self.drain(0, out);
        Ok(())
    }

    fn errors(&self) -> u64 {
        self.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::MediaKind;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
    }

    fn decode_all(name: &str) -> Vec<VideoFrame> {
        let (_, mut d) = crate::demux::open(&fixture(name)).unwrap();
        let s = d.streams().iter().find(|s| s.kind == MediaKind::Video).unwrap().clone();
        let mut dec = H264Decoder::new(&s).unwrap();
        let mut out = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            if p.stream == s.index {
                dec.decode(&p, &mut out).unwrap();
            }
        }
        dec.flush(&mut out).unwrap();
        assert_eq!(dec.errors, 0);
        out
    }

    #[test]
    fn x264_high_cabac_bframes_come_out_in_presentation_order() {
        // 50 frames, x264 High/CABAC/3 B-frames, luma 20 + 3n: decode order differs from
        // presentation order, so only a correct reorder gives a rising ramp.
        let frames = decode_all("i_ramp_bframes.mp4");
        assert_eq!(frames.len(), 50);
        for (n, f) in frames.iter().enumerate() {
            assert_eq!(f.pts, n as i64 * 3600, "frame {n}");
            let want = 20.0 + 3.0 * n as f64;
            let got = f.picture.mean_luma();
            assert!((got - want).abs() < 2.5, "frame {n}: luma {got:.1}, want {want}");
            assert_eq!((f.picture.width, f.picture.height), (64, 48));
        }
    }

    #[test]
    fn every_picture_of_a_b_frame_clip_decodes() {
        let frames = decode_all("a_high_bframes.mp4");
        assert_eq!(frames.len(), 100);
        assert!(frames.iter().all(|f| (f.picture.mean_luma() - 60.0).abs() < 2.0));
    }

    #[test]
    fn garbage_is_counted_not_fatal() {
        let info = StreamInfo::new(0, MediaKind::Video, crate::packet::Codec::H264, 90000);
        let mut d = H264Decoder::new(&info).unwrap();
        let mut out = Vec::new();
        for i in 0..20u8 {
            let data: Vec<u8> = [0, 0, 0, 1, 0x65].iter().copied().chain((0..200).map(|k| k as u8 ^ i)).collect();
            let p = Packet {
                stream: 0,
                pts: i as i64,
                dts: i as i64,
                duration: 1,
                keyframe: true,
                data: bytes::Bytes::from(data),
            };
            d.decode(&p, &mut out).unwrap();
        }
        d.flush(&mut out).unwrap();
    }
}
