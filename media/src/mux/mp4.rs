//! MP4 muxer: H.264 and AAC packets to a progressive ("faststart") `.mp4` file, following
//! ISO/IEC 14496-12 (ISO base media file format), ISO/IEC 14496-14 (MP4 file format, `esds`)
//! and ISO/IEC 14496-15 (AVC file format, `avc1`/`avcC`).
//!
//! # How it writes
//!
//! Sample data is streamed, in the order [`Mp4Writer::write`] is called, to a sidecar file
//! `<out>.mdat.part` next to the output, while compact sample tables are kept in memory
//! (per sample: 4 bytes of size; run-length `stts`/`ctts` entries; sync sample numbers;
//! 16 bytes per chunk). Consecutive samples of the same track form one chunk, so the
//! interleaving of the file is exactly the interleaving of the calls. [`Mp4Writer::finish`]
//! writes `ftyp` + `moov` + the `mdat` header to `<out>.part`, with chunk offsets computed
//! for `mdat` placed right after `moov`, appends the sidecar data, fsyncs, renames
//! `<out>.part` to `<out>` (atomic on POSIX) and removes the sidecar. An unfinished writer
//! removes its temporary files when dropped, so `<out>` never exists half-written.
//!
//! # Layout written
//!
//! ```text
//! ftyp            major isom, minor 0x200, compatible isom iso2 avc1 mp41
//! moov
//!   mvhd          timescale 1000, duration = longest track (rounded to nearest ms)
//!   trak          one per stream that received at least one packet, track_ID 1, 2, ...
//!     tkhd        flags 3 (enabled, in movie), duration = where the track's presentation
//!                 ends in movie ticks (= sum of the edits), width/height 16.16 (video),
//!                 volume 1.0 (audio)
//!     edts
//!       elst      [empty edit (media_time -1) of the start delay, if the track starts late]
//!                 + one edit: media_time = media time of pts 0, duration = presented part
//!     mdia
//!       mdhd      timescale = stream timebase (video) or sample rate (audio); duration =
//!                 sum of sample durations; language from StreamInfo or "und"
//!       hdlr      vide "stitch video" / soun "stitch audio"
//!       minf
//!         vmhd | smhd
//!         dinf/dref   one self-contained `url ` entry (flags 1)
//!         stbl
//!           stsd  avc1 (+ avcC)  |  mp4a (+ esds: ES_Descriptor(3) > DecoderConfigDescriptor(4)
//!                 OTI 0x40 streamType 5, bufferSizeDB = largest AU, maxBitrate = most bits in
//!                 any 1 s window, avgBitrate > DecoderSpecificInfo(5) = AudioSpecificConfig;
//!                 SLConfigDescriptor(6) predefined 2; descriptor sizes in the 4-byte
//!                 expandable form 0x80 0x80 0x80 n that FFmpeg also writes)
//!           stts  run-length sample durations
//!           ctts  only if some pts != dts: version 0, or version 1 when an offset is negative
//!           stsc  one entry per change of samples-per-chunk
//!           stsz  per-sample sizes (or one constant size)
//!           stco | co64   co64 (for every track) when a chunk offset would exceed u32::MAX
//!           stss  video only, only if not every sample is a sync sample
//! mdat            32-bit size, or size 1 + 64-bit largesize when the box exceeds u32::MAX
//! ```
//!
//! # Samples
//!
//! - H.264: packets are Annex B (see [`crate::packet`]); they are stored with 4-byte NAL
//!   length prefixes. Access unit delimiters are dropped. The `avcC` record is
//!   [`StreamInfo::config`] passed through (its lengthSizeMinusOne is set to 3 if it said
//!   otherwise); when the config is empty it is built from the first in-band SPS and PPS.
//!   In-band SPS/PPS identical to those in `avcC` are stripped from the samples (an `avc1`
//!   sample entry carries them out of band); a parameter set that differs from `avcC`
//!   (a mid-stream change) is kept in-band so the pictures that need it still decode.
//! - AAC: packets are raw access units stored as they are. The AudioSpecificConfig is
//!   [`StreamInfo::config`], or an AAC-LC one built from `sample_rate`/`channels` when empty.
//!
//! # Timing
//!
//! Packet times are in the stream's timebase; audio times are rescaled to the sample rate
//! (the `mdhd` timescale) with rounding, which is exact for frame-aligned audio. `dts` must
//! increase strictly per stream. A sample's duration is the next sample's dts minus its own;
//! the last one's is `pkt.duration` if > 0, else the previous delta (a lone sample without a
//! duration gets 1024 samples for audio, 1/25 s for video).
//!
//! The presentation of every track starts at pts 0. With `first_dts` the dts of the track's
//! first sample and `p0 = max(min pts, 0)`, the track gets an empty edit of `p0` (only if
//! `p0 > 0`: the track starts late) followed by one edit with `media_time = p0 - first_dts`
//! covering `p0 .. end`, where `end` is the largest `pts + duration`, capped by
//! [`StreamInfo::presentation_end`]. So AAC encoder priming (first pts -2048) and the
//! negative first dts of B-frame video are hidden by the edit list, and players and FFmpeg
//! start both streams at 0.
//!
//! Timestamps in the file are `dts - first_dts` (decode time 0 = first sample) and
//! `pts - dts` composition offsets. Durations (ISO/IEC 14496-12 §8.2.2, §8.3.2, §8.4.2,
//! §8.6.6): `mdhd` = sum of the sample durations; `tkhd` = the end of the track's last
//! presented sample on the movie timeline, rounded once to movie ticks, = the sum of its
//! edits; `mvhd` = the largest `tkhd`. A caller that starts its earliest track at pts 0
//! (e.g. the recorder's remux) thus gets no empty edit on that track, and a player that
//! trusts any of these headers sees the duration the samples really have.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::codec::aac::AudioConfig;
use crate::codec::h264::{self, AvcConfig, Sps};
use crate::packet::{Codec, MediaKind, Packet, StreamInfo};
use crate::time::rescale;
use crate::{Error, Result};

