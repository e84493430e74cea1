//! I420 scaling with aspect-preserving letterbox/pillarbox into a canvas.
//!
//! Bilinear interpolation with 16.16 fixed-point source positions (pixel centres aligned),
//! separately for the luma plane and the two half-resolution chroma planes. The placed
//! rectangle is aligned to even coordinates so chroma samples line up with luma.

use std::sync::Arc;

use crate::frame::Picture;

/// Where a `sw`x`sh` source lands inside a `cw`x`ch` canvas: (x, y, w, h), all even.
pub fn fit_rect(sw: u32, sh: u32, cw: u32, ch: u32) -> (u32, u32, u32, u32) {
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
fn scale_plane(src: &[u8], sw: usize, sh: usize, dst: &mut [u8], dstride: usize, dx: usize, dy: usize, dw: usize, dh: usize) {
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 {
        return;
    }
    if sw == dw && sh == dh {
        for r in 0..dh {
            dst[(dy + r) * dstride + dx..(dy + r) * dstride + dx + dw].copy_from_slice(&src[r * sw..r * sw + sw]);
        }
        return;
    }
    // 16.16 fixed-point: source coordinate of destination pixel centre.
    let step_x = ((sw as u64) << 16) / dw as u64;
    let step_y = ((sh as u64) << 16) / dh as u64;
    let xs: Vec<(usize, usize, u32)> = (0..dw)
        .map(|x| {
            let fx = ((x as i64 * step_x as i64) + (step_x as i64 / 2) - (1 << 15)).max(0) as u64;
            let x0 = ((fx >> 16) as usize).min(sw - 1);
            let x1 = (x0 + 1).min(sw - 1);
            (x0, x1, (fx & 0xffff) as u32 >> 8)
        })
        .collect();
    let mut row = vec![0u8; dw];
    for y in 0..dh {
        let fy = ((y as i64 * step_y as i64) + (step_y as i64 / 2) - (1 << 15)).max(0) as u64;
        let y0 = ((fy >> 16) as usize).min(sh - 1);
        let y1 = (y0 + 1).min(sh - 1);
        let wy = (fy & 0xffff) as u32 >> 8;
        let r0 = &src[y0 * sw..y0 * sw + sw];
        let r1 = &src[y1 * sw..y1 * sw + sw];
        for (o, &(x0, x1, wx)) in row.iter_mut().zip(xs.iter()) {
            let top = r0[x0] as u32 * (256 - wx) + r0[x1] as u32 * wx;
            let bot = r1[x0] as u32 * (256 - wx) + r1[x1] as u32 * wx;
            *o = ((top * (256 - wy) + bot * wy + (1 << 15)) >> 16) as u8;
        }
        let off = (dy + y) * dstride + dx;
        dst[off..off + dw].copy_from_slice(&row);
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
    scale_plane(src.y(), src.width as usize, src.height as usize, py, cw as usize, x as usize, y as usize, w as usize, h as usize);
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
