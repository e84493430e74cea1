//! MPEG-2 transport stream demuxer (ISO/IEC 13818-1, "Information technology - Generic
//! coding of moving pictures and associated audio information: Systems").
//!
//! Layout handled, by section of the standard:
//! - §2.4.3.2/§2.4.3.3 *Transport Stream packet layer*: 188-byte packets beginning with the
//!   sync byte 0x47; PID (13 bits), payload_unit_start_indicator, transport_error_indicator,
//!   transport_scrambling_control, adaptation_field_control and a 4-bit
//!   continuity_counter. Also accepted: 192-byte M2TS/BDAV packets (a 4-byte timestamp
//!   prefix before every packet) and 204-byte packets (16 Reed-Solomon bytes after every
//!   packet). Leading junk and lost sync are skipped by searching for two sync bytes one
//!   packet apart. A truncated final packet is ignored.
//! - §2.4.3.4/§2.4.3.5 *Adaptation field*: its length is honoured (stuffing, PCR,
//!   discontinuity_indicator, random_access_indicator). A discontinuity_indicator makes
//!   the next continuity_counter acceptable whatever it is.
//! - §2.4.4 *Program specific information*: the Program Association Table (PID 0,
//!   §2.4.4.3) gives the PMT PID of the first program; its Program Map Table (§2.4.4.8)
//!   lists the elementary streams. Sections may span packets (pointer_field, §2.4.4.2);
//!   CRC_32 (Annex A) is checked and only the first PMT is used.
//! - §2.4.3.6/§2.4.3.7 *PES packet*: reassembled per PID from the packet with
//!   payload_unit_start_indicator set up to the next one (or up to PES_packet_length when
//!   it is not 0). PTS/DTS are 33-bit 90 kHz values in 5 bytes around marker bits (the
//!   markers are not enforced, like most demuxers). A continuity_counter jump (lost packet)
//!   drops the PES being assembled; a repeated counter (duplicate packet) is ignored.
//!
//! Stream types (Table 2-34 and registered private ones): 0x1b H.264, 0x0f AAC in ADTS,
//! 0x11 AAC LATM, 0x24 HEVC, 0x03/0x04 MPEG audio, 0x81 AC-3, 0x87 E-AC-3, 0x82/0x8a DTS,
//! 0x01/0x02 MPEG-1/2 video, 0x10 MPEG-4 Visual, 0x06 private data identified by its
//! descriptors (AC-3 0x6a, E-AC-3 0x7a, DTS 0x7b, registration_descriptor
//! "Opus"/"AC-3"/"EAC3"/"DTS1-3"). ID3 (0x15), SCTE-35, teletext, subtitles and other data
//! are not streams.
//!
//! Errors: no PAT/PMT within the read-ahead -> [`Error::Invalid`]; a program without any
//! audio/video stream -> [`Error::NoMedia`]; Apple SAMPLE-AES stream types (0xdb, 0xcf,
//! 0xc1, 0xc2) or scrambled packets -> [`Error::Encrypted`]. Damage (lost packets, junk,
//! bad sections, truncation) never fails: the affected PES is dropped.
//!
//! Output (see [`crate::packet`]): every stream has timebase 90 kHz; `open` reads ahead
//! until each stream has shown its parameters (H.264: in-band SPS/PPS give an `avcC`
//! config and the picture size; AAC: the first ADTS header gives the AudioSpecificConfig),
//! at most 4 MB, keeping every packet parsed meanwhile. Packets come out in file order (a
//! PES is emitted when it is complete). H.264: one packet per PES (an access unit), Annex B
//! as carried; `dts = pts` when the PES has no DTS; keyframe = contains an IDR slice. Bytes
//! before the first start code of a PES, and a PES without PTS that does not begin an
//! access unit, are appended to the previous access unit (some muxers split access units
//! across PES packets), so the last access unit is held until the next PES starts. AAC: each
//! PES is split into its ADTS frames (ISO/IEC 13818-7 §6.2, ISO/IEC 14496-3 §1.A.2), headers
//! stripped; frame k after the PES start gets `pts = PES pts + k*1024` samples rescaled to
//! 90 kHz (computed from the PES pts, never accumulated); a frame split across PES keeps
//! the timing of the PES it started in. Other codecs: one packet per PES, payload as is.
//! PTS/DTS are unwrapped across the 33-bit rollover: each timestamp is taken as the value
//! nearest the stream's previous one (the program's first timestamp for a stream's first
//! one), so values keep their original origin and simply continue past 2^33.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use bytes::Bytes;

use crate::codec::aac::{AudioConfig, FRAME_SAMPLES};
use crate::codec::h264::{self, AvcConfig, Sps};
use crate::demux::adts::{find_frame, AdtsScan};
use crate::packet::{Codec, Demuxer, MediaKind, Packet, StreamInfo};
use crate::time::{rescale, VIDEO_HZ};
use crate::{Error, Result};

/// Size of one transport stream packet.
pub const TS_PACKET_SIZE: usize = 188;
/// The sync byte every packet begins with.
pub const SYNC_BYTE: u8 = 0x47;
/// PID of the Program Association Table.
pub const PID_PAT: u16 = 0;
/// PID of null (stuffing) packets.
pub const PID_NULL: u16 = 0x1fff;
/// PTS/DTS are 33-bit counters.
pub const PTS_WRAP: i64 = 1 << 33;

/// How much of the input `open` reads at most to find the program and stream parameters.
const READ_AHEAD_LIMIT: u64 = 4 << 20;
/// Largest PES we reassemble (a video access unit); larger ones are dropped.
const MAX_PES: usize = 16 << 20;
/// Packet strides recognised: TS, M2TS (timestamp prefix), TS with Reed-Solomon parity.
const STRIDES: [usize; 3] = [188, 192, 204];

// ---------------------------------------------------------------------------------------
// Building blocks (also for a TS muxer/remuxer)
// ---------------------------------------------------------------------------------------

/// A view of one 188-byte transport stream packet (ISO/IEC 13818-1 §2.4.3.2).
#[derive(Clone, Copy, Debug)]
pub struct TsPacket<'a> {
    b: &'a [u8],
}

impl<'a> TsPacket<'a> {
    /// View the first 188 bytes of `b`; `None` if shorter or without the sync byte.
    pub fn parse(b: &'a [u8]) -> Option<TsPacket<'a>> {
        let b = b.get(..TS_PACKET_SIZE)?;
        (b[0] == SYNC_BYTE).then_some(TsPacket { b })
    }
    /// The 188 bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.b
    }
    /// transport_error_indicator: the packet is known to be damaged.
    pub fn tei(&self) -> bool {
        self.b[1] & 0x80 != 0
    }
    /// payload_unit_start_indicator: a PES or PSI section starts in this packet.
    pub fn pusi(&self) -> bool {
        self.b[1] & 0x40 != 0
    }
    pub fn pid(&self) -> u16 {
        ((self.b[1] as u16 & 0x1f) << 8) | self.b[2] as u16
    }
    /// transport_scrambling_control (0 = not scrambled).
    pub fn scrambling(&self) -> u8 {
        self.b[3] >> 6
    }
    /// adaptation_field_control: 1 payload only, 2 adaptation field only, 3 both.
    pub fn afc(&self) -> u8 {
        (self.b[3] >> 4) & 3
    }
    /// continuity_counter (increments mod 16 on packets with payload).
    pub fn cc(&self) -> u8 {
        self.b[3] & 0x0f
    }
    pub fn has_payload(&self) -> bool {
        self.afc() & 1 != 0
    }
    /// The adaptation field after its length byte (may be empty); `None` when absent or
    /// when its length overruns the packet.
    pub fn adaptation_field(&self) -> Option<&'a [u8]> {
        if self.afc() & 2 == 0 {
            return None;
        }
        let len = self.b[4] as usize;
        self.b.get(5..5 + len)
    }
    /// The payload; `None` when the packet carries none or its adaptation field is malformed.
    pub fn payload(&self) -> Option<&'a [u8]> {
        match self.afc() {
            1 => Some(&self.b[4..]),
            3 => {
                let start = 5 + self.b[4] as usize;
                self.b.get(start..)
            }
            _ => None,
        }
    }
    fn af_flags(&self) -> u8 {
        self.adaptation_field().and_then(|a| a.first().copied()).unwrap_or(0)
    }
    /// discontinuity_indicator of the adaptation field.
    pub fn discontinuity(&self) -> bool {
        self.af_flags() & 0x80 != 0
    }
    /// random_access_indicator of the adaptation field.
    pub fn random_access(&self) -> bool {
        self.af_flags() & 0x40 != 0
    }
    /// Program clock reference in 27 MHz ticks (base * 300 + extension), if present.
    pub fn pcr(&self) -> Option<u64> {
        let af = self.adaptation_field()?;
        if af.first()? & 0x10 == 0 {
            return None;
        }
        let p = af.get(1..7)?;
        let base = ((p[0] as u64) << 25)
            | ((p[1] as u64) << 17)
            | ((p[2] as u64) << 9)
            | ((p[3] as u64) << 1)
            | ((p[4] as u64) >> 7);
        let ext = (((p[4] & 1) as u64) << 8) | p[5] as u64;
        Some(base * 300 + ext)
    }
}

/// Parse a 5-byte PTS or DTS field (ISO/IEC 13818-1 §2.4.3.7): 4 prefix bits, then the
/// 33-bit value in chunks of 3, 15 and 15 bits each followed by a marker bit. Returns the
/// 90 kHz value; `None` if `b` is shorter than 5 bytes. Marker bits are not checked.
pub fn parse_pts(b: &[u8]) -> Option<u64> {
    let b = b.get(..5)?;
    Some(
        (((b[0] >> 1) & 7) as u64) << 30
            | (b[1] as u64) << 22
            | ((b[2] >> 1) as u64) << 15
            | (b[3] as u64) << 7
            | (b[4] >> 1) as u64,
    )
}

/// Encode a PTS/DTS field: `prefix` is the 4-bit code (0b0010 PTS only, 0b0011 PTS of a
/// PTS+DTS pair, 0b0001 DTS); `ts` is taken mod 2^33. Marker bits are set.
pub fn encode_pts(prefix: u8, ts: u64) -> [u8; 5] {
    let ts = ts & (PTS_WRAP as u64 - 1);
    [
        (prefix << 4) | (((ts >> 30) as u8 & 7) << 1) | 1,
        (ts >> 22) as u8,
        (((ts >> 15) as u8) << 1) | 1,
        (ts >> 7) as u8,
        ((ts as u8) << 1) | 1,
    ]
}

