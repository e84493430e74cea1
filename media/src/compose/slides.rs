//! Slide images for the main area: JPEG (ISO/IEC 10918-1 / JFIF), PNG (ISO/IEC 15948) and
//! WebP (RFC 9649) bytes decoded in-process by the pure-Rust `image` crate into an I420
//! [`Picture`] (BT.601 limited range, see `super::draw::rgb_to_yuv`; transparent pixels
//! are composited over black; chroma is the 2x2 average), plus a small LRU cache that
//! decodes and scales each slide once per target size.
//!
//! Decoding never panics on bad bytes: every failure is an [`Error::Invalid`] naming the
//! cause. Images larger than `MAX_SIDE` on a side, or needing more than `MAX_ALLOC` bytes
//! to decode, are refused.

use std::io::Cursor;
use std::sync::Arc;

use crate::frame::Picture;
use crate::{Error, Result};

use super::draw::rgb_to_yuv;
use super::scale::fit;

/// Largest accepted width or height of a slide image.
pub(crate) const MAX_SIDE: u32 = 16384;
/// Largest allocation the decoder may make for one image.
pub(crate) const MAX_ALLOC: u64 = 256 << 20;
/// Default number of (slide, size) entries a [`SlideCache`] keeps.
pub(crate) const SLIDE_CACHE_DEFAULT: usize = 16;

/// Decode JPEG/PNG/WebP bytes into an I420 picture of the image's own size (odd sizes kept).
pub(crate) fn decode_image(bytes: &[u8]) -> Result<Picture> {
    if bytes.is_empty() {
        return Err(Error::invalid("slide image: empty data"));
    }
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::invalid(format!("slide image: {e}")))?;
    let format = match reader.format() {
        Some(f @ (image::ImageFormat::Jpeg | image::ImageFormat::Png | image::ImageFormat::WebP)) => f,
        Some(f) => {
            return Err(Error::invalid(format!("slide image: unsupported format {f:?} (expected JPEG, PNG or WebP)")))
        }
        None => return Err(Error::invalid("slide image: unrecognised format (expected JPEG, PNG or WebP)")),
    };
    let mut reader = reader;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    // The decoders are meant not to panic on bad input; be safe regardless.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || reader.decode()))
        .map_err(|_| Error::invalid(format!("slide image: {format:?} decoder failed on malformed data")))?
        .map_err(|e| Error::invalid(format!("slide image ({format:?}): {e}")))?;
    let rgba = decoded.into_rgba8();
    let (w, h) = rgba.dimensions();
    if w == 0 || h == 0 {
        return Err(Error::invalid("slide image: zero size"));
    }
    Ok(rgba_to_i420(w, h, rgba.as_raw()))
}

/// Convert tightly packed RGBA (straight alpha) to I420, compositing over black.
/// A short buffer yields black for the missing pixels.
pub(crate) fn rgba_to_i420(w: u32, h: u32, rgba: &[u8]) -> Picture {
    let mut pic = Picture::black(w, h);
    let (wu, hu) = (w as usize, h as usize);
    let cw = wu.div_ceil(2);
    if rgba.len() < wu * hu * 4 || wu == 0 || hu == 0 {
        return pic;
    }
    let (py, pu, pv) = pic.planes_mut();
    // Premultiplied RGB for two rows at a time, for the 2x2 chroma average.
    let mut rows = [vec![0u16; wu * 3], vec![0u16; wu * 3]];
    for cy in 0..hu.div_ceil(2) {
        let n_rows = if cy * 2 + 1 < hu { 2 } else { 1 };
        for (k, prgb) in rows.iter_mut().enumerate().take(n_rows) {
            let y = cy * 2 + k;
            let src = &rgba[y * wu * 4..(y + 1) * wu * 4];
            let dst = &mut py[y * wu..(y + 1) * wu];
            for ((px, o), p) in src.chunks_exact(4).zip(dst.iter_mut()).zip(prgb.chunks_exact_mut(3)) {
                let a = px[3] as u16;
                let (r, g, b) = if a == 255 {
                    (px[0], px[1], px[2])
                } else {
                    let m = |c: u8| ((c as u16 * a + 127) / 255) as u8;
                    (m(px[0]), m(px[1]), m(px[2]))
                };
                *o = rgb_to_yuv(r, g, b).0;
                p[0] = r as u16;
                p[1] = g as u16;
                p[2] = b as u16;
            }
        }
        let urow = &mut pu[cy * cw..(cy + 1) * cw];
        let vrow = &mut pv[cy * cw..(cy + 1) * cw];
        for cx in 0..cw {
            let (mut s, mut n) = ([0u32; 3], 0u32);
            for row in rows.iter().take(n_rows) {
                for x in cx * 2..(cx * 2 + 2).min(wu) {
                    for c in 0..3 {
                        s[c] += row[x * 3 + c] as u32;
                    }
                    n += 1;
                }
            }
            let avg = |v: u32| ((v + n / 2) / n) as u8;
            let (_, u, v) = rgb_to_yuv(avg(s[0]), avg(s[1]), avg(s[2]));
            urow[cx] = u;
            vrow[cx] = v;
        }
    }
    pic
}

