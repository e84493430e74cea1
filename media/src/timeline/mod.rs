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
//! overlap (a clip without pictures at that time leaves the layer to the others); every
//! sounding clip is mixed, with a soft limiter above 0.8 full scale so sums never clip;
//! gaps are black (Y=16, U=V=128) and digital silence (exact zeros). The scheduler pulls
//! from per-clip bounded channels fed by reader threads, opening each clip shortly before
//! it starts and dropping it when it ends, so memory does not grow with the timeline.

pub mod flow;

use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use crate::frame::{AudioFrame, Picture, VideoFrame};
use crate::time::{rescale, rescale_ceil, VIDEO_HZ};

pub use flow::{is_http_url, ChatLine, ClipSpec, Flow, Remote, SlideSpec, SourceInfo, SourceKind};

/// What a clip reader sends to the scheduler, in this order: one `Start`, then pictures
/// (pts: 90 kHz relative to the clip start, canvas-sized) and audio (output rate and
/// channels, pts in output samples relative to the clip start) in roughly increasing time,
/// then one `End`.
#[derive(Debug)]
pub enum ClipEvent {
    Start {
        has_video: bool,
        has_audio: bool,
        notes: Vec<String>,
    },
    Video(VideoFrame),
    Audio(AudioFrame),
    /// `problem`: why the clip ended early or was unusable (damaged data, unsupported
    /// codec, missing file). `fatal`: nothing at all could be used.
    End {
        problem: Option<String>,
        fatal: bool,
    },
}

/// Output format the scheduler produces.
#[derive(Clone, Copy, Debug)]
pub struct OutputFormat {
    pub width: u32,
    pub height: u32,
    pub fps_num: u32,
    pub fps_den: u32,
    pub sample_rate: u32,
    pub channels: u16,
}

impl OutputFormat {
    /// Timeline offset (90 kHz) of output frame `n`.
    pub fn frame_time(&self, n: u64) -> i64 {
        rescale(n as i64 * self.fps_den as i64, self.fps_num, VIDEO_HZ)
    }
    /// Output audio sample index at which frame `n` starts.
    pub fn frame_audio_start(&self, n: u64) -> i64 {
        rescale(n as i64 * self.fps_den as i64, self.fps_num, self.sample_rate)
    }
}

/// How a clip ended up in the output.
#[derive(Clone, Debug, PartialEq)]
pub enum ClipStatus {
    /// Not reached (outside the cut) or not yet finished.
    Unused,
    Used,
    /// Used in part; the rest became gap.
    Damaged(String),
    /// Nothing usable.
    Skipped(String),
}

#[derive(Clone, Debug)]
pub struct ClipOutcome {
    pub spec: ClipSpec,
    pub status: ClipStatus,
    /// Notes that do not make the clip damaged (e.g. an unsupported second stream).
    pub notes: Vec<String>,
    /// Output pictures that showed this clip.
    pub frames_shown: u64,
    /// End of the clip's content on the timeline (90 kHz), when known.
    pub content_end: Option<i64>,
}

/// One output frame: its picture and the mixed audio for its time slice.
pub struct OutputFrame {
    pub index: u64,
    pub picture: Arc<Picture>,
    /// Interleaved samples for `[frame_audio_start(n), frame_audio_start(n+1))`, clipped to
    /// the audio end of the timeline.
    pub audio: Vec<f32>,
    /// Whether any clip's picture is shown (false: black gap).
    pub has_content: bool,
}

/// Opens a clip: returns the receiving end of its reader's channel.
pub type ClipOpener = Box<dyn FnMut(&ClipSpec) -> Receiver<ClipEvent> + Send>;

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
    /// Output frames left during which the clip counts as speaking (hold after the last
    /// frame whose audio was above the threshold).
    speak_hold: u32,
}