/// The fields of a PES packet header (ISO/IEC 13818-1 §2.4.3.6) a demuxer needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PesHeader {
    pub stream_id: u8,
    /// PES_packet_length: bytes after this field; 0 = unbounded (video only).
    pub packet_length: u16,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// Offset of the payload from the start of the PES packet.
    pub header_len: usize,
}

impl PesHeader {
    /// Parse the header at the start of a PES packet; `None` if it is not one or is
    /// truncated.
    pub fn parse(b: &[u8]) -> Option<PesHeader> {
        if b.len() < 6 || b[..3] != [0, 0, 1] {
            return None;
        }
        let stream_id = b[3];
        let packet_length = u16::from_be_bytes([b[4], b[5]]);
        // Streams without the optional header (Table 2-21 conditions).
        if matches!(stream_id, 0xbc | 0xbe | 0xbf | 0xf0 | 0xf1 | 0xff | 0xf2 | 0xf8) {
            return Some(PesHeader { stream_id, packet_length, pts: None, dts: None, header_len: 6 });
        }
        if b.len() < 9 || b[6] & 0xc0 != 0x80 {
            return None;
        }
        let flags = b[7] >> 6;
        let hdl = b[8] as usize;
        let header_len = 9 + hdl;
        if header_len > b.len() {
            return None;
        }
        let opt = &b[9..header_len];
        let (mut pts, mut dts) = (None, None);
        if flags & 2 != 0 {
            pts = parse_pts(opt);
            if flags == 3 {
                dts = opt.get(5..).and_then(parse_pts);
            }
        }
        Some(PesHeader { stream_id, packet_length, pts, dts, header_len })
    }
}

/// CRC-32/MPEG-2 (ISO/IEC 13818-1 Annex A): polynomial 0x04C11DB7, initial value
/// 0xFFFFFFFF, no reflection, no final xor. A section including its CRC_32 gives 0.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= (b as u32) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

/// Check the common long-form section header of a PSI table and return its body (after
/// last_section_number, before CRC_32) with version_number.
fn section_body<'a>(sec: &'a [u8], table_id: u8, what: &str) -> Result<(u16, u8, &'a [u8])> {
    let bad = |m: &str| Error::invalid(format!("MPEG-TS {what}: {m}"));
    if sec.len() < 12 {
        return Err(bad("truncated section"));
    }
    if sec[0] != table_id {
        return Err(bad("unexpected table_id"));
    }
    if sec[1] & 0x80 == 0 {
        return Err(bad("section_syntax_indicator not set"));
    }
    let len = (((sec[1] & 0x0f) as usize) << 8) | sec[2] as usize;
    if len < 9 || 3 + len > sec.len() {
        return Err(bad("section_length out of range"));
    }
    let sec = &sec[..3 + len];
    if crc32_mpeg2(sec) != 0 {
        return Err(bad("CRC_32 mismatch"));
    }
    if sec[5] & 1 == 0 {
        return Err(bad("not current (current_next_indicator 0)"));
    }
    let id = u16::from_be_bytes([sec[3], sec[4]]);
    Ok((id, (sec[5] >> 1) & 0x1f, &sec[8..sec.len() - 4]))
}

/// Program Association Table (§2.4.4.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pat {
    pub transport_stream_id: u16,
    pub version: u8,
    /// (program_number, program_map_PID); program 0 names the network PID.
    pub programs: Vec<(u16, u16)>,
}

impl Pat {
    /// Parse a complete PAT section (table_id through CRC_32).
    pub fn parse(sec: &[u8]) -> Result<Pat> {
        let (id, version, body) = section_body(sec, 0x00, "PAT")?;
        let programs = body
            .chunks_exact(4)
            .map(|c| (u16::from_be_bytes([c[0], c[1]]), u16::from_be_bytes([c[2] & 0x1f, c[3]])))
            .collect();
        Ok(Pat { transport_stream_id: id, version, programs })
    }
    /// The PMT PID of the first program (program_number != 0).
    pub fn first_pmt_pid(&self) -> Option<u16> {
        self.programs.iter().find(|p| p.0 != 0).map(|p| p.1)
    }
}

/// One elementary stream entry of a PMT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PmtStream {
    pub stream_type: u8,
    pub pid: u16,
    /// ES_info descriptors, raw (iterate with [`descriptors`]).
    pub descriptors: Vec<u8>,
}

/// Program Map Table (§2.4.4.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pmt {
    pub program_number: u16,
    pub version: u8,
    pub pcr_pid: u16,
    /// program_info descriptors, raw.
    pub descriptors: Vec<u8>,
    pub streams: Vec<PmtStream>,
}

impl Pmt {
    /// Parse a complete PMT section (table_id through CRC_32).
    pub fn parse(sec: &[u8]) -> Result<Pmt> {
        let (program_number, version, body) = section_body(sec, 0x02, "PMT")?;
        let bad = || Error::invalid("MPEG-TS PMT: descriptor loop overruns the section");
        if body.len() < 4 {
            return Err(bad());
        }
        let pcr_pid = u16::from_be_bytes([body[0] & 0x1f, body[1]]);
        let pil = (((body[2] & 0x0f) as usize) << 8) | body[3] as usize;
        let descriptors = body.get(4..4 + pil).ok_or_else(bad)?.to_vec();
        let mut i = 4 + pil;
        let mut streams = Vec::new();
        while i + 5 <= body.len() {
            let stream_type = body[i];
            let pid = u16::from_be_bytes([body[i + 1] & 0x1f, body[i + 2]]);
            let eil = (((body[i + 3] & 0x0f) as usize) << 8) | body[i + 4] as usize;
            let d = body.get(i + 5..i + 5 + eil).ok_or_else(bad)?;
            streams.push(PmtStream { stream_type, pid, descriptors: d.to_vec() });
            i += 5 + eil;
        }
        Ok(Pmt { program_number, version, pcr_pid, descriptors, streams })
    }
}

/// Iterate the (tag, body) pairs of a descriptor loop (§2.6); stops at a truncated one.
pub fn descriptors(mut d: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (&tag, rest) = d.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let body = rest.get(..len as usize)?;
        d = &rest[len as usize..];
        Some((tag, body))
    })
}

/// What a PMT entry carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EsType {
    /// An audio or video stream.
    Media(MediaKind, Codec),
    /// Content encrypted with Apple SAMPLE-AES (stream_type 0xdb, 0xcf, 0xc1, 0xc2).
    SampleAes,
    /// Metadata, subtitles, data: not a stream.
    Data,
}

/// Classify a PMT entry by stream_type and descriptors (ES-level, then program-level).
pub fn classify_stream(stream_type: u8, es_descriptors: &[u8], program_descriptors: &[u8]) -> EsType {
    use MediaKind::{Audio, Video};
    let other = |k, n: &str| EsType::Media(k, Codec::Other(n.to_string()));
    let reg =
        |d: &[u8]| descriptors(d).find(|(t, b)| *t == 0x05 && b.len() >= 4).map(|(_, b)| [b[0], b[1], b[2], b[3]]);
    match stream_type {
        0x1b => EsType::Media(Video, Codec::H264),
        0x0f => EsType::Media(Audio, Codec::Aac),
        0x11 => other(Audio, "aac_latm"),
        0x24 => other(Video, "hevc"),
        0x03 | 0x04 => other(Audio, "mp3"),
        0x81 => other(Audio, "ac3"),
        0x87 => other(Audio, "eac3"),
        0x82 | 0x8a => other(Audio, "dts"),
        0x01 => other(Video, "mpeg1video"),
        0x02 => other(Video, "mpeg2video"),
        0x10 => other(Video, "mpeg4"),
        0xdb | 0xcf | 0xc1 | 0xc2 => EsType::SampleAes,
        0x06 => {
            for (tag, _) in descriptors(es_descriptors) {
                match tag {
                    0x6a => return other(Audio, "ac3"),
                    0x7a => return other(Audio, "eac3"),
                    0x7b => return other(Audio, "dts"),
                    _ => {}
                }
            }
            match reg(es_descriptors).or_else(|| reg(program_descriptors)) {
                Some(r) if &r == b"Opus" => other(Audio, "opus"),
                Some(r) if &r == b"AC-3" => other(Audio, "ac3"),
                Some(r) if &r == b"EAC3" => other(Audio, "eac3"),
                Some(r) if matches!(&r, b"DTS1" | b"DTS2" | b"DTS3") => other(Audio, "dts"),
                _ => EsType::Data,
            }
        }
        _ => EsType::Data,
    }
}

/// Unwrap a 33-bit timestamp to the value nearest `reference` (which may be beyond 2^33).
pub fn unwrap_pts(raw: u64, reference: i64) -> i64 {
    let raw = (raw & (PTS_WRAP as u64 - 1)) as i64;
    let mut d = (raw - reference).rem_euclid(PTS_WRAP);
    if d >= PTS_WRAP / 2 {
        d -= PTS_WRAP;
    }
    reference.saturating_add(d)
}

/// Is `head` the start of a transport stream? Sync bytes one packet apart for up to five
/// packets, as 188-byte TS, 192-byte M2TS (sync after a 4-byte prefix) or 204-byte TS.
pub fn probe(head: &[u8]) -> bool {
    [(188usize, 0usize), (192, 4), (204, 0)].iter().any(|&(stride, off)| {
        let n = (head.len().saturating_sub(off) / stride).min(5);
        let tiny = head.len() < off + 2 * stride;
        (n >= 2 || (n == 1 && tiny)) && (0..n).all(|k| head.get(off + k * stride) == Some(&SYNC_BYTE))
    })
}

