//! H.264 bitstream helpers: Annex B byte streams (ITU-T H.264 Annex B), the length-prefixed
//! form of MP4 and its decoder configuration record (ISO/IEC 14496-15 §5.3.3.1, `avcC`),
//! and the fields of the sequence parameter set the pipeline needs (ITU-T H.264 §7.3.2.1.1).

use super::bits::BitReader;
use crate::{Error, Result};

/// `nal_unit_type` of a coded slice of a non-IDR picture (ITU-T H.264 Table 7-1).
pub const NAL_SLICE: u8 = 1;
/// `nal_unit_type` of a coded slice of an IDR picture.
pub const NAL_IDR: u8 = 5;
/// `nal_unit_type` of supplemental enhancement information (SEI).
pub const NAL_SEI: u8 = 6;
/// `nal_unit_type` of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// `nal_unit_type` of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// `nal_unit_type` of an access unit delimiter.
pub const NAL_AUD: u8 = 9;

/// `nal_unit_type` of a NAL unit (first byte, low 5 bits).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map(|b| b & 0x1f).unwrap_or(0)
}

/// Iterator over the NAL units of an Annex B byte stream (start codes of 3 or 4 bytes;
/// bytes before the first start code are ignored; trailing zero bytes are trimmed).
pub struct AnnexBIter<'a> {
    data: &'a [u8],
    pos: usize,
}

/// Position of the next `00 00 01` at or after `from`, returning (start of the start code
/// including a leading zero for 4-byte codes, first byte after it).
fn find_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= data.len() {
        // Skip quickly: a start code needs data[i+2] == 1 and data[i+1] == 0.
        if data[i + 2] > 1 {
            i += 3;
            continue;
        }
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let begin = if i > from && data[i - 1] == 0 { i - 1 } else { i };
            return Some((begin, i + 3));
        }
        i += 1;
    }
    None
}

impl<'a> Iterator for AnnexBIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.pos >= self.data.len() {
                return None;
            }
            let (_, start) = find_start_code(self.data, self.pos)?;
            let end = match find_start_code(self.data, start) {
                Some((b, _)) => b,
                None => self.data.len(),
            };
            self.pos = end;
            let mut nal = &self.data[start..end];
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    }
}

/// The NAL units of Annex B `data`, without start codes (see [`AnnexBIter`]).
pub fn annexb_nals(data: &[u8]) -> AnnexBIter<'_> {
    AnnexBIter { data, pos: 0 }
}

/// True when `data` begins with an Annex B start code.
pub fn looks_like_annexb(data: &[u8]) -> bool {
    data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1])
}

/// Append one NAL unit with a 4-byte start code.
pub fn push_annexb(out: &mut Vec<u8>, nal: &[u8]) {
    out.extend_from_slice(&[0, 0, 0, 1]);
    out.extend_from_slice(nal);
}

/// Length-prefixed NAL units (`len_size` 1, 2 or 4 bytes) to Annex B.
pub fn avcc_to_annexb(data: &[u8], len_size: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() + 16);
    for nal in avcc_nals(data, len_size)? {
        push_annexb(&mut out, nal);
    }
    Ok(out)
}

/// Split length-prefixed NAL units.
pub fn avcc_nals(data: &[u8], len_size: usize) -> Result<Vec<&[u8]>> {
    if !matches!(len_size, 1 | 2 | 4) {
        return Err(Error::invalid(format!("bad NAL length size {len_size}")));
    }
    let mut nals = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if i + len_size > data.len() {
            return Err(Error::invalid("truncated NAL length prefix"));
        }
        let mut n = 0usize;
        for b in &data[i..i + len_size] {
            n = (n << 8) | *b as usize;
        }
        i += len_size;
        if n > data.len() - i {
            return Err(Error::invalid(format!("NAL unit of {n} bytes overruns its sample")));
        }
        if n > 0 {
            nals.push(&data[i..i + n]);
        }
        i += n;
    }
    Ok(nals)
}

