//! MPEG-2 transport stream primitives (ISO/IEC 13818-1, "Systems"), shared by the TS
//! demuxer ([`crate::demux::ts`]), the TS muxer ([`crate::mux::ts`]) and the segment
//! joiner ([`crate::remux::tsjoin`]): one implementation of each.
//!
//! - §2.4.3.2 transport packet header: [`TsPacket`] (read), [`packet_header`] (write),
//!   [`packet_pid`], [`payload_offset`]; §2.4.3.3 continuity counters: [`ContinuityFixer`].
//! - §2.4.3.4/§2.4.3.5 adaptation field and program clock reference: [`TsPacket::pcr`],
//!   [`pcr_field`], [`pcr_field_base`], [`set_pcr_field_base`].
//! - §2.4.3.6/§2.4.3.7 PES header and its 33-bit PTS/DTS: [`PesHeader`], [`parse_pts`],
//!   [`encode_pts`]; arithmetic modulo 2^33: [`wrap_add`], [`wrap_diff`], [`unwrap_pts`].
//! - §2.4.4 program specific information: [`Pat`], [`Pmt`], [`descriptors`] (§2.6),
//!   [`long_section`] (§2.4.4.10) and [`crc32_mpeg2`] (Annex A).

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
    /// The 13-bit PID (packet identifier) naming the stream or table the packet belongs to.
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
    /// True when adaptation_field_control says a payload follows (values 1 and 3).
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
    /// Program clock reference (ISO/IEC 13818-1 §2.4.3.5) in 27 MHz ticks (base * 300 +
    /// extension), if the adaptation field carries one.
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

/// Encode a PTS/DTS field of a PES header (ISO/IEC 13818-1 §2.4.3.7): `prefix` is the 4-bit
/// code (0b0010 PTS only, 0b0011 PTS of a PTS+DTS pair, 0b0001 DTS); `ts` is taken mod 2^33.
/// Marker bits are set.
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
    /// stream_id: 0xE0-0xEF video, 0xC0-0xDF MPEG audio, 0xBD private stream 1, ...
    pub stream_id: u8,
    /// PES_packet_length: bytes after this field; 0 = unbounded (video only).
    pub packet_length: u16,
    /// The 33-bit PTS in 90 kHz ticks, when the header has one.
    pub pts: Option<u64>,
    /// The 33-bit DTS in 90 kHz ticks, when the header has one (only together with a PTS).
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

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 { (c << 1) ^ 0x04c1_1db7 } else { c << 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}
static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32/MPEG-2 (ISO/IEC 13818-1 Annex A): polynomial 0x04C11DB7, initial value
/// 0xFFFFFFFF, no reflection, no final xor. A section including its CRC_32 gives 0.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc = (crc << 8) ^ CRC_TABLE[((crc >> 24) as u8 ^ b) as usize];
    }
    crc
}

/// Check the common long-form section header of a PSI table (ISO/IEC 13818-1 §2.4.4.10:
/// table_id, section_syntax_indicator, section_length, current_next_indicator) and its CRC_32
/// (Annex A); return the table id extension, version_number and the body (after
/// last_section_number, before CRC_32).
pub(crate) fn section_body<'a>(sec: &'a [u8], table_id: u8, what: &str) -> Result<(u16, u8, &'a [u8])> {
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

/// Program Association Table (ISO/IEC 13818-1 §2.4.4.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pat {
    /// transport_stream_id of the section header.
    pub transport_stream_id: u16,
    /// version_number (0..=31), which changes when the table changes.
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
    /// stream_type (ISO/IEC 13818-1 Table 2-34): 0x1B H.264, 0x0F AAC in ADTS, ...
    pub stream_type: u8,
    /// elementary_PID: the PID of the stream's packets.
    pub pid: u16,
    /// ES_info descriptors, raw (iterate with [`descriptors`]).
    pub descriptors: Vec<u8>,
}

/// Program Map Table (ISO/IEC 13818-1 §2.4.4.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pmt {
    /// program_number the table describes.
    pub program_number: u16,
    /// version_number (0..=31), which changes when the table changes.
    pub version: u8,
    /// PCR_PID: the PID whose adaptation fields carry the program's clock (0x1FFF: none).
    pub pcr_pid: u16,
    /// program_info descriptors, raw.
    pub descriptors: Vec<u8>,
    /// The elementary streams, in table order.
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

/// Unwrap a 33-bit timestamp to the value nearest `reference` (which may be beyond 2^33).
pub fn unwrap_pts(raw: u64, reference: i64) -> i64 {
    let raw = (raw & (PTS_WRAP as u64 - 1)) as i64;
    let mut d = (raw - reference).rem_euclid(PTS_WRAP);
    if d >= PTS_WRAP / 2 {
        d -= PTS_WRAP;
    }
    reference.saturating_add(d)
}

/// `a - b` for two 33-bit timestamps, in (-2^32, 2^32].
pub fn wrap_diff(a: u64, b: u64) -> i64 {
    let d = ((a & (PTS_WRAP as u64 - 1)) as i64 - (b & (PTS_WRAP as u64 - 1)) as i64).rem_euclid(PTS_WRAP);
    if d > PTS_WRAP / 2 {
        d - PTS_WRAP
    } else {
        d
    }
}

