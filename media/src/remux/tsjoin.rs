//! MPEG-TS segment joiner: many HLS transport-stream segments in, ONE continuous, valid
//! transport stream out (ISO/IEC 13818-1, "Systems"; HLS segments per RFC 8216 §3 "Media
//! Segments" / §3.2 "MPEG-2 Transport Streams" and §6.3 client behaviour).
//!
//! [`TsJoiner::push_segment`] takes one whole segment at a time (memory is bounded by one
//! segment) and copies its 188-byte packets (§2.4.3.2) to the output, rewriting only what
//! concatenation breaks:
//!
//! 1. **Sync.** Packets are found by the sync byte 0x47 at 188-byte intervals; leading
//!    garbage or a partial first packet and a truncated tail are skipped (counted in
//!    [`SegmentInfo::skipped_bytes`]), lost sync in the middle is regained the same way.
//! 2. **Continuity counters** (§2.4.3.3) are rewritten per *output* PID: +1 mod 16 on every
//!    packet with payload, repeated on adaptation-field-only packets; the first packet of a
//!    PID keeps its counter ([`crate::ts::ContinuityFixer`]). A packet that repeats the
//!    previous packet of its PID byte for byte (a legal duplicate, §2.4.3.3) is dropped so
//!    that renumbering does not turn it into new data. **Null packets (PID 0x1FFF) are
//!    dropped**: they only pad constant-bitrate links and a file does not need them.
//! 3. **Timestamps.** One program-wide offset (90 kHz ticks) is added, modulo 2^33, to every
//!    PES PTS and DTS (§2.4.3.7) of every PID and to every PCR and OPCR (§2.4.3.5; base + the
//!    offset, extension kept). The offset is 0 for the first segment and changes only at a
//!    discontinuity, so continuous runs are never shifted:
//!    - the *reference* stream of a segment is its first video stream (by PMT stream_type,
//!      else by PES stream_id 0xE0-0xEF), else its first audio stream, else the PCR;
//!    - *expected* = the previous segment's last reference DTS (output clock) + one frame
//!      duration (median DTS step of the previous segment's reference stream, 40 ms if it
//!      had a single frame);
//!    - *diff* = (first reference DTS of this segment + current offset) - expected, both
//!      33-bit values compared after unwrapping (a difference beyond ±2^32 is taken
//!      modulo 2^33 the other way), so a 33-bit rollover inside a continuous run is not a
//!      jump;
//!    - a discontinuity is the caller's flag (EXT-X-DISCONTINUITY, RFC 8216 §4.3.2.3) with
//!      |diff| > half a frame, or, without the flag, |diff| > [`JUMP_THRESHOLD_90K`] (1 s).
//!      Then the offset becomes `expected - first reference DTS` (the segment's first frame
//!      lands one frame after the previous segment's last one). The same offset is used for
//!      audio, video, data and PCR, so A/V sync inside a segment is kept exactly; per-PID
//!      offsets would drift. A segment lost by the recorder (gap > 1 s) is closed up too.
//!      In a segment that got a new offset, a PCR that would fall up to 1 s behind the last
//!      PCR written on its PID is written as that last value instead (the previous segment's
//!      audio often runs a frame past the next segment's first video DTS), so the program
//!      clock never runs backwards; continuous runs are not touched.
//!    - **Audio overlap at a join.** Independently encoded segments carry audio beyond their
//!      video (AAC priming before, padding after), so after the shift the new segment's
//!      first audio frames would overlap the previous segment's last ones: players that
//!      play samples back to back drift by the overlap at every join, FFmpeg reports
//!      non-monotonic DTS. In a segment that got a new offset, leading ADTS frames
//!      (stream_type 0x0f, ISO/IEC 13818-7) starting more than half a frame before the end
//!      of the previous segment's audio on the same output PID are removed: whole PES are
//!      dropped, a partly overlapping PES is rebuilt without those frames (PTS advanced by
//!      their duration, PES_packet_length recomputed, re-packetized with adaptation-field
//!      stuffing; the PCR of a removed packet is kept in an adaptation-only packet).
//! 4. **PAT/PMT** (§2.4.4.3, §2.4.4.8). The output keeps the first segment's PAT, PMT PID
//!    and elementary PIDs. A later segment whose PMT lists the same stream types (matched in
//!    order per stream_type) on other PIDs is remapped: PID fields are rewritten and its
//!    PAT/PMT packets are replaced by the output's sections. If the stream types differ, a
//!    new PMT is built from the segment's (streams keep the output PID of the same type, new
//!    ones their own PID or a free one), version_number bumped mod 32, CRC_32 recomputed
//!    (Annex A), and written at the start of the segment; [`SegmentInfo::codec_change`] is
//!    set. PAT/PMT packets identical to the output's are copied as they are. Packets of PIDs
//!    the segment's PMT does not list are copied unless they collide with an output PID.
//! 5. **Format changes.** The first SPS (ITU-T H.264 §7.3.2.1.1) of each segment's H.264
//!    stream gives [`SegmentInfo::video_size`]; a different size than the previous known one,
//!    or different PMT stream types, sets `codec_change`, so the recorder can start a new
//!    section file (call [`TsJoiner::finish`], then a new joiner).
//!
//! Limitations: one program (the PAT's first); one offset per segment (a timestamp jump
//! inside a segment is not repaired); a PES header split across TS packets keeps its
//! timestamps; the discontinuity_indicator of adaptation fields is copied unchanged;
//! sections other than PAT/PMT are copied as they are.
//!
//! [`check_ts`] is an independent checker (its own minimal parser) that reports continuity
//! errors per PID and timestamp jumps on the video PID; tests and the recorder use it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;

use crate::codec::aac::AdtsHeader;
use crate::codec::h264::{self, Sps};
use crate::time::Ticks90k;
use crate::ts::{
    crc32_mpeg2, encode_pts, long_section, packet_header, packet_pid, parse_pts, payload_offset, pcr_field_base,
    set_pcr_field_base, wrap_add, wrap_diff, ContinuityFixer, Pat, Pmt, PmtStream, TsPacket, PID_NULL, PTS_WRAP,
    SYNC_BYTE, TS_PACKET_SIZE as PKT,
};
use crate::Result;

/// Jump (90 kHz ticks) beyond which a segment without the discontinuity flag is taken to
/// restart its timestamps: 1 s.
pub const JUMP_THRESHOLD_90K: i64 = 90_000;
/// Frame duration assumed when a stream showed fewer than two timestamps (25 fps).
const DEFAULT_FRAME_90K: i64 = 3_600;
/// PES payload bytes searched for an SPS.
const SPS_SCAN_BYTES: usize = 8 * 1024;
/// Largest PSI section (§2.4.4.10: section_length <= 1021 for PAT/PMT).
const MAX_SECTION: usize = 1024;

/// An offset as a signed value in (-2^32, 2^32].
fn norm_offset(off: i64) -> i64 {
    wrap_diff(off.rem_euclid(PTS_WRAP) as u64, 0)
}

fn is_video_type(t: u8) -> bool {
    matches!(t, 0x01 | 0x02 | 0x10 | 0x1b | 0x20 | 0x24 | 0x33 | 0x42 | 0xd1 | 0xea)
}

fn is_audio_type(t: u8) -> bool {
    matches!(t, 0x03 | 0x04 | 0x0f | 0x11 | 0x1c | 0x81 | 0x82 | 0x83 | 0x84 | 0x85 | 0x87 | 0x8a)
}

