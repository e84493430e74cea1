//! What decoders produce and encoders consume: raw pictures and PCM.
//!
//! Pictures are planar YUV 4:2:0 (I420), 8 bit, limited range (BT.601/BT.709: black is
//! Y=16, U=V=128). Audio is interleaved `f32` in [-1, 1].
//! Timestamps: video in 90 kHz ticks ([`crate::time::VIDEO_HZ`]), audio in ticks of its own
//! sample rate (the index of the first sample).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An I420 picture with tightly packed planes (stride = width, chroma stride = (w+1)/2).
///
/// The plane memory of large pictures is recycled: a dropped picture gives its buffer to a
/// process-wide pool ([`pool`]), and new pictures of the same size take it from there. At 25
/// frames per second of decoded sources, scaled tiles and canvases, fresh allocations would
/// otherwise cost a page fault per 4 KiB touched.
#[derive(PartialEq, Eq)]
pub struct Picture {
    /// Width in pixels (> 0 for pictures made by the pipeline).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Y plane (width*height), then U and V ((w+1)/2 * (h+1)/2 each).
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({}x{})", self.width, self.height)
    }
}

impl Clone for Picture {
    fn clone(&self) -> Picture {
        let mut data = pool::take(self.data.len());
        data.copy_from_slice(&self.data);
        Picture { width: self.width, height: self.height, data }
    }
}

impl Drop for Picture {
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.data));
    }
}

impl Picture {
    /// Size of each chroma plane of a `width` x `height` picture: both halved, rounded up.
    pub fn chroma_size(width: u32, height: u32) -> (u32, u32) {
        (width.div_ceil(2), height.div_ceil(2))
    }
    /// Bytes of an I420 picture of this size.
    pub fn byte_len(width: u32, height: u32) -> usize {
        let (cw, ch) = Self::chroma_size(width, height);
        width as usize * height as usize + 2 * cw as usize * ch as usize
    }
    /// A picture whose contents are unspecified (recycled memory, or zeros): for callers
    /// that write every byte of every plane.
    pub fn uninit(width: u32, height: u32) -> Picture {
        Picture { width, height, data: pool::take(Self::byte_len(width, height)) }
    }
    /// A picture of one flat colour.
    pub fn filled(width: u32, height: u32, y: u8, u: u8, v: u8) -> Picture {
        let ys = (width * height) as usize;
        let mut pic = Self::uninit(width, height);
        let cs = (pic.data.len() - ys) / 2;
        pic.data[..ys].fill(y);
        pic.data[ys..ys + cs].fill(u);
        pic.data[ys + cs..].fill(v);
        pic
    }
    /// Limited-range black: Y=16, U=V=128.
    pub fn black(width: u32, height: u32) -> Picture {
        Self::filled(width, height, 16, 128, 128)
    }
    /// The luma plane: `width * height` bytes, row after row.
    pub fn y(&self) -> &[u8] {
        &self.data[..(self.width * self.height) as usize]
    }
    /// The U (Cb) plane: [`Picture::chroma_size`] bytes, row after row.
    pub fn u(&self) -> &[u8] {
        let ys = (self.width * self.height) as usize;
        let (cw, ch) = Self::chroma_size(self.width, self.height);
        &self.data[ys..ys + (cw * ch) as usize]
    }
    /// The V (Cr) plane: [`Picture::chroma_size`] bytes, row after row.
    pub fn v(&self) -> &[u8] {
        let ys = (self.width * self.height) as usize;
        let (cw, ch) = Self::chroma_size(self.width, self.height);
        &self.data[ys + (cw * ch) as usize..]
    }
    /// The Y, U and V planes, writable.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let ys = (self.width * self.height) as usize;
        let (cw, ch) = Self::chroma_size(self.width, self.height);
        let cs = (cw * ch) as usize;
        let (y, rest) = self.data.split_at_mut(ys);
        let (u, v) = rest.split_at_mut(cs);
        (y, u, v)
    }
    /// (Y, U, V) at pixel (x, y) (chroma of its 2x2 block). Panics outside the picture.
    pub fn yuv_at(&self, x: u32, y: u32) -> (u8, u8, u8) {
        let cw = self.width.div_ceil(2);
        let c = ((y / 2) * cw + x / 2) as usize;
        (self.y()[(y * self.width + x) as usize], self.u()[c], self.v()[c])
    }

    /// Mean of the Y plane (used by tests and probes).
    pub fn mean_luma(&self) -> f64 {
        let y = self.y();
        if y.is_empty() {
            return 0.0;
        }
        y.iter().map(|&p| p as u64).sum::<u64>() as f64 / y.len() as f64
    }
}

/// The recycling pool of picture buffers: exact sizes only, large buffers only, and
/// bounded (a few buffers per size and [`pool::MAX_BYTES`] in all), so it holds at most
/// what a steady stream of same-size pictures needs and never grows with the input.
pub mod pool {
    use super::*;

