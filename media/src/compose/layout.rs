//! Webinar composite geometry: where the main area (screen share, slide, speaking camera),
//! the camera tiles and the chat panel go on the output canvas.
//!
//! Everything here is a pure function of the canvas size and the counts. All rectangles are
//! even-aligned (x, y, w, h even, so 4:2:0 chroma lines up) and lie inside the canvas (an
//! odd canvas dimension loses its last pixel column/row). Camera tiles are 16:9; the main
//! area is the whole region reserved for it (the caller letterboxes into it with
//! `super::draw::blit_fit`).
//!
//! Layouts ([`LayoutKind`]):
//! - **Sidebar**: main area = the left ~75 % of the width; tiles in the right ~25 %, stacked
//!   in one column (up to 4), beyond that in one or two columns, whichever gives the larger
//!   tiles (at most [`SIDEBAR_MAX_TILES`]), vertically centred.
//!   Without a main source the tiles take the whole canvas as a grid; with a main source and
//!   no tiles the main area takes the whole canvas.
//! - **Pip**: main = whole canvas; tiles about 1/5 of the width in the bottom-right corner,
//!   filling leftwards ([`PIP_PER_ROW`] per row), then the next row upwards, at most
//!   [`PIP_MAX_TILES`]. Without a main source: grid.
//! - **Grid**: all tiles equal in a near-square grid (cols = ceil(sqrt(n))), 16:9 cells,
//!   the block centred, a short last row centred. A main source is just the first cell.
//!   At most [`GRID_MAX_CELLS`] cells (main included).
//! - **Speaker**: tile 0 takes the whole canvas (the main source is not shown); with no
//!   tiles the main source takes the whole canvas.
//!
//! With `chat_panel` a right column of ~22 % of the width is reserved first (returned as
//! `panel`) and the layout above is applied to the rest.
//!
//! `Placement::tiles.len()` is the number of tiles actually shown: tiles beyond a cap are
//! dropped (the caller shows the first ones, in its stable order: see `TileSlots`).

use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;
use std::str::FromStr;

/// Camera tiles shown at most in the sidebar (2 columns).
pub const SIDEBAR_MAX_TILES: usize = 12;
/// Camera tiles shown at most in picture-in-picture.
pub const PIP_MAX_TILES: usize = 8;
/// PiP tiles per row before starting the next row upwards.
pub const PIP_PER_ROW: usize = 4;
/// Cells (main + tiles) shown at most in the grid (6 x 6).
pub const GRID_MAX_CELLS: usize = 36;

/// The composite layouts (see the module documentation for their geometry). Parsed from and
/// displayed as the lowercase names of [`LayoutKind::as_str`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LayoutKind {
    /// Main area on the left, camera tiles in a column on the right (the default).
    #[default]
    Sidebar,
    /// Main area over the whole canvas, small camera tiles in the bottom-right corner.
    Pip,
    /// Every source in an equal cell of a near-square grid.
    Grid,
    /// The first tile (the active speaker) over the whole canvas.
    Speaker,
}

impl LayoutKind {
    /// Every layout, the default first (the names `from_str` accepts).
    pub const ALL: [LayoutKind; 4] = [LayoutKind::Sidebar, LayoutKind::Pip, LayoutKind::Grid, LayoutKind::Speaker];
    /// The layout's name on the command line: "sidebar", "pip", "grid" or "speaker".
    pub fn as_str(self) -> &'static str {
        match self {
            LayoutKind::Sidebar => "sidebar",
            LayoutKind::Pip => "pip",
            LayoutKind::Grid => "grid",
            LayoutKind::Speaker => "speaker",
        }
    }
}

impl fmt::Display for LayoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of `LayoutKind::from_str`: names the bad value and the choices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseLayoutError(pub String);

impl fmt::Display for ParseLayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown layout '{}' (choose one of: sidebar, pip, grid, speaker)", self.0)
    }
}

impl std::error::Error for ParseLayoutError {}

impl FromStr for LayoutKind {
    type Err = ParseLayoutError;
    fn from_str(s: &str) -> Result<LayoutKind, ParseLayoutError> {
        let t = s.trim();
        LayoutKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| ParseLayoutError(s.to_string()))
    }
}

/// A rectangle on the canvas in luma pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    /// Left edge, pixels from the left of the canvas.
    pub x: u32,
    /// Top edge, pixels from the top of the canvas.
    pub y: u32,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
}