struct Entry {
    key: String,
    w: u32,
    h: u32,
    used: u64,
    /// A decode failure is remembered (as its message) so a broken slide is not re-fetched
    /// and re-decoded on every output frame.
    value: std::result::Result<Arc<Picture>, String>,
}

/// Decoded-and-scaled slides keyed by (URL/path, target size), least recently used evicted.
pub(crate) struct SlideCache {
    cap: usize,
    clock: u64,
    entries: Vec<Entry>,
}

impl Default for SlideCache {
    fn default() -> Self {
        SlideCache::new(SLIDE_CACHE_DEFAULT)
    }
}

impl SlideCache {
    /// A cache holding at most `cap` (at least 1) entries.
    pub fn new(cap: usize) -> SlideCache {
        SlideCache { cap: cap.max(1), clock: 0, entries: Vec::new() }
    }

    /// Entries held (decoded slides and remembered failures).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The slide `key` fitted into `w`x`h` (aspect preserved, black bars; see
    /// [`super::scale::fit`]). On a miss, `bytes_loader` is called to fetch the bytes, which
    /// are decoded and scaled once. Loader errors are returned and not cached (a later call
    /// retries); decode errors are cached with the entry.
    pub fn get(
        &mut self,
        key: &str,
        bytes_loader: impl FnOnce() -> Result<Vec<u8>>,
        w: u32,
        h: u32,
    ) -> Result<Arc<Picture>> {
        self.clock += 1;
        if let Some(e) = self.entries.iter_mut().find(|e| e.key == key && e.w == w && e.h == h) {
            e.used = self.clock;
            return e.value.clone().map_err(Error::Invalid);
        }
        let bytes = bytes_loader()?;
        let value = match decode_image(&bytes) {
            Ok(pic) => Ok(fit(&Arc::new(pic), w, h)),
            Err(Error::Invalid(msg)) => Err(format!("{key}: {msg}")),
            Err(e) => Err(format!("{key}: {e}")),
        };
        if self.entries.len() >= self.cap {
            if let Some(i) = self.entries.iter().enumerate().min_by_key(|(_, e)| e.used).map(|(i, _)| i) {
                self.entries.swap_remove(i);
            }
        }
        self.entries.push(Entry { key: key.to_string(), w, h, used: self.clock, value: value.clone() });
        value.map_err(Error::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn encode(img: image::DynamicImage, fmt: image::ImageFormat) -> Vec<u8> {
        let mut buf = Vec::new();
        img.write_to(&mut Cursor::new(&mut buf), fmt).unwrap();
        buf
    }

    /// Left half red, right half blue.
    fn red_blue(w: u32, h: u32) -> image::DynamicImage {
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, _| {
            if x < w / 2 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        }))
    }

    fn at(p: &Picture, x: u32, y: u32) -> (u8, u8, u8) {
        p.yuv_at(x, y)
    }

    #[test]
    fn png_decodes_to_bt601() {
        let pic = decode_image(&encode(red_blue(64, 32), image::ImageFormat::Png)).unwrap();
        assert_eq!((pic.width, pic.height), (64, 32));
        assert_eq!(at(&pic, 5, 5), rgb_to_yuv(255, 0, 0));
        assert_eq!(at(&pic, 60, 30), rgb_to_yuv(0, 0, 255));
        assert_eq!(at(&pic, 5, 5).0, 82);
    }

    #[test]
    fn odd_png_with_alpha_over_black() {
        let img = image::RgbaImage::from_fn(7, 5, |x, _| {
            if x < 3 {
                image::Rgba([255, 255, 255, 128])
            } else {
                image::Rgba([255, 255, 255, 0])
            }
        });
        let pic = decode_image(&encode(image::DynamicImage::ImageRgba8(img), image::ImageFormat::Png)).unwrap();
        assert_eq!((pic.width, pic.height), (7, 5));
        assert_eq!(pic.data.len(), 35 + 2 * 4 * 3);
        let (y, u, v) = at(&pic, 0, 0);
        assert_eq!((u, v), (128, 128));
        assert!((124..=127).contains(&y), "half-transparent white over black is mid grey: {y}");
        assert_eq!(at(&pic, 6, 4), (16, 128, 128));
    }

