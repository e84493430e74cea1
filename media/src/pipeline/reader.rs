//! The clip reader: one thread per open clip, demux -> decode -> per-clip normalisation
//! (pictures fitted to the canvas, audio resampled and placed on the output sample clock),
//! sending [`ClipEvent`]s to the timeline.
//!
//! A clip's time zero is where its tracks start ([`StreamInfo::start`]): MP4 (after edit
//! lists) and ADTS say so; for an absolute clock (MPEG-TS) it is the earliest timestamp of
//! the first packets. A large offset starts reading near it when the demuxer can seek.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::ClipWaiter;
use crate::decode::{self, resample::ClipResampler, AudioDecoder, VideoDecoder};
use crate::demux;
use crate::error::Location;
use crate::frame::{AudioFrame, VideoFrame};
use crate::packet::{Demuxer, MediaKind, Packet, StreamInfo};
use crate::stats::{Collector, Span, Stage};
use crate::time::{rescale, Time, VIDEO_HZ};
use crate::timeline::{ClipEvent, OutputFormat};
use crate::{Error, Result};

/// A clip whose offset skips more than this much of its file (90 kHz) is read from shortly
/// before the offset when its demuxer can seek ([`CompileOptions::seek_clips`]).
pub(crate) const SEEK_MIN_OFFSET: i64 = 2 * VIDEO_HZ as i64;
/// How long before the offset such a clip resumes (90 kHz): the audio decoder and the
/// resampler are settled by the offset. (The demuxer itself resumes video at the sync
/// sample before the picture showing at the target.)
const SEEK_MARGIN: i64 = VIDEO_HZ as i64;

/// How reader threads read their clips, and what they count.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReadOptions {
    /// Start near a large offset when the demuxer can seek (see [`SEEK_MIN_OFFSET`]).
    pub seek: bool,
    pub counters: Arc<ReadCounters>,
    /// Demux and decode time of the reader threads.
    pub stats: Arc<Collector>,
    /// Which library decodes H.264.
    pub decoder: decode::DecoderChoice,
}

/// Totals over every reader thread sharing them.
#[derive(Debug, Default)]
pub(crate) struct ReadCounters {
    /// Packets taken from demuxers.
    pub packets: AtomicU64,
    /// Clips that started reading near their offset.
    pub seeks: AtomicU64,
}

/// Start a reader thread for one clip; its events arrive on the returned channel.
/// `offset` is the clip's [`ClipSpec::offset`]: content before it is not shown.
pub(crate) fn spawn_reader(
    path: PathBuf,
    offset: i64,
    fmt: OutputFormat,
    wait: Option<ClipWaiter>,
    how: ReadOptions,
) -> Receiver<ClipEvent> {
    // Small: each picture is canvas-sized (1.4 MB at 720p); the scheduler keeps its own
    // short read-ahead per clip.
    let (tx, rx) = bounded(8);
    let name = format!("clip {}", path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    let spawned = std::thread::Builder::new().name(name).spawn({
        let tx = tx.clone();
        move || {
            let path = match wait {
                Some(w) => match w(&path) {
                    Ok(p) => p,
                    Err(why) => {
                        let _ = tx.send(ClipEvent::End { problem: Some(why), fatal: true });
                        return;
                    }
                },
                None => path,
            };
            read_clip(&path, offset, fmt, &how, &tx)
        }
    });
    if let Err(e) = spawned {
        let _ = tx.send(ClipEvent::End { problem: Some(format!("cannot start a reader thread: {e}")), fatal: true });
    }
    rx
}

/// Describe a clip-level error for the summary.
fn describe(e: &Error) -> String {
    let what = match e.kind() {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => "file not found".into(),
        Error::Io { source, .. } => format!("cannot read: {source}"),
        Error::Invalid(m) => m.clone(),
        other => other.to_string(),
    };
    match e.location() {
        Some(at) => format!("{what} ({at})"),
        None => what,
    }
}

/// The first audio frame a read of the stream `info` from the file's start decodes, as
/// (pts, sample rate): decodes the stream's first packets with a scratch decoder, reading
/// packets into `buffered` (to be replayed) until one comes out. `None` when there is none
/// or on a decoding error; a demuxing error is left in `problem`.
fn first_audio_frame(
    dmx: &mut dyn crate::packet::Demuxer,
    buffered: &mut Vec<Packet>,
    info: &StreamInfo,
    problem: &mut Option<String>,
    packets: &AtomicU64,
) -> Option<(i64, u32)> {
    let mut dec = decode::open_audio(info).ok()?;
    let mut frames = Vec::new();
    let mut i = 0;
    loop {
        while i < buffered.len() {
            if buffered[i].stream == info.index {
                dec.decode(&buffered[i], &mut frames).ok()?;
                if let Some(f) = frames.iter().find(|f| !f.is_empty() && f.sample_rate > 0) {
                    return Some((f.pts, f.sample_rate));
                }
            }
            i += 1;
        }
        if buffered.len() >= 2000 {
            return None;
        }
        match dmx.next_packet() {
            Ok(Some(p)) => {
                packets.fetch_add(1, Ordering::Relaxed);
                buffered.push(p);
            }
            Ok(None) => return None,
            Err(e) => {
                *problem = Some(format!("damaged: {}", describe(&e)));
                return None;
            }
        }
    }
}

/// A reader thread's time: demux is what `next_packet` took, decode the rest of the thread
/// (decoding, scaling, resampling, and waiting on its queue), added when it ends.
struct ReaderTime<'a> {
    stats: &'a Collector,
    _worker: (crate::stats::Entered<'a>, crate::stats::Entered<'a>),
    span: Span,
    demux: (u64, u64),
    frames: u64,
}

