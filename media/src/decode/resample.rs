//! Sample-rate and channel-layout conversion to the output format.
//!
//! A streaming band-limited (windowed-sinc, Kaiser window, 32 taps per phase) resampler with
//! exact rational stepping: output sample `k` sits at input position `k * from / to`,
//! computed from integers, so the output length is exactly `ceil(n * to / from)` however
//! long the stream is (no drift). Channels: mono is duplicated to stereo, stereo is averaged
//! to mono, more channels keep the first two.
//!
//! `ClipResampler`: one clip's decoded audio resampled and placed on the output sample
//! clock, segment by segment.

use crate::frame::AudioFrame;
use crate::time::{rescale, VIDEO_HZ};

const TAPS: usize = 32;
const MAX_PHASES: u64 = 1024;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..30 {
        term *= q / (k * k) as f64;
        sum += term;
    }
    sum
}

/// Map `channels`-interleaved samples to `out_ch` channels.
pub(crate) fn remix(samples: &[f32], channels: u16, out_ch: u16) -> Vec<f32> {
    let c = channels.max(1) as usize;
    let o = out_ch.max(1) as usize;
    if c == o {
        return samples.to_vec();
    }
    let frames = samples.len() / c;
    let mut out = Vec::with_capacity(frames * o);
    for f in samples.chunks_exact(c) {
        match (c, o) {
            (1, _) => out.extend(std::iter::repeat_n(f[0], o)),
            (_, 1) => out.push(f[..2.min(c)].iter().sum::<f32>() / 2.0f32.min(c as f32)),
            _ => {
                for i in 0..o {
                    out.push(if i < c { f[i] } else { 0.0 });
                }
            }
        }
    }
    out
}