    #[test]
    fn jpeg_and_webp_decode() {
        let jpg = decode_image(&encode(red_blue(64, 48), image::ImageFormat::Jpeg)).unwrap();
        let (y, u, v) = at(&jpg, 8, 24);
        assert!(y.abs_diff(82) <= 6 && u < 110 && v > 220, "{y} {u} {v}");
        let (y, u, _) = at(&jpg, 56, 24);
        assert!(y.abs_diff(41) <= 6 && u > 220, "{y} {u}");
        let webp = decode_image(&encode(red_blue(30, 20), image::ImageFormat::WebP)).unwrap();
        assert_eq!(at(&webp, 2, 2), rgb_to_yuv(255, 0, 0));
        assert_eq!(at(&webp, 28, 18), rgb_to_yuv(0, 0, 255));
    }

    #[test]
    fn bad_bytes_are_clear_errors() {
        let e = decode_image(b"").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = decode_image(b"this is not an image at all").unwrap_err().to_string();
        assert!(e.contains("unrecognised format"), "{e}");
        let e = decode_image(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap_err().to_string();
        assert!(e.contains("unsupported format Gif"), "{e}");
        let png = encode(red_blue(64, 32), image::ImageFormat::Png);
        for cut in [8, 20, 40, png.len() / 2, png.len() - 13] {
            let e = decode_image(&png[..cut]).unwrap_err().to_string();
            assert!(e.contains("Png"), "{cut}: {e}");
        }
        let jpg = encode(red_blue(64, 32), image::ImageFormat::Jpeg);
        let _ = decode_image(&jpg[..jpg.len() / 3]); // may decode partially; must not panic
        let mut corrupt = jpg.clone();
        for b in corrupt.iter_mut().skip(20).step_by(7) {
            *b ^= 0x5a;
        }
        let _ = decode_image(&corrupt); // must not panic
        assert!(decode_image(&[0xff, 0xd8, 0xff]).is_err());
        assert!(decode_image(b"RIFF\x10\x00\x00\x00WEBPVP8 ").is_err());
    }

    #[test]
    fn rgba_short_buffer_and_zero_size() {
        let p = rgba_to_i420(4, 4, &[255; 10]);
        assert_eq!(p, Picture::black(4, 4));
        assert_eq!(rgba_to_i420(0, 3, &[]).data.len(), 0);
        let p = rgba_to_i420(1, 1, &[255, 255, 255, 255]);
        assert_eq!(at(&p, 0, 0), (235, 128, 128));
    }

    #[test]
    fn cache_decodes_once_per_size_and_evicts_lru() {
        let png = encode(red_blue(160, 90), image::ImageFormat::Png);
        let calls = Cell::new(0);
        let load = || {
            calls.set(calls.get() + 1);
            Ok(png.clone())
        };
        let mut c = SlideCache::new(2);
        let a = c.get("s1", load, 320, 240).unwrap();
        assert_eq!((a.width, a.height), (320, 240));
        // 16:9 into 4:3: letterboxed, bars black, picture red on the left.
        assert_eq!(at(&a, 10, 2).0, 16);
        assert_eq!(at(&a, 10, 120), rgb_to_yuv(255, 0, 0));
        let b = c.get("s1", load, 320, 240).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(calls.get(), 1);
        c.get("s1", load, 160, 90).unwrap();
        assert_eq!(calls.get(), 2);
        c.get("s1", load, 320, 240).unwrap(); // touch: s1@160x90 is now the LRU
        c.get("s2", load, 320, 240).unwrap();
        assert_eq!((c.len(), calls.get()), (2, 3));
        c.get("s1", load, 320, 240).unwrap();
        assert_eq!(calls.get(), 3, "recently used entry kept");
        c.get("s1", load, 160, 90).unwrap();
        assert_eq!(calls.get(), 4, "LRU entry was evicted");
    }

    #[test]
    fn cache_errors() {
        let mut c = SlideCache::default();
        let calls = Cell::new(0);
        let bad = || {
            calls.set(calls.get() + 1);
            Ok(b"garbage".to_vec())
        };
        let e = c.get("https://x/slide.png", bad, 64, 36).unwrap_err().to_string();
        assert!(e.contains("https://x/slide.png") && e.contains("unrecognised"), "{e}");
        assert!(c.get("https://x/slide.png", bad, 64, 36).is_err());
        assert_eq!(calls.get(), 1, "decode failure cached");
        let failing = || Err(Error::invalid("HTTP 503"));
        assert!(c.get("k", failing, 64, 36).unwrap_err().to_string().contains("503"));
        let png = encode(red_blue(16, 8), image::ImageFormat::Png);
        assert!(c.get("k", || Ok(png.clone()), 64, 36).is_ok(), "loader failure not cached");
        // Degenerate target sizes do not panic.
        for (w, h) in [(0, 0), (1, 1), (3, 7), (0, 100)] {
            let p = c.get("k", || Ok(png.clone()), w, h).unwrap();
            assert_eq!((p.width, p.height), (w, h));
        }
    }
}