/// Soft limiter: identity up to 0.8 full scale, then a tanh knee that never reaches 1.0.
pub fn soft_limit(x: f32) -> f32 {
    const T: f32 = 0.8;
    let a = x.abs();
    if a <= T {
        x
    } else {
        x.signum() * (T + (1.0 - T) * ((a - T) / (1.0 - T)).tanh())
    }
}

pub struct Scheduler {
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
    black: Arc<Picture>,
    /// Clips are opened this long before they start so their decoders are warm.
    lookahead: i64,
    content_end: i64,
    /// Webinar composite (a layout); `None`: one video layer, the later clip wins.
    compose: Option<crate::compose::compositor::Compositor>,
    /// Composite: slides in time order, their loader (bytes of the image file) and the
    /// decoded, canvas-fitted pictures.
    slides: Vec<SlideSpec>,
    slide_loader: Option<SlideLoader>,
    slide_cache: crate::compose::slides::SlideCache,
    /// Slides that could not be shown, with why (reported once each), and their indices.
    pub slide_problems: Vec<String>,
    slides_failed: std::collections::HashSet<usize>,
    /// Composite chat panel: the messages, in time order.
    chat: Vec<ChatLine>,
    /// Loudness normalisation of the mix (`--normalize`), when on.
    leveler: Option<Leveler>,
    /// Composite: told what every output frame drew where (only when asked).
    layout_sink: Option<crate::compose::compositor::LayoutSink>,
}

/// Slow automatic gain on the mix, before the limiter: the mix's RMS (above a -50 dBFS
/// gate, so silence does not pull the gain up) is followed with a ~3 s time constant and
/// the gain moves towards `TARGET_RMS / level`, between -12 and +18 dB, smoothly (~1 s).
/// Speech recorded too quietly comes up to a common level; the limiter still catches peaks.
#[derive(Clone, Debug)]
pub struct Leveler {
    level: f32,
    gain: f32,
}

impl Leveler {
    /// About -20 dBFS RMS.
    pub const TARGET_RMS: f32 = 0.1;
    const GATE_RMS: f32 = 0.003;

    pub fn new() -> Leveler {
        Leveler { level: Self::TARGET_RMS, gain: 1.0 }
    }

    /// Apply to one frame's interleaved samples lasting `secs`.
    pub fn process(&mut self, samples: &mut [f32], secs: f32) {
        if samples.is_empty() {
            return;
        }
        let rms = (samples.iter().map(|x| x * x).sum::<f32>() / samples.len() as f32).sqrt();
        if rms > Self::GATE_RMS {
            let a = (secs / 3.0).min(1.0);
            self.level += (rms - self.level) * a;
        }
        let want = (Self::TARGET_RMS / self.level.max(1e-6)).clamp(0.25, 8.0);
        let g0 = self.gain;
        let g1 = g0 + (want - g0) * (secs / 1.0).min(1.0);
        let n = samples.len() as f32;
        for (i, x) in samples.iter_mut().enumerate() {
            *x *= g0 + (g1 - g0) * (i as f32 / n);
        }
        self.gain = g1;
    }
}

impl Default for Leveler {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads a slide's image bytes (may wait for its download).
pub type SlideLoader = Box<dyn FnMut(&SlideSpec) -> std::result::Result<Vec<u8>, String> + Send>;

/// RMS above which a clip's audio counts as speech (-40 dBFS).
const SPEAKING_RMS: f32 = 0.01;

impl Scheduler {
    /// `flow_duration`: the flow's `duration` (90 kHz) if any; `start`/`max_len`: the cut.
    pub fn new(
        fmt: OutputFormat,
        clips: Vec<ClipSpec>,
        flow_duration: Option<i64>,
        start: i64,
        max_len: Option<i64>,
        open: ClipOpener,
    ) -> Scheduler {
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
        let mut s = Scheduler {
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
            black: Arc::new(Picture::black(fmt.width, fmt.height)),
            lookahead: VIDEO_HZ as i64,
            content_end: 0,
            compose: None,
            slides: Vec::new(),
            slide_loader: None,
            slide_cache: Default::default(),
            slide_problems: Vec::new(),
            slides_failed: Default::default(),
            chat: Vec::new(),
            leveler: None,
            layout_sink: None,
        };
        if let Some(d) = flow_duration {
            s.set_length((d - start).max(0));
        } else if let Some(m) = max_len {
            // Still bounded by the data; set_length is applied when the data ends earlier.
            let _ = m;
        }
        s
    }

