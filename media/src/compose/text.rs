//! Text on I420 pictures: name labels, placeholder cards, chat messages.
//!
//! The font is bundled: DejaVu Sans Condensed Bold (`media/assets/DejaVuSansCondensed-Bold.ttf`,
//! Bitstream Vera / DejaVu licence in `media/assets/DejaVuFonts-LICENSE.txt`), which covers
//! Latin, Cyrillic (including Ё/ё), Greek and the general punctuation block ("…"). Condensed
//! so that long names fit narrow tiles, bold so that strokes survive 4:2:0 chroma subsampling
//! and H.264.
//!
//! Glyphs are rasterised by `fontdue` (pure Rust, TrueType outlines -> 8-bit coverage) and
//! cached per (char, pixel size), so a label redrawn on every output frame only blends
//! cached coverage. Layout is a single line per call: advance widths plus pair kerning, no
//! shaping (no ligatures, no right-to-left reordering, no combining-mark positioning);
//! characters missing from the font draw as the font's .notdef box; control characters as
//! spaces. Sizes are clamped to 4..=256 px.
//!
//! Drawing alpha-blends the coverage into the Y plane towards `luma` and pulls U/V towards
//! neutral (128) under the glyphs, so white text stays white on a coloured background.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::frame::Picture;

use super::draw::consistent;

/// The bundled font file (in `media/assets/`).
pub(crate) const FONT_FILE: &str = "DejaVuSansCondensed-Bold.ttf";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSansCondensed-Bold.ttf");

const MIN_PX: f32 = 4.0;
const MAX_PX: f32 = 256.0;
/// Rasterised glyphs kept at most; the cache is emptied when it grows past this.
const CACHE_MAX: usize = 4096;
/// The ellipsis appended to truncated text.
pub(crate) const ELLIPSIS: char = '…';

struct Glyph {
    index: u16,
    xmin: i32,
    ymin: i32,
    width: usize,
    height: usize,
    advance: f32,
    coverage: Vec<u8>,
}

/// One laid-out glyph: pen position (from the start of the line) and the glyph.
struct Placed {
    pen: f32,
    glyph: Arc<Glyph>,
    ch: char,
}

/// A parsed font plus a glyph cache. Cheap to share: `&TextRenderer` is `Sync`.
pub(crate) struct TextRenderer {
    font: fontdue::Font,
    cache: Mutex<HashMap<(char, u32), Arc<Glyph>>>,
}

impl Default for TextRenderer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TextRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TextRenderer({FONT_FILE})")
    }
}

fn clamp_px(px: f32) -> f32 {
    if px.is_finite() {
        px.clamp(MIN_PX, MAX_PX)
    } else {
        MIN_PX
    }
}

impl TextRenderer {
    /// Parse the bundled font (a few milliseconds; prefer [`TextRenderer::shared`]).
    pub fn new() -> TextRenderer {
        let settings = fontdue::FontSettings { scale: 40.0, ..fontdue::FontSettings::default() };
        // The font is compiled in: failing to parse it is a build defect, caught by the tests.
        let font = fontdue::Font::from_bytes(FONT_BYTES, settings).expect("bundled DejaVu font parses");
        TextRenderer { font, cache: Mutex::new(HashMap::new()) }
    }

