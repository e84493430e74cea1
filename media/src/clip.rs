//! Vocabulary shared by the stages: what a clip is ([`ClipSpec`], [`SourceInfo`],
//! [`SourceKind`]), the other things a program shows ([`SlideSpec`], [`ChatLine`]), the
//! whole program ([`Flow`]), the output format ([`OutputFormat`]), and what the timeline
//! hands the later stages for one output frame (`FrameSlice`: which clips are visible
//! with which picture, each sounding clip's audio placed on the output sample clock).
//!
//! Only data: no stage logic. The flow JSON parser lives in [`crate::timeline::flow`].

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::frame::Picture;
use crate::time::{rescale, Samples, Ticks90k, VIDEO_HZ};

/// One clip on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipSpec {
    /// Position in the flow's event list (stable identity for reports).
    pub index: usize,
    /// The url as written in the flow.
    pub url: String,
    /// Resolved local path (empty while [`ClipSpec::remote`] is set).
    pub path: PathBuf,
    /// `Some` while the url is an http(s) url not on disk: such a clip is skipped (with the
    /// failure's reason) unless the application downloaded it and cleared this.
    pub remote: Option<Remote>,
    /// Start on the timeline.
    pub start: Ticks90k,
    /// Maximum length from the flow (`duration` of the event or of a matching
    /// `mediasession.update`). The data decides when it is shorter.
    pub max_len: Option<Ticks90k>,
    /// `data.id` when present.
    pub id: Option<String>,
    /// `data.offset`: how much of the file's start to skip (preroll, or a chunk that began
    /// during a cut). The file's content at `offset` shows at `start`.
    pub offset: Ticks90k,
    /// Who or what the clip shows (for the composite layouts).
    pub source: SourceInfo,
}

/// The state of an http(s) clip or slide (see the module doc).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remote {
    /// Not downloaded (yet).
    Pending,
    /// Its download failed for this reason.
    Failed(String),
}

impl Remote {
    /// Why the clip or slide cannot be read.
    pub fn reason(&self, url: &str) -> String {
        match self {
            Remote::Pending => format!("remote url not downloaded ({url})"),
            Remote::Failed(why) => format!("download failed: {why}"),
        }
    }
}

/// Is `url` an http(s) url (case-insensitive scheme)?
pub fn is_http_url(url: &str) -> bool {
    let u = url.trim_start();
    ["http://", "https://"].iter().any(|p| u.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)))
}

/// What a clip shows.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Not said (plain flows): treated as a camera when it has pictures.
    #[default]
    Unknown,
    /// A participant's camera (with or without audio).
    Camera,
    /// A screen share.
    Screen,
    /// A microphone without video.
    AudioOnly,
}

/// Who a clip belongs to and what it shows (for the composite layouts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceInfo {
    /// Camera, screen share or microphone.
    pub kind: SourceKind,
    /// Participant identity (user id), if known.
    pub participant: Option<String>,
    /// Display name, if known.
    pub name: Option<String>,
    /// Lecturer or admin: first in the tile order.
    pub presenter: bool,
}

/// A slide image shown in the composite's main area (`module: "slide.show"`,
/// `data.image`: the image file, `data.duration` optional).
#[derive(Clone, Debug, PartialEq)]
pub struct SlideSpec {
    /// Shown from (timeline time).
    pub start: Ticks90k,
    /// Shown until (its own duration, else the next slide's start; `None`: to the end).
    pub end: Option<Ticks90k>,
    /// The image reference as the flow JSON gives it (a path or an http(s) url).
    pub url: String,
    /// Resolved local path (empty while `remote` is set).
    pub path: PathBuf,
    /// `Some` while the image is an http(s) url not on disk (then it is not shown).
    pub remote: Option<Remote>,
}

/// A chat message (`module: "chat.message"`, `data.author`, `data.text`), shown by the
/// composite's chat panel from its time on.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatLine {
    /// When it was written (timeline time).
    pub at: Ticks90k,
    /// Who wrote the message, as the flow JSON names them.
    pub author: String,
    /// The message text.
    pub text: String,
}

/// A parsed flow.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    /// The flow's name (from its JSON; used in reports).
    pub name: String,
    /// Timeline length from the JSON.
    pub duration: Option<Ticks90k>,
    /// The recordings of the flow, in the order the JSON lists them.
    pub clips: Vec<ClipSpec>,
    /// Slides in time order (only the composite shows them).
    pub slides: Vec<SlideSpec>,
    /// Chat messages in time order (only the composite's chat panel shows them).
    pub chat: Vec<ChatLine>,
}

/// Output format of a compile: canvas, frame rate, audio rate and channels.
#[derive(Clone, Copy, Debug)]
pub struct OutputFormat {
    /// Canvas width in pixels.
    pub width: u32,
    /// Canvas height in pixels.
    pub height: u32,
    /// Frame rate numerator: `fps_num / fps_den` frames per second.
    pub fps_num: u32,
    /// Frame rate denominator (> 0).
    pub fps_den: u32,
    /// Audio sampling rate in Hz.
    pub sample_rate: u32,
    /// Interleaved audio channels.
    pub channels: u16,
}

impl OutputFormat {
    /// Timeline offset of output frame `n` from the output's start.
    pub fn frame_time(&self, n: u64) -> Ticks90k {
        Ticks90k(rescale(n as i64 * self.fps_den as i64, self.fps_num, VIDEO_HZ))
    }
    /// Output audio sample index (at `sample_rate`) at which frame `n` starts.
    pub fn frame_audio_start(&self, n: u64) -> Samples {
        Samples(rescale(n as i64 * self.fps_den as i64, self.fps_num, self.sample_rate).max(0) as u64)
    }
}

/// One visible clip at an output frame (timeline to compose).
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    /// Position of the clip in the list the timeline was given (its identity there).
    pub clip: usize,
    /// The clip's [`ClipSpec::index`].
    pub index: usize,
    /// Who or what it shows.
    pub source: SourceInfo,
    /// Timeline start of the clip (90 kHz).
    pub start: i64,
    /// Its picture at this frame (canvas-sized), if it shows one.
    pub picture: Option<Arc<Picture>>,
}

/// One clip's audio for an output frame's sample range, placed on the output sample clock
/// (timeline to mix).
#[derive(Clone, Debug)]
pub(crate) struct PlacedAudio {
    /// Position of the clip in the list the timeline was given.
    pub clip: usize,
    /// Interleaved samples covering the whole slice (zeros where the clip is silent or
    /// absent); empty when the clip adds nothing.
    pub samples: Vec<f32>,
    /// How many of them (samples x channels) came from the clip.
    pub heard: usize,
}

/// What the timeline decided for one output frame: the input of compose and mix.
#[derive(Clone, Debug)]
pub(crate) struct FrameSlice {
    /// Output frame number (0-based); the frame is presented at [`OutputFormat::frame_time`].
    pub index: u64,
    /// Timeline time of the frame (90 kHz).
    pub t: i64,
    /// Audio samples (per channel) of the frame's slice: `[frame_audio_start(n),
    /// frame_audio_start(n+1))`, clipped to the audio end of the timeline.
    pub samples: usize,
    /// Every sounding clip started by the slice's end, in a stable order (empty when
    /// `samples` is 0).
    pub audio: Vec<PlacedAudio>,
    /// Single layer: the one clip shown (the later-starting clip wins), if any. Composite:
    /// every clip started by `t`, with or without a picture.
    pub layers: Vec<Layer>,
    /// Composite: the slide shown at `t` (index into the flow's slides).
    pub slide: Option<usize>,
    /// Composite: how many chat messages are said by `t`.
    pub chat_said: usize,
}
