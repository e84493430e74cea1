//! [`CompileOptionsBuilder`]: the checked way to make [`CompileOptions`].

use std::path::{Path, PathBuf};

use super::{ClipWaiter, CompileOptions};
use crate::compose::compositor::LayoutSink;
use crate::compose::layout::LayoutKind;
use crate::decode::DecoderChoice;
use crate::time::Ticks90k;
use crate::{Container, Error, Result};

/// Largest canvas the encoder is set up for.
const MAX_SIZE: (u32, u32) = (3840, 2160);
/// Highest frame rate (whole frames per second, `fps_num / fps_den` rounded down).
const MAX_FPS: u32 = 120;

/// Builds [`CompileOptions`] one setting at a time and checks them all in
/// [`CompileOptionsBuilder::build`]; start with [`CompileOptions::builder`] (the defaults of
/// [`CompileOptions::new`]) or [`CompileOptions::to_builder`]. Each method sets the field of
/// [`CompileOptions`] it is named after (see there for what it means).
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct CompileOptionsBuilder {
    opts: CompileOptions,
    /// The container was set (by [`CompileOptionsBuilder::container`] or by the options the
    /// builder started from), so a new output name does not change it.
    kind_set: bool,
}

impl CompileOptionsBuilder {
    pub(super) fn new(output: &Path) -> CompileOptionsBuilder {
        CompileOptionsBuilder { opts: CompileOptions::new(output), kind_set: false }
    }

    pub(super) fn from_options(opts: CompileOptions) -> CompileOptionsBuilder {
        CompileOptionsBuilder { opts, kind_set: true }
    }

    /// The checked options, or [`Error::InvalidOption`] naming the first value out of range:
    /// a canvas that is odd, smaller than 16x16 or larger than 3840x2160; a frame rate with a
    /// zero numerator or denominator or above 120 fps; a sample rate AAC cannot signal;
    /// other than 1 or 2 channels; a zero bitrate, GOP length or thread count; a negative
    /// start, maximum duration or switch hold.
    pub fn build(self) -> Result<CompileOptions> {
        validate(&self.opts)?;
        Ok(self.opts)
    }

