//! The one module that wires the stages together: [`compile`] (in `compile.rs`: threads,
//! queues, the mux loop), the clip reader (`reader.rs`: demux -> decode -> per-clip
//! normalisation) and `Program` (timeline -> mix -> compose, one output frame at a time).
//!
//! ```text
//!  clip files ──► [reader thread per open clip (reader.rs): demux ► decode ► fit to canvas
//!                   ► resample and place on the output sample clock (decode::resample)]
//!                     │ bounded(8) ClipEvent
//!                     ▼
//!               [timeline thread (Program): timeline::Timeline ► FrameSlice ►
//!                mix::Mixer (audio) + compose::Canvas (picture) ► OutputFrame;
//!                optional WAV tap]
//!                     │ bounded(0) VideoChunk (whole GOPs)      │ bounded(64) mixed PCM
//!                     │                                           ▼
//!                     │                 [aac thread: encode::AacEncoder]
//!                     ▼                                           │ bounded(64) packets
//!               [rayon pool: encode::ChunkEncoder, N workers]     │
//!                     │ bounded(N+1) EncodedChunk (any order)     │
//!                     ▼                                           ▼
//!               [calling thread: reorder chunks, interleave by time, mux::Muxer]
//! ```
//! Every queue is bounded, so memory is set by the canvas size, the GOP length and the
//! number of encoder threads, not by the length of the timeline. Container facts come from
//! the stages themselves: a clip's time zero from [`crate::packet::StreamInfo::start`],
//! whether to drop AAC priming from [`crate::mux::Muxer::keeps_priming`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::stats::StageStats;
use crate::time::{Samples, Ticks90k};
use crate::timeline::ClipOutcome;
use crate::{Container, Result};

mod builder;
mod compile;
mod program;
mod reader;

pub use builder::CompileOptionsBuilder;
pub use compile::compile;

/// Everything `compile` needs besides the flow. Options may be added: build it with
/// [`CompileOptions::builder`], which checks every value and returns
/// [`crate::Error::InvalidOption`] for one out of range:
///
/// ```
/// use media::pipeline::CompileOptions;
/// use media::time::Ticks90k;
///
/// let opts = CompileOptions::builder("out.mp4")
///     .size(1280, 720)
///     .fps(30, 1)
///     .start(Ticks90k::from_secs_f64(10.0))
///     .max_duration(Some(Ticks90k::from_secs_f64(60.0)))
///     .build()?;
/// assert_eq!(opts.start.secs_f64(), 10.0);
/// assert!(CompileOptions::builder("out.mp4").size(1279, 720).build().is_err());
/// # Ok::<(), media::Error>(())
/// ```
///
/// The fields stay readable; [`compile`] checks them again ([`CompileOptions::validate`]).
#[non_exhaustive]
#[derive(Clone)]
pub struct CompileOptions {
    /// The output file (not touched with [`CompileOptions::to_stdout`]).
    pub output: PathBuf,
    /// The container: MP4 or MPEG-TS (by default from `output`'s extension).
    pub kind: Container,
    /// Canvas width in pixels (even, at least 16).
    pub width: u32,
    /// Canvas height in pixels (even, at least 16).
    pub height: u32,
    /// Frame rate numerator: `fps_num / fps_den` frames per second.
    pub fps_num: u32,
    /// Frame rate denominator (> 0).
    pub fps_den: u32,
    /// Output audio sampling rate in Hz.
    pub sample_rate: u32,
    /// Output audio channels (1 or 2).
    pub channels: u16,
    /// AAC target bitrate, bits per second.
    pub audio_bitrate: u32,
    /// None: derived from the canvas size and frame rate.
    pub video_bitrate: Option<u32>,
    /// GOP length in seconds (IDR interval; encoder chunks are one GOP).
    pub gop_secs: u32,
    /// Encoder threads.
    pub threads: usize,
    /// Timeline cut: where the output starts on the timeline (>= 0).
    pub start: Ticks90k,
    /// Maximum output length from `start` (>= 0); `None`: to the end of the timeline.
    pub max_duration: Option<Ticks90k>,
    /// Called on a clip's reader thread before the file is opened; blocks until the file
    /// is ready (e.g. its download finished) or returns why it never will be. Lets the
    /// compile start while chunks are still downloading.
    pub wait_for_clip: Option<ClipWaiter>,
    /// Webinar composite with this layout (every visible clip on the canvas); `None`: one
    /// video layer, the later-starting clip wins.
    pub layout: Option<crate::compose::layout::LayoutKind>,
    /// Also write the mixed audio as WAV, 16 kHz mono (for speech-to-text).
    pub export_audio: Option<PathBuf>,
    /// Composite: cameras whose picture is black and whose audio is silent get no tile.
    pub hide_silent: bool,
    /// Composite: the flow's chat messages in a side panel.
    pub chat_panel: bool,
    /// Loudness normalisation of the mix (slow automatic gain before the limiter).
    pub normalize: bool,
    /// A clip whose `offset` skips more than 2 s of its file starts
    /// reading shortly before the offset when its demuxer can seek (MP4), instead of
    /// decoding everything before it. The output is the same either way; off is for tests
    /// and comparisons.
    pub seek_clips: bool,
    /// Composite, sidebar and pip: a new speaker takes the main area after leading this
    /// long (`--switch-hold`, default 2 s, >= 0; see [`crate::compose::main_area`]).
    pub switch_hold: Ticks90k,
    /// Composite: told what every output frame drew where (frame index, main area and
    /// tiles with their owners), on the timeline thread; `None` records nothing.
    pub on_layout: Option<crate::compose::compositor::LayoutSink>,
    /// Write the container to the process's standard output instead of `output` (which is
    /// then not touched): an MPEG-TS, or a fragmented MP4 (`kind` Mp4), that a player can
    /// read from a pipe as it arrives.
    pub to_stdout: bool,
    /// Replace a file that appears under `output`'s name while the compile runs (default
    /// true); `false` keeps it and fails (the CLI's rule without `--force`).
    pub replace_existing: bool,
    /// Which library decodes H.264 (`--decoder`).
    pub decoder: crate::decode::DecoderChoice,
}