/// What [`TsJoiner::push_segment`] did with one segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentInfo {
    /// TS packets written for this segment (including injected PAT/PMT).
    pub packets: usize,
    /// Earliest / latest PTS of the reference stream (video, else audio, else PCR base), on
    /// the output clock (33-bit, after the offset).
    pub first_pts: Option<u64>,
    /// Latest PTS of the reference stream, on the output clock (33-bit).
    pub last_pts: Option<u64>,
    /// last - first PTS (unwrapped) + one frame duration (0 if no PTS).
    pub duration_90k: Ticks90k,
    /// Picture size from the segment's first H.264 SPS, if it has one.
    pub video_size: Option<(u32, u32)>,
    /// The stream types (PMT) or the video size differ from the previous segment's: the
    /// caller should start a new section file.
    pub codec_change: bool,
    /// Offset (in (-2^32, 2^32] ticks) added mod 2^33 to every PTS/DTS/PCR.
    pub offset_applied: Ticks90k,
    /// The timestamps did not continue the previous segment's and a new offset was computed.
    pub discontinuity_detected: bool,
    /// Bytes skipped while looking for packet sync (garbage, partial packets, truncated tail).
    pub skipped_bytes: usize,
}

/// The program of one input segment.
#[derive(Clone, Debug)]
struct InProgram {
    pmt_pid: u16,
    pmt: Pmt,
    pat_section: Vec<u8>,
    pmt_section: Vec<u8>,
}

/// The program written to the output.
#[derive(Clone, Debug)]
struct OutProgram {
    program_number: u16,
    pmt_pid: u16,
    pcr_pid: u16,
    /// (stream_type, PID) in PMT order.
    streams: Vec<(u8, u16)>,
    version: u8,
    pat_section: Vec<u8>,
    pmt_section: Vec<u8>,
}

/// Reference timing carried from one segment to the next (output clock).
#[derive(Clone, Copy, Debug)]
struct RefTiming {
    last_dts: u64,
    frame: i64,
}

/// Timing of a segment's reference stream, input clock.
#[derive(Debug, Default)]
struct ScanTiming {
    first_dts: Option<u64>,
    last_dts: u64,
    first_pts: u64,
    min_rel: i64,
    max_rel: i64,
    deltas: Vec<i64>,
}

impl ScanTiming {
    fn add(&mut self, pts: u64, dts: u64) {
        match self.first_dts {
            None => {
                self.first_dts = Some(dts);
                self.first_pts = pts;
            }
            Some(_) => {
                let d = wrap_diff(dts, self.last_dts);
                if d > 0 && d <= JUMP_THRESHOLD_90K {
                    self.deltas.push(d);
                }
                let r = wrap_diff(pts, self.first_pts);
                self.min_rel = self.min_rel.min(r);
                self.max_rel = self.max_rel.max(r);
            }
        }
        self.last_dts = dts;
    }
    fn frame(&self) -> Option<i64> {
        if self.deltas.is_empty() {
            return None;
        }
        let mut d = self.deltas.clone();
        d.sort_unstable();
        Some(d[d.len() / 2])
    }
}

/// Joins HLS MPEG-TS segments into one continuous transport stream; see the module docs.
pub struct TsJoiner<W: Write> {
    out: W,
    cc: ContinuityFixer,
    offset: i64,
    prev: Option<RefTiming>,
    last_frame: i64,
    out_prog: Option<OutProgram>,
    /// The previous segment's input program, used for a segment without PAT/PMT.
    in_prog: Option<InProgram>,
    last_size: Option<(u32, u32)>,
    /// Last PCR field written per output PID.
    last_pcr: HashMap<u16, [u8; 6]>,
    /// End (output clock) of the last ADTS audio PES per output PID.
    audio_end: HashMap<u16, u64>,
    segments: usize,
    buf: Vec<u8>,
}

/// Offsets of the 188-byte packets of `data`, and the bytes skipped.
fn sync_packets(data: &[u8]) -> (Vec<usize>, usize) {
    let mut pkts = Vec::with_capacity(data.len() / PKT);
    let mut pos = 0usize;
    let mut locked = false;
    let mut skipped = 0usize;
    while pos + PKT <= data.len() {
        let ok =
            data[pos] == SYNC_BYTE && (locked || pos + PKT == data.len() || data.get(pos + PKT) == Some(&SYNC_BYTE));
        if ok {
            pkts.push(pos);
            pos += PKT;
            locked = true;
        } else {
            locked = false;
            pos += 1;
            skipped += 1;
        }
    }
    skipped += data.len() - pos.min(data.len());
    (pkts, skipped)
}

enum Sec {
    Incomplete,
    Bad,
    Done(Vec<u8>),
}

fn section_state(buf: &[u8], table_id: u8) -> Sec {
    match buf.first() {
        None => return Sec::Incomplete,
        Some(&t) if t != table_id => return Sec::Bad,
        _ => {}
    }
    if buf.len() < 3 {
        return Sec::Incomplete;
    }
    let len = 3 + ((((buf[1] & 0x0f) as usize) << 8) | buf[2] as usize);
    if !(12..=MAX_SECTION).contains(&len) {
        return Sec::Bad;
    }
    if buf.len() < len {
        return Sec::Incomplete;
    }
    let s = &buf[..len];
    if crc32_mpeg2(s) != 0 {
        return Sec::Bad;
    }
    Sec::Done(s.to_vec())
}

/// The first complete section with `table_id` (CRC checked) on `pid`.
fn find_section(data: &[u8], pkts: &[usize], pid: u16, table_id: u8) -> Option<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::new();
    let mut active = false;
    for &o in pkts {
        let p = &data[o..o + PKT];
        if packet_pid(p) != pid || p[1] & 0x80 != 0 {
            continue;
        }
        let Some(ps) = payload_offset(p) else { continue };
        let pl = &p[ps..];
        if p[1] & 0x40 != 0 {
            let Some(&ptr) = pl.first() else { continue };
            let ptr = ptr as usize;
            if active {
                buf.extend_from_slice(pl.get(1..1 + ptr).unwrap_or(&pl[1..]));
                if let Sec::Done(s) = section_state(&buf, table_id) {
                    return Some(s);
                }
            }
            buf.clear();
            buf.extend_from_slice(pl.get(1 + ptr..).unwrap_or(&[]));
            active = true;
        } else if active {
            buf.extend_from_slice(pl);
        } else {
            continue;
        }
        match section_state(&buf, table_id) {
            Sec::Done(s) => return Some(s),
            Sec::Bad => {
                active = false;
                buf.clear();
            }
            Sec::Incomplete => {}
        }
    }
    None
}

fn build_pat(ts_id: u16, program_number: u16, pmt_pid: u16) -> Vec<u8> {
    let mut body = program_number.to_be_bytes().to_vec();
    body.extend_from_slice(&(0xe000 | pmt_pid).to_be_bytes());
    long_section(0x00, ts_id, 0, &body)
}

fn build_pmt(
    program_number: u16,
    version: u8,
    pcr_pid: u16,
    prog_desc: &[u8],
    streams: &[(u8, u16, &[u8])],
) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(0xe000 | pcr_pid).to_be_bytes());
    let pd = &prog_desc[..prog_desc.len().min(0x3ff)];
    body.extend_from_slice(&(0xf000 | pd.len() as u16).to_be_bytes());
    body.extend_from_slice(pd);
    for (t, pid, d) in streams {
        let d = &d[..d.len().min(0x3ff)];
        body.push(*t);
        body.extend_from_slice(&(0xe000 | pid).to_be_bytes());
        body.extend_from_slice(&(0xf000 | d.len() as u16).to_be_bytes());
        body.extend_from_slice(d);
    }
    long_section(0x02, program_number, version, &body)
}

