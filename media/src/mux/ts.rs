//! MPEG-2 Transport Stream muxer (ISO/IEC 13818-1, "Systems"), for H.264 video
//! (ITU-T H.264 Annex B byte stream, stream_type 0x1b) and AAC audio in ADTS framing
//! (ISO/IEC 13818-7 / 14496-3, stream_type 0x0f). One program, constant-offset timing in
//! the style of FFmpeg's `mpegts` muxer.
//!
//! # Layout written
//! - 188-byte packets, sync byte 0x47 (§2.4.3.2). No null packets, no SDT.
//! - **PAT** on PID 0: transport_stream_id 1, one program (number 1) whose PMT is on PID
//!   [`PMT_PID`] (0x1000). **PMT**: PCR_PID = the video PID when there is video, else the
//!   first audio PID; one entry per stream, video first. An `ISO_639_language_descriptor`
//!   (tag 0x0a) is added for streams whose [`StreamInfo::language`] is three ASCII letters.
//!   Sections carry a CRC-32/MPEG-2 ([`crc32_mpeg2`]); the rest of a PSI packet is 0xff.
//!   PAT+PMT are written before the first PES, before every video keyframe PES, and before
//!   any PES whose DTS is 100 ms or more past the latest DTS at which they were written.
//! - PIDs: video [`VIDEO_PID`] (0x100, PES stream_id 0xe0); audio streams [`AUDIO_PID`]
//!   (0x101), 0x102, ... in the order they are given (stream_id 0xc0, 0xc1, ...). At most
//!   one video and [`MAX_AUDIO_STREAMS`] audio streams.
//! - **PES** (§2.4.3.6): data_alignment_indicator set, PTS always, DTS only when it differs
//!   from the PTS. PES_packet_length is exact when it fits in 16 bits; a larger video PES
//!   uses 0 (unbounded, allowed for video only). A PES always starts a TS packet
//!   (payload_unit_start_indicator) and its last TS packet is filled with adaptation-field
//!   stuffing, never with padding inside the payload.
//! - **Video** access units: an access unit delimiter (`00 00 00 01 09 f0`) is prepended
//!   when the AU does not start with one; before a keyframe whose data has no SPS, the SPS
//!   and PPS of the avcC record in [`StreamInfo::config`] are inserted right after the AUD
//!   (when the config is empty the parameter sets must be in-band). One AU per PES.
//! - **Audio**: each raw AAC access unit gets a 7-byte ADTS header (HE-AAC is signalled
//!   implicitly: profile LC, core sampling rate, as ADTS requires). Consecutive frames of a
//!   stream are grouped into one PES (PTS = first frame's) while they are contiguous in
//!   time, up to [`MAX_AUDIO_FRAMES_PER_PES`] frames / [`MAX_AUDIO_PES_PAYLOAD`] bytes; a
//!   group is written as soon as a video AU with DTS >= the group's PTS arrives (so the TS
//!   stays interleaved by time) or when the next frame does not fit it. At
//!   [`TsWriter::finish`] the frames still pending are written one per PES, so the stream's
//!   last frames carry their own PTS (tools such as ffprobe estimate a TS stream's duration
//!   from the PTS of its last PES). When audio carries the PCR (no video) each frame gets
//!   its own PES.
//! - **Timing**: every PTS/DTS is converted to 90 kHz ([`crate::time::rescale`]) and shifted
//!   by [`TS_OFFSET`] (126000 = 1.4 s, FFmpeg's default), so inputs down to -1.4 s (decoder
//!   priming, B-frame DTS) stay non-negative; earlier inputs are rejected. Values are written
//!   modulo 2^33. DTS must not decrease within a stream and PTS must not precede DTS.
//! - **PCR** (27 MHz, extension always 0) = (DTS - [`PCR_DELAY`]) * 300 (0.7 s of decoder
//!   buffering), clamped at 0 and never decreasing. It is carried in the adaptation field of
//!   the first TS packet of every PES on the PCR PID (together with random_access_indicator
//!   on keyframe / audio PES starts). Rule for the interval: at each *clock point* of another
//!   PID (the start of an audio PES and the start of every further audio frame grouped in
//!   it) whose time minus 0.7 s is 40 ms or more past the last PCR (or when no PCR was sent
//!   yet), an adaptation-only packet carrying a PCR is inserted on the PCR PID just before
//!   the TS packet holding that point. Hence: video of >= 25 fps gives PCRs <= 40 ms apart
//!   from its PES alone; sparser video (slides, VFR screen captures) is bridged by the audio,
//!   giving <= 40 ms + one audio frame (~61 ms at 48 kHz, within the 100 ms of §2.7.2). A
//!   lone sparse video stream (or audio of frames > 40 ms, < 24 kHz) has PCRs only as often
//!   as its PES. The PCR preceding a PES is never later than that PES's DTS as long as the
//!   caller interleaves streams within 0.7 s.
//! - **Continuity counters** (§2.4.3.3): per PID, +1 mod 16 on every packet with payload;
//!   adaptation-only packets repeat the last value. [`ContinuityFixer`] rewrites them the
//!   same way for packets copied from elsewhere (the record path).
//!
//! The caller passes packets in decode order per stream, interleaved across streams by DTS
//! (within 0.7 s), and must call [`TsWriter::finish`] to flush buffered audio.

use std::io::Write;

use crate::codec::aac::{sample_rate_index, AdtsHeader, AudioConfig, FRAME_SAMPLES};
use crate::codec::h264::{self, AvcConfig};
use crate::packet::{Codec, Packet, StreamInfo};
use crate::time::{rescale, VIDEO_HZ};
use crate::{Error, Result};

/// Size of a transport stream packet.
pub const TS_PACKET: usize = 188;
/// PID of the program map table.
pub const PMT_PID: u16 = 0x1000;
/// PID of the video stream.
pub const VIDEO_PID: u16 = 0x100;
/// PID of the first audio stream (further audio streams follow: 0x102, ...).
pub const AUDIO_PID: u16 = 0x101;
/// Constant added to every PTS/DTS (90 kHz ticks): 1.4 s.
pub const TS_OFFSET: i64 = 126_000;
/// PCR lags the DTS by this many 90 kHz ticks (0.7 s).
pub const PCR_DELAY: i64 = 63_000;
/// At most this many audio streams.
pub const MAX_AUDIO_STREAMS: usize = 15;
/// Audio grouping limits.
pub const MAX_AUDIO_FRAMES_PER_PES: usize = 5;
pub const MAX_AUDIO_PES_PAYLOAD: usize = 2930;

const PCR_INTERVAL: i64 = 3_600; // 40 ms at 90 kHz
const PSI_INTERVAL: i64 = 9_000; // 100 ms at 90 kHz
const TS_MASK: i64 = (1 << 33) - 1;
const AUD: [u8; 6] = [0, 0, 0, 1, 9, 0xf0];
const STREAM_TYPE_H264: u8 = 0x1b;
const STREAM_TYPE_AAC_ADTS: u8 = 0x0f;

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

/// CRC-32/MPEG-2 (ISO/IEC 13818-1 Annex A): polynomial 0x04c11db7, initial value
/// 0xffffffff, no reflection, no final xor. Computed over a PSI section up to its CRC field.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc = (crc << 8) ^ CRC_TABLE[((crc >> 24) as u8 ^ b) as usize];
    }
    crc
}

enum Kind {
    /// Annex B SPS+PPS to insert before keyframes lacking them (may be empty).
    Video { params: Vec<u8> },
    /// Config for the ADTS headers; `frame90`: nominal frame duration in 90 kHz ticks.
    Audio { adts: AudioConfig, frame90: i64 },
}

struct Stream {
    pid: u16,
    stream_id: u8,
    stream_type: u8,
    timebase: u32,
    language: Option<[u8; 3]>,
    kind: Kind,
    /// Last DTS received, in the stream's timebase.
    last_dts: Option<i64>,
}

/// Audio frames waiting to be written as one PES.
struct PendingAudio {
    /// PTS (90 kHz, offset) expected for the next contiguous frame.
    next_pts: i64,
    /// (offset in `data`, PTS) of each frame.
    frames: Vec<(usize, i64)>,
    data: Vec<u8>,
}

/// Writes an MPEG transport stream; see the module documentation for the layout.
pub struct TsWriter<W: Write> {
    out: W,
    streams: Vec<Stream>,
    /// Index into `streams` of the stream on the PCR PID.
    pcr_stream: usize,
    pending: Vec<Option<PendingAudio>>,
    pat: Vec<u8>,
    pmt: Vec<u8>,
    /// Last continuity counter used per PID, indexed by PID (0xff = none yet).
    cc: Box<[u8; 8192]>,
    last_psi: Option<i64>,
    last_pcr: Option<i64>,
    /// Bytes generated by the current call, written out at its end.
    buf: Vec<u8>,
    pes: Vec<u8>,
}