/// Annex B to 4-byte length-prefixed NAL units (for MP4 samples).
pub fn annexb_to_avcc(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    for nal in annexb_nals(data) {
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

/// Does this Annex B access unit contain an IDR slice?
pub fn annexb_has_idr(data: &[u8]) -> bool {
    annexb_nals(data).any(|n| nal_type(n) == NAL_IDR)
}

/// Remove emulation prevention bytes (`00 00 03` -> `00 00`), giving the RBSP.
pub fn unescape_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Add emulation prevention bytes (§7.4.1.1): after two zero bytes, a byte <= 3 gets an `03`
/// before it. The inverse of [`unescape_rbsp`] for an RBSP that ends in its stop bit (a
/// non-zero last byte, so no trailing `03` is needed).
pub fn escape_rbsp(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 4);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvcConfig {
    /// AVCProfileIndication (the SPS's profile_idc).
    pub profile_idc: u8,
    /// profile_compatibility (the SPS's constraint_set flags byte).
    pub profile_compat: u8,
    /// AVCLevelIndication (the SPS's level_idc).
    pub level_idc: u8,
    /// Bytes in each NAL length prefix of the samples (1, 2 or 4).
    pub nal_length_size: usize,
    /// The sequence parameter set NAL units, in record order, without length prefixes.
    pub sps: Vec<Vec<u8>>,
    /// The picture parameter set NAL units, in record order, without length prefixes.
    pub pps: Vec<Vec<u8>>,
}

impl AvcConfig {
    /// Parse a record. Errors when it is truncated, its configurationVersion is not 1 or it
    /// declares 3-byte NAL lengths.
    pub fn parse(rec: &[u8]) -> Result<AvcConfig> {
        let bad = |w: &str| Error::invalid(format!("avcC: {w}"));
        if rec.len() < 7 {
            return Err(bad("record shorter than 7 bytes"));
        }
        if rec[0] != 1 {
            return Err(bad("configurationVersion is not 1"));
        }
        let nal_length_size = (rec[4] & 3) as usize + 1;
        if nal_length_size == 3 {
            return Err(bad("NAL length size 3"));
        }
        let mut i = 5;
        let read_sets = |count: usize, i: &mut usize| -> Result<Vec<Vec<u8>>> {
            let mut v = Vec::new();
            for _ in 0..count {
                if *i + 2 > rec.len() {
                    return Err(bad("truncated parameter set length"));
                }
                let n = u16::from_be_bytes([rec[*i], rec[*i + 1]]) as usize;
                *i += 2;
                if *i + n > rec.len() {
                    return Err(bad("truncated parameter set"));
                }
                v.push(rec[*i..*i + n].to_vec());
                *i += n;
            }
            Ok(v)
        };
        let nsps = (rec[i] & 0x1f) as usize;
        i += 1;
        let sps = read_sets(nsps, &mut i)?;
        if i >= rec.len() {
            return Err(bad("missing PPS count"));
        }
        let npps = rec[i] as usize;
        i += 1;
        let pps = read_sets(npps, &mut i)?;
        Ok(AvcConfig { profile_idc: rec[1], profile_compat: rec[2], level_idc: rec[3], nal_length_size, sps, pps })
    }

    /// Build a record from parameter sets (4-byte NAL lengths).
    pub fn from_parameter_sets(sps: Vec<Vec<u8>>, pps: Vec<Vec<u8>>) -> Result<AvcConfig> {
        let first = sps.first().ok_or_else(|| Error::invalid("H.264 stream without SPS"))?;
        if first.len() < 4 {
            return Err(Error::invalid("SPS shorter than 4 bytes"));
        }
        Ok(AvcConfig {
            profile_idc: first[1],
            profile_compat: first[2],
            level_idc: first[3],
            nal_length_size: 4,
            sps,
            pps,
        })
    }

    /// Serialise (the `avcC` box payload).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = vec![
            1,
            self.profile_idc,
            self.profile_compat,
            self.level_idc,
            0xfc | (self.nal_length_size as u8 - 1),
            0xe0 | self.sps.len() as u8,
        ];
        for s in &self.sps {
            v.extend_from_slice(&(s.len() as u16).to_be_bytes());
            v.extend_from_slice(s);
        }
        v.push(self.pps.len() as u8);
        for p in &self.pps {
            v.extend_from_slice(&(p.len() as u16).to_be_bytes());
            v.extend_from_slice(p);
        }
        // High profiles carry chroma/bit-depth fields (§5.3.3.1.2).
        if matches!(self.profile_idc, 100 | 110 | 122 | 144) {
            if let Some(Ok(sps)) = self.sps.first().map(|s| Sps::parse(s)) {
                v.push(0xfc | sps.chroma_format_idc as u8);
                v.push(0xf8 | sps.bit_depth_luma_minus8 as u8);
                v.push(0xf8 | sps.bit_depth_chroma_minus8 as u8);
                v.push(0);
            }
        }
        v
    }

    /// SPS and PPS as Annex B.
    pub fn parameter_sets_annexb(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for s in self.sps.iter().chain(self.pps.iter()) {
            push_annexb(&mut out, s);
        }
        out
    }

    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub fn codec_string(&self) -> String {
        format!("avc1.{:02x}{:02x}{:02x}", self.profile_idc, self.profile_compat, self.level_idc)
    }
}