impl Rect {
    /// The rectangle at (`x`, `y`) of `w` x `h` pixels.
    pub const fn new(x: u32, y: u32, w: u32, h: u32) -> Rect {
        Rect { x, y, w, h }
    }
    /// True when it covers no pixel (zero width or height).
    pub fn is_empty(&self) -> bool {
        self.w == 0 || self.h == 0
    }
    /// One past the last column (saturating).
    pub fn right(&self) -> u32 {
        self.x.saturating_add(self.w)
    }
    /// One past the last row (saturating).
    pub fn bottom(&self) -> u32 {
        self.y.saturating_add(self.h)
    }
    /// Pixels covered.
    pub fn area(&self) -> u64 {
        self.w as u64 * self.h as u64
    }
    /// True when `other` lies entirely inside (edges may touch).
    pub fn contains(&self, other: &Rect) -> bool {
        other.x >= self.x && other.y >= self.y && other.right() <= self.right() && other.bottom() <= self.bottom()
    }
    /// True when the two share at least one pixel (empty rectangles share none).
    pub fn intersects(&self, other: &Rect) -> bool {
        !self.is_empty()
            && !other.is_empty()
            && self.x < other.right()
            && other.x < self.right()
            && self.y < other.bottom()
            && other.y < self.bottom()
    }
}

/// Result of [`place`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Placement {
    /// The main area, if there is a main source and the layout shows it.
    pub main: Option<Rect>,
    /// One rect per tile shown, in the caller's tile order.
    pub tiles: Vec<Rect>,
    /// The chat panel's column on the right, when asked for.
    pub panel: Option<Rect>,
}

fn even(v: u32) -> u32 {
    v & !1
}

fn even_frac(v: u32, num: u64, den: u64) -> u32 {
    even(((v as u64 * num + den / 2) / den) as u32)
}

/// Lay out one output frame. See the module doc for the rules.
pub fn place(
    kind: LayoutKind,
    canvas_w: u32,
    canvas_h: u32,
    has_main: bool,
    n_tiles: usize,
    chat_panel: bool,
) -> Placement {
    let (cw, ch) = (even(canvas_w), even(canvas_h));
    let mut out = Placement::default();
    if cw == 0 || ch == 0 {
        return out;
    }
    let mut area = Rect::new(0, 0, cw, ch);
    if chat_panel {
        let pw = even_frac(cw, 22, 100);
        if pw > 0 && pw < cw {
            out.panel = Some(Rect::new(cw - pw, 0, pw, ch));
            area.w = cw - pw;
        }
    }
    let gap = gap_for(area);
    match kind {
        LayoutKind::Speaker => {
            if n_tiles > 0 {
                out.tiles.push(area);
            } else if has_main {
                out.main = Some(area);
            }
        }
        LayoutKind::Grid => {
            let cells = grid(area, n_tiles + has_main as usize, GRID_MAX_CELLS, gap);
            let mut it = cells.into_iter();
            if has_main {
                out.main = it.next();
            }
            out.tiles = it.collect();
        }
        LayoutKind::Sidebar | LayoutKind::Pip if !has_main => {
            out.tiles = grid(area, n_tiles, GRID_MAX_CELLS, gap);
        }
        _ if n_tiles == 0 => out.main = Some(area),
        LayoutKind::Sidebar => {
            let main_w = even_frac(area.w, 3, 4);
            out.main = Some(Rect::new(area.x, area.y, main_w, area.h));
            let side = Rect::new(area.x + main_w, area.y, area.w - main_w, area.h);
            let n = n_tiles.min(SIDEBAR_MAX_TILES);
            // Up to 4 in one column; beyond that whichever of 1 or 2 columns gives the
            // larger tiles (a tall canvas keeps one column longer).
            let one = block(side, n, 1, gap);
            out.tiles = if n <= 4 {
                one
            } else {
                let two = block(side, n, 2, gap);
                let area = |v: &Vec<Rect>| v.first().map(|r| r.area()).unwrap_or(0);
                if area(&two) > area(&one) {
                    two
                } else {
                    one
                }
            };
        }
        LayoutKind::Pip => {
            out.main = Some(area);
            out.tiles = pip(area, n_tiles.min(PIP_MAX_TILES), gap);
        }
    }
    out
}

/// Space between tiles and around blocks: ~0.8 % of the short side, even, at least 2.
fn gap_for(area: Rect) -> u32 {
    even(area.w.min(area.h) / 90).max(2)
}

