//! Compose: source pictures onto the output canvas.
//!
//! For the core pipeline this is [`scale::fit`]: each source picture is scaled once (per
//! source frame, not per output frame) into the canvas, preserving its aspect ratio, with
//! black bars (Y=16, U=V=128) where it does not fill the canvas.

pub mod card;
pub mod draw;
pub mod layout;
pub mod scale;
pub mod slides;
pub mod text;