/// The SPS fields the pipeline uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sps {
    /// profile_idc (66 Baseline, 77 Main, 100 High, ...).
    pub profile_idc: u8,
    /// level_idc: ten times the level number (e.g. 31 for level 3.1).
    pub level_idc: u8,
    /// seq_parameter_set_id (0..=31), which PPSs refer to.
    pub seq_parameter_set_id: u32,
    /// chroma_format_idc: 1 = 4:2:0 (also when absent), 0 monochrome, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u32,
    /// Luma bit depth minus 8 (0 for 8-bit video).
    pub bit_depth_luma_minus8: u32,
    /// Chroma bit depth minus 8 (0 for 8-bit video).
    pub bit_depth_chroma_minus8: u32,
    /// frame_mbs_only_flag: false when the stream may code fields (interlaced).
    pub frame_mbs_only: bool,
    /// Displayed size after cropping.
    pub width: u32,
    /// Displayed height after cropping, in pixels.
    pub height: u32,
    /// VUI timing, if present: frame rate = time_scale / (2 * num_units_in_tick).
    pub timing: Option<(u32, u32)>,
    /// VUI max_num_reorder_frames (or a profile-based guess: 0 for Baseline).
    pub max_num_reorder_frames: Option<u32>,
    /// log2_max_frame_num_minus4 + 4: the bit length of `frame_num` in slice headers.
    pub log2_max_frame_num: u32,
    /// pic_order_cnt_type (0, 1 or 2), which decides how slice headers carry picture order.
    pub pic_order_cnt_type: u32,
    /// Coded size in macroblocks (before cropping): PicWidthInMbs, FrameHeightInMbs.
    pub width_mbs: u32,
    /// Coded height in macroblocks (FrameHeightInMbs, counting both fields).
    pub height_mbs: u32,
}

