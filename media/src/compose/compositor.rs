//! The webinar composite: per output frame, the canvas built from the active sources.
//!
//! Main area priority: a screen share with pictures (the latest one) > the current slide >
//! a camera > black. Sidebar and pip: the camera is the one `main_area::choose_main`
//! keeps, with hysteresis (a new speaker leads for `switch_hold` before it takes over; an
//! owner who leaves is replaced at once); speaker: the speaking camera (presenter first).
//! Tiles: every other camera with pictures
//! and, while they speak, audio-only participants as name cards; positions are kept by
//! `TileSlots` (a participant keeps their place while present; presenters first). Every
//! tile and the main area carry the participant's name (`card::label`).
//!
//! Work only where it changes: a source picture is scaled once per source frame (scaled
//! pictures are cached by picture identity and size); when nothing differs from the
//! previous frame (same pictures, same placement, same names) the previous canvas is
//! returned as is (`Arc` clone: a static slide costs nothing per frame).
//!
//! On request (`Compositor::record_layout`) the compositor also keeps what it drew where
//! ([`DrawnLayout`]: the main area's and every tile's owner and rectangle), for checks of
//! every output frame; off, it costs nothing.

use std::collections::HashMap;
use std::sync::Arc;

use super::card;
use super::draw;
use super::layout::{place, LayoutKind, Placement, Rect, TileSlots};
use super::main_area::{self, choose_main, Contender, MainState};
use super::text::TextRenderer;
use crate::clip::{ChatLine, SourceKind};
use crate::frame::Picture;

/// One active source at this output frame.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// Stable identity for the tile slot (participant id, or the clip's own id).
    pub key: String,
    /// Shown on the tile (may be empty).
    pub name: String,
    /// Camera, screen share or microphone.
    pub kind: SourceKind,
    /// Lecturer or admin: placed first in the tile order and preferred for the main area.
    pub presenter: bool,
    /// Its current picture (canvas-sized, aspect kept with black bars), if it shows one.
    pub picture: Option<Arc<Picture>>,
    /// Its audio is above the speaking threshold (with a short hold).
    pub speaking: bool,
    /// Timeline start of the clip (90 kHz), the latest screen share wins.
    pub start: i64,
}

impl Contender for Source {
    fn key(&self) -> &str {
        &self.key
    }
    fn presenter(&self) -> bool {
        self.presenter
    }
    fn speaking(&self) -> bool {
        self.speaking
    }
}

/// What a region of an output frame shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown {
    /// A source's picture (its `Source::key`).
    Picture(String),
    /// A participant's name card (audio only, speaking).
    Card(String),
    /// The current slide.
    Slide,
}

/// One drawn region: what it shows and where (the area the layout gave it; the picture is
/// fitted into it with black bars).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// What the region shows.
    pub shown: Shown,
    /// Where, in canvas pixels.
    pub rect: Rect,
}

/// What the compositor drew for one output frame (`Compositor::record_layout`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrawnLayout {
    /// The main area (screen share, slide or speaking camera), if the layout has one this frame.
    pub main: Option<Placed>,
    /// In display order.
    pub tiles: Vec<Placed>,
}

/// Receives the layout of every output frame (frame index, layout), on the timeline thread.
pub type LayoutSink = Arc<dyn Fn(u64, &DrawnLayout) + Send + Sync>;

/// What a frame shows, compared with the previous frame's to skip identical work.
#[derive(Clone, PartialEq, Eq, Default)]
struct Signature {
    main: Option<(usize, Rect, String)>,
    tiles: Vec<(Option<usize>, Rect, String)>,
    /// Chat messages shown so far.
    chat: usize,
}

fn pic_id(p: &Arc<Picture>) -> usize {
    Arc::as_ptr(p) as usize
}

/// What the main area shows: a picture (none: black), the name on it, its source's key
/// (none: the slide).
struct MainArea<'s> {
    picture: Option<Arc<Picture>>,
    name: String,
    key: Option<&'s str>,
}

