//! Drawing primitives on an I420 [`Picture`] (limited range, tightly packed planes): flat and
//! semi-transparent rectangles, exact and aspect-preserving blits, filled circles, and the
//! BT.601 limited-range RGB -> YCbCr conversion (ITU-R BT.601-7, 8-bit integer form).
//!
//! Coordinates are luma pixels. Everything is clipped to the canvas; nothing panics on odd,
//! zero or out-of-canvas geometry (a picture whose `data` does not match its size is left
//! alone). Chroma for a luma region [x, x+w) covers the chroma samples x/2 ..= (x+w-1)/2,
//! i.e. a sample is touched when any of its two luma columns (rows) is: an odd-aligned
//! rectangle bleeds by at most one luma pixel of colour, it never loses its colour.
//! Loops run row by row over slices so that they vectorise.

use crate::frame::Picture;

use super::layout::Rect;
use super::scale::{fit_rect, scale_plane_clipped};

/// BT.601 limited range: (Y, Cb, Cr) for 8-bit RGB. Black -> (16,128,128), white -> (235,128,128).
pub(crate) fn rgb_to_yuv(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (r as i32, g as i32, b as i32);
    let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    (y.clamp(0, 255) as u8, u.clamp(0, 255) as u8, v.clamp(0, 255) as u8)
}

/// True when `pic.data` holds exactly the planes its size calls for.
pub(crate) fn consistent(pic: &Picture) -> bool {
    let (cw, ch) = Picture::chroma_size(pic.width, pic.height);
    let need = pic.width as u64 * pic.height as u64 + 2 * cw as u64 * ch as u64;
    pic.data.len() as u64 == need
}

/// Clip a signed luma region to `w`x`h`: (x0, y0, x1, y1) half-open, or None when empty.
fn clip(x: i64, y: i64, w: i64, h: i64, cw: u32, ch: u32) -> Option<(usize, usize, usize, usize)> {
    let x0 = x.clamp(0, cw as i64);
    let y0 = y.clamp(0, ch as i64);
    let x1 = x.saturating_add(w).clamp(0, cw as i64);
    let y1 = y.saturating_add(h).clamp(0, ch as i64);
    if x0 >= x1 || y0 >= y1 {
        return None;
    }
    Some((x0 as usize, y0 as usize, x1 as usize, y1 as usize))
}

/// The chroma region touched by the (already clipped) luma region.
fn chroma_of(r: (usize, usize, usize, usize)) -> (usize, usize, usize, usize) {
    (r.0 / 2, r.1 / 2, (r.2 - 1) / 2 + 1, (r.3 - 1) / 2 + 1)
}

/// Apply `f` to every row segment of the region in a plane of stride `stride`.
#[inline]
fn rows_mut(plane: &mut [u8], stride: usize, r: (usize, usize, usize, usize), mut f: impl FnMut(&mut [u8])) {
    for row in r.1..r.3 {
        let off = row * stride;
        if let Some(seg) = plane.get_mut(off + r.0..off + r.2) {
            f(seg);
        }
    }
}