fn skip_scaling_list(r: &mut BitReader, size: usize) -> std::result::Result<(), super::bits::OutOfBits> {
    let mut last = 8i32;
    let mut next = 8i32;
    for _ in 0..size {
        if next != 0 {
            let delta = r.read_se()?;
            // delta_scale is in -128..=127 (§7.4.2.1.1.1); anything else is corrupt data.
            if !(-128..=127).contains(&delta) {
                return Err(super::bits::OutOfBits);
            }
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

impl Sps {
    /// Parse an SPS NAL unit (including its one-byte NAL header).
    pub fn parse(nal: &[u8]) -> Result<Sps> {
        if nal_type(nal) != NAL_SPS {
            return Err(Error::invalid("not an SPS NAL unit"));
        }
        let rbsp = unescape_rbsp(&nal[1..]);
        Self::parse_rbsp(&rbsp).map_err(|_| Error::invalid("truncated or malformed SPS"))
    }

    fn parse_rbsp(rbsp: &[u8]) -> std::result::Result<Sps, super::bits::OutOfBits> {
        let mut r = BitReader::new(rbsp);
        let profile_idc = r.read(8)? as u8;
        r.skip(8)?; // constraint flags
        let level_idc = r.read(8)? as u8;
        let seq_parameter_set_id = r.read_ue()?;
        let mut chroma_format_idc = 1;
        let mut bd_l = 0;
        let mut bd_c = 0;
        if matches!(profile_idc, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135) {
            chroma_format_idc = r.read_ue()?;
            if chroma_format_idc == 3 {
                r.skip(1)?; // separate_colour_plane_flag
            }
            bd_l = r.read_ue()?;
            bd_c = r.read_ue()?;
            r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
            if r.read_bit()? == 1 {
                let n = if chroma_format_idc != 3 { 8 } else { 12 };
                for i in 0..n {
                    if r.read_bit()? == 1 {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        let log2_max_frame_num = r.read_ue()? + 4;
        if log2_max_frame_num > 16 {
            return Err(super::bits::OutOfBits); // §7.4.2.1.1: 0..=12 for the _minus4 value
        }
        let poc_type = r.read_ue()?;
        if poc_type == 0 {
            r.read_ue()?;
        } else if poc_type == 1 {
            r.skip(1)?;
            r.read_se()?;
            r.read_se()?;
            let n = r.read_ue()?;
            if n > 255 {
                return Err(super::bits::OutOfBits);
            }
            for _ in 0..n {
                r.read_se()?;
            }
        }
        r.read_ue()?; // max_num_ref_frames
        r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
        let w_mbs = r.read_ue()? as u64 + 1;
        let h_map = r.read_ue()? as u64 + 1;
        let frame_mbs_only = r.read_bit()? == 1;
        if !frame_mbs_only {
            r.skip(1)?;
        }
        r.skip(1)?; // direct_8x8_inference_flag
        let mut crop = (0u64, 0u64, 0u64, 0u64);
        if r.read_bit()? == 1 {
            crop = (r.read_ue()? as u64, r.read_ue()? as u64, r.read_ue()? as u64, r.read_ue()? as u64);
        }
        let h_mbs = h_map * if frame_mbs_only { 1 } else { 2 };
        let (sub_w, sub_h) = match chroma_format_idc {
            0 => (1, 1),
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let crop_unit_y = sub_h * if frame_mbs_only { 1 } else { 2 };
        let width = (w_mbs * 16).saturating_sub((crop.0 + crop.1) * sub_w);
        let height = (h_mbs * 16).saturating_sub((crop.2 + crop.3) * crop_unit_y);
        let mut timing = None;
        let mut reorder = None;
        if r.read_bit().unwrap_or(0) == 1 {
            // VUI (Annex E.1.1); tolerate truncation: timing is optional information.
            let _ = (|| -> std::result::Result<(), super::bits::OutOfBits> {
                if r.read_bit()? == 1 {
                    let idc = r.read(8)?;
                    if idc == 255 {
                        r.skip(32)?;
                    }
                }
                if r.read_bit()? == 1 {
                    r.skip(1)?;
                }
                if r.read_bit()? == 1 {
                    r.skip(4)?;
                    if r.read_bit()? == 1 {
                        r.skip(24)?;
                    }
                }
                if r.read_bit()? == 1 {
                    r.read_ue()?;
                    r.read_ue()?;
                }
                if r.read_bit()? == 1 {
                    let n = r.read(32)?;
                    let s = r.read(32)?;
                    r.skip(1)?;
                    if n > 0 && s > 0 {
                        timing = Some((n, s));
                    }
                }
                let hrd = |r: &mut BitReader| -> std::result::Result<(), super::bits::OutOfBits> {
                    let cnt = r.read_ue()? + 1;
                    if cnt > 32 {
                        return Err(super::bits::OutOfBits);
                    }
                    r.skip(8)?;
                    for _ in 0..cnt {
                        r.read_ue()?;
                        r.read_ue()?;
                        r.skip(1)?;
                    }
                    r.skip(20)
                };
                let nal_hrd = r.read_bit()? == 1;
                if nal_hrd {
                    hrd(&mut r)?;
                }
                let vcl_hrd = r.read_bit()? == 1;
                if vcl_hrd {
                    hrd(&mut r)?;
                }
                if nal_hrd || vcl_hrd {
                    r.skip(1)?;
                }
                r.skip(1)?; // pic_struct_present_flag
                if r.read_bit()? == 1 {
                    r.skip(1)?;
                    for _ in 0..4 {
                        r.read_ue()?;
                    }
                    reorder = Some(r.read_ue()?);
                }
                Ok(())
            })();
        }
        if reorder.is_none() && matches!(profile_idc, 66) {
            reorder = Some(0);
        }
        Ok(Sps {
            profile_idc,
            level_idc,
            seq_parameter_set_id,
            chroma_format_idc,
            bit_depth_luma_minus8: bd_l,
            bit_depth_chroma_minus8: bd_c,
            frame_mbs_only,
            width: width.min(u32::MAX as u64) as u32,
            height: height.min(u32::MAX as u64) as u32,
            timing,
            max_num_reorder_frames: reorder,
            log2_max_frame_num,
            pic_order_cnt_type: poc_type,
            width_mbs: w_mbs.min(u32::MAX as u64) as u32,
            height_mbs: h_mbs.min(u32::MAX as u64) as u32,
        })
    }
}

/// The PPS fields a slice header writer needs (§7.3.2.2, up to `redundant_pic_cnt_present_flag`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pps {
    /// pic_parameter_set_id, which slice headers refer to.
    pub pic_parameter_set_id: u32,
    /// The seq_parameter_set_id of the SPS this PPS uses.
    pub seq_parameter_set_id: u32,
    /// CABAC (true) or CAVLC (false).
    pub entropy_coding_mode: bool,
    /// bottom_field_pic_order_in_frame_present_flag.
    pub bottom_field_pic_order_in_frame_present: bool,
    /// num_slice_groups_minus1 + 1.
    pub num_slice_groups: u32,
    /// num_ref_idx_l0_default_active_minus1 + 1.
    pub num_ref_idx_l0_default_active: u32,
    /// weighted_pred_flag.
    pub weighted_pred: bool,
    /// deblocking_filter_control_present_flag.
    pub deblocking_filter_control_present: bool,
    /// redundant_pic_cnt_present_flag.
    pub redundant_pic_cnt_present: bool,
}

impl Pps {
    /// Parse a PPS NAL unit (including its one-byte NAL header). Slice-group maps
    /// (`num_slice_groups_minus1 > 0`, Extended profile) are refused.
    pub fn parse(nal: &[u8]) -> Result<Pps> {
        if nal_type(nal) != NAL_PPS {
            return Err(Error::invalid("not a PPS NAL unit"));
        }
        let rbsp = unescape_rbsp(&nal[1..]);
        let bad = |_| Error::invalid("truncated or malformed PPS");
        let mut r = BitReader::new(&rbsp);
        let pic_parameter_set_id = r.read_ue().map_err(bad)?;
        let seq_parameter_set_id = r.read_ue().map_err(bad)?;
        let entropy_coding_mode = r.read_bit().map_err(bad)? == 1;
        let bottom_field_pic_order_in_frame_present = r.read_bit().map_err(bad)? == 1;
        let num_slice_groups = r.read_ue().map_err(bad)?.saturating_add(1);
        if num_slice_groups > 1 {
            return Err(Error::invalid("PPS with slice groups (not supported)"));
        }
        let num_ref_idx_l0_default_active = r.read_ue().map_err(bad)?.saturating_add(1);
        r.read_ue().map_err(bad)?; // num_ref_idx_l1_default_active_minus1
        let weighted_pred = r.read_bit().map_err(bad)? == 1;
        r.skip(2).map_err(bad)?; // weighted_bipred_idc
        r.read_se().map_err(bad)?; // pic_init_qp_minus26
        r.read_se().map_err(bad)?; // pic_init_qs_minus26
        r.read_se().map_err(bad)?; // chroma_qp_index_offset
        let deblocking_filter_control_present = r.read_bit().map_err(bad)? == 1;
        r.skip(1).map_err(bad)?; // constrained_intra_pred_flag
        let redundant_pic_cnt_present = r.read_bit().map_err(bad)? == 1;
        Ok(Pps {
            pic_parameter_set_id,
            seq_parameter_set_id,
            entropy_coding_mode,
            bottom_field_pic_order_in_frame_present,
            num_slice_groups,
            num_ref_idx_l0_default_active,
            weighted_pred,
            deblocking_filter_control_present,
            redundant_pic_cnt_present,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // x264 SPS for 320x240 High profile, 25 fps (from an ffmpeg-encoded file).
    const SPS_320X240: &[u8] = &[
        0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00,
        0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
    ];

    #[test]
    fn parses_x264_sps() {
        let s = Sps::parse(SPS_320X240).unwrap();
        assert_eq!(s.profile_idc, 100);
        assert_eq!((s.width, s.height), (320, 240));
        assert_eq!(s.chroma_format_idc, 1);
    }

    #[test]
    fn truncated_sps_is_an_error() {
        for n in 0..SPS_320X240.len() - 6 {
            let _ = Sps::parse(&SPS_320X240[..n]); // must not panic
        }
        assert!(Sps::parse(&SPS_320X240[..6]).is_err());
    }

    #[test]
    fn annexb_split_and_convert() {
        let data = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5, 0, 0];
        let nals: Vec<&[u8]> = annexb_nals(&data).collect();
        assert_eq!(nals, vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]);
        assert!(annexb_has_idr(&data));
        let avcc = annexb_to_avcc(&data);
        assert_eq!(
            avcc_to_annexb(&avcc, 4).unwrap(),
            [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5]
        );
        assert!(avcc_nals(&[0, 0, 0, 9, 1], 4).is_err());
        assert!(avcc_nals(&[0, 0], 4).is_err());
    }

    #[test]
    fn avcc_record_roundtrip() {
        let c = AvcConfig::from_parameter_sets(vec![SPS_320X240.to_vec()], vec![vec![0x68, 0xeb, 0xe3, 0xcb]]).unwrap();
        let b = c.to_bytes();
        let p = AvcConfig::parse(&b).unwrap();
        assert_eq!(p.sps, c.sps);
        assert_eq!(p.pps, c.pps);
        assert_eq!(p.nal_length_size, 4);
        assert_eq!(c.codec_string(), "avc1.64000d");
        for n in 0..b.len() {
            let _ = AvcConfig::parse(&b[..n]);
        }
    }

    #[test]
    fn huge_scaling_list_delta_is_an_error_not_an_overflow() {
        // Found by the h264 fuzz target (fuzz/regressions/h264/sps_scaling_list_delta_overflow.bin).
        assert!(Sps::parse(&[0x67, 0x64, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0x58]).is_err());
    }

    #[test]
    fn unescape() {
        assert_eq!(unescape_rbsp(&[0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
    }
}
