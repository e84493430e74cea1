//! Timeline: clips placed on one clock, gaps filled, one output picture and one slice of
//! mixed audio per output frame.
//!
//! Time model: the timeline clock is 90 kHz ticks ([`crate::time::VIDEO_HZ`]); output
//! frame `n` sits at `start + n * 90000 * den / num` (computed from `n`, never accumulated);
//! output audio sample `k` sits at `start_samples + k` where `start_samples` is the timeline
//! start in output samples. A clip's content is relative to its own start (its container's
//! time zero after edit lists), so a clip placed at `relativeTime` R shows its frame with
//! pts `p` at timeline time `R + p`.
//!
//! Rules (core pipeline): one video layer, the later-starting clip wins where clips
//! overlap (a clip without pictures at that time leaves the layer to the others); in a
//! composite every clip started by the frame's time is reported; every sounding clip's
//! audio is placed on the output sample clock (the [`crate::mix`] stage sums it); gaps are
//! black and digital silence (exact zeros). The timeline pulls from per-clip bounded
//! channels fed by reader threads, opening each clip shortly before it starts and dropping
//! it when it ends, so memory does not grow with the timeline.
//!
//! Output: one `FrameSlice` per output frame (which clips show which picture, each clip's
//! placed audio, the slide and chat state); [`crate::compose`] draws it and
//! [`crate::mix`] mixes it.

pub mod flow;

use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use crate::clip::{FrameSlice, Layer, PlacedAudio};
use crate::frame::{AudioFrame, Picture, VideoFrame};
use crate::time::{rescale, rescale_ceil, Ticks90k, VIDEO_HZ};

pub use crate::clip::{is_http_url, ChatLine, ClipSpec, Flow, OutputFormat, Remote, SlideSpec, SourceInfo, SourceKind};

/// What a clip reader sends to the scheduler, in this order: one `Start`, then pictures
/// (pts: 90 kHz relative to the clip start, canvas-sized) and audio (output rate and
/// channels, pts in output samples relative to the clip start) in roughly increasing time,
/// then one `End`.
#[derive(Debug)]
pub(crate) enum ClipEvent {
    /// The clip's file is open and its streams are known.
    Start {
        /// The clip has a video stream it can decode.
        has_video: bool,
        /// The clip has an audio stream it can decode.
        has_audio: bool,
        /// Remarks for the report that do not make the clip damaged (e.g. an unsupported
        /// second stream).
        notes: Vec<String>,
    },
    /// A picture of the clip.
    Video(VideoFrame),
    /// Audio of the clip, already at the output rate and channel count.
    Audio(AudioFrame),
    /// The clip has nothing more.
    End {
        /// Why the clip ended early or was unusable (damaged data, unsupported codec,
        /// missing file); `None`: it ended normally.
        problem: Option<String>,
        /// Nothing at all of the clip could be used.
        fatal: bool,
    },
}

/// How a clip ended up in the output.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum ClipStatus {
    /// Not reached (outside the cut) or not yet finished.
    Unused,
    /// Used as a whole.
    Used,
    /// Used in part; the rest became gap.
    Damaged(String),
    /// Nothing usable.
    Skipped(String),
}

/// What became of one clip of the flow, for the compile report.
#[derive(Clone, Debug)]
pub struct ClipOutcome {
    /// The clip as the flow described it.
    pub spec: ClipSpec,
    /// Whether and how it was used.
    pub status: ClipStatus,
    /// Notes that do not make the clip damaged (e.g. an unsupported second stream).
    pub notes: Vec<String>,
    /// Output pictures that showed this clip.
    pub frames_shown: u64,
    /// End of the clip's content on the timeline, when known.
    pub content_end: Option<Ticks90k>,
}

/// Opens a clip: returns the receiving end of its reader's channel.
pub(crate) type ClipOpener = Box<dyn FnMut(&ClipSpec) -> Receiver<ClipEvent> + Send>;

