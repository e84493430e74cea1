//! Fragmented MP4 muxer: H.264 and AAC packets to a stream (a pipe, a socket, standard
//! output) that never seeks, following ISO/IEC 14496-12 §8.8 (movie fragments), ISO/IEC
//! 14496-14 (`esds`) and ISO/IEC 14496-15 (`avc1`/`avcC`). Players and FFmpeg read it as it
//! arrives (`ffplay -`, `mpv -`, `ffmpeg -i pipe:0`).
//!
//! # Layout written
//!
//! ```text
//! ftyp            major iso6, minor 0, compatible iso6 isom mp41 avc1 dash
//! moov            written with the first fragment (once its sample entries are known)
//!   mvhd          timescale 1000, duration 0 (unknown: the fragments carry the samples)
//!   trak          one per stream given, track_ID 1, 2, ... in that order
//!     tkhd        flags 3, duration 0
//!     [edts/elst] one edit: segment_duration 0, media_time = the decode-time shift
//!                 (§8.6.6.1: "the segment_duration of this edit may be zero, whereupon the
//!                 edit provides the offset from media composition time to movie
//!                 presentation time, for the movie and subsequent movie fragments")
//!     mdia        mdhd duration 0, hdlr, minf with empty sample tables (stts, stsc, stsz,
//!                 stco with no entries); stsd = the same avc1/mp4a entry as the
//!                 progressive writer ([`super::mp4`]), without bit rates (unknown yet)
//!   mvex
//!     trex        per track: sample description 1, no defaults (every trun says all)
//! moof            one per fragment, mfhd sequence_number 1, 2, ...
//!   traf          per track with samples in the fragment
//!     tfhd        flags 0x020000 (default-base-is-moof), track_ID
//!     tfdt        version 1: baseMediaDecodeTime
//!     trun        flags data-offset | duration | size | flags [| composition offset];
//!                 version 1 when a composition offset is negative; data_offset from the
//!                 start of the moof
//! mdat            the fragment's samples, track after track (one run per track)
//! ```
//!
//! # Fragments
//!
//! With a video stream a fragment ends before every video keyframe, so each fragment is one
//! GOP; audio-only output gets a fragment about every second. A fragment also ends when it
//! holds [`MAX_FRAGMENT_BYTES`] (a very long GOP is split; memory stays bounded). Only the
//! current fragment is held in memory.
//!
//! # Samples and timing
//!
//! Samples are converted exactly as [`super::mp4`] does (same functions): H.264 Annex B to
//! 4-byte NAL lengths, AUDs dropped, SPS/PPS of the `avcC` stripped (the record comes from
//! [`StreamInfo::config`] or from the first in-band SPS and PPS); AAC raw access units as
//! they are. Times are rescaled to the `mdhd` timescale (video: the stream timebase;
//! audio: the sample rate). `dts` must increase strictly per stream.
//!
//! A sample's duration is the next sample's dts minus its own: each track keeps its latest
//! sample back until the next one arrives, so durations are exact across fragments. The
//! track's last sample gets `pkt.duration` if > 0, else the previous delta (a lone sample:
//! 1024 samples of audio, 1/25 s of video).
//!
//! Presentation time = `pts` (the crate's convention: what has a negative `pts` is not
//! presented). A track whose first `dts` is negative (B-frame reordering delay, AAC encoder
//! priming) is shifted: decode time = `dts - first_dts` and the edit's media_time =
//! `-first_dts`, so its first presented sample starts at 0. A track whose first `dts`
//! is >= 0 is not shifted (decode time = `dts`, no edit list): a late start is expressed
//! by the first fragment's `tfdt`.

use std::io::Write;

use super::mp4::{self, avc_sample, bx, fullbox, mdat_header, new_track, put_u32, put_u64, Entry, Plan, Track};
use crate::codec::h264::Sps;
use crate::packet::{MediaKind, Packet, StreamInfo};
use crate::time::rescale;
use crate::{Error, Result};