/// Sample rate of `--export audio` (mono).
pub const EXPORT_AUDIO_RATE: u32 = 16_000;

/// See [`CompileOptions::wait_for_clip`].
/// Returns the file to read for the clip (the flow's path, or a replacement such as a
/// chunk's HLS twin), or why the clip is not available.
pub type ClipWaiter = Arc<dyn Fn(&Path) -> std::result::Result<PathBuf, String> + Send + Sync>;

impl CompileOptions {
    /// The defaults for writing `output`: container from its extension, 1280x720 at 25 fps,
    /// 48 kHz stereo AAC at 128 kbit/s, 2 s GOPs, one encoder thread per CPU, the whole
    /// timeline, single-layer video, clips seeked, existing files replaced. The same as
    /// `CompileOptions::builder(output).build()`; prefer the builder to change them.
    pub fn new(output: &Path) -> CompileOptions {
        CompileOptions {
            output: output.to_path_buf(),
            kind: Container::for_output(output),
            width: 1280,
            height: 720,
            fps_num: 25,
            fps_den: 1,
            sample_rate: 48000,
            channels: 2,
            audio_bitrate: 128_000,
            video_bitrate: None,
            gop_secs: 2,
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            start: Ticks90k::ZERO,
            max_duration: None,
            wait_for_clip: None,
            layout: None,
            export_audio: None,
            hide_silent: false,
            chat_panel: false,
            normalize: false,
            seek_clips: true,
            switch_hold: crate::compose::main_area::DEFAULT_HOLD,
            on_layout: None,
            to_stdout: false,
            replace_existing: true,
            decoder: Default::default(),
        }
    }

    /// A builder starting from the defaults of [`CompileOptions::new`] for `output`.
    pub fn builder(output: impl AsRef<Path>) -> CompileOptionsBuilder {
        CompileOptionsBuilder::new(output.as_ref())
    }

    /// A builder starting from these options (to derive other options from them).
    pub fn to_builder(&self) -> CompileOptionsBuilder {
        CompileOptionsBuilder::from_options(self.clone())
    }

    /// Check every value against its documented range: [`crate::Error::InvalidOption`] names the
    /// first one out of range. [`CompileOptionsBuilder::build`] and [`compile`] call it.
    pub fn validate(&self) -> Result<()> {
        builder::validate(self)
    }
}

/// Progress, reported from the calling thread about ten times a second. Fields may be added.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct Progress {
    /// Output frames muxed so far, and the total when known.
    pub frames_done: u64,
    /// Total output frames, once the timeline length is known.
    pub frames_total: Option<u64>,
    /// Seconds of output muxed, and wall-clock seconds since the start.
    pub media_secs: f64,
    /// Wall-clock seconds since the compile started.
    pub elapsed_secs: f64,
}

/// What `compile` did. Fields may be added.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct CompileReport {
    /// Video frames muxed.
    pub frames: u64,
    /// Audio samples (per channel, at [`CompileOptions::sample_rate`]) muxed, counted from
    /// the AAC packets' durations.
    pub audio_samples: Samples,
    /// Output length in seconds: `frames` at the output frame rate.
    pub duration_secs: f64,
    /// Bytes written (the file's size, or what went to standard output).
    pub bytes: u64,
    /// What became of each clip of the flow (used, skipped and why).
    pub clips: Vec<ClipOutcome>,
    /// Wall-clock seconds the compile took.
    pub elapsed_secs: f64,
    /// Composite only: (frames drawn, frames that reused the previous canvas unchanged).
    pub composite_frames: Option<(u64, u64)>,
    /// Slides that could not be shown, and why.
    pub slide_problems: Vec<String>,
    /// Output frames that repeated the previous picture and were written as skip frames
    /// without encoding (see `encode::h264::REFINE_REPEATS`).
    pub skipped_frames: u64,
    /// Compressed packets the clip readers took from their demuxers, and how many clips
    /// started reading near their offset instead of at the file's start
    /// ([`CompileOptions::seek_clips`]).
    pub packets_read: u64,
    /// See `packets_read`.
    pub clips_seeked: u64,
    /// Per-stage wall and CPU time, items, queue waits and the bounding stage.
    pub stages: StageStats,
}

/// How [`compile`] names standard output in errors.
pub const STDOUT_NAME: &str = "standard output";

#[cfg(test)]
#[path = "tests/stdout.rs"]
mod stdout_tests;
