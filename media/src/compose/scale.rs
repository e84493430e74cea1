//! I420 scaling with aspect-preserving letterbox/pillarbox into a canvas.
//!
//! Bilinear interpolation with 16.16 fixed-point source positions (pixel centres aligned),
//! separately for the luma plane and the two half-resolution chroma planes. The placed
//! rectangle is aligned to even coordinates so chroma samples line up with luma.

use std::sync::Arc;

use crate::frame::Picture;

/// Where a `sw`x`sh` source lands inside a `cw`x`ch` canvas: (x, y, w, h), all even.
pub(crate) fn fit_rect(sw: u32, sh: u32, cw: u32, ch: u32) -> (u32, u32, u32, u32) {
    if sw == 0 || sh == 0 {
        return (0, 0, cw, ch);
    }
    let (w, h) = if sw as u64 * ch as u64 > sh as u64 * cw as u64 {
        (cw, ((cw as u64 * sh as u64 + sw as u64 / 2) / sw as u64) as u32)
    } else {
        (((ch as u64 * sw as u64 + sh as u64 / 2) / sh as u64) as u32, ch)
    };
    let w = (w.min(cw) & !1).max(2.min(cw));
    let h = (h.min(ch) & !1).max(2.min(ch));
    let x = ((cw - w) / 2) & !1;
    let y = ((ch - h) / 2) & !1;
    (x, y, w, h)
}

/// Scale one plane `src` (sw x sh, stride sw) into `dst` (stride dstride) at (dx, dy) with
/// size dw x dh.
#[allow(clippy::too_many_arguments)]
fn scale_plane(
    src: &[u8],
    sw: usize,
    sh: usize,
    dst: &mut [u8],
    dstride: usize,
    dx: usize,
    dy: usize,
    dw: usize,
    dh: usize,
) {
    let rows = dst.len().checked_div(dstride).unwrap_or(0);
    scale_plane_clipped(src, sw, sh, dst, dstride, dstride, rows, dx as i64, dy as i64, dw, dh);
}

/// Scale one plane `src` (sw x sh, stride sw) to a virtual dw x dh image placed at (dx, dy)
/// (may be negative or overhang) in `dst` (stride `dstride`), writing only the part that lies
/// inside the window of `dcols` x `drows` pixels at the start of `dst` (`dcols` <= `dstride`;
/// for a whole plane both are its width). The visible pixels are exactly those the unclipped
/// scale would produce. Never panics: inconsistent sizes make it a no-op.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scale_plane_clipped(
    src: &[u8],
    sw: usize,
    sh: usize,
    dst: &mut [u8],
    dstride: usize,
    dcols: usize,
    drows: usize,
    dx: i64,
    dy: i64,
    dw: usize,
    dh: usize,
) {
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 || dcols == 0 || drows == 0 || dcols > dstride {
        return;
    }
    if src.len() < sw * sh || dst.len() < dstride * (drows - 1) + dcols {
        return;
    }
    // Visible window of the virtual destination image: columns c0..c1, rows r0..r1.
    let c0 = (-dx).clamp(0, dw as i64) as usize;
    let c1 = (dcols as i64 - dx).clamp(0, dw as i64) as usize;
    let r0 = (-dy).clamp(0, dh as i64) as usize;
    let r1 = (drows as i64 - dy).clamp(0, dh as i64) as usize;
    if c0 >= c1 || r0 >= r1 {
        return;
    }
    let out_x = (dx + c0 as i64) as usize;
    let out_w = c1 - c0;
    if sw == dw && sh == dh {
        for r in r0..r1 {
            let off = (dy + r as i64) as usize * dstride + out_x;
            dst[off..off + out_w].copy_from_slice(&src[r * sw + c0..r * sw + c1]);
        }
        return;
    }
    // 16.16 fixed-point: source coordinate of destination pixel centre. Bilinear is
    // separable: each output row first blends its two source rows over the columns it needs
    // (u16, 8-bit weights: vectorises), then each pixel blends two neighbours of that row.
    // Same arithmetic as blending 2x2 at once: no rounding between the passes.
    let step_x = ((sw as u64) << 16) / dw as u64;
    let step_y = ((sh as u64) << 16) / dh as u64;
    let xs: Vec<(u32, u32)> = (c0..c1)
        .map(|x| {
            let fx = ((x as i64 * step_x as i64) + (step_x as i64 / 2) - (1 << 15)).max(0) as u64;
            let x0 = ((fx >> 16) as usize).min(sw - 1);
            let wx = if x0 + 1 < sw { (fx & 0xffff) as u32 >> 8 } else { 0 };
            (x0 as u32, wx)
        })
        .collect();
    let lo = xs.first().map_or(0, |x| x.0 as usize);
    let hi = xs.last().map_or(0, |x| x.0 as usize + 1).min(sw - 1);
    // Columns lo..=hi of the blended row, plus one copy of the last (a weight-0 neighbour).
    let mut tmp = vec![0u16; hi - lo + 2];
    for y in r0..r1 {
        let fy = ((y as i64 * step_y as i64) + (step_y as i64 / 2) - (1 << 15)).max(0) as u64;
        let y0 = ((fy >> 16) as usize).min(sh - 1);
        let y1 = (y0 + 1).min(sh - 1);
        let wy = ((fy & 0xffff) >> 8) as u16;
        let a = &src[y0 * sw + lo..=y0 * sw + hi];
        let b = &src[y1 * sw + lo..=y1 * sw + hi];
        for ((t, &p), &q) in tmp.iter_mut().zip(a).zip(b) {
            *t = p as u16 * (256 - wy) + q as u16 * wy;
        }
        tmp[hi - lo + 1] = tmp[hi - lo];
        let off = (dy + y as i64) as usize * dstride + out_x;
        let row = &mut dst[off..off + out_w];
        for (o, &(x0, wx)) in row.iter_mut().zip(xs.iter()) {
            let i = x0 as usize - lo;
            let v = tmp[i] as u32 * (256 - wx) + tmp[i + 1] as u32 * wx;
            *o = ((v + (1 << 15)) >> 16) as u8;
        }
    }
}