/// `a + off` modulo 2^33.
pub fn wrap_add(a: u64, off: i64) -> u64 {
    ((a & (PTS_WRAP as u64 - 1)) as i64 + off.rem_euclid(PTS_WRAP)).rem_euclid(PTS_WRAP) as u64
}

/// The 4-byte header of a transport packet (ISO/IEC 13818-1 §2.4.3.2): sync byte, no transport error, no
/// priority, `pusi`, 13-bit `pid`, not scrambled, adaptation_field_control `afc` (1 payload,
/// 2 adaptation field, 3 both), `cc` (low 4 bits).
pub fn packet_header(pusi: bool, pid: u16, afc: u8, cc: u8) -> [u8; 4] {
    [SYNC_BYTE, if pusi { 0x40 } else { 0 } | ((pid >> 8) as u8 & 0x1f), pid as u8, ((afc & 3) << 4) | (cc & 0x0f)]
}

/// The PID of a raw packet (at least 3 bytes; the sync byte is not checked).
pub fn packet_pid(p: &[u8]) -> u16 {
    ((p[1] as u16 & 0x1f) << 8) | p[2] as u16
}

/// Where the payload of a raw 188-byte packet starts, if it has one and its adaptation
/// field fits (may be 188: an empty payload).
pub fn payload_offset(p: &[u8]) -> Option<usize> {
    match (p[3] >> 4) & 3 {
        1 => Some(4),
        3 => {
            let s = 5 + p[4] as usize;
            (s <= TS_PACKET_SIZE).then_some(s)
        }
        _ => None,
    }
}

/// The 90 kHz base of a 6-byte PCR/OPCR field (ISO/IEC 13818-1 §2.4.3.5).
pub fn pcr_field_base(f: &[u8]) -> u64 {
    ((f[0] as u64) << 25) | ((f[1] as u64) << 17) | ((f[2] as u64) << 9) | ((f[3] as u64) << 1) | (f[4] as u64 >> 7)
}

/// Rewrite the 33-bit base of a 6-byte PCR/OPCR field (ISO/IEC 13818-1 §2.4.3.5), keeping its
/// reserved bits and extension.
pub fn set_pcr_field_base(f: &mut [u8], base: u64) {
    f[0] = (base >> 25) as u8;
    f[1] = (base >> 17) as u8;
    f[2] = (base >> 9) as u8;
    f[3] = (base >> 1) as u8;
    f[4] = ((base & 1) << 7) as u8 | (f[4] & 0x7f);
}

/// A 6-byte program_clock_reference field of an adaptation field (ISO/IEC 13818-1 §2.4.3.4,
/// §2.4.3.5) for a 90 kHz base (modulo 2^33): reserved bits set, extension 0.
pub fn pcr_field(base90: i64) -> [u8; 6] {
    let b = (base90 & (PTS_WRAP - 1)) as u64;
    [(b >> 25) as u8, (b >> 17) as u8, (b >> 9) as u8, (b >> 1) as u8, ((b & 1) << 7) as u8 | 0x7e, 0]
}

/// A complete long-form PSI section (ISO/IEC 13818-1 §2.4.4.10, the section_syntax_indicator = 1
/// form PAT and PMT share): header with `version` (current), `body`, CRC_32 (Annex A).
/// section_number and last_section_number are 0.
pub fn long_section(table_id: u8, id: u16, version: u8, body: &[u8]) -> Vec<u8> {
    // section_length counts from after the length field: 5 header bytes + body + CRC.
    let len = 5 + body.len() + 4;
    let mut s = Vec::with_capacity(3 + len);
    s.push(table_id);
    s.push(0xb0 | ((len >> 8) as u8 & 0x0f)); // section_syntax_indicator=1, '0', reserved '11'
    s.push(len as u8);
    s.extend_from_slice(&id.to_be_bytes());
    s.push(0xc1 | ((version & 0x1f) << 1)); // reserved '11', version_number, current_next_indicator 1
    s.push(0); // section_number
    s.push(0); // last_section_number
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// Rewrites continuity counters (ISO/IEC 13818-1 §2.4.3.3) so they run on per PID: a packet with payload
/// gets the previous value + 1 (mod 16), an adaptation-only packet repeats the previous
/// value. The first packet seen on a PID keeps its own counter. Null packets (PID 0x1fff)
/// and packets without the 0x47 sync byte are left alone.
pub struct ContinuityFixer {
    last: Box<[u8; 8192]>,
}

impl Default for ContinuityFixer {
    fn default() -> Self {
        Self::new()
    }
}

impl ContinuityFixer {
    /// A fixer that has seen no packet yet.
    pub fn new() -> Self {
        ContinuityFixer { last: Box::new([0xff; 8192]) }
    }

    /// Rewrite the continuity_counter of `pkt` in place (see the type's documentation).
    pub fn fix(&mut self, pkt: &mut [u8; 188]) {
        if pkt[0] != SYNC_BYTE {
            return;
        }
        let pid = packet_pid(pkt);
        if pid == PID_NULL {
            return;
        }
        let has_payload = (pkt[3] >> 4) & 1 == 1;
        let last = self.last[pid as usize];
        let cc = if last == 0xff {
            pkt[3] & 0x0f
        } else if has_payload {
            (last + 1) & 0x0f
        } else {
            last
        };
        pkt[3] = (pkt[3] & 0xf0) | cc;
        self.last[pid as usize] = cc;
    }
}
