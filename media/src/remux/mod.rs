//! Remux: containers to containers without decoding, for the recorder.
//!
//! - [`tsjoin`]: HLS MPEG-TS segments joined into one continuous transport stream
//!   (ISO/IEC 13818-1; RFC 8216 §3.2), and [`tsjoin::check_ts`], an independent checker.
//! - [`remux`]: packets of one or two demuxers (TS, MP4/fMP4, ADTS) into a [`Muxer`] (MP4,
//!   fragmented MP4 or TS). The bitstream conversions happen at the demuxer and muxer edges,
//!   each in one place in [`crate::codec`]: Annex B <-> length-prefixed AVC samples
//!   ([`crate::codec::h264::avcc_to_annexb`], [`crate::codec::h264::annexb_to_avcc`], with
//!   `avcC` from [`crate::codec::h264::AvcConfig`]) and ADTS <-> AudioSpecificConfig
//!   ([`crate::codec::aac::AdtsHeader`], [`crate::codec::aac::AudioConfig`]).
//!
//! Timing: every timestamp stays in integer ticks of its stream's timebase ([`Time`]); no
//! floating point. The output's t=0 is the first *presented* sample of any track (the
//! smallest pts, not the first dts, which B-frame video has earlier), one offset for all
//! tracks, so a track gets a start delay (an MP4 empty edit) only when it really starts
//! later than another, and a B-frame track's decode times before 0 are covered by its edit
//! (ISO/IEC 14496-12 §8.6.6).

pub mod tsjoin;

use std::collections::VecDeque;

use crate::mux::Muxer;
use crate::packet::{Codec, Demuxer, MediaKind, Packet, StreamInfo};
use crate::time::Time;

/// Microseconds: the timebase of an [`AudioWindow`].
pub const WINDOW_HZ: u32 = 1_000_000;
/// Packets read ahead per input to find where the presentation starts.
const READ_AHEAD: usize = 256;
/// Slack at both ends of an [`AudioWindow`], in [`WINDOW_HZ`] ticks (1 ms).
const WINDOW_SLACK: i64 = 1000;

/// The part of a separate audio rendition (the second input of [`remux`]) that belongs to
/// one output section, in recorded time from the rendition's first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioWindow {
    /// Start; `None`: from the beginning.
    pub from: Option<Time>,
    /// End (exclusive); `None`: to the end.
    pub to: Option<Time>,
    /// Later sections: the main track's timestamps restart with the section, so the
    /// window's start is aligned with the section's first packet instead of by timestamp.
    pub align_to_start: bool,
}

impl AudioWindow {
    /// The window `[from, to)` (`None`: open at that end), aligned by timestamp.
    pub fn new(from: Option<Time>, to: Option<Time>) -> AudioWindow {
        AudioWindow { from, to, align_to_start: false }
    }
    /// The same window, its start aligned with the section's first packet when `on` (see
    /// [`AudioWindow::align_to_start`]).
    pub fn with_align_to_start(mut self, on: bool) -> AudioWindow {
        self.align_to_start = on;
        self
    }
}

/// Why [`remux`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RemuxError {
    /// The inputs have no H.264 or AAC stream.
    #[error("no H.264/AAC stream to write")]
    NoStream,
    /// Creating, writing or finishing the output.
    #[error("{0}")]
    Mux(#[from] crate::Error),
}

/// Remux `inputs` into the muxer `create` makes for the streams kept, returning what the
/// muxer's `finish` returns (bytes written). With two inputs the first gives the video and
/// the second (a separate audio rendition, cut to `window`) the audio; with one, its first
/// H.264 and first AAC stream are kept. Other codecs are dropped. A damaged tail of an input
/// ends that input (what was read is kept); a packet whose DTS does not increase is dropped.
pub fn remux(
    inputs: Vec<Box<dyn Demuxer>>,
    window: Option<AudioWindow>,
    create: impl FnOnce(&[StreamInfo]) -> crate::Result<Muxer>,
) -> Result<u64, RemuxError> {
    let (map, streams) = select_streams(&inputs);
    if streams.is_empty() {
        return Err(RemuxError::NoStream);
    }
    let mut mux = create(&streams)?;
    let mut r = Reader::new(inputs, map, streams, window);
    r.prime();
    let shift = r.shifts();
    r.interleave(&mut mux, &shift)?;
    Ok(mux.finish()?)
}

