//! Participant decorations: the placeholder card shown for audio-only participants and the
//! name label drawn at the bottom-left of every camera tile. Both are I420, limited range
//! (see [`crate::frame`]); text through `super::text::TextRenderer`.

use crate::frame::Picture;

use super::draw::{blend_rect, fill_circle, rgb_to_yuv};
use super::layout::Rect;
use super::text::TextRenderer;

/// Card background (dark grey).
pub const CARD_Y: u8 = 40;
/// Label strip opacity over the tile (0..=255).
pub(crate) const LABEL_ALPHA: u8 = 160;
/// Text luma (limited-range white).
pub(crate) const TEXT_Y: u8 = 235;

/// Avatar circle colours (RGB), picked by a stable hash of the name.
const PALETTE: [(u8, u8, u8); 8] = [
    (0x3b, 0x6e, 0xc4),
    (0x2e, 0x9e, 0x6b),
    (0xc4, 0x5a, 0x3b),
    (0x8e, 0x4c, 0xc0),
    (0xc2, 0x8f, 0x1d),
    (0x1f, 0x8f, 0xa3),
    (0xb8, 0x3b, 0x7a),
    (0x5c, 0x6b, 0x7a),
];

/// Up to two initials, upper-cased: first letters of the first and last words
/// ("Иванов Пётр" -> "ИП", "ёжик" -> "Ё"). Words start with an alphanumeric character.
pub(crate) fn initials(name: &str) -> String {
    let firsts: Vec<char> = name.split_whitespace().filter_map(|w| w.chars().find(|c| c.is_alphanumeric())).collect();
    let mut out = String::new();
    if let Some(&c) = firsts.first() {
        out.extend(c.to_uppercase());
    }
    if firsts.len() > 1 {
        out.extend(firsts[firsts.len() - 1].to_uppercase());
    }
    out
}

/// FNV-1a, stable across runs and platforms (colour per participant).
fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

fn centred_text(pic: &mut Picture, text: &TextRenderer, s: &str, px: f32, cx: i32, top: i32, max_w: u32) {
    let fitted = text.fit(s, px, max_w);
    let (tw, _) = text.measure(&fitted, px);
    text.draw(pic, cx - (tw / 2) as i32, top, &fitted, px, TEXT_Y, max_w);
}

/// Cards lower than this show the initials circle without the name under it.
pub(crate) const SMALL_CARD_H: u32 = 120;

/// Coloured circle of diameter `d` centred at (cx, cy) with the initials of `name`.
fn draw_avatar(pic: &mut Picture, text: &TextRenderer, name: &str, cx: f32, cy: f32, d: f32) {
    let (cr, cg, cb) = PALETTE[(name_hash(name) % PALETTE.len() as u32) as usize];
    let (y, u, v) = rgb_to_yuv(cr, cg, cb);
    fill_circle(pic, cx, cy, d / 2.0, y, u, v);
    let ini = initials(name);
    let ipx = d * 0.42;
    let ih = text.line_height(ipx) as f32;
    centred_text(pic, text, &ini, ipx, cx as i32, (cy - ih / 2.0).round() as i32, d as u32);
}

/// A `w`x`h` placeholder tile for an audio-only participant: dark card, a coloured circle
/// with the initials, and the name centred under it (truncated with "…"). Cards lower than
/// [`SMALL_CARD_H`] show only the circle (the label shows the name), tiny ones only the
/// name; a zero size gives an empty picture. Deterministic: cache it per participant/size.
pub(crate) fn name_card(w: u32, h: u32, name: &str, text: &TextRenderer) -> Picture {
    let mut pic = Picture::filled(w, h, CARD_Y, 128, 128);
    if w < 8 || h < 8 {
        return pic;
    }
    let name = name.trim();
    let margin = (w.min(h) / 16).max(2);
    let max_text_w = w.saturating_sub(2 * margin);
    let name_px = (h as f32 / 11.0).clamp(10.0, 44.0);
    let name_h = text.line_height(name_px);
    // Circle above the name, both centred as a group.
    let gap = (name_h / 3).max(2);
    let avail = h.saturating_sub(2 * margin + name_h + gap);
    let d = (avail.min(w.saturating_sub(2 * margin)) as f32 * 0.8).min(h as f32 * 0.5);
    let cx = w as f32 / 2.0;
    if name.is_empty() {
        return pic;
    }
    if h < SMALL_CARD_H {
        // Small tile: the initials circle only (the tile's label carries the name), or the
        // name alone when even the circle would be too small.
        let d = (h as f32 * 0.6).min(w as f32 * 0.6);
        if d >= 16.0 {
            draw_avatar(&mut pic, text, name, cx, h as f32 / 2.0, d);
        } else {
            let top = h.saturating_sub(name_h) / 2;
            centred_text(&mut pic, text, name, name_px, cx as i32, top as i32, max_text_w);
        }
        return pic;
    }
    if d >= 24.0 {
        let group = d as u32 + gap + name_h;
        let top = (h - group) / 2;
        draw_avatar(&mut pic, text, name, cx, top as f32 + d / 2.0, d);
        centred_text(&mut pic, text, name, name_px, cx as i32, (top + d as u32 + gap) as i32, max_text_w);
    } else {
        let top = h.saturating_sub(name_h) / 2;
        centred_text(&mut pic, text, name, name_px, cx as i32, top as i32, max_text_w);
    }
    pic
}