fn ts_90k(v: i64, timebase: u32) -> i64 {
    rescale(v, timebase, VIDEO_HZ).saturating_add(TS_OFFSET)
}

/// Append the 5-byte PTS/DTS field with 4-bit `prefix` (§2.4.3.7).
fn put_ts(out: &mut Vec<u8>, prefix: u8, ts: i64) {
    let t = (ts & TS_MASK) as u64;
    out.push((prefix << 4) | (((t >> 30) as u8 & 7) << 1) | 1);
    out.push((t >> 22) as u8);
    out.push((((t >> 15) as u8 & 0x7f) << 1) | 1);
    out.push((t >> 7) as u8);
    out.push(((t as u8 & 0x7f) << 1) | 1);
}

/// The 6-byte PCR field for a 90 kHz base (extension 0).
fn pcr_bytes(base90: i64) -> [u8; 6] {
    let b = (base90 & TS_MASK) as u64;
    [(b >> 25) as u8, (b >> 17) as u8, (b >> 9) as u8, (b >> 1) as u8, ((b & 1) << 7) as u8 | 0x7e, 0]
}

/// A complete PSI section (header, `body`, CRC) for a long-form table.
fn psi_section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    // section_length counts from after the length field: 5 header bytes + body + CRC.
    let len = 5 + body.len() + 4;
    let mut s = Vec::with_capacity(3 + len);
    s.push(table_id);
    s.push(0xb0 | ((len >> 8) as u8 & 0x0f)); // section_syntax_indicator=1, '0', reserved '11'
    s.push(len as u8);
    s.extend_from_slice(&id.to_be_bytes());
    s.push(0xc1); // reserved '11', version_number 0, current_next_indicator 1
    s.push(0); // section_number
    s.push(0); // last_section_number
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

impl<W: Write> TsWriter<W> {
    /// `streams`: at most one H.264 video stream and up to [`MAX_AUDIO_STREAMS`] AAC audio
    /// streams; anything else is `Err(UnsupportedCodec)`.
    pub fn new(out: W, streams: &[StreamInfo]) -> Result<Self> {
        if streams.is_empty() {
            return Err(Error::NoMedia(" (TS muxer given no streams)".into()));
        }
        let mut list = Vec::with_capacity(streams.len());
        let mut videos = 0usize;
        let mut audios = 0usize;
        for (i, s) in streams.iter().enumerate() {
            if s.timebase == 0 {
                return Err(Error::invalid(format!("TS muxer: stream {i} has timebase 0")));
            }
            let language = s.language.as_deref().and_then(|l| {
                let b = l.as_bytes();
                (b.len() == 3 && b.iter().all(|c| c.is_ascii_alphabetic())).then(|| {
                    [b[0].to_ascii_lowercase(), b[1].to_ascii_lowercase(), b[2].to_ascii_lowercase()]
                })
            });
            let (pid, stream_id, stream_type, kind) = match &s.codec {
                Codec::H264 => {
                    if videos == 1 {
                        return Err(Error::invalid("TS muxer: more than one video stream"));
                    }
                    videos += 1;
                    let params = if s.config.is_empty() {
                        Vec::new()
                    } else {
                        AvcConfig::parse(&s.config)?.parameter_sets_annexb()
                    };
                    (VIDEO_PID, 0xe0, STREAM_TYPE_H264, Kind::Video { params })
                }
                Codec::Aac => {
                    if audios == MAX_AUDIO_STREAMS {
                        return Err(Error::invalid(format!(
                            "TS muxer: more than {MAX_AUDIO_STREAMS} audio streams"
                        )));
                    }
                    let mut cfg = if !s.config.is_empty() {
                        AudioConfig::parse(&s.config)?
                    } else if s.sample_rate > 0 {
                        AudioConfig::lc(s.sample_rate, s.channels.max(1))
                    } else {
                        return Err(Error::invalid(format!(
                            "TS muxer: AAC stream {i} has neither AudioSpecificConfig nor sample rate"
                        )));
                    };
                    // ADTS signals HE-AAC (v2) implicitly: LC profile at the core rate.
                    if matches!(cfg.object_type, 5 | 29) {
                        cfg.object_type = 2;
                    }
                    if !(1..=4).contains(&cfg.object_type) {
                        return Err(Error::UnsupportedCodec(format!(
                            "aac object type {} (cannot be carried in ADTS)",
                            cfg.object_type
                        )));
                    }
                    if sample_rate_index(cfg.sample_rate).is_none() {
                        return Err(Error::UnsupportedCodec(format!(
                            "aac at {} Hz (no ADTS sampling index)",
                            cfg.sample_rate
                        )));
                    }
                    if cfg.channels == 0 || cfg.channels == 7 || cfg.channels > 8 {
                        return Err(Error::UnsupportedCodec(format!(
                            "aac with {} channels in ADTS",
                            cfg.channels
                        )));
                    }
                    let frame90 = rescale(FRAME_SAMPLES as i64, cfg.sample_rate, VIDEO_HZ);
                    let n = audios as u16;
                    audios += 1;
                    (AUDIO_PID + n, 0xc0 + n as u8, STREAM_TYPE_AAC_ADTS, Kind::Audio { adts: cfg, frame90 })
                }
                Codec::Other(name) => {
                    return Err(Error::UnsupportedCodec(format!("{name} (TS muxer takes H.264 and AAC)")))
                }
            };
            list.push(Stream {
                pid,
                stream_id,
                stream_type,
                timebase: s.timebase,
                language,
                kind,
                last_dts: None,
            });
        }
        let pcr_stream = list.iter().position(|s| matches!(s.kind, Kind::Video { .. })).unwrap_or(0);

        // PAT: program 1 -> PMT PID.
        let mut body = vec![0, 1];
        body.extend_from_slice(&(0xe000 | PMT_PID).to_be_bytes());
        let pat = psi_section(0x00, 1, &body);
        // PMT: video first, then audio in the given order.
        let mut body = Vec::new();
        body.extend_from_slice(&(0xe000 | list[pcr_stream].pid).to_be_bytes());
        body.extend_from_slice(&[0xf0, 0x00]); // program_info_length 0
        let mut order: Vec<&Stream> = list.iter().collect();
        order.sort_by_key(|s| s.pid);
        for s in order {
            body.push(s.stream_type);
            body.extend_from_slice(&(0xe000 | s.pid).to_be_bytes());
            match s.language {
                Some(l) => {
                    body.extend_from_slice(&[0xf0, 6, 0x0a, 4, l[0], l[1], l[2], 0]);
                }
                None => body.extend_from_slice(&[0xf0, 0]),
            }
        }
        let pmt = psi_section(0x02, 1, &body);
        if pmt.len() > TS_PACKET - 5 {
            return Err(Error::invalid("TS muxer: program map table does not fit one packet"));
        }
        let n = list.len();
        Ok(TsWriter {
            out,
            streams: list,
            pcr_stream,
            pending: (0..n).map(|_| None).collect(),
            pat,
            pmt,
            cc: Box::new([0xff; 8192]),
            last_psi: None,
            last_pcr: None,
            buf: Vec::with_capacity(64 * 1024),
            pes: Vec::new(),
        })
    }

    /// Mux one packet: `pkt.stream` indexes the `streams` given to [`TsWriter::new`];
    /// `pts`/`dts` are in that stream's timebase. Video data is Annex B, audio one raw AAC
    /// access unit.
    pub fn write(&mut self, pkt: &Packet) -> Result<()> {
        let si = pkt.stream;
        let s = self
            .streams
            .get(si)
            .ok_or_else(|| Error::invalid(format!("TS muxer: packet for unknown stream {si}")))?;
        if pkt.data.is_empty() {
            return Err(Error::invalid(format!("TS muxer: empty packet on stream {si}")));
        }
        if pkt.pts < pkt.dts {
            return Err(Error::invalid(format!(
                "TS muxer: stream {si}: pts {} before dts {}",
                pkt.pts, pkt.dts
            )));
        }
        if let Some(last) = s.last_dts {
            if pkt.dts < last {
                return Err(Error::invalid(format!(
                    "TS muxer: stream {si}: dts went backwards ({} after {last})",
                    pkt.dts
                )));
            }
        }
        let pts = ts_90k(pkt.pts, s.timebase);
        let dts = ts_90k(pkt.dts, s.timebase);
        if dts < 0 {
            return Err(Error::invalid(format!(
                "TS muxer: stream {si}: timestamp {} / {} is more than 1.4 s before zero",
                pkt.dts, s.timebase
            )));
        }
        self.streams[si].last_dts = Some(pkt.dts);
        let result = match &self.streams[si].kind {
            Kind::Video { .. } => self.write_video(si, pkt, pts, dts),
            Kind::Audio { .. } => self.write_audio(si, pkt, pts),
        };
        let flushed = self.flush_buf();
        result.and(flushed)
    }