/// Fill `rect` (clipped) with one colour.
pub(crate) fn fill_rect(pic: &mut Picture, rect: Rect, y: u8, u: u8, v: u8) {
    fill_region(pic, rect.x as i64, rect.y as i64, rect.w as i64, rect.h as i64, y, u, v);
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn fill_region(pic: &mut Picture, x: i64, yy: i64, w: i64, h: i64, y: u8, u: u8, v: u8) {
    if !consistent(pic) {
        return;
    }
    let Some(r) = clip(x, yy, w, h, pic.width, pic.height) else { return };
    let c = chroma_of(r);
    let stride = pic.width as usize;
    let cstride = Picture::chroma_size(pic.width, pic.height).0 as usize;
    let (py, pu, pv) = pic.planes_mut();
    rows_mut(py, stride, r, |s| s.fill(y));
    rows_mut(pu, cstride, c, |s| s.fill(u));
    rows_mut(pv, cstride, c, |s| s.fill(v));
}

/// `dst = dst * (1 - a) + c * a` with a in 0..=256 (256 = opaque), on a whole row.
#[inline]
fn blend_row(row: &mut [u8], c: u8, a: u32) {
    let ca = c as u32 * a + 128;
    let ia = 256 - a;
    for p in row.iter_mut() {
        *p = ((*p as u32 * ia + ca) >> 8) as u8;
    }
}

/// Blend one colour over `rect` (clipped) with opacity `alpha` (0 = invisible, 255 = opaque),
/// e.g. the semi-transparent strip behind a name label.
pub(crate) fn blend_rect(pic: &mut Picture, rect: Rect, y: u8, u: u8, v: u8, alpha: u8) {
    if alpha == 0 || !consistent(pic) {
        return;
    }
    let Some(r) = clip(rect.x as i64, rect.y as i64, rect.w as i64, rect.h as i64, pic.width, pic.height) else {
        return;
    };
    let a = alpha as u32 + (alpha as u32 >> 7); // 255 -> 256
    let c = chroma_of(r);
    let stride = pic.width as usize;
    let cstride = Picture::chroma_size(pic.width, pic.height).0 as usize;
    let (py, pu, pv) = pic.planes_mut();
    rows_mut(py, stride, r, |s| blend_row(s, y, a));
    rows_mut(pu, cstride, c, |s| blend_row(s, u, a));
    rows_mut(pv, cstride, c, |s| blend_row(s, v, a));
}

/// Copy the part of plane `src` (sw x sh) that lands inside `dst` (dw x dh) at (x, y).
#[allow(clippy::too_many_arguments)]
fn copy_plane(src: &[u8], sw: usize, sh: usize, dst: &mut [u8], dw: usize, dh: usize, x: i64, y: i64) {
    let Some(r) = clip(x, y, sw as i64, sh as i64, dw as u32, dh as u32) else { return };
    let sx = (r.0 as i64 - x) as usize;
    let n = r.2 - r.0;
    for row in r.1..r.3 {
        let sy = (row as i64 - y) as usize;
        let (Some(s), Some(d)) = (src.get(sy * sw + sx..sy * sw + sx + n), dst.get_mut(row * dw + r.0..row * dw + r.2))
        else {
            return;
        };
        d.copy_from_slice(s);
    }
}

/// Copy `src` unscaled with its top-left corner at (x, y) (may be negative); clipped. An odd
/// x/y shifts the chroma by half a sample (chroma origin = floor(x/2), floor(y/2)).
pub(crate) fn blit(pic: &mut Picture, src: &Picture, x: i32, y: i32) {
    if !consistent(pic) || !consistent(src) {
        return;
    }
    let (dw, dh) = (pic.width as usize, pic.height as usize);
    let (dcw, dch) = Picture::chroma_size(pic.width, pic.height);
    let (scw, sch) = Picture::chroma_size(src.width, src.height);
    let (sw, sh) = (src.width as usize, src.height as usize);
    let (cx, cy) = ((x as i64).div_euclid(2), (y as i64).div_euclid(2));
    let (py, pu, pv) = pic.planes_mut();
    copy_plane(src.y(), sw, sh, py, dw, dh, x as i64, y as i64);
    copy_plane(src.u(), scw as usize, sch as usize, pu, dcw as usize, dch as usize, cx, cy);
    copy_plane(src.v(), scw as usize, sch as usize, pv, dcw as usize, dch as usize, cx, cy);
}

/// Scale `src` into `rect` preserving its aspect ratio (bilinear, see [`super::scale`]);
/// the rest of `rect` becomes black bars. Clipped to the canvas (the clipped part of the
/// scaled picture is simply not drawn).
pub(crate) fn blit_fit(pic: &mut Picture, src: &Picture, rect: Rect) {
    if !consistent(pic) || rect.is_empty() {
        return;
    }
    if !consistent(src) || src.width == 0 || src.height == 0 {
        fill_rect(pic, rect, 16, 128, 128);
        return;
    }
    let (fx, fy, fw, fh) = fit_rect(src.width, src.height, rect.w, rect.h);
    // Bars only (the picture covers the rest).
    let (x0, y0) = (rect.x as i64, rect.y as i64);
    let (px, py_, pw, ph) = (x0 + fx as i64, y0 + fy as i64, fw as i64, fh as i64);
    let (rw, rh) = (rect.w as i64, rect.h as i64);
    fill_region(pic, x0, y0, rw, py_ - y0, 16, 128, 128); // top
    fill_region(pic, x0, py_ + ph, rw, y0 + rh - (py_ + ph), 16, 128, 128); // bottom
    fill_region(pic, x0, py_, px - x0, ph, 16, 128, 128); // left
    fill_region(pic, px + pw, py_, x0 + rw - (px + pw), ph, 16, 128, 128); // right
    let (dw, dh) = (pic.width as usize, pic.height as usize);
    let (dcw, dch) = Picture::chroma_size(pic.width, pic.height);
    let (scw, sch) = Picture::chroma_size(src.width, src.height);
    let (cw, ch) = Picture::chroma_size(fw, fh);
    let (py, pu, pv) = pic.planes_mut();
    scale_plane_clipped(
        src.y(),
        src.width as usize,
        src.height as usize,
        py,
        dw,
        dw,
        dh,
        px,
        py_,
        fw as usize,
        fh as usize,
    );
    let (cx, cy) = (px.div_euclid(2), py_.div_euclid(2));
    for (s, d) in [(src.u(), pu), (src.v(), pv)] {
        scale_plane_clipped(
            s,
            scw as usize,
            sch as usize,
            d,
            dcw as usize,
            dcw as usize,
            dch as usize,
            cx,
            cy,
            cw as usize,
            ch as usize,
        );
    }
}

/// Where [`blit_fit`] puts a `src_w`x`src_h` picture inside `rect` (e.g. to put a label on
/// the picture rather than on its bars).
pub(crate) fn fit_in(src_w: u32, src_h: u32, rect: Rect) -> Rect {
    let (fx, fy, fw, fh) = fit_rect(src_w, src_h, rect.w, rect.h);
    Rect::new(rect.x.saturating_add(fx), rect.y.saturating_add(fy), fw, fh)
}

/// Scale `src` to cover `rect` completely, preserving its aspect ratio: the overflow is
/// cropped equally on both sides (no bars). The usual choice for camera tiles. Clipped to
/// the rect and the canvas.
#[cfg(test)]
pub(crate) fn blit_cover(pic: &mut Picture, src: &Picture, rect: Rect) {
    if !consistent(pic) || rect.is_empty() {
        return;
    }
    if !consistent(src) || src.width == 0 || src.height == 0 {
        fill_rect(pic, rect, 16, 128, 128);
        return;
    }
    let Some(vis) = clip(rect.x as i64, rect.y as i64, rect.w as i64, rect.h as i64, pic.width, pic.height) else {
        return;
    };
    let (sw, sh, rw, rh) = (src.width as u64, src.height as u64, rect.w as u64, rect.h as u64);
    // Virtual scaled size covering the rect, and its offset (even) so that it is centred.
    let (vw, vh) = if sw * rh > sh * rw { ((sw * rh + sh / 2) / sh, rh) } else { (rw, (sh * rw + sw / 2) / sw) };
    let (vw, vh) = (vw.max(rw), vh.max(rh));
    let ox = rect.x as i64 - (((vw - rw) / 2) & !1) as i64;
    let oy = rect.y as i64 - (((vh - rh) / 2) & !1) as i64;
    let (dw, dcw) = (pic.width as usize, pic.width.div_ceil(2) as usize);
    let c = chroma_of(vis);
    let (scw, sch) = Picture::chroma_size(src.width, src.height);
    let (py, pu, pv) = pic.planes_mut();
    let off = vis.1 * dw + vis.0;
    if let Some(d) = py.get_mut(off..) {
        let (x0, y0) = (vis.0 as i64, vis.1 as i64);
        scale_plane_clipped(
            src.y(),
            sw as usize,
            sh as usize,
            d,
            dw,
            vis.2 - vis.0,
            vis.3 - vis.1,
            ox - x0,
            oy - y0,
            vw as usize,
            vh as usize,
        );
    }
    let coff = c.1 * dcw + c.0;
    let (cx, cy) = (ox.div_euclid(2) - c.0 as i64, oy.div_euclid(2) - c.1 as i64);
    let (cvw, cvh) = (vw.div_ceil(2) as usize, vh.div_ceil(2) as usize);
    for (s, d) in [(src.u(), pu), (src.v(), pv)] {
        if let Some(d) = d.get_mut(coff..) {
            scale_plane_clipped(s, scw as usize, sch as usize, d, dcw, c.2 - c.0, c.3 - c.1, cx, cy, cvw, cvh);
        }
    }
}

/// Filled anti-aliased circle (centre and radius in luma pixels, clipped). Luma edges are
/// anti-aliased; chroma uses the samples whose centre is inside the circle.
pub(crate) fn fill_circle(pic: &mut Picture, cx: f32, cy: f32, r: f32, y: u8, u: u8, v: u8) {
    if !consistent(pic) || !r.is_finite() || r <= 0.0 || !cx.is_finite() || !cy.is_finite() {
        return;
    }
    let Some(reg) = clip(
        (cx - r - 1.0).floor() as i64,
        (cy - r - 1.0).floor() as i64,
        (2.0 * r + 3.0).ceil() as i64,
        (2.0 * r + 3.0).ceil() as i64,
        pic.width,
        pic.height,
    ) else {
        return;
    };
    let stride = pic.width as usize;
    let cstride = Picture::chroma_size(pic.width, pic.height).0 as usize;
    let (py, pu, pv) = pic.planes_mut();
    for row in reg.1..reg.3 {
        let dy = row as f32 + 0.5 - cy;
        let off = row * stride;
        let Some(seg) = py.get_mut(off + reg.0..off + reg.2) else { continue };
        for (i, p) in seg.iter_mut().enumerate() {
            let dx = (reg.0 + i) as f32 + 0.5 - cx;
            let d = (dx * dx + dy * dy).sqrt();
            let cov = (r + 0.5 - d).clamp(0.0, 1.0);
            if cov > 0.0 {
                let a = (cov * 256.0) as u32;
                *p = ((*p as u32 * (256 - a) + y as u32 * a + 128) >> 8) as u8;
            }
        }
    }
    let c = chroma_of(reg);
    for row in c.1..c.3 {
        let dy = row as f32 * 2.0 + 1.0 - cy;
        for col in c.0..c.2 {
            let dx = col as f32 * 2.0 + 1.0 - cx;
            if dx * dx + dy * dy <= r * r {
                let i = row * cstride + col;
                if let (Some(pu), Some(pv)) = (pu.get_mut(i), pv.get_mut(i)) {
                    *pu = u;
                    *pv = v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(p: &Picture, x: u32, y: u32) -> (u8, u8, u8) {
        p.yuv_at(x, y)
    }

    #[test]
    fn bt601_colours() {
        assert_eq!(rgb_to_yuv(0, 0, 0), (16, 128, 128));
        assert_eq!(rgb_to_yuv(255, 255, 255), (235, 128, 128));
        let (y, u, v) = rgb_to_yuv(255, 0, 0);
        assert_eq!(y, 82);
        assert!(u < 100 && v == 240, "{u} {v}");
        let (y, u, v) = rgb_to_yuv(0, 0, 255);
        assert_eq!((y, u), (41, 240));
        assert!(v < 128);
    }

    #[test]
    fn fill_rect_fills_exactly_the_rect() {
        let mut p = Picture::black(64, 48);
        fill_rect(&mut p, Rect::new(10, 8, 20, 12), 200, 50, 60);
        assert_eq!(at(&p, 10, 8), (200, 50, 60));
        assert_eq!(at(&p, 29, 19), (200, 50, 60));
        assert_eq!(at(&p, 30, 19), (16, 128, 128));
        assert_eq!(at(&p, 9, 8).0, 16);
        assert_eq!(at(&p, 10, 20).0, 16);
        let inside = p.y().iter().filter(|&&v| v == 200).count();
        assert_eq!(inside, 20 * 12);
        let uinside = p.u().iter().filter(|&&v| v == 50).count();
        assert_eq!(uinside, 10 * 6);
    }

    #[test]
    fn odd_and_clipped_rects_do_not_panic() {
        for &(w, h) in &[(0u32, 0u32), (1, 1), (3, 3), (5, 2), (17, 9)] {
            let mut p = Picture::black(w, h);
            for &(x, y, rw, rh) in &[
                (0, 0, 1, 1),
                (1, 1, 3, 3),
                (2, 2, 100, 100),
                (u32::MAX, 0, 5, 5),
                (0, u32::MAX - 1, u32::MAX, u32::MAX),
                (3, 1, 0, 5),
            ] {
                let r = Rect::new(x, y, rw, rh);
                fill_rect(&mut p, r, 100, 100, 100);
                blend_rect(&mut p, r, 100, 100, 100, 128);
                blit_fit(&mut p, &Picture::black(7, 3), r);
                blit_fit(&mut p, &Picture::black(0, 0), r);
            }
            for &(x, y) in &[(-5, -5), (-1, 0), (0, -1), (1, 1), (i32::MAX, i32::MAX), (i32::MIN, i32::MIN), (16, 8)] {
                blit(&mut p, &Picture::filled(5, 3, 1, 2, 3), x, y);
            }
            fill_circle(&mut p, 1.0, 1.0, 3.0, 1, 2, 3);
            fill_circle(&mut p, f32::NAN, 1.0, 3.0, 1, 2, 3);
            fill_circle(&mut p, -100.0, 1e9, 1e9, 1, 2, 3);
        }
        // A picture whose data does not match its size is left alone.
        let mut bad = Picture { width: 10, height: 10, data: vec![0; 7] };
        fill_rect(&mut bad, Rect::new(0, 0, 10, 10), 1, 1, 1);
        assert_eq!(bad.data, vec![0; 7]);
    }

    #[test]
    fn odd_rect_touches_chroma_partially_covered() {
        let mut p = Picture::black(8, 8);
        fill_rect(&mut p, Rect::new(3, 3, 1, 1), 100, 10, 20);
        assert_eq!(p.y().iter().filter(|&&v| v == 100).count(), 1);
        assert_eq!(at(&p, 3, 3), (100, 10, 20));
        assert_eq!(p.u().iter().filter(|&&v| v == 10).count(), 1);
        // Clipped at the right/bottom of an odd canvas.
        let mut p = Picture::black(7, 5);
        fill_rect(&mut p, Rect::new(5, 3, 10, 10), 100, 10, 20);
        assert_eq!(p.y().iter().filter(|&&v| v == 100).count(), 2 * 2);
        assert_eq!(at(&p, 6, 4), (100, 10, 20));
    }

    #[test]
    fn blend_is_between() {
        let mut p = Picture::filled(32, 32, 200, 100, 160);
        blend_rect(&mut p, Rect::new(0, 16, 32, 16), 16, 128, 128, 128);
        let (y, u, v) = at(&p, 5, 20);
        assert!((107..=109).contains(&y), "{y}");
        assert!((113..=115).contains(&u), "{u}");
        assert!((143..=145).contains(&v), "{v}");
        assert_eq!(at(&p, 5, 15), (200, 100, 160));
        let mut q = Picture::filled(4, 4, 200, 100, 160);
        blend_rect(&mut q, Rect::new(0, 0, 4, 4), 16, 128, 128, 255);
        assert_eq!(at(&q, 1, 1), (16, 128, 128));
        blend_rect(&mut q, Rect::new(0, 0, 4, 4), 200, 0, 0, 0);
        assert_eq!(at(&q, 1, 1), (16, 128, 128));
    }

    #[test]
    fn blit_copies_and_clips() {
        let mut src = Picture::filled(6, 4, 0, 0, 0);
        {
            let (y, u, v) = src.planes_mut();
            for (i, p) in y.iter_mut().enumerate() {
                *p = 100 + i as u8;
            }
            u.fill(60);
            v.fill(70);
        }
        let mut p = Picture::black(10, 8);
        blit(&mut p, &src, 2, 2);
        assert_eq!(at(&p, 2, 2), (100, 60, 70));
        assert_eq!(at(&p, 7, 5), (123, 60, 70));
        assert_eq!(at(&p, 8, 5).0, 16);
        assert_eq!(at(&p, 1, 2).0, 16);
        // Negative origin: top-left part cut off.
        let mut p = Picture::black(10, 8);
        blit(&mut p, &src, -2, -1);
        assert_eq!(p.y()[0], 100 + 6 + 2);
        assert_eq!(at(&p, 3, 2).0, 100 + 3 * 6 + 5);
        assert_eq!(at(&p, 4, 0).0, 16);
        // Overhanging the bottom-right.
        let mut p = Picture::black(10, 8);
        blit(&mut p, &src, 8, 6);
        assert_eq!(at(&p, 9, 7).0, 100 + 6 + 1);
        assert_eq!(at(&p, 9, 7).1, 60);
    }

    #[test]
    fn blit_fit_letterboxes_inside_rect() {
        // 4:3 source into a 16:9 rect: pillarbox bars inside the rect, outside untouched.
        let src = Picture::filled(160, 120, 180, 90, 200);
        let mut p = Picture::filled(400, 300, 100, 128, 128);
        let r = Rect::new(40, 20, 320, 180);
        blit_fit(&mut p, &src, r);
        assert_eq!(at(&p, 200, 110), (180, 90, 200));
        assert_eq!(at(&p, 42, 110), (16, 128, 128), "left bar");
        assert_eq!(at(&p, 357, 110), (16, 128, 128), "right bar");
        assert_eq!(at(&p, 38, 110).0, 100, "outside the rect");
        assert_eq!(at(&p, 200, 18).0, 100);
        assert_eq!(at(&p, 200, 200).0, 100);
        let picture = p.y().iter().filter(|&&v| v == 180).count();
        assert_eq!(picture, 240 * 180);
        // Partly outside the canvas: the visible part matches an unclipped render.
        let mut src = src;
        for (i, v) in src.data.iter_mut().enumerate() {
            *v = (i * 13 % 241) as u8;
        }
        let mut big = Picture::black(400, 300);
        blit_fit(&mut big, &src, Rect::new(100, 100, 200, 150));
        let mut cut = Picture::black(120, 90);
        blit_fit(&mut cut, &src, Rect::new(20, 20, 200, 150));
        for y in 20..90u32 {
            for x in 20..120u32 {
                assert_eq!(at(&cut, x, y), at(&big, x + 80, y + 80), "({x},{y})");
            }
        }
    }

    #[test]
    fn blit_cover_crops_without_bars() {
        // 4:3 source with Y = 16 + row into a 16:9 rect: full width, rows 15..105 of the source.
        let mut src = Picture::filled(160, 120, 0, 90, 200);
        {
            let (y, _, _) = src.planes_mut();
            for (r, row) in y.chunks_mut(160).enumerate() {
                row.fill(16 + r as u8);
            }
        }
        let mut p = Picture::filled(400, 300, 5, 128, 128);
        let r = Rect::new(40, 20, 320, 180);
        blit_cover(&mut p, &src, r);
        assert!(at(&p, 40, 20).0.abs_diff(16 + 15) <= 1, "{}", at(&p, 40, 20).0);
        assert!(at(&p, 359, 199).0.abs_diff(16 + 104) <= 1, "{}", at(&p, 359, 199).0);
        for y in 20..200 {
            for x in [40u32, 200, 359] {
                let (l, u, v) = at(&p, x, y);
                assert!(l > 16 && (u, v) == (90, 200), "bar at ({x},{y})");
            }
        }
        assert_eq!(at(&p, 39, 100).0, 5);
        assert_eq!(at(&p, 360, 100).0, 5);
        assert_eq!(at(&p, 100, 19).0, 5);
        assert_eq!(at(&p, 100, 200).0, 5);
        // Partly off-canvas: the visible part equals the unclipped render.
        let mut cut = Picture::filled(200, 120, 5, 128, 128);
        blit_cover(&mut cut, &src, Rect::new(120, 60, 320, 180));
        let mut big = Picture::filled(600, 400, 5, 128, 128);
        blit_cover(&mut big, &src, Rect::new(120, 60, 320, 180));
        for y in 0..120 {
            for x in 0..200 {
                assert_eq!(at(&cut, x, y), at(&big, x, y), "({x},{y})");
            }
        }
        assert_eq!(fit_in(160, 120, r), Rect::new(80, 20, 240, 180));
        for &(w, h) in &[(0u32, 0u32), (1, 1), (5, 3)] {
            let mut q = Picture::black(w, h);
            for rr in [
                Rect::new(0, 0, 1, 1),
                Rect::new(1, 1, 3, 1),
                Rect::new(u32::MAX, 2, 9, 9),
                Rect::new(0, 0, u32::MAX, 1),
            ] {
                blit_cover(&mut q, &src, rr);
                blit_cover(&mut q, &Picture::black(1, 1000), rr);
            }
        }
    }

    #[test]
    fn random_geometry_never_panics() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut rnd = |m: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        let srcs = [
            Picture::black(1, 1),
            Picture::filled(7, 5, 1, 2, 3),
            Picture::filled(64, 36, 9, 9, 9),
            Picture::black(3, 200),
        ];
        for _ in 0..2000 {
            let (w, h) = (rnd(40) as u32, rnd(40) as u32);
            let mut p = Picture::black(w, h);
            let pick = |v: u64| match v % 4 {
                0 => v as u32 % 50,
                1 => u32::MAX - (v as u32 % 50),
                2 => v as u32,
                _ => 1,
            };
            let r = Rect::new(pick(rnd(1 << 32)), pick(rnd(1 << 32)), pick(rnd(1 << 32)), pick(rnd(1 << 32)));
            let src = &srcs[rnd(4) as usize];
            match rnd(5) {
                0 => fill_rect(&mut p, r, 1, 2, 3),
                1 => blend_rect(&mut p, r, 1, 2, 3, rnd(256) as u8),
                2 => blit_fit(&mut p, src, r),
                3 => blit_cover(&mut p, src, r),
                _ => blit(&mut p, src, rnd(100) as i32 - 50, rnd(100) as i32 - 50),
            }
            assert_eq!(p.data.len(), Picture::black(w, h).data.len());
        }
    }

    #[test]
    fn circle_is_round() {
        let mut p = Picture::black(64, 64);
        fill_circle(&mut p, 32.0, 32.0, 20.0, 200, 60, 70);
        assert_eq!(at(&p, 32, 32), (200, 60, 70));
        assert_eq!(at(&p, 32, 13).0, 200);
        assert_eq!(at(&p, 2, 2), (16, 128, 128));
        assert_eq!(at(&p, 12, 12).0, 16); // corner of the bounding box is outside
        let lit = p.y().iter().filter(|&&v| v > 100).count() as f64;
        assert!((lit - std::f64::consts::PI * 400.0).abs() < 60.0, "{lit}");
    }
}