/// Fit `src` into a `cw`x`ch` canvas. Returns the same `Arc` when no scaling is needed.
pub fn fit(src: &Arc<Picture>, cw: u32, ch: u32) -> Arc<Picture> {
    if src.width == cw && src.height == ch {
        return src.clone();
    }
    let (x, y, w, h) = fit_rect(src.width, src.height, cw, ch);
    let mut out = Picture::black(cw, ch);
    let (scw, sch) = Picture::chroma_size(src.width, src.height);
    let (ccw, _) = Picture::chroma_size(cw, ch);
    let (py, pu, pv) = out.planes_mut();
    scale_plane(
        src.y(),
        src.width as usize,
        src.height as usize,
        py,
        cw as usize,
        x as usize,
        y as usize,
        w as usize,
        h as usize,
    );
    let (cx, cy, cwid, chei) = ((x / 2) as usize, (y / 2) as usize, (w / 2) as usize, (h / 2) as usize);
    scale_plane(src.u(), scw as usize, sch as usize, pu, ccw as usize, cx, cy, cwid, chei);
    scale_plane(src.v(), scw as usize, sch as usize, pv, ccw as usize, cx, cy, cwid, chei);
    Arc::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rects() {
        assert_eq!(fit_rect(1920, 1080, 1280, 720), (0, 0, 1280, 720));
        assert_eq!(fit_rect(640, 480, 1280, 720), (160, 0, 960, 720)); // pillarbox
        assert_eq!(fit_rect(1920, 1056, 1280, 720), (0, 8, 1280, 704)); // letterbox 8 px each side
        assert_eq!(fit_rect(1280, 720, 1280, 720), (0, 0, 1280, 720));
    }

    #[test]
    fn pillarbox_keeps_colour_and_bars_are_black() {
        let src = Arc::new(Picture::filled(320, 240, 120, 90, 200));
        let out = fit(&src, 640, 360);
        assert_eq!((out.width, out.height), (640, 360));
        let (x, _, w, _) = fit_rect(320, 240, 640, 360);
        let y = out.y();
        assert_eq!(y[180 * 640 + 10], 16, "left bar is black");
        assert_eq!(y[180 * 640 + 630], 16, "right bar is black");
        assert_eq!(y[180 * 640 + (x + w / 2) as usize], 120, "picture keeps its level");
        let u = out.u();
        assert_eq!(u[90 * 320 + 2], 128);
        assert_eq!(u[90 * 320 + 160], 90);
    }

    #[test]
    fn same_size_is_free() {
        let src = Arc::new(Picture::black(64, 48));
        assert!(Arc::ptr_eq(&fit(&src, 64, 48), &src));
    }

    #[test]
    fn clipped_scale_matches_unclipped_window() {
        let mut src = vec![0u8; 37 * 23];
        for (i, p) in src.iter_mut().enumerate() {
            *p = (i * 7 % 251) as u8;
        }
        let mut full = vec![0u8; 50 * 40];
        scale_plane(&src, 37, 23, &mut full, 50, 0, 0, 50, 40);
        // Same virtual image shifted by (-13, -9) into a 30x20 plane.
        let mut part = vec![0u8; 30 * 20];
        scale_plane_clipped(&src, 37, 23, &mut part, 30, 30, 20, -13, -9, 50, 40);
        for r in 0..20 {
            assert_eq!(&part[r * 30..r * 30 + 30], &full[(r + 9) * 50 + 13..(r + 9) * 50 + 43]);
        }
        // A 10x5 window at (4, 3) of the 30x20 plane: only the window is written.
        let mut win = vec![7u8; 30 * 20];
        scale_plane_clipped(&src, 37, 23, &mut win[3 * 30 + 4..], 30, 10, 5, -13, -9, 50, 40);
        for r in 0..20 {
            for c in 0..30 {
                let inside = (3..8).contains(&r) && (4..14).contains(&c);
                let want = if inside { full[(r - 3 + 9) * 50 + c - 4 + 13] } else { 7 };
                assert_eq!(win[r * 30 + c], want, "({c},{r})");
            }
        }
        // Entirely outside, and inconsistent sizes: no-ops, no panics.
        scale_plane_clipped(&src, 37, 23, &mut part, 30, 30, 20, 100, 0, 50, 40);
        scale_plane_clipped(&src, 99, 99, &mut part, 30, 30, 20, 0, 0, 50, 40);
        scale_plane_clipped(&src, 37, 23, &mut part, 30, 30, 99, 0, 0, 50, 40);
        scale_plane_clipped(&src, 37, 23, &mut part, 30, 31, 20, 0, 0, 50, 40);
    }

    /// The 2x2 bilinear formula, pixel by pixel: what the separable scaler must equal.
    fn reference(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
        let (step_x, step_y) = (((sw as u64) << 16) / dw as u64, ((sh as u64) << 16) / dh as u64);
        let pos = |i: usize, step: u64, n: usize| {
            let f = ((i as i64 * step as i64) + (step as i64 / 2) - (1 << 15)).max(0) as u64;
            let p0 = ((f >> 16) as usize).min(n - 1);
            (p0, (p0 + 1).min(n - 1), (f & 0xffff) as u32 >> 8)
        };
        let mut out = vec![0; dw * dh];
        for y in 0..dh {
            let (y0, y1, wy) = pos(y, step_y, sh);
            for x in 0..dw {
                let (x0, x1, wx) = pos(x, step_x, sw);
                let top = src[y0 * sw + x0] as u32 * (256 - wx) + src[y0 * sw + x1] as u32 * wx;
                let bot = src[y1 * sw + x0] as u32 * (256 - wx) + src[y1 * sw + x1] as u32 * wx;
                out[y * dw + x] = ((top * (256 - wy) + bot * wy + (1 << 15)) >> 16) as u8;
            }
        }
        out
    }

    #[test]
    fn separable_scale_equals_the_2x2_formula() {
        let mut seed = 7u32;
        for (sw, sh, dw, dh) in [(1280, 720, 320, 180), (64, 48, 100, 75), (7, 5, 3, 9), (1, 1, 5, 4), (33, 17, 33, 8)]
        {
            let src: Vec<u8> = (0..sw * sh)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 24) as u8
                })
                .collect();
            let mut dst = vec![0; dw * dh];
            scale_plane(&src, sw, sh, &mut dst, dw, 0, 0, dw, dh);
            assert_eq!(dst, reference(&src, sw, sh, dw, dh), "{sw}x{sh} -> {dw}x{dh}");
        }
    }

    #[test]
    fn gradient_downscale_is_monotonic() {
        let mut p = Picture::black(200, 100);
        {
            let (y, _, _) = p.planes_mut();
            for r in 0..100 {
                for c in 0..200 {
                    y[r * 200 + c] = c as u8;
                }
            }
        }
        let out = fit(&Arc::new(p), 100, 50);
        let row = &out.y()[25 * 100..26 * 100];
        assert!(row.windows(2).all(|w| w[1] >= w[0]));
        assert!((row[50] as i32 - 100).abs() <= 2);
    }
}