/// TS packets (CC 0, fixed later) carrying `section` on `pid`.
fn psi_packets(pid: u16, section: &[u8]) -> Vec<[u8; PKT]> {
    let mut data = vec![0u8];
    data.extend_from_slice(section);
    data.chunks(PKT - 4)
        .enumerate()
        .map(|(i, c)| {
            let mut p = [0xffu8; PKT];
            p[..4].copy_from_slice(&packet_header(i == 0, pid, 1, 0));
            p[4..4 + c.len()].copy_from_slice(c);
            p
        })
        .collect()
}

/// Rewrite one PCR/OPCR field (6 bytes) by `off` 90 kHz ticks.
fn shift_clock(f: &mut [u8], off: i64) {
    let base = pcr_field_base(f);
    set_pcr_field_base(f, wrap_add(base, off));
}

/// Offset in the packet of the 6-byte PCR field, if the adaptation field has one.
fn pcr_pos(p: &[u8]) -> Option<usize> {
    let len = p[4] as usize;
    (p[3] & 0x20 != 0 && len >= 7 && 5 + len <= PKT && p[5] & 0x10 != 0).then_some(6)
}

/// Shift the PCR and OPCR of a packet's adaptation field.
fn shift_pcr(p: &mut [u8; PKT], off: i64) {
    if p[3] & 0x20 == 0 {
        return;
    }
    let len = p[4] as usize;
    if len < 1 || 5 + len > PKT {
        return;
    }
    let flags = p[5];
    let mut pos = 6;
    if flags & 0x10 != 0 {
        if pos + 6 > 5 + len {
            return;
        }
        shift_clock(&mut p[pos..pos + 6], off);
        pos += 6;
    }
    if flags & 0x08 != 0 && pos + 6 <= 5 + len {
        shift_clock(&mut p[pos..pos + 6], off);
    }
}

/// The PES header of a packet's payload, if complete in the packet: (payload start, number
/// of timestamps (1 = PTS, 2 = PTS+DTS)).
fn pes_ts_fields(p: &[u8]) -> Option<(usize, usize)> {
    if p[1] & 0x40 == 0 || p[3] & 0xc0 != 0 {
        return None;
    }
    let s = payload_offset(p)?;
    let h = p.get(s..)?;
    if h.len() < 9 || h[..3] != [0, 0, 1] {
        return None;
    }
    if matches!(h[3], 0xbc | 0xbe | 0xbf | 0xf0 | 0xf1 | 0xff | 0xf2 | 0xf8) || h[3] < 0xbc {
        return None;
    }
    if h[6] & 0xc0 != 0x80 {
        return None;
    }
    let n = match h[7] >> 6 {
        2 => 1,
        3 => 2,
        _ => return None,
    };
    if (h[8] as usize) < 5 * n || h.len() < 9 + 5 * n {
        return None;
    }
    Some((s, n))
}

/// (PTS, DTS) of the PES starting in this packet (DTS = PTS when absent).
fn pes_timestamps(p: &[u8]) -> Option<(u64, u64)> {
    let (s, n) = pes_ts_fields(p)?;
    let pts = parse_pts(&p[s + 9..])?;
    let dts = if n == 2 { parse_pts(&p[s + 14..])? } else { pts };
    Some((pts, dts))
}

fn shift_pes(p: &mut [u8; PKT], off: i64) {
    let Some((s, n)) = pes_ts_fields(p) else {
        return;
    };
    for k in 0..n {
        let f = &mut p[s + 9 + 5 * k..s + 14 + 5 * k];
        if let Some(v) = parse_pts(f) {
            let prefix = f[0] >> 4;
            f.copy_from_slice(&encode_pts(prefix, wrap_add(v, off)));
        }
    }
}

/// The 27 MHz PCR base (90 kHz) of a packet, if any.
fn pcr_base(p: &[u8]) -> Option<u64> {
    TsPacket::parse(p)?.pcr().map(|v| (v / 300) & (PTS_WRAP as u64 - 1))
}

/// Look for an SPS in the first bytes of each PES of `pid`; returns the picture size.
fn scan_sps(data: &[u8], pkts: &[usize], pid: u16) -> Option<(u32, u32)> {
    let mut buf: Vec<u8> = Vec::new();
    let mut active = false;
    let check = |b: &[u8]| {
        h264::annexb_nals(b)
            .filter(|n| h264::nal_type(n) == h264::NAL_SPS)
            .find_map(|n| Sps::parse(n).ok())
            .map(|s| (s.width, s.height))
    };
    for &o in pkts {
        let p = &data[o..o + PKT];
        if packet_pid(p) != pid || p[3] & 0xc0 != 0 {
            continue;
        }
        let Some(s) = payload_offset(p) else { continue };
        if p[1] & 0x40 != 0 {
            if active {
                if let Some(sz) = check(&buf) {
                    return Some(sz);
                }
            }
            buf.clear();
            let pl = &p[s..];
            // Skip the PES header.
            if pl.len() >= 9 && pl[..3] == [0, 0, 1] {
                let hl = 9 + pl[8] as usize;
                buf.extend_from_slice(pl.get(hl..).unwrap_or(&[]));
                active = true;
            } else {
                active = false;
            }
        } else if active && buf.len() < SPS_SCAN_BYTES {
            buf.extend_from_slice(&p[s..]);
        }
    }
    if active {
        check(&buf)
    } else {
        None
    }
}

/// (offset in the PES payload, samples before it) per ADTS frame, total samples, rate.
type AdtsFrames = (Vec<(usize, u64)>, u64, u32);

/// One audio PES of a segment (ADTS audio), for trimming overlaps at joins.
struct AudioPes {
    /// Indices into the segment's packet list: the first (PUSI) packet, then the others.
    pkts: Vec<usize>,
    /// PES header bytes (through PES_header_data) and payload.
    header: Vec<u8>,
    payload: Vec<u8>,
    pts: Option<u64>,
    /// (offset in payload, samples before this frame) of each ADTS frame, the total number
    /// of samples and the sampling rate; `None` when the payload is not whole ADTS frames.
    frames: Option<AdtsFrames>,
}

impl AudioPes {
    fn finish(&mut self) {
        let mut frames = Vec::new();
        let (mut pos, mut samples, mut rate) = (0usize, 0u64, 0u32);
        while pos < self.payload.len() {
            let Ok(h) = AdtsHeader::parse(&self.payload[pos..]) else {
                return;
            };
            if pos + h.frame_len > self.payload.len() || (rate != 0 && rate != h.config.sample_rate) {
                return;
            }
            rate = h.config.sample_rate;
            frames.push((pos, samples));
            samples += 1024 * h.blocks as u64;
            pos += h.frame_len;
        }
        if rate > 0 {
            self.frames = Some((frames, samples, rate));
        }
    }
}

/// 90 kHz ticks of `samples` at `rate`.
fn samples_90k(samples: u64, rate: u32) -> i64 {
    ((samples as u128 * 90_000 + rate as u128 / 2) / rate.max(1) as u128) as i64
}

