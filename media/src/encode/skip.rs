//! Repeated pictures as all-`P_Skip` frames, written without the encoder (ITU-T H.264
//! §7.3.3 slice header, §7.3.4 slice data, §8.4.1.1 `P_Skip` motion vectors).
//!
//! When the compositor hands the encoder the same canvas again (the same `Arc`: a static
//! slide, nobody on camera, a held frame, a black gap), encoding it with OpenH264 still
//! costs ~75% of a moving picture (motion search, mode decision, deblocking). A P slice
//! whose every macroblock is `P_Skip` costs nothing to make and ~10 bytes to store: with all
//! neighbours skipped with motion vector 0 (and none available at the picture's top and left
//! edges), every predicted vector is 0 (§8.4.1.1), so the picture is an exact copy of the
//! reference, with no residual and nothing left to deblock.
//!
//! The skip frame must fit into OpenH264's own stream, which is Baseline with
//! `pic_order_cnt_type` 2 (order = decoding order), CAVLC, one reference frame and every
//! picture a reference. So the skip frame is a reference P picture too, with the next
//! `frame_num`; OpenH264 does not know about it, so the `frame_num` of its later pictures in
//! the chunk is rewritten ([`SkipWriter::renumber`]): `frame_num` is a fixed-length field, so
//! the slice header keeps its length and only the emulation prevention is redone. OpenH264
//! predicts its next picture from its own last reconstruction, and the skip frame decodes
//! to exactly that picture, so decoder and encoder stay in step. Any other stream shape
//! (another `pic_order_cnt_type`, CABAC, slice groups, fields, ...) disables skip frames
//! ([`SkipWriter::from_access_unit`] returns `None`) and every picture goes to the encoder.

use crate::codec::bits::{BitReader, BitWriter};
use crate::codec::h264::{
    annexb_nals, escape_rbsp, nal_type, push_annexb, unescape_rbsp, Pps, Sps, NAL_IDR, NAL_PPS, NAL_SLICE, NAL_SPS,
};

/// Writes skip frames and renumbers encoder pictures for one stream's SPS/PPS.
#[derive(Clone, Debug)]
pub(crate) struct SkipWriter {
    log2_max_frame_num: u32,
    pic_size_in_mbs: u32,
    pps_id: u32,
    deblocking_control: bool,
}

impl SkipWriter {
    /// From the SPS and PPS in an access unit (the IDR that opens a chunk). `None` when the
    /// stream is not one this writer can extend safely.
    pub(crate) fn from_access_unit(au: &[u8]) -> Option<SkipWriter> {
        let sps = Sps::parse(annexb_nals(au).find(|n| nal_type(n) == NAL_SPS)?).ok()?;
        let pps = Pps::parse(annexb_nals(au).find(|n| nal_type(n) == NAL_PPS)?).ok()?;
        let ok = sps.pic_order_cnt_type == 2
            && sps.frame_mbs_only
            && sps.chroma_format_idc == 1
            && pps.seq_parameter_set_id == sps.seq_parameter_set_id
            && !pps.entropy_coding_mode
            && pps.num_slice_groups == 1
            && !pps.weighted_pred
            && !pps.redundant_pic_cnt_present
            && pps.num_ref_idx_l0_default_active >= 1;
        let pic_size_in_mbs = sps.width_mbs.checked_mul(sps.height_mbs)?;
        (ok && pic_size_in_mbs > 0).then_some(SkipWriter {
            log2_max_frame_num: sps.log2_max_frame_num,
            pic_size_in_mbs,
            pps_id: pps.pic_parameter_set_id,
            deblocking_control: pps.deblocking_filter_control_present,
        })
    }

    /// `frame_num` wraps at this value (§7.4.3).
    pub(crate) fn max_frame_num(&self) -> u32 {
        1 << self.log2_max_frame_num
    }

    /// An Annex B access unit: one P slice of `P_Skip` macroblocks with this `frame_num`.
    pub(crate) fn skip_frame(&self, frame_num: u32) -> Vec<u8> {
        let mut w = BitWriter::new();
        w.write_ue(0); // first_mb_in_slice
        w.write_ue(5); // slice_type: P, and every slice of the picture is P
        w.write_ue(self.pps_id);
        w.write(self.log2_max_frame_num, frame_num % self.max_frame_num());
        // frame_mbs_only, not IDR, pic_order_cnt_type 2, no redundant_pic_cnt: nothing here.
        w.write(1, 0); // num_ref_idx_active_override_flag: the PPS default (refIdx 0 is used)
        w.write(1, 0); // ref_pic_list_modification_flag_l0
                       // No weighted prediction; nal_ref_idc != 0, so dec_ref_pic_marking():
        w.write(1, 0); // adaptive_ref_pic_marking_mode_flag: sliding window
        w.write_se(0); // slice_qp_delta
        if self.deblocking_control {
            w.write_ue(1); // disable_deblocking_filter_idc: nothing to filter in a copy
        }
        // slice_data(), CAVLC: one run of skipped macroblocks covering the picture, then
        // no more RBSP data.
        w.write_ue(self.pic_size_in_mbs);
        w.write(1, 1); // rbsp_stop_one_bit (+ alignment zeros from finish)
        let mut nal = vec![0x61]; // forbidden 0, nal_ref_idc 3, nal_unit_type 1
        nal.extend_from_slice(&escape_rbsp(&w.finish()));
        let mut au = Vec::with_capacity(nal.len() + 4);
        push_annexb(&mut au, &nal);
        au
    }