/// `n` equal 16:9 tiles in a near-square grid (cols = ceil(sqrt(n))), capped at `cap`.
fn grid(area: Rect, n: usize, cap: usize, gap: u32) -> Vec<Rect> {
    let n = n.min(cap);
    if n == 0 {
        return Vec::new();
    }
    let mut cols = 1usize;
    while cols * cols < n {
        cols += 1;
    }
    block(area, n, cols, gap)
}

/// `n` equal 16:9 tiles in `cols` columns, as large as fit in `area` with `gap` between and
/// around them; the block is centred, a short last row is centred too. Returns fewer rects
/// (none) only when the area is too small for 2x2-pixel tiles.
fn block(area: Rect, n: usize, cols: usize, gap: u32) -> Vec<Rect> {
    if n == 0 || cols == 0 || area.is_empty() {
        return Vec::new();
    }
    let cols = cols.min(n) as u64;
    let rows = (n as u64).div_ceil(cols);
    let gap = gap as u64;
    let avail_w = (area.w as u64).saturating_sub(gap * (cols + 1));
    let avail_h = (area.h as u64).saturating_sub(gap * (rows + 1));
    // Largest 16:9 tile with cols*tw <= avail_w and rows*th <= avail_h.
    let tw_by_w = avail_w / cols;
    let tw_by_h = avail_h / rows * 16 / 9;
    let mut tw = even(tw_by_w.min(tw_by_h).min(u32::MAX as u64) as u32) as u64;
    let mut th = even((tw * 9 / 16) as u32) as u64;
    if th * rows > avail_h {
        th = even((avail_h / rows) as u32) as u64;
    }
    if tw < 2 || th < 2 {
        // Too small for gaps: try without them, else give up.
        if gap > 0 {
            return block(area, n, cols as usize, 0);
        }
        tw = even((area.w as u64 / cols) as u32) as u64;
        th = even((area.h as u64 / rows) as u32) as u64;
        if tw < 2 || th < 2 {
            return Vec::new();
        }
    }
    let block_h = rows * th + (rows - 1) * gap;
    let y0 = area.y as u64 + even(((area.h as u64 - block_h) / 2) as u32) as u64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let r = i / cols;
        let in_row = (n as u64 - r * cols).min(cols);
        let row_w = in_row * tw + (in_row - 1) * gap;
        let x0 = area.x as u64 + even(((area.w as u64 - row_w) / 2) as u32) as u64;
        let c = i % cols;
        out.push(Rect::new((x0 + c * (tw + gap)) as u32, (y0 + r * (th + gap)) as u32, tw as u32, th as u32));
    }
    out
}

/// Picture-in-picture tiles: ~1/5 of the width, from the bottom-right corner leftwards,
/// then upwards.
fn pip(area: Rect, n: usize, gap: u32) -> Vec<Rect> {
    if n == 0 {
        return Vec::new();
    }
    let margin = (gap * 2).min(area.w / 4).min(area.h / 4) & !1;
    let per_row = PIP_PER_ROW.min(n) as u32;
    let rows = (n as u32).div_ceil(per_row);
    let mut tw = even(area.w / 5);
    // Shrink so that the rows and columns fit inside the area with their margins.
    let fit_w = area.w.saturating_sub(margin * (per_row + 1)) / per_row;
    let fit_h_w = (area.h.saturating_sub(margin * (rows + 1)) / rows) as u64 * 16 / 9;
    tw = even(tw.min(fit_w).min(fit_h_w.min(u32::MAX as u64) as u32));
    let th = even((tw as u64 * 9 / 16) as u32);
    if tw < 2 || th < 2 {
        return Vec::new();
    }
    let right = area.right() - margin;
    let bottom = area.bottom() - margin;
    (0..n as u32)
        .map(|i| {
            let c = i % per_row;
            let r = i / per_row;
            Rect::new(right - (c + 1) * tw - c * margin, bottom - (r + 1) * th - r * margin, tw, th)
        })
        .collect()
}

