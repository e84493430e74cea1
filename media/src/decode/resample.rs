//! Sample-rate and channel-layout conversion to the output format.
//!
//! A streaming band-limited (windowed-sinc, Kaiser window, 32 taps per phase) resampler with
//! exact rational stepping: output sample `k` sits at input position `k * from / to`,
//! computed from integers, so the output length is exactly `ceil(n * to / from)` however
//! long the stream is (no drift). Channels: mono is duplicated to stereo, stereo is averaged
//! to mono, more channels keep the first two.

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
pub fn remix(samples: &[f32], channels: u16, out_ch: u16) -> Vec<f32> {
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
pub struct Resampler {
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