/// Collect the PES packets of `pid`.
fn collect_audio(data: &[u8], pkts: &[usize], pid: u16) -> Vec<AudioPes> {
    let mut v: Vec<AudioPes> = Vec::new();
    let mut cur: Option<AudioPes> = None;
    for (i, &o) in pkts.iter().enumerate() {
        let p = &data[o..o + PKT];
        if packet_pid(p) != pid || p[3] & 0xc0 != 0 {
            continue;
        }
        let Some(s) = payload_offset(p) else { continue };
        if p[1] & 0x40 != 0 {
            if let Some(mut a) = cur.take() {
                a.finish();
                v.push(a);
            }
            let pl = &p[s..];
            if pes_ts_fields(p).is_some() && pl.len() >= 9 + pl[8] as usize {
                let hl = 9 + pl[8] as usize;
                cur = Some(AudioPes {
                    pkts: vec![i],
                    header: pl[..hl].to_vec(),
                    payload: pl[hl..].to_vec(),
                    pts: pes_timestamps(p).map(|t| t.0),
                    frames: None,
                });
            }
        } else if let Some(a) = cur.as_mut() {
            a.pkts.push(i);
            a.payload.extend_from_slice(&p[s..]);
        }
    }
    if let Some(mut a) = cur {
        a.finish();
        v.push(a);
    }
    v
}

/// The adaptation field content worth keeping from a packet (flags with
/// discontinuity/random access/priority, PCR, OPCR), without stuffing.
fn af_keep(p: &[u8]) -> Vec<u8> {
    if p[3] & 0x20 == 0 || p[4] == 0 {
        return Vec::new();
    }
    let len = (p[4] as usize).min(PKT - 5);
    let af = &p[5..5 + len];
    let mut flags = af[0] & 0xf8;
    let mut body = vec![0u8];
    let mut pos = 1;
    for bit in [0x10u8, 0x08] {
        if af[0] & bit != 0 {
            if let Some(f) = af.get(pos..pos + 6) {
                body.extend_from_slice(f);
                pos += 6;
                continue;
            }
        }
        flags &= !bit;
    }
    body[0] = flags;
    body
}

/// Packetize one PES (`data`) on `pid`; the first packet carries `af` (adaptation field
/// body without stuffing, may be empty); the last is filled with adaptation-field stuffing.
fn pes_packets(pid: u16, af: &[u8], data: &[u8]) -> Vec<[u8; PKT]> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    loop {
        let af_body: &[u8] = if out.is_empty() { af } else { &[] };
        let cap = 184 - if af_body.is_empty() { 0 } else { 1 + af_body.len() };
        let n = (data.len() - pos).min(cap);
        let mut p = [0xffu8; PKT];
        p[..4].copy_from_slice(&packet_header(out.is_empty(), pid, if n < 184 { 3 } else { 1 }, 0));
        let start = if n < 184 {
            let af_total = 184 - n; // length byte + field
            p[4] = (af_total - 1) as u8;
            if af_total >= 2 {
                if af_body.is_empty() {
                    p[5] = 0;
                } else {
                    p[5..5 + af_body.len()].copy_from_slice(af_body);
                }
            }
            4 + af_total
        } else {
            4
        };
        p[start..start + n].copy_from_slice(&data[pos..pos + n]);
        out.push(p);
        pos += n;
        if pos >= data.len() {
            return out;
        }
    }
}

/// An adaptation-field-only packet carrying the PCR of `p`.
fn pcr_only_packet(p: &[u8; PKT]) -> Option<[u8; PKT]> {
    let at = pcr_pos(p)?;
    let mut q = [0xffu8; PKT];
    q[..3].copy_from_slice(&p[..3]);
    q[1] &= 0x1f;
    q[3] = 0x20 | (p[3] & 0x0f);
    q[4] = 183;
    q[5] = p[5] & 0x90;
    q[6..12].copy_from_slice(&p[at..at + 6]);
    Some(q)
}

/// One input segment: its bytes and the offsets of its packets.
struct Segment<'a> {
    data: &'a [u8],
    pkts: &'a [usize],
}

/// How a segment's program maps onto the output program.
struct Mapping {
    /// Input PID -> output PID (PIDs not listed keep theirs).
    pid_map: HashMap<u16, u16>,
    /// The segment's PAT/PMT packets are copied as they are (else replaced by the output's).
    psi_passthrough: bool,
    /// The output's PAT/PMT are written before the segment.
    inject_psi: bool,
}

/// Audio removed at a join: by index in the segment's packet list.
#[derive(Default)]
struct Trim {
    /// The first packet of a partly overlapping PES -> the PES rebuilt without the overlap.
    first: HashMap<usize, Vec<u8>>,
    /// Packets of removed audio (their PCR is kept in an adaptation-only packet).
    drop: HashSet<usize>,
}

/// A free PID for a stream that wants `want`: `want` itself when free and in range, else
/// the first free one from 0x100.
fn alloc_pid(want: u16, taken: &mut Vec<u16>) -> u16 {
    if (0x20..PID_NULL).contains(&want) && !taken.contains(&want) {
        taken.push(want);
        return want;
    }
    let mut c = 0x100u16;
    while taken.contains(&c) && c < 0x1ffe {
        c += 1;
    }
    taken.push(c);
    c
}

/// A new PMT on the output program for the input program `inp`: streams keep the output
/// PID of the same type (`mapped`), new ones their own PID or a free one; version_number
/// bumped mod 32. Fills `pid_map`.
fn new_pmt(out: &mut OutProgram, inp: &InProgram, mapped: &[Option<u16>], pid_map: &mut HashMap<u16, u16>) {
    let mut taken: Vec<u16> = vec![0, 1, 2, PID_NULL, out.pmt_pid];
    taken.extend(mapped.iter().flatten().copied());
    let mut streams: Vec<(u8, u16, &[u8])> = Vec::new();
    for (s, m) in inp.pmt.streams.iter().zip(mapped) {
        let pid = match m {
            Some(m) => *m,
            None => alloc_pid(s.pid, &mut taken),
        };
        pid_map.insert(s.pid, pid);
        streams.push((s.stream_type, pid, &s.descriptors));
    }
    let pcr_pid = match pid_map.get(&inp.pmt.pcr_pid) {
        Some(&p) => p,
        None if inp.pmt.pcr_pid == PID_NULL => PID_NULL,
        None => {
            let p = alloc_pid(inp.pmt.pcr_pid, &mut taken);
            pid_map.insert(inp.pmt.pcr_pid, p);
            p
        }
    };
    out.version = (out.version + 1) & 0x1f;
    out.pcr_pid = pcr_pid;
    out.streams = streams.iter().map(|s| (s.0, s.1)).collect();
    out.pmt_section = build_pmt(out.program_number, out.version, pcr_pid, &inp.pmt.descriptors, &streams);
}

/// The leading ADTS frames of `pes` (shifted by `offset`) that start more than half a frame
/// before `end`, the end of the previous segment's audio on the same output PID: whole PES
/// are dropped, the first partly overlapping one is rebuilt without them.
fn trim_overlap(pes: &[AudioPes], end: u64, offset: i64, trim: &mut Trim) {
    for a in pes {
        let (Some(pts), Some((frames, _, rate))) = (a.pts, a.frames.as_ref()) else {
            return;
        };
        let start = wrap_add(pts, offset);
        let half = samples_90k(512, *rate);
        let d = frames
            .iter()
            .take_while(|f| {
                let over = wrap_diff(end, wrap_add(start, samples_90k(f.1, *rate)));
                over > half && over <= JUMP_THRESHOLD_90K
            })
            .count();
        if d == 0 {
            return;
        }
        if d == frames.len() {
            trim.drop.extend(a.pkts.iter().copied());
            continue;
        }
        trim.drop.extend(a.pkts.iter().skip(1).copied());
        trim.first.insert(a.pkts[0], rebuilt_pes(a, frames[d], start, *rate));
        return;
    }
}