    /// Write buffered audio and PSI if nothing was written, flush, and return the output.
    pub fn finish(mut self) -> Result<W> {
        for i in 0..self.pending.len() {
            self.flush_audio_singly(i)?;
        }
        if self.last_psi.is_none() {
            self.write_psi();
        }
        self.flush_buf()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn flush_buf(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            let r = self.out.write_all(&self.buf);
            self.buf.clear();
            r?;
        }
        Ok(())
    }

    fn write_video(&mut self, si: usize, pkt: &Packet, pts: i64, dts: i64) -> Result<()> {
        // Audio groups that start at or before this AU go first.
        for i in 0..self.pending.len() {
            if self.pending[i].as_ref().is_some_and(|p| p.frames.first().is_some_and(|f| f.1 <= dts)) {
                self.flush_audio(i)?;
            }
        }
        let data: &[u8] = &pkt.data;
        if !h264::looks_like_annexb(data) {
            return Err(Error::invalid(format!(
                "TS muxer: H.264 packet on stream {si} is not Annex B (no leading start code)"
            )));
        }
        let Kind::Video { params } = &self.streams[si].kind else {
            return Err(Error::invalid("TS muxer: not a video stream"));
        };
        let mut nals = h264::annexb_nals(data);
        let first = nals.next();
        let has_aud = first.is_some_and(|n| h264::nal_type(n) == h264::NAL_AUD);
        let need_ps = pkt.keyframe
            && !params.is_empty()
            && !h264::annexb_nals(data).any(|n| h264::nal_type(n) == h264::NAL_SPS);
        let mut es = std::mem::take(&mut self.pes);
        es.clear();
        let payload: &[u8] = if has_aud && !need_ps {
            data
        } else {
            es.reserve(data.len() + params.len() + 16);
            if has_aud {
                // Keep the original AUD, then the parameter sets, then the rest.
                h264::push_annexb(&mut es, first.unwrap_or(&[]));
                es.extend_from_slice(params);
                for n in nals {
                    h264::push_annexb(&mut es, n);
                }
            } else {
                es.extend_from_slice(&AUD);
                if need_ps {
                    es.extend_from_slice(params);
                }
                es.extend_from_slice(data);
            }
            &es
        };
        let r = self.write_pes(si, pts, dts, pkt.keyframe, payload, &[]);
        self.pes = es;
        r
    }

    fn write_audio(&mut self, si: usize, pkt: &Packet, pts: i64) -> Result<()> {
        let Kind::Audio { adts, frame90 } = self.streams[si].kind else {
            return Err(Error::invalid("TS muxer: not an audio stream"));
        };
        if pkt.data.len() + 7 > 0x1fff {
            return Err(Error::invalid(format!(
                "TS muxer: AAC frame of {} bytes is too large for ADTS",
                pkt.data.len()
            )));
        }
        let frame_len = pkt.data.len() + 7;
        let dur = if pkt.duration > 0 {
            ts_90k(pkt.pts.saturating_add(pkt.duration), self.streams[si].timebase) - pts
        } else {
            frame90
        };
        let max_frames = if si == self.pcr_stream { 1 } else { MAX_AUDIO_FRAMES_PER_PES };
        if let Some(p) = &self.pending[si] {
            let contiguous = (pts - p.next_pts).abs() <= 2;
            if !contiguous || p.frames.len() >= max_frames || p.data.len() + frame_len > MAX_AUDIO_PES_PAYLOAD
            {
                self.flush_audio(si)?;
            }
        }
        let p = self.pending[si].get_or_insert_with(|| PendingAudio {
            next_pts: pts,
            frames: Vec::with_capacity(MAX_AUDIO_FRAMES_PER_PES),
            data: Vec::with_capacity(MAX_AUDIO_PES_PAYLOAD),
        });
        p.frames.push((p.data.len(), pts));
        p.data.extend_from_slice(&AdtsHeader::write(&adts, pkt.data.len()));
        p.data.extend_from_slice(&pkt.data);
        p.next_pts = pts + dur;
        // A full group waits for the next frame (or finish): so the stream's last frame is
        // still pending at the end and gets a PES of its own.
        if max_frames == 1 {
            self.flush_audio(si)?;
        }
        Ok(())
    }

    /// Write the pending audio group of stream `si` as one PES.
    fn flush_audio(&mut self, si: usize) -> Result<()> {
        if let Some(p) = self.pending[si].take() {
            let pts = p.frames.first().map_or(0, |f| f.1);
            self.write_pes(si, pts, pts, true, &p.data, &p.frames)?;
        }
        Ok(())
    }

    /// At the end: one PES per pending frame, so that the last frames each carry a PTS
    /// (tools estimate a TS stream's duration from the PTS of its last PES).
    fn flush_audio_singly(&mut self, si: usize) -> Result<()> {
        if let Some(p) = self.pending[si].take() {
            for (k, &(off, pts)) in p.frames.iter().enumerate() {
                let end = p.frames.get(k + 1).map_or(p.data.len(), |f| f.0);
                self.write_pes(si, pts, pts, true, &p.data[off..end], &[])?;
            }
        }
        Ok(())
    }

    fn write_psi(&mut self) {
        let (pat, pmt) = (std::mem::take(&mut self.pat), std::mem::take(&mut self.pmt));
        self.write_section(0, &pat);
        self.write_section(PMT_PID, &pmt);
        self.pat = pat;
        self.pmt = pmt;
    }

    fn next_cc(&mut self, pid: u16) -> u8 {
        let c = &mut self.cc[pid as usize];
        *c = c.wrapping_add(1) & 0x0f;
        *c
    }

    /// One TS packet holding a whole section (pointer_field 0, 0xff fill).
    fn write_section(&mut self, pid: u16, section: &[u8]) {
        let cc = self.next_cc(pid);
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10 | cc, 0]);
        self.buf.extend_from_slice(section);
        self.buf.resize(start + TS_PACKET, 0xff);
    }

    /// The next PCR base (90 kHz) for data due at `dts`: monotonic, never negative.
    fn next_pcr(&mut self, dts: i64) -> i64 {
        let pcr = (dts - PCR_DELAY).max(0).max(self.last_pcr.unwrap_or(0));
        self.last_pcr = Some(pcr);
        pcr
    }

    /// Adaptation-only packet carrying a PCR on the PCR PID.
    fn write_pcr_only(&mut self, pcr: i64) {
        let pid = self.streams[self.pcr_stream].pid;
        let cc = self.cc[pid as usize] & 0x0f; // repeated, not incremented
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0x47, (pid >> 8) as u8, pid as u8, 0x20 | cc, 183, 0x10]);
        self.buf.extend_from_slice(&pcr_bytes(pcr));
        self.buf.resize(start + TS_PACKET, 0xff);
    }

    /// Before data due at `dts` on a PID other than the PCR PID: a PCR-only packet if the
    /// last PCR is 40 ms or more older (or there was none yet).
    fn pcr_if_due(&mut self, si: usize, dts: i64) {
        if si != self.pcr_stream && self.last_pcr.is_none_or(|last| dts - PCR_DELAY - last >= PCR_INTERVAL) {
            let v = self.next_pcr(dts);
            self.write_pcr_only(v);
        }
    }

    /// Packetize one PES of `es` bytes for stream `si`. `frames`: (offset in `es`, PTS) of
    /// the audio frames it groups, used as clock points for PCR-only packets.
    fn write_pes(
        &mut self,
        si: usize,
        pts: i64,
        dts: i64,
        key: bool,
        es: &[u8],
        frames: &[(usize, i64)],
    ) -> Result<()> {
        let (pid, stream_id, is_video) = {
            let s = &self.streams[si];
            (s.pid, s.stream_id, matches!(s.kind, Kind::Video { .. }))
        };
        // Program tables first.
        let psi_due = match self.last_psi {
            None => true,
            Some(t) => (is_video && key) || dts - t >= PSI_INTERVAL,
        };
        if psi_due {
            self.write_psi();
            self.last_psi = Some(self.last_psi.map_or(dts, |t| t.max(dts)));
        }
        // Clock reference.
        let pcr = if si == self.pcr_stream { Some(self.next_pcr(dts)) } else { None };
        self.pcr_if_due(si, dts);
        // PES header.
        let with_dts = dts != pts;
        let hdr_data_len: usize = if with_dts { 10 } else { 5 };
        let pes_len = 3 + hdr_data_len + es.len();
        let pes_len_field = if pes_len <= 0xffff {
            pes_len as u16
        } else if is_video {
            0
        } else {
            return Err(Error::invalid(format!("TS muxer: audio PES of {} bytes is too large", es.len())));
        };
        let mut hdr = Vec::with_capacity(19);
        hdr.extend_from_slice(&[0, 0, 1, stream_id]);
        hdr.extend_from_slice(&pes_len_field.to_be_bytes());
        hdr.push(0x84); // '10', not scrambled, data_alignment_indicator
        hdr.push(if with_dts { 0xc0 } else { 0x80 });
        hdr.push(hdr_data_len as u8);
        if with_dts {
            put_ts(&mut hdr, 0b0011, pts);
            put_ts(&mut hdr, 0b0001, dts);
        } else {
            put_ts(&mut hdr, 0b0010, pts);
        }

        // TS packets.
        let total = hdr.len() + es.len();
        let mut pos = 0usize;
        let mut first = true;
        let mut clock = frames.iter().skip(1).peekable();
        while pos < total {
            let remaining = total - pos;
            let mut flags = 0u8;
            if first {
                if key {
                    flags |= 0x40; // random_access_indicator
                }
                if pcr.is_some() {
                    flags |= 0x10; // PCR_flag
                }
            }
            let base_af = if flags != 0 { 2 + if flags & 0x10 != 0 { 6 } else { 0 } } else { 0 };
            let take = remaining.min(184 - base_af);
            let af_total = 184 - take;
            // A grouped audio frame starting in this packet is a clock point.
            let es_end = (pos + take).saturating_sub(hdr.len());
            while let Some(&&(off, t)) = clock.peek() {
                if off >= es_end {
                    break;
                }
                clock.next();
                self.pcr_if_due(si, t);
            }
            let cc = self.next_cc(pid);
            let pusi = if first { 0x40 } else { 0 };
            let afc = if af_total > 0 { 0x30 } else { 0x10 };
            let start = self.buf.len();
            self.buf.extend_from_slice(&[0x47, pusi | (pid >> 8) as u8, pid as u8, afc | cc]);
            if af_total > 0 {
                self.buf.push((af_total - 1) as u8);
                if af_total > 1 {
                    self.buf.push(flags);
                    if flags & 0x10 != 0 {
                        self.buf.extend_from_slice(&pcr_bytes(pcr.unwrap_or(0)));
                    }
                    self.buf.resize(start + 4 + af_total, 0xff);
                }
            }
            // Payload: the rest of the header, then ES bytes.
            let mut need = take;
            if pos < hdr.len() {
                let n = (hdr.len() - pos).min(need);
                self.buf.extend_from_slice(&hdr[pos..pos + n]);
                need -= n;
                pos += n;
            }
            if need > 0 {
                let off = pos - hdr.len();
                self.buf.extend_from_slice(&es[off..off + need]);
                pos += need;
            }
            debug_assert_eq!(self.buf.len() - start, TS_PACKET);
            first = false;
        }
        Ok(())
    }
}