/// Read-ahead caps per clip: when one stream's data stops arriving while the other's keeps
/// coming (badly interleaved or truncated files), stop reading instead of buffering the
/// whole clip in memory.
const VIDEO_CAP_FRAMES: usize = 32;
const AUDIO_CAP_SAMPLES: usize = 48_000 * 10;

struct Active {
    spec_idx: usize,
    /// Visible from `start` (timeline, 90 kHz); the clip's time zero is at `origin`
    /// (`start - offset`), so content time `p` shows at `origin + p`.
    start: i64,
    origin: i64,
    limit_end: Option<i64>,
    rx: Option<Receiver<ClipEvent>>,
    started: bool,
    has_video: bool,
    has_audio: bool,
    ended: bool,
    video: VecDeque<VideoFrame>,
    current: Option<VideoFrame>,
    last_video_pts: Option<i64>,
    frame_dur: i64,
    /// Audio buffer (interleaved), first sample at relative index `audio_front`.
    audio: VecDeque<f32>,
    audio_front: i64,
    audio_end: i64,
    video_end: i64,
    /// A picture at or past `limit_end` arrived: no later picture can be shown, so stop
    /// pulling for one (the reader would otherwise be drained up to the audio cap).
    video_over: bool,
    /// First audio sample (relative index) that can be heard: the skipped offset. Audio
    /// wholly before it is dropped on arrival, so a large offset never fills the buffer.
    heard_from: i64,
}

/// Decides, frame by frame, what is active: which clips show which picture, each clip's
/// audio placed on the output sample clock, the slide and the chat said so far.
pub(crate) struct Timeline {
    fmt: OutputFormat,
    clips: Vec<ClipSpec>,
    outcomes: Vec<ClipOutcome>,
    /// Indices into `clips` sorted by start, and the next one to open.
    order: Vec<usize>,
    next_open: usize,
    active: Vec<Active>,
    open: ClipOpener,
    /// Timeline position of output frame 0 (90 kHz) and of output sample 0.
    origin: i64,
    origin_samples: i64,
    /// Output length when known: frames, and audio samples.
    total_frames: Option<u64>,
    total_samples: Option<i64>,
    /// Upper bound on the output length (`--max-duration`), 90 kHz.
    max_len: Option<i64>,
    n: u64,
    /// Clips are opened this long before they start so their decoders are warm.
    lookahead: i64,
    content_end: i64,
    /// Webinar composite: report every visible clip (else only the one on top).
    composite: bool,
    /// Composite: slides and chat messages in time order.
    slides: Vec<SlideSpec>,
    chat: Vec<ChatLine>,
}

impl Timeline {
    /// `flow_duration`: the flow's `duration` (90 kHz) if any; `start`/`max_len`: the cut.
    pub fn new(
        fmt: OutputFormat,
        clips: Vec<ClipSpec>,
        flow_duration: Option<i64>,
        start: i64,
        max_len: Option<i64>,
        open: ClipOpener,
    ) -> Timeline {
        let mut order: Vec<usize> = (0..clips.len()).collect();
        order.sort_by_key(|&i| (clips[i].start, i));
        let outcomes = clips
            .iter()
            .map(|c| ClipOutcome {
                spec: c.clone(),
                status: ClipStatus::Unused,
                notes: vec![],
                frames_shown: 0,
                content_end: None,
            })
            .collect();
        let start = start.max(0);
        let mut s = Timeline {
            fmt,
            clips,
            outcomes,
            order,
            next_open: 0,
            active: Vec::new(),
            open,
            origin: start,
            origin_samples: rescale(start, VIDEO_HZ, fmt.sample_rate),
            total_frames: None,
            total_samples: None,
            max_len,
            n: 0,
            lookahead: VIDEO_HZ as i64,
            content_end: 0,
            composite: false,
            slides: Vec::new(),
            chat: Vec::new(),
        };
        if let Some(d) = flow_duration {
            s.set_length((d - start).max(0));
        } else if let Some(m) = max_len {
            // Still bounded by the data; set_length is applied when the data ends earlier.
            let _ = m;
        }
        s
    }