/// Font size of the name label for a tile of height `tile_h`.
pub(crate) fn label_px(tile_h: u32) -> f32 {
    (tile_h as f32 / 12.0).clamp(12.0, 32.0)
}

/// Draw `name` at the bottom-left of `rect` (a tile on `pic`) on a semi-transparent dark
/// strip, truncated with "…" to the tile width. Returns the strip drawn, or None when the
/// tile is too small for a label or the name is empty.
pub(crate) fn label(pic: &mut Picture, rect: Rect, name: &str, text: &TextRenderer) -> Option<Rect> {
    let name = name.trim();
    if name.is_empty()
        || rect.is_empty()
        || rect.x.checked_add(rect.w).is_none()
        || rect.y.checked_add(rect.h).is_none()
    {
        return None;
    }
    let px = label_px(rect.h);
    let pad_y = (px * 0.2).round() as u32;
    let pad_x = (px * 0.45).round() as u32;
    let strip_h = (text.line_height(px) + 2 * pad_y + 1) & !1;
    if strip_h * 2 > rect.h || rect.w < 2 * pad_x + 8 {
        return None;
    }
    let inset = if rect.h >= strip_h * 6 { (px * 0.4) as u32 & !1 } else { 0 };
    let max_text_w = rect.w.saturating_sub(2 * inset + 2 * pad_x);
    let fitted = text.fit(name, px, max_text_w);
    if fitted.is_empty() {
        return None;
    }
    let (tw, _) = text.measure(&fitted, px);
    let strip = Rect::new(
        rect.x + inset,
        rect.y + rect.h - inset - strip_h,
        ((tw + 2 * pad_x + 1) & !1).min(rect.w.saturating_sub(2 * inset)),
        strip_h,
    );
    blend_rect(pic, strip, 16, 128, 128, LABEL_ALPHA);
    text.draw(
        pic,
        (strip.x + pad_x).min(i32::MAX as u32) as i32,
        (strip.y + pad_y).min(i32::MAX as u32) as i32,
        &fitted,
        px,
        TEXT_Y,
        max_text_w,
    );
    Some(strip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr() -> &'static TextRenderer {
        TextRenderer::shared()
    }

    fn mean(p: &Picture, r: Rect) -> f64 {
        let mut s = 0u64;
        for y in r.y..r.y + r.h {
            for x in r.x..r.x + r.w {
                s += p.y()[(y * p.width + x) as usize] as u64;
            }
        }
        s as f64 / r.area() as f64
    }

    #[test]
    fn initials_of_names() {
        assert_eq!(initials("Иванов Пётр"), "ИП");
        assert_eq!(initials("ёжик"), "Ё");
        assert_eq!(initials("  anna  maria  smith "), "AS");
        assert_eq!(initials("(Guest) bob"), "GB");
        assert_eq!(initials(""), "");
    }

    #[test]
    fn card_is_dark_with_a_bright_name_and_a_coloured_circle() {
        let card = name_card(320, 180, "Иванов Пётр", tr());
        assert_eq!((card.width, card.height), (320, 180));
        // Corners are the card colour.
        assert_eq!(card.y()[0], CARD_Y);
        assert_eq!(card.y()[320 * 180 - 1], CARD_Y);
        assert_eq!(card.u()[0], 128);
        // Text is there (white pixels) and the circle is coloured (chroma off neutral).
        assert!(card.y().iter().filter(|&&v| v > 200).count() > 100);
        let coloured =
            card.u().iter().zip(card.v()).filter(|(&u, &v)| u.abs_diff(128) > 10 || v.abs_diff(128) > 10).count();
        assert!(coloured > 300, "{coloured}");
        // Mostly dark overall.
        assert!(card.mean_luma() < 80.0);
        // Same name, same card; other name, other card.
        assert_eq!(card, name_card(320, 180, "Иванов Пётр", tr()));
        assert_ne!(card, name_card(320, 180, "Сидоров Пётр", tr()));
    }

    #[test]
    fn small_and_odd_cards_do_not_panic() {
        for &(w, h) in &[(0, 0), (1, 1), (7, 3), (15, 9), (33, 17), (64, 20), (101, 57), (2000, 10)] {
            for name in ["", "Ёжик", "Константинопольский Александр Александрович", "😀🙂"]
            {
                let c = name_card(w, h, name, tr());
                assert_eq!((c.width, c.height), (w, h));
                assert_eq!(c.data.len(), c.y().len() + c.u().len() * 2);
            }
        }
        // A tiny card keeps the name without a circle; a small one the circle with initials.
        let c = name_card(120, 20, "Bob", tr());
        assert!(c.y().iter().any(|&v| v > 200));
        assert!(c.u().iter().all(|&u| u == 128));
        let c = name_card(160, 90, "Bob", tr());
        assert!(c.y().iter().any(|&v| v > 200));
        assert!(c.u().iter().any(|&u| u != 128));
    }

    #[test]
    fn label_strip_is_darker_than_the_tile_and_text_brighter() {
        let mut pic = Picture::filled(640, 360, 150, 100, 160);
        let tile = Rect::new(100, 50, 320, 180);
        let strip = label(&mut pic, tile, "Иванов Пётр", tr()).unwrap();
        assert!(tile.contains(&strip), "{strip:?}");
        // Inset a little from the bottom-left corner of a large tile.
        assert!(strip.x >= tile.x && strip.x <= tile.x + 16, "{strip:?}");
        assert!(strip.bottom() <= tile.bottom() && strip.bottom() + 16 >= tile.bottom(), "{strip:?}");
        let text_w = tr().measure("Иванов Пётр", label_px(180)).0;
        assert!(strip.w > text_w && strip.w < text_w + 40);
        // Strip darker than the rest of the tile; glyph pixels brighter than both.
        let above = Rect::new(tile.x, tile.y, tile.w, strip.y - tile.y);
        assert_eq!(mean(&pic, above), 150.0);
        let left_edge = Rect::new(strip.x, strip.y, 2, strip.h);
        assert!(mean(&pic, left_edge) < 80.0, "{}", mean(&pic, left_edge));
        let max_in_strip = (strip.y..strip.bottom())
            .flat_map(|y| (strip.x..strip.right()).map(move |x| (x, y)))
            .map(|(x, y)| pic.y()[(y * 640 + x) as usize])
            .max()
            .unwrap();
        assert!(max_in_strip > 220);
        // Outside the tile: untouched.
        assert_eq!(pic.y()[(tile.bottom() * 640 + tile.x) as usize], 150);
        assert_eq!(pic.y()[(300 * 640 + 99) as usize], 150);
    }

    #[test]
    fn label_truncates_long_names_and_skips_tiny_tiles() {
        let mut pic = Picture::black(400, 300);
        let tile = Rect::new(0, 0, 120, 68);
        let strip = label(&mut pic, tile, "Константинопольский Александр Александрович", tr()).unwrap();
        assert!(strip.right() <= tile.right());
        assert!(label(&mut pic, Rect::new(0, 0, 20, 10), "Bob", tr()).is_none());
        assert!(label(&mut pic, Rect::new(0, 0, 100, 100), "  ", tr()).is_none());
        // Off-canvas tiles are clipped without panics.
        let _ = label(&mut pic, Rect::new(350, 280, 320, 180), "Bob", tr());
        for w in [1, 17, 18, 19, 20, 24, 30] {
            let _ = label(&mut pic, Rect::new(0, 0, w, 2000), "Bob", tr());
            let _ = label(&mut pic, Rect::new(3, 1, w, 41), "Bob", tr());
        }
        let _ = label(&mut pic, Rect::new(u32::MAX - 10, u32::MAX - 10, 10, 10), "Bob", tr());
        let _ = label(&mut pic, Rect::new(u32::MAX - 400, u32::MAX - 400, 400, 400), "Bob", tr());
    }
}