/// Streaming resampler for one interleaved stream.
pub(crate) struct Resampler {
    from: u64,
    to: u64,
    channels: usize,
    /// Phase table: `phases` rows of TAPS weights.
    table: Vec<f32>,
    phases: u64,
    /// Input history (interleaved), starting at input index `base`.
    buf: Vec<f32>,
    base: u64,
    /// Next output sample index.
    k: u64,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz for `channels` interleaved channels (windowed-sinc,
    /// rates reduced by their greatest common divisor).
    pub fn new(from: u32, to: u32, channels: u16) -> Resampler {
        let g = gcd(from as u64, to as u64).max(1);
        let (from, to) = (from as u64 / g, to as u64 / g);
        let phases = to.min(MAX_PHASES);
        let cutoff = if to < from { to as f64 / from as f64 } else { 1.0 } * 0.97;
        let beta = 8.0;
        let mut table = vec![0f32; phases as usize * TAPS];
        for p in 0..phases as usize {
            let frac = p as f64 / phases as f64;
            let mut sum = 0.0;
            for t in 0..TAPS {
                // tap t covers input offset (t - TAPS/2 + 1) relative to floor(position)
                let x = t as f64 - (TAPS / 2 - 1) as f64 - frac;
                let sinc = if x.abs() < 1e-9 {
                    1.0
                } else {
                    (std::f64::consts::PI * x * cutoff).sin() / (std::f64::consts::PI * x * cutoff)
                };
                let r = x / (TAPS as f64 / 2.0);
                let w = if r.abs() >= 1.0 { 0.0 } else { bessel_i0(beta * (1.0 - r * r).sqrt()) / bessel_i0(beta) };
                let v = sinc * w * cutoff;
                table[p * TAPS + t] = v as f32;
                sum += v;
            }
            for t in 0..TAPS {
                table[p * TAPS + t] /= sum as f32;
            }
        }
        let channels = channels.max(1) as usize;
        // Pre-fill half a window of silence so output sample 0 is centred on input 0.
        let pre = TAPS / 2 - 1;
        Resampler { from, to, channels, table, phases, buf: vec![0.0; pre * channels], base: 0, k: 0 }
    }

    /// True when the rates are equal (samples pass through unchanged in value).
    #[cfg(test)]
    pub fn is_identity(&self) -> bool {
        self.from == self.to
    }

    /// Feed interleaved input; returns the output samples that are now complete.
    pub fn process(&mut self, input: &[f32]) -> Vec<f32> {
        if self.from == self.to {
            return input.to_vec();
        }
        self.buf.extend_from_slice(input);
        self.run(false)
    }

    /// End of stream: pad with silence and return the remaining output, so that the total
    /// output length is `ceil(total_in * to / from)`.
    pub fn finish(&mut self, total_in: u64) -> Vec<f32> {
        if self.from == self.to {
            return Vec::new();
        }
        let want = (total_in * self.to).div_ceil(self.from);
        self.buf.extend(std::iter::repeat_n(0.0, TAPS * self.channels));
        let mut out = self.run(true);
        let have_more = want.saturating_sub(self.k - (out.len() / self.channels) as u64);
        out.truncate(have_more as usize * self.channels);
        out
    }

    fn run(&mut self, _final: bool) -> Vec<f32> {
        let ch = self.channels;
        let avail = (self.buf.len() / ch) as u64; // frames in buf, buf[0] = input index base - pre
        let mut out = Vec::new();
        loop {
            let num = self.k * self.from;
            let ip = num / self.to; // integer input position (absolute)
            let frac = num % self.to;
            // window covers buf frames [ip - base, ip - base + TAPS)
            let start = ip - self.base;
            if start + TAPS as u64 > avail {
                break;
            }
            let phase = (frac * self.phases / self.to) as usize;
            let w = &self.table[phase * TAPS..phase * TAPS + TAPS];
            for c in 0..ch {
                let mut acc = 0f32;
                let s = start as usize * ch + c;
                for (t, wt) in w.iter().enumerate() {
                    acc += self.buf[s + t * ch] * wt;
                }
                out.push(acc);
            }
            self.k += 1;
        }
        // Drop consumed history.
        let next_ip = self.k * self.from / self.to;
        let drop = next_ip.saturating_sub(self.base).min(avail) as usize;
        if drop > 0 {
            self.buf.drain(..drop * ch);
            self.base += drop as u64;
        }
        out
    }
}

/// Audio of one clip: PCM at the source rate in, output-rate samples placed by timestamp
/// out (pts in output samples relative to the clip's time zero). A gap or a format change
/// in the input starts a new resampling segment at the input's own timestamp, so a clip's
/// audio stays in place on the sample clock however its frames were timed.
pub(crate) struct ClipResampler {
    out_rate: u32,
    out_ch: u16,
    res: Option<(Resampler, u32, u16)>,
    /// Next expected input pts (source rate) and the output position of that sample.
    next_in: i64,
    out_pos: i64,
    seg_in: u64,
    end_out: Option<i64>,
    /// Output samples before this position are not sent: 0 (priming and pre-roll before
    /// the clip's time zero), or after a seek the seek point (what lies before it is not
    /// heard anyway, and reaches the scheduler only partly).
    min_out: i64,
    /// After a seek: (input position, rate) of the first audio frame a read from the file's
    /// start decodes. The first segment is then laid on the grid that read would have
    /// used: its first input sample is snapped to a whole number of frames after that
    /// position (as the decoder's own timestamp smoothing would have) and moved to a
    /// sample where input and output positions coincide, so the resampled output is
    /// sample for sample that of a read from the start.
    grid: Option<(i64, u32)>,
}

fn gcd_i(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd_i(b, a % b)
    }
}

impl ClipResampler {
    /// To `out_rate` Hz, `out_ch` channels. Output before `min_out` is dropped (priming and
    /// pre-roll before the clip's time zero, or a seek point), and from `end_out` on (the
    /// container's presentation end). `grid`: after a seek, (input position, rate) of the
    /// first audio frame a read from the file's start decodes (see the field).
    pub fn new(out_rate: u32, out_ch: u16, min_out: i64, end_out: Option<i64>, grid: Option<(i64, u32)>) -> Self {
        ClipResampler { out_rate, out_ch, res: None, next_in: 0, out_pos: 0, seg_in: 0, end_out, min_out, grid }
    }