/// Rewrites continuity counters so they run on per PID: a packet with payload gets the
/// previous value + 1 (mod 16), an adaptation-only packet repeats the previous value. The
/// first packet seen on a PID keeps its own counter. Null packets (PID 0x1fff) and packets
/// without the 0x47 sync byte are left alone.
pub struct ContinuityFixer {
    last: Box<[u8; 8192]>,
}

impl Default for ContinuityFixer {
    fn default() -> Self {
        Self::new()
    }
}

impl ContinuityFixer {
    pub fn new() -> Self {
        ContinuityFixer { last: Box::new([0xff; 8192]) }
    }

    pub fn fix(&mut self, pkt: &mut [u8; 188]) {
        if pkt[0] != 0x47 {
            return;
        }
        let pid = (((pkt[1] & 0x1f) as usize) << 8) | pkt[2] as usize;
        if pid == 0x1fff {
            return;
        }
        let has_payload = (pkt[3] >> 4) & 1 == 1;
        let last = self.last[pid];
        let cc = if last == 0xff {
            pkt[3] & 0x0f
        } else if has_payload {
            (last + 1) & 0x0f
        } else {
            last
        };
        pkt[3] = (pkt[3] & 0xf0) | cc;
        self.last[pid] = cc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::aac::AdtsHeader;
    use crate::packet::MediaKind;
    use bytes::Bytes;
    use std::collections::HashMap;

    // ---------------------------------------------------------------------------------
    // Independent test-only TS parser.

    /// Bitwise CRC-32/MPEG-2, independent of the table version.
    fn crc_bitwise(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            for i in (0..8).rev() {
                let bit = ((b >> i) & 1) as u32 ^ (crc >> 31);
                crc <<= 1;
                if bit == 1 {
                    crc ^= 0x04c1_1db7;
                }
            }
        }
        crc
    }

    fn read_ts(b: &[u8]) -> i64 {
        assert_eq!(b[0] & 1, 1, "marker");
        assert_eq!(b[2] & 1, 1, "marker");
        assert_eq!(b[4] & 1, 1, "marker");
        (((b[0] >> 1) & 7) as i64) << 30
            | (b[1] as i64) << 22
            | ((b[2] >> 1) as i64) << 15
            | (b[3] as i64) << 7
            | (b[4] >> 1) as i64
    }

    #[derive(Debug, Default, Clone)]
    struct Pes {
        pid: u16,
        stream_id: u8,
        pts: i64,
        dts: Option<i64>,
        len_field: usize,
        data: Vec<u8>,
        rai: bool,
        pcr: Option<i64>,
        /// Index of the TS packet it starts in.
        at: usize,
        /// Last PCR (27 MHz) seen anywhere before this PES started.
        pcr_before: Option<i64>,
        /// Whether PAT and PMT are the two packets just before it.
        psi_before: bool,
    }

    #[derive(Debug, Default)]
    struct Parsed {
        pmt_pid: Option<u16>,
        pcr_pid: Option<u16>,
        streams: Vec<(u8, u16, Vec<u8>)>, // stream_type, pid, descriptors
        pes: Vec<Pes>,
        pcrs: Vec<(usize, u16, i64)>, // packet index, pid, PCR 27 MHz
        pat_count: usize,
        pmt_count: usize,
        pat_bytes: Vec<u8>,
        pmt_bytes: Vec<u8>,
    }

    fn parse_section(payload: &[u8]) -> Vec<u8> {
        let ptr = payload[0] as usize;
        let s = &payload[1 + ptr..];
        assert_eq!(s[1] & 0xc0, 0x80, "section_syntax_indicator");
        let len = (((s[1] & 0x0f) as usize) << 8) | s[2] as usize;
        let sec = &s[..3 + len];
        let crc = u32::from_be_bytes(sec[sec.len() - 4..].try_into().unwrap());
        assert_eq!(crc_bitwise(&sec[..sec.len() - 4]), crc, "section CRC");
        assert!(s[3 + len..].iter().all(|&b| b == 0xff), "PSI fill must be 0xff");
        sec.to_vec()
    }