    /// Webinar composite: report every visible clip, the slide shown at each frame's time
    /// and how many of the `chat` messages are said by then.
    pub fn composite(mut self, slides: Vec<SlideSpec>, chat: Vec<ChatLine>) -> Timeline {
        self.composite = true;
        self.slides = slides;
        self.chat = chat;
        self
    }

    /// The chat messages given to [`Timeline::composite`].
    pub fn chat(&self) -> &[ChatLine] {
        &self.chat
    }

    /// The slide shown at timeline time `t` (index into the slides).
    fn slide_at(&self, t: i64) -> Option<usize> {
        let i = self.slides.iter().rposition(|s| s.start.ticks() <= t)?;
        if self.slides[i].end.is_some_and(|e| t >= e.ticks()) {
            return None;
        }
        Some(i)
    }

    fn set_length(&mut self, len: i64) {
        let len = match self.max_len {
            Some(m) => len.min(m),
            None => len,
        }
        .max(0);
        self.total_frames = Some(rescale_ceil(len * self.fmt.fps_num as i64, VIDEO_HZ * self.fmt.fps_den, 1) as u64);
        self.total_samples = Some(rescale(len, VIDEO_HZ, self.fmt.sample_rate));
    }

    /// What became of each clip so far (all of them once `next` returned `None`), in the
    /// order the clips were given.
    pub fn outcomes(&self) -> &[ClipOutcome] {
        &self.outcomes
    }

    fn open_due(&mut self, t: i64) {
        while self.next_open < self.order.len() {
            let idx = self.order[self.next_open];
            let spec = &self.clips[idx];
            if spec.start.ticks() > t + self.lookahead {
                break;
            }
            self.next_open += 1;
            let limit_end = spec.max_len.map(|l| (spec.start + l).ticks());
            // Clips that end before the cut starts are never opened.
            if limit_end.is_some_and(|e| e <= self.origin) {
                continue;
            }
            let rx = (self.open)(spec);
            self.active.push(Active {
                spec_idx: idx,
                start: spec.start.ticks(),
                origin: (spec.start - spec.offset).ticks(),
                limit_end,
                rx: Some(rx),
                started: false,
                has_video: false,
                has_audio: false,
                ended: false,
                video: VecDeque::new(),
                current: None,
                last_video_pts: None,
                frame_dur: 3600,
                audio: VecDeque::new(),
                audio_front: 0,
                audio_end: 0,
                video_end: 0,
                video_over: false,
                heard_from: rescale(spec.offset.ticks().max(0), VIDEO_HZ, self.fmt.sample_rate),
            });
        }
    }

