//! One output frame after another: the timeline decides what is active ([`Timeline`]), the
//! mix stage sums its audio ([`Mixer`]), the compose stage draws its picture ([`Canvas`]).
//! Runs on the timeline thread of [`super::compile`].

use std::sync::Arc;

use crate::clip::{ChatLine, ClipSpec, OutputFormat, SlideSpec};
use crate::compose::compositor::LayoutSink;
use crate::compose::layout::LayoutKind;
use crate::compose::{Canvas, SlideLoader};
use crate::frame::Picture;
use crate::mix::Mixer;
use crate::timeline::{ClipOpener, ClipOutcome, Timeline};

/// One output frame: its picture and the mixed audio for its time slice.
pub(crate) struct OutputFrame {
    /// Output frame number (0-based).
    pub index: u64,
    /// The composed canvas.
    pub picture: Arc<Picture>,
    /// Interleaved samples for `[frame_audio_start(n), frame_audio_start(n+1))`, clipped to
    /// the audio end of the timeline.
    pub audio: Vec<f32>,
}

/// How the program looks and sounds (the stage options of a compile).
pub(crate) struct Look {
    /// Webinar composite with this layout; `None`: one video layer, the later clip wins.
    pub layout: Option<LayoutKind>,
    /// Loudness normalisation of the mix.
    pub normalize: bool,
    /// Composite: cameras that are black and silent get no tile.
    pub hide_silent: bool,
    /// Composite, sidebar and pip: how long (90 kHz) a new speaker must lead.
    pub switch_hold: i64,
    /// Composite: told what every output frame drew where.
    pub on_layout: Option<LayoutSink>,
    /// Composite: a chat panel with these messages (`None`: no panel).
    pub chat: Option<Vec<ChatLine>>,
    /// Composite: slides for the main area, and their loader.
    pub slides: Option<(Vec<SlideSpec>, SlideLoader)>,
}

impl Default for Look {
    fn default() -> Self {
        Look {
            layout: None,
            normalize: false,
            hide_silent: false,
            switch_hold: crate::compose::main_area::DEFAULT_HOLD.ticks(),
            on_layout: None,
            chat: None,
            slides: None,
        }
    }
}

/// The timeline, mix and compose stages of one compile.
pub(crate) struct Program {
    timeline: Timeline,
    mixer: Mixer,
    canvas: Canvas,
}

impl Program {
    /// `flow_duration`: the flow's `duration` (90 kHz) if any; `start`/`max_len`: the cut.
    pub fn new(
        fmt: OutputFormat,
        clips: Vec<ClipSpec>,
        (flow_duration, start, max_len): (Option<i64>, i64, Option<i64>),
        open: ClipOpener,
        look: Look,
    ) -> Program {
        let mut timeline = Timeline::new(fmt, clips, flow_duration, start, max_len, open);
        let mut canvas = Canvas::new(fmt.width, fmt.height);
        if let Some(layout) = look.layout {
            canvas = canvas.with_layout(layout);
            if let Some(c) = canvas.compositor() {
                c.hide_silent = look.hide_silent;
                c.switch_hold = look.switch_hold.max(0);
                c.chat_panel = look.chat.is_some();
            }
            if let Some(sink) = look.on_layout {
                canvas.on_layout(sink);
            }
            let mut slides = Vec::new();
            if let Some((s, loader)) = look.slides {
                slides = s.clone();
                canvas = canvas.with_slides(s, loader);
            }
            timeline = timeline.composite(slides, look.chat.unwrap_or_default());
        }
        Program { timeline, mixer: Mixer::new(&fmt, look.normalize), canvas }
    }

    /// The next output frame, or `None` at the end of the timeline.
    pub fn next(&mut self) -> Option<OutputFrame> {
        let slice = self.timeline.next()?;
        let audio = self.mixer.mix(&slice);
        let mixer = &self.mixer;
        let drawn = self.canvas.draw(&slice, self.timeline.chat(), |c| mixer.speaking(c));
        Some(OutputFrame { index: slice.index, picture: drawn.picture, audio })
    }

    /// What became of each clip so far (all of them once `next` returned `None`).
    pub fn outcomes(&self) -> &[ClipOutcome] {
        self.timeline.outcomes()
    }

    /// (frames drawn, frames that reused the previous canvas) of the composite.
    pub fn compose_stats(&self) -> Option<(u64, u64)> {
        self.canvas.compose_stats()
    }

    /// Slides that could not be shown, and why.
    pub fn slide_problems(&self) -> &[String] {
        self.canvas.slide_problems()
    }
}

#[cfg(test)]
#[path = "tests/program.rs"]
mod tests;