    /// The same access unit with `frame_num` set in every non-IDR slice header (other NAL
    /// units are copied unchanged). `None` if a slice header cannot be read.
    pub(crate) fn renumber(&self, au: &[u8], frame_num: u32) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(au.len() + 16);
        for nal in annexb_nals(au) {
            if nal_type(nal) != NAL_SLICE {
                if nal_type(nal) == NAL_IDR {
                    return None; // an IDR's frame_num is 0 and stays so; not ours to change
                }
                push_annexb(&mut out, nal);
                continue;
            }
            let mut rbsp = unescape_rbsp(nal.get(1..)?);
            let mut r = BitReader::new(&rbsp);
            r.read_ue().ok()?; // first_mb_in_slice
            r.read_ue().ok()?; // slice_type
            r.read_ue().ok()?; // pic_parameter_set_id
            let pos = r.position();
            r.skip(self.log2_max_frame_num as usize).ok()?;
            let v = frame_num % self.max_frame_num();
            for i in 0..self.log2_max_frame_num as usize {
                let bit = (v >> (self.log2_max_frame_num as usize - 1 - i)) & 1;
                let (byte, shift) = ((pos + i) / 8, 7 - (pos + i) % 8);
                rbsp[byte] = (rbsp[byte] & !(1 << shift)) | ((bit as u8) << shift);
            }
            let mut n = vec![nal[0]];
            n.extend_from_slice(&escape_rbsp(&rbsp));
            push_annexb(&mut out, &n);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::h264::annexb_has_idr;

    // SPS/PPS/slice as OpenH264 writes them for 1280x720 (Baseline, poc type 2, CAVLC,
    // log2_max_frame_num 15): taken from an encode by this crate (see encode::h264 tests for
    // the end-to-end check with the decoder).
    fn writer() -> SkipWriter {
        SkipWriter { log2_max_frame_num: 15, pic_size_in_mbs: 80 * 45, pps_id: 0, deblocking_control: true }
    }

    #[test]
    fn skip_frame_bits() {
        let au = writer().skip_frame(3);
        let nals: Vec<&[u8]> = annexb_nals(&au).collect();
        assert_eq!(nals.len(), 1);
        assert_eq!(nals[0][0], 0x61);
        let rbsp = unescape_rbsp(&nals[0][1..]);
        let mut r = BitReader::new(&rbsp);
        assert_eq!(r.read_ue(), Ok(0));
        assert_eq!(r.read_ue(), Ok(5));
        assert_eq!(r.read_ue(), Ok(0));
        assert_eq!(r.read(15), Ok(3));
        assert_eq!((r.read_bit(), r.read_bit(), r.read_bit()), (Ok(0), Ok(0), Ok(0)));
        assert_eq!(r.read_se(), Ok(0));
        assert_eq!(r.read_ue(), Ok(1));
        assert_eq!(r.read_ue(), Ok(3600));
        assert_eq!(r.read_bit(), Ok(1));
        assert!(r.bits_left() < 8);
        assert!(!annexb_has_idr(&au));
        // frame_num wraps at 2^15
        assert_eq!(writer().skip_frame(3 + (1 << 15)), au);
    }

    #[test]
    fn renumber_rewrites_only_frame_num() {
        let w = writer();
        // A skip frame stands in for an encoder slice: renumbering it equals writing it anew.
        let a = w.skip_frame(1);
        for n in [0u32, 2, 77, (1 << 15) - 1] {
            assert_eq!(w.renumber(&a, n).unwrap(), w.skip_frame(n));
        }
        // Non-slice NAL units pass through; an IDR is refused.
        let mut au = Vec::new();
        push_annexb(&mut au, &[0x06, 0x05, 0x01, 0x00, 0x80]); // SEI
        au.extend_from_slice(&a);
        let r = w.renumber(&au, 9).unwrap();
        assert!(r.starts_with(&[0, 0, 0, 1, 0x06, 0x05, 0x01, 0x00, 0x80]));
        assert!(w.renumber(&[0, 0, 0, 1, 0x65, 0x88, 0x84], 1).is_none());
        // A truncated slice header gives None, not a panic.
        assert!(w.renumber(&[0, 0, 0, 1, 0x61, 0x80], 1).is_none());
    }

    #[test]
    fn emulation_prevention_round_trip() {
        // frame_num values that put 00 00 0x into the RBSP must be escaped and read back.
        let w = SkipWriter { log2_max_frame_num: 16, pic_size_in_mbs: 1, pps_id: 0, deblocking_control: false };
        for n in [0u32, 1, 2, 3, 0x100, 0x8000] {
            let au = w.skip_frame(n);
            let nal = annexb_nals(&au).next().unwrap();
            assert!(!nal.windows(3).any(|x| x[0] == 0 && x[1] == 0 && x[2] <= 2), "{n}: {nal:02x?}");
            let rbsp = unescape_rbsp(&nal[1..]);
            let mut r = BitReader::new(&rbsp);
            r.read_ue().unwrap();
            r.read_ue().unwrap();
            r.read_ue().unwrap();
            assert_eq!(r.read(16), Ok(n));
        }
    }
}
