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
use crate::ts::{encode_pts, long_section, packet_header, pcr_field, PTS_WRAP};
use crate::{Error, Result};

pub use crate::ts::{crc32_mpeg2, ContinuityFixer};

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
/// Audio grouping limit: at most this many AAC frames in one audio PES.
pub const MAX_AUDIO_FRAMES_PER_PES: usize = 5;
/// Audio grouping limit: at most this many bytes of ADTS frames in one audio PES.
pub const MAX_AUDIO_PES_PAYLOAD: usize = 2930;

const PCR_INTERVAL: i64 = 3_600; // 40 ms at 90 kHz
const PSI_INTERVAL: i64 = 9_000; // 100 ms at 90 kHz
const TS_MASK: i64 = PTS_WRAP - 1;
const AUD: [u8; 6] = [0, 0, 0, 1, 9, 0xf0];
/// PMT stream_type of H.264 video (ISO/IEC 13818-1 Table 2-34, stream type assignments).
const STREAM_TYPE_H264: u8 = 0x1b;
/// PMT stream_type of ISO/IEC 13818-7 audio with ADTS transport syntax (Table 2-34).
const STREAM_TYPE_AAC_ADTS: u8 = 0x0f;

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

/// Writes the 5-byte PTS/DTS field of a PES header (ISO/IEC 13818-1 §2.4.3.7) with 4-bit
/// `prefix`; `ts` (90 kHz) is taken modulo 2^33.
fn put_ts(out: &mut Vec<u8>, prefix: u8, ts: i64) {
    out.extend_from_slice(&encode_pts(prefix, (ts & TS_MASK) as u64));
}

/// The language of a stream for an ISO_639_language_descriptor: three ASCII letters, lowercased.
fn iso639(s: &StreamInfo) -> Option<[u8; 3]> {
    s.language.as_deref().and_then(|l| {
        let b = l.as_bytes();
        (b.len() == 3 && b.iter().all(|c| c.is_ascii_alphabetic()))
            .then(|| [b[0].to_ascii_lowercase(), b[1].to_ascii_lowercase(), b[2].to_ascii_lowercase()])
    })
}

/// The AudioSpecificConfig of AAC stream `i` as ADTS carries it (ISO/IEC 13818-7 §6.2):
/// from its config or its sample rate; HE-AAC (v2) signalled implicitly (LC at the core
/// rate); object types, rates and channel layouts ADTS cannot express are refused.
fn adts_config(i: usize, s: &StreamInfo) -> Result<AudioConfig> {
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
        return Err(Error::UnsupportedCodec(format!("aac at {} Hz (no ADTS sampling index)", cfg.sample_rate)));
    }
    if cfg.channels == 0 || cfg.channels == 7 || cfg.channels > 8 {
        return Err(Error::UnsupportedCodec(format!("aac with {} channels in ADTS", cfg.channels)));
    }
    Ok(cfg)
}

/// Writes the PAT (ISO/IEC 13818-1 §2.4.4.3) and PMT (§2.4.4.8) sections of the one program,
/// each CRC-protected (Annex A); stream types from Table 2-34, language as an
/// ISO_639_language_descriptor (§2.6). Fails if the PMT does not fit one TS packet.
fn program_tables(list: &[Stream], pcr_stream: usize) -> Result<(Vec<u8>, Vec<u8>)> {
    // PAT: program 1 -> PMT PID.
    let mut body = vec![0, 1];
    body.extend_from_slice(&(0xe000 | PMT_PID).to_be_bytes());
    let pat = long_section(0x00, 1, 0, &body);
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
    let pmt = long_section(0x02, 1, 0, &body);
    if pmt.len() > TS_PACKET - 5 {
        return Err(Error::invalid("TS muxer: program map table does not fit one packet"));
    }
    Ok((pat, pmt))
}

