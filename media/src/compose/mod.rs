//! Compose: source pictures onto the output canvas.
//!
//! Single layer (`stitch compile` without a layout): [`scale::fit`], each source picture
//! scaled once (per source frame, not per output frame) into the canvas, preserving its
//! aspect ratio, with black bars (Y=16, U=V=128) where it does not fill the canvas.
//!
//! Webinar composite ([`compositor::Compositor`]): a main area and camera tiles placed by
//! [`layout`], drawn with [`draw`], names in a bundled font ([`text`], [`card`]), slides
//! decoded by [`slides`].

pub mod card;
pub mod compositor;
pub mod draw;
pub mod layout;
pub mod main_area;
pub mod scale;
pub mod slides;
pub mod text;