/// Per input, its streams' output index (`None`: dropped); the output streams.
fn select_streams(inputs: &[Box<dyn Demuxer>]) -> (Vec<Vec<Option<usize>>>, Vec<StreamInfo>) {
    let mut map: Vec<Vec<Option<usize>>> = Vec::new();
    let mut streams: Vec<StreamInfo> = Vec::new();
    let n_inputs = inputs.len();
    for (i, d) in inputs.iter().enumerate() {
        let mut m = Vec::new();
        for s in d.streams() {
            let keep = if n_inputs > 1 && i == 0 {
                s.kind == MediaKind::Video
            } else if n_inputs > 1 {
                s.kind == MediaKind::Audio
            } else {
                true
            };
            let supported = matches!(s.codec, Codec::H264 | Codec::Aac);
            let taken = streams.iter().any(|o| o.kind == s.kind);
            if keep && supported && !taken {
                let mut info = s.clone();
                info.index = streams.len();
                m.push(Some(streams.len()));
                streams.push(info);
            } else {
                m.push(None);
            }
        }
        map.push(m);
    }
    (map, streams)
}

/// The inputs, each with a queue of packets read ahead (already mapped to output streams).
struct Reader {
    inputs: Vec<Box<dyn Demuxer>>,
    map: Vec<Vec<Option<usize>>>,
    streams: Vec<StreamInfo>,
    window: Option<AudioWindow>,
    queues: Vec<VecDeque<Packet>>,
    ended: Vec<bool>,
    /// The audio rendition's first timestamp: the origin of its window.
    audio_origin: Option<Time>,
    /// The window in [`WINDOW_HZ`] ticks from the rendition's origin, with slack.
    bounds: Option<(i64, i64)>,
}

impl Reader {
    fn new(
        inputs: Vec<Box<dyn Demuxer>>,
        map: Vec<Vec<Option<usize>>>,
        streams: Vec<StreamInfo>,
        window: Option<AudioWindow>,
    ) -> Reader {
        let n = inputs.len();
        let bounds = window.map(|w| {
            let from = w.from.map_or(i64::MIN / 2, |t| t.to(WINDOW_HZ).ticks);
            let to = w.to.map_or(i64::MAX, |t| t.to(WINDOW_HZ).ticks);
            (from - WINDOW_SLACK, to.saturating_sub(WINDOW_SLACK))
        });
        Reader { inputs, map, streams, window, queues: Vec::new(), ended: vec![false; n], audio_origin: None, bounds }
    }

    /// `ticks` of the (output) stream of `p` as a time.
    fn at(&self, p: &Packet, ticks: i64) -> Time {
        Time::new(ticks, self.streams[p.stream].timebase)
    }

    /// The next packet of input `i` that is kept, mapped to its output stream.
    fn next(&mut self, i: usize) -> Option<Packet> {
        loop {
            match self.inputs[i].next_packet() {
                Ok(Some(mut p)) => {
                    if let Some(Some(o)) = self.map[i].get(p.stream) {
                        p.stream = *o;
                        return Some(p);
                    }
                }
                Ok(None) => return None,
                // A damaged tail (a live recording cut short): keep what we have.
                Err(_) => return None,
            }
        }
    }

    /// Where a packet of input `i` lies relative to the window: -1 before, 0 inside, 1 after.
    fn place(&self, i: usize, p: &Packet) -> i32 {
        match (i, self.bounds, self.audio_origin) {
            (1, Some((from, to)), Some(o)) => {
                let tb = self.streams[p.stream].timebase;
                let t = Time::new(p.dts - o.to(tb).ticks, tb);
                if t < Time::new(from, WINDOW_HZ) {
                    -1
                } else if t >= Time::new(to, WINDOW_HZ) {
                    1
                } else {
                    0
                }
            }
            _ => 0,
        }
    }