/// A fragment ends once its sample data reaches this size.
pub const MAX_FRAGMENT_BYTES: usize = 16 << 20;

/// trun flags (ISO/IEC 14496-12 §8.8.8.1).
const TRUN_DATA_OFFSET: u32 = 0x1;
const TRUN_DURATION: u32 = 0x100;
const TRUN_SIZE: u32 = 0x200;
const TRUN_FLAGS: u32 = 0x400;
const TRUN_CTS: u32 = 0x800;
/// tfhd default-base-is-moof (§8.8.7.1).
const TFHD_BASE_IS_MOOF: u32 = 0x02_0000;
/// Sample flags (§8.8.3.1): sample_depends_on 2 (an I picture / independent audio frame),
/// or sample_depends_on 1 + sample_is_non_sync_sample.
const SAMPLE_SYNC: u32 = 0x0200_0000;
const SAMPLE_NON_SYNC: u32 = 0x0101_0000;

/// One sample in the current fragment (times in the track's timescale, before the shift).
#[derive(Clone, Copy)]
struct Sample {
    dts: i64,
    offset: i32,
    size: u32,
    sync: bool,
    duration: u32,
}

/// The latest sample of a track, waiting for the next one's dts (its duration).
struct Held {
    dts: i64,
    offset: i32,
    sync: bool,
    /// `pkt.duration` rescaled, 0 if unknown.
    duration_hint: i64,
    data: Vec<u8>,
}

struct FragTrack {
    desc: Track,
    held: Option<Held>,
    /// Samples of the current fragment and their data, in order.
    samples: Vec<Sample>,
    data: Vec<u8>,
    first_dts: Option<i64>,
    last_dts: i64,
    last_in_dts: i64,
    last_delta: Option<u32>,
    /// Decode time = dts - shift; fixed when `moov` is written.
    shift: Option<i64>,
}

impl FragTrack {
    fn frag_duration(&self) -> u64 {
        self.samples.iter().map(|s| s.duration as u64).sum()
    }
}

/// Writes fragmented MP4 to `W` without seeking; see the module documentation.
pub struct Fmp4Writer<W: Write> {
    out: W,
    tracks: Vec<FragTrack>,
    has_video: bool,
    header_written: bool,
    sequence: u32,
    /// Sample bytes in the current fragment.
    frag_bytes: usize,
    /// Set when a write failed: the stream is incomplete.
    poisoned: Option<String>,
}