/// Timescale of `mvhd`, `tkhd` and `elst` durations.
const MOVIE_TIMESCALE: u32 = 1000;

/// Size thresholds; private so tests can exercise the 64-bit forms with small files.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// Largest chunk offset that may be stored in `stco`.
    stco_max: u64,
    /// Largest `mdat` box (header included) that may use a 32-bit size.
    box32_max: u64,
}

const DEFAULT_LIMITS: Limits = Limits { stco_max: u32::MAX as u64, box32_max: u32::MAX as u64 };

/// Sample description state of one track.
pub(crate) enum Entry {
    Avc(AvcState),
    Aac { asc: Vec<u8>, channels: u16 },
}

pub(crate) struct AvcState {
    /// The finished `avcC` payload; `None` until in-band SPS and PPS were seen.
    pub(crate) record: Option<Vec<u8>>,
    /// Parameter sets in (or destined for) the record: in-band copies are stripped.
    pub(crate) sps: Vec<Vec<u8>>,
    pps: Vec<Vec<u8>>,
}

/// One chunk: where it starts in `mdat` and how many samples it holds.
#[derive(Clone, Copy)]
struct Chunk {
    offset: u64,
    samples: u32,
}

/// One track: its sample description and (for [`Mp4Writer`]) its sample tables. The
/// fragmented writer ([`super::fmp4`]) uses the description only and leaves the tables empty.
pub(crate) struct Track {
    pub(crate) stream: usize,
    pub(crate) kind: MediaKind,
    pub(crate) entry: Entry,
    /// Timebase of the packets.
    pub(crate) in_tb: u32,
    /// `mdhd` timescale.
    pub(crate) timescale: u32,
    pub(crate) width: u32,
    pub(crate) height: u32,
    language: [u8; 3],
    presentation_end: Option<i64>,
    sizes: Vec<u32>,
    stts: Vec<(u32, u32)>,
    ctts: Vec<(u32, i32)>,
    sync: Vec<u32>,
    chunks: Vec<Chunk>,
    first_dts: i64,
    last_dts: i64,
    /// The caller's dts of the previous packet (for error messages).
    last_in_dts: i64,
    last_pts: i64,
    last_duration: i64,
    min_pts: i64,
    /// Largest `pts + duration` over samples whose duration is known.
    max_end: i64,
    total_bytes: u64,
    max_size: u32,
}

impl Track {
    fn count(&self) -> u32 {
        self.sizes.len() as u32
    }
}