impl<'a> ReaderTime<'a> {
    fn new(stats: &'a Collector) -> Self {
        let workers = (stats.enter(Stage::Demux), stats.enter(Stage::Decode));
        ReaderTime { stats, _worker: workers, span: Span::start(), demux: (0, 0), frames: 0 }
    }

    /// Time one demuxer call.
    fn demux<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let s = Span::start();
        let r = f();
        let (c, w) = s.elapsed();
        self.demux = (self.demux.0 + c, self.demux.1 + w);
        r
    }
}

impl Drop for ReaderTime<'_> {
    fn drop(&mut self) {
        let (cpu, wall) = self.span.elapsed();
        self.stats.add(Stage::Demux, self.demux.0, self.demux.1);
        self.stats.add(Stage::Decode, cpu.saturating_sub(self.demux.0), wall.saturating_sub(self.demux.1));
        self.stats.add_items(Stage::Decode, self.frames);
    }
}

/// One clip being read on its reader thread.
struct ClipReader<'a> {
    dmx: Box<dyn Demuxer>,
    time: ReaderTime<'a>,
    packets: &'a AtomicU64,
    tx: &'a Sender<ClipEvent>,
    fmt: OutputFormat,
    /// The video and audio stream used, and their decoders (`None` once decoding failed).
    vs: Option<StreamInfo>,
    aus: Option<StreamInfo>,
    vdec: Option<Box<dyn VideoDecoder>>,
    adec: Option<Box<dyn AudioDecoder>>,
    /// Packets read ahead (time zero, first audio frame), replayed before reading on.
    buffered: Vec<Packet>,
    /// Why the clip ended early, if it did.
    problem: Option<String>,
    /// The clip's time zero (90 kHz, in the container's clock).
    origin: i64,
    /// Packets this reader took from its demuxer (the index of the next one).
    read: u64,
}

fn read_clip(path: &Path, offset: i64, fmt: OutputFormat, how: &ReadOptions, tx: &Sender<ClipEvent>) {
    let Some(mut r) = ClipReader::open(path, fmt, how, tx) else { return };
    r.find_origin();
    let audio = r.seek_near(offset, how);
    r.run(audio);
}

/// A stream whose codec the build cannot decode is left out with a note; the clip still
/// contributes its other stream.
fn open_or_note<T>(
    s: &Option<StreamInfo>,
    what: &str,
    open: impl Fn(&StreamInfo) -> Result<T>,
    notes: &mut Vec<String>,
) -> Option<T> {
    let s = s.as_ref()?;
    open(s).map_err(|e| notes.push(format!("{what}: {e}"))).ok()
}

impl<'a> ClipReader<'a> {
    /// Open the file and its decoders and send `Start`; `None` when the clip ended here.
    fn open(path: &Path, fmt: OutputFormat, how: &'a ReadOptions, tx: &'a Sender<ClipEvent>) -> Option<Self> {
        let mut time = ReaderTime::new(&how.stats);
        let end = |problem: String| {
            let _ = tx.send(ClipEvent::End { problem: Some(problem), fatal: true });
        };
        let (_format, dmx) = match time.demux(|| demux::open(path)) {
            Ok(d) => d,
            Err(e) => {
                end(describe(&e));
                return None;
            }
        };
        let streams = dmx.streams().to_vec();
        let mut notes = Vec::new();
        let vs = streams.iter().find(|s| s.kind == MediaKind::Video).cloned();
        let aus = streams.iter().find(|s| s.kind == MediaKind::Audio).cloned();
        let vdec = open_or_note(&vs, "video", |s| decode::open_video(s, how.decoder), &mut notes);
        let adec = open_or_note(&aus, "audio", decode::open_audio, &mut notes);
        if vdec.is_none() && adec.is_none() {
            end(if notes.is_empty() { "no audio or video stream".to_string() } else { notes.join("; ") });
            return None;
        }
        if tx.send(ClipEvent::Start { has_video: vdec.is_some(), has_audio: adec.is_some(), notes }).is_err() {
            return None;
        }
        let packets = &how.counters.packets;
        let (buffered, problem, origin) = (Vec::new(), None, 0);
        Some(ClipReader { dmx, time, packets, tx, fmt, vs, aus, vdec, adec, buffered, problem, origin, read: 0 })
    }