impl<W: Write> Fmp4Writer<W> {
    /// Start a stream for `streams` (H.264 video and/or AAC audio; `Packet::stream` indexes
    /// this slice). Nothing is written before the first fragment is complete.
    pub fn new(out: W, streams: &[StreamInfo]) -> Result<Self> {
        if streams.is_empty() {
            return Err(Error::NoMedia(" (fragmented mp4 mux: no streams given)".into()));
        }
        let tracks = streams
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Ok(FragTrack {
                    desc: new_track(i, s)?,
                    held: None,
                    samples: Vec::new(),
                    data: Vec::new(),
                    first_dts: None,
                    last_dts: 0,
                    last_in_dts: 0,
                    last_delta: None,
                    shift: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let has_video = tracks.iter().any(|t| t.desc.kind == MediaKind::Video);
        Ok(Fmp4Writer { out, tracks, has_video, header_written: false, sequence: 0, frag_bytes: 0, poisoned: None })
    }

    /// Add one packet (see [`crate::packet`] for the data conventions). `dts` must increase
    /// strictly within a stream. May write a fragment to the output.
    pub fn write(&mut self, pkt: &Packet) -> Result<()> {
        if let Some(why) = &self.poisoned {
            return Err(Error::invalid(format!("fragmented mp4 mux: unusable after an earlier error: {why}")));
        }
        let ntracks = self.tracks.len();
        let t = self.tracks.get_mut(pkt.stream).ok_or_else(|| {
            Error::invalid(format!("fragmented mp4 mux: packet for stream {} but only {ntracks} streams", pkt.stream))
        })?;
        let s = pkt.stream;
        let (in_tb, ts) = (t.desc.in_tb, t.desc.timescale);
        let (mut dts, mut pts) = (rescale(pkt.dts, in_tb, ts), rescale(pkt.pts, in_tb, ts));
        if t.first_dts.is_some() && dts <= t.last_dts && pkt.dts > t.last_in_dts {
            // Increasing DTS that collapse to one tick of the track's timescale: one tick on
            // (as the progressive writer, `mp4.rs`).
            let nudge = t.last_dts + 1 - dts;
            (dts, pts) = (dts + nudge, pts + nudge);
        }
        if t.first_dts.is_some() && dts <= t.last_dts {
            return Err(Error::invalid(format!(
                "fragmented mp4 mux: stream {s}: dts {} does not increase (previous dts {}, timebase 1/{in_tb})",
                pkt.dts, t.last_in_dts
            )));
        }
        let offset = i32::try_from(pts - dts).map_err(|_| {
            Error::invalid(format!("fragmented mp4 mux: stream {s}: pts {} too far from dts {}", pkt.pts, pkt.dts))
        })?;
        let delta = match t.held {
            Some(ref h) => Some(u32::try_from(dts - h.dts).map_err(|_| {
                Error::invalid(format!(
                    "fragmented mp4 mux: stream {s}: dts jumps from {} to {} (more than 2^32 ticks)",
                    t.last_in_dts, pkt.dts
                ))
            })?),
            None => None,
        };
        if let Some(shift) = t.shift {
            if dts < shift {
                return Err(Error::invalid(format!(
                    "fragmented mp4 mux: stream {s}: dts {} precedes the start of the stream (its first packet \
                     came after the header was written, with a negative dts)",
                    pkt.dts
                )));
            }
        }
        let data = match &mut t.desc.entry {
            Entry::Avc(st) => avc_sample(st, &pkt.data, s)?,
            Entry::Aac { .. } => pkt.data.to_vec(),
        };
        u32::try_from(data.len())
            .map_err(|_| Error::invalid(format!("fragmented mp4 mux: stream {s}: packet over 4 GiB")))?;

        // The held sample now has its duration: it joins the current fragment.
        if let (Some(d), Some(h)) = (delta, t.held.take()) {
            t.last_delta = Some(d);
            self.frag_bytes += h.data.len();
            commit(t, h, d);
        }
        t.first_dts.get_or_insert(dts);
        t.last_dts = dts;
        t.last_in_dts = pkt.dts;
        let duration_hint = if pkt.duration > 0 { rescale(pkt.duration, in_tb, ts) } else { 0 };
        let video_key = t.desc.kind == MediaKind::Video && pkt.keyframe;
        let second_of_audio = !self.has_video && t.frag_duration() >= ts as u64;
        let held = Held { dts, offset, sync: pkt.keyframe, duration_hint, data };

        if video_key || second_of_audio || self.frag_bytes >= MAX_FRAGMENT_BYTES {
            self.flush_fragment(false)?;
        }
        self.tracks[s].held = Some(held);
        Ok(())
    }

    /// Write what is left (the held samples get their last durations) and flush the
    /// output; returns it.
    pub fn finish(mut self) -> Result<W> {
        if let Some(why) = &self.poisoned {
            return Err(Error::invalid(format!("fragmented mp4 mux: cannot finish after an earlier error: {why}")));
        }
        if self.tracks.iter().all(|t| t.first_dts.is_none()) {
            return Err(Error::NoMedia(" (fragmented mp4 mux: no packets were written)".into()));
        }
        for t in &mut self.tracks {
            if let Some(h) = t.held.take() {
                let d = if h.duration_hint > 0 {
                    h.duration_hint
                } else if let Some(d) = t.last_delta {
                    d as i64
                } else if t.desc.kind == MediaKind::Audio {
                    rescale(1024, t.desc.timescale.max(1), t.desc.timescale).max(1)
                } else {
                    (t.desc.timescale as i64 / 25).max(1)
                };
                self.frag_bytes += h.data.len();
                commit(t, h, u32::try_from(d).unwrap_or(u32::MAX));
            }
        }
        self.flush_fragment(true)?;
        if let Err(e) = self.out.flush() {
            self.poisoned = Some(e.to_string());
            return Err(Error::IoUnnamed(e));
        }
        Ok(self.out)
    }

    /// Write `ftyp` + `moov` if not done yet, then the current fragment (if it has samples) as
    /// `moof` + `mdat` (ISO/IEC 14496-12 §8.8.4, §8.1.1).
    /// Before the header can be written every H.264 track needs its SPS and PPS; until then
    /// the fragment keeps growing, up to [`MAX_FRAGMENT_BYTES`] (`last`: no more data will
    /// come, so it is an error now).
    fn flush_fragment(&mut self, last: bool) -> Result<()> {
        if self.tracks.iter().all(|t| t.samples.is_empty()) {
            return Ok(());
        }
        let mut head = Vec::new();
        if !self.header_written {
            if let Some(t) = self.tracks.iter().find(|t| matches!(&t.desc.entry, Entry::Avc(st) if st.record.is_none()))
            {
                if !last && self.frag_bytes < MAX_FRAGMENT_BYTES {
                    return Ok(());
                }
                return Err(Error::invalid(format!(
                    "fragmented mp4 mux: stream {}: H.264 without SPS/PPS (none in StreamInfo.config nor in-band)",
                    t.desc.stream
                )));
            }
            head = self.header()?;
        }
        self.sequence = self.sequence.wrapping_add(1);
        let moof = self.moof()?;
        let payload: usize = self.tracks.iter().map(|t| t.data.len()).sum();
        let mut res = self.out.write_all(&head);
        if res.is_ok() {
            res = self.out.write_all(&moof);
        }
        if res.is_ok() {
            res = self.out.write_all(&mdat_header(payload as u64, u32::MAX as u64));
        }
        for t in &self.tracks {
            if res.is_ok() {
                res = self.out.write_all(&t.data);
            }
        }
        if res.is_ok() {
            res = self.out.flush();
        }
        if let Err(e) = res {
            self.poisoned = Some(e.to_string());
            return Err(Error::IoUnnamed(e));
        }
        self.header_written = true;
        for t in &mut self.tracks {
            t.samples.clear();
            t.data.clear();
        }
        self.frag_bytes = 0;
        Ok(())
    }

    /// Writes `ftyp` and the `moov` box (ISO/IEC 14496-12 §8.2.1) of the fragmented file: empty
    /// sample tables, then `mvex` (§8.8.1) with one `trex` (§8.8.3) per track (sample
    /// description 1, no defaults). Fixes every track's decode-time shift.
    fn header(&mut self) -> Result<Vec<u8>> {
        for t in &mut self.tracks {
            let shift = t.first_dts.unwrap_or(0).min(0);
            t.shift = Some(shift);
            if let Entry::Avc(st) = &t.desc.entry {
                if t.desc.width == 0 || t.desc.height == 0 {
                    if let Some(Ok(sps)) = st.sps.first().map(|s| Sps::parse(s)) {
                        (t.desc.width, t.desc.height) = (sps.width, sps.height);
                    }
                }
            }
        }
        let plans = self
            .tracks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let shift = t.shift.unwrap_or(0);
                Ok(Plan {
                    track: &t.desc,
                    track_id: i as u32 + 1,
                    media_duration: 0,
                    edits: if shift < 0 { vec![(0, -shift)] } else { Vec::new() },
                    duration: 0,
                    sample_entry: mp4::sample_entry_box(&t.desc, i as u32 + 1, 0)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut mvex = Vec::new();
        bx(&mut mvex, b"mvex", |o| {
            for p in &plans {
                fullbox(o, b"trex", 0, 0, |o| {
                    put_u32(o, p.track_id);
                    put_u32(o, 1); // default_sample_description_index
                    put_u32(o, 0); // default_sample_duration
                    put_u32(o, 0); // default_sample_size
                    put_u32(o, 0); // default_sample_flags
                });
            }
        });
        let mut o = ftyp_box();
        o.extend_from_slice(&mp4::moov_box(&plans, 0, false, &mvex));
        Ok(o)
    }

    /// Writes the `moof` box (ISO/IEC 14496-12 §8.8.4) of the current fragment: `mfhd` (§8.8.5),
    /// then per track with samples a `traf` (§8.8.6) holding `tfhd` (§8.8.7), `tfdt` (§8.8.12)
    /// and `trun` (§8.8.8), whose data offsets point into the `mdat` (§8.1.1) written after it.
    fn moof(&self) -> Result<Vec<u8>> {
        let mut o = Vec::new();
        // Positions of the data_offset fields, with the track's offset into the mdat payload.
        let mut fixups: Vec<(usize, usize)> = Vec::new();
        let mut payload_at = 0usize;
        bx(&mut o, b"moof", |o| {
            fullbox(o, b"mfhd", 0, 0, |o| put_u32(o, self.sequence));
            for (i, t) in self.tracks.iter().enumerate() {
                if t.samples.is_empty() {
                    continue;
                }
                let shift = t.shift.unwrap_or(0);
                bx(o, b"traf", |o| {
                    fullbox(o, b"tfhd", 0, TFHD_BASE_IS_MOOF, |o| put_u32(o, i as u32 + 1));
                    fullbox(o, b"tfdt", 1, 0, |o| put_u64(o, (t.samples[0].dts - shift).max(0) as u64));
                    let cts = t.samples.iter().any(|s| s.offset != 0);
                    let negative = t.samples.iter().any(|s| s.offset < 0);
                    let flags =
                        TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | if cts { TRUN_CTS } else { 0 };
                    fullbox(o, b"trun", negative as u8, flags, |o| {
                        put_u32(o, t.samples.len() as u32);
                        fixups.push((o.len(), payload_at));
                        put_u32(o, 0); // data_offset, set below
                        for s in &t.samples {
                            put_u32(o, s.duration);
                            put_u32(o, s.size);
                            put_u32(o, if s.sync { SAMPLE_SYNC } else { SAMPLE_NON_SYNC });
                            if cts {
                                put_u32(o, s.offset as u32);
                            }
                        }
                    });
                });
                payload_at += t.data.len();
            }
        });
        let payload = payload_at as u64;
        let base = o.len() + mdat_header(payload, u32::MAX as u64).len();
        for (at, off) in fixups {
            // data_offset is signed 32-bit.
            let v = i32::try_from(base + off)
                .map_err(|_| Error::invalid("fragmented mp4 mux: fragment over 2 GiB (a packet is too large)"))?;
            o[at..at + 4].copy_from_slice(&v.to_be_bytes());
        }
        Ok(o)
    }
}

/// Append a held sample, now of known duration, to the track's fragment.
fn commit(t: &mut FragTrack, h: Held, duration: u32) {
    t.samples.push(Sample { dts: h.dts, offset: h.offset, size: h.data.len() as u32, sync: h.sync, duration });
    t.data.extend_from_slice(&h.data);
}

/// Writes the `ftyp` box (ISO/IEC 14496-12 §4.3): brands of fragmented ISO BMFF (`iso6`:
/// ISO/IEC 14496-12 2015+ with tfdt/trex), plus the older ones players look for.
fn ftyp_box() -> Vec<u8> {
    let mut o = Vec::new();
    bx(&mut o, b"ftyp", |o| {
        o.extend_from_slice(b"iso6");
        put_u32(o, 0);
        for b in [b"iso6", b"isom", b"mp41", b"avc1", b"dash"] {
            o.extend_from_slice(b);
        }
    });
    o
}

#[cfg(test)]
#[path = "tests/fmp4.rs"]
pub(crate) mod tests;