    /// A process-wide renderer, parsed on first use.
    pub fn shared() -> &'static TextRenderer {
        static SHARED: OnceLock<TextRenderer> = OnceLock::new();
        SHARED.get_or_init(TextRenderer::new)
    }

    /// Whether the font has a real glyph (not .notdef) for `c`.
    #[cfg(test)]
    pub fn has_glyph(&self, c: char) -> bool {
        self.font.lookup_glyph_index(c) != 0
    }

    /// Ascent above the baseline, in pixels (rounded).
    pub fn ascent(&self, px: f32) -> i32 {
        let px = clamp_px(px);
        self.font.horizontal_line_metrics(px).map(|m| m.ascent.round() as i32).unwrap_or(px.round() as i32)
    }

    /// Height of a line box (ascent + descent), in pixels.
    pub fn line_height(&self, px: f32) -> u32 {
        let px = clamp_px(px);
        self.font.horizontal_line_metrics(px).map(|m| (m.ascent - m.descent).ceil() as u32).unwrap_or(px.ceil() as u32)
    }

    fn glyphs(&self, chars: impl Iterator<Item = char>, px: f32) -> Vec<(char, Arc<Glyph>)> {
        let key_px = px.to_bits();
        let mut cache = match self.cache.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out = Vec::new();
        for c in chars {
            let c = if c.is_control() { ' ' } else { c };
            if let Some(g) = cache.get(&(c, key_px)) {
                out.push((c, g.clone()));
                continue;
            }
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            let (m, coverage) = self.font.rasterize(c, px);
            let g = Arc::new(Glyph {
                index: self.font.lookup_glyph_index(c),
                xmin: m.xmin,
                ymin: m.ymin,
                width: m.width,
                height: m.height,
                advance: m.advance_width,
                coverage,
            });
            cache.insert((c, key_px), g.clone());
            out.push((c, g));
        }
        out
    }

    /// Lay out one line: pen positions with kerning, and the total advance.
    fn layout(&self, chars: impl Iterator<Item = char>, px: f32) -> (Vec<Placed>, f32) {
        let mut pen = 0.0f32;
        let mut prev: Option<u16> = None;
        let mut out = Vec::new();
        for (ch, glyph) in self.glyphs(chars, px) {
            if let Some(p) = prev {
                pen += self.font.horizontal_kern_indexed(p, glyph.index, px).unwrap_or(0.0);
            }
            prev = Some(glyph.index);
            let adv = glyph.advance;
            out.push(Placed { pen, glyph, ch });
            pen += adv;
        }
        (out, pen.max(0.0))
    }

    /// (width, height) of `text` on one line at `px`: width from the advances, height of the
    /// line box ([`TextRenderer::line_height`]). Empty text is 0 wide.
    pub fn measure(&self, text: &str, px: f32) -> (u32, u32) {
        let px = clamp_px(px);
        let (_, w) = self.layout(text.chars(), px);
        (w.ceil() as u32, self.line_height(px))
    }

    /// `text` itself when it fits `max_width`, else its longest prefix (trailing spaces
    /// trimmed) followed by "…" that fits; empty when not even "…" fits.
    pub fn fit(&self, text: &str, px: f32, max_width: u32) -> String {
        let px = clamp_px(px);
        let (placed, w) = self.layout(text.chars(), px);
        if w.ceil() <= max_width as f32 {
            return text.to_string();
        }
        self.truncate(&placed, px, max_width)
    }

    fn truncate(&self, placed: &[Placed], px: f32, max_width: u32) -> String {
        let (_, ell_w) = self.layout(std::iter::once(ELLIPSIS), px);
        let budget = max_width as f32 - ell_w;
        if budget < 0.0 {
            return String::new();
        }
        // Largest k such that the first k glyphs end within the budget.
        let mut k = 0;
        for (i, p) in placed.iter().enumerate() {
            if (p.pen + p.glyph.advance).ceil() <= budget {
                k = i + 1;
            } else {
                break;
            }
        }
        let mut s: String = placed[..k].iter().map(|p| p.ch).collect();
        s.truncate(s.trim_end().len());
        s.push(ELLIPSIS);
        // Kerning against the ellipsis can add a fraction of a pixel: re-check.
        while self.measure(&s, px).0 > max_width && s.chars().count() > 1 {
            s.pop();
            s.pop();
            s.truncate(s.trim_end().len());
            s.push(ELLIPSIS);
        }
        if self.measure(&s, px).0 > max_width {
            return String::new();
        }
        s
    }

    /// Draw one line of `text` with its line box's top-left corner at (x, y) (the baseline is
    /// at y + ascent), `px` pixels per em, in luma `luma`. Text wider than `max_width` is
    /// truncated with "…" (pass `u32::MAX` for no limit). Clipped to the picture. Returns the
    /// width of what was laid out (the advance width, even where clipped).
    #[allow(clippy::too_many_arguments)]
    pub fn draw(&self, pic: &mut Picture, x: i32, y: i32, text: &str, px: f32, luma: u8, max_width: u32) -> u32 {
        let px = clamp_px(px);
        let (mut placed, mut w) = self.layout(text.chars(), px);
        if w.ceil() > max_width as f32 {
            let s = self.truncate(&placed, px, max_width);
            (placed, w) = self.layout(s.chars(), px);
        }
        if !consistent(pic) {
            return w.ceil() as u32;
        }
        let baseline = y as i64 + self.ascent(px) as i64;
        for p in &placed {
            let g = &p.glyph;
            if g.width == 0 || g.height == 0 || g.coverage.len() < g.width * g.height {
                continue;
            }
            let gx = x as i64 + (p.pen + g.xmin as f32).round() as i64;
            let gy = baseline - (g.ymin as i64 + g.height as i64);
            blend_glyph(pic, gx, gy, g.width, g.height, &g.coverage, luma);
        }
        w.ceil() as u32
    }

    /// Word-wrap `text` into lines no wider than `max_width`: breaks at whitespace, at '\n',
    /// and inside words that are wider than a line on their own (at least one character per
    /// line). Runs of whitespace collapse to one space; empty lines are dropped.
    pub fn wrap(&self, text: &str, px: f32, max_width: u32) -> Vec<String> {
        let px = clamp_px(px);
        let max = max_width as f32;
        let space = self.layout(std::iter::once(' '), px).1;
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            let mut line_w = 0.0f32;
            for word in para.split_whitespace() {
                let (placed, word_w) = self.layout(word.chars(), px);
                if !line.is_empty() && line_w + space + word_w <= max {
                    line.push(' ');
                    line.push_str(word);
                    line_w += space + word_w;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                if word_w <= max {
                    line.push_str(word);
                    line_w = word_w;
                    continue;
                }
                // Hard-break an overlong word.
                let mut start = 0.0f32;
                for p in &placed {
                    let end = p.pen + p.glyph.advance;
                    if !line.is_empty() && end - start > max {
                        lines.push(std::mem::take(&mut line));
                        start = p.pen;
                    }
                    line.push(p.ch);
                }
                line_w = word_w - start;
            }
            if !line.is_empty() {
                lines.push(line);
            }
        }
        lines
    }
}