    fn parse(ts: &[u8]) -> Parsed {
        assert!(!ts.is_empty());
        assert_eq!(ts.len() % 188, 0, "length is a multiple of 188");
        let mut p = Parsed::default();
        let mut last_cc: HashMap<u16, u8> = HashMap::new();
        let mut open: HashMap<u16, Pes> = HashMap::new();
        let mut last_pcr = None;
        let mut prev_pids: Vec<u16> = Vec::new();
        let finish = |pes: Pes, out: &mut Vec<Pes>| {
            if pes.len_field != 0 {
                let hlen = 9 + if pes.dts.is_some() { 10 } else { 5 };
                assert_eq!(pes.len_field, pes.data.len() + hlen - 6, "PES_packet_length exact");
            }
            out.push(pes);
        };
        for (i, pk) in ts.chunks(188).enumerate() {
            assert_eq!(pk[0], 0x47, "sync byte at packet {i}");
            assert_eq!(pk[1] & 0x80, 0, "no transport error");
            let pusi = pk[1] & 0x40 != 0;
            let pid = (((pk[1] & 0x1f) as u16) << 8) | pk[2] as u16;
            let afc = (pk[3] >> 4) & 3;
            assert_ne!(afc, 0, "reserved adaptation_field_control");
            let cc = pk[3] & 0x0f;
            let has_payload = afc & 1 == 1;
            if let Some(&l) = last_cc.get(&pid) {
                let want = if has_payload { (l + 1) & 15 } else { l };
                assert_eq!(cc, want, "continuity counter on PID {pid:#x} at packet {i}");
            }
            last_cc.insert(pid, cc);
            let mut off = 4;
            let mut rai = false;
            let mut pcr_here = None;
            if afc & 2 != 0 {
                let len = pk[4] as usize;
                assert!(len <= 183);
                if !has_payload {
                    assert_eq!(len, 183, "adaptation-only field fills the packet");
                }
                if len > 0 {
                    let flags = pk[5];
                    rai = flags & 0x40 != 0;
                    let mut j = 6;
                    if flags & 0x10 != 0 {
                        let b = &pk[6..12];
                        let base = (b[0] as i64) << 25
                            | (b[1] as i64) << 17
                            | (b[2] as i64) << 9
                            | (b[3] as i64) << 1
                            | (b[4] >> 7) as i64;
                        let ext = (((b[4] & 1) as i64) << 8) | b[5] as i64;
                        let v = base * 300 + ext;
                        assert_eq!(Some(pid), p.pcr_pid, "PCR only on the PCR PID");
                        p.pcrs.push((i, pid, v));
                        pcr_here = Some(v);
                        last_pcr = Some(v);
                        j = 12;
                    }
                    assert!(pk[j..5 + len].iter().all(|&b| b == 0xff), "AF stuffing is 0xff");
                }
                off = 5 + len;
            }
            let payload = &pk[off..];
            if has_payload {
                if pid == 0 {
                    assert!(pusi);
                    let sec = parse_section(payload);
                    assert_eq!(sec[0], 0);
                    assert_eq!(&sec[8..10], &[0, 1], "program 1");
                    p.pmt_pid = Some((((sec[10] & 0x1f) as u16) << 8) | sec[11] as u16);
                    p.pat_count += 1;
                    p.pat_bytes = pk.to_vec();
                } else if Some(pid) == p.pmt_pid {
                    assert!(pusi);
                    let sec = parse_section(payload);
                    assert_eq!(sec[0], 2);
                    p.pcr_pid = Some((((sec[8] & 0x1f) as u16) << 8) | sec[9] as u16);
                    let pil = (((sec[10] & 0x0f) as usize) << 8) | sec[11] as usize;
                    let mut j = 12 + pil;
                    p.streams.clear();
                    while j < sec.len() - 4 {
                        let st = sec[j];
                        let epid = (((sec[j + 1] & 0x1f) as u16) << 8) | sec[j + 2] as u16;
                        let el = (((sec[j + 3] & 0x0f) as usize) << 8) | sec[j + 4] as usize;
                        p.streams.push((st, epid, sec[j + 5..j + 5 + el].to_vec()));
                        j += 5 + el;
                    }
                    p.pmt_count += 1;
                    p.pmt_bytes = pk.to_vec();
                } else {
                    assert!(p.streams.iter().any(|s| s.1 == pid), "PES PID {pid:#x} is in the PMT");
                    if pusi {
                        if let Some(prev) = open.remove(&pid) {
                            finish(prev, &mut p.pes);
                        }
                        assert_eq!(&payload[..3], &[0, 0, 1], "PES start code");
                        let flags1 = payload[6];
                        assert_eq!(flags1 & 0xc0, 0x80);
                        assert_eq!(flags1 & 0x04, 0x04, "data_alignment_indicator");
                        let ptsdts = payload[7] >> 6;
                        let hl = payload[8] as usize;
                        let (pts, dts) = match ptsdts {
                            2 => {
                                assert_eq!(payload[9] >> 4, 2);
                                (read_ts(&payload[9..14]), None)
                            }
                            3 => {
                                assert_eq!(payload[9] >> 4, 3);
                                assert_eq!(payload[14] >> 4, 1);
                                (read_ts(&payload[9..14]), Some(read_ts(&payload[14..19])))
                            }
                            _ => panic!("PES without PTS"),
                        };
                        // PAT and PMT just before (adaptation-only packets aside).
                        let n = prev_pids.len();
                        let psi_before =
                            n >= 2 && prev_pids[n - 2] == 0 && Some(prev_pids[n - 1]) == p.pmt_pid;
                        open.insert(
                            pid,
                            Pes {
                                pid,
                                stream_id: payload[3],
                                pts,
                                dts,
                                len_field: u16::from_be_bytes([payload[4], payload[5]]) as usize,
                                data: payload[9 + hl..].to_vec(),
                                rai,
                                pcr: pcr_here,
                                at: i,
                                pcr_before: last_pcr,
                                psi_before,
                            },
                        );
                    } else {
                        open.get_mut(&pid)
                            .expect("PES continuation without start")
                            .data
                            .extend_from_slice(payload);
                    }
                }
            }
            if has_payload {
                prev_pids.push(pid);
            }
        }
        let mut rest: Vec<Pes> = open.into_values().collect();
        rest.sort_by_key(|p| p.at);
        for pes in rest {
            finish(pes, &mut p.pes);
        }
        p.pes.sort_by_key(|p| p.at);
        p
    }

    /// Checks common to every output: PSI present, PCR monotonic and never after the DTS
    /// of the PES it precedes, at most 40 ms between PCRs, PSI every 100 ms.
    fn check_common(p: &Parsed, max_pcr_gap: i64) {
        assert!(p.pat_count >= 1 && p.pmt_count >= 1);
        assert_eq!(p.pmt_pid, Some(PMT_PID));
        assert!(!p.pcrs.is_empty());
        for w in p.pcrs.windows(2) {
            assert!(w[1].2 >= w[0].2, "PCR monotonic");
            assert!(w[1].2 - w[0].2 <= max_pcr_gap * 300, "PCR interval {}", w[1].2 - w[0].2);
        }
        let mut psi_dts = None;
        for pes in &p.pes {
            let dts = pes.dts.unwrap_or(pes.pts);
            let pcr = pes.pcr.or(pes.pcr_before).expect("a PCR precedes every PES");
            assert!(pcr <= dts * 300, "PCR {pcr} after DTS {dts} of PES at packet {}", pes.at);
            if pes.psi_before {
                psi_dts = Some(dts);
            }
            let t = psi_dts.expect("PSI before the first PES");
            assert!(dts - t < PSI_INTERVAL, "PSI older than 100 ms at PES {}", pes.at);
        }
    }

    // ---------------------------------------------------------------------------------

    #[test]
    fn crc_vectors() {
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
        assert_eq!(crc_bitwise(b"123456789"), 0x0376_e6e7);
        assert_eq!(crc32_mpeg2(&[]), 0xffff_ffff);
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        assert_eq!(crc32_mpeg2(&data), crc_bitwise(&data));
    }

    fn avcc() -> Bytes {
        // Baseline profile record: one SPS, one PPS (contents opaque to the muxer).
        let sps = [0x67u8, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5];
        let pps = [0x68u8, 0xce, 0x3c, 0x80];
        let mut v = vec![1, 0x42, 0xc0, 0x1e, 0xff, 0xe1];
        v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        v.extend_from_slice(&sps);
        v.push(1);
        v.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        v.extend_from_slice(&pps);
        Bytes::from(v)
    }

    fn video_info(tb: u32) -> StreamInfo {
        let mut s = StreamInfo::new(0, MediaKind::Video, Codec::H264, tb);
        s.config = avcc();
        s
    }

    fn audio_info(index: usize) -> StreamInfo {
        let mut s = StreamInfo::new(index, MediaKind::Audio, Codec::Aac, 48_000);
        s.config = Bytes::from_static(&[0x11, 0x90]);
        s.sample_rate = 48_000;
        s.channels = 2;
        s.language = Some("und".into());
        s
    }

    #[test]
    fn pat_and_pmt_match_ffmpeg_bytes() {
        // FFmpeg 5.1 writes exactly these sections for one H.264 + one AAC stream ('und').
        let mut w = TsWriter::new(Vec::new(), &[video_info(90_000), audio_info(1)]).unwrap();
        w.write_psi();
        let out = w.buf.clone();
        let pat: [u8; 21] = [
            0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0,
            0x00, 0x2a, 0xb1, 0x04, 0xb2,
        ];
        assert_eq!(&out[..21], &pat);
        assert!(out[21..188].iter().all(|&b| b == 0xff));
        let pmt: [u8; 37] = [
            0x47, 0x50, 0x00, 0x10, 0x00, 0x02, 0xb0, 0x1d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe1, 0x00, 0xf0,
            0x00, 0x1b, 0xe1, 0x00, 0xf0, 0x00, 0x0f, 0xe1, 0x01, 0xf0, 0x06, 0x0a, 0x04, 0x75, 0x6e, 0x64,
            0x00, 0x08, 0x7d, 0xe8, 0x77,
        ];
        assert_eq!(&out[188..188 + 37], &pmt);
    }