/// Find where packets start in `head` and their stride: the first offset with sync bytes
/// a stride apart for all (up to 4) following packets present.
fn find_sync(head: &[u8]) -> Option<(usize, usize)> {
    for off in 0..head.len() {
        if head[off] != SYNC_BYTE {
            continue;
        }
        for &stride in &STRIDES {
            let n = ((head.len() - off - 1) / stride).min(4);
            if n >= 1 && (1..=n).all(|k| head[off + k * stride] == SYNC_BYTE) {
                return Some((off, stride));
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Packet reader (streaming, resynchronising)
// ---------------------------------------------------------------------------------------

struct PacketReader {
    r: Box<dyn Read + Send>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    stride: usize,
    /// Bytes consumed (packets handed out and junk skipped).
    consumed: u64,
}

const READ_BUF: usize = 256 * 1024;

impl PacketReader {
    fn new(r: Box<dyn Read + Send>) -> PacketReader {
        PacketReader { r, buf: vec![0; READ_BUF], start: 0, end: 0, eof: false, stride: 188, consumed: 0 }
    }

    /// Make at least `want` bytes available unless the input ends first.
    fn fill(&mut self, want: usize) -> Result<()> {
        while self.end - self.start < want && !self.eof {
            if self.buf.len() - self.start < want || self.end == self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io2(e)),
            }
        }
        Ok(())
    }

    fn skip(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.consumed += n as u64;
    }

    /// Look at the first 64 KiB to find the packet stride and skip leading junk.
    fn detect(&mut self) -> Result<()> {
        self.fill(64 * 1024)?;
        if let Some((off, stride)) = find_sync(&self.buf[self.start..self.end]) {
            self.skip(off);
            self.stride = stride;
        }
        Ok(())
    }

    /// The next 188-byte packet, `None` at the end of input.
    fn next(&mut self) -> Result<Option<[u8; TS_PACKET_SIZE]>> {
        loop {
            self.fill(self.stride + TS_PACKET_SIZE)?;
            let avail = self.end - self.start;
            if avail < TS_PACKET_SIZE {
                self.skip(avail); // truncated final packet
                return Ok(None);
            }
            if self.buf[self.start] == SYNC_BYTE {
                // A sync byte whose successor is missing may be junk that happens to be
                // 0x47: prefer a position within this packet confirmed by two sync bytes.
                let b = &self.buf[self.start..self.end];
                let stride = self.stride;
                if b.len() > stride && b[stride] != SYNC_BYTE {
                    let confirmed =
                        (1..stride).find(|&i| i + stride < b.len() && b[i] == SYNC_BYTE && b[i + stride] == SYNC_BYTE);
                    if let Some(i) = confirmed {
                        self.skip(i);
                        continue;
                    }
                }
                let mut p = [0u8; TS_PACKET_SIZE];
                p.copy_from_slice(&self.buf[self.start..self.start + TS_PACKET_SIZE]);
                self.skip(self.stride.min(avail));
                return Ok(Some(p));
            }
            // Lost sync: find a sync byte confirmed by another one a stride later.
            let stride = self.stride;
            let b = &self.buf[self.start..self.end];
            let mut i = 1;
            let mut found = None;
            while i + stride < b.len() {
                if b[i] == SYNC_BYTE && b[i + stride] == SYNC_BYTE {
                    found = Some(i);
                    break;
                }
                i += 1;
            }
            if found.is_none() && self.eof {
                // Unconfirmable at the very end: accept a lone sync byte with a whole packet.
                found = (i..b.len()).find(|&j| b[j] == SYNC_BYTE && j + TS_PACKET_SIZE <= b.len());
                if found.is_none() {
                    i = b.len();
                }
            }
            self.skip(found.unwrap_or(i));
        }
    }
}

// ---------------------------------------------------------------------------------------
// PSI section reassembly
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct SectionBuf {
    buf: Vec<u8>,
    active: bool,
}

impl SectionBuf {
    /// Feed one packet's payload; complete sections are appended to `out`.
    fn feed(&mut self, pusi: bool, payload: &[u8], out: &mut Vec<Vec<u8>>) {
        let mut data = payload;
        if pusi {
            let Some((&ptr, rest)) = payload.split_first() else {
                self.active = false;
                return;
            };
            let ptr = ptr as usize;
            if self.active {
                self.buf.extend_from_slice(rest.get(..ptr).unwrap_or(rest));
                self.drain(out);
            }
            data = rest.get(ptr..).unwrap_or(&[]);
            self.buf.clear();
            self.active = true;
        } else if !self.active {
            return;
        }
        self.buf.extend_from_slice(data);
        self.drain(out);
    }

    fn drain(&mut self, out: &mut Vec<Vec<u8>>) {
        while self.active && self.buf.len() >= 3 {
            if self.buf[0] == 0xff {
                // Stuffing: no more sections in this unit.
                self.active = false;
                self.buf.clear();
                return;
            }
            let len = 3 + ((((self.buf[1] & 0x0f) as usize) << 8) | self.buf[2] as usize);
            if len > 4096 {
                self.active = false;
                self.buf.clear();
                return;
            }
            if self.buf.len() < len {
                return;
            }
            out.push(self.buf[..len].to_vec());
            self.buf.drain(..len);
        }
    }

    fn reset(&mut self) {
        self.active = false;
        self.buf.clear();
    }
}

// ---------------------------------------------------------------------------------------
// Elementary stream state
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum EsKind {
    H264,
    Aac,
    Other,
}

/// ADTS splitting state of one AAC stream.
#[derive(Default)]
struct AacState {
    /// Bytes not yet consumed (a partial frame, or one awaiting confirmation).
    carry: Vec<u8>,
    /// Positions in `carry` where a PES with a PTS started, with that PTS (unwrapped).
    switches: VecDeque<(usize, i64)>,
    /// Header of the frame that ended where `carry` starts (see [`find_frame`]).
    prev: Option<crate::codec::aac::AdtsHeader>,
    /// The last frame header seen: a frame at the very start of a PES consistent with it
    /// is trusted (PES packets normally begin with a frame).
    last_good: Option<crate::codec::aac::AdtsHeader>,
    /// Unwrapped 90 kHz time of sample 0 of the current run, and samples since then.
    base: Option<i64>,
    samples: i64,
    rate: u32,
}

impl AacState {
    fn reset(&mut self) {
        self.carry.clear();
        self.switches.clear();
        self.prev = None;
    }
}

struct EsState {
    pid: u16,
    stream: usize,
    kind: EsKind,
    last_cc: Option<u8>,
    pes: Vec<u8>,
    collecting: bool,
    /// Parameters known (config filled in) or none needed.
    ready: bool,
    sps: Vec<Vec<u8>>,
    pps: Vec<Vec<u8>>,
    last_dts: Option<i64>,
    last_delta: i64,
    aac: AacState,
    /// H.264: the last access unit, held back until the next PES shows whether it
    /// continues it.
    held: Option<HeldAu>,
    /// The held access unit may be continued (no packet was lost since it started).
    continuable: bool,
}

struct HeldAu {
    pts: i64,
    dts: i64,
    data: Vec<u8>,
}

/// Offset of the first `00 00 01` start code in `b` (including one leading zero byte of
/// a 4-byte start code).
fn find_start_code(b: &[u8]) -> Option<usize> {
    let i = b.windows(3).position(|w| w == [0, 0, 1])?;
    Some(if i > 0 && b[i - 1] == 0 { i - 1 } else { i })
}

/// Does this (start of a) PES packet carry a PTS and begin with a start code?
fn pes_starts_access_unit(pes: &[u8]) -> bool {
    match PesHeader::parse(pes) {
        Some(h) if h.pts.is_some() => {
            let p = pes.get(h.header_len..).unwrap_or(&[]);
            p.starts_with(&[0, 0, 1]) || p.starts_with(&[0, 0, 0, 1])
        }
        _ => false,
    }
}

/// Does this Annex B data begin a new access unit (ITU-T H.264 §7.4.1.2.3)?
fn starts_access_unit(b: &[u8]) -> bool {
    match h264::annexb_nals(b).next() {
        Some(nal) => match h264::nal_type(nal) {
            h264::NAL_AUD | h264::NAL_SPS | h264::NAL_PPS | h264::NAL_SEI => true,
            // first_mb_in_slice is ue(v): its first bit is 1 exactly when it is 0.
            1 | 5 => nal.get(1).map(|b| b & 0x80 != 0).unwrap_or(false),
            _ => false,
        },
        None => false,
    }
}

/// MPEG-TS demuxer. See the module documentation.
pub struct TsDemuxer {
    rd: PacketReader,
    streams: Vec<StreamInfo>,
    es: Vec<EsState>,
    pmt_pid: Option<u16>,
    pat_sec: SectionBuf,
    pmt_sec: SectionBuf,
    pmt: Option<Pmt>,
    /// Packets seen before the PMT, replayed once it is known (bounded by the read-ahead).
    stash: Vec<[u8; TS_PACKET_SIZE]>,
    out: VecDeque<Packet>,
    program_ref: Option<i64>,
    opening: bool,
    eof: bool,
    flushed: bool,
    sections: Vec<Vec<u8>>,
}

impl TsDemuxer {
    /// Open a file.
    pub fn open(path: impl AsRef<Path>) -> Result<TsDemuxer> {
        let path = path.as_ref();
        let f = File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Self::from_reader(f)
    }

    /// Read a transport stream incrementally from `r`. Reads ahead until every stream of
    /// the first program has produced a PES with its parameters (or 4 MB); the packets
    /// parsed meanwhile are kept for [`Demuxer::next_packet`].
    pub fn from_reader<R: Read + Send + 'static>(r: R) -> Result<TsDemuxer> {
        let mut d = TsDemuxer {
            rd: PacketReader::new(Box::new(r)),
            streams: Vec::new(),
            es: Vec::new(),
            pmt_pid: None,
            pat_sec: SectionBuf::default(),
            pmt_sec: SectionBuf::default(),
            pmt: None,
            stash: Vec::new(),
            out: VecDeque::new(),
            program_ref: None,
            opening: true,
            eof: false,
            flushed: false,
            sections: Vec::new(),
        };
        d.rd.detect()?;
        loop {
            if d.pmt.is_some() && d.es.iter().all(|e| e.ready) {
                break;
            }
            if d.rd.consumed >= READ_AHEAD_LIMIT {
                break;
            }
            match d.rd.next()? {
                Some(p) => d.process(&p)?,
                None => {
                    d.eof = true;
                    break;
                }
            }
        }
        if d.pmt.is_none() {
            let n = d.rd.consumed;
            return Err(Error::invalid(if n == 0 {
                "empty input: no PAT/PMT (not an MPEG-TS stream?)".to_string()
            } else if n >= READ_AHEAD_LIMIT {
                format!("no PAT/PMT in the first {} MB (not an MPEG-TS stream?)", READ_AHEAD_LIMIT >> 20)
            } else {
                format!("no PAT/PMT in {n} bytes (not an MPEG-TS stream?)")
            }));
        }
        if d.streams.is_empty() {
            return Err(Error::NoMedia(" (the MPEG-TS program has no audio or video stream)".into()));
        }
        if d.eof {
            d.flush_all();
            d.flushed = true;
        }
        d.opening = false;
        Ok(d)
    }

    /// Is `head` the start of a transport stream? See [`probe`].
    pub fn probe(head: &[u8]) -> bool {
        probe(head)
    }

    /// The program map table in use.
    pub fn pmt(&self) -> Option<&Pmt> {
        self.pmt.as_ref()
    }

    fn process(&mut self, p: &[u8; TS_PACKET_SIZE]) -> Result<()> {
        let Some(pkt) = TsPacket::parse(p) else { return Ok(()) };
        let pid = pkt.pid();
        if pid == PID_NULL {
            return Ok(());
        }
        if pid == PID_PAT {
            if pkt.tei() {
                self.pat_sec.reset();
                return Ok(());
            }
            if let Some(pl) = pkt.payload() {
                let mut secs = std::mem::take(&mut self.sections);
                self.pat_sec.feed(pkt.pusi(), pl, &mut secs);
                for s in secs.drain(..) {
                    if let Ok(pat) = Pat::parse(&s) {
                        if self.pmt_pid.is_none() {
                            self.pmt_pid = pat.first_pmt_pid();
                        }
                    }
                }
                self.sections = secs;
            }
            return Ok(());
        }
        if Some(pid) == self.pmt_pid {
            if self.pmt.is_some() {
                return Ok(());
            }
            if pkt.tei() {
                self.pmt_sec.reset();
                return Ok(());
            }
            if let Some(pl) = pkt.payload() {
                let mut secs = std::mem::take(&mut self.sections);
                self.pmt_sec.feed(pkt.pusi(), pl, &mut secs);
                let mut found = None;
                for s in secs.drain(..) {
                    if found.is_none() {
                        found = Pmt::parse(&s).ok();
                    }
                }
                self.sections = secs;
                if let Some(pmt) = found {
                    self.setup(pmt)?;
                    for p in std::mem::take(&mut self.stash) {
                        self.process(&p)?;
                    }
                }
            }
            return Ok(());
        }
        if self.pmt.is_none() {
            if self.opening {
                self.stash.push(*p);
            }
            return Ok(());
        }
        if let Some(i) = self.es.iter().position(|e| e.pid == pid) {
            self.feed_es(i, pkt)?;
        }
        Ok(())
    }

    fn setup(&mut self, pmt: Pmt) -> Result<()> {
        for s in &pmt.streams {
            if self.es.iter().any(|e| e.pid == s.pid) || s.pid == PID_NULL || s.pid == PID_PAT {
                continue;
            }
            let (kind, codec) = match classify_stream(s.stream_type, &s.descriptors, &pmt.descriptors) {
                EsType::Media(k, c) => (k, c),
                EsType::SampleAes => {
                    return Err(Error::Encrypted(format!(
                        "SAMPLE-AES: MPEG-TS stream_type 0x{:02x} on PID {}",
                        s.stream_type, s.pid
                    )))
                }
                EsType::Data => continue,
            };
            let es_kind = match codec {
                Codec::H264 => EsKind::H264,
                Codec::Aac => EsKind::Aac,
                Codec::Other(_) => EsKind::Other,
            };
            let index = self.streams.len();
            let mut info = StreamInfo::new(index, kind, codec, VIDEO_HZ);
            info.id = s.pid as u32;
            info.language = descriptors(&s.descriptors)
                .find(|(t, b)| *t == 0x0a && b.len() >= 3)
                .and_then(|(_, b)| std::str::from_utf8(&b[..3]).ok())
                .filter(|l| l.chars().all(|c| c.is_ascii_alphabetic()))
                .map(|l| l.to_ascii_lowercase());
            self.streams.push(info);
            self.es.push(EsState {
                pid: s.pid,
                stream: index,
                kind: es_kind,
                last_cc: None,
                pes: Vec::new(),
                collecting: false,
                ready: es_kind == EsKind::Other,
                sps: Vec::new(),
                pps: Vec::new(),
                last_dts: None,
                last_delta: 0,
                aac: AacState::default(),
                held: None,
                continuable: false,
            });
        }
        self.pmt = Some(pmt);
        Ok(())
    }

    fn feed_es(&mut self, i: usize, pkt: TsPacket) -> Result<()> {
        if pkt.scrambling() != 0 && pkt.has_payload() {
            return Err(Error::Encrypted(format!(
                "scrambled MPEG-TS packets (transport_scrambling_control) on PID {}",
                pkt.pid()
            )));
        }
        let es = &mut self.es[i];
        if pkt.tei() {
            es.lose();
            return Ok(());
        }
        let Some(payload) = pkt.payload() else { return Ok(()) };
        let cc = pkt.cc();
        if let Some(last) = es.last_cc {
            if !pkt.discontinuity() {
                if cc == last {
                    return Ok(()); // duplicate packet
                }
                if cc != (last + 1) & 0x0f {
                    es.lose();
                }
            }
        }
        es.last_cc = Some(cc);
        if pkt.pusi() {
            self.flush(i, false);
            let es = &mut self.es[i];
            es.pes.clear();
            es.pes.extend_from_slice(payload);
            es.collecting = true;
            // When the new PES visibly starts a new access unit, the held one is complete:
            // emit it now rather than after this PES, keeping file order tight.
            if es.kind == EsKind::H264 && es.held.is_some() && pes_starts_access_unit(&es.pes) {
                self.release_held(i);
            }
        } else if es.collecting {
            if es.pes.len() + payload.len() > MAX_PES {
                es.lose();
            } else {
                es.pes.extend_from_slice(payload);
            }
        }
        let es = &self.es[i];
        if es.collecting && es.pes.len() >= 6 {
            let declared = u16::from_be_bytes([es.pes[4], es.pes[5]]) as usize;
            if declared != 0 && es.pes.len() >= 6 + declared {
                self.flush(i, false);
            }
        }
        Ok(())
    }

    /// Hand the PES assembled for stream `i` to its codec handler.
    fn flush(&mut self, i: usize, at_end: bool) {
        let es = &mut self.es[i];
        if !es.collecting {
            if at_end && es.kind == EsKind::Aac {
                self.aac_pes(i, &[], None, true);
            }
            return;
        }
        es.collecting = false;
        let mut pes = std::mem::take(&mut es.pes);
        if let Some(h) = PesHeader::parse(&pes) {
            let mut end = pes.len();
            let declared = 6 + h.packet_length as usize;
            let truncated = h.packet_length != 0 && declared > pes.len();
            if h.packet_length != 0 {
                end = end.min(declared);
            }
            let payload = pes.get(h.header_len..end).unwrap_or(&[]);
            match self.es[i].kind {
                // A video PES cut by the end of the input is an incomplete access unit.
                EsKind::H264 if truncated && at_end => {}
                EsKind::H264 => self.h264_pes(i, payload, h.pts, h.dts),
                EsKind::Aac => {
                    let ts = h.pts.map(|p| self.unwrap_ts(i, p));
                    self.aac_pes(i, payload, ts, at_end);
                }
                EsKind::Other if truncated && at_end => {}
                EsKind::Other => self.other_pes(i, payload, h.pts, h.dts),
            }
        }
        // Reuse the allocation.
        pes.clear();
        self.es[i].pes = pes;
    }

    fn flush_all(&mut self) {
        for i in 0..self.es.len() {
            self.flush(i, true);
            self.release_held(i);
        }
    }

    /// Unwrap a raw timestamp of stream `i` against its last dts or the program's first.
    fn unwrap_ts(&mut self, i: usize, raw: u64) -> i64 {
        let raw_i = (raw & (PTS_WRAP as u64 - 1)) as i64;
        let reference = self.es[i].last_dts.or(self.program_ref).unwrap_or(raw_i);
        if self.program_ref.is_none() {
            self.program_ref = Some(raw_i);
        }
        unwrap_pts(raw, reference)
    }

    /// (pts, dts) of a PES, unwrapped; estimated from the previous one when absent.
    fn stamps(&mut self, i: usize, pts: Option<u64>, dts: Option<u64>) -> (i64, i64) {
        match pts {
            Some(p) => {
                let d = self.unwrap_ts(i, dts.unwrap_or(p));
                let p = unwrap_pts(p, d);
                let es = &mut self.es[i];
                if let Some(last) = es.last_dts {
                    if d > last {
                        es.last_delta = d - last;
                    }
                }
                es.last_dts = Some(d);
                (p, d)
            }
            None => {
                let es = &mut self.es[i];
                let d = match es.last_dts {
                    Some(l) => l + if es.last_delta > 0 { es.last_delta } else { 1 },
                    None => 0,
                };
                es.last_dts = Some(d);
                (d, d)
            }
        }
    }

    fn h264_pes(&mut self, i: usize, payload: &[u8], pts: Option<u64>, dts: Option<u64>) {
        if payload.is_empty() {
            return;
        }
        if self.opening && !self.es[i].ready {
            let es = &mut self.es[i];
            for nal in h264::annexb_nals(payload) {
                match h264::nal_type(nal) {
                    h264::NAL_SPS if es.sps.len() < 31 && !es.sps.iter().any(|s| s == nal) => es.sps.push(nal.to_vec()),
                    h264::NAL_PPS if es.pps.len() < 255 && !es.pps.iter().any(|s| s == nal) => {
                        es.pps.push(nal.to_vec())
                    }
                    _ => {}
                }
            }
            if !es.sps.is_empty() && !es.pps.is_empty() {
                if let Ok(cfg) = AvcConfig::from_parameter_sets(es.sps.clone(), es.pps.clone()) {
                    let info = &mut self.streams[es.stream];
                    info.config = Bytes::from(cfg.to_bytes());
                    if let Ok(sps) = Sps::parse(&es.sps[0]) {
                        info.width = sps.width;
                        info.height = sps.height;
                    }
                }
                es.ready = true;
            }
        }
        // Bytes before the first start code continue the previous access unit (a muxer
        // split it across PES packets): append them to the held-back packet.
        let sc = find_start_code(payload);
        let (prefix, rest) = payload.split_at(sc.unwrap_or(payload.len()));
        let mut prefix = prefix;
        while let [p @ .., 0] = prefix {
            prefix = p;
        }
        let es = &mut self.es[i];
        if !prefix.is_empty() && es.continuable {
            if let Some(h) = es.held.as_mut() {
                if h.data.len() + prefix.len() <= MAX_PES {
                    h.data.extend_from_slice(prefix);
                }
            }
        }
        if rest.is_empty() {
            return;
        }
        // A PES without PTS holds no start of an access unit (§2.4.3.7) unless it visibly
        // begins one (access unit delimiter, SPS, or a slice with first_mb_in_slice 0).
        if pts.is_none() && es.held.is_some() && es.continuable && !starts_access_unit(rest) {
            if let Some(h) = es.held.as_mut() {
                if h.data.len() + rest.len() <= MAX_PES {
                    h.data.extend_from_slice(rest);
                }
            }
            return;
        }
        let (pts, dts) = self.stamps(i, pts, dts);
        self.release_held(i);
        let es = &mut self.es[i];
        es.held = Some(HeldAu { pts, dts, data: rest.to_vec() });
        es.continuable = true;
    }

    /// Emit the held-back H.264 access unit of stream `i`, if any.
    fn release_held(&mut self, i: usize) {
        let es = &mut self.es[i];
        if let Some(h) = es.held.take() {
            self.out.push_back(Packet {
                stream: es.stream,
                pts: h.pts,
                dts: h.dts,
                duration: 0,
                keyframe: h264::annexb_has_idr(&h.data),
                data: Bytes::from(h.data),
            });
        }
    }

    fn other_pes(&mut self, i: usize, payload: &[u8], pts: Option<u64>, dts: Option<u64>) {
        if payload.is_empty() {
            return;
        }
        let (pts, dts) = self.stamps(i, pts, dts);
        let stream = self.es[i].stream;
        self.out.push_back(Packet {
            stream,
            pts,
            dts,
            duration: 0,
            keyframe: self.streams[stream].kind == MediaKind::Audio,
            data: Bytes::copy_from_slice(payload),
        });
    }

    /// Split ADTS frames; `ts` is the PES pts (unwrapped) for the first frame starting in it.
    fn aac_pes(&mut self, i: usize, payload: &[u8], ts: Option<i64>, at_end: bool) {
        let stream = self.es[i].stream;
        let opening = self.opening;
        let es = &mut self.es[i];
        let st = &mut es.aac;
        if let Some(ts) = ts {
            if st.switches.len() >= 16 {
                st.switches.pop_front();
            }
            st.switches.push_back((st.carry.len(), ts));
        }
        if st.carry.is_empty() && st.prev.is_none() {
            st.prev = st.last_good;
        }
        let mut buf = std::mem::take(&mut st.carry);
        buf.extend_from_slice(payload);
        let mut pos = 0;
        loop {
            match find_frame(&buf[pos..], st.prev.as_ref(), at_end) {
                AdtsScan::Frame { offset, header } => {
                    let start = pos + offset;
                    let rate = header.config.sample_rate;
                    // Rebase on a PES start at or before this frame, or on a rate change.
                    while let Some(&(at, t)) = st.switches.front() {
                        if at > start {
                            break;
                        }
                        st.base = Some(t);
                        st.samples = 0;
                        st.switches.pop_front();
                    }
                    if st.rate != rate {
                        if st.rate != 0 {
                            let b = st.base.unwrap_or(0);
                            st.base = Some(b + rescale(st.samples, st.rate, VIDEO_HZ));
                            st.samples = 0;
                        }
                        st.rate = rate;
                    }
                    let base = *st.base.get_or_insert(0);
                    let n = FRAME_SAMPLES as i64 * header.blocks as i64;
                    let pts = base + rescale(st.samples, rate, VIDEO_HZ);
                    let duration = rescale(st.samples + n, rate, VIDEO_HZ) - rescale(st.samples, rate, VIDEO_HZ);
                    st.samples += n;
                    st.prev = Some(header);
                    st.last_good = Some(header);
                    let end = start + header.frame_len;
                    pos = end;
                    let data = buf.get(start + header.header_len..end).unwrap_or(&[]);
                    if data.is_empty() {
                        continue;
                    }
                    if !es.ready && opening {
                        let info = &mut self.streams[stream];
                        let cfg = AudioConfig { ext_sample_rate: None, ..header.config };
                        info.config = Bytes::from(cfg.to_bytes());
                        info.sample_rate = rate;
                        info.channels = cfg.channels;
                        es.ready = true;
                    }
                    es.last_dts = Some(pts);
                    self.out.push_back(Packet {
                        stream,
                        pts,
                        dts: pts,
                        duration,
                        keyframe: true,
                        data: Bytes::copy_from_slice(data),
                    });
                }
                AdtsScan::NeedMore { offset } => {
                    if offset > 0 {
                        st.prev = None;
                    }
                    pos += offset;
                    break;
                }
            }
        }
        if at_end {
            st.carry.clear();
            st.switches.clear();
        } else {
            let rest = buf.get(pos..).unwrap_or(&[]);
            st.carry.extend_from_slice(rest);
            for s in st.switches.iter_mut() {
                s.0 = s.0.saturating_sub(pos);
            }
        }
    }
}

impl EsState {
    /// A packet of this PID was lost or damaged: drop what was being assembled.
    fn lose(&mut self) {
        self.collecting = false;
        self.pes.clear();
        self.aac.reset();
        self.continuable = false;
    }
}

impl Demuxer for TsDemuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    fn next_packet(&mut self) -> Result<Option<Packet>> {
        loop {
            if let Some(p) = self.out.pop_front() {
                return Ok(Some(p));
            }
            if self.eof {
                if self.flushed {
                    return Ok(None);
                }
                self.flush_all();
                self.flushed = true;
                continue;
            }
            match self.rd.next()? {
                Some(p) => self.process(&p)?,
                None => self.eof = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::aac::AdtsHeader;
    use crate::codec::bits::BitWriter;
    use std::io::Cursor;

    pub(crate) const VPID: u16 = 0x100;
    pub(crate) const APID: u16 = 0x101;
    pub(crate) const PMT_PID: u16 = 0x1000;

    /// Writes TS packets with per-PID continuity counters.
    pub(crate) struct W {
        pub out: Vec<u8>,
        cc: Vec<u8>,
        /// Put a PCR adaptation field on every packet of this PID.
        pub pcr_pid: Option<u16>,
    }

    impl W {
        pub fn new() -> W {
            W { out: Vec::new(), cc: vec![0; 8192], pcr_pid: None }
        }
        /// One packet; `af` is the adaptation field body (after the length byte).
        pub fn packet(&mut self, pid: u16, pusi: bool, af: Option<&[u8]>, payload: &[u8]) {
            let mut p = vec![0x47, ((pusi as u8) << 6) | (pid >> 8) as u8, pid as u8, 0];
            let afc = match (af.is_some(), !payload.is_empty()) {
                (true, true) => 3,
                (true, false) => 2,
                _ => 1,
            };
            let cc = self.cc[pid as usize];
            if afc & 1 != 0 {
                self.cc[pid as usize] = (cc + 1) & 15;
            }
            p[3] = (afc << 4) | cc;
            if let Some(af) = af {
                p.push(af.len() as u8);
                p.extend_from_slice(af);
            }
            p.extend_from_slice(payload);
            assert_eq!(p.len(), 188, "test packet size");
            self.out.extend_from_slice(&p);
        }
        /// An adaptation-field-only packet (CC not incremented).
        pub fn af_only(&mut self, pid: u16) {
            let mut af = vec![0x00];
            af.resize(183, 0xff);
            self.packet(pid, false, Some(&af), &[]);
        }
        pub fn psi(&mut self, pid: u16, section: &[u8]) {
            let mut pl = vec![0u8];
            pl.extend_from_slice(section);
            pl.resize(184, 0xff);
            self.packet(pid, true, None, &pl);
        }
        /// A PES split over packets, the last one padded with adaptation-field stuffing.
        pub fn pes(&mut self, pid: u16, sid: u8, pts: Option<u64>, dts: Option<u64>, data: &[u8], bounded: bool) {
            let mut opt = Vec::new();
            let flags = match (pts, dts) {
                (Some(p), Some(d)) => {
                    opt.extend_from_slice(&encode_pts(3, p));
                    opt.extend_from_slice(&encode_pts(1, d));
                    0xc0
                }
                (Some(p), None) => {
                    opt.extend_from_slice(&encode_pts(2, p));
                    0x80
                }
                _ => 0,
            };
            let mut pes = vec![0, 0, 1, sid, 0, 0, 0x80, flags, opt.len() as u8];
            pes.extend_from_slice(&opt);
            pes.extend_from_slice(data);
            if bounded {
                let l = (pes.len() - 6) as u16;
                pes[4..6].copy_from_slice(&l.to_be_bytes());
            }
            let mut pos = 0;
            let mut first = true;
            while pos < pes.len() {
                let rest = pes.len() - pos;
                let mut af: Option<Vec<u8>> = None;
                if self.pcr_pid == Some(pid) {
                    let mut a = vec![0x10];
                    a.extend_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x7e, 0x00]);
                    af = Some(a);
                }
                let room = 184 - af.as_ref().map(|a| a.len() + 1).unwrap_or(0);
                let n = rest.min(room);
                if n < room {
                    // stuffing: grow the adaptation field to fill the packet
                    let a = af.get_or_insert_with(Vec::new);
                    let total = 183 - n; // af body length
                    if total > 0 && a.is_empty() {
                        a.push(0x00);
                    }
                    a.resize(total, 0xff);
                }
                self.packet(pid, first, af.as_deref(), &pes[pos..pos + n]);
                pos += n;
                first = false;
            }
        }
    }

    pub(crate) fn section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
        let len = 5 + body.len() + 4;
        let mut s = vec![table_id, 0xb0 | (len >> 8) as u8, len as u8];
        s.extend_from_slice(&id.to_be_bytes());
        s.extend_from_slice(&[0xc1, 0, 0]);
        s.extend_from_slice(body);
        let crc = crc32_mpeg2(&s);
        s.extend_from_slice(&crc.to_be_bytes());
        s
    }
    pub(crate) fn pat(pmt_pid: u16) -> Vec<u8> {
        section(0, 1, &[0, 1, 0xe0 | (pmt_pid >> 8) as u8, pmt_pid as u8])
    }
    pub(crate) fn pmt(streams: &[(u8, u16, &[u8])]) -> Vec<u8> {
        let mut b = vec![0xe0 | (VPID >> 8) as u8, VPID as u8, 0xf0, 0];
        for (t, pid, d) in streams {
            b.push(*t);
            b.extend_from_slice(&[0xe0 | (pid >> 8) as u8, *pid as u8, 0xf0, d.len() as u8]);
            b.extend_from_slice(d);
        }
        section(2, 1, &b)
    }

    fn ue(w: &mut BitWriter, v: u32) {
        let lz = 31 - (v + 1).leading_zeros();
        w.write(lz, 0);
        w.write(lz + 1, v + 1);
    }
    /// A Baseline SPS for 160x120 (160x128 macroblocks, 8 lines cropped).
    pub(crate) fn sps() -> Vec<u8> {
        let mut w = BitWriter::new();
        w.write(8, 66);
        w.write(8, 0xc0);
        w.write(8, 30);
        ue(&mut w, 0); // sps id
        ue(&mut w, 0); // log2_max_frame_num_minus4
        ue(&mut w, 2); // poc type
        ue(&mut w, 1); // max_num_ref_frames
        w.write(1, 0);
        ue(&mut w, 9);
        ue(&mut w, 7);
        w.write(1, 1); // frame_mbs_only
        w.write(1, 1); // direct_8x8
        w.write(1, 1); // cropping
        ue(&mut w, 0);
        ue(&mut w, 0);
        ue(&mut w, 0);
        ue(&mut w, 4);
        w.write(1, 0); // vui
        w.write(1, 1); // stop bit
        let mut v = vec![0x67];
        v.extend_from_slice(&w.finish());
        v
    }
    pub(crate) const PPS: [u8; 4] = [0x68, 0xce, 0x38, 0x80];

    pub(crate) fn au(k: usize, idr: bool, size: usize) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 1, 0x09, 0xf0];
        if idr {
            h264::push_annexb(&mut v, &sps());
            h264::push_annexb(&mut v, &PPS);
        }
        let mut slice = vec![if idr { 0x65 } else { 0x41 }];
        slice.extend((0..size).map(|j| ((k * 31 + j * 7) % 200 + 1) as u8));
        h264::push_annexb(&mut v, &slice);
        v
    }
    pub(crate) fn adts_frame(k: usize, payload: usize) -> Vec<u8> {
        let mut v = AdtsHeader::write(&AudioConfig::lc(48000, 2), payload).to_vec();
        v.extend((0..payload).map(|j| ((k * 13 + j * 3) % 200 + 20) as u8));
        v
    }

    pub(crate) fn demux_bytes(b: Vec<u8>) -> Result<(Vec<StreamInfo>, Vec<Packet>)> {
        let mut d = TsDemuxer::from_reader(Cursor::new(b))?;
        let mut pk = Vec::new();
        while let Some(p) = d.next_packet()? {
            pk.push(p);
        }
        Ok((d.streams().to_vec(), pk))
    }

    const T0: u64 = 126_000;

    /// (stream, pts, dts, keyframe, size, checksum) per packet: compact for assertions.
    pub(crate) fn summary(pk: &[Packet]) -> Vec<(usize, i64, i64, bool, usize, u32)> {
        pk.iter().map(|p| (p.stream, p.pts, p.dts, p.keyframe, p.data.len(), crc32_mpeg2(&p.data))).collect()
    }

    /// 10 video AUs (B-frame-like pts/dts) and 10 audio PES of 3 ADTS frames each.
    pub(crate) fn sample(w: &mut W, t0: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        w.psi(0, &pat(PMT_PID));
        w.psi(PMT_PID, &pmt(&[(0x1b, VPID, &[]), (0x0f, APID, &[0x0a, 4, b'e', b'n', b'g', 0])]));
        let mut vids = Vec::new();
        let mut auds = Vec::new();
        for k in 0..10u64 {
            let a = au(k as usize, k % 5 == 0, 900 + 37 * k as usize);
            w.pes(VPID, 0xe0, Some(t0 + (k + 1) * 3000), Some(t0 + k * 3000), &a, false);
            vids.push(a);
            if k % 3 == 1 {
                w.af_only(VPID);
            }
            let mut pes = Vec::new();
            for f in 0..3 {
                let fr = adts_frame(k as usize * 3 + f, 100 + f * 50);
                auds.push(fr[7..].to_vec());
                pes.extend_from_slice(&fr);
            }
            w.pes(APID, 0xc0, Some(t0 + k * 5760), None, &pes, true);
        }
        (vids, auds)
    }

    #[test]
    fn pts_roundtrip_and_crc() {
        for v in [0u64, 1, 90_000, (1 << 33) - 1, 0x1_2345_6789] {
            assert_eq!(parse_pts(&encode_pts(2, v)), Some(v));
        }
        assert_eq!(parse_pts(&[0x21, 0, 1, 0]), None);
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
        assert_eq!(unwrap_pts(10, PTS_WRAP - 10), PTS_WRAP + 10);
        assert_eq!(unwrap_pts((PTS_WRAP - 10) as u64, 10), -10);
        assert_eq!(unwrap_pts(5000, 3000 + 3 * PTS_WRAP), 5000 + 3 * PTS_WRAP);
    }

    #[test]
    fn packet_view() {
        let mut w = W::new();
        w.pcr_pid = Some(VPID);
        w.pes(VPID, 0xe0, Some(1), None, &[1, 2, 3], false);
        let p = TsPacket::parse(&w.out).unwrap();
        assert_eq!((p.pid(), p.pusi(), p.cc(), p.afc()), (VPID, true, 0, 3));
        assert_eq!(p.pcr(), Some((0x12345678u64 << 1) * 300));
        assert_eq!(p.payload().unwrap().len(), 3 + 14);
        assert!(TsPacket::parse(&w.out[1..]).is_none());
        assert!(TsPacket::parse(&w.out[..100]).is_none());
    }

    #[test]
    fn demuxes_video_and_audio() {
        let mut w = W::new();
        let (vids, auds) = sample(&mut w, T0);
        let (st, pk) = demux_bytes(w.out).unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].codec, Codec::H264);
        assert_eq!((st[0].width, st[0].height, st[0].id, st[0].timebase), (160, 120, VPID as u32, 90_000));
        let cfg = AvcConfig::parse(&st[0].config).unwrap();
        assert_eq!(cfg.sps, vec![sps()]);
        assert_eq!(cfg.pps, vec![PPS.to_vec()]);
        assert_eq!(st[1].codec, Codec::Aac);
        assert_eq!(&st[1].config[..], &[0x11, 0x90]);
        assert_eq!((st[1].sample_rate, st[1].channels), (48000, 2));
        assert_eq!(st[1].language.as_deref(), Some("eng"));

        let v: Vec<_> = pk.iter().filter(|p| p.stream == 0).collect();
        let a: Vec<_> = pk.iter().filter(|p| p.stream == 1).collect();
        assert_eq!(v.len(), 10);
        assert_eq!(a.len(), 30);
        // File order: a video PES is complete when the next one starts; audio PES (with a
        // PES_packet_length) as soon as their last byte arrives.
        let order: Vec<usize> = pk.iter().take(8).map(|p| p.stream).collect();
        assert_eq!(order, [1, 1, 1, 0, 1, 1, 1, 0]);
        for (k, p) in v.iter().enumerate() {
            assert_eq!(&p.data[..], &vids[k][..], "video AU {k}");
            assert_eq!(p.dts, (T0 + k as u64 * 3000) as i64);
            assert_eq!(p.pts, (T0 + (k as u64 + 1) * 3000) as i64);
            assert_eq!(p.keyframe, k % 5 == 0);
        }
        for (k, p) in a.iter().enumerate() {
            assert_eq!(&p.data[..], &auds[k][..], "audio frame {k}");
            assert_eq!(p.pts, T0 as i64 + k as i64 * 1920);
            assert_eq!((p.dts, p.duration, p.keyframe), (p.pts, 1920, true));
        }
    }

    #[test]
    fn pcr_adaptation_fields_and_m2ts_and_junk() {
        let mut w = W::new();
        w.pcr_pid = Some(VPID);
        let (vids, _) = sample(&mut w, T0);
        let (_, base) = demux_bytes(w.out.clone()).unwrap();
        assert_eq!(base.iter().filter(|p| p.stream == 0).count(), vids.len());
        assert_eq!(base.iter().find(|p| p.stream == 0).unwrap().data, Bytes::from(vids[0].clone()));
        // M2TS: 4-byte prefix per packet.
        let m2ts: Vec<u8> = w.out.chunks(188).flat_map(|c| [0x00, 0x11, 0x22, 0x33].iter().chain(c).copied()).collect();
        assert!(probe(&m2ts));
        assert_eq!(summary(&demux_bytes(m2ts).unwrap().1), summary(&base));
        // 204-byte packets.
        let rs: Vec<u8> = w.out.chunks(188).flat_map(|c| c.iter().copied().chain([0x47u8; 16])).collect();
        assert_eq!(summary(&demux_bytes(rs).unwrap().1), summary(&base));
        // Junk (with sync-looking bytes) before the first packet.
        let mut junk: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
        junk.extend_from_slice(&w.out);
        assert!(!probe(&junk));
        assert_eq!(summary(&demux_bytes(junk).unwrap().1), summary(&base));
        // Junk in the middle (a partial packet), after the PMT.
        let mut mid = w.out[..188 * 5].to_vec();
        mid.extend_from_slice(&[0x47, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        mid.extend_from_slice(&w.out[188 * 5..]);
        assert_eq!(summary(&demux_bytes(mid).unwrap().1), summary(&base));
    }

    #[test]
    fn pts_rollover_is_unwrapped() {
        let mut w = W::new();
        let t0 = (1u64 << 33) - 4 * 3000 - 50;
        w.psi(0, &pat(PMT_PID));
        w.psi(PMT_PID, &pmt(&[(0x1b, VPID, &[]), (0x0f, APID, &[])]));
        for k in 0..10u64 {
            w.pes(VPID, 0xe0, Some(t0 + (k + 1) * 3000), Some(t0 + k * 3000), &au(k as usize, k == 0, 300), false);
            w.pes(APID, 0xc0, Some(t0 + 10 + k * 1920), None, &adts_frame(k as usize, 100), true);
        }
        let (_, pk) = demux_bytes(w.out).unwrap();
        let v: Vec<_> = pk.iter().filter(|p| p.stream == 0).collect();
        let a: Vec<_> = pk.iter().filter(|p| p.stream == 1).collect();
        assert_eq!((v.len(), a.len()), (10, 10));
        for (k, p) in v.iter().enumerate() {
            assert_eq!(p.dts, (t0 + k as u64 * 3000) as i64);
            assert_eq!(p.pts, (t0 + (k as u64 + 1) * 3000) as i64);
        }
        for (k, p) in a.iter().enumerate() {
            assert_eq!(p.pts, (t0 + 10 + k as u64 * 1920) as i64);
        }
        assert!(v[9].dts > PTS_WRAP && a[9].pts > PTS_WRAP);
    }

    #[test]
    fn adts_split_across_pes_and_garbage() {
        let mut es = Vec::new();
        let mut starts = Vec::new();
        let mut raws = Vec::new();
        for k in 0..40 {
            starts.push(es.len());
            let f = adts_frame(k, 90 + (k * 17) % 300);
            raws.push(f[7..].to_vec());
            es.extend_from_slice(&f);
        }
        let t0 = 900_000u64;
        let mut w = W::new();
        w.psi(0, &pat(PMT_PID));
        w.psi(PMT_PID, &pmt(&[(0x0f, APID, &[])]));
        // Garbage (including a false syncword) before the first frame of the first PES.
        let garbage = [0u8, 0x12, 0xff, 0xf1, 0x50, 0x80, 0x3f, 0xff, 0xfc, 0xff, 0x00];
        let mut pos = 0;
        let mut chunk = 333;
        while pos < es.len() {
            let end = (pos + chunk).min(es.len());
            let first = starts.iter().position(|&s| s >= pos && s < end);
            let pts = first.map(|k| t0 + rescale(k as i64 * 1024, 48000, 90000) as u64);
            let mut data = Vec::new();
            if pos == 0 {
                data.extend_from_slice(&garbage);
            }
            data.extend_from_slice(&es[pos..end]);
            w.pes(APID, 0xc0, pts, None, &data, pos % 2 == 0);
            pos = end;
            chunk = if chunk == 333 { 97 } else { 333 };
        }
        let (st, pk) = demux_bytes(w.out).unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(pk.len(), 40);
        for (k, p) in pk.iter().enumerate() {
            assert_eq!(&p.data[..], &raws[k][..], "frame {k}");
            assert_eq!(p.pts, t0 as i64 + rescale(k as i64 * 1024, 48000, 90000), "frame {k}");
        }
    }

    #[test]
    fn lost_packet_drops_only_that_pes() {
        let mut w = W::new();
        let (vids, auds) = sample(&mut w, T0);
        let pk_of = |b: &[u8]| TsPacket::parse(b).map(|p| (p.pid(), p.pusi())).unwrap();
        let pkts: Vec<&[u8]> = w.out.chunks(188).collect();
        // Drop the 3rd packet of the 4th video PES and the 2nd packet of the 6th audio PES.
        let mut vstarts = 0;
        let mut astarts = 0;
        let mut since = 0;
        let mut cur = 0u16;
        let mut out = Vec::new();
        for p in pkts {
            let (pid, pusi) = pk_of(p);
            if pusi && pid == VPID {
                vstarts += 1;
                cur = VPID;
                since = 0;
            } else if pusi && pid == APID {
                astarts += 1;
                cur = APID;
                since = 0;
            }
            if pid == cur {
                since += 1;
            }
            if (pid == VPID && vstarts == 4 && since == 3) || (pid == APID && astarts == 6 && since == 2) {
                continue;
            }
            out.extend_from_slice(p);
        }
        let (_, pk) = demux_bytes(out).unwrap();
        let v: Vec<_> = pk.iter().filter(|p| p.stream == 0).map(|p| p.data.to_vec()).collect();
        let a: Vec<_> = pk.iter().filter(|p| p.stream == 1).map(|p| p.data.to_vec()).collect();
        let mut ev = vids.clone();
        ev.remove(3);
        assert_eq!(v, ev);
        let mut ea = auds.clone();
        ea.drain(15..18);
        assert_eq!(a, ea);
    }

    #[test]
    fn psi_errors_and_stream_types() {
        // Nothing.
        let e = demux_bytes(Vec::new()).err().unwrap();
        assert!(e.to_string().contains("no PAT/PMT"), "{e}");
        // Null packets only.
        let mut w = W::new();
        for _ in 0..20 {
            w.packet(PID_NULL, false, None, &[0xff; 184]);
        }
        let e = demux_bytes(w.out).err().unwrap();
        assert!(matches!(e, Error::Invalid(_)) && e.to_string().contains("no PAT/PMT"), "{e}");
        // Only ID3 metadata: no media.
        let mut w = W::new();
        w.psi(0, &pat(PMT_PID));
        w.psi(PMT_PID, &pmt(&[(0x15, 0x102, &[])]));
        assert!(matches!(demux_bytes(w.out), Err(Error::NoMedia(_))));
        // Descriptor-identified private streams; other codecs are reported.
        let mut w = W::new();
        w.psi(0, &pat(PMT_PID));
        let opus: &[u8] = &[0x05, 4, b'O', b'p', b'u', b's'];
        w.psi(
            PMT_PID,
            &pmt(&[
                (0x06, 0x110, &[0x6a, 1, 0]),
                (0x06, 0x111, opus),
                (0x06, 0x112, &[0x59, 0]),
                (0x24, 0x113, &[]),
                (0x03, 0x114, &[]),
            ]),
        );
        w.pes(0x110, 0xbd, Some(1000), None, &[0x0b, 0x77, 1, 2, 3], true);
        let (st, pk) = demux_bytes(w.out).unwrap();
        let names: Vec<_> = st.iter().map(|s| s.codec.name().to_string()).collect();
        assert_eq!(names, ["ac3", "opus", "hevc", "mp3"]);
        assert_eq!(st[2].kind, MediaKind::Video);
        assert_eq!(pk.len(), 1);
        assert_eq!((pk[0].stream, pk[0].pts, &pk[0].data[..]), (0, 1000, &[0x0b, 0x77, 1, 2, 3][..]));
        // SAMPLE-AES.
        let mut w = W::new();
        w.psi(0, &pat(PMT_PID));
        w.psi(PMT_PID, &pmt(&[(0xdb, VPID, &[])]));
        assert!(matches!(demux_bytes(w.out), Err(Error::Encrypted(_))));
        // Bad CRC: PMT ignored.
        let mut w = W::new();
        w.psi(0, &pat(PMT_PID));
        let mut s = pmt(&[(0x1b, VPID, &[])]);
        let n = s.len();
        s[n - 1] ^= 1;
        w.psi(PMT_PID, &s);
        assert!(demux_bytes(w.out).is_err());
    }

    #[test]
    fn pmt_after_data_and_spanning_packets() {
        // Data before the PMT is replayed; a PMT section spanning two packets.
        let mut w = W::new();
        w.psi(0, &pat(PMT_PID));
        w.pes(APID, 0xc0, Some(5000), None, &adts_frame(0, 100), true);
        let mut big = vec![0x0a, 4, b'e', b'n', b'g', 0];
        for _ in 0..30 {
            big.extend_from_slice(&[0x80, 5, 1, 2, 3, 4, 5]);
        }
        let sec = pmt(&[(0x0f, APID, &big)]);
        assert!(sec.len() > 183);
        let mut pl = vec![0u8];
        pl.extend_from_slice(&sec);
        pl.resize(368, 0xff);
        w.packet(PMT_PID, true, None, &pl[..184]);
        w.packet(PMT_PID, false, None, &pl[184..]);
        w.pes(APID, 0xc0, Some(5000 + 1920), None, &adts_frame(1, 100), true);
        let (st, pk) = demux_bytes(w.out).unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(pk.iter().map(|p| p.pts).collect::<Vec<_>>(), [5000, 6920]);
    }

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn truncated_garbage_and_corrupt_input_never_panic() {
        let mut w = W::new();
        w.pcr_pid = Some(VPID);
        sample(&mut w, (1 << 33) - 9000);
        let full = w.out.clone();
        for cut in (0..full.len()).step_by(13) {
            match demux_bytes(full[..cut].to_vec()) {
                Ok((st, pk)) => {
                    for p in &pk {
                        assert!(p.stream < st.len());
                    }
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
        let mut seed = 42u64;
        // Random bytes, and random bytes with sync bytes every 188.
        for synced in [false, true] {
            let mut b: Vec<u8> = (0..200_000).map(|_| lcg(&mut seed) as u8).collect();
            if synced {
                for i in (0..b.len()).step_by(188) {
                    b[i] = 0x47;
                }
                // a valid PAT/PMT so the payloads get parsed
                b[..188].copy_from_slice(&full[..188]);
                b[188..376].copy_from_slice(&full[188..376]);
            }
            let _ = demux_bytes(b);
        }
        // Corrupt bytes of the valid stream.
        for _ in 0..300 {
            let mut b = full.clone();
            for _ in 0..(1 + lcg(&mut seed) % 20) {
                let i = (lcg(&mut seed) as usize) % b.len();
                b[i] = lcg(&mut seed) as u8;
            }
            if let Ok((st, pk)) = demux_bytes(b) {
                assert!(pk.iter().all(|p| p.stream < st.len()));
            }
        }
    }

    #[test]
    fn probe_accepts_ts_and_rejects_others() {
        let mut w = W::new();
        sample(&mut w, T0);
        assert!(probe(&w.out[..188 * 5]));
        assert!(probe(&w.out[..188]));
        assert!(!probe(&w.out[1..188 * 5]));
        assert!(!probe(b"ID3\x04\x00"));
        assert!(!probe(&[]));
        let mut b = w.out[..188 * 5].to_vec();
        b[376] = 0;
        assert!(!probe(&b));
    }

    fn ffmpeg_available() -> bool {
        std::path::Path::new("/usr/bin/ffmpeg").exists() && std::path::Path::new("/usr/bin/ffprobe").exists()
    }

    /// (stream_index, pts, dts, size) per packet from ffprobe.
    pub(crate) fn ffprobe_packets(path: &std::path::Path) -> Vec<(usize, Option<i64>, Option<i64>, usize)> {
        let out = std::process::Command::new("/usr/bin/ffprobe")
            .args(["-v", "error", "-show_entries", "packet=stream_index,pts,dts,size", "-of", "csv=p=0"])
            .arg(path)
            .output()
            .expect("ffprobe");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                Some((
                    f.first()?.parse().ok()?,
                    f.get(1)?.parse().ok(),
                    f.get(2)?.parse().ok(),
                    f.get(3)?.parse().ok()?,
                ))
            })
            .collect()
    }

    #[test]
    fn matches_ffprobe_on_x264_aac() {
        if !ffmpeg_available() {
            eprintln!("skipped: /usr/bin/ffmpeg or ffprobe not installed");
            return;
        }
        let dir = std::env::temp_dir().join(format!("stitch-ts-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ts = dir.join("out.ts");
        let st = std::process::Command::new("/usr/bin/ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1"])
            .args(["-c:v", "libx264", "-bf", "3", "-g", "12", "-c:a", "aac"])
            .arg(&ts)
            .status()
            .unwrap();
        assert!(st.success());
        let expect = ffprobe_packets(&ts);
        let mut d = TsDemuxer::open(&ts).unwrap();
        let streams = d.streams().to_vec();
        let mut got = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            got.push(p);
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(streams.len(), 2);
        let vi = streams.iter().position(|s| s.codec == Codec::H264).unwrap();
        let ai = streams.iter().position(|s| s.codec == Codec::Aac).unwrap();
        assert_eq!((streams[vi].width, streams[vi].height), (160, 120));
        assert_eq!((streams[ai].sample_rate, streams[ai].channels), (48000, 1));
        // ffprobe's stream indices follow the PMT order as ours do.
        for s in [vi, ai] {
            let e: Vec<_> = expect.iter().filter(|p| p.0 == s).map(|p| (p.1.unwrap(), p.2.unwrap())).collect();
            let g: Vec<_> = got.iter().filter(|p| p.stream == s).map(|p| (p.pts, p.dts)).collect();
            assert_eq!(g.len(), e.len(), "stream {s} packet count");
            assert_eq!(g, e, "stream {s} pts/dts");
        }
        assert_eq!(got.iter().filter(|p| p.stream == vi && p.keyframe).count(), 3);
    }

    /// (*.ts and *rollover* files in the corpus, manifest OK set)
    pub(crate) fn corpus_files(ext: &str) -> Vec<(std::path::PathBuf, bool)> {
        let root = std::path::Path::new("/work/shared/corpus");
        let manifest = std::fs::read_to_string(root.join("MANIFEST.tsv")).unwrap_or_default();
        let ok: Vec<String> = manifest
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.get(9) == Some(&"OK")).then(|| f[0].to_string())
            })
            .collect();
        let mut files = Vec::new();
        for dir in ["media", "m3u8/shaka__hls-ts-rollover"] {
            let Ok(rd) = std::fs::read_dir(root.join(dir)) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().and_then(|e| e.to_str()) == Some(ext) {
                    let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                    let is_ok = ok.contains(&rel) || rel.starts_with("m3u8/");
                    files.push((p, is_ok));
                }
            }
        }
        files.sort();
        files
    }

    #[test]
    fn corpus_ts_files() {
        let files = corpus_files("ts");
        if files.is_empty() {
            eprintln!("skipped: no corpus");
            return;
        }
        for (path, ok) in files {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let head = std::fs::read(&path).unwrap();
            let opened: Result<Box<dyn Demuxer>> = if !probe(&head) && crate::demux::adts::probe(&head) {
                crate::demux::adts::AdtsDemuxer::open(&path).map(|d| Box::new(d) as Box<dyn Demuxer>)
            } else {
                TsDemuxer::open(&path).map(|d| Box::new(d) as Box<dyn Demuxer>)
            };
            let mut d = match opened {
                Ok(d) => d,
                Err(e) => {
                    println!("{name}: open error: {e}");
                    assert!(!ok, "{name} is listed OK but failed: {e}");
                    continue;
                }
            };
            let st = d.streams().to_vec();
            let mut counts = vec![0usize; st.len()];
            let mut last: Vec<Option<i64>> = vec![None; st.len()];
            let mut mono = vec![true; st.len()];
            let mut err = None;
            loop {
                match d.next_packet() {
                    Ok(Some(p)) => {
                        counts[p.stream] += 1;
                        if let Some(l) = last[p.stream] {
                            if p.dts <= l {
                                mono[p.stream] = false;
                            }
                        }
                        last[p.stream] = Some(p.dts);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        err = Some(e.to_string());
                        break;
                    }
                }
            }
            let desc: Vec<String> = st
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    format!(
                        "{}{}:{}pk{}",
                        s.codec.name(),
                        if s.width > 0 {
                            format!(" {}x{}", s.width, s.height)
                        } else if s.sample_rate > 0 {
                            format!(" {}Hz/{}", s.sample_rate, s.channels)
                        } else {
                            String::new()
                        },
                        counts[i],
                        if mono[i] { "" } else { " NON-MONOTONIC" }
                    )
                })
                .collect();
            println!(
                "{name}: {} [{}]{}",
                if ok { "OK" } else { "--" },
                desc.join(", "),
                err.map(|e| format!(" error: {e}")).unwrap_or_default()
            );
            if ok {
                for (i, s) in st.iter().enumerate() {
                    if matches!(s.codec, Codec::H264 | Codec::Aac) {
                        assert!(counts[i] > 0, "{name}: stream {i} has no packets");
                        assert!(mono[i], "{name}: stream {i} dts not monotonic");
                        assert!(!s.config.is_empty(), "{name}: stream {i} has no config");
                    }
                }
            }
        }
    }
    #[test]
    fn corpus_ok_files_match_ffprobe() {
        if !ffmpeg_available() {
            eprintln!("skipped: ffprobe not installed");
            return;
        }
        for (path, ok) in corpus_files("ts") {
            let head = std::fs::read(&path).unwrap();
            if !ok || !probe(&head) {
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let (st, pk) = demux_bytes(head).unwrap();
            let expect = ffprobe_packets(&path);
            // Same origin for both: the first dts of the file (ffprobe may shift by 2^33).
            let e0 = expect.iter().filter_map(|p| p.2.or(p.1)).min().unwrap();
            let g0 = pk.iter().map(|p| p.dts).min().unwrap();
            let mut mismatches = 0;
            for (i, s) in st.iter().enumerate() {
                let e: Vec<_> = expect.iter().filter(|p| p.0 == i).map(|p| p.1.map(|v| v - e0)).collect();
                let g: Vec<_> = pk.iter().filter(|p| p.stream == i).map(|p| Some(p.pts - g0)).collect();
                // ffmpeg accumulates rounded AAC frame durations; we rescale sample counts
                // from the PES pts, so audio may differ by one 90 kHz tick.
                let tol = if s.kind == MediaKind::Audio { 1 } else { 0 };
                // Sizes: ffmpeg keeps the ADTS header (7 or 9 bytes) in AAC packets.
                let es: Vec<_> = expect.iter().filter(|p| p.0 == i).map(|p| p.3).collect();
                let gs: Vec<_> = pk.iter().filter(|p| p.stream == i).map(|p| p.data.len()).collect();
                let size_ok = es.iter().zip(&gs).all(|(e, g)| match s.codec {
                    Codec::Aac => *e == g + 7 || *e == g + 9,
                    _ => e == g,
                });
                if matches!(s.codec, Codec::H264 | Codec::Aac) {
                    assert!(size_ok, "{name} stream {i}: packet sizes differ from ffprobe");
                }
                let same = e
                    .iter()
                    .zip(&g)
                    .filter(|(a, b)| match (a, b) {
                        (Some(a), Some(b)) => (a - b).abs() <= tol,
                        _ => false,
                    })
                    .count();
                println!(
                    "{name} stream {i} {}: ffprobe {} packets, ours {}, {} pts equal (±{tol})",
                    s.codec.name(),
                    e.len(),
                    g.len(),
                    same
                );
                if e.len() != g.len() || same != e.len() {
                    mismatches += 1;
                }
            }
            assert_eq!(mismatches, 0, "{name} differs from ffprobe");
        }
    }

    #[test]
    fn demuxers_are_send() {
        fn send<T: Send>() {}
        send::<TsDemuxer>();
        send::<crate::demux::adts::AdtsDemuxer>();
    }

    #[test]
    fn h264_access_unit_split_across_pes() {
        // AU 0 is split: its tail opens the PES of AU 1 (with AU 1's PTS), and AU 1's tail
        // comes in a PES without PTS. AU 2 is whole.
        let a0 = au(0, true, 500);
        let a1 = au(1, false, 400);
        let a2 = au(2, false, 300);
        let mut w = W::new();
        w.psi(0, &pat(PMT_PID));
        w.psi(PMT_PID, &pmt(&[(0x1b, VPID, &[])]));
        w.pes(VPID, 0xe0, Some(3000), None, &a0[..300], false);
        let mut p1 = a0[300..].to_vec();
        p1.extend_from_slice(&a1[..200]);
        w.pes(VPID, 0xe0, Some(6000), None, &p1, false);
        w.pes(VPID, 0xe0, None, None, &a1[200..], false);
        w.pes(VPID, 0xe0, Some(9000), None, &a2, false);
        let (st, pk) = demux_bytes(w.out).unwrap();
        assert_eq!((st[0].width, st[0].height), (160, 120));
        let got: Vec<_> = pk.iter().map(|p| (p.pts, p.keyframe, p.data.to_vec())).collect();
        assert_eq!(got, vec![(3000, true, a0), (6000, false, a1), (9000, false, a2)]);
    }

    /// Hands out 1 to 7 bytes per read: exercises incremental buffering and resync.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = (self.1 % 7 + 1).min(buf.len()).min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    #[test]
    fn streaming_reader_gives_the_same_packets() {
        let mut w = W::new();
        sample(&mut w, T0);
        let mut input = vec![0x47u8, 0, 0x47, 1, 2]; // junk first
        input.extend_from_slice(&w.out);
        let (_, base) = demux_bytes(w.out.clone()).unwrap();
        let mut d = TsDemuxer::from_reader(Trickle(input, 0)).unwrap();
        let mut pk = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            pk.push(p);
        }
        assert_eq!(summary(&pk), summary(&base));
    }
}