/// Blend one glyph's coverage (gw x gh) at (gx, gy): Y towards `luma`, U/V towards 128 by the
/// largest coverage among each chroma sample's luma pixels. Clipped.
fn blend_glyph(pic: &mut Picture, gx: i64, gy: i64, gw: usize, gh: usize, cov: &[u8], luma: u8) {
    let (w, h) = (pic.width as i64, pic.height as i64);
    let x0 = gx.max(0);
    let y0 = gy.max(0);
    let x1 = (gx + gw as i64).min(w);
    let y1 = (gy + gh as i64).min(h);
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let cstride = pic.width.div_ceil(2) as usize;
    let (py, pu, pv) = pic.planes_mut();
    let n = (x1 - x0) as usize;
    let sx = (x0 - gx) as usize;
    let l = luma as u32;
    for row in y0..y1 {
        let srow = &cov[(row - gy) as usize * gw + sx..][..n];
        let off = row as usize * w as usize + x0 as usize;
        let Some(drow) = py.get_mut(off..off + n) else { return };
        for (d, &c) in drow.iter_mut().zip(srow) {
            if c != 0 {
                let a = c as u32 + (c as u32 >> 7);
                *d = ((*d as u32 * (256 - a) + l * a + 128) >> 8) as u8;
            }
        }
    }
    // Chroma: samples covering luma columns x0..x1, rows y0..y1.
    let (cx0, cx1) = ((x0 / 2) as usize, ((x1 - 1) / 2 + 1) as usize);
    let (cy0, cy1) = ((y0 / 2) as usize, ((y1 - 1) / 2 + 1) as usize);
    let cov_at = |lx: i64, ly: i64| -> u8 {
        if lx < x0 || lx >= x1 || ly < y0 || ly >= y1 {
            0
        } else {
            cov[(ly - gy) as usize * gw + (lx - gx) as usize]
        }
    };
    for cy in cy0..cy1 {
        let ly = cy as i64 * 2;
        let off = cy * cstride;
        let (Some(urow), Some(vrow)) = (pu.get_mut(off + cx0..off + cx1), pv.get_mut(off + cx0..off + cx1)) else {
            return;
        };
        for (i, (u, v)) in urow.iter_mut().zip(vrow.iter_mut()).enumerate() {
            let lx = (cx0 + i) as i64 * 2;
            let c = cov_at(lx, ly).max(cov_at(lx + 1, ly)).max(cov_at(lx, ly + 1)).max(cov_at(lx + 1, ly + 1));
            if c != 0 {
                let a = c as u32 + (c as u32 >> 7);
                *u = ((*u as u32 * (256 - a) + 128 * a + 128) >> 8) as u8;
                *v = ((*v as u32 * (256 - a) + 128 * a + 128) >> 8) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr() -> &'static TextRenderer {
        TextRenderer::shared()
    }

    #[test]
    fn cyrillic_letters_have_coverage() {
        for c in "Иванов ПётрЁжикЙйЩщЪъЫыЭэЮюЯяabcXYZ…".chars().filter(|c| !c.is_whitespace())
        {
            assert!(tr().has_glyph(c), "no glyph for {c}");
            let g = &tr().glyphs(std::iter::once(c), 24.0)[0].1;
            let ink: u32 = g.coverage.iter().map(|&v| v as u32).sum();
            assert!(ink > 255 * 10, "{c}: ink {ink}");
        }
    }

    #[test]
    fn drawn_letters_are_bright_each_in_its_own_column_range() {
        let text = "Иванов Пётр Ёжик";
        let px = 32.0;
        let mut pic = Picture::black(600, 60);
        let w = tr().draw(&mut pic, 10, 10, text, px, 235, u32::MAX);
        assert_eq!(w, tr().measure(text, px).0);
        let (placed, _) = tr().layout(text.chars(), px);
        for (i, p) in placed.iter().enumerate() {
            if p.ch == ' ' {
                continue;
            }
            let c0 = 10 + p.pen.round() as usize + 1;
            let c1 = 10 + placed.get(i + 1).map(|q| q.pen).unwrap_or(w as f32).round() as usize - 1;
            let bright = (0..60)
                .flat_map(|r| (c0..c1).map(move |c| (r, c)))
                .filter(|&(r, c)| pic.y()[r * 600 + c] > 200)
                .count();
            assert!(bright >= 10, "letter {} has {bright} bright pixels", p.ch);
        }
        // Nothing above the line box or far below it.
        let lh = tr().line_height(px) as usize;
        assert!(pic.y()[..9 * 600].iter().all(|&v| v == 16));
        assert!(pic.y()[(10 + lh + 1) * 600..].iter().all(|&v| v == 16));
        assert!(pic.y().contains(&235), "full coverage reaches the target luma");
    }

    #[test]
    fn measure_grows_with_length() {
        let mut last = 0;
        for n in 1..20 {
            let (w, h) = tr().measure(&"Ё".repeat(n), 20.0);
            assert!(w > last, "{n}: {w} <= {last}");
            assert_eq!(h, tr().line_height(20.0));
            last = w;
        }
        assert_eq!(tr().measure("", 20.0).0, 0);
        assert!(tr().measure("Пётр", 40.0).0 > tr().measure("Пётр", 20.0).0);
        // Pathological sizes are clamped, not fatal.
        assert!(tr().measure("x", f32::NAN).0 > 0);
        assert!(tr().measure("x", 1e9).0 <= 256);
    }

    #[test]
    fn truncation_with_ellipsis_fits() {
        let name = "Константинопольский Александр Александрович";
        for max in [0u32, 5, 12, 40, 100, 150, 220] {
            let s = tr().fit(name, 18.0, max);
            let (w, _) = tr().measure(&s, 18.0);
            assert!(w <= max, "{max}: '{s}' is {w} wide");
            if !s.is_empty() {
                assert!(s.ends_with(ELLIPSIS), "{s}");
            }
            let mut pic = Picture::black(300, 40);
            let drawn = tr().draw(&mut pic, 0, 0, name, 18.0, 235, max);
            assert!(drawn <= max);
            // No ink right of max_width (+1 for anti-aliasing overhang).
            for r in 0..40 {
                for c in (max as usize + 2).min(300)..300 {
                    assert_eq!(pic.y()[r * 300 + c], 16, "ink at ({c},{r}) beyond {max}");
                }
            }
        }
        assert_eq!(tr().fit("Ёжик", 18.0, 1000), "Ёжик");
        let s = tr().fit(name, 18.0, 150);
        assert!(s.starts_with("Константин") && s.chars().count() < name.chars().count(), "{s}");
        assert!(!s.trim_end_matches(ELLIPSIS).ends_with(' '));
    }

    #[test]
    fn clipping_at_edges() {
        for &(w, h) in &[(0u32, 0u32), (1, 1), (7, 5), (64, 33)] {
            let mut pic = Picture::black(w, h);
            for &(x, y) in &[
                (-20, -10),
                (-1000, 5),
                (w as i32 - 5, h as i32 - 5),
                (i32::MAX, i32::MAX),
                (i32::MIN, i32::MIN),
                (3, -7),
            ] {
                tr().draw(&mut pic, x, y, "Иванов Пётр", 24.0, 235, u32::MAX);
                tr().draw(&mut pic, x, y, "Ёжик", 200.0, 235, 3);
            }
        }
        // Partially visible text still draws its visible part.
        let mut pic = Picture::black(40, 20);
        tr().draw(&mut pic, -10, -8, "ЖЖЖЖЖЖ", 24.0, 235, u32::MAX);
        assert!(pic.y().iter().any(|&v| v > 200));
    }

    #[test]
    fn white_text_neutralises_chroma() {
        let mut pic = Picture::filled(200, 40, 82, 90, 240); // red
        tr().draw(&mut pic, 4, 4, "ЖЖЖЖ", 30.0, 235, u32::MAX);
        let (ymax, i) = pic.y().iter().enumerate().map(|(i, &v)| (v, i)).max().unwrap();
        assert!(ymax >= 230);
        let (x, y) = (i % 200, i / 200);
        let ci = (y / 2) * 100 + x / 2;
        assert!(pic.u()[ci] > 110 && pic.v()[ci] < 150, "u {} v {}", pic.u()[ci], pic.v()[ci]);
        // Away from the text, untouched.
        assert_eq!((pic.u()[19 * 100 + 99], pic.v()[19 * 100 + 99]), (90, 240));
    }

    #[test]
    fn wrap_lines() {
        let px = 16.0;
        let text = "Добрый день, коллеги! Сегодня обсуждаем   архитектуру\nВопросы в конце";
        let max = 120;
        let lines = tr().wrap(text, px, max);
        assert!(lines.len() >= 4, "{lines:?}");
        for l in &lines {
            assert!(tr().measure(l, px).0 <= max, "{l}");
            assert!(!l.starts_with(' ') && !l.ends_with(' ') && !l.contains("  "));
        }
        // '\n' starts a new line.
        assert!(lines.iter().any(|l| l.starts_with("Вопросы")), "{lines:?}");
        assert!(lines.iter().all(|l| !l.contains("архитектуру Вопросы")));
        assert_eq!(lines.join(" ").split_whitespace().collect::<Vec<_>>(), text.split_whitespace().collect::<Vec<_>>());
        // An overlong word is hard-broken; nothing lost.
        let long = "Превысокомногорассмотрительствующий";
        let lines = tr().wrap(&format!("а {long} б"), px, 80);
        assert!(lines.len() >= 4, "{lines:?}");
        assert!(lines.iter().all(|l| tr().measure(l, px).0 <= 80), "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), format!("а{long}б"));
        // Degenerate widths still terminate with one char per line.
        assert_eq!(tr().wrap("abc", px, 0), vec!["a", "b", "c"]);
        assert!(tr().wrap("", px, 100).is_empty());
        assert!(tr().wrap(" \n \n", px, 100).is_empty());
    }
}