    /// Compose every visible clip with `layout` instead of showing one layer.
    pub fn with_layout(mut self, layout: crate::compose::layout::LayoutKind) -> Scheduler {
        self.compose = Some(crate::compose::compositor::Compositor::new(layout, self.fmt.width, self.fmt.height));
        self
    }

    /// Loudness normalisation of the mix ([`Leveler`]).
    pub fn normalize(mut self, on: bool) -> Scheduler {
        self.leveler = on.then(Leveler::new);
        self
    }

    /// Composite: cameras that are black and silent get no tile (`--hide-silent`).
    pub fn hide_silent(mut self, on: bool) -> Scheduler {
        if let Some(c) = self.compose.as_mut() {
            c.hide_silent = on;
        }
        self
    }

    /// Composite, sidebar and pip: how long (90 kHz) a new speaker must lead before it takes
    /// the main area (`--switch-hold`, see [`crate::compose::main_area`]).
    pub fn switch_hold(mut self, ticks: i64) -> Scheduler {
        if let Some(c) = self.compose.as_mut() {
            c.switch_hold = ticks.max(0);
        }
        self
    }

    /// Composite: `sink` is told, for every output frame, what the compositor drew where
    /// (main area and tiles with their owners). Without a sink nothing is recorded.
    pub fn on_layout(mut self, sink: crate::compose::compositor::LayoutSink) -> Scheduler {
        if let Some(c) = self.compose.as_mut() {
            c.record_layout = true;
            self.layout_sink = Some(sink);
        }
        self
    }

    /// Chat messages for the composite's chat panel (drawn when `chat` is not empty).
    pub fn with_chat_panel(mut self, chat: Vec<ChatLine>) -> Scheduler {
        if let Some(c) = self.compose.as_mut() {
            c.chat_panel = true;
        }
        self.chat = chat;
        self
    }

    /// Slides for the composite's main area.
    pub fn with_slides(mut self, slides: Vec<SlideSpec>, loader: SlideLoader) -> Scheduler {
        self.slides = slides;
        self.slide_loader = Some(loader);
        self
    }

    /// The slide shown at timeline time `t`, decoded and fitted to the canvas once.
    fn slide_at(&mut self, t: i64) -> Option<Arc<Picture>> {
        let i = self.slides.iter().rposition(|s| s.start <= t)?;
        let spec = self.slides[i].clone();
        if spec.end.is_some_and(|e| t >= e) {
            return None;
        }
        let loader = self.slide_loader.as_mut()?;
        let (w, h) = (self.fmt.width, self.fmt.height);
        if self.slides_failed.contains(&i) {
            return None; // reported once; not fetched again every frame
        }
        let key = spec.path.to_string_lossy().into_owned();
        match self.slide_cache.get(&key, || loader(&spec).map_err(crate::Error::Invalid), w, h) {
            Ok(p) => Some(p),
            Err(e) => {
                self.slides_failed.insert(i);
                self.slide_problems.push(format!("slide {}: {e}", spec.url));
                None
            }
        }
    }

