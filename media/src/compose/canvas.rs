//! The compose stage: one output picture per `FrameSlice`.
//!
//! Single layer: the slice's one visible clip, fitted to the canvas ([`scale::fit`]; reader
//! threads already deliver canvas-sized pictures, so this is a no-op for them), or black.
//! Composite: every visible clip becomes a `Source` of the `Compositor`, with the
//! current slide (loaded, decoded and fitted once, `SlideCache`) and the chat said so far.

use std::collections::HashSet;
use std::sync::Arc;

use super::compositor::{Compositor, LayoutSink, Source};
use super::layout::LayoutKind;
use super::scale;
use super::slides::SlideCache;
use crate::clip::{ChatLine, FrameSlice, Layer, SlideSpec, SourceKind};
use crate::frame::Picture;

/// Reads a slide's image bytes (may wait for its download).
pub(crate) type SlideLoader = Box<dyn FnMut(&SlideSpec) -> std::result::Result<Vec<u8>, String> + Send>;

/// Builds the output picture of every frame.
pub(crate) struct Canvas {
    width: u32,
    height: u32,
    black: Arc<Picture>,
    /// Webinar composite (a layout); `None`: one video layer.
    compositor: Option<Compositor>,
    /// Composite: slides in time order, their loader and the decoded, canvas-fitted pictures.
    slides: Vec<SlideSpec>,
    slide_loader: Option<SlideLoader>,
    slide_cache: SlideCache,
    /// Slides that could not be shown, with why (reported once each), and their indices.
    slide_problems: Vec<String>,
    slides_failed: HashSet<usize>,
    /// Composite: told what every output frame drew where (only when asked).
    layout_sink: Option<LayoutSink>,
}

/// The picture of one output frame.
pub(crate) struct Drawn {
    /// The picture of the output frame (canvas-sized), shared with the stages after compose.
    pub picture: Arc<Picture>,
}

impl Canvas {
    /// A single-layer canvas of `width` x `height`.
    pub fn new(width: u32, height: u32) -> Canvas {
        Canvas {
            width,
            height,
            black: Arc::new(Picture::black(width, height)),
            compositor: None,
            slides: Vec::new(),
            slide_loader: None,
            slide_cache: Default::default(),
            slide_problems: Vec::new(),
            slides_failed: Default::default(),
            layout_sink: None,
        }
    }

    /// Compose every visible clip with `layout` instead of showing one layer.
    pub fn with_layout(mut self, layout: LayoutKind) -> Canvas {
        self.compositor = Some(Compositor::new(layout, self.width, self.height));
        self
    }

    /// The compositor, to set its options (`None` for a single layer).
    pub fn compositor(&mut self) -> Option<&mut Compositor> {
        self.compositor.as_mut()
    }

    /// Composite: `sink` is told, for every output frame, what the compositor drew where.
    pub fn on_layout(&mut self, sink: LayoutSink) {
        if let Some(c) = self.compositor.as_mut() {
            c.record_layout = true;
            self.layout_sink = Some(sink);
        }
    }

    /// Slides for the composite's main area (the timeline says which one shows when).
    pub fn with_slides(mut self, slides: Vec<SlideSpec>, loader: SlideLoader) -> Canvas {
        self.slides = slides;
        self.slide_loader = Some(loader);
        self
    }

    /// (frames drawn, frames that reused the previous canvas) of the composite.
    pub fn compose_stats(&self) -> Option<(u64, u64)> {
        self.compositor.as_ref().map(|c| (c.frames_drawn, c.frames_reused))
    }

    /// Slides that could not be shown, and why.
    pub fn slide_problems(&self) -> &[String] {
        &self.slide_problems
    }

    /// The picture of `slice`. `chat`: the flow's messages (the first `slice.chat_said` are
    /// said); `speaking`: whether a clip (by [`Layer::clip`]) speaks in this frame.
    pub fn draw(&mut self, slice: &FrameSlice, chat: &[ChatLine], speaking: impl Fn(usize) -> bool) -> Drawn {
        if self.compositor.is_none() {
            return match slice.layers.first().and_then(|l| l.picture.clone()) {
                Some(p) if p.width == self.width && p.height == self.height => Drawn { picture: p },
                Some(p) => Drawn { picture: scale::fit(&p, self.width, self.height) },
                None => Drawn { picture: self.black.clone() },
            };
        }
        let mut sources: Vec<Source> = slice.layers.iter().map(|l| source(l, speaking(l.clip))).collect();
        // A participant's clip with pictures before one without (chunk overlaps).
        sources.sort_by_key(|s| (s.picture.is_none(), std::cmp::Reverse(s.start)));
        let slide = slice.slide.and_then(|i| self.slide(i));
        let picture = match self.compositor.as_mut() {
            Some(c) => {
                let pic = c.compose(slice.t, &sources, slide.as_ref(), &chat[..slice.chat_said.min(chat.len())]);
                if let Some(sink) = &self.layout_sink {
                    sink(slice.index, c.drawn());
                }
                pic
            }
            None => self.black.clone(),
        };
        Drawn { picture }
    }

    /// Slide `i`, decoded and fitted to the canvas once.
    fn slide(&mut self, i: usize) -> Option<Arc<Picture>> {
        let spec = self.slides.get(i)?.clone();
        let loader = self.slide_loader.as_mut()?;
        if self.slides_failed.contains(&i) {
            return None; // reported once; not fetched again every frame
        }
        let key = spec.path.to_string_lossy().into_owned();
        let (w, h) = (self.width, self.height);
        match self.slide_cache.get(&key, || loader(&spec).map_err(crate::Error::Invalid), w, h) {
            Ok(p) => Some(p),
            Err(e) => {
                self.slides_failed.insert(i);
                self.slide_problems.push(format!("slide {}: {e}", spec.url));
                None
            }
        }
    }
}

/// A visible clip as a compositor source: its tile key is the participant (per kind of
/// stream), or the clip itself when the flow does not say whose it is.
fn source(l: &Layer, speaking: bool) -> Source {
    let info = &l.source;
    let key = match (&info.participant, info.kind) {
        (Some(p), SourceKind::Screen) => format!("screen:{p}"),
        (Some(p), _) => format!("user:{p}"),
        (None, _) => format!("clip:{}", l.index),
    };
    Source {
        key,
        name: info.name.clone().unwrap_or_default(),
        kind: info.kind,
        presenter: info.presenter,
        picture: l.picture.clone(),
        speaking,
        start: l.start,
    }
}