/// Writes one `.mp4` file from H.264 and AAC packets. See the module documentation.
pub struct Mp4Writer {
    path: PathBuf,
    part_path: PathBuf,
    sidecar_path: PathBuf,
    sidecar: Option<BufWriter<File>>,
    mdat_len: u64,
    tracks: Vec<Track>,
    last_track: Option<usize>,
    limits: Limits,
    /// Set when a write failed half-way: the tables no longer match the data.
    poisoned: Option<String>,
    finished: bool,
    /// Replace a file that exists under the output's name at the end (see `mux::publish`).
    replace: bool,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn language_code(lang: Option<&str>) -> [u8; 3] {
    match lang.map(str::as_bytes) {
        Some(&[a, b, c]) if [a, b, c].iter().all(u8::is_ascii_lowercase) => [a, b, c],
        _ => *b"und",
    }
}

pub(crate) fn new_track(stream: usize, info: &StreamInfo) -> Result<Track> {
    let what = |m: &str| Error::invalid(format!("mp4 mux: stream {stream}: {m}"));
    if info.timebase == 0 {
        return Err(what("timebase 0"));
    }
    let (kind, entry, timescale, mut width, mut height) = match &info.codec {
        Codec::H264 => {
            let mut st = AvcState { record: None, sps: Vec::new(), pps: Vec::new() };
            if !info.config.is_empty() {
                let cfg = AvcConfig::parse(&info.config)
                    .map_err(|e| what(&format!("invalid avcC in StreamInfo.config: {e}")))?;
                let mut rec = info.config.to_vec();
                // Samples are written with 4-byte lengths: say so.
                rec[4] |= 0x03;
                st.sps = cfg.sps;
                st.pps = cfg.pps;
                st.record = Some(rec);
            }
            (MediaKind::Video, Entry::Avc(st), info.timebase, info.width, info.height)
        }
        Codec::Aac => {
            let asc = if info.config.is_empty() {
                if info.sample_rate == 0 || info.channels == 0 {
                    return Err(what("AAC without AudioSpecificConfig, sample rate or channel count"));
                }
                AudioConfig::lc(info.sample_rate, info.channels).to_bytes()
            } else {
                info.config.to_vec()
            };
            let parsed = AudioConfig::parse(&asc).map_err(|e| what(&format!("AudioSpecificConfig: {e}")))?;
            let rate = if info.sample_rate > 0 { info.sample_rate } else { parsed.output_rate() };
            let channels = if info.channels > 0 { info.channels } else { parsed.channels };
            (MediaKind::Audio, Entry::Aac { asc, channels }, rate, 0, 0)
        }
        Codec::Other(name) => {
            return Err(Error::UnsupportedCodec(format!("{name} (the MP4 muxer writes H.264 and AAC only)")))
        }
    };
    if let Entry::Avc(st) = &entry {
        if width == 0 || height == 0 {
            if let Some(Ok(sps)) = st.sps.first().map(|s| Sps::parse(s)) {
                width = sps.width;
                height = sps.height;
            }
        }
    }
    Ok(Track {
        stream,
        kind,
        entry,
        in_tb: info.timebase,
        timescale,
        width,
        height,
        language: language_code(info.language.as_deref()),
        presentation_end: info.presentation_end,
        sizes: Vec::new(),
        stts: Vec::new(),
        ctts: Vec::new(),
        sync: Vec::new(),
        chunks: Vec::new(),
        first_dts: 0,
        last_dts: 0,
        last_in_dts: 0,
        last_pts: 0,
        last_duration: 0,
        min_pts: i64::MAX,
        max_end: i64::MIN,
        total_bytes: 0,
        max_size: 0,
    })
}

/// Append `delta` to run-length `stts` entries.
fn push_run<T: PartialEq + Copy>(runs: &mut Vec<(u32, T)>, value: T) {
    match runs.last_mut() {
        Some((n, v)) if *v == value && *n < u32::MAX => *n += 1,
        _ => runs.push((1, value)),
    }
}

/// The duration of a track's last sample: the packet's own, else the previous sample's,
/// else one AAC frame or 1/25 s.
fn close_track(t: &mut Track) {
    if t.sizes.is_empty() {
        return;
    }
    let d = if t.last_duration > 0 {
        t.last_duration
    } else if let Some((_, d)) = t.stts.last() {
        *d as i64
    } else if t.kind == MediaKind::Audio {
        rescale(1024, t.timescale.max(1), t.timescale).max(1)
    } else {
        (t.timescale as i64 / 25).max(1)
    };
    let d = u32::try_from(d).unwrap_or(u32::MAX);
    push_run(&mut t.stts, d);
    t.max_end = t.max_end.max(t.last_pts + d as i64);
}

/// The stts delta of a sample of `t` at `dts` (track timescale; `in_dts` as given, for
/// messages): `None` for the first sample; an error unless the DTS increases by less
/// than 2^32 ticks.
fn dts_delta(t: &Track, dts: i64, in_dts: i64) -> Result<Option<u32>> {
    if t.sizes.is_empty() {
        return Ok(None);
    }
    let s = t.stream;
    if dts <= t.last_dts {
        return Err(Error::invalid(format!(
            "mp4 mux: stream {s}: dts {in_dts} does not increase (previous dts {}, timebase 1/{})",
            t.last_in_dts, t.in_tb
        )));
    }
    let d = u32::try_from(dts - t.last_dts).map_err(|_| {
        Error::invalid(format!(
            "mp4 mux: stream {s}: dts jumps from {} to {in_dts} (more than 2^32 ticks)",
            t.last_in_dts
        ))
    })?;
    Ok(Some(d))
}

/// Annex B access unit to 4-byte length-prefixed NAL units, dropping AUDs and the SPS/PPS
/// that are (or will be) in `avcC`.
pub(crate) fn avc_sample(st: &mut AvcState, data: &[u8], stream: usize) -> Result<Vec<u8>> {
    if !data.is_empty() && !h264::looks_like_annexb(data) {
        return Err(Error::invalid(format!(
            "mp4 mux: stream {stream}: H.264 packet is not Annex B (no leading start code)"
        )));
    }
    let mut out = Vec::with_capacity(data.len() + 8);
    for nal in h264::annexb_nals(data) {
        let t = h264::nal_type(nal);
        if t == h264::NAL_AUD {
            continue;
        }
        if t == h264::NAL_SPS || t == h264::NAL_PPS {
            let (list, cap) = if t == h264::NAL_SPS { (&mut st.sps, 31) } else { (&mut st.pps, 255) };
            if list.iter().any(|s| s.as_slice() == nal) {
                continue;
            }
            if st.record.is_none() && list.len() < cap && nal.len() <= u16::MAX as usize {
                list.push(nal.to_vec());
                continue;
            }
            // A parameter set not in avcC: keep it in-band.
        }
        let len = u32::try_from(nal.len())
            .map_err(|_| Error::invalid(format!("mp4 mux: stream {stream}: NAL unit over 4 GiB")))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
    }
    if st.record.is_none() && !st.sps.is_empty() && !st.pps.is_empty() {
        let cfg = AvcConfig::from_parameter_sets(st.sps.clone(), st.pps.clone())
            .map_err(|e| Error::invalid(format!("mp4 mux: stream {stream}: in-band SPS: {e}")))?;
        st.record = Some(cfg.to_bytes());
    }
    Ok(out)
}

impl Mp4Writer {
    /// `false`: `finish` does not replace a file that appeared under the output's name.
    pub fn replace_existing(&mut self, yes: bool) {
        self.replace = yes;
    }

    /// Start a file at `path` for `streams` (H.264 video and/or AAC audio; `Packet::stream`
    /// indexes this slice). Creates the sidecar `<path>.mdat.part`.
    pub fn create(path: &Path, streams: &[StreamInfo]) -> Result<Mp4Writer> {
        Self::create_with_limits(path, streams, DEFAULT_LIMITS)
    }

    fn create_with_limits(path: &Path, streams: &[StreamInfo], limits: Limits) -> Result<Mp4Writer> {
        if streams.is_empty() {
            return Err(Error::NoMedia(" (mp4 mux: no streams given)".into()));
        }
        let tracks = streams.iter().enumerate().map(|(i, s)| new_track(i, s)).collect::<Result<Vec<_>>>()?;
        let sidecar_path = with_suffix(path, ".mdat.part");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&sidecar_path)
            .map_err(io_err(&sidecar_path))?;
        Ok(Mp4Writer {
            path: path.to_path_buf(),
            part_path: with_suffix(path, ".part"),
            sidecar_path,
            sidecar: Some(BufWriter::with_capacity(1 << 20, file)),
            mdat_len: 0,
            tracks,
            last_track: None,
            limits,
            poisoned: None,
            finished: false,
            replace: true,
        })
    }