    /// One decoded frame (pts in its own rate, the clip's time zero at `origin_90k`); the
    /// placed output frames are appended to `out`.
    pub fn push(&mut self, mut f: AudioFrame, origin_90k: i64, out: &mut Vec<AudioFrame>) {
        if f.is_empty() || f.sample_rate == 0 {
            return;
        }
        let origin_in = rescale(origin_90k, VIDEO_HZ, f.sample_rate);
        let mut pts_in = f.pts - origin_in;
        let tol = (f.sample_rate / 100) as i64; // 10 ms
        let restart = match &self.res {
            None => true,
            Some((_, rate, ch)) => *rate != f.sample_rate || *ch != f.channels || (pts_in - self.next_in).abs() > tol,
        };
        if restart {
            if let Some((mut r, _, _)) = self.res.take() {
                let tail = r.finish(self.seg_in);
                self.place(tail, out);
            }
            let mut out_pos = rescale(pts_in, f.sample_rate, self.out_rate);
            if let Some((anchor, rate)) = self.grid.take().filter(|g| g.1 == f.sample_rate) {
                let (n, rate) = (f.len() as i64, rate as i64);
                let k = (pts_in - anchor + n / 2).div_euclid(n);
                if (pts_in - (anchor + k * n)).abs() <= (rate / 1000).max(1) {
                    pts_in = anchor + k * n;
                }
                let g = gcd_i(rate, self.out_rate as i64).max(1);
                let (step_in, step_out) = (rate / g, self.out_rate as i64 / g);
                let skip = (anchor - pts_in).rem_euclid(step_in);
                if skip >= n {
                    self.grid = Some((anchor, rate as u32)); // the next frame starts the segment
                    return;
                }
                f.samples.drain(..skip as usize * f.channels as usize);
                pts_in += skip;
                out_pos =
                    rescale(anchor, rate as u32, self.out_rate) + (pts_in - anchor).div_euclid(step_in) * step_out;
            }
            self.res = Some((Resampler::new(f.sample_rate, self.out_rate, self.out_ch), f.sample_rate, f.channels));
            self.next_in = pts_in;
            self.out_pos = out_pos;
            self.seg_in = 0;
        }
        let n = f.len() as i64;
        let mixed = remix(&f.samples, f.channels, self.out_ch);
        let mut samples = Vec::new();
        if let Some((r, _, _)) = self.res.as_mut() {
            samples = r.process(&mixed);
        }
        self.next_in += n;
        self.seg_in += n as u64;
        self.place(samples, out);
    }

    /// Output samples at the current position, less what lies outside [min_out, end_out).
    fn place(&mut self, samples: Vec<f32>, out: &mut Vec<AudioFrame>) {
        let ch = self.out_ch as usize;
        let mut n = (samples.len() / ch) as i64;
        if n == 0 {
            return;
        }
        let mut samples = samples;
        let mut pts = self.out_pos;
        self.out_pos += n;
        // Priming and pre-roll (before the clip's time zero, or the seek point) are never heard.
        if pts < self.min_out {
            let skip = (self.min_out - pts).min(n);
            samples.drain(..(skip as usize) * ch);
            pts += skip;
            n -= skip;
        }
        if let Some(end) = self.end_out {
            if pts + n > end {
                let keep = (end - pts).max(0);
                samples.truncate(keep as usize * ch);
                n = keep;
            }
        }
        if n <= 0 {
            return;
        }
        out.push(AudioFrame { pts, sample_rate: self.out_rate, channels: self.out_ch, samples });
    }

    /// The end of the input: the last segment's tail.
    pub fn finish(&mut self, out: &mut Vec<AudioFrame>) {
        if let Some((mut r, _, _)) = self.res.take() {
            let tail = r.finish(self.seg_in);
            self.place(tail, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f64, n: usize) -> Vec<f32> {
        (0..n).map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin() as f32 * 0.5).collect()
    }

    #[test]
    fn exact_length_and_tone_preserved() {
        let input = sine(44100, 1000.0, 44100);
        let mut r = Resampler::new(44100, 48000, 1);
        let mut out = Vec::new();
        for c in input.chunks(1000) {
            out.extend(r.process(c));
        }
        out.extend(r.finish(44100));
        assert_eq!(out.len(), 48000);
        // Compare against the ideal sine at 48 kHz in the middle (phase-aligned: no delay).
        let ideal = sine(48000, 1000.0, 48000);
        let err: f32 = (1000..47000).map(|i| (out[i] - ideal[i]).abs()).fold(0.0, f32::max);
        assert!(err < 0.01, "max error {err}");
    }

    #[test]
    fn identity_and_remix() {
        let mut r = Resampler::new(48000, 48000, 2);
        assert!(r.is_identity());
        assert_eq!(r.process(&[0.1, 0.2]), vec![0.1, 0.2]);
        assert_eq!(remix(&[0.5], 1, 2), vec![0.5, 0.5]);
        assert_eq!(remix(&[0.2, 0.4], 2, 1), vec![0.3f32]);
    }

    #[test]
    fn downsample_length() {
        let mut r = Resampler::new(48000, 16000, 2);
        let mut n = r.process(&vec![0.0; 2 * 48001]).len();
        n += r.finish(48001).len();
        assert_eq!(n / 2, 16001);
    }
}