    /// Synthetic video: 25 fps in a 12800 Hz timebase with B-frames (decode order I P B B
    /// P B B ..), IDR every 12 frames, one oversized frame; AAC frames with 2048 samples of
    /// priming. Returns (streams, packets interleaved by DTS).
    fn synthetic(n_video: usize, n_audio: usize) -> (Vec<StreamInfo>, Vec<Packet>) {
        let streams = vec![video_info(12_800), audio_info(1)];
        let mut vids = Vec::new();
        // display order index for each decode index
        let mut order = vec![0];
        let mut d = 0usize;
        while order.len() < n_video {
            if d + 3 < n_video {
                order.extend([d + 3, d + 1, d + 2]);
            } else {
                order.extend((d + 1)..n_video);
            }
            d += 3;
        }
        order.truncate(n_video);
        for (n, &disp) in order.iter().enumerate() {
            let key = disp % 12 == 0;
            let size = if n == 7 { 70_000 } else { 300 + (n * 37) % 900 };
            let mut data = vec![0, 0, 0, 1, if key { 0x65 } else { 0x41 }];
            data.extend((0..size).map(|i| ((i * 13 + n) % 251) as u8 | 1));
            if n == 3 {
                // An AU that already has an AUD, SEI, with 3-byte start codes.
                let mut d2 = vec![0, 0, 1, 9, 0x30, 0, 0, 1, 6, 5, 1, 0x80];
                d2.extend_from_slice(&data[1..]);
                data = d2;
            }
            vids.push(Packet {
                stream: 0,
                pts: disp as i64 * 512,
                dts: (n as i64 - 1) * 512,
                duration: 512,
                keyframe: key,
                data: Bytes::from(data),
            });
        }
        let mut auds = Vec::new();
        for i in 0..n_audio {
            let size = 5 + (i * 53) % 400;
            let data: Vec<u8> = (0..size).map(|k| ((k + i * 3) % 256) as u8).collect();
            let pts = i as i64 * 1024 - 2048;
            auds.push(Packet {
                stream: 1,
                pts,
                dts: pts,
                duration: 1024,
                keyframe: true,
                data: Bytes::from(data),
            });
        }
        let mut all: Vec<(f64, Packet)> = vids
            .into_iter()
            .map(|p| (p.dts as f64 / 12_800.0, p))
            .chain(auds.into_iter().map(|p| (p.dts as f64 / 48_000.0, p)))
            .collect();
        all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        (streams, all.into_iter().map(|x| x.1).collect())
    }