/// Builds composite canvases; one per timeline.
pub(crate) struct Compositor {
    layout: LayoutKind,
    width: u32,
    height: u32,
    slots: TileSlots<String>,
    text: &'static TextRenderer,
    /// Scaled pictures of the previous frame by (picture identity, w, h), with their source
    /// (held, so that an identity cannot be reused by a new picture while it is cached).
    scaled: HashMap<(usize, u32, u32), (Arc<Picture>, Arc<Picture>)>,
    cards: HashMap<(String, u32, u32), Arc<Picture>>,
    last: Option<(Signature, Arc<Picture>)>,
    /// `--hide-silent`: a camera whose picture is black and whose audio is silent gets no
    /// tile (and is not chosen for the main area).
    pub hide_silent: bool,
    /// `--chat-panel`: the recent chat messages in a column on the right.
    pub chat_panel: bool,
    /// Blackness of recent pictures by identity (held, so identities stay unique).
    black: HashMap<usize, (Arc<Picture>, bool)>,
    /// Frames that had to be drawn (the rest reused the previous canvas).
    pub frames_drawn: u64,
    /// Frames that reused the previous canvas (nothing visible changed).
    pub frames_reused: u64,
    /// Sidebar/pip: the camera that has the main area ([`main_area`]).
    main: MainState,
    /// `--switch-hold` (90 kHz): how long a new speaker must lead to take the main area.
    pub switch_hold: i64,
    /// Keep [`Compositor::drawn`] up to date on every frame.
    pub record_layout: bool,
    drawn: DrawnLayout,
}

impl Compositor {
    /// A compositor drawing `layout` on a `width` x `height` canvas (even sizes keep the 4:2:0
    /// chroma aligned), with the defaults of the command line: no hidden cameras, no chat
    /// panel, [`main_area::DEFAULT_HOLD`], no layout recording.
    pub fn new(layout: LayoutKind, width: u32, height: u32) -> Compositor {
        Compositor {
            layout,
            width,
            height,
            slots: TileSlots::new(),
            text: TextRenderer::shared(),
            scaled: HashMap::new(),
            cards: HashMap::new(),
            last: None,
            hide_silent: false,
            chat_panel: false,
            black: HashMap::new(),
            frames_drawn: 0,
            frames_reused: 0,
            main: MainState::default(),
            switch_hold: main_area::DEFAULT_HOLD.ticks(),
            record_layout: false,
            drawn: DrawnLayout::default(),
        }
    }

    /// What the last frame drew where (empty unless [`Compositor::record_layout`] is on).
    pub fn drawn(&self) -> &DrawnLayout {
        &self.drawn
    }

    /// The canvas for the output frame at timeline time `now` (90 kHz, increasing from call
    /// to call). `slide`: the current slide picture, if any; `chat`: the messages sent so
    /// far (the panel shows the latest that fit).
    pub fn compose(
        &mut self,
        now: i64,
        sources: &[Source],
        slide: Option<&Arc<Picture>>,
        chat: &[ChatLine],
    ) -> Arc<Picture> {
        let screen =
            sources.iter().filter(|s| s.kind == SourceKind::Screen && s.picture.is_some()).max_by_key(|s| s.start);
        // Cameras with a picture (minus black, silent ones with --hide-silent).
        let cameras: Vec<&Source> = sources
            .iter()
            .filter(|s| matches!(s.kind, SourceKind::Camera | SourceKind::Unknown) && s.picture.is_some())
            .filter(|s| !(self.hide_silent && !s.speaking && self.is_black(s)))
            .collect();
        if self.black.len() > 256 {
            self.black.clear();
        }
        let main = self.main_area(now, screen, slide, &cameras);
        let ordered = self.tiles(sources, &cameras, main.key);
        let placement =
            place(self.layout, self.width, self.height, main.picture.is_some(), ordered.len(), self.chat_panel);
        if self.record_layout {
            self.record(&main, &ordered, &placement);
        }
        let sig = Signature {
            main: match (&main.picture, placement.main) {
                (Some(p), Some(r)) => Some((pic_id(p), r, main.name.clone())),
                _ => None,
            },
            tiles: ordered
                .iter()
                .zip(&placement.tiles)
                .map(|(s, r)| (s.picture.as_ref().map(pic_id), *r, s.name.clone()))
                .collect(),
            chat: if self.chat_panel { chat.len() } else { 0 },
        };
        if let Some((last_sig, canvas)) = &self.last {
            if *last_sig == sig {
                self.frames_reused += 1;
                return canvas.clone();
            }
        }
        self.frames_drawn += 1;
        let canvas = Arc::new(self.draw(&main, &ordered, &placement, chat));
        self.last = Some((sig, canvas.clone()));
        canvas
    }