/// Writes a PES packet header (ISO/IEC 13818-1 §2.4.3.6, fields §2.4.3.7) for `es_len` bytes
/// of stream `stream_id`: data_alignment_indicator set, PTS always, DTS only when it differs.
/// PES_packet_length is 0 (unbounded) for a video PES over 65535 bytes; an audio one that
/// large is an error.
fn pes_header(stream_id: u8, pts: i64, dts: i64, es_len: usize, is_video: bool) -> Result<Vec<u8>> {
    let with_dts = dts != pts;
    let hdr_data_len: usize = if with_dts { 10 } else { 5 };
    let pes_len = 3 + hdr_data_len + es_len;
    let pes_len_field = if pes_len <= 0xffff {
        pes_len as u16
    } else if is_video {
        0
    } else {
        return Err(Error::invalid(format!("TS muxer: audio PES of {} bytes is too large", es_len)));
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
    Ok(hdr)
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
            let language = iso639(s);
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
                        return Err(Error::invalid(format!("TS muxer: more than {MAX_AUDIO_STREAMS} audio streams")));
                    }
                    let cfg = adts_config(i, s)?;
                    let frame90 = rescale(FRAME_SAMPLES as i64, cfg.sample_rate, VIDEO_HZ);
                    let n = audios as u16;
                    audios += 1;
                    (AUDIO_PID + n, 0xc0 + n as u8, STREAM_TYPE_AAC_ADTS, Kind::Audio { adts: cfg, frame90 })
                }
                Codec::Other(name) => {
                    return Err(Error::UnsupportedCodec(format!("{name} (TS muxer takes H.264 and AAC)")))
                }
            };
            list.push(Stream { pid, stream_id, stream_type, timebase: s.timebase, language, kind, last_dts: None });
        }
        let pcr_stream = list.iter().position(|s| matches!(s.kind, Kind::Video { .. })).unwrap_or(0);

        let (pat, pmt) = program_tables(&list, pcr_stream)?;
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
        let s =
            self.streams.get(si).ok_or_else(|| Error::invalid(format!("TS muxer: packet for unknown stream {si}")))?;
        if pkt.data.is_empty() {
            return Err(Error::invalid(format!("TS muxer: empty packet on stream {si}")));
        }
        if pkt.pts < pkt.dts {
            return Err(Error::invalid(format!("TS muxer: stream {si}: pts {} before dts {}", pkt.pts, pkt.dts)));
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
        let need_ps =
            pkt.keyframe && !params.is_empty() && !h264::annexb_nals(data).any(|n| h264::nal_type(n) == h264::NAL_SPS);
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
            if !contiguous || p.frames.len() >= max_frames || p.data.len() + frame_len > MAX_AUDIO_PES_PAYLOAD {
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

    /// Writes the PAT (ISO/IEC 13818-1 §2.4.4.3) on PID 0 and the PMT (§2.4.4.8) on
    /// [`PMT_PID`], one transport packet each.
    fn write_psi(&mut self) {
        let (pat, pmt) = (std::mem::take(&mut self.pat), std::mem::take(&mut self.pmt));
        self.write_section(0, &pat);
        self.write_section(PMT_PID, &pmt);
        self.pat = pat;
        self.pmt = pmt;
    }

    /// The continuity_counter (ISO/IEC 13818-1 §2.4.3.3) for the next packet with payload on
    /// `pid`: the previous one + 1, mod 16.
    fn next_cc(&mut self, pid: u16) -> u8 {
        let c = &mut self.cc[pid as usize];
        *c = c.wrapping_add(1) & 0x0f;
        *c
    }

    /// Writes one transport packet (ISO/IEC 13818-1 §2.4.3.2) holding a whole PSI section:
    /// payload_unit_start_indicator set, pointer_field 0 (§2.4.4.2), 0xff fill.
    fn write_section(&mut self, pid: u16, section: &[u8]) {
        let cc = self.next_cc(pid);
        let start = self.buf.len();
        self.buf.extend_from_slice(&packet_header(true, pid, 1, cc));
        self.buf.push(0); // pointer_field
        self.buf.extend_from_slice(section);
        self.buf.resize(start + TS_PACKET, 0xff);
    }

    /// The next PCR base (90 kHz) for data due at `dts`: monotonic, never negative.
    fn next_pcr(&mut self, dts: i64) -> i64 {
        let pcr = (dts - PCR_DELAY).max(0).max(self.last_pcr.unwrap_or(0));
        self.last_pcr = Some(pcr);
        pcr
    }

    /// Writes an adaptation-only transport packet (ISO/IEC 13818-1 §2.4.3.2) on the PCR PID
    /// whose adaptation field (§2.4.3.4) carries a PCR (§2.4.3.5) and stuffing; its
    /// continuity_counter repeats the last one (no payload, §2.4.3.3).
    fn write_pcr_only(&mut self, pcr: i64) {
        let pid = self.streams[self.pcr_stream].pid;
        let cc = self.cc[pid as usize] & 0x0f; // repeated, not incremented
        let start = self.buf.len();
        self.buf.extend_from_slice(&packet_header(false, pid, 2, cc));
        self.buf.extend_from_slice(&[183, 0x10]);
        self.buf.extend_from_slice(&pcr_field(pcr));
        self.buf.resize(start + TS_PACKET, 0xff);
    }

    /// Before data due at `dts` on a PID other than the PCR PID: a PCR-only packet if the
    /// last PCR is 40 ms or more older (or there was none yet). ISO/IEC 13818-1 §2.7.2 allows
    /// at most 100 ms between PCRs (§2.4.3.5).
    fn pcr_if_due(&mut self, si: usize, dts: i64) {
        if si != self.pcr_stream && self.last_pcr.is_none_or(|last| dts - PCR_DELAY - last >= PCR_INTERVAL) {
            let v = self.next_pcr(dts);
            self.write_pcr_only(v);
        }
    }

    /// Before a PES of stream `si` due at `dts`: the program tables when due (PAT and PMT,
    /// ISO/IEC 13818-1 §2.4.4.3 and §2.4.4.8; always before a video keyframe, `video_key`), a
    /// PCR-only packet when due; returns the PCR (§2.4.3.5) the PES carries itself (on the
    /// PCR PID).
    fn before_pes(&mut self, si: usize, dts: i64, video_key: bool) -> Option<i64> {
        let psi_due = match self.last_psi {
            None => true,
            Some(t) => video_key || dts - t >= PSI_INTERVAL,
        };
        if psi_due {
            self.write_psi();
            self.last_psi = Some(self.last_psi.map_or(dts, |t| t.max(dts)));
        }
        let pcr = if si == self.pcr_stream { Some(self.next_pcr(dts)) } else { None };
        self.pcr_if_due(si, dts);
        pcr
    }

    /// Writes one PES packet (ISO/IEC 13818-1 §2.4.3.6) of `es` bytes for stream `si` as
    /// transport packets (§2.4.3.2): the first with payload_unit_start_indicator and, when
    /// needed, an adaptation field (§2.4.3.4) with random_access_indicator and PCR (§2.4.3.5);
    /// the last padded with adaptation-field stuffing. `frames`: (offset in `es`, PTS) of the
    /// audio frames it groups, used as clock points for PCR-only packets.
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
        let pcr = self.before_pes(si, dts, is_video && key);
        let hdr = pes_header(stream_id, pts, dts, es.len(), is_video)?;

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
            let afc = if af_total > 0 { 3 } else { 1 };
            let start = self.buf.len();
            self.buf.extend_from_slice(&packet_header(first, pid, afc, cc));
            if af_total > 0 {
                self.buf.push((af_total - 1) as u8);
                if af_total > 1 {
                    self.buf.push(flags);
                    if flags & 0x10 != 0 {
                        self.buf.extend_from_slice(&pcr_field(pcr.unwrap_or(0)));
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

#[cfg(test)]
#[path = "tests/ts.rs"]
mod tests;
