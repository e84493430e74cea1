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
}