    /// (frames drawn, frames that reused the previous canvas) of the composite.
    pub fn compose_stats(&self) -> Option<(u64, u64)> {
        self.compose.as_ref().map(|c| (c.frames_drawn, c.frames_reused))
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

    /// Output length in frames, when known (always known once `next` returned `None`).
    pub fn total_frames(&self) -> Option<u64> {
        self.total_frames
    }

    pub fn outcomes(&self) -> &[ClipOutcome] {
        &self.outcomes
    }

    fn open_due(&mut self, t: i64) {
        while self.next_open < self.order.len() {
            let idx = self.order[self.next_open];
            let spec = &self.clips[idx];
            if spec.start > t + self.lookahead {
                break;
            }
            self.next_open += 1;
            let limit_end = spec.max_len.map(|l| spec.start + l);
            // Clips that end before the cut starts are never opened.
            if limit_end.is_some_and(|e| e <= self.origin) {
                continue;
            }
            let rx = (self.open)(spec);
            self.active.push(Active {
                spec_idx: idx,
                start: spec.start,
                origin: spec.start - spec.offset,
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
                heard_from: rescale(spec.offset.max(0), VIDEO_HZ, self.fmt.sample_rate),
                speak_hold: 0,
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

    /// Mix clip `a`'s audio for relative sample range [from, to) into `out`.
    /// Returns the sum of squares and the count of the samples it added (speech detection).
    fn mix_audio(
        a: &mut Active,
        outcome: &mut ClipOutcome,
        from: i64,
        to: i64,
        out: &mut [f32],
        ch: usize,
        limit: Option<i64>,
    ) -> (f32, usize) {
        let mut energy = (0f32, 0usize);
        if !a.has_audio {
            return energy;
        }
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
                    let x = a.audio[src + c];
                    out[dst + c] += x;
                    energy.0 += x * x;
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
        energy.1 = (hi - lo).max(0) as usize * ch;
        energy
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

    /// Produce the next output frame, or `None` at the end of the timeline.
    pub fn next(&mut self) -> Option<OutputFrame> {
        let ch = self.fmt.channels as usize;
        let n = self.n;
        let t = self.origin + self.fmt.frame_time(n);
        let period = self.fmt.frame_time(n + 1) - self.fmt.frame_time(n);
        if let Some(total) = self.total_frames {
            if n >= total {
                self.finish_active(t);
                return None;
            }
        }
        // Hard cap from --max-duration while the length is not yet known.
        if let Some(m) = self.max_len {
            if self.total_frames.is_none() && self.fmt.frame_time(n) >= m {
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
        if self.compose.is_some() {
            return Some(self.next_composite(n, t, period));
        }
        // Video: the latest-starting active clip with a picture at t.
        let mut pic = None;
        let mut shown = None;
        let mut cands: Vec<usize> = (0..self.active.len()).filter(|&i| self.active[i].start <= t).collect();
        cands.sort_by_key(|&i| std::cmp::Reverse((self.active[i].start, self.active[i].spec_idx)));
        for i in cands {
            let a = &mut self.active[i];
            let oc = &mut self.outcomes[a.spec_idx];
            let rel = t - a.origin;
            if let Some(p) = Self::picture_at(a, oc, rel, period, ch) {
                pic = Some(p);
                shown = Some(a.spec_idx);
                break;
            }
        }
        // Also advance the video of clips that are hidden, so they do not fall behind.
        for a in self.active.iter_mut() {
            if a.start <= t && Some(a.spec_idx) != shown && a.has_video {
                let rel = t - a.origin;
                let oc = &mut self.outcomes[a.spec_idx];
                let _ = Self::picture_at(a, oc, rel, period, ch);
            }
        }
        if let Some(s) = shown {
            self.outcomes[s].frames_shown += 1;
        }
        let has_content = pic.is_some();
        let picture = match pic {
            Some(p) if p.width == self.fmt.width && p.height == self.fmt.height => p,
            Some(p) => crate::compose::scale::fit(&p, self.fmt.width, self.fmt.height),
            None => self.black.clone(),
        };
        let audio = self.mix_frame_audio(n);
        self.retire(t + period);
        self.n += 1;
        Some(OutputFrame { index: n, picture, audio, has_content })
    }

    /// Composite mode: every visible clip is a source of the compositor.
    fn next_composite(&mut self, n: u64, t: i64, period: i64) -> OutputFrame {
        use crate::compose::compositor::Source;
        let ch = self.fmt.channels as usize;
        // Mixed first: the frame's own audio says who speaks in it.
        let audio = self.mix_frame_audio(n);
        let mut sources: Vec<Source> = Vec::new();
        for a in self.active.iter_mut() {
            if a.start > t {
                continue;
            }
            let oc = &mut self.outcomes[a.spec_idx];
            let picture = Self::picture_at(a, oc, t - a.origin, period, ch);
            if picture.is_some() {
                oc.frames_shown += 1;
            }
            let spec = &self.clips[a.spec_idx];
            let info = &spec.source;
            let key = match (&info.participant, info.kind) {
                (Some(p), SourceKind::Screen) => format!("screen:{p}"),
                (Some(p), _) => format!("user:{p}"),
                (None, _) => format!("clip:{}", spec.index),
            };
            sources.push(Source {
                key,
                name: info.name.clone().unwrap_or_default(),
                kind: info.kind,
                presenter: info.presenter,
                picture,
                speaking: a.speak_hold > 0,
                start: a.start,
            });
        }
        // A participant's clip with pictures before one without (chunk overlaps).
        sources.sort_by_key(|s| (s.picture.is_none(), std::cmp::Reverse(s.start)));
        let slide = self.slide_at(t);
        let has_content = slide.is_some() || sources.iter().any(|s| s.picture.is_some());
        let picture = match self.compose.as_mut() {
            Some(c) => {
                let said = self.chat.partition_point(|m| m.at <= t);
                let pic = c.compose(t, &sources, slide.as_ref(), &self.chat[..said]);
                if let Some(sink) = &self.layout_sink {
                    sink(n, c.drawn());
                }
                pic
            }
            None => self.black.clone(),
        };
        self.retire(t + period);
        self.n += 1;
        OutputFrame { index: n, picture, audio, has_content }
    }

    /// Mixed audio of output frame `n` (every sounding clip, soft-limited); updates each
    /// clip's speaking state.
    fn mix_frame_audio(&mut self, n: u64) -> Vec<f32> {
        let ch = self.fmt.channels as usize;
        let hold = (self.fmt.fps_num / self.fmt.fps_den.max(1)).max(1);
        // Audio slice.
        let a0 = self.fmt.frame_audio_start(n);
        let mut a1 = self.fmt.frame_audio_start(n + 1);
        if let Some(ts) = self.total_samples {
            a1 = a1.min(ts);
        }
        let len = (a1 - a0).max(0) as usize;
        let mut audio = vec![0f32; len * ch];
        if len > 0 {
            let abs0 = self.origin_samples + a0;
            let abs1 = self.origin_samples + a1;
            for a in self.active.iter_mut() {
                let vis = rescale(a.start, VIDEO_HZ, self.fmt.sample_rate);
                if vis >= abs1 {
                    continue;
                }
                let cs = rescale(a.origin, VIDEO_HZ, self.fmt.sample_rate);
                let lim = a.limit_end.map(|e| rescale(e, VIDEO_HZ, self.fmt.sample_rate) - cs);
                let oc = &mut self.outcomes[a.spec_idx];
                // Nothing before the visible start (the skipped offset) is heard.
                let from = (abs0 - cs).max(vis - cs);
                let skip = (from - (abs0 - cs)) as usize;
                let (e, k) = Self::mix_audio(a, oc, from, abs1 - cs, &mut audio[skip * ch..], ch, lim);
                if k > 0 && (e / k as f32).sqrt() > SPEAKING_RMS {
                    a.speak_hold = hold;
                } else {
                    a.speak_hold = a.speak_hold.saturating_sub(1);
                }
            }
            if let Some(l) = self.leveler.as_mut() {
                l.process(&mut audio, len as f32 / self.fmt.sample_rate as f32);
            }
            for s in audio.iter_mut() {
                *s = soft_limit(*s);
            }
        }
        audio
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
                oc.content_end = Some(end);
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

#[cfg(test)]
mod tests;