    /// The next packet from the demuxer (counted and timed); `None` at the end or on an
    /// error (then kept in `problem`).
    fn next_packet(&mut self) -> Option<Packet> {
        let dmx = &mut self.dmx;
        match self.time.demux(|| dmx.next_packet()) {
            Ok(Some(p)) => {
                self.packets.fetch_add(1, Ordering::Relaxed);
                self.read += 1;
                Some(p)
            }
            Ok(None) => None,
            Err(e) => {
                let e = e.at(Location { packet: Some(self.read), ..Location::default() });
                self.problem = Some(format!("damaged: {}", describe(&e)));
                None
            }
        }
    }

    /// The clip's time zero: 0 when every used track starts there; for an absolute clock
    /// the earliest timestamp of the used streams' first packets (read ahead, replayed).
    fn find_origin(&mut self) {
        let used = [(&self.vs, self.vdec.is_some()), (&self.aus, self.adec.is_some())];
        if used.iter().all(|(s, on)| !on || s.as_ref().is_none_or(|s| s.start.is_some())) {
            let starts = used.iter().filter(|(_, on)| *on).filter_map(|(s, _)| s.as_ref());
            self.origin = starts.filter_map(|s| s.start.map(|t| rescale(t, s.timebase, VIDEO_HZ))).min().unwrap_or(0);
            return;
        }
        let vidx = self.vs.as_ref().filter(|_| self.vdec.is_some()).map(|s| (s.index, s.timebase));
        let aidx = self.aus.as_ref().filter(|_| self.adec.is_some()).map(|s| (s.index, s.timebase));
        let first =
            |p: &Packet, s: Option<(usize, u32)>| s.filter(|s| s.0 == p.stream).map(|s| rescale(p.pts, s.1, VIDEO_HZ));
        let (mut first_v, mut first_a): (Option<i64>, Option<i64>) = (None, None);
        while self.buffered.len() < 2000 && (first_v.is_none() && vidx.is_some() || first_a.is_none() && aidx.is_some())
        {
            let Some(p) = self.next_packet() else { break };
            if let Some(t) = first(&p, vidx) {
                first_v = Some(first_v.map_or(t, |v| v.min(t)));
            } else if let Some(t) = first(&p, aidx) {
                first_a = Some(first_a.map_or(t, |v| v.min(t)));
            }
            self.buffered.push(p);
        }
        // B-frames: the earliest pts may come a few packets after the first.
        let video = self.vs.as_ref().map(|s| (s.index, s.timebase));
        for t in self.buffered.iter().filter_map(|p| first(p, video)) {
            first_v = Some(first_v.map_or(t, |v| v.min(t)));
        }
        self.origin = match (first_v, first_a) {
            (Some(v), Some(a)) => v.min(a),
            (v, a) => v.or(a).unwrap_or(0),
        };
    }

    /// A large offset: start reading shortly before it instead of decoding (and scaling)
    /// everything it skips. The demuxer resumes video at the sync sample the picture at the
    /// target needs and audio a few frames early; what precedes the offset is dropped by
    /// the timeline exactly as when reading from the start. Returns the clip's audio placer.
    fn seek_near(&mut self, offset: i64, how: &ReadOptions) -> ClipResampler {
        let fmt = self.fmt;
        let a_end = self.aus.as_ref().and_then(|s| s.presentation_end.map(|e| rescale(e, s.timebase, fmt.sample_rate)));
        let (mut min_out, mut grid) = (0, None);
        if how.seek && offset > SEEK_MIN_OFFSET && self.problem.is_none() {
            // Where a read from the start lays its audio (resampler phase, see ClipResampler).
            let first_audio = match (&self.aus, self.adec.is_some()) {
                (Some(info), true) => {
                    first_audio_frame(&mut *self.dmx, &mut self.buffered, info, &mut self.problem, self.packets)
                }
                _ => None,
            };
            let target = self.origin + offset - SEEK_MARGIN;
            if self.problem.is_none() && self.dmx.seek(target, VIDEO_HZ) {
                how.counters.seeks.fetch_add(1, Ordering::Relaxed);
                self.buffered.clear();
                min_out = rescale(offset - SEEK_MARGIN, VIDEO_HZ, fmt.sample_rate);
                grid = first_audio.map(|(pts, rate)| (pts - rescale(self.origin, VIDEO_HZ, rate), rate));
            }
        }
        ClipResampler::new(fmt.sample_rate, fmt.channels, min_out, a_end, grid)
    }