    /// Add one packet. `pts`/`dts` are in the stream's timebase; `dts` must increase
    /// strictly within a stream.
    pub fn write(&mut self, pkt: &Packet) -> Result<()> {
        if let Some(why) = &self.poisoned {
            return Err(Error::invalid(format!("mp4 mux: writer unusable after an earlier error: {why}")));
        }
        let ntracks = self.tracks.len();
        let t = self.tracks.get_mut(pkt.stream).ok_or_else(|| {
            Error::invalid(format!("mp4 mux: packet for stream {} but only {ntracks} streams", pkt.stream))
        })?;
        let s = t.stream;
        let (mut dts, mut pts) = (rescale(pkt.dts, t.in_tb, t.timescale), rescale(pkt.pts, t.in_tb, t.timescale));
        if !t.sizes.is_empty() && dts <= t.last_dts && pkt.dts > t.last_in_dts {
            // Two increasing DTS that fall on one tick of the track's timescale (a 90 kHz
            // clock written at 48 kHz, e.g. AAC frames at a TS join): the later goes one tick
            // on (20 us at 48 kHz), as the later one must be a later sample.
            let nudge = t.last_dts + 1 - dts;
            (dts, pts) = (dts + nudge, pts + nudge);
        }
        let delta = dts_delta(t, dts, pkt.dts)?;
        let off = i32::try_from(pts - dts).map_err(|_| {
            Error::invalid(format!("mp4 mux: stream {s}: pts {} too far from dts {}", pkt.pts, pkt.dts))
        })?;
        if t.sizes.len() >= u32::MAX as usize - 1 {
            return Err(Error::invalid(format!("mp4 mux: stream {s}: more than 2^32 samples")));
        }
        let converted;
        let data: &[u8] = match &mut t.entry {
            Entry::Avc(st) => {
                converted = avc_sample(st, &pkt.data, s)?;
                &converted
            }
            Entry::Aac { .. } => &pkt.data,
        };
        let size =
            u32::try_from(data.len()).map_err(|_| Error::invalid(format!("mp4 mux: stream {s}: packet over 4 GiB")))?;

        let sidecar = self.sidecar.as_mut().ok_or_else(|| Error::invalid("mp4 mux: writer already finished"))?;
        if let Err(e) = sidecar.write_all(data) {
            self.poisoned = Some(format!("{}: {e}", self.sidecar_path.display()));
            return Err(Error::Io { path: self.sidecar_path.clone(), source: e });
        }

        // Tables.
        if let Some(d) = delta {
            push_run(&mut t.stts, d);
            t.max_end = t.max_end.max(t.last_pts + d as i64);
        } else {
            t.first_dts = dts;
        }
        if self.last_track == Some(pkt.stream) && !t.chunks.is_empty() {
            if let Some(c) = t.chunks.last_mut() {
                c.samples += 1;
            }
        } else {
            t.chunks.push(Chunk { offset: self.mdat_len, samples: 1 });
        }
        self.last_track = Some(pkt.stream);
        self.mdat_len += size as u64;
        t.sizes.push(size);
        push_run(&mut t.ctts, off);
        if pkt.keyframe {
            t.sync.push(t.sizes.len() as u32);
        }
        t.last_dts = dts;
        t.last_in_dts = pkt.dts;
        t.last_pts = pts;
        t.last_duration = if pkt.duration > 0 { rescale(pkt.duration, t.in_tb, t.timescale) } else { 0 };
        t.min_pts = t.min_pts.min(pts);
        t.total_bytes += size as u64;
        t.max_size = t.max_size.max(size);
        Ok(())
    }

    /// Write the file: `ftyp`, `moov`, then `mdat`; returns the file's size in bytes.
    pub fn finish(mut self) -> Result<u64> {
        if let Some(why) = &self.poisoned {
            return Err(Error::invalid(format!("mp4 mux: cannot finish after an earlier error: {why}")));
        }
        let sidecar = self.sidecar.take().ok_or_else(|| Error::invalid("mp4 mux: writer already finished"))?;
        let mut sidecar =
            sidecar.into_inner().map_err(|e| Error::Io { path: self.sidecar_path.clone(), source: e.into_error() })?;

        // Last sample durations.
        for t in &mut self.tracks {
            close_track(t);
        }

        let plans = self
            .tracks
            .iter()
            .filter(|t| !t.sizes.is_empty())
            .enumerate()
            .map(|(i, t)| plan_track(t, i as u32 + 1))
            .collect::<Result<Vec<_>>>()?;
        if plans.is_empty() {
            return Err(Error::NoMedia(" (mp4 mux: no packets were written)".into()));
        }

        let ftyp = ftyp_box();
        let mdat_hdr = mdat_header(self.mdat_len, self.limits.box32_max);
        let max_chunk = plans.iter().flat_map(|p| p.track.chunks.iter().map(|c| c.offset)).max().unwrap_or(0);
        let prefix = |moov: &[u8]| (ftyp.len() + moov.len() + mdat_hdr.len()) as u64;
        let probe = moov_box(&plans, 0, false, &[]);
        let co64 = prefix(&probe) + max_chunk > self.limits.stco_max;
        let probe = if co64 { moov_box(&plans, 0, true, &[]) } else { probe };
        let base = prefix(&probe);
        let moov = moov_box(&plans, base, co64, &[]);
        debug_assert_eq!(moov.len(), probe.len());
        if moov.len() as u64 > u32::MAX as u64 {
            return Err(Error::invalid("mp4 mux: moov box over 4 GiB (too many samples)"));
        }

        let part = self.part_path.clone();
        let mut out = File::create(&part).map_err(io_err(&part))?;
        out.write_all(&ftyp).map_err(io_err(&part))?;
        out.write_all(&moov).map_err(io_err(&part))?;
        out.write_all(&mdat_hdr).map_err(io_err(&part))?;
        sidecar.seek(SeekFrom::Start(0)).map_err(io_err(&self.sidecar_path))?;
        // File-to-file io::copy uses copy_file_range/sendfile on Linux, else a buffer loop.
        let copied = io::copy(&mut sidecar, &mut out).map_err(io_err(&part))?;
        if copied != self.mdat_len {
            return Err(Error::invalid(format!(
                "mp4 mux: sample data file {} holds {copied} bytes, expected {}",
                self.sidecar_path.display(),
                self.mdat_len
            )));
        }
        out.sync_all().map_err(io_err(&part))?;
        drop(out);
        drop(sidecar);
        super::publish(&part, &self.path, self.replace)?;
        self.finished = true;
        let _ = fs::remove_file(&self.sidecar_path);
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(base + self.mdat_len)
    }
}