    /// Receive one event for clip `a` (blocking). Returns false when nothing more comes.
    fn pump(a: &mut Active, outcome: &mut ClipOutcome, ch: usize) -> bool {
        let Some(rx) = &a.rx else { return false };
        match rx.recv() {
            Ok(ClipEvent::Start { has_video, has_audio, notes }) => {
                a.started = true;
                a.has_video = has_video;
                a.has_audio = has_audio;
                outcome.notes.extend(notes);
                true
            }
            Ok(ClipEvent::Video(f)) => {
                if let Some(lim) = a.limit_end {
                    if a.origin + f.pts >= lim {
                        a.video_over = true;
                        return true; // beyond the clip's declared length
                    }
                }
                if let Some(last) = a.last_video_pts {
                    if f.pts <= last {
                        return true; // out of order: drop
                    }
                    a.frame_dur = (f.pts - last).clamp(1, VIDEO_HZ as i64);
                }
                a.last_video_pts = Some(f.pts);
                a.video_end = f.pts + a.frame_dur;
                a.video.push_back(f);
                true
            }
            Ok(ClipEvent::Audio(f)) => {
                let n = f.samples.len() / ch;
                if n == 0 || f.pts + n as i64 <= a.heard_from {
                    return true; // empty, or wholly inside the skipped offset: never heard
                }
                if a.audio.is_empty() {
                    a.audio_front = f.pts;
                    a.audio_end = f.pts;
                }
                // Place by timestamp: fill small holes with silence, drop overlaps.
                let mut samples = &f.samples[..n * ch];
                let mut pts = f.pts;
                if pts < a.audio_end {
                    let skip = ((a.audio_end - pts) as usize).min(n);
                    samples = &samples[skip * ch..];
                    pts += skip as i64;
                }
                if pts > a.audio_end {
                    let hole = (pts - a.audio_end) as usize;
                    a.audio.extend(std::iter::repeat_n(0.0, hole * ch));
                }
                a.audio.extend(samples.iter().copied());
                a.audio_end = a.audio_front + (a.audio.len() / ch) as i64;
                true
            }
            Ok(ClipEvent::End { problem, fatal }) => {
                a.ended = true;
                a.rx = None;
                match (problem, fatal) {
                    (Some(p), true) => outcome.status = ClipStatus::Skipped(p),
                    (Some(p), false) => outcome.status = ClipStatus::Damaged(p),
                    (None, _) => {
                        if outcome.status == ClipStatus::Unused {
                            outcome.status = ClipStatus::Used
                        }
                    }
                }
                false
            }
            Err(_) => {
                a.ended = true;
                a.rx = None;
                if outcome.status == ClipStatus::Unused {
                    outcome.status = ClipStatus::Damaged("reader stopped unexpectedly".into());
                }
                false
            }
        }
    }

    fn ensure_started(a: &mut Active, outcome: &mut ClipOutcome, ch: usize) {
        while !a.started && !a.ended {
            Self::pump(a, outcome, ch);
        }
    }

    /// The picture of clip `a` at relative time `rel`, if it shows one.
    fn picture_at(a: &mut Active, outcome: &mut ClipOutcome, rel: i64, period: i64, ch: usize) -> Option<Arc<Picture>> {
        if !a.has_video {
            return None;
        }
        if a.limit_end.is_some_and(|e| a.origin + rel >= e) {
            return None;
        }
        // Pull until a frame after `rel` is queued or the clip ends.
        while !a.ended
            && !a.video_over
            && a.video.back().is_none_or(|f| f.pts <= rel)
            && a.audio.len() < AUDIO_CAP_SAMPLES * ch
        {
            Self::pump(a, outcome, ch);
        }
        while a.video.front().is_some_and(|f| f.pts <= rel) {
            a.current = a.video.pop_front();
        }
        if a.current.is_none() {
            // The first picture starts a little late (less than one output frame): use it.
            if let Some(f) = a.video.front() {
                if f.pts < rel + period {
                    return Some(f.picture.clone());
                }
            }
            return None;
        }
        let cur = a.current.as_ref()?;
        if a.ended && a.video.is_empty() && rel >= a.video_end {
            return None; // the clip's pictures are over
        }
        Some(cur.picture.clone())
    }

    /// Copy clip `a`'s audio for relative sample range [from, to) into `out` (which
    /// starts at `from`). Returns how many samples (x channels) it copied.
    fn take_audio(
        a: &mut Active,
        outcome: &mut ClipOutcome,
        (from, to): (i64, i64),
        out: &mut [f32],
        ch: usize,
        limit: Option<i64>,
    ) -> usize {
        while !a.ended && a.audio_end < to && a.video.len() < VIDEO_CAP_FRAMES {
            Self::pump(a, outcome, ch);
        }
        let to_lim = limit.map(|l| to.min(l)).unwrap_or(to);
        let lo = from.max(a.audio_front);
        let hi = to_lim.min(a.audio_end);
        if hi > lo {
            for k in lo..hi {
                let src = ((k - a.audio_front) as usize) * ch;
                let dst = ((k - from) as usize) * ch;
                for c in 0..ch {
                    out[dst + c] = a.audio[src + c];
                }
            }
        }
        // Drop what is consumed.
        let consumed = (to - a.audio_front).clamp(0, (a.audio.len() / ch) as i64) as usize;
        a.audio.drain(..consumed * ch);
        a.audio_front += consumed as i64;
        if a.audio.is_empty() && a.audio_front < a.audio_end {
            a.audio_front = a.audio_end;
        }
        (hi - lo).max(0) as usize * ch
    }