/// Stable tile slots for participants.
///
/// Each active participant keeps its slot while it stays active; a participant that leaves
/// frees its slot, and the next one to join takes the first free slot (so the remaining
/// tiles never change their relative order). When several join in the same update, the
/// higher `priority` (e.g. lecturer/admin) takes the earlier free slot; equal priorities keep
/// the order of `active`.
///
/// [`TileSlots::update`] returns the display order: the occupied slots, in slot order, with
/// the holes left by leavers squeezed out. [`TileSlots::slots`] gives the slots with holes for
/// callers that prefer fixed positions.
#[derive(Clone, Debug)]
pub(crate) struct TileSlots<K> {
    slots: Vec<Option<K>>,
}

impl<K> Default for TileSlots<K> {
    fn default() -> Self {
        TileSlots { slots: Vec::new() }
    }
}

impl<K: Clone + Eq + Hash> TileSlots<K> {
    /// No slots yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Update with the currently active participants (duplicates ignored); returns the
    /// display order.
    pub fn update(&mut self, active: &[K], priority: impl Fn(&K) -> i32) -> Vec<K> {
        let now: HashSet<&K> = active.iter().collect();
        let mut placed: HashSet<K> = HashSet::new();
        for s in self.slots.iter_mut() {
            match s {
                Some(k) if now.contains(k) => {
                    placed.insert(k.clone());
                }
                _ => *s = None,
            }
        }
        let mut joining: Vec<(usize, &K)> = Vec::new();
        for (i, k) in active.iter().enumerate() {
            if !placed.contains(k) && !joining.iter().any(|(_, j)| *j == k) {
                joining.push((i, k));
            }
        }
        // Higher priority first; stable on the order in `active`.
        joining.sort_by_key(|&(i, k)| (std::cmp::Reverse(priority(k)), i));
        let mut free = 0usize;
        for (_, k) in joining {
            while free < self.slots.len() && self.slots[free].is_some() {
                free += 1;
            }
            if free < self.slots.len() {
                self.slots[free] = Some(k.clone());
            } else {
                self.slots.push(Some(k.clone()));
            }
        }
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        self.order()
    }

    /// The display order (occupied slots in slot order).
    pub fn order(&self) -> Vec<K> {
        self.slots.iter().flatten().cloned().collect()
    }

    /// The slots, with `None` holes where someone left and nobody has joined since.
    #[cfg(test)]
    pub fn slots(&self) -> &[Option<K>] {
        &self.slots
    }