    /// Read input `i` until its queue holds `want` packets or the input ends.
    fn fill(&mut self, i: usize, want: usize) {
        while self.queues[i].len() < want && !self.ended[i] {
            match self.next(i) {
                Some(p) => match self.place(i, &p) {
                    0 => self.queues[i].push_back(p),
                    // Past the window's end: this input is done for this section.
                    1 => self.ended[i] = true,
                    _ => {}
                },
                None => self.ended[i] = true,
            }
        }
    }

    /// Fill every queue with [`READ_AHEAD`] packets; the rendition's first packet sets the
    /// window's origin.
    fn prime(&mut self) {
        let mut first_audio = None;
        if self.window.is_some() && self.inputs.len() > 1 {
            first_audio = self.next(1);
            self.audio_origin = first_audio.as_ref().map(|p| self.at(p, p.dts));
        }
        for i in 0..self.inputs.len() {
            self.queues.push(VecDeque::new());
            if i == 1 {
                if let Some(p) = first_audio.take().filter(|p| self.place(1, p) == 0) {
                    self.queues[1].push_back(p);
                }
            }
            self.fill(i, READ_AHEAD);
        }
    }

    /// The earliest presentation time (pts, not dts: B-frame video decodes before it shows)
    /// in the queues of `inputs`.
    fn first_pts(&self, inputs: std::ops::RangeInclusive<usize>) -> Option<Time> {
        self.queues[inputs].iter().flatten().map(|p| self.at(p, p.pts)).min()
    }

    /// Per output stream, the ticks subtracted from its timestamps. Per input, the time that
    /// becomes 0: one value for all inputs keeps their A/V sync; a later section aligns the
    /// rendition's window start instead.
    fn shifts(&self) -> Vec<i64> {
        let n = self.inputs.len();
        let start = if n == 0 { None } else { self.first_pts(0..=n - 1) };
        let input_start: Vec<Option<Time>> = (0..n)
            .map(|i| match (i, self.window, self.audio_origin) {
                (1, Some(w), Some(o)) if w.align_to_start => {
                    let from = w.from.map_or(i64::MIN / 2, |t| t.to(o.timebase).ticks);
                    Some(Time::new(o.ticks + from, o.timebase))
                }
                (_, Some(w), Some(_)) if w.align_to_start => self.first_pts(i..=i),
                _ => start,
            })
            .collect();
        // Output stream -> input it comes from.
        let stream_input = |o: usize| self.map.iter().position(|m| m.contains(&Some(o))).unwrap_or(0);
        self.streams
            .iter()
            .enumerate()
            .map(|(o, s)| input_start[stream_input(o)].map_or(0, |t| t.to(s.timebase).ticks))
            .collect()
    }

    /// Write the packets of all inputs in DTS order (after the shift) into `mux`.
    fn interleave(&mut self, mux: &mut Muxer, shift: &[i64]) -> crate::Result<()> {
        let mut last_dts: Vec<Option<i64>> = vec![None; self.streams.len()];
        loop {
            for i in 0..self.inputs.len() {
                if self.queues[i].is_empty() {
                    self.fill(i, 1);
                }
            }
            let mut best: Option<(usize, Time)> = None;
            for (i, q) in self.queues.iter().enumerate() {
                if let Some(p) = q.front() {
                    let t = self.at(p, p.dts - shift[p.stream]);
                    if best.is_none_or(|(_, bt)| t < bt) {
                        best = Some((i, t));
                    }
                }
            }
            let Some((i, _)) = best else { return Ok(()) };
            let Some(mut p) = self.queues[i].pop_front() else { return Ok(()) };
            p.dts -= shift[p.stream];
            p.pts -= shift[p.stream];
            if last_dts[p.stream].is_some_and(|l| p.dts <= l) {
                continue; // non-increasing DTS: drop rather than fail the whole file
            }
            last_dts[p.stream] = Some(p.dts);
            mux.write(&p)?;
        }
    }
}

#[cfg(test)]
#[path = "tests/remux.rs"]
mod tests;