    fn split_adts(mut d: &[u8]) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        while !d.is_empty() {
            let h = AdtsHeader::parse(d).expect("ADTS header");
            assert_eq!(h.config, AudioConfig::lc(48_000, 2));
            v.push(d[h.header_len..h.frame_len].to_vec());
            d = &d[h.frame_len..];
        }
        v
    }

    #[test]
    fn synthetic_av_mux_parses_back() {
        let (streams, pkts) = synthetic(50, 94);
        let mut w = TsWriter::new(Vec::new(), &streams).unwrap();
        for p in &pkts {
            w.write(p).unwrap();
        }
        let out = w.finish().unwrap();
        let p = parse(&out);
        check_common(&p, PCR_INTERVAL);
        assert_eq!(p.pcr_pid, Some(VIDEO_PID));
        assert_eq!(p.streams.len(), 2);
        assert_eq!((p.streams[0].0, p.streams[0].1), (0x1b, VIDEO_PID));
        assert_eq!((p.streams[1].0, p.streams[1].1), (0x0f, AUDIO_PID));
        assert_eq!(p.streams[1].2, vec![0x0a, 4, b'u', b'n', b'd', 0]);
        assert_eq!(&p.pat_bytes[..4], &[0x47, 0x40, 0x00, 0x10 | ((p.pat_count as u8 - 1) % 16)]);

        let params = AvcConfig::parse(&avcc()).unwrap().parameter_sets_annexb();
        let video: Vec<&Pes> = p.pes.iter().filter(|x| x.pid == VIDEO_PID).collect();
        let vin: Vec<&Packet> = pkts.iter().filter(|x| x.stream == 0).collect();
        assert_eq!(video.len(), vin.len());
        for (i, (pes, pk)) in video.iter().zip(&vin).enumerate() {
            assert_eq!(pes.stream_id, 0xe0);
            let pts = pk.pts * 90_000 / 12_800 + TS_OFFSET;
            let dts = pk.dts * 90_000 / 12_800 + TS_OFFSET;
            assert_eq!(pes.pts, pts, "video PTS {i}");
            assert_eq!(pes.dts, if dts != pts { Some(dts) } else { None }, "video DTS {i}");
            assert_eq!(pes.pcr, Some((dts - PCR_DELAY).max(0) * 300), "PCR on video PES {i}");
            assert_eq!(pes.rai, pk.keyframe);
            if pk.keyframe {
                assert!(pes.psi_before, "PAT+PMT before keyframe {i}");
            }
            let mut want = Vec::new();
            if i == 3 {
                want.extend_from_slice(&pk.data);
            } else {
                want.extend_from_slice(&AUD);
                if pk.keyframe {
                    want.extend_from_slice(&params);
                }
                want.extend_from_slice(&pk.data);
            }
            assert_eq!(pes.data, want, "video payload {i}");
            assert_eq!(pes.len_field == 0, i == 7, "unbounded length only for the big frame");
        }
        // First video DTS is -512/12800 = -0.04 s -> 1.36 s.
        assert_eq!(video[0].dts, Some(TS_OFFSET - 3600));

        let audio: Vec<&Pes> = p.pes.iter().filter(|x| x.pid == AUDIO_PID).collect();
        let ain: Vec<&Packet> = pkts.iter().filter(|x| x.stream == 1).collect();
        let mut k = 0;
        for pes in &audio {
            assert_eq!(pes.stream_id, 0xc0);
            assert!(pes.rai && pes.dts.is_none() && pes.len_field != 0);
            assert_eq!(pes.pts, rescale(ain[k].pts, 48_000, 90_000) + TS_OFFSET, "audio PTS at frame {k}");
            let frames = split_adts(&pes.data);
            assert!(!frames.is_empty() && frames.len() <= MAX_AUDIO_FRAMES_PER_PES);
            for f in frames {
                assert_eq!(&f[..], &ain[k].data[..], "audio frame {k}");
                k += 1;
            }
        }
        assert_eq!(k, ain.len());
        assert!(audio.len() < ain.len(), "audio frames were grouped");
        // Priming: first audio PTS is 1.4 s - 2048/48000 s.
        assert_eq!(audio[0].pts, TS_OFFSET - 3840);
    }

    #[test]
    fn audio_only_and_video_only() {
        // Audio only: PCR on the audio PID, one frame per PES.
        let mut w = TsWriter::new(Vec::new(), &[audio_info(0)]).unwrap();
        for i in 0..100i64 {
            let pts = i * 1024 - 2048;
            w.write(&Packet {
                stream: 0,
                pts,
                dts: pts,
                duration: 0,
                keyframe: true,
                data: Bytes::from(vec![0x21; 200]),
            })
            .unwrap();
        }
        let p = parse(&w.finish().unwrap());
        check_common(&p, PCR_INTERVAL);
        assert_eq!(p.pcr_pid, Some(AUDIO_PID));
        assert_eq!(p.pes.len(), 100);
        assert!(p.pes.iter().all(|x| x.pcr.is_some()));
        assert_eq!(p.pes[1].pts - p.pes[0].pts, 1920);

        // Video only, in-band parameter sets, no config: nothing is inserted but the AUD.
        let mut s = video_info(90_000);
        s.config = Bytes::new();
        let mut w = TsWriter::new(Vec::new(), &[s]).unwrap();
        let au = Bytes::from_static(&[0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 0x88, 7]);
        for i in 0..10i64 {
            w.write(&Packet {
                stream: 0,
                pts: i * 3000,
                dts: i * 3000,
                duration: 3000,
                keyframe: true,
                data: au.clone(),
            })
            .unwrap();
        }
        let p = parse(&w.finish().unwrap());
        check_common(&p, PCR_INTERVAL);
        assert_eq!(p.pes.len(), 10);
        assert_eq!(&p.pes[0].data[..6], &AUD);
        assert_eq!(&p.pes[0].data[6..], &au[..]);
        // Every PES is short: PES header + AUD + AU fit one packet with stuffing.
        assert_eq!(p.pes[9].at, 29);
    }

    #[test]
    fn sparse_video_gets_pcr_only_packets() {
        // 5 fps video and audio: PCR-only packets fill the 200 ms gaps.
        let streams = vec![video_info(90_000), audio_info(1)];
        let mut w = TsWriter::new(Vec::new(), &streams).unwrap();
        let mut pk = Vec::new();
        for i in 0..10i64 {
            let data = Bytes::from(vec![0, 0, 0, 1, 0x65, 0x88, 1, 2, 3]);
            pk.push((
                i * 18_000 * 48_000 / 90_000,
                Packet { stream: 0, pts: i * 18_000, dts: i * 18_000, duration: 0, keyframe: i == 0, data },
            ));
        }
        for i in 0..90i64 {
            pk.push((
                i * 1024,
                Packet {
                    stream: 1,
                    pts: i * 1024,
                    dts: i * 1024,
                    duration: 0,
                    keyframe: true,
                    data: Bytes::from(vec![1; 50]),
                },
            ));
        }
        pk.sort_by_key(|x| x.0);
        for (_, p) in &pk {
            w.write(p).unwrap();
        }
        let p = parse(&w.finish().unwrap());
        // 40 ms, checked at the start of each audio frame (1920 ticks).
        check_common(&p, PCR_INTERVAL + 1920);
        assert!(p.pcrs.len() > 40, "{} PCRs", p.pcrs.len());
        assert!(p.pes.len() < 40, "audio was grouped");
    }

    #[test]
    fn rejects_bad_input() {
        let streams = vec![video_info(90_000), audio_info(1)];
        assert!(matches!(
            TsWriter::new(
                Vec::new(),
                &[StreamInfo::new(0, MediaKind::Video, Codec::Other("hevc".into()), 90_000)]
            ),
            Err(Error::UnsupportedCodec(_))
        ));
        assert!(TsWriter::new(Vec::new(), &[]).is_err());
        assert!(TsWriter::new(Vec::new(), &[video_info(90_000), video_info(90_000)]).is_err());
        assert!(TsWriter::new(Vec::new(), &[video_info(0)]).is_err());
        let mut bad = video_info(90_000);
        bad.config = Bytes::from_static(&[1, 2]);
        assert!(TsWriter::new(Vec::new(), &[bad]).is_err());
        let mut a = audio_info(0);
        a.config = Bytes::from_static(&[0x11, 0x90]);
        a.config = Bytes::from_static(&[0xf8, 0x80, 0x00]); // AOT 31+ -> 32+ (not ADTS)
        assert!(TsWriter::new(Vec::new(), &[a]).is_err());

        let mut w = TsWriter::new(Vec::new(), &streams).unwrap();
        let v = |pts: i64, dts: i64| Packet {
            stream: 0,
            pts,
            dts,
            duration: 0,
            keyframe: true,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65, 0x88]),
        };
        assert!(w.write(&v(-126_001, -126_001)).is_err(), "below -1.4 s");
        w.write(&v(-126_000, -126_000)).unwrap();
        w.write(&v(9000, 3000)).unwrap();
        assert!(w.write(&v(9000, 2999)).is_err(), "dts backwards");
        assert!(w.write(&v(5000, 6000)).is_err(), "pts < dts");
        assert!(w.write(&Packet { stream: 5, ..v(9000, 9000) }).is_err());
        assert!(w.write(&Packet { data: Bytes::from_static(&[0x65, 0x88]), ..v(9000, 9000) }).is_err());
        assert!(w.write(&Packet { data: Bytes::new(), ..v(9000, 9000) }).is_err());
        let big = Packet {
            stream: 1,
            pts: 0,
            dts: 0,
            duration: 0,
            keyframe: true,
            data: Bytes::from(vec![0; 9000]),
        };
        assert!(w.write(&big).is_err());
        let out = w.finish().unwrap();
        let p = parse(&out);
        assert_eq!(p.pes.len(), 2);
        assert_eq!(p.pes[0].pts, 0, "-1.4 s maps to 0");
        assert_eq!(p.pcrs[0].2, 0);
    }

    #[test]
    fn timestamps_wrap_mod_2_33() {
        let mut w = TsWriter::new(Vec::new(), &[video_info(90_000)]).unwrap();
        let t = (1i64 << 33) - TS_OFFSET + 5;
        let data = Bytes::from_static(&[0, 0, 0, 1, 0x65, 0x88]);
        w.write(&Packet { stream: 0, pts: t + 3000, dts: t, duration: 0, keyframe: true, data }).unwrap();
        let out = w.finish().unwrap();
        let p = parse(&out);
        assert_eq!(p.pes[0].dts, Some(5));
        assert_eq!(p.pes[0].pts, 3005);
        assert_eq!(p.pcrs[0].2, ((1i64 << 33) + 5 - PCR_DELAY) % (1 << 33) * 300);
    }

    #[test]
    fn empty_mux_is_valid_ts() {
        let w = TsWriter::new(Vec::new(), &[audio_info(0)]).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(out.len(), 2 * 188);
    }

    #[test]
    fn writer_is_send() {
        fn is_send<T: Send>() {}
        is_send::<TsWriter<Vec<u8>>>();
        is_send::<TsWriter<std::fs::File>>();
    }

    #[test]
    fn continuity_fixer() {
        let mk = |pid: u16, afc: u8, cc: u8| {
            let mut p = [0xffu8; 188];
            p[0] = 0x47;
            p[1] = (pid >> 8) as u8;
            p[2] = pid as u8;
            p[3] = (afc << 4) | cc;
            p
        };
        let mut f = ContinuityFixer::new();
        let seq = [
            (0x100, 1, 7),
            (0x100, 1, 3),
            (0x100, 2, 9),
            (0x100, 3, 0),
            (0x101, 1, 4),
            (0x1fff, 1, 9),
            (0x100, 1, 15),
        ];
        let want = [7, 8, 8, 9, 4, 9, 10];
        for ((pid, afc, cc), w) in seq.iter().zip(want) {
            let mut p = mk(*pid, *afc, *cc);
            f.fix(&mut p);
            assert_eq!(p[3] & 0x0f, w);
            assert_eq!(p[3] >> 4, *afc);
        }
        // Wraps mod 16.
        let mut f = ContinuityFixer::default();
        let mut last = 0;
        for i in 0..40 {
            let mut p = mk(0x42, 1, 3);
            f.fix(&mut p);
            last = p[3] & 15;
            assert_eq!(last as usize, (3 + i) % 16);
        }
        assert_eq!(last, (3 + 39) % 16);
        // Splicing two muxes' outputs then fixing gives continuous counters.
        let (streams, pkts) = synthetic(20, 40);
        let mut a = TsWriter::new(Vec::new(), &streams).unwrap();
        for p in &pkts[..20] {
            a.write(p).unwrap();
        }
        let mut b = TsWriter::new(Vec::new(), &streams).unwrap();
        for p in &pkts[20..] {
            b.write(p).unwrap();
        }
        let mut all = a.finish().unwrap();
        all.extend(b.finish().unwrap());
        let mut f = ContinuityFixer::new();
        for c in all.chunks_exact_mut(188) {
            f.fix(c.try_into().unwrap());
        }
        let mut last_cc: HashMap<u16, u8> = HashMap::new();
        for c in all.chunks(188) {
            let pid = (((c[1] & 0x1f) as u16) << 8) | c[2] as u16;
            let payload = c[3] & 0x10 != 0;
            if let Some(&l) = last_cc.get(&pid) {
                assert_eq!(c[3] & 15, if payload { (l + 1) & 15 } else { l });
            }
            last_cc.insert(pid, c[3] & 15);
        }
    }

    // ---------------------------------------------------------------------------------
    // Round trip through FFmpeg (skipped when it is not installed).

    mod ffmpeg {
        use super::*;
        use std::path::{Path, PathBuf};
        use std::process::Command;

        fn have_ffmpeg() -> bool {
            let ok = Path::new("/usr/bin/ffmpeg").exists() && Path::new("/usr/bin/ffprobe").exists();
            if !ok {
                eprintln!("note: /usr/bin/ffmpeg or ffprobe missing, skipping FFmpeg round trip");
            }
            ok
        }

        /// Run `/usr/bin/<tool>` with whitespace-separated `args`, each `{}` replaced by the
        /// next of `files`; returns stdout + stderr after checking the exit status.
        fn run(tool: &str, args: &str, files: &[&Path]) -> (String, String) {
            let mut files = files.iter();
            let argv: Vec<&std::ffi::OsStr> = args
                .split_whitespace()
                .map(|a| if a == "{}" { files.next().unwrap().as_os_str() } else { a.as_ref() })
                .collect();
            let o = Command::new(format!("/usr/bin/{tool}")).args(&argv).output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(o.status.success(), "{tool} {args} failed: {err}");
            (String::from_utf8(o.stdout).unwrap(), err)
        }

        fn tmpdir(name: &str) -> PathBuf {
            let d = std::env::temp_dir().join(format!("stitch-tsmux-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            d
        }

        /// Split an Annex B stream into access units (single- or multi-slice pictures),
        /// leaving SPS/PPS out (they go to the avcC, so the muxer has to re-insert them).
        fn split_aus(data: &[u8]) -> Vec<Vec<u8>> {
            let mut aus: Vec<Vec<u8>> = Vec::new();
            let mut cur: Vec<u8> = Vec::new();
            let mut cur_has_vcl = false;
            for nal in h264::annexb_nals(data) {
                let t = h264::nal_type(nal);
                let vcl = (1..=5).contains(&t);
                let first_mb_zero = nal.get(1).is_some_and(|b| b & 0x80 != 0);
                if cur_has_vcl && (!vcl || first_mb_zero) {
                    aus.push(std::mem::take(&mut cur));
                    cur_has_vcl = false;
                }
                if t != h264::NAL_SPS && t != h264::NAL_PPS {
                    h264::push_annexb(&mut cur, nal);
                }
                cur_has_vcl |= vcl;
            }
            if cur_has_vcl {
                aus.push(cur);
            }
            aus
        }

        struct Input {
            streams: Vec<StreamInfo>,
            video: Vec<Packet>,
            audio: Vec<Packet>,
        }

        /// 2 s of 160x120 x264 (-bf 2) + AAC in MP4; the same packets as raw Annex B and
        /// ADTS; timestamps from ffprobe of the MP4 (same order).
        fn make_input(dir: &Path) -> Input {
            let (mp4, h264p, aacp) = (dir.join("in.mp4"), dir.join("v.h264"), dir.join("a.aac"));
            run(
                "ffmpeg",
                "-v error -y -f lavfi -i testsrc=size=160x120:rate=25 -f lavfi \
                 -i sine=frequency=440:sample_rate=48000 -t 2 -c:v libx264 -bf 2 -g 25 \
                 -pix_fmt yuv420p -c:a aac -ac 2 -b:a 64k {}",
                &[&mp4],
            );
            run("ffmpeg", "-v error -y -i {} -map 0:v -c copy -f h264 {}", &[&mp4, &h264p]);
            run("ffmpeg", "-v error -y -i {} -map 0:a -c copy -f adts {}", &[&mp4, &aacp]);
            let (json, _) = run(
                "ffprobe",
                "-v error -show_entries \
                 packet=stream_index,pts,dts,flags:stream=index,codec_type,time_base -of json {}",
                &[&mp4],
            );
            let j: serde_json::Value = serde_json::from_str(&json).unwrap();
            let mut tb = [0u32; 2];
            let mut vidx = 0;
            for s in j["streams"].as_array().unwrap() {
                let i = s["index"].as_u64().unwrap() as usize;
                tb[i] = s["time_base"].as_str().unwrap().trim_start_matches("1/").parse().unwrap();
                if s["codec_type"] == "video" {
                    vidx = i;
                }
            }
            let raw = std::fs::read(&h264p).unwrap();
            let sps: Vec<Vec<u8>> = h264::annexb_nals(&raw)
                .filter(|n| h264::nal_type(n) == 7)
                .take(1)
                .map(|n| n.to_vec())
                .collect();
            let pps: Vec<Vec<u8>> = h264::annexb_nals(&raw)
                .filter(|n| h264::nal_type(n) == 8)
                .take(1)
                .map(|n| n.to_vec())
                .collect();
            let aus = split_aus(&raw);
            let adts = std::fs::read(&aacp).unwrap();
            let (mut frames, mut d, mut acfg) = (Vec::new(), &adts[..], None);
            while !d.is_empty() {
                let h = AdtsHeader::parse(d).unwrap();
                acfg = Some(h.config);
                frames.push(d[h.header_len..h.frame_len].to_vec());
                d = &d[h.frame_len..];
            }
            let (mut video, mut audio) = (Vec::new(), Vec::new());
            for p in j["packets"].as_array().unwrap() {
                let si = p["stream_index"].as_u64().unwrap() as usize;
                let (pts, dts) = (p["pts"].as_i64().unwrap(), p["dts"].as_i64().unwrap());
                let keyframe = p["flags"].as_str().unwrap().starts_with('K');
                let (list, stream, data) = if si == vidx {
                    let d = aus[video.len()].clone();
                    (&mut video, 0, d)
                } else {
                    let d = frames[audio.len()].clone();
                    (&mut audio, 1, d)
                };
                list.push(Packet { stream, pts, dts, duration: 0, keyframe, data: Bytes::from(data) });
            }
            assert_eq!(video.len(), aus.len(), "AU split matches ffprobe's packet count");
            assert_eq!(audio.len(), frames.len());
            let mut vs = StreamInfo::new(0, MediaKind::Video, Codec::H264, tb[vidx]);
            vs.config = Bytes::from(AvcConfig::from_parameter_sets(sps, pps).unwrap().to_bytes());
            let mut a = StreamInfo::new(1, MediaKind::Audio, Codec::Aac, tb[1 - vidx]);
            a.config = Bytes::from(acfg.unwrap().to_bytes());
            Input { streams: vec![vs, a], video, audio }
        }

        /// Mux interleaved by DTS, audio shifted by `audio_shift` ticks.
        fn mux(inp: &Input, audio_shift: i64, path: &Path) -> Vec<u8> {
            let (vtb, atb) = (inp.streams[0].timebase as f64, inp.streams[1].timebase as f64);
            let shifted: Vec<Packet> = inp
                .audio
                .iter()
                .map(|p| Packet { pts: p.pts + audio_shift, dts: p.dts + audio_shift, ..p.clone() })
                .collect();
            let mut all: Vec<(f64, &Packet)> = inp.video.iter().map(|p| (p.dts as f64 / vtb, p)).collect();
            all.extend(shifted.iter().map(|p| (p.dts as f64 / atb, p)));
            all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            let f = std::fs::File::create(path).unwrap();
            let mut w = TsWriter::new(std::io::BufWriter::new(f), &inp.streams).unwrap();
            for (_, p) in all {
                w.write(p).unwrap();
            }
            w.finish().unwrap().into_inner().unwrap();
            std::fs::read(path).unwrap()
        }

        fn f64_of(v: &serde_json::Value) -> f64 {
            v.as_str().unwrap().parse().unwrap()
        }

        /// Per-frame MD5s of the decoded video (timestamps dropped).
        fn video_md5s(path: &Path) -> Vec<String> {
            let (o, _) = run("ffmpeg", "-v error -i {} -map 0:v -f framemd5 -", &[path]);
            let v: Vec<String> = o
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
                .collect();
            assert!(v.len() >= 50);
            v
        }

        /// MD5 of all decoded audio samples (no edit list applied).
        fn audio_md5(path: &Path) -> String {
            run("ffmpeg", "-v error -i {} -map 0:a -f md5 -", &[path]).0
        }

        #[test]
        fn ffmpeg_round_trip() {
            if !have_ffmpeg() {
                return;
            }
            let dir = tmpdir("rt");
            let inp = make_input(&dir);
            assert_eq!(inp.audio[0].pts, -1024, "ffmpeg's AAC encoder primes 1024 samples");
            let ref_video = video_md5s(&dir.join("in.mp4"));
            let ref_audio = audio_md5(&dir.join("a.aac"));
            let aframe = 1024.0 / 48_000.0;
            // "priming2048": first audio PTS -2048 at 48 kHz.
            for (name, shift) in [("plain", 0i64), ("priming2048", -1024)] {
                let out = dir.join(format!("{name}.ts"));
                let p = parse(&mux(&inp, shift, &out));
                // 40 ms while video flows; audio past the video's end: + one audio frame.
                check_common(&p, PCR_INTERVAL + 1920);
                let (json, _) = run("ffprobe", "-v error -show_streams -show_format -of json {}", &[&out]);
                let j: serde_json::Value = serde_json::from_str(&json).unwrap();
                let s = j["streams"].as_array().unwrap();
                assert_eq!(s.len(), 2, "{name}");
                let v = s.iter().find(|x| x["codec_type"] == "video").unwrap();
                let a = s.iter().find(|x| x["codec_type"] == "audio").unwrap();
                assert_eq!((&v["codec_name"], &a["codec_name"]), (&"h264".into(), &"aac".into()));
                assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(160), Some(120)));
                assert_eq!((&a["sample_rate"], &a["channels"]), (&"48000".into(), &2.into()));
                let (vs, as_) = (f64_of(&v["start_time"]), f64_of(&a["start_time"]));
                let first_v =
                    inp.video.iter().map(|p| p.pts).min().unwrap() as f64 / inp.streams[0].timebase as f64;
                assert!((vs - (1.4 + first_v)).abs() < 1e-3, "{name}: video start {vs}");
                let want_a = 1.4 + (-1024 + shift) as f64 / 48_000.0;
                assert!((as_ - want_a).abs() < 1e-3, "{name}: audio start {as_} want {want_a}");
                assert!((vs - as_).abs() < 0.05, "{name}: start times {vs} vs {as_}");
                let vd = f64_of(&v["duration"]);
                assert!((vd - 2.0).abs() <= 0.04 + 1e-6, "{name}: video duration {vd}");
                let ad = f64_of(&a["duration"]);
                let a_len = inp.audio.len() as f64 * aframe;
                assert!((ad - a_len).abs() <= aframe + 1e-6, "{name}: audio duration {ad} want {a_len}");
                assert!((a_len - 2.0).abs() <= 2.0 * aframe + 1e-6, "{name}: {a_len}");
                let fd = f64_of(&j["format"]["duration"]);
                assert!((fd - 2.0).abs() <= 0.07, "{name}: format duration {fd}");
                let (o, e) = run("ffmpeg", "-v error -i {} -f null -", &[&out]);
                assert!(o.trim().is_empty() && e.trim().is_empty(), "{name}: ffmpeg says: {o}{e}");
                // Decoded pictures and samples are bit-identical to the source's.
                assert_eq!(video_md5s(&out), ref_video, "{name}: pictures");
                assert_eq!(audio_md5(&out), ref_audio, "{name}: samples");
            }
            if std::env::var_os("STITCH_KEEP_TMP").is_none() {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
}