impl Drop for Mp4Writer {
    fn drop(&mut self) {
        if !self.finished {
            self.sidecar = None;
            let _ = fs::remove_file(&self.sidecar_path);
            let _ = fs::remove_file(&self.part_path);
        }
    }
}

/// What `finish` computed for one track.
pub(crate) struct Plan<'a> {
    pub(crate) track: &'a Track,
    pub(crate) track_id: u32,
    /// Sum of sample durations, media timescale.
    pub(crate) media_duration: u64,
    /// (segment duration in movie ticks, media_time or -1); no `edts` box when empty.
    pub(crate) edits: Vec<(u64, i64)>,
    /// Sum of edit durations, movie ticks.
    pub(crate) duration: u64,
    pub(crate) sample_entry: Vec<u8>,
}

fn plan_track(t: &Track, track_id: u32) -> Result<Plan<'_>> {
    let media_duration: u64 = t.stts.iter().map(|&(n, d)| n as u64 * d as u64).sum();
    let ts = t.timescale;
    let mut end = t.max_end;
    if let Some(e) = t.presentation_end {
        end = end.min(rescale(e, t.in_tb, ts));
    }
    let p0 = t.min_pts.max(0);
    let mut edits = Vec::new();
    let empty = rescale(p0, ts, MOVIE_TIMESCALE).max(0) as u64;
    if empty > 0 {
        edits.push((empty, -1));
    }
    // The track ends at `end` on the movie timeline: its duration is that instant rounded
    // once, and the edit gets what the empty edit leaves (rounding each part separately
    // could put tkhd/mvhd 1 ms away from where the samples end).
    let duration = (rescale(end, ts, MOVIE_TIMESCALE).max(0) as u64).max(empty);
    let seg = duration - empty;
    edits.push((seg, (p0 - t.first_dts).max(0)));
    let sample_entry = sample_entry_box(t, track_id, media_duration)?;
    Ok(Plan { track: t, track_id, media_duration, edits, duration, sample_entry })
}

// ---- box writing helpers ----

fn put_u16(o: &mut Vec<u8>, v: u16) {
    o.extend_from_slice(&v.to_be_bytes());
}
pub(crate) fn put_u32(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_be_bytes());
}
pub(crate) fn put_u64(o: &mut Vec<u8>, v: u64) {
    o.extend_from_slice(&v.to_be_bytes());
}

/// Writes a plain box (ISO/IEC 14496-12 §4.2 `Box`): 32-bit size, type, then what `f` writes.
/// The size is patched in afterwards (saturating at `u32::MAX`; callers keep boxes smaller).
pub(crate) fn bx(o: &mut Vec<u8>, typ: &[u8; 4], f: impl FnOnce(&mut Vec<u8>)) {
    let start = o.len();
    o.extend_from_slice(&[0, 0, 0, 0]);
    o.extend_from_slice(typ);
    f(o);
    let n = (o.len() - start).min(u32::MAX as usize) as u32;
    o[start..start + 4].copy_from_slice(&n.to_be_bytes());
}

/// Writes a box (ISO/IEC 14496-12 §4.2) as [`bx`] does when `cond`, else nothing.
fn bx_if(o: &mut Vec<u8>, cond: bool, typ: &[u8; 4], f: impl FnOnce(&mut Vec<u8>)) {
    if cond {
        bx(o, typ, f)
    }
}

