//! Mix: the clips' audio of one output frame summed into the output, levelled and limited.
//!
//! Input: a `FrameSlice` from the timeline (each sounding clip's samples already placed
//! on the output sample clock, zeros where it is silent). Output: the frame's interleaved
//! samples, and for each clip whether it speaks (its RMS in this frame above -40 dBFS, held
//! for one second), which the composite uses to pick the main camera.
//!
//! Every sounding clip is summed (in the slice's order); `Leveler` (`--normalize`) brings
//! the sum towards a common loudness; `soft_limit` keeps it below full scale, so sums
//! never clip. Digital silence stays exact zeros.

use std::collections::HashMap;

use crate::clip::{FrameSlice, OutputFormat};

/// RMS above which a clip's audio counts as speech (-40 dBFS).
pub(crate) const SPEAKING_RMS: f32 = 0.01;

/// Soft limiter: identity up to 0.8 full scale, then a tanh knee that never reaches 1.0.
pub(crate) fn soft_limit(x: f32) -> f32 {
    const T: f32 = 0.8;
    let a = x.abs();
    if a <= T {
        x
    } else {
        x.signum() * (T + (1.0 - T) * ((a - T) / (1.0 - T)).tanh())
    }
}

/// Slow automatic gain on the mix, before the limiter: the mix's RMS (above a -50 dBFS
/// gate, so silence does not pull the gain up) is followed with a ~3 s time constant and
/// the gain moves towards `TARGET_RMS / level`, between -12 and +18 dB, smoothly (~1 s).
/// Speech recorded too quietly comes up to a common level; the limiter still catches peaks.
#[derive(Clone, Debug)]
pub(crate) struct Leveler {
    level: f32,
    gain: f32,
}

impl Leveler {
    /// About -20 dBFS RMS.
    pub const TARGET_RMS: f32 = 0.1;
    const GATE_RMS: f32 = 0.003;

    /// A leveler at unity gain whose level estimate starts at [`Leveler::TARGET_RMS`].
    pub fn new() -> Leveler {
        Leveler { level: Self::TARGET_RMS, gain: 1.0 }
    }

    /// Apply to one frame's interleaved samples lasting `secs`.
    pub fn process(&mut self, samples: &mut [f32], secs: f32) {
        if samples.is_empty() {
            return;
        }
        let rms = (samples.iter().map(|x| x * x).sum::<f32>() / samples.len() as f32).sqrt();
        if rms > Self::GATE_RMS {
            let a = (secs / 3.0).min(1.0);
            self.level += (rms - self.level) * a;
        }
        let want = (Self::TARGET_RMS / self.level.max(1e-6)).clamp(0.25, 8.0);
        let g0 = self.gain;
        let g1 = g0 + (want - g0) * (secs / 1.0).min(1.0);
        let n = samples.len() as f32;
        for (i, x) in samples.iter_mut().enumerate() {
            *x *= g0 + (g1 - g0) * (i as f32 / n);
        }
        self.gain = g1;
    }
}

impl Default for Leveler {
    fn default() -> Self {
        Self::new()
    }
}

/// The mix stage: one per compile, fed every output frame in order.
pub(crate) struct Mixer {
    channels: usize,
    sample_rate: u32,
    /// Output frames a clip keeps counting as speaking after its last loud frame.
    hold: u32,
    leveler: Option<Leveler>,
    /// Frames left during which each clip (by position) counts as speaking.
    speak_hold: HashMap<usize, u32>,
}

impl Mixer {
    /// `normalize`: apply the [`Leveler`].
    pub fn new(fmt: &OutputFormat, normalize: bool) -> Mixer {
        Mixer {
            channels: fmt.channels as usize,
            sample_rate: fmt.sample_rate,
            hold: (fmt.fps_num / fmt.fps_den.max(1)).max(1),
            leveler: normalize.then(Leveler::new),
            speak_hold: HashMap::new(),
        }
    }

    /// The frame's mixed audio (`slice.samples` x channels, interleaved); updates who speaks.
    pub fn mix(&mut self, slice: &FrameSlice) -> Vec<f32> {
        let len = slice.samples;
        let mut audio = vec![0f32; len * self.channels];
        if len == 0 {
            return audio;
        }
        for placed in &slice.audio {
            let mut energy = 0f32;
            for (o, x) in audio.iter_mut().zip(&placed.samples) {
                *o += x;
                energy += x * x;
            }
            let hold = self.speak_hold.entry(placed.clip).or_insert(0);
            if placed.heard > 0 && (energy / placed.heard as f32).sqrt() > SPEAKING_RMS {
                *hold = self.hold;
            } else {
                *hold = hold.saturating_sub(1);
            }
        }
        if let Some(l) = self.leveler.as_mut() {
            l.process(&mut audio, len as f32 / self.sample_rate as f32);
        }
        for s in audio.iter_mut() {
            *s = soft_limit(*s);
        }
        audio
    }

    /// Whether clip `clip` (its position in the timeline's list) speaks in the last mixed frame.
    pub fn speaking(&self, clip: usize) -> bool {
        self.speak_hold.get(&clip).is_some_and(|&h| h > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leveler_brings_quiet_speech_up_and_leaves_silence_alone() {
        let rate = 48_000usize;
        let frame = rate / 25;
        let tone = |amp: f32, n: usize, k0: usize| -> Vec<f32> {
            (0..n).map(|k| amp * (2.0 * std::f32::consts::PI * 440.0 * (k0 + k) as f32 / rate as f32).sin()).collect()
        };
        let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        for (amp, want) in [(0.02f32, Leveler::TARGET_RMS), (0.6, Leveler::TARGET_RMS)] {
            let mut l = Leveler::new();
            let mut last = Vec::new();
            for f in 0..25 * 15 {
                let mut x = tone(amp, frame, f * frame);
                l.process(&mut x, 0.04);
                last = x;
            }
            let r = rms(&last);
            assert!((r - want).abs() < want * 0.15, "amp {amp}: rms {r} after 15 s, want ~{want}");
        }
        // Silence stays exactly silent.
        let mut l = Leveler::new();
        let mut z = vec![0f32; frame];
        l.process(&mut z, 0.04);
        assert!(z.iter().all(|&v| v == 0.0));
    }
}
