//! Integer media time.
//!
//! Every timestamp inside the pipeline is an integer count of ticks of an explicit
//! timebase (ticks per second): 90 kHz for video and MPEG-TS (ISO/IEC 13818-1 §2.4.3.7),
//! the sample rate for audio, and whatever an MP4 track's `mdhd` timescale says for
//! demuxed MP4 packets (ISO/IEC 14496-12 §8.4.2). Floating-point seconds appear only at
//! parsing boundaries (the flow JSON, the CLI) and are converted once, with rounding, by
//! [`Time::from_secs_f64`]. Conversions between timebases round to nearest in `i128`, so
//! no accumulated error can build up however long the timeline is: positions are always
//! computed as `index * step` from an origin, never by repeated addition of rounded steps.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// 90 kHz: the clock of MPEG-TS PTS/DTS and of every video timestamp in the pipeline.
pub const VIDEO_HZ: u32 = 90_000;

/// Rescale `v` ticks of `from` Hz into ticks of `to` Hz, rounding to nearest (ties away
/// from zero). Exact for any `i64` input whose result fits in `i64`.
pub fn rescale(v: i64, from: u32, to: u32) -> i64 {
    if from == to {
        return v;
    }
    assert!(from != 0 && to != 0, "timebase must be non-zero");
    let num = v as i128 * to as i128;
    let den = from as i128;
    let half = den / 2;
    let r = if num >= 0 { (num + half) / den } else { (num - half) / den };
    r.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Rescale rounding toward negative infinity (the index of the tick that contains `v`).
pub fn rescale_floor(v: i64, from: u32, to: u32) -> i64 {
    if from == to {
        return v;
    }
    let num = v as i128 * to as i128;
    let den = from as i128;
    num.div_euclid(den).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Rescale rounding toward positive infinity.
pub fn rescale_ceil(v: i64, from: u32, to: u32) -> i64 {
    if from == to {
        return v;
    }
    let num = v as i128 * to as i128;
    let den = from as i128;
    (-((-num).div_euclid(den))).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// A point in time: `ticks` of a `timebase` (ticks per second).
#[derive(Clone, Copy, Debug)]
pub struct Time {
    /// Count of `timebase` ticks (negative before the origin).
    pub ticks: i64,
    /// Ticks per second (> 0).
    pub timebase: u32,
}

impl Time {
    /// `ticks` of a `timebase`.
    pub const fn new(ticks: i64, timebase: u32) -> Time {
        Time { ticks, timebase }
    }
    /// The origin (0) in `timebase`.
    pub const fn zero(timebase: u32) -> Time {
        Time { ticks: 0, timebase }
    }
    /// Convert seconds (from JSON or the command line) to ticks, rounding to nearest.
    /// Non-finite values become 0; values beyond ±2^62 ticks are clamped.
    pub fn from_secs_f64(secs: f64, timebase: u32) -> Time {
        let t = if secs.is_finite() { (secs * timebase as f64).round() } else { 0.0 };
        let lim = (1i64 << 62) as f64;
        Time { ticks: t.clamp(-lim, lim) as i64, timebase }
    }
    /// The same time in another timebase, rounded to nearest (see [`rescale`]).
    pub fn to(self, timebase: u32) -> Time {
        Time { ticks: rescale(self.ticks, self.timebase, timebase), timebase }
    }
    /// The time in seconds.
    pub fn secs_f64(self) -> f64 {
        self.ticks as f64 / self.timebase as f64
    }
}

impl PartialEq for Time {
    fn eq(&self, o: &Time) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Time {}
impl PartialOrd for Time {
    fn partial_cmp(&self, o: &Time) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Time {
    fn cmp(&self, o: &Time) -> Ordering {
        (self.ticks as i128 * o.timebase as i128).cmp(&(o.ticks as i128 * self.timebase as i128))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}s", self.secs_f64())
    }
}

/// A time or a duration on the 90 kHz clock ([`VIDEO_HZ`] ticks per second): the unit of
/// every timeline position and video timestamp in the public API (e.g.
/// [`crate::pipeline::CompileOptions::start`]). Negative values are before the origin.
/// Arithmetic is plain `i64` arithmetic on the ticks; serde writes the bare tick count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ticks90k(pub i64);

impl Ticks90k {
    /// The origin (and the zero duration).
    pub const ZERO: Ticks90k = Ticks90k(0);
    /// One second: 90 000 ticks.
    pub const SECOND: Ticks90k = Ticks90k(VIDEO_HZ as i64);

    /// `ticks` of the 90 kHz clock.
    pub const fn new(ticks: i64) -> Ticks90k {
        Ticks90k(ticks)
    }
    /// The count of 90 kHz ticks.
    pub const fn ticks(self) -> i64 {
        self.0
    }
    /// Seconds to ticks, rounding to nearest; non-finite values become 0 (as
    /// [`Time::from_secs_f64`]).
    pub fn from_secs_f64(secs: f64) -> Ticks90k {
        Ticks90k(Time::from_secs_f64(secs, VIDEO_HZ).ticks)
    }
    /// The value in seconds.
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / VIDEO_HZ as f64
    }
    /// The same value as a [`Time`] with a 90 kHz timebase.
    pub const fn to_time(self) -> Time {
        Time::new(self.0, VIDEO_HZ)
    }
    /// A [`Time`] of any timebase on the 90 kHz clock, rounded to nearest.
    pub fn from_time(t: Time) -> Ticks90k {
        Ticks90k(rescale(t.ticks, t.timebase, VIDEO_HZ))
    }
    /// The value as a count of samples at `sample_rate` Hz, rounded to nearest (negative
    /// before the origin). Panics if `sample_rate` is 0.
    pub fn to_samples(self, sample_rate: u32) -> i64 {
        rescale(self.0, VIDEO_HZ, sample_rate)
    }
}

impl From<Ticks90k> for Time {
    fn from(t: Ticks90k) -> Time {
        t.to_time()
    }
}

impl std::ops::Add for Ticks90k {
    type Output = Ticks90k;
    fn add(self, o: Ticks90k) -> Ticks90k {
        Ticks90k(self.0 + o.0)
    }
}
impl std::ops::Sub for Ticks90k {
    type Output = Ticks90k;
    fn sub(self, o: Ticks90k) -> Ticks90k {
        Ticks90k(self.0 - o.0)
    }
}
impl std::ops::AddAssign for Ticks90k {
    fn add_assign(&mut self, o: Ticks90k) {
        self.0 += o.0;
    }
}
impl std::ops::SubAssign for Ticks90k {
    fn sub_assign(&mut self, o: Ticks90k) {
        self.0 -= o.0;
    }
}
impl std::ops::Neg for Ticks90k {
    type Output = Ticks90k;
    fn neg(self) -> Ticks90k {
        Ticks90k(-self.0)
    }
}

impl fmt::Display for Ticks90k {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}s", self.secs_f64())
    }
}

/// A count of audio samples per channel (one sample of every channel is one sample), e.g.
/// [`crate::pipeline::CompileReport::audio_samples`]. The sample rate is not part of the
/// value: the conversions take it (in Hz, > 0). Serde writes the bare count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Samples(pub u64);

impl Samples {
    /// No samples.
    pub const ZERO: Samples = Samples(0);

    /// The count.
    pub const fn count(self) -> u64 {
        self.0
    }
    /// Seconds at `sample_rate` Hz to samples, rounding to nearest; negative and non-finite
    /// values become 0.
    pub fn from_secs_f64(secs: f64, sample_rate: u32) -> Samples {
        Samples(Time::from_secs_f64(secs, sample_rate).ticks.max(0) as u64)
    }
    /// The length in seconds at `sample_rate` Hz.
    pub fn secs_f64(self, sample_rate: u32) -> f64 {
        self.0 as f64 / sample_rate as f64
    }
    /// The length at `sample_rate` Hz on the 90 kHz clock, rounded to nearest.
    pub fn to_ticks90k(self, sample_rate: u32) -> Ticks90k {
        Ticks90k(rescale(self.0.min(i64::MAX as u64) as i64, sample_rate, VIDEO_HZ))
    }
    /// The samples at `sample_rate` Hz in a 90 kHz length, rounded to nearest; a negative
    /// length is 0 samples.
    pub fn from_ticks90k(t: Ticks90k, sample_rate: u32) -> Samples {
        Samples(t.to_samples(sample_rate).max(0) as u64)
    }
    /// The count as a [`Time`] in the `sample_rate` timebase.
    pub fn to_time(self, sample_rate: u32) -> Time {
        Time::new(self.0.min(i64::MAX as u64) as i64, sample_rate)
    }
}

impl std::ops::Add for Samples {
    type Output = Samples;
    fn add(self, o: Samples) -> Samples {
        Samples(self.0 + o.0)
    }
}
impl std::ops::AddAssign for Samples {
    fn add_assign(&mut self, o: Samples) {
        self.0 += o.0;
    }
}
impl std::ops::Sub for Samples {
    type Output = Samples;
    /// Saturates at 0 (a count is never negative).
    fn sub(self, o: Samples) -> Samples {
        Samples(self.0.saturating_sub(o.0))
    }
}

/// Format seconds as `H:MM:SS.mmm` for messages and summaries.
pub fn hms(secs: f64) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    format!("{}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_rounds_to_nearest() {
        assert_eq!(rescale(1, 48_000, 90_000), 2); // 1.875
        assert_eq!(rescale(-1, 48_000, 90_000), -2);
        assert_eq!(rescale(1024, 48_000, 90_000), 1920);
        assert_eq!(rescale(3, 2, 1), 2); // 1.5 -> 2
        assert_eq!(rescale_floor(-1, 48_000, 90_000), -2);
        assert_eq!(rescale_floor(1, 48_000, 90_000), 1);
        assert_eq!(rescale_ceil(1, 48_000, 90_000), 2);
        assert_eq!(rescale_ceil(-1, 48_000, 90_000), -1);
    }

    #[test]
    fn no_drift_over_a_day() {
        // 24 h of 25 fps frames computed as index*step: exact.
        let frames = 25 * 86_400i64;
        assert_eq!(rescale(frames, 25, VIDEO_HZ), 86_400 * 90_000);
        // 24 h of 1024-sample AAC frames at 44.1 kHz into 90 kHz: within half a tick.
        let n = 44_100 * 86_400 / 1024;
        let t = rescale(n * 1024, 44_100, VIDEO_HZ);
        let exact = (n * 1024) as f64 * 90_000.0 / 44_100.0;
        assert!((t as f64 - exact).abs() <= 0.5);
    }

    #[test]
    fn compare_across_timebases() {
        assert_eq!(Time::new(90_000, 90_000), Time::new(48_000, 48_000));
        assert!(Time::new(1, 48_000) < Time::new(2, 90_000));
        assert_eq!(Time::from_secs_f64(1.5, 1000).ticks, 1500);
        assert_eq!(Time::from_secs_f64(f64::NAN, 1000).ticks, 0);
        assert_eq!(hms(3725.5), "1:02:05.500");
    }

    #[test]
    fn ticks90k_conversions() {
        let t = Ticks90k::from_secs_f64(1.5);
        assert_eq!(t, Ticks90k(135_000));
        assert_eq!(t.secs_f64(), 1.5);
        assert_eq!(Ticks90k::from_secs_f64(t.secs_f64()), t);
        assert_eq!(t.to_time(), Time::new(135_000, VIDEO_HZ));
        assert_eq!(Time::from(t).timebase, VIDEO_HZ);
        assert_eq!(Ticks90k::from_time(Time::new(72_000, 48_000)), t);
        assert_eq!(Ticks90k::from_secs_f64(f64::INFINITY), Ticks90k::ZERO);
        // Negative ticks: before the origin, rounded away from zero at ties.
        let n = Ticks90k::from_secs_f64(-0.25);
        assert_eq!(n, Ticks90k(-22_500));
        assert_eq!(n.secs_f64(), -0.25);
        assert_eq!(n.to_time(), Time::from_secs_f64(-0.25, 48_000));
        assert_eq!(Ticks90k(-1).to_samples(48_000), -1); // -0.533 -> -1
        assert_eq!(Ticks90k::from_time(Time::new(-1, 48_000)), Ticks90k(-2));
        assert!(n < Ticks90k::ZERO);
        assert_eq!(t + n, Ticks90k(112_500));
        assert_eq!(n - t, Ticks90k(-157_500));
        assert_eq!(-n, Ticks90k(22_500));
        let mut m = t;
        m -= Ticks90k::SECOND;
        m += Ticks90k(1);
        assert_eq!(m, Ticks90k(45_001));
        assert_eq!(t.to_string(), "1.500s");
    }

    #[test]
    fn samples_conversions() {
        // 48 kHz: 1024 samples are exactly 1920 ticks, and back.
        assert_eq!(Samples(1024).to_ticks90k(48_000), Ticks90k(1920));
        assert_eq!(Samples::from_ticks90k(Ticks90k(1920), 48_000), Samples(1024));
        assert_eq!(Samples::from_secs_f64(2.0, 48_000), Samples(96_000));
        assert_eq!(Samples(96_000).secs_f64(48_000), 2.0);
        // 44.1 kHz: 1024 samples are 2089.795... ticks -> 2090; back to 1024.
        assert_eq!(Samples(1024).to_ticks90k(44_100), Ticks90k(2090));
        assert_eq!(Samples::from_ticks90k(Ticks90k(2090), 44_100), Samples(1024));
        assert_eq!(Samples(44_100).to_ticks90k(44_100), Ticks90k::SECOND);
        assert_eq!(Samples(44_100).to_time(44_100), Time::new(1, 1));
        // Round trips over a day at both rates stay within one sample.
        for rate in [48_000u32, 44_100] {
            let s = Samples(rate as u64 * 86_400 + 17);
            let back = Samples::from_ticks90k(s.to_ticks90k(rate), rate);
            assert!(back.0.abs_diff(s.0) <= 1, "{rate}: {back:?} vs {s:?}");
        }
        // Negative and non-finite inputs are no samples; subtraction saturates.
        assert_eq!(Samples::from_ticks90k(Ticks90k(-90_000), 48_000), Samples::ZERO);
        assert_eq!(Samples::from_secs_f64(-1.0, 48_000), Samples::ZERO);
        assert_eq!(Samples::from_secs_f64(f64::NAN, 48_000), Samples::ZERO);
        assert_eq!(Samples(5) - Samples(7), Samples::ZERO);
        assert_eq!(Samples(5) + Samples(7), Samples(12));
    }

    #[test]
    fn newtypes_serialize_as_bare_numbers() {
        assert_eq!(serde_json::to_string(&Ticks90k(-45_000)).unwrap(), "-45000");
        assert_eq!(serde_json::to_string(&Samples(1024)).unwrap(), "1024");
        assert_eq!(serde_json::from_str::<Ticks90k>("90000").unwrap(), Ticks90k::SECOND);
        assert_eq!(serde_json::from_str::<Samples>("7").unwrap(), Samples(7));
    }
}