/// Writes a full box (ISO/IEC 14496-12 §4.2 `FullBox`): a [`bx`] whose payload starts with
/// the 8-bit version and 24-bit flags.
pub(crate) fn fullbox(o: &mut Vec<u8>, typ: &[u8; 4], version: u8, flags: u32, f: impl FnOnce(&mut Vec<u8>)) {
    bx(o, typ, |o| {
        put_u32(o, (version as u32) << 24 | (flags & 0xff_ffff));
        f(o)
    })
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Writes the `ftyp` box (ISO/IEC 14496-12 §4.3): major brand `isom`, minor version 0x200,
/// compatible brands `isom iso2 avc1 mp41`.
fn ftyp_box() -> Vec<u8> {
    let mut o = Vec::new();
    bx(&mut o, b"ftyp", |o| {
        o.extend_from_slice(b"isom");
        put_u32(o, 0x200);
        for b in [b"isom", b"iso2", b"avc1", b"mp41"] {
            o.extend_from_slice(b);
        }
    });
    o
}

/// Writes the header of the `mdat` box (ISO/IEC 14496-12 §8.1.1) for `payload` bytes: 8 bytes,
/// or 16 with size 1 and a 64-bit largesize (§4.2) when the box would exceed `box32_max`.
pub(crate) fn mdat_header(payload: u64, box32_max: u64) -> Vec<u8> {
    let mut o = Vec::with_capacity(16);
    if payload + 8 <= box32_max {
        put_u32(&mut o, (payload + 8) as u32);
        o.extend_from_slice(b"mdat");
    } else {
        put_u32(&mut o, 1);
        o.extend_from_slice(b"mdat");
        put_u64(&mut o, payload + 16);
    }
    o
}

/// Writes the time fields shared by `mvhd`, `tkhd` and `mdhd` (ISO/IEC 14496-12 §8.2.2,
/// §8.3.2, §8.4.2): version 0 (32-bit times) when `dur` fits, else version 1; creation and
/// modification times (0: unknown), then `mid`, then the duration.
fn times_and_duration(o: &mut Vec<u8>, version: u8, mid: impl FnOnce(&mut Vec<u8>), dur: u64) {
    if version == 1 {
        put_u64(o, 0);
        put_u64(o, 0);
        mid(o);
        put_u64(o, dur);
    } else {
        put_u32(o, 0);
        put_u32(o, 0);
        mid(o);
        put_u32(o, dur as u32);
    }
}

/// The full-box version for a duration field: 1 (64-bit) when it exceeds 32 bits, else 0.
fn version_for(dur: u64) -> u8 {
    if dur > u32::MAX as u64 {
        1
    } else {
        0
    }
}

/// Writes the `moov` box (ISO/IEC 14496-12 §8.2.1) with its `mvhd` (§8.2.2: timescale
/// [`MOVIE_TIMESCALE`], duration = the largest track duration) and one `trak` per plan;
/// `tail` (e.g. an `mvex` box) is appended after the `trak` boxes.
pub(crate) fn moov_box(plans: &[Plan], mdat_base: u64, co64: bool, tail: &[u8]) -> Vec<u8> {
    let movie_duration = plans.iter().map(|p| p.duration).max().unwrap_or(0);
    let mut o = Vec::new();
    bx(&mut o, b"moov", |o| {
        let v = version_for(movie_duration);
        fullbox(o, b"mvhd", v, 0, |o| {
            times_and_duration(o, v, |o| put_u32(o, MOVIE_TIMESCALE), movie_duration);
            put_u32(o, 0x0001_0000); // rate 1.0
            put_u16(o, 0x0100); // volume 1.0
            o.extend_from_slice(&[0; 10]);
            MATRIX.iter().for_each(|&m| put_u32(o, m));
            o.extend_from_slice(&[0; 24]); // pre_defined
            put_u32(o, plans.len() as u32 + 1); // next_track_ID
        });
        for p in plans {
            trak_box(o, p, mdat_base, co64);
        }
        o.extend_from_slice(tail);
    });
    o
}

/// Writes the `trak` box (ISO/IEC 14496-12 §8.3.1) of one track: `tkhd` (§8.3.2), `edts`
/// (§8.6.5) with `elst` (§8.6.6) when the plan has edits, and `mdia` (§8.4.1) holding `mdhd`
/// (§8.4.2), `hdlr` (§8.4.3) and `minf` (§8.4.4) with `vmhd` (§12.1.2) or `smhd` (§12.2.2),
/// `dinf` (§8.7.1) / `dref` with one self-contained `url ` entry (§8.7.2), and the `stbl`.
fn trak_box(o: &mut Vec<u8>, p: &Plan, mdat_base: u64, co64: bool) {
    let t = p.track;
    let video = t.kind == MediaKind::Video;
    bx(o, b"trak", |o| {
        let v = version_for(p.duration);
        fullbox(o, b"tkhd", v, 3, |o| {
            times_and_duration(
                o,
                v,
                |o| {
                    put_u32(o, p.track_id);
                    put_u32(o, 0); // reserved
                },
                p.duration,
            );
            put_u64(o, 0); // reserved
            put_u16(o, 0); // layer
            put_u16(o, 0); // alternate_group
            put_u16(o, if video { 0 } else { 0x0100 }); // volume
            put_u16(o, 0);
            MATRIX.iter().for_each(|&m| put_u32(o, m));
            let fixed = |x: u32| x.min(0xffff) << 16;
            put_u32(o, if video { fixed(t.width) } else { 0 });
            put_u32(o, if video { fixed(t.height) } else { 0 });
        });
        bx_if(o, !p.edits.is_empty(), b"edts", |o| {
            let v = if p.edits.iter().any(|&(d, m)| d > u32::MAX as u64 || m > i32::MAX as i64) { 1 } else { 0 };
            fullbox(o, b"elst", v, 0, |o| {
                put_u32(o, p.edits.len() as u32);
                for &(dur, media_time) in &p.edits {
                    if v == 1 {
                        put_u64(o, dur);
                        put_u64(o, media_time as u64);
                    } else {
                        put_u32(o, dur as u32);
                        put_u32(o, media_time as i32 as u32);
                    }
                    put_u16(o, 1); // media_rate_integer
                    put_u16(o, 0); // media_rate_fraction
                }
            });
        });
        bx(o, b"mdia", |o| {
            let v = version_for(p.media_duration);
            fullbox(o, b"mdhd", v, 0, |o| {
                times_and_duration(o, v, |o| put_u32(o, t.timescale), p.media_duration);
                let l = t.language;
                let packed = ((l[0] - 0x60) as u16) << 10 | ((l[1] - 0x60) as u16) << 5 | (l[2] - 0x60) as u16;
                put_u16(o, packed);
                put_u16(o, 0);
            });
            fullbox(o, b"hdlr", 0, 0, |o| {
                put_u32(o, 0);
                o.extend_from_slice(if video { b"vide" } else { b"soun" });
                o.extend_from_slice(&[0; 12]);
                o.extend_from_slice(if video { b"stitch video\0" } else { b"stitch audio\0" });
            });
            bx(o, b"minf", |o| {
                if video {
                    fullbox(o, b"vmhd", 0, 1, |o| o.extend_from_slice(&[0; 8]));
                } else {
                    fullbox(o, b"smhd", 0, 0, |o| put_u32(o, 0));
                }
                bx(o, b"dinf", |o| {
                    fullbox(o, b"dref", 0, 0, |o| {
                        put_u32(o, 1);
                        fullbox(o, b"url ", 0, 1, |_| {});
                    });
                });
                stbl_box(o, p, mdat_base, co64);
            });
        });
    });
}

/// Writes the `stbl` box (ISO/IEC 14496-12 §8.5.1): `stsd` (§8.5.2) with the plan's sample
/// entry, `stts`, `ctts` (§8.6.1.3) when some composition offset is not 0, `stsc`, `stsz`
/// (§8.7.3), `stco`/`co64`, and `stss` (§8.6.2) for video unless every sample is a sync sample.
fn stbl_box(o: &mut Vec<u8>, p: &Plan, mdat_base: u64, co64: bool) {
    let t = p.track;
    bx(o, b"stbl", |o| {
        fullbox(o, b"stsd", 0, 0, |o| {
            put_u32(o, 1);
            o.extend_from_slice(&p.sample_entry);
        });
        stts_box(o, &t.stts);
        if t.ctts.iter().any(|&(_, off)| off != 0) {
            let v = if t.ctts.iter().any(|&(_, off)| off < 0) { 1 } else { 0 };
            fullbox(o, b"ctts", v, 0, |o| {
                put_u32(o, t.ctts.len() as u32);
                for &(n, off) in &t.ctts {
                    put_u32(o, n);
                    put_u32(o, off as u32);
                }
            });
        }
        stsc_box(o, &t.chunks);
        fullbox(o, b"stsz", 0, 0, |o| {
            let first = t.sizes.first().copied().unwrap_or(0);
            if t.sizes.iter().all(|&s| s == first) {
                put_u32(o, first);
                put_u32(o, t.count());
            } else {
                put_u32(o, 0);
                put_u32(o, t.count());
                o.reserve(t.sizes.len() * 4);
                t.sizes.iter().for_each(|&s| put_u32(o, s));
            }
        });
        chunk_offset_box(o, t.chunks.iter().map(|c| mdat_base + c.offset), t.chunks.len(), co64);
        if t.kind == MediaKind::Video && t.sync.len() != t.sizes.len() {
            fullbox(o, b"stss", 0, 0, |o| {
                put_u32(o, t.sync.len() as u32);
                t.sync.iter().for_each(|&n| put_u32(o, n));
            });
        }
    });
}

/// Writes the `stts` box (ISO/IEC 14496-12 §8.6.1.2) from run-length (sample_count,
/// sample_delta) entries.
fn stts_box(o: &mut Vec<u8>, runs: &[(u32, u32)]) {
    fullbox(o, b"stts", 0, 0, |o| {
        put_u32(o, runs.len() as u32);
        for &(n, d) in runs {
            put_u32(o, n);
            put_u32(o, d);
        }
    });
}

/// Writes the `stsc` box (ISO/IEC 14496-12 §8.7.4): one entry per change of samples per
/// chunk, all with sample description 1.
fn stsc_box(o: &mut Vec<u8>, chunks: &[Chunk]) {
    let mut entries: Vec<(u32, u32)> = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        if entries.last().map(|e| e.1) != Some(c.samples) {
            entries.push((i as u32 + 1, c.samples));
        }
    }
    fullbox(o, b"stsc", 0, 0, |o| {
        put_u32(o, entries.len() as u32);
        for (first, n) in entries {
            put_u32(o, first);
            put_u32(o, n);
            put_u32(o, 1); // sample_description_index
        }
    });
}