    /// Decode every packet (the buffered ones first), then flush and send `End`.
    fn run(mut self, mut audio: ClipResampler) {
        let vidx = self.vs.as_ref().map(|s| s.index);
        let aidx = self.aus.as_ref().map(|s| s.index);
        let mut queue = std::mem::take(&mut self.buffered).into_iter();
        loop {
            let pkt = match queue.next() {
                Some(p) => p,
                None if self.problem.is_some() => break,
                None => match self.next_packet() {
                    Some(p) => p,
                    None => break,
                },
            };
            let sent = if Some(pkt.stream) == vidx {
                self.decode_video(&pkt)
            } else if Some(pkt.stream) == aidx {
                self.decode_audio(&pkt, &mut audio)
            } else {
                true
            };
            if !sent {
                return;
            }
        }
        self.finish(audio);
    }

    /// Decode one video packet and send its pictures; false when the timeline hung up.
    fn decode_video(&mut self, pkt: &Packet) -> bool {
        let Some(d) = self.vdec.as_mut() else { return true };
        let mut frames = Vec::new();
        if let Err(e) = d.decode(pkt, &mut frames) {
            let tb = self.vs.as_ref().map_or(1, |s| s.timebase);
            let e = e.at(Location::at_time(pkt.stream, Time::new(pkt.pts, tb)));
            self.problem.get_or_insert(format!("video decoding stopped: {e}"));
            self.vdec = None;
        }
        self.send_video(frames)
    }

    /// Decode one audio packet and send its placed samples; false when the timeline hung up.
    fn decode_audio(&mut self, pkt: &Packet, audio: &mut ClipResampler) -> bool {
        let Some(d) = self.adec.as_mut() else { return true };
        let mut frames = Vec::new();
        if let Err(e) = d.decode(pkt, &mut frames) {
            let tb = self.aus.as_ref().map_or(1, |s| s.timebase);
            let e = e.at(Location::at_time(pkt.stream, Time::new(pkt.pts, tb)));
            self.problem.get_or_insert(format!("audio decoding stopped: {e}"));
            self.adec = None;
        }
        self.time.frames += frames.len() as u64;
        self.send_audio(frames, audio)
    }

    /// Pictures relative to the time zero, fitted to the canvas, up to the presentation end.
    fn send_video(&mut self, frames: Vec<VideoFrame>) -> bool {
        let v_end = self.vs.as_ref().and_then(|s| s.presentation_end.map(|e| rescale(e, s.timebase, VIDEO_HZ)));
        for f in frames {
            if v_end.is_some_and(|e| f.pts >= e) {
                continue;
            }
            let picture = crate::compose::scale::fit(&f.picture, self.fmt.width, self.fmt.height);
            self.time.frames += 1;
            if self.tx.send(ClipEvent::Video(VideoFrame { pts: f.pts - self.origin, picture })).is_err() {
                return false;
            }
        }
        true
    }

    fn send_audio(&mut self, frames: Vec<AudioFrame>, audio: &mut ClipResampler) -> bool {
        for f in frames {
            let mut placed = Vec::new();
            audio.push(f, self.origin, &mut placed);
            if !self.send_placed(placed) {
                return false;
            }
        }
        true
    }

    fn send_placed(&self, placed: Vec<AudioFrame>) -> bool {
        placed.into_iter().all(|f| self.tx.send(ClipEvent::Audio(f)).is_ok())
    }

    /// Flush the decoders and the resampler, then send `End` with what went wrong.
    fn finish(mut self, mut audio: ClipResampler) {
        let mut errors = 0;
        if let Some(d) = self.vdec.as_mut() {
            let mut frames = Vec::new();
            let _ = d.flush(&mut frames);
            errors += d.errors();
            if !self.send_video(frames) {
                return;
            }
        }
        if let Some(d) = self.adec.as_mut() {
            let mut frames = Vec::new();
            let _ = d.flush(&mut frames);
            errors += d.errors();
            if !self.send_audio(frames, &mut audio) {
                return;
            }
        }
        let mut tail = Vec::new();
        audio.finish(&mut tail);
        self.send_placed(tail);
        let mut problem = self.problem.take();
        if errors > 0 && problem.is_none() {
            problem = Some(format!("{errors} damaged access unit(s) skipped"));
        }
        let fatal = self.time.frames == 0;
        let problem = match (problem, fatal) {
            (None, true) => Some("no decodable audio or video".to_string()),
            (p, _) => p,
        };
        let _ = self.tx.send(ClipEvent::End { problem, fatal });
    }
}