    /// The output file (and, unless [`CompileOptionsBuilder::container`] was called, the
    /// container from its extension).
    pub fn output(mut self, output: impl AsRef<Path>) -> Self {
        self.opts.output = output.as_ref().to_path_buf();
        if !self.kind_set {
            self.opts.kind = Container::for_output(&self.opts.output);
        }
        self
    }
    /// The container, whatever the output's extension.
    pub fn container(mut self, kind: Container) -> Self {
        self.opts.kind = kind;
        self.kind_set = true;
        self
    }
    /// Canvas size in pixels (even, 16x16 to 3840x2160).
    pub fn size(mut self, width: u32, height: u32) -> Self {
        (self.opts.width, self.opts.height) = (width, height);
        self
    }
    /// Frame rate `num / den` frames per second (both > 0, at most 120 fps).
    pub fn fps(mut self, num: u32, den: u32) -> Self {
        (self.opts.fps_num, self.opts.fps_den) = (num, den);
        self
    }
    /// Output audio: sampling rate in Hz (an AAC rate, e.g. 48000 or 44100) and channels
    /// (1 or 2).
    pub fn audio(mut self, sample_rate: u32, channels: u16) -> Self {
        (self.opts.sample_rate, self.opts.channels) = (sample_rate, channels);
        self
    }
    /// AAC target bitrate, bits per second (> 0).
    pub fn audio_bitrate(mut self, bps: u32) -> Self {
        self.opts.audio_bitrate = bps;
        self
    }
    /// H.264 target bitrate, bits per second (> 0); `None`: from the canvas and frame rate.
    pub fn video_bitrate(mut self, bps: Option<u32>) -> Self {
        self.opts.video_bitrate = bps;
        self
    }
    /// GOP length in seconds (>= 1).
    pub fn gop_secs(mut self, secs: u32) -> Self {
        self.opts.gop_secs = secs;
        self
    }
    /// Encoder threads (>= 1).
    pub fn threads(mut self, threads: usize) -> Self {
        self.opts.threads = threads;
        self
    }
    /// Where the output starts on the timeline (>= 0).
    pub fn start(mut self, start: Ticks90k) -> Self {
        self.opts.start = start;
        self
    }
    /// Maximum output length from the start (>= 0); `None`: to the end of the timeline.
    pub fn max_duration(mut self, max: Option<Ticks90k>) -> Self {
        self.opts.max_duration = max;
        self
    }
    /// See [`CompileOptions::wait_for_clip`].
    pub fn wait_for_clip(mut self, waiter: Option<ClipWaiter>) -> Self {
        self.opts.wait_for_clip = waiter;
        self
    }
    /// Webinar composite with this layout; `None`: one video layer.
    pub fn layout(mut self, layout: Option<LayoutKind>) -> Self {
        self.opts.layout = layout;
        self
    }
    /// Also write the mixed audio to this WAV file (16 kHz mono).
    pub fn export_audio(mut self, path: Option<PathBuf>) -> Self {
        self.opts.export_audio = path;
        self
    }
    /// See [`CompileOptions::hide_silent`].
    pub fn hide_silent(mut self, on: bool) -> Self {
        self.opts.hide_silent = on;
        self
    }
    /// See [`CompileOptions::chat_panel`].
    pub fn chat_panel(mut self, on: bool) -> Self {
        self.opts.chat_panel = on;
        self
    }
    /// See [`CompileOptions::normalize`].
    pub fn normalize(mut self, on: bool) -> Self {
        self.opts.normalize = on;
        self
    }
    /// See [`CompileOptions::seek_clips`].
    pub fn seek_clips(mut self, on: bool) -> Self {
        self.opts.seek_clips = on;
        self
    }
    /// How long a new speaker must lead to take the main area (>= 0).
    pub fn switch_hold(mut self, hold: Ticks90k) -> Self {
        self.opts.switch_hold = hold;
        self
    }
    /// See [`CompileOptions::on_layout`].
    pub fn on_layout(mut self, sink: Option<LayoutSink>) -> Self {
        self.opts.on_layout = sink;
        self
    }
    /// See [`CompileOptions::to_stdout`].
    pub fn to_stdout(mut self, on: bool) -> Self {
        self.opts.to_stdout = on;
        self
    }
    /// See [`CompileOptions::replace_existing`].
    pub fn replace_existing(mut self, on: bool) -> Self {
        self.opts.replace_existing = on;
        self
    }
    /// Which library decodes H.264.
    pub fn decoder(mut self, decoder: DecoderChoice) -> Self {
        self.opts.decoder = decoder;
        self
    }
}

/// `Err(InvalidOption)` for `option` with `reason` unless `ok`.
fn check(ok: bool, option: &'static str, reason: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidOption { option, reason: reason() })
    }
}

/// See [`CompileOptions::validate`].
pub(super) fn validate(o: &CompileOptions) -> Result<()> {
    let (w, h) = (o.width, o.height);
    let even = w % 2 == 0 && h % 2 == 0;
    check(even && (16..=MAX_SIZE.0).contains(&w) && (16..=MAX_SIZE.1).contains(&h), "size", || {
        format!("unsupported canvas {w}x{h} (even sizes from 16x16 to {}x{})", MAX_SIZE.0, MAX_SIZE.1)
    })?;
    let (n, d) = (o.fps_num, o.fps_den);
    check(n > 0 && d > 0 && n / d.max(1) <= MAX_FPS, "fps", || {
        format!("unsupported frame rate {n}/{d} (both > 0, at most {MAX_FPS} fps)")
    })?;
    check(crate::codec::aac::sample_rate_index(o.sample_rate).is_some(), "audio", || {
        format!("sample rate {} Hz is not an AAC rate (e.g. 48000, 44100)", o.sample_rate)
    })?;
    check(matches!(o.channels, 1 | 2), "audio", || format!("{} channels (1 or 2)", o.channels))?;
    check(o.audio_bitrate > 0, "audio_bitrate", || "0 bit/s (> 0)".into())?;
    check(o.video_bitrate != Some(0), "video_bitrate", || "0 bit/s (> 0, or None)".into())?;
    check(o.gop_secs > 0, "gop_secs", || "0 s (at least 1)".into())?;
    check(o.threads > 0, "threads", || "0 (at least 1)".into())?;
    let non_negative = |t: Ticks90k, option| check(t >= Ticks90k::ZERO, option, || format!("{t} (>= 0)"));
    non_negative(o.start, "start")?;
    non_negative(o.max_duration.unwrap_or_default(), "max_duration")?;
    non_negative(o.switch_hold, "switch_hold")
}

#[cfg(test)]
#[path = "tests/builder.rs"]
mod tests;