    /// What the main area shows (see the module doc for the priorities).
    fn main_area<'s>(
        &mut self,
        now: i64,
        screen: Option<&'s Source>,
        slide: Option<&Arc<Picture>>,
        cameras: &[&'s Source],
    ) -> MainArea<'s> {
        let of = |s: &'s Source| MainArea { picture: s.picture.clone(), name: s.name.clone(), key: Some(&s.key) };
        let slide_or_black =
            |p: Option<&Arc<Picture>>| MainArea { picture: p.cloned(), name: String::new(), key: None };
        match self.layout {
            LayoutKind::Grid => match screen {
                Some(s) => of(s),
                None => slide_or_black(slide),
            },
            LayoutKind::Speaker => {
                let speaking_camera = cameras.iter().copied().filter(|s| s.speaking).max_by_key(|s| s.presenter);
                let any_camera = cameras.iter().copied().max_by_key(|s| s.presenter);
                match speaking_camera.or(screen).or(any_camera) {
                    Some(s) => of(s),
                    None => slide_or_black(slide),
                }
            }
            LayoutKind::Sidebar | LayoutKind::Pip => {
                // Updated on every frame, also while a screen share or a slide is shown.
                self.main = choose_main(&self.main, cameras, now, self.switch_hold);
                let owner = self.main.owner().and_then(|k| cameras.iter().copied().find(|c| c.key == k));
                match (screen, slide, owner) {
                    (Some(s), _, _) => of(s),
                    (None, Some(p), _) => slide_or_black(Some(p)),
                    (None, None, Some(c)) => of(c),
                    _ => slide_or_black(None),
                }
            }
        }
    }

    /// Tiles, in their slots' order: cameras not in the main area, speaking audio-only
    /// participants (none in the speaker layout).
    fn tiles<'s>(&mut self, sources: &'s [Source], cameras: &[&'s Source], main_key: Option<&str>) -> Vec<&'s Source> {
        let is_camera = |s: &Source| cameras.iter().any(|c| std::ptr::eq(*c, s));
        let mut tile_src: Vec<&Source> = Vec::new();
        if self.layout != LayoutKind::Speaker {
            for s in sources {
                if Some(s.key.as_str()) == main_key {
                    continue;
                }
                let wanted = is_camera(s) || (s.picture.is_none() && s.speaking && s.kind != SourceKind::Screen);
                if wanted && !tile_src.iter().any(|t| t.key == s.key) {
                    tile_src.push(s);
                }
            }
        }
        let keys: Vec<String> = tile_src.iter().map(|s| s.key.clone()).collect();
        let prio: HashMap<&str, i32> = tile_src.iter().map(|s| (s.key.as_str(), i32::from(s.presenter))).collect();
        let order = self.slots.update(&keys, |k| prio.get(k.as_str()).copied().unwrap_or(0));
        order.iter().filter_map(|k| tile_src.iter().find(|s| &s.key == k).copied()).collect()
    }

    /// Keep what this frame draws where ([`Compositor::record_layout`]).
    fn record(&mut self, main: &MainArea, ordered: &[&Source], placement: &Placement) {
        self.drawn.main = match (&main.picture, placement.main) {
            (Some(_), Some(rect)) => {
                let shown = main.key.map_or(Shown::Slide, |k| Shown::Picture(k.to_string()));
                Some(Placed { shown, rect })
            }
            _ => None,
        };
        self.drawn.tiles.clear();
        self.drawn.tiles.extend(ordered.iter().zip(&placement.tiles).map(|(s, r)| Placed {
            shown: match s.picture {
                Some(_) => Shown::Picture(s.key.clone()),
                None => Shown::Card(s.key.clone()),
            },
            rect: *r,
        }));
    }

    /// Draw the canvas: the main area, the tiles (pictures with labels, name cards), the
    /// chat panel.
    fn draw(&mut self, main: &MainArea, ordered: &[&Source], placement: &Placement, chat: &[ChatLine]) -> Picture {
        let mut canvas = Picture::black(self.width, self.height);
        let mut used: HashMap<(usize, u32, u32), (Arc<Picture>, Arc<Picture>)> = HashMap::new();
        if let (Some(p), Some(r)) = (&main.picture, placement.main) {
            self.put(&mut canvas, p, r, &mut used);
            if !main.name.is_empty() && placement.tiles.is_empty() && self.layout != LayoutKind::Pip {
                // Nothing beside it says who this is.
                card::label(&mut canvas, r, &main.name, self.text);
            }
        }
        for (s, r) in ordered.iter().zip(&placement.tiles) {
            match &s.picture {
                Some(p) => {
                    self.put(&mut canvas, p, *r, &mut used);
                    if !s.name.is_empty() {
                        card::label(&mut canvas, *r, &s.name, self.text);
                    }
                }
                None => {
                    let key = (s.name.clone(), r.w, r.h);
                    let text = self.text;
                    let c = self.cards.entry(key).or_insert_with(|| Arc::new(card::name_card(r.w, r.h, &s.name, text)));
                    draw::blit(&mut canvas, c, r.x as i32, r.y as i32);
                }
            }
        }
        if let Some(panel) = placement.panel {
            self.draw_chat(&mut canvas, panel, chat);
        }
        if self.cards.len() > 64 {
            self.cards.clear();
        }
        self.scaled = used;
        canvas
    }

    /// The chat panel: the latest messages, newest at the bottom, author then wrapped text.
    fn draw_chat(&self, canvas: &mut Picture, panel: Rect, chat: &[ChatLine]) {
        draw::fill_rect(canvas, panel, 28, 128, 128);
        let px = (self.height as f32 / 45.0).clamp(9.0, 28.0);
        let line = self.text.line_height(px);
        let pad = (line / 2).max(2);
        let width = panel.w.saturating_sub(2 * pad);
        if width < 8 || line == 0 {
            return;
        }
        // Lay out from the newest message upwards until the panel is full.
        let mut blocks: Vec<Vec<(String, u8)>> = Vec::new();
        let mut used = 0u32;
        for m in chat.iter().rev() {
            let mut lines: Vec<(String, u8)> = Vec::new();
            if !m.author.trim().is_empty() {
                lines.push((self.text.fit(m.author.trim(), px, width), 150));
            }
            for l in m.text.lines() {
                lines.extend(self.text.wrap(l, px, width).into_iter().map(|w| (w, 235)));
            }
            let h = lines.len() as u32 * line + pad;
            if used + h > panel.h.saturating_sub(pad) {
                break;
            }
            used += h;
            blocks.push(lines);
        }
        let mut y = panel.y + panel.h - pad - used;
        for block in blocks.iter().rev() {
            for (text, luma) in block {
                self.text.draw(canvas, (panel.x + pad) as i32, y as i32, text, px, *luma, width);
                y += line;
            }
            y += pad;
        }
    }

    /// Whether the source's picture is black (limited-range black, sampled on a grid).
    fn is_black(&mut self, s: &Source) -> bool {
        let Some(p) = &s.picture else { return false };
        if let Some((_, b)) = self.black.get(&pic_id(p)) {
            return *b;
        }
        let y = p.y();
        let step = (y.len() / 4096).max(1);
        let (n, bright) = y.iter().step_by(step).fold((0usize, 0usize), |(n, b), &v| (n + 1, b + usize::from(v > 32)));
        let black = n > 0 && bright * 100 <= n; // at most 1% of samples above Y=32
        self.black.insert(pic_id(p), (p.clone(), black));
        black
    }

    /// Draw `p` fitted into `r`, scaling it only if this picture was not scaled to this
    /// size for the previous frame.
    fn put(
        &mut self,
        canvas: &mut Picture,
        p: &Arc<Picture>,
        r: Rect,
        used: &mut HashMap<(usize, u32, u32), (Arc<Picture>, Arc<Picture>)>,
    ) {
        let fit = draw::fit_in(p.width, p.height, r);
        let key = (pic_id(p), fit.w, fit.h);
        let scaled = match self.scaled.get(&key).or_else(|| used.get(&key)) {
            Some((_, s)) => s.clone(),
            None if p.width == fit.w && p.height == fit.h => p.clone(),
            None => {
                let mut s = Picture::black(fit.w, fit.h);
                draw::blit_fit(&mut s, p, Rect { x: 0, y: 0, w: fit.w, h: fit.h });
                Arc::new(s)
            }
        };
        draw::blit(canvas, &scaled, fit.x as i32, fit.y as i32);
        used.insert(key, (p.clone(), scaled));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(key: &str, kind: SourceKind, pic: Option<Arc<Picture>>, speaking: bool) -> Source {
        Source { key: key.into(), name: key.into(), kind, presenter: false, picture: pic, speaking, start: 0 }
    }

    #[test]
    fn unchanged_frame_reuses_the_canvas() {
        let mut c = Compositor::new(LayoutKind::Sidebar, 320, 180);
        let slide = Arc::new(Picture::filled(320, 180, 200, 128, 128));
        let cam = Arc::new(Picture::filled(320, 180, 100, 128, 128));
        let s = [src("a", SourceKind::Camera, Some(cam.clone()), false)];
        let f1 = c.compose(0, &s, Some(&slide), &[]);
        let f2 = c.compose(0, &s, Some(&slide), &[]);
        assert!(Arc::ptr_eq(&f1, &f2), "same sources: same canvas");
        assert_eq!((c.frames_drawn, c.frames_reused), (1, 1));
        // A new camera picture: drawn again, the slide's scaled copy reused.
        let cam2 = Arc::new(Picture::filled(320, 180, 120, 128, 128));
        let f3 = c.compose(0, &[src("a", SourceKind::Camera, Some(cam2), false)], Some(&slide), &[]);
        assert!(!Arc::ptr_eq(&f1, &f3));
        assert_eq!(c.frames_drawn, 2);
    }

    #[test]
    fn main_area_priority() {
        let mut c = Compositor::new(LayoutKind::Sidebar, 640, 360);
        let screen = Arc::new(Picture::filled(640, 360, 220, 128, 128));
        let slide = Arc::new(Picture::filled(640, 360, 180, 128, 128));
        let cam = Arc::new(Picture::filled(640, 360, 60, 128, 128));
        let at = |p: &Picture, x: u32, y: u32| p.y()[(y * p.width + x) as usize];
        // Screen share beats the slide; the camera goes to a tile.
        let f = c.compose(
            0,
            &[
                src("s", SourceKind::Screen, Some(screen.clone()), false),
                src("c", SourceKind::Camera, Some(cam.clone()), true),
            ],
            Some(&slide),
            &[],
        );
        assert_eq!(at(&f, 100, 180), 220);
        // No screen share: the slide.
        let f = c.compose(0, &[src("c", SourceKind::Camera, Some(cam.clone()), true)], Some(&slide), &[]);
        assert_eq!(at(&f, 100, 180), 180);
        // Neither: the speaking camera.
        let f = c.compose(0, &[src("c", SourceKind::Camera, Some(cam), true)], None, &[]);
        assert_eq!(at(&f, 100, 180), 60);
        // Nothing at all: black.
        let f = c.compose(0, &[], None, &[]);
        assert_eq!(at(&f, 100, 180), 16);
    }

    /// Per-frame owners of the main area and the tiles, from the recorded layout.
    fn owners(c: &Compositor) -> (Option<Shown>, Vec<(Shown, Rect)>) {
        let d = c.drawn();
        (d.main.as_ref().map(|p| p.shown.clone()), d.tiles.iter().map(|p| (p.shown.clone(), p.rect)).collect())
    }

    fn pic(s: &str) -> Shown {
        Shown::Picture(s.to_string())
    }

    #[test]
    fn two_cameras_without_roles_keep_their_places() {
        // The old rule chose the speaking camera with the smaller tile slot: the camera in
        // the main area has none, so the two swapped on every frame.
        for layout in [LayoutKind::Sidebar, LayoutKind::Pip] {
            let mut c = Compositor::new(layout, 320, 180);
            c.record_layout = true;
            let a = Arc::new(Picture::filled(320, 180, 60, 128, 128));
            let b = Arc::new(Picture::filled(320, 180, 160, 128, 128));
            let mut seen = Vec::new();
            for n in 0..100i64 {
                // Both speak (the 1 s hold keeps both flags up in a conversation).
                let s = [
                    src("a", SourceKind::Camera, Some(a.clone()), true),
                    src("b", SourceKind::Camera, Some(b.clone()), true),
                ];
                let f = c.compose(n * 3600, &s, None, &[]);
                let (main, tiles) = owners(&c);
                assert_eq!(main, Some(pic("a")), "{layout} frame {n}");
                assert_eq!(tiles.iter().map(|t| t.0.clone()).collect::<Vec<_>>(), vec![pic("b")]);
                seen.push(tiles[0].1);
                // What the record says is what was drawn.
                let m = c.drawn().main.as_ref().unwrap().rect;
                let t = tiles[0].1;
                let y = |x: u32, yy: u32| f.y()[(yy * 320 + x) as usize];
                assert_eq!(y(m.x + m.w / 2, m.y + m.h / 3), 60);
                assert_eq!(y(t.x + t.w / 2, t.y + t.h / 3), 160);
            }
            assert!(seen.windows(2).all(|w| w[0] == w[1]), "the tile does not move");
            // Everything after the first frame reused the canvas.
            assert_eq!((c.frames_drawn, c.frames_reused), (1, 99), "{layout}");
        }
    }

    #[test]
    fn a_new_speaker_takes_the_main_area_after_the_hold_and_swaps_places() {
        let mut c = Compositor::new(LayoutKind::Sidebar, 640, 360);
        c.record_layout = true;
        c.switch_hold = 90_000; // 1 s
        let p = |v: u8| Some(Arc::new(Picture::filled(640, 360, v, 128, 128)));
        let (a, b, d) = (p(50), p(100), p(150));
        let frame = |c: &mut Compositor, n: i64, speaking: &str| {
            let s = [
                src("a", SourceKind::Camera, a.clone(), speaking == "a"),
                src("b", SourceKind::Camera, b.clone(), speaking == "b"),
                src("d", SourceKind::Camera, d.clone(), speaking == "d"),
            ];
            c.compose(n * 3600, &s, None, &[]);
            owners(c)
        };
        let (main, tiles) = frame(&mut c, 0, "a");
        assert_eq!(main, Some(pic("a")));
        let before: Vec<(Shown, Rect)> = tiles.clone();
        assert_eq!(before.iter().map(|t| t.0.clone()).collect::<Vec<_>>(), vec![pic("b"), pic("d")]);
        // d speaks from frame 1: still a's until 1 s later, then d's; a takes d's place,
        // b keeps its place.
        for n in 1..26 {
            let (main, tiles) = frame(&mut c, n, "d");
            assert_eq!(main, Some(pic("a")), "frame {n}");
            assert_eq!(tiles, before);
        }
        let (main, tiles) = frame(&mut c, 26, "d");
        assert_eq!(main, Some(pic("d")));
        assert_eq!(tiles, vec![before[0].clone(), (pic("a"), before[1].1)]);
    }

    #[test]
    fn screen_share_and_slide_come_first_while_the_speaker_is_followed() {
        let mut c = Compositor::new(LayoutKind::Pip, 640, 360);
        c.record_layout = true;
        let p = |v: u8| Some(Arc::new(Picture::filled(640, 360, v, 128, 128)));
        let (a, b, screen, slide) = (p(50), p(100), p(200), Arc::new(Picture::filled(640, 360, 180, 128, 128)));
        let cams = |b_speaks: bool| {
            vec![src("a", SourceKind::Camera, a.clone(), false), src("b", SourceKind::Camera, b.clone(), b_speaks)]
        };
        c.compose(0, &cams(false), None, &[]);
        assert_eq!(owners(&c).0, Some(pic("a")));
        // b speaks for 3 s under a screen share and then a slide.
        for n in 1..75 {
            let mut s = cams(true);
            if n < 40 {
                s.push(src("s", SourceKind::Screen, screen.clone(), false));
                c.compose(n * 3600, &s, None, &[]);
                assert_eq!(owners(&c).0, Some(pic("s")));
                assert_eq!(owners(&c).1.len(), 2, "both cameras in tiles");
            } else {
                c.compose(n * 3600, &s, Some(&slide), &[]);
                assert_eq!(owners(&c).0, Some(Shown::Slide));
            }
        }
        // Neither any more: b (who led for the hold meanwhile) at once.
        c.compose(75 * 3600, &cams(true), None, &[]);
        assert_eq!(owners(&c), (Some(pic("b")), vec![(pic("a"), owners(&c).1[0].1)]));
    }

    #[test]
    fn layout_record_is_off_by_default() {
        let mut c = Compositor::new(LayoutKind::Sidebar, 320, 180);
        let cam = Arc::new(Picture::filled(320, 180, 60, 128, 128));
        c.compose(0, &[src("a", SourceKind::Camera, Some(cam), true)], None, &[]);
        assert_eq!(c.drawn(), &DrawnLayout::default());
    }

    #[test]
    fn chat_panel_shows_the_latest_messages() {
        let mut c = Compositor::new(LayoutKind::Sidebar, 640, 360);
        c.chat_panel = true;
        let cam = Arc::new(Picture::filled(640, 360, 60, 128, 128));
        let s = [src("c", SourceKind::Camera, Some(cam), false)];
        let msg = |i: i64| ChatLine {
            at: crate::time::Ticks90k(i),
            author: format!("Автор {i}"),
            text: format!("сообщение номер {i}"),
        };
        let chat: Vec<ChatLine> = (0..40).map(msg).collect();
        let empty = c.compose(0, &s, None, &chat[..0]);
        let full = c.compose(0, &s, None, &chat);
        let panel = place(LayoutKind::Sidebar, 640, 360, true, 0, true).panel.unwrap();
        let bright = |p: &Picture| {
            (panel.y..panel.y + panel.h)
                .flat_map(|y| (panel.x..panel.x + panel.w).map(move |x| (x, y)))
                .filter(|&(x, y)| p.y()[(y * 640 + x) as usize] > 150)
                .count()
        };
        assert_eq!(bright(&empty), 0, "no messages yet: an empty panel");
        assert!(bright(&full) > 200, "text drawn");
        // The newest message is at the bottom: its last line's row has text.
        let bottom = Rect { x: panel.x, y: panel.y + panel.h * 3 / 4, w: panel.w, h: panel.h / 4 };
        let b = (bottom.y..bottom.y + bottom.h)
            .flat_map(|y| (bottom.x..bottom.x + bottom.w).map(move |x| (x, y)))
            .filter(|&(x, y)| full.y()[(y * 640 + x) as usize] > 150)
            .count();
        assert!(b > 50);
        // Unchanged messages: the canvas is reused.
        let again = c.compose(0, &s, None, &chat);
        assert!(Arc::ptr_eq(&full, &again));
    }

    #[test]
    fn hide_silent_drops_black_silent_cameras() {
        let mut c = Compositor::new(LayoutKind::Grid, 640, 360);
        c.hide_silent = true;
        let black = Arc::new(Picture::black(640, 360));
        let cam = Arc::new(Picture::filled(640, 360, 90, 128, 128));
        let s = [
            src("dark", SourceKind::Camera, Some(black.clone()), false),
            src("lit", SourceKind::Camera, Some(cam.clone()), false),
        ];
        c.compose(0, &s, None, &[]);
        assert_eq!(c.slots.order(), vec!["lit".to_string()]);
        // Speaking with the camera off: shown.
        let s = [src("dark", SourceKind::Camera, Some(black), true), src("lit", SourceKind::Camera, Some(cam), false)];
        c.compose(0, &s, None, &[]);
        assert_eq!(c.slots.order().len(), 2);
    }

    #[test]
    fn silent_audio_only_participant_has_no_tile() {
        let mut c = Compositor::new(LayoutKind::Grid, 640, 360);
        let cam = Arc::new(Picture::filled(640, 360, 60, 128, 128));
        let quiet =
            [src("c", SourceKind::Camera, Some(cam.clone()), false), src("m", SourceKind::AudioOnly, None, false)];
        c.compose(0, &quiet, None, &[]);
        assert_eq!(c.slots.order().len(), 1);
        let talking = [src("c", SourceKind::Camera, Some(cam), false), src("m", SourceKind::AudioOnly, None, true)];
        c.compose(0, &talking, None, &[]);
        assert_eq!(c.slots.order(), vec!["c".to_string(), "m".to_string()]);
    }
}