/// `a` without the frames before `from` (offset in the payload, samples before it): PTS
/// (and DTS) advanced by their duration from `start`, PES_packet_length recomputed.
fn rebuilt_pes(a: &AudioPes, from: (usize, u64), start: u64, rate: u32) -> Vec<u8> {
    let mut h = a.header.clone();
    let new_pts = wrap_add(start, samples_90k(from.1, rate));
    let prefix = h[9] >> 4;
    h[9..14].copy_from_slice(&encode_pts(prefix, new_pts));
    if h[7] >> 6 == 3 {
        h[14..19].copy_from_slice(&encode_pts(1, new_pts));
    }
    let body = &a.payload[from.0..];
    let len = h.len() - 6 + body.len();
    let plen = if h[4] == 0 && h[5] == 0 || len > 0xffff { 0 } else { len as u16 };
    h[4..6].copy_from_slice(&plen.to_be_bytes());
    h.extend_from_slice(body);
    h
}

impl<W: Write> TsJoiner<W> {
    /// A joiner writing the joined stream to `out`.
    pub fn new(out: W) -> Self {
        TsJoiner {
            out,
            cc: ContinuityFixer::new(),
            offset: 0,
            prev: None,
            last_frame: DEFAULT_FRAME_90K,
            out_prog: None,
            in_prog: None,
            last_size: None,
            last_pcr: HashMap::new(),
            audio_end: HashMap::new(),
            segments: 0,
            buf: Vec::new(),
        }
    }

    /// Segments pushed so far.
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// The offset currently applied (mod 2^33, in (-2^32, 2^32] ticks).
    pub fn offset(&self) -> Ticks90k {
        Ticks90k(norm_offset(self.offset))
    }

    /// Append one whole segment. `discontinuity`: the playlist marked it with
    /// EXT-X-DISCONTINUITY. Damaged input never fails; only write errors are returned.
    ///
    /// The steps of the module docs, in order: sync, the segment's program, its mapping
    /// onto the output program, the reference timing and format checks, the offset, the
    /// audio overlap at a join, and the rewrite of every packet.
    pub fn push_segment(&mut self, data: &[u8], discontinuity: bool) -> Result<SegmentInfo> {
        let mut info = SegmentInfo::default();
        let (pkts, skipped) = sync_packets(data);
        info.skipped_bytes = skipped;
        self.segments += 1;
        let seg = Segment { data, pkts: &pkts };
        self.read_program(&seg);
        let mapping = self.map_program(&seg, &mut info);
        let (ref_pid, video_pid) = self.reference_pids(data, &pkts);
        let timing = self.reference_timing(&seg, ref_pid);
        self.check_format(&seg, video_pid, &mut info);
        let audio_ref = self.audio_reference(&seg, ref_pid, video_pid);
        self.apply_offset(&timing, audio_ref, discontinuity, &mut info);
        let trim = self.trim_audio(&seg, &mapping.pid_map, &info);
        self.buf.clear();
        info.packets = self.rewrite(&seg, &mapping, &trim, &info);
        self.out.write_all(&self.buf)?;
        Ok(info)
    }

    /// Step 4a: the segment's PAT and PMT become the input program (kept from the previous
    /// segment when this one has none).
    fn read_program(&mut self, seg: &Segment) {
        let (data, pkts) = (seg.data, seg.pkts);
        let pat_sec = find_section(data, pkts, 0, 0x00);
        let pat = pat_sec.as_deref().and_then(|s| Pat::parse(s).ok());
        let pmt_pid = pat.as_ref().and_then(|p| p.first_pmt_pid()).or(self.in_prog.as_ref().map(|p| p.pmt_pid));
        let Some(pmt_pid) = pmt_pid else { return };
        let Some(sec) = find_section(data, pkts, pmt_pid, 0x02) else { return };
        let Ok(pmt) = Pmt::parse(&sec) else { return };
        let pat_section = match (&pat_sec, &pat) {
            (Some(s), Some(_)) => s.clone(),
            _ => self
                .in_prog
                .as_ref()
                .map(|p| p.pat_section.clone())
                .unwrap_or_else(|| build_pat(1, pmt.program_number, pmt_pid)),
        };
        self.in_prog = Some(InProgram { pmt_pid, pmt, pat_section, pmt_section: sec });
    }

    /// Step 4b: how the input program maps onto the output program (the first segment's
    /// program becomes the output's; later ones are remapped, or get a new PMT).
    fn map_program(&mut self, seg: &Segment, info: &mut SegmentInfo) -> Mapping {
        let mut m = Mapping { pid_map: HashMap::new(), psi_passthrough: true, inject_psi: false };
        let Some(inp) = self.in_prog.clone() else { return m };
        if self.out_prog.is_none() {
            self.out_prog = Some(OutProgram {
                program_number: inp.pmt.program_number,
                pmt_pid: inp.pmt_pid,
                pcr_pid: inp.pmt.pcr_pid,
                streams: inp.pmt.streams.iter().map(|s| (s.stream_type, s.pid)).collect(),
                version: inp.pmt.version,
                pat_section: inp.pat_section.clone(),
                pmt_section: inp.pmt_section.clone(),
            });
            let starts_with_pat = seg.pkts.first().is_some_and(|&o| packet_pid(&seg.data[o..o + PKT]) == 0);
            m.inject_psi = !starts_with_pat;
            return m;
        }
        let Some(out) = self.out_prog.as_mut() else { return m };
        // Streams matched in order per stream_type.
        let mut used = vec![false; out.streams.len()];
        let mut mapped: Vec<Option<u16>> = Vec::new();
        for s in &inp.pmt.streams {
            let j = (0..out.streams.len()).find(|&j| !used[j] && out.streams[j].0 == s.stream_type);
            if let Some(j) = j {
                used[j] = true;
            }
            mapped.push(j.map(|j| out.streams[j].1));
        }
        let same_types = mapped.iter().all(|m| m.is_some()) && used.iter().all(|&u| u);
        let es_of = |pid: u16| inp.pmt.streams.iter().position(|s| s.pid == pid);
        let out_pcr_is_es = out.streams.iter().any(|s| s.1 == out.pcr_pid);
        let pcr_consistent = match es_of(inp.pmt.pcr_pid) {
            Some(i) => mapped[i] == Some(out.pcr_pid),
            // A PCR PID of its own maps onto the output's, unless that is 0x1FFF
            // ("no PCR"): its packets would become null packets. New PMT then.
            None => !out_pcr_is_es && (out.pcr_pid != PID_NULL || inp.pmt.pcr_pid == PID_NULL),
        };
        if same_types && pcr_consistent {
            for (s, mp) in inp.pmt.streams.iter().zip(&mapped) {
                if let Some(mp) = mp {
                    m.pid_map.insert(s.pid, *mp);
                }
            }
            if es_of(inp.pmt.pcr_pid).is_none() {
                m.pid_map.insert(inp.pmt.pcr_pid, out.pcr_pid);
            }
            m.psi_passthrough =
                inp.pmt_pid == out.pmt_pid && inp.pat_section == out.pat_section && inp.pmt_section == out.pmt_section;
        } else {
            // New set of streams: new PMT, version bumped.
            info.codec_change |= !same_types;
            new_pmt(out, &inp, &mapped, &mut m.pid_map);
            m.psi_passthrough = false;
            m.inject_psi = true;
        }
        m
    }