    fn finished(&self) -> bool {
        self.next_open >= self.order.len() && self.active.is_empty()
    }

    /// The timeline ended at `t`: a clip still playing then was used (in the part inside).
    fn finish_active(&mut self, t: i64) {
        for a in &self.active {
            let oc = &mut self.outcomes[a.spec_idx];
            if a.started && a.start < t && oc.status == ClipStatus::Unused {
                oc.status = ClipStatus::Used;
            }
        }
    }

    /// What is active at the next output frame, or `None` at the end of the timeline.
    pub fn next(&mut self) -> Option<FrameSlice> {
        let ch = self.fmt.channels as usize;
        let n = self.n;
        let t = self.origin + self.fmt.frame_time(n).ticks();
        let period = (self.fmt.frame_time(n + 1) - self.fmt.frame_time(n)).ticks();
        if let Some(total) = self.total_frames {
            if n >= total {
                self.finish_active(t);
                return None;
            }
        }
        // Hard cap from --max-duration while the length is not yet known.
        if let Some(m) = self.max_len {
            if self.total_frames.is_none() && self.fmt.frame_time(n).ticks() >= m {
                self.set_length(m);
                return self.next();
            }
        }
        self.open_due(t);
        for a in self.active.iter_mut() {
            let oc = &mut self.outcomes[a.spec_idx];
            Self::ensure_started(a, oc, ch);
        }
        // Unknown length: stop once every clip is over and the content end is passed.
        if self.total_frames.is_none() {
            self.retire(t);
            if self.finished() && t >= self.content_end {
                let len = self.content_end - self.origin;
                self.set_length(len.max(0));
                return self.next();
            }
        }
        // Composite: the audio first (the frame's own audio says who speaks in it).
        let (samples, audio, layers) = if self.composite {
            let (samples, audio) = self.place_audio(n);
            (samples, audio, self.visible_layers(t, period))
        } else {
            let layers = self.top_layer(t, period);
            let (samples, audio) = self.place_audio(n);
            (samples, audio, layers)
        };
        let slide = if self.composite { self.slide_at(t) } else { None };
        let chat_said = self.chat.partition_point(|m| m.at.ticks() <= t);
        self.retire(t + period);
        self.n += 1;
        Some(FrameSlice { index: n, t, samples, audio, layers, slide, chat_said })
    }

    fn layer(&self, a: &Active, picture: Option<Arc<Picture>>) -> Layer {
        let spec = &self.clips[a.spec_idx];
        Layer { clip: a.spec_idx, index: spec.index, source: spec.source.clone(), start: a.start, picture }
    }

    /// Single layer: the latest-starting active clip with a picture at `t`, if any.
    fn top_layer(&mut self, t: i64, period: i64) -> Vec<Layer> {
        let ch = self.fmt.channels as usize;
        let mut shown = None;
        let mut cands: Vec<usize> = (0..self.active.len()).filter(|&i| self.active[i].start <= t).collect();
        cands.sort_by_key(|&i| std::cmp::Reverse((self.active[i].start, self.active[i].spec_idx)));
        for i in cands {
            let a = &mut self.active[i];
            let oc = &mut self.outcomes[a.spec_idx];
            if let Some(p) = Self::picture_at(a, oc, t - a.origin, period, ch) {
                shown = Some((i, p));
                break;
            }
        }
        let shown_idx = shown.as_ref().map(|(i, _)| self.active[*i].spec_idx);
        // Also advance the video of clips that are hidden, so they do not fall behind.
        for a in self.active.iter_mut() {
            if a.start <= t && Some(a.spec_idx) != shown_idx && a.has_video {
                let oc = &mut self.outcomes[a.spec_idx];
                let _ = Self::picture_at(a, oc, t - a.origin, period, ch);
            }
        }
        let Some((i, p)) = shown else { return Vec::new() };
        self.outcomes[self.active[i].spec_idx].frames_shown += 1;
        vec![self.layer(&self.active[i], Some(p))]
    }

