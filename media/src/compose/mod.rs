//! Compose: source pictures onto the output canvas. The stage itself is `canvas::Canvas`:
//! one picture per `crate::clip::FrameSlice` the timeline decided.
//!
//! Single layer (`stitch compile` without a layout): [`scale::fit`], each source picture
//! scaled once (per source frame, not per output frame) into the canvas, preserving its
//! aspect ratio, with black bars (Y=16, U=V=128) where it does not fill the canvas.
//!
//! Webinar composite (`compositor::Compositor`): a main area and camera tiles placed by
//! [`layout`], drawn with [`draw`], names in a bundled font ([`text`], [`card`]), slides
//! decoded by [`slides`].
//!
//! Who has the main area (sidebar, pip): a screen share (the latest) > the current slide >
//! the camera kept by `main_area::choose_main` > black. That camera changes only when
//! the speaker really changes: a new speaker (rank: speaking presenter > speaking > silent;
//! the owner wins ties, so it stays while nobody speaks) must lead without a break for
//! `--switch-hold` (default 2 s) before it takes over; an owner who leaves is replaced at
//! once. Tile slots play no part in it; a camera that takes the main area leaves its tile
//! and the previous owner takes the freed slot, the other tiles keep their positions.
//! `compositor::Compositor::record_layout` reports what each frame drew where.

pub mod canvas;
pub mod card;
pub mod compositor;
pub mod draw;
pub mod layout;
pub mod main_area;
pub mod scale;
pub mod slides;
pub mod text;

pub(crate) use canvas::{Canvas, SlideLoader};