/// Writes the `stco` box, or with `co64` the `co64` box (ISO/IEC 14496-12 §8.7.5), from
/// `count` absolute file offsets.
fn chunk_offset_box(o: &mut Vec<u8>, offsets: impl Iterator<Item = u64>, count: usize, co64: bool) {
    fullbox(o, if co64 { b"co64" } else { b"stco" }, 0, 0, |o| {
        put_u32(o, count as u32);
        o.reserve(count * if co64 { 8 } else { 4 });
        for off in offsets {
            if co64 {
                put_u64(o, off);
            } else {
                put_u32(o, off as u32);
            }
        }
    });
}

/// Writes the track's sample entry for `stsd`: `avc1` (ISO/IEC 14496-15 §5.4.2, a
/// VisualSampleEntry of ISO/IEC 14496-12 §12.1.3) with its `avcC` box holding the
/// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1), or `mp4a` (ISO/IEC 14496-14
/// §5.6, an AudioSampleEntry of ISO/IEC 14496-12 §12.2.3) with its `esds`. Fails for H.264
/// without SPS/PPS.
pub(crate) fn sample_entry_box(t: &Track, track_id: u32, media_duration: u64) -> Result<Vec<u8>> {
    let mut o = Vec::new();
    match &t.entry {
        Entry::Avc(st) => {
            let record = st.record.as_ref().ok_or_else(|| {
                Error::invalid(format!(
                    "mp4 mux: stream {}: H.264 without SPS/PPS (none in StreamInfo.config nor in-band)",
                    t.stream
                ))
            })?;
            let (mut w, mut h) = (t.width, t.height);
            if w == 0 || h == 0 {
                if let Some(Ok(sps)) = st.sps.first().map(|s| Sps::parse(s)) {
                    (w, h) = (sps.width, sps.height);
                }
            }
            bx(&mut o, b"avc1", |o| {
                o.extend_from_slice(&[0; 6]);
                put_u16(o, 1); // data_reference_index
                o.extend_from_slice(&[0; 16]); // pre_defined, reserved
                put_u16(o, w.min(0xffff) as u16);
                put_u16(o, h.min(0xffff) as u16);
                put_u32(o, 0x0048_0000); // 72 dpi
                put_u32(o, 0x0048_0000);
                put_u32(o, 0);
                put_u16(o, 1); // frame_count
                o.extend_from_slice(&[0; 32]); // compressorname
                put_u16(o, 0x0018); // depth
                put_u16(o, 0xffff); // pre_defined -1
                bx(o, b"avcC", |o| o.extend_from_slice(record));
            });
        }
        Entry::Aac { asc, channels } => {
            let (max_br, avg_br) = bitrates(t, media_duration);
            let esds = esds_box(track_id as u16, asc, t.max_size.min(0xff_ffff), max_br, avg_br);
            bx(&mut o, b"mp4a", |o| {
                o.extend_from_slice(&[0; 6]);
                put_u16(o, 1); // data_reference_index
                o.extend_from_slice(&[0; 8]);
                put_u16(o, *channels);
                put_u16(o, 16); // samplesize
                put_u32(o, 0); // pre_defined, reserved
                put_u32(o, if t.timescale <= 0xffff { t.timescale << 16 } else { 0 });
                o.extend_from_slice(&esds);
            });
        }
    }
    Ok(o)
}