    /// Step 3a: the timing of the segment's reference stream (input clock); the PCR when
    /// the reference stream has no timestamps.
    fn reference_timing(&self, seg: &Segment, ref_pid: Option<u16>) -> ScanTiming {
        let mut timing = ScanTiming::default();
        let mut pcr_timing = ScanTiming::default();
        let pcr_pid = self.in_prog.as_ref().map(|p| p.pmt.pcr_pid);
        for &o in seg.pkts {
            let p = &seg.data[o..o + PKT];
            let pid = packet_pid(p);
            if Some(pid) == ref_pid {
                if let Some((pts, dts)) = pes_timestamps(p) {
                    timing.add(pts, dts);
                }
            }
            if pcr_pid.is_none_or(|x| x == pid) {
                if let Some(b) = pcr_base(p) {
                    pcr_timing.add(b, b);
                }
            }
        }
        if timing.first_dts.is_none() {
            pcr_timing
        } else {
            timing
        }
    }

    /// Step 5: the picture size of the segment's H.264 stream; a new size is a codec change.
    fn check_format(&mut self, seg: &Segment, video_pid: Option<u16>, info: &mut SegmentInfo) {
        if let Some(vp) = video_pid {
            let h264 = self
                .in_prog
                .as_ref()
                .map(|p| p.pmt.streams.iter().any(|s| s.pid == vp && s.stream_type == 0x1b))
                .unwrap_or(true);
            if h264 {
                info.video_size = scan_sps(seg.data, seg.pkts, vp);
            }
        }
        if let Some(sz) = info.video_size {
            if self.last_size.is_some_and(|l| l != sz) {
                info.codec_change = true;
            }
            self.last_size = Some(sz);
        }
    }

    /// Step 3b: an audio reference (no video): its PES packets bundle several ADTS frames,
    /// so the median PES step is not a frame; the segment ends where its last frame's
    /// samples end. Returns (last frame's start, input clock; one AAC frame).
    fn audio_reference(&self, seg: &Segment, ref_pid: Option<u16>, video_pid: Option<u16>) -> Option<(u64, i64)> {
        let (Some(rp), None) = (ref_pid, video_pid) else { return None };
        self.in_prog.as_ref().filter(|p| p.pmt.streams.iter().any(|s| s.pid == rp && s.stream_type == 0x0f))?;
        let pes = collect_audio(seg.data, seg.pkts, rp);
        let a = pes.iter().rev().find(|a| a.pts.is_some() && a.frames.is_some())?;
        let (pts, (_, total, rate)) = (a.pts?, a.frames.as_ref()?);
        let frame = samples_90k(1024, *rate).max(1);
        Some((wrap_add(pts, samples_90k(*total, *rate) - frame), frame))
    }

    /// Step 3c: a new offset when the segment does not continue the previous one; the
    /// reference timing carried to the next segment; the segment's timing in `info`.
    fn apply_offset(
        &mut self,
        timing: &ScanTiming,
        audio_ref: Option<(u64, i64)>,
        discontinuity: bool,
        info: &mut SegmentInfo,
    ) {
        if let Some(first) = timing.first_dts {
            if let Some(prev) = self.prev {
                let expected = wrap_add(prev.last_dts, prev.frame);
                let diff = wrap_diff(wrap_add(first, self.offset), expected);
                let tol = if discontinuity { (prev.frame / 2).max(1) } else { JUMP_THRESHOLD_90K };
                if diff.abs() > tol {
                    self.offset = norm_offset(wrap_diff(expected, first));
                    info.discontinuity_detected = true;
                }
            }
            let (last, frame) = match audio_ref {
                Some((last, frame)) => (last, frame),
                None => (timing.last_dts, timing.frame().unwrap_or(self.last_frame)),
            };
            self.last_frame = frame;
            self.prev = Some(RefTiming { last_dts: wrap_add(last, self.offset), frame });
            info.first_pts = Some(wrap_add(timing.first_pts, self.offset + timing.min_rel));
            info.last_pts = Some(wrap_add(timing.first_pts, self.offset + timing.max_rel));
            info.duration_90k = Ticks90k(match audio_ref {
                Some(_) => wrap_diff(last, first) + frame,
                None => timing.max_rel - timing.min_rel + frame,
            });
        }
        info.offset_applied = Ticks90k(norm_offset(self.offset));
    }

    /// Step 3d: audio overlapping the previous segment's (independently encoded segments:
    /// priming and padding), trimmed by whole ADTS frames at a join; the end of each ADTS
    /// stream's audio remembered for the next join.
    fn trim_audio(&mut self, seg: &Segment, pid_map: &HashMap<u16, u16>, info: &SegmentInfo) -> Trim {
        let mut trim = Trim::default();
        let adts_pids: Vec<u16> = self
            .in_prog
            .as_ref()
            .map(|p| p.pmt.streams.iter().filter(|s| s.stream_type == 0x0f).map(|s| s.pid).collect())
            .unwrap_or_default();
        for &apid in &adts_pids {
            let out_pid = *pid_map.get(&apid).unwrap_or(&apid);
            let pes = collect_audio(seg.data, seg.pkts, apid);
            if info.discontinuity_detected {
                if let Some(&end) = self.audio_end.get(&out_pid) {
                    trim_overlap(&pes, end, self.offset, &mut trim);
                }
            }
            if let Some(a) = pes.iter().rev().find(|a| a.pts.is_some() && a.frames.is_some()) {
                if let (Some(pts), Some((_, total, rate))) = (a.pts, a.frames.as_ref()) {
                    let end = wrap_add(wrap_add(pts, self.offset), samples_90k(*total, *rate));
                    self.audio_end.insert(out_pid, end);
                }
            }
        }
        trim
    }

    /// Step 6: every packet rewritten into `self.buf` (PSI injected or replaced, PIDs
    /// remapped, timestamps shifted, PCR kept from going back, trimmed audio re-packetized,
    /// continuity counters fixed). Returns the packets written.
    fn rewrite(&mut self, seg: &Segment, m: &Mapping, trim: &Trim, info: &SegmentInfo) -> usize {
        let out = self.out_prog.clone();
        let mut reserved: Vec<u16> = Vec::new();
        if let Some(o) = &out {
            reserved.push(o.pmt_pid);
            reserved.push(o.pcr_pid);
            reserved.extend(o.streams.iter().map(|s| s.1));
        }
        let in_pmt_pid = self.in_prog.as_ref().map(|p| p.pmt_pid);
        let mut n = 0usize;
        if m.inject_psi {
            if let Some(o) = &out {
                for p in psi_packets(0, &o.pat_section).into_iter().chain(psi_packets(o.pmt_pid, &o.pmt_section)) {
                    self.emit(p, &mut n);
                }
            }
        }
        let mut last_in: HashMap<u16, usize> = HashMap::new();
        for (i, &o) in seg.pkts.iter().enumerate() {
            let src = &seg.data[o..o + PKT];
            let pid = packet_pid(src);
            if pid == PID_NULL {
                continue;
            }
            if src[3] & 0x10 != 0 {
                if last_in.get(&pid).is_some_and(|&prev| seg.data[prev..prev + PKT] == *src) {
                    continue; // duplicate packet
                }
                last_in.insert(pid, o);
            }
            let is_psi = pid == 0 || Some(pid) == in_pmt_pid;
            if is_psi && !m.psi_passthrough {
                if let Some(op) = &out {
                    if src[1] & 0x40 != 0 {
                        let pmt = (op.pmt_pid, &op.pmt_section);
                        let (ppid, sec) = if pid == 0 { (0, &op.pat_section) } else { pmt };
                        for p in psi_packets(ppid, sec) {
                            self.emit(p, &mut n);
                        }
                    }
                    continue;
                }
            }
            let out_pid = match m.pid_map.get(&pid) {
                Some(&mp) => mp,
                // A PID colliding with an output PID is dropped.
                None if !is_psi && reserved.contains(&pid) && !m.psi_passthrough => continue,
                None => pid,
            };
            let mut p = [0u8; PKT];
            p.copy_from_slice(src);
            self.rewrite_packet(&mut p, pid, out_pid, is_psi, info.discontinuity_detected);
            if let Some(pes) = trim.first.get(&i) {
                for q in pes_packets(out_pid, &af_keep(&p), pes) {
                    self.emit(q, &mut n);
                }
            } else if trim.drop.contains(&i) {
                if let Some(q) = pcr_only_packet(&p) {
                    self.emit(q, &mut n);
                }
            } else {
                self.emit(p, &mut n);
            }
        }
        n
    }