    /// Smaller buffers are left to the allocator.
    pub const MIN_BYTES: usize = 64 * 1024;
    /// At most this many idle buffers of one size...
    pub const MAX_PER_SIZE: usize = 12;
    /// ... and this many idle bytes in all.
    pub const MAX_BYTES: usize = 96 << 20;

    #[derive(Default)]
    struct Pool {
        free: HashMap<usize, Vec<Vec<u8>>>,
        bytes: usize,
    }

    static POOL: Mutex<Option<Pool>> = Mutex::new(None);

    /// A buffer of exactly `len` bytes with unspecified contents.
    pub fn take(len: usize) -> Vec<u8> {
        if len >= MIN_BYTES {
            let mut g = POOL.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(p) = g.as_mut() {
                if let Some(buf) = p.free.get_mut(&len).and_then(|v| v.pop()) {
                    p.bytes -= len;
                    return buf;
                }
            }
        }
        vec![0; len]
    }

    /// Return a buffer for reuse (or free it if the pool is full).
    pub fn give(buf: Vec<u8>) {
        let len = buf.len();
        if len < MIN_BYTES || buf.capacity() != len {
            return;
        }
        let mut g = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let p = g.get_or_insert_with(Pool::default);
        if p.bytes + len > MAX_BYTES {
            // Make room by dropping idle buffers of other sizes (sizes seen long ago).
            let other: Vec<usize> = p.free.keys().copied().filter(|&k| k != len).collect();
            for k in other {
                if p.bytes + len <= MAX_BYTES {
                    break;
                }
                if let Some(v) = p.free.remove(&k) {
                    p.bytes -= k * v.len();
                }
            }
        }
        let list = p.free.entry(len).or_default();
        if list.len() < MAX_PER_SIZE && p.bytes + len <= MAX_BYTES {
            list.push(buf);
            p.bytes += len;
        }
    }

    /// Idle bytes held (for tests and diagnostics).
    pub fn idle_bytes() -> usize {
        POOL.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(0, |p| p.bytes)
    }

    /// Idle buffers of `len` bytes.
    pub fn idle(len: usize) -> usize {
        POOL.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(|p| p.free.get(&len)).map_or(0, Vec::len)
    }
}

/// A decoded or generated picture at a 90 kHz presentation time. Shared so that repeated
/// pictures (held frames, black gap frames) cost no copies.
#[derive(Clone, Debug)]
pub struct VideoFrame {
    /// Presentation time, 90 kHz ticks on the timeline of its producer.
    pub pts: i64,
    /// The picture (shared, immutable).
    pub picture: Arc<Picture>,
}

/// Interleaved f32 PCM; `pts` is the index of the first sample at `sample_rate`.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioFrame {
    /// Index of the first sample, counted at `sample_rate` (not a 90 kHz time).
    pub pts: i64,
    /// Samples per second per channel, in Hz.
    pub sample_rate: u32,
    /// Interleaved channels (> 0 for frames made by the pipeline).
    pub channels: u16,
    /// Interleaved samples, nominally in [-1.0, 1.0]; length = samples per channel x `channels`.
    pub samples: Vec<f32>,
}

impl AudioFrame {
    /// Number of samples per channel.
    pub fn len(&self) -> usize {
        if self.channels == 0 {
            0
        } else {
            self.samples.len() / self.channels as usize
        }
    }
    /// True when the frame holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_picture_buffers_are_reused_and_the_pool_is_bounded() {
        // A size no other test uses (tests share the process-wide pool).
        let (w, h) = (1000, 202);
        let a = Picture::filled(w, h, 1, 2, 3);
        let ptr = a.data.as_ptr();
        assert_eq!(a.data.len(), Picture::byte_len(w, h));
        drop(a);
        let b = Picture::black(w, h);
        assert_eq!(b.data.as_ptr(), ptr, "the freed buffer is taken again");
        assert_eq!((b.y()[0], b.u()[0], b.v()[0]), (16, 128, 128), "and filled anew");
        let c = b.clone();
        assert_eq!(c, b);
        assert_ne!(c.data.as_ptr(), b.data.as_ptr());
        // Many idle buffers: the pool keeps at most MAX_PER_SIZE of a size and MAX_BYTES.
        let many: Vec<Picture> = (0..40).map(|_| Picture::uninit(w, h)).collect();
        drop(many);
        assert_eq!(pool::idle(Picture::byte_len(w, h)), pool::MAX_PER_SIZE);
        assert!(pool::idle_bytes() <= pool::MAX_BYTES);
        let again: Vec<Picture> = (0..40).map(|_| Picture::uninit(w, h)).collect();
        assert_eq!(pool::idle(Picture::byte_len(w, h)), 0);
        assert!(again.iter().all(|p| p.data.len() == Picture::byte_len(w, h)));
        // Small pictures bypass the pool.
        pool::give(vec![0; 100]);
        let t = Picture::uninit(4, 4);
        assert_eq!(t.data.len(), 24);
    }
}