    /// Composite: every clip started by `t`, with its picture if it shows one.
    fn visible_layers(&mut self, t: i64, period: i64) -> Vec<Layer> {
        let ch = self.fmt.channels as usize;
        let mut layers = Vec::new();
        for i in 0..self.active.len() {
            let a = &mut self.active[i];
            if a.start > t {
                continue;
            }
            let oc = &mut self.outcomes[a.spec_idx];
            let picture = Self::picture_at(a, oc, t - a.origin, period, ch);
            if picture.is_some() {
                oc.frames_shown += 1;
            }
            layers.push(self.layer(&self.active[i], picture));
        }
        layers
    }

    /// The audio of every clip started by the end of output frame `n`'s sample range,
    /// placed on the output sample clock: (samples per channel in the range, the clips).
    fn place_audio(&mut self, n: u64) -> (usize, Vec<PlacedAudio>) {
        let ch = self.fmt.channels as usize;
        let sr = self.fmt.sample_rate;
        let a0 = self.fmt.frame_audio_start(n).count() as i64;
        let mut a1 = self.fmt.frame_audio_start(n + 1).count() as i64;
        if let Some(ts) = self.total_samples {
            a1 = a1.min(ts);
        }
        let len = (a1 - a0).max(0) as usize;
        let mut placed = Vec::new();
        if len == 0 {
            return (0, placed);
        }
        let abs0 = self.origin_samples + a0;
        let abs1 = self.origin_samples + a1;
        for a in self.active.iter_mut() {
            let vis = rescale(a.start, VIDEO_HZ, sr);
            if vis >= abs1 {
                continue;
            }
            let (mut samples, mut heard) = (Vec::new(), 0);
            if a.has_audio {
                let cs = rescale(a.origin, VIDEO_HZ, sr);
                let lim = a.limit_end.map(|e| rescale(e, VIDEO_HZ, sr) - cs);
                let oc = &mut self.outcomes[a.spec_idx];
                // Nothing before the visible start (the skipped offset) is heard.
                let from = (abs0 - cs).max(vis - cs);
                let skip = (from - (abs0 - cs)) as usize;
                samples = vec![0f32; len * ch];
                heard = Self::take_audio(a, oc, (from, abs1 - cs), &mut samples[skip * ch..], ch, lim);
            }
            placed.push(PlacedAudio { clip: a.spec_idx, samples, heard });
        }
        (len, placed)
    }

    /// Drop clips whose content is over at timeline time `t`.
    fn retire(&mut self, t: i64) {
        let sr = self.fmt.sample_rate;
        let mut i = 0;
        while i < self.active.len() {
            let a = &self.active[i];
            let end_v = a.origin + if a.has_video { a.video_end } else { 0 };
            let end_a = a.origin + if a.has_audio { rescale(a.audio_end, sr, VIDEO_HZ) } else { 0 };
            let mut end = end_v.max(end_a).max(a.start);
            if let Some(l) = a.limit_end {
                end = end.min(l);
            }
            let over_by_limit = a.limit_end.is_some_and(|l| t >= l);
            if (a.ended && a.video.is_empty() && t >= end) || over_by_limit {
                let a = self.active.swap_remove(i);
                let oc = &mut self.outcomes[a.spec_idx];
                oc.content_end = Some(Ticks90k(end));
                if oc.status == ClipStatus::Unused {
                    oc.status = ClipStatus::Used;
                }
                self.content_end = self.content_end.max(end);
                continue;
            }
            i += 1;
        }
    }
}