    /// One packet: its PID set to `out_pid`, PCR/OPCR and PES timestamps shifted by the
    /// offset, and a PCR that would go back at a join (`join`) replaced by the last one.
    fn rewrite_packet(&mut self, p: &mut [u8; PKT], pid: u16, out_pid: u16, is_psi: bool, join: bool) {
        if out_pid != pid {
            p[1] = (p[1] & 0xe0) | ((out_pid >> 8) as u8 & 0x1f);
            p[2] = out_pid as u8;
        }
        if self.offset != 0 {
            shift_pcr(p, self.offset);
            if !is_psi && pid >= 0x20 {
                shift_pes(p, self.offset);
            }
        }
        if let Some(at) = pcr_pos(p) {
            let base = pcr_field_base(&p[at..]);
            match self.last_pcr.get(&out_pid) {
                // At a join the previous segment may have run past the next one's first
                // frame (audio longer than video): keep the clock from going back.
                Some(last) if join && (-JUMP_THRESHOLD_90K..0).contains(&wrap_diff(base, pcr_field_base(last))) => {
                    p[at..at + 6].copy_from_slice(last);
                }
                _ => {
                    let mut f = [0u8; 6];
                    f.copy_from_slice(&p[at..at + 6]);
                    self.last_pcr.insert(out_pid, f);
                }
            }
        }
    }

    /// Write a packet with its continuity counter fixed.
    fn emit(&mut self, mut p: [u8; PKT], n: &mut usize) {
        self.cc.fix(&mut p);
        self.buf.extend_from_slice(&p);
        *n += 1;
    }

    /// (reference PID, video PID) of the current segment's program, falling back on PES
    /// stream_ids when there is no PMT.
    fn reference_pids(&self, data: &[u8], pkts: &[usize]) -> (Option<u16>, Option<u16>) {
        if let Some(p) = &self.in_prog {
            let v = p.pmt.streams.iter().find(|s| is_video_type(s.stream_type)).map(|s| s.pid);
            let a = p.pmt.streams.iter().find(|s| is_audio_type(s.stream_type)).map(|s: &PmtStream| s.pid);
            return (v.or(a), v);
        }
        let mut audio = None;
        for &o in pkts {
            let p = &data[o..o + PKT];
            if p[1] & 0x40 == 0 || p[3] & 0xc0 != 0 {
                continue;
            }
            let Some(s) = payload_offset(p) else { continue };
            let h = &p[s..];
            if h.len() >= 4 && h[..3] == [0, 0, 1] {
                match h[3] {
                    0xe0..=0xef => return (Some(packet_pid(p)), Some(packet_pid(p))),
                    0xc0..=0xdf if audio.is_none() => audio = Some(packet_pid(p)),
                    _ => {}
                }
            }
        }
        (audio, None)
    }

    /// Flush and return the writer.
    pub fn finish(mut self) -> Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

// ---------------------------------------------------------------------------------------
// Independent checker
// ---------------------------------------------------------------------------------------

/// What [`check_ts`] found in a transport stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TsCheck {
    /// 188-byte packets parsed.
    pub packets: usize,
    /// Bytes outside packets (garbage, lost sync, truncated tail).
    pub skipped_bytes: usize,
    /// Continuity errors (all PIDs but 0x1FFF): a counter that neither repeats (duplicate)
    /// nor advances by one on a payload packet, or changes on an adaptation-only packet,
    /// without discontinuity_indicator.
    pub cc_errors: usize,
    /// Continuity errors per PID.
    pub cc_errors_by_pid: BTreeMap<u16, usize>,
    /// Packets per PID.
    pub pids: BTreeMap<u16, usize>,
    /// From the first PMT: its PID and (stream_type, PID) entries.
    pub pmt_pid: Option<u16>,
    /// (stream_type, elementary_PID) of each entry of the first PMT.
    pub streams: Vec<(u8, u16)>,
    /// PMT version_numbers in the order they appear (consecutive repeats collapsed).
    pub pmt_versions: Vec<u8>,
    /// The video PID (first video stream_type of the PMT, else the first PES with stream_id
    /// 0xE0-0xEF).
    pub video_pid: Option<u16>,
    /// DTS (PTS when absent) of every video PES, unwrapped past 2^33, in file order.
    pub video_dts: Vec<Ticks90k>,
    /// PTS of every PES per PID, unwrapped, in file order.
    pub pes_pts: BTreeMap<u16, Vec<Ticks90k>>,
    /// Largest step between consecutive video DTS (negative steps count by magnitude).
    pub max_pts_gap: Ticks90k,
    /// Largest step between consecutive PCRs (their 90 kHz base) on one PID.
    pub max_pcr_gap_90k: Ticks90k,
    /// PCRs lower than the previous PCR on their PID.
    pub pcr_backwards: usize,
}

impl TsCheck {
    /// Video DTS steps that go backwards or exceed `threshold_90k`.
    pub fn pts_jumps_over(&self, threshold: Ticks90k) -> usize {
        self.video_dts.windows(2).filter(|w| w[1] - w[0] > threshold || w[1] < w[0]).count()
    }

    /// Median step between consecutive video DTS.
    pub fn video_frame_90k(&self) -> Option<Ticks90k> {
        let mut d: Vec<Ticks90k> =
            self.video_dts.windows(2).map(|w| w[1] - w[0]).filter(|&d| d > Ticks90k::ZERO).collect();
        if d.is_empty() {
            return None;
        }
        d.sort_unstable();
        Some(d[d.len() / 2])
    }

    /// Video presentation span: max PTS - min PTS + one frame.
    pub fn video_duration_90k(&self) -> Option<Ticks90k> {
        let v = self.pes_pts.get(&self.video_pid?)?;
        let (lo, hi) = (v.iter().min()?, v.iter().max()?);
        Some(*hi - *lo + self.video_frame_90k().unwrap_or_default())
    }
}

/// Parse a whole transport stream and report continuity errors and timestamp jumps (see
/// [`TsCheck`]). Independent of the joiner: its own packet, PSI and PES parsing.
pub fn check_ts(data: &[u8]) -> TsCheck {
    let mut c = Checker::default();
    let mut pos = 0usize;
    while pos + 188 <= data.len() {
        if data[pos] != 0x47 || (pos + 188 < data.len() && data[pos + 188] != 0x47 && pos + 376 <= data.len()) {
            pos += 1;
            c.r.skipped_bytes += 1;
            continue;
        }
        c.packet(&data[pos..pos + 188]);
        pos += 188;
    }
    c.r.skipped_bytes += data.len() - pos.min(data.len());
    c.r
}