    /// The slot index of `k`, if it has one.
    #[cfg(test)]
    pub fn slot_of(&self, k: &K) -> Option<usize> {
        self.slots.iter().position(|s| s.as_ref() == Some(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_valid(p: &Placement, cw: u32, ch: u32) {
        let canvas = Rect::new(0, 0, cw & !1, ch & !1);
        let rects: Vec<Rect> = p.main.iter().chain(p.tiles.iter()).chain(p.panel.iter()).copied().collect();
        for r in &rects {
            assert!(canvas.contains(r), "{r:?} outside {cw}x{ch}");
            assert!(r.x % 2 == 0 && r.y % 2 == 0 && r.w % 2 == 0 && r.h % 2 == 0, "{r:?} not even");
            assert!(!r.is_empty(), "{r:?} empty");
        }
        // Tiles never overlap each other or the panel.
        for (i, a) in p.tiles.iter().enumerate() {
            for b in &p.tiles[i + 1..] {
                assert!(!a.intersects(b), "{a:?} overlaps {b:?}");
            }
            if let Some(panel) = p.panel {
                assert!(!a.intersects(&panel));
            }
        }
    }

    #[test]
    fn parse_and_display() {
        for k in LayoutKind::ALL {
            assert_eq!(k.to_string().parse::<LayoutKind>().unwrap(), k);
        }
        assert_eq!(" PiP ".parse::<LayoutKind>().unwrap(), LayoutKind::Pip);
        let e = "mosaic".parse::<LayoutKind>().unwrap_err().to_string();
        assert!(e.contains("mosaic") && e.contains("sidebar, pip, grid, speaker"), "{e}");
    }

    #[test]
    fn sidebar_column() {
        let p = place(LayoutKind::Sidebar, 1280, 720, true, 3, false);
        all_valid(&p, 1280, 720);
        assert_eq!(p.main, Some(Rect::new(0, 0, 960, 720)));
        assert_eq!(p.tiles.len(), 3);
        for t in &p.tiles {
            assert!(t.x >= 960, "{t:?}");
            assert_eq!(t.x, p.tiles[0].x);
            assert_eq!((t.w, t.h), (p.tiles[0].w, p.tiles[0].h));
            assert!((t.w as f64 / t.h as f64 - 16.0 / 9.0).abs() < 0.05);
            assert!(t.w >= 290, "{t:?}");
        }
        // Vertically centred.
        let top = p.tiles[0].y;
        let bottom = 720 - p.tiles[2].bottom();
        assert!(top.abs_diff(bottom) <= 2, "{top} vs {bottom}");
        assert!(p.tiles[0].y < p.tiles[1].y && p.tiles[1].y < p.tiles[2].y);
    }

    #[test]
    fn sidebar_two_columns_and_cap() {
        // 5 at 16:9 still fit one column (larger than two columns would be).
        let p = place(LayoutKind::Sidebar, 1920, 1080, true, 5, false);
        all_valid(&p, 1920, 1080);
        assert_eq!(p.tiles.iter().map(|t| t.x).collect::<HashSet<_>>().len(), 1);
        assert!(p.tiles[0].w > 300, "{:?}", p.tiles[0]);
        let p = place(LayoutKind::Sidebar, 1920, 1080, true, 11, false);
        all_valid(&p, 1920, 1080);
        assert_eq!(p.tiles.len(), 11);
        let xs: HashSet<u32> = p.tiles[..10].iter().map(|t| t.x).collect();
        assert_eq!(xs.len(), 2);
        assert!(p.tiles.iter().all(|t| t.x >= 1440), "{:?}", p.tiles);
        let p = place(LayoutKind::Sidebar, 1920, 1080, true, 40, false);
        all_valid(&p, 1920, 1080);
        assert_eq!(p.tiles.len(), SIDEBAR_MAX_TILES);
    }

    #[test]
    fn sidebar_without_main_is_a_grid_and_without_tiles_is_main() {
        let p = place(LayoutKind::Sidebar, 1280, 720, false, 4, false);
        all_valid(&p, 1280, 720);
        assert_eq!(p.main, None);
        assert_eq!(p.tiles.len(), 4);
        assert!(p.tiles[0].w >= 600, "{:?}", p.tiles[0]);
        let p = place(LayoutKind::Sidebar, 1280, 720, true, 0, false);
        assert_eq!(p.main, Some(Rect::new(0, 0, 1280, 720)));
        assert!(p.tiles.is_empty());
        let p = place(LayoutKind::Sidebar, 1280, 720, false, 0, false);
        assert_eq!(p, Placement::default());
    }

    #[test]
    fn pip_corner() {
        let p = place(LayoutKind::Pip, 1280, 720, true, 2, false);
        all_valid(&p, 1280, 720);
        assert_eq!(p.main, Some(Rect::new(0, 0, 1280, 720)));
        assert_eq!(p.tiles.len(), 2);
        let t0 = p.tiles[0];
        assert_eq!(t0.w, 256);
        assert_eq!(t0.h, 144);
        assert!(t0.right() < 1280 && t0.right() > 1240 && t0.bottom() < 720 && t0.bottom() > 680, "{t0:?}");
        assert!(p.tiles[1].x < t0.x && p.tiles[1].y == t0.y);
        let p = place(LayoutKind::Pip, 1280, 720, true, 6, false);
        all_valid(&p, 1280, 720);
        assert!(p.tiles[4].y < p.tiles[0].y && p.tiles[4].x == p.tiles[0].x);
        assert_eq!(place(LayoutKind::Pip, 1280, 720, true, 20, false).tiles.len(), PIP_MAX_TILES);
    }

    #[test]
    fn grid_shapes() {
        for n in 0..=40 {
            for &(w, h) in &[(1280, 720), (1920, 1080), (640, 360), (721, 481)] {
                let has_main = n % 3 == 0;
                let p = place(LayoutKind::Grid, w, h, has_main, n, n % 2 == 0);
                all_valid(&p, w, h);
                assert_eq!(p.main.is_some(), has_main);
                assert_eq!(p.tiles.len() + has_main as usize, (n + has_main as usize).min(GRID_MAX_CELLS));
            }
        }
        let p = place(LayoutKind::Grid, 1280, 720, false, 5, false);
        // 3 columns, 2 rows: second row of 2 centred.
        assert_eq!(p.tiles[0].y, p.tiles[2].y);
        assert!(p.tiles[3].y > p.tiles[0].y);
        assert!(p.tiles[3].x > p.tiles[0].x && p.tiles[3].x < p.tiles[1].x);
        let p = place(LayoutKind::Grid, 1280, 720, true, 3, false);
        // 2x2: main top-left, tiles[0] top-right, tiles[1] bottom-left.
        let m = p.main.unwrap();
        assert_eq!((m.x, m.y), (p.tiles[1].x, p.tiles[0].y));
        assert!(p.tiles[0].x > m.x && p.tiles[1].y > m.y);
        assert_eq!(p.tiles.len(), 3);
        assert_eq!(p.main.unwrap().w, p.tiles[0].w);
    }

    #[test]
    fn speaker() {
        let p = place(LayoutKind::Speaker, 1280, 720, true, 3, false);
        assert_eq!(p.main, None);
        assert_eq!(p.tiles, vec![Rect::new(0, 0, 1280, 720)]);
        let p = place(LayoutKind::Speaker, 1280, 720, true, 0, true);
        let panel = p.panel.unwrap();
        assert_eq!(panel.w, even_frac(1280, 22, 100));
        assert_eq!(p.main, Some(Rect::new(0, 0, 1280 - panel.w, 720)));
    }

    #[test]
    fn chat_panel_reserved() {
        let p = place(LayoutKind::Sidebar, 1280, 720, true, 2, true);
        all_valid(&p, 1280, 720);
        let panel = p.panel.unwrap();
        assert_eq!(panel, Rect::new(1280 - 282, 0, 282, 720));
        assert!(p.main.unwrap().right() <= panel.x);
        assert!(p.tiles.iter().all(|t| t.right() <= panel.x));
    }

    #[test]
    fn tiny_and_odd_canvases_do_not_panic() {
        for kind in LayoutKind::ALL {
            for &(w, h) in &[(0, 0), (1, 1), (2, 2), (3, 5), (7, 3), (17, 9), (0, 720), (1280, 1), (99, 1001)] {
                for n in [0usize, 1, 2, 5, 50] {
                    for has_main in [false, true] {
                        for chat in [false, true] {
                            let p = place(kind, w, h, has_main, n, chat);
                            all_valid(&p, w, h);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn slots_join_leave_rejoin() {
        let mut s = TileSlots::<u64>::new();
        let none = |_: &u64| 0;
        assert_eq!(s.update(&[1, 2, 3], none), vec![1, 2, 3]);
        // Order of `active` does not reshuffle existing tiles.
        assert_eq!(s.update(&[3, 2, 1], none), vec![1, 2, 3]);
        // 2 leaves: others keep their order; the hole stays visible in slots().
        assert_eq!(s.update(&[1, 3], none), vec![1, 3]);
        assert_eq!(s.slots(), &[Some(1), None, Some(3)]);
        // 4 joins: takes the free slot.
        assert_eq!(s.update(&[1, 3, 4], none), vec![1, 4, 3]);
        // 2 rejoins: first free slot is at the end.
        assert_eq!(s.update(&[2, 1, 3, 4], none), vec![1, 4, 3, 2]);
        assert_eq!(s.slot_of(&2), Some(3));
        // Last leaves: trailing slot trimmed.
        assert_eq!(s.update(&[1, 3, 4], none), vec![1, 4, 3]);
        assert_eq!(s.slots().len(), 3);
        // Duplicates ignored, everyone leaves.
        assert_eq!(s.update(&[1, 1, 3, 4, 4], none), vec![1, 4, 3]);
        assert_eq!(s.update(&[], none), Vec::<u64>::new());
        assert!(s.slots().is_empty());
    }

    #[test]
    fn slots_lecturer_first_when_joining_together() {
        let mut s = TileSlots::<String>::new();
        let prio = |k: &String| {
            if k.starts_with("lecturer") {
                10
            } else if k.starts_with("admin") {
                5
            } else {
                0
            }
        };
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            s.update(&v(&["anna", "bob", "lecturer-x", "admin-y"]), prio),
            v(&["lecturer-x", "admin-y", "anna", "bob"])
        );
        // A lecturer joining later does not push existing tiles around.
        s.update(&v(&["anna", "bob", "admin-y"]), prio);
        assert_eq!(s.order(), v(&["admin-y", "anna", "bob"]));
        assert_eq!(s.slots()[0], None);
        assert_eq!(
            s.update(&v(&["zed", "anna", "bob", "admin-y", "lecturer-2"]), prio),
            v(&["lecturer-2", "admin-y", "anna", "bob", "zed"])
        );
    }
}