/// (maximum bits in any one-second window of decode time, average bit rate).
fn bitrates(t: &Track, media_duration: u64) -> (u32, u32) {
    let ts = t.timescale as u64;
    fn dts(runs: &[(u32, u32)]) -> impl Iterator<Item = u64> + '_ {
        let mut acc = 0u64;
        runs.iter().flat_map(|&(n, d)| std::iter::repeat_n(d, n as usize)).map(move |d| {
            let v = acc;
            acc += d as u64;
            v
        })
    }
    let mut left = dts(&t.stts).zip(t.sizes.iter());
    let mut left_dts = None;
    let mut window = 0u64;
    let mut max = 0u64;
    for (d, &size) in dts(&t.stts).zip(t.sizes.iter()) {
        window += size as u64;
        // Drop samples at or before d - ts: the window is (d - ts, d].
        loop {
            if left_dts.is_none() {
                left_dts = left.next().map(|(ld, &ls)| (ld, ls));
            }
            match left_dts {
                Some((ld, ls)) if ld + ts <= d => {
                    window -= ls as u64;
                    left_dts = None;
                }
                _ => break,
            }
        }
        max = max.max(window);
    }
    let avg = if media_duration > 0 {
        (t.total_bytes as u128 * 8 * ts as u128 / media_duration as u128).min(u32::MAX as u128) as u32
    } else {
        0
    };
    ((max * 8).min(u32::MAX as u64) as u32, avg)
}

/// Writes one MPEG-4 descriptor (ISO/IEC 14496-1 §7.2.2.3): tag, size in the 4-byte expandable
/// form (7 bits per byte, continuation bit set on all but the last), payload.
fn descriptor(o: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    let n = payload.len().min((1 << 28) - 1) as u32;
    o.push(tag);
    o.extend_from_slice(&[
        0x80 | (n >> 21 & 0x7f) as u8,
        0x80 | (n >> 14 & 0x7f) as u8,
        0x80 | (n >> 7 & 0x7f) as u8,
        (n & 0x7f) as u8,
    ]);
    o.extend_from_slice(&payload[..n as usize]);
}

/// Writes the `esds` box (ISO/IEC 14496-14 §5.6) for AAC: an ES_Descriptor (ISO/IEC 14496-1
/// §7.2.6.5) holding a DecoderConfigDescriptor (§7.2.6.6) with the AudioSpecificConfig as its
/// DecoderSpecificInfo (§7.2.6.7), and an SLConfigDescriptor (§7.3.2.3).
fn esds_box(es_id: u16, asc: &[u8], buffer_size: u32, max_bitrate: u32, avg_bitrate: u32) -> Vec<u8> {
    let mut dcd = vec![0x40, 0x15]; // OTI MPEG-4 Audio; streamType 5 (audio) << 2 | reserved 1
    dcd.extend_from_slice(&buffer_size.min(0xff_ffff).to_be_bytes()[1..]);
    put_u32(&mut dcd, max_bitrate);
    put_u32(&mut dcd, avg_bitrate);
    descriptor(&mut dcd, 0x05, asc);
    let mut es = Vec::new();
    put_u16(&mut es, es_id);
    es.push(0); // no dependence, URL or OCR; priority 0
    descriptor(&mut es, 0x04, &dcd);
    descriptor(&mut es, 0x06, &[0x02]); // SLConfigDescriptor: predefined = 2 (MP4 files)
    let mut o = Vec::new();
    fullbox(&mut o, b"esds", 0, 0, |o| descriptor(o, 0x03, &es));
    o
}

#[cfg(test)]
#[path = "tests/mp4.rs"]
pub(crate) mod tests;