/// A 33-bit timestamp unwrapped to the value nearest `last` (the checker's own).
fn check_unwrap(raw: u64, last: Option<i64>) -> i64 {
    let raw = (raw & ((1u64 << 33) - 1)) as i64;
    match last {
        None => raw,
        Some(l) => {
            let m = 1i64 << 33;
            let mut d = (raw - l).rem_euclid(m);
            if d >= m / 2 {
                d -= m;
            }
            l + d
        }
    }
}

/// A 5-byte PES PTS/DTS field (the checker's own).
fn check_pes_timestamp(b: &[u8]) -> u64 {
    (((b[0] >> 1) & 7) as u64) << 30
        | (b[1] as u64) << 22
        | ((b[2] >> 1) as u64) << 15
        | (b[3] as u64) << 7
        | (b[4] >> 1) as u64
}

/// The state of [`check_ts`] between packets.
#[derive(Default)]
struct Checker {
    r: TsCheck,
    last_cc: HashMap<u16, u8>,
    last_pts: HashMap<u16, i64>,
    last_pcr: HashMap<u16, i64>,
    last_vdts: Option<i64>,
    pmt_pids: Vec<u16>,
}

impl Checker {
    /// One 188-byte packet.
    fn packet(&mut self, p: &[u8]) {
        let r = &mut self.r;
        r.packets += 1;
        let pid = ((p[1] as u16 & 0x1f) << 8) | p[2] as u16;
        *r.pids.entry(pid).or_default() += 1;
        if pid == 0x1fff {
            return;
        }
        let pusi = p[1] & 0x40 != 0;
        let afc = (p[3] >> 4) & 3;
        let af_len = if afc & 2 != 0 { p[4] as usize } else { 0 };
        let af: &[u8] = if afc & 2 != 0 { p.get(5..5 + af_len).unwrap_or(&[]) } else { &[] };
        self.continuity(pid, afc, p[3] & 15, af);
        self.pcr(pid, af);
        if afc & 1 == 0 || !pusi {
            return;
        }
        let start = if afc == 3 { 5 + af_len } else { 4 };
        let Some(pl) = p.get(start..) else { return };
        if pid == 0 {
            self.pat(pl);
        } else if self.pmt_pids.contains(&pid) {
            self.pmt(pid, pl);
        } else {
            self.pes(pid, pl);
        }
    }

    /// Continuity counter `cc` of a packet with adaptation_field_control `afc`.
    fn continuity(&mut self, pid: u16, afc: u8, cc: u8, af: &[u8]) {
        let disc = af.first().is_some_and(|f| f & 0x80 != 0);
        if let Some(&l) = self.last_cc.get(&pid) {
            let ok = if afc & 1 != 0 { cc == (l + 1) & 15 || cc == l } else { cc == l };
            if !ok && !disc {
                self.r.cc_errors += 1;
                *self.r.cc_errors_by_pid.entry(pid).or_default() += 1;
            }
        }
        self.last_cc.insert(pid, cc);
    }

    /// The PCR of an adaptation field `af` (after its length byte).
    fn pcr(&mut self, pid: u16, af: &[u8]) {
        if !(af.first().is_some_and(|f| f & 0x10 != 0) && af.len() >= 7) {
            return;
        }
        let b = &af[1..7];
        let base =
            (b[0] as u64) << 25 | (b[1] as u64) << 17 | (b[2] as u64) << 9 | (b[3] as u64) << 1 | (b[4] as u64) >> 7;
        let prev = self.last_pcr.get(&pid).copied();
        let v = check_unwrap(base, prev);
        if let Some(l) = prev {
            if v < l {
                self.r.pcr_backwards += 1;
            }
            self.r.max_pcr_gap_90k = self.r.max_pcr_gap_90k.max(Ticks90k(v - l));
        }
        self.last_pcr.insert(pid, v);
    }

    /// A PAT (single-packet sections only): its PMT PIDs.
    fn pat(&mut self, pl: &[u8]) {
        let ptr = *pl.first().unwrap_or(&0) as usize;
        let Some(s) = pl.get(1 + ptr..) else { return };
        if s.len() < 12 || s[0] != 0 {
            return;
        }
        let len = ((s[1] as usize & 15) << 8 | s[2] as usize).min(s.len().saturating_sub(3));
        let end = (3 + len).saturating_sub(4);
        let mut i = 8;
        while i + 4 <= end {
            let prog = u16::from_be_bytes([s[i], s[i + 1]]);
            let pp = u16::from_be_bytes([s[i + 2] & 0x1f, s[i + 3]]);
            if prog != 0 && !self.pmt_pids.contains(&pp) {
                self.pmt_pids.push(pp);
            }
            i += 4;
        }
    }

    /// A PMT (single-packet sections only): its version; the first one's streams.
    fn pmt(&mut self, pid: u16, pl: &[u8]) {
        let r = &mut self.r;
        let ptr = *pl.first().unwrap_or(&0) as usize;
        let Some(s) = pl.get(1 + ptr..) else { return };
        if s.len() < 16 || s[0] != 2 {
            return;
        }
        let ver = (s[5] >> 1) & 31;
        if r.pmt_versions.last() != Some(&ver) {
            r.pmt_versions.push(ver);
        }
        if r.pmt_pid.is_some() {
            return;
        }
        r.pmt_pid = Some(pid);
        let len = ((s[1] as usize & 15) << 8 | s[2] as usize).min(s.len().saturating_sub(3));
        let end = (3 + len).saturating_sub(4);
        let pil = (s[10] as usize & 15) << 8 | s[11] as usize;
        let mut i = 12 + pil;
        while i + 5 <= end {
            let t = s[i];
            let ep = u16::from_be_bytes([s[i + 1] & 0x1f, s[i + 2]]);
            let eil = (s[i + 3] as usize & 15) << 8 | s[i + 4] as usize;
            r.streams.push((t, ep));
            if r.video_pid.is_none() && matches!(t, 0x01 | 0x02 | 0x10 | 0x1b | 0x24) {
                r.video_pid = Some(ep);
            }
            i += 5 + eil;
        }
    }

    /// The start of a PES: its PTS, and the DTS of video.
    fn pes(&mut self, pid: u16, pl: &[u8]) {
        let r = &mut self.r;
        if pl.len() < 14 || pl[..3] != [0, 0, 1] || pl[6] & 0xc0 != 0x80 || pl[7] & 0x80 == 0 {
            return;
        }
        if r.video_pid.is_none() && r.pmt_pid.is_none() && (0xe0..=0xef).contains(&pl[3]) {
            r.video_pid = Some(pid);
        }
        let prev = self.last_pts.get(&pid).copied();
        let pts = check_unwrap(check_pes_timestamp(&pl[9..14]), prev);
        self.last_pts.insert(pid, pts);
        r.pes_pts.entry(pid).or_default().push(Ticks90k(pts));
        if Some(pid) == r.video_pid {
            let dts = if pl[7] & 0x40 != 0 && pl.len() >= 19 {
                check_unwrap(check_pes_timestamp(&pl[14..19]), Some(pts))
            } else {
                pts
            };
            if let Some(l) = self.last_vdts {
                r.max_pts_gap = r.max_pts_gap.max(Ticks90k((dts - l).abs()));
            }
            self.last_vdts = Some(dts);
            r.video_dts.push(Ticks90k(dts));
        }
    }
}

#[cfg(test)]
#[path = "tests/tsjoin.rs"]
mod tests;
