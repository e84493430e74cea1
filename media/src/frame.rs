//! What decoders produce and encoders consume: raw pictures and PCM.
//!
//! Pictures are planar YUV 4:2:0 (I420), 8 bit, limited range (BT.601/BT.709: black is
//! Y=16, U=V=128). Audio is interleaved `f32` in [-1, 1].
//! Timestamps: video in 90 kHz ticks ([`crate::time::VIDEO_HZ`]), audio in ticks of its own
//! sample rate (the index of the first sample).

use std::sync::Arc;

/// An I420 picture with tightly packed planes (stride = width, chroma stride = (w+1)/2).
#[derive(Clone, PartialEq, Eq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    /// Y plane (width*height), then U and V ((w+1)/2 * (h+1)/2 each).
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({}x{})", self.width, self.height)
    }
}

impl Picture {
    pub fn chroma_size(width: u32, height: u32) -> (u32, u32) {
        (width.div_ceil(2), height.div_ceil(2))
    }
    /// A picture of one flat colour.
    pub fn filled(width: u32, height: u32, y: u8, u: u8, v: u8) -> Picture {
        let (cw, ch) = Self::chroma_size(width, height);
        let ys = (width * height) as usize;
        let cs = (cw * ch) as usize;
        let mut data = vec![y; ys + 2 * cs];
        data[ys..ys + cs].fill(u);
        data[ys + cs..].fill(v);
        Picture { width, height, data }
    }
    /// Limited-range black: Y=16, U=V=128.
    pub fn black(width: u32, height: u32) -> Picture {
        Self::filled(width, height, 16, 128, 128)
    }
    pub fn y(&self) -> &[u8] {
        &self.data[..(self.width * self.height) as usize]
    }
    pub fn u(&self) -> &[u8] {
        let ys = (self.width * self.height) as usize;
        let (cw, ch) = Self::chroma_size(self.width, self.height);
        &self.data[ys..ys + (cw * ch) as usize]
    }
    pub fn v(&self) -> &[u8] {
        let ys = (self.width * self.height) as usize;
        let (cw, ch) = Self::chroma_size(self.width, self.height);
        &self.data[ys + (cw * ch) as usize..]
    }
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

/// A decoded or generated picture at a 90 kHz presentation time. Shared so that repeated
/// pictures (held frames, black gap frames) cost no copies.
#[derive(Clone, Debug)]
pub struct VideoFrame {
    pub pts: i64,
    pub picture: Arc<Picture>,
}

/// Interleaved f32 PCM; `pts` is the index of the first sample at `sample_rate`.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioFrame {
    pub pts: i64,
    pub sample_rate: u32,
    pub channels: u16,
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
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
