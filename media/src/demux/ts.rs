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

use crate::codec::aac::{AdtsHeader, AudioConfig, FRAME_SAMPLES};
use crate::codec::h264::{self, AvcConfig, Sps};
use crate::demux::adts::{find_frame, AdtsScan};
use crate::packet::{Codec, Demuxer, MediaKind, Packet, StreamInfo};
use crate::time::{rescale, VIDEO_HZ};
use crate::{Error, Result};

pub use crate::ts::{
    crc32_mpeg2, descriptors, encode_pts, parse_pts, unwrap_pts, Pat, PesHeader, Pmt, PmtStream, TsPacket, PID_NULL,
    PID_PAT, PTS_WRAP, SYNC_BYTE, TS_PACKET_SIZE,
};

/// How much of the input `open` reads at most to find the program and stream parameters.
const READ_AHEAD_LIMIT: u64 = 4 << 20;
/// Largest PES we reassemble (a video access unit); larger ones are dropped.
const MAX_PES: usize = 16 << 20;
/// Packet strides recognised: TS, M2TS (timestamp prefix), TS with Reed-Solomon parity.
const STRIDES: [usize; 3] = [188, 192, 204];

// ---------------------------------------------------------------------------------------
// Building blocks (also for a TS muxer/remuxer)
// ---------------------------------------------------------------------------------------

/// What a PMT entry carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EsType {
    /// An audio or video stream.
    Media(MediaKind, Codec),
    /// Content encrypted with Apple SAMPLE-AES (stream_type 0xdb, 0xcf, 0xc1, 0xc2).
    SampleAes,
    /// Metadata, subtitles, data: not a stream.
    Data,
}

/// Classify a PMT entry (ISO/IEC 13818-1 §2.4.4.8) by stream_type (Table 2-34) and descriptors
/// (§2.6, e.g. the registration_descriptor; ES-level, then program-level).
pub(crate) fn classify_stream(stream_type: u8, es_descriptors: &[u8], program_descriptors: &[u8]) -> EsType {
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
                Err(e) => return Err(Error::IoUnnamed(e)),
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
    /// Feed one packet's payload; complete sections are appended to `out`. With
    /// payload_unit_start_indicator the payload begins with a pointer_field (ISO/IEC 13818-1
    /// §2.4.4.2): the bytes before the new section end the previous one.
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

    /// Move each complete section (3 header bytes + section_length, ISO/IEC 13818-1 §2.4.4)
    /// to `out`; a 0xff table_id (stuffing) or a length over 4096 ends the unit.
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

    /// Drop a partly assembled section (a damaged packet): wait for the next unit start.
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
    /// The PTS and duration (90 kHz) of the ADTS frame `header` found at `start` in the
    /// carried bytes; the sample count advanced past it.
    fn frame_timing(&mut self, start: usize, header: AdtsHeader) -> (i64, i64) {
        let rate = header.config.sample_rate;
        // Rebase on a PES start at or before this frame, or on a rate change.
        while let Some(&(at, t)) = self.switches.front() {
            if at > start {
                break;
            }
            self.base = Some(t);
            self.samples = 0;
            self.switches.pop_front();
        }
        if self.rate != rate {
            if self.rate != 0 {
                let b = self.base.unwrap_or(0);
                self.base = Some(b + rescale(self.samples, self.rate, VIDEO_HZ));
                self.samples = 0;
            }
            self.rate = rate;
        }
        let base = *self.base.get_or_insert(0);
        let n = FRAME_SAMPLES as i64 * header.blocks as i64;
        let pts = base + rescale(self.samples, rate, VIDEO_HZ);
        let duration = rescale(self.samples + n, rate, VIDEO_HZ) - rescale(self.samples, rate, VIDEO_HZ);
        self.samples += n;
        self.prev = Some(header);
        self.last_good = Some(header);
        (pts, duration)
    }

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

    /// Handle one transport packet (ISO/IEC 13818-1 §2.4.3.2): PAT sections on PID 0
    /// (§2.4.4.3), PMT sections on the first program's PMT PID (§2.4.4.8), then elementary
    /// stream packets; packets arriving before the PMT are stashed while opening.
    fn process(&mut self, p: &[u8; TS_PACKET_SIZE]) -> Result<()> {
        let Some(pkt) = TsPacket::parse(p) else {
            return Ok(());
        };
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

    /// Create the streams of a program map table (ISO/IEC 13818-1 §2.4.4.8): one per audio or
    /// video entry, language from its ISO_639_language_descriptor; data entries are skipped and
    /// SAMPLE-AES ones are an error.
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
            info.start = None; // PTS is a free-running 90 kHz clock (ISO/IEC 13818-1 2.4.3.7)
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

    /// Add one transport packet of stream `i` to its PES packet (ISO/IEC 13818-1 §2.4.3.6):
    /// payload_unit_start_indicator starts a new one; continuity_counter gaps (§2.4.3.3, unless
    /// discontinuity_indicator is set) lose it, a repeated counter is a duplicate; a PES whose
    /// PES_packet_length is reached is handed on at once. Scrambled payloads are an error.
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
        let Some(payload) = pkt.payload() else {
            return Ok(());
        };
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
                    let (pts, duration) = st.frame_timing(start, header);
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
#[path = "tests/ts.rs"]
mod tests;
