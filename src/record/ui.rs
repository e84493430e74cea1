//! Terminal feedback of `stitch record` on stderr: one line per retry or warning, and,
//! only when stderr is a terminal and not `--quiet`, a live progress line (indicatif):
//! - HLS VOD: `[=====>   ] 12/40 segments  9.4 MB, 1.2 MB/s  ETA 23s`
//! - live HLS: `recorded 0:01:23, 83 segments, 6.0 s behind the live edge, 0 gaps, 1.2 MB/s`
//! - direct MP4: `[=====>   ] 3.1 MiB/9.8 MiB  1.2 MiB/s  ETA 5s`
//!
//! Lines printed while a bar is shown go above it (`ProgressBar::println`).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Ui {
    quiet: bool,
    tty: bool,
    bar: Mutex<Option<ProgressBar>>,
}

/// `1.2 MB` (decimal units, like the summaries).
pub fn mb(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{:.2} GB", bytes / 1e9)
    } else {
        format!("{:.1} MB", bytes / 1e6)
    }
}

/// `1:02:03` / `2:03`.
pub fn hms(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

impl Ui {
    /// Progress lines only when stderr is a terminal; nothing at all with `quiet`.
    pub fn new(quiet: bool) -> Ui {
        Ui { quiet, tty: !quiet && std::io::stderr().is_terminal(), bar: Mutex::new(None) }
    }

    /// One line on stderr (above the progress bar when there is one).
    pub fn line(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(b) => b.println(msg),
            None => eprintln!("{msg}"),
        }
    }

    pub fn warn(&self, msg: &str) {
        self.line(&format!("warning: {msg}"));
    }

    fn with_bar(&self, make: impl FnOnce() -> ProgressBar, f: impl FnOnce(&ProgressBar)) {
        if !self.tty {
            return;
        }
        let mut g = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        let b = g.get_or_insert_with(|| {
            let b = make();
            b.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        f(b);
    }

    /// HLS VOD: `done` of `total` segments, `bytes` so far at `speed` bytes/s.
    pub fn vod(&self, done: u64, total: u64, bytes: u64, speed: f64) {
        self.with_bar(
            || {
                let b = ProgressBar::new(total);
                b.set_style(style("[{bar:30.cyan/blue}] {pos}/{len} segments  {msg}  ETA {eta}"));
                b
            },
            |b| {
                b.set_length(total);
                b.set_position(done);
                b.set_message(format!("{}, {}/s", mb(bytes as f64), mb(speed)));
            },
        );
    }

    /// Live HLS: `recorded` seconds in `segments`, `behind` seconds from the live edge.
    pub fn live(&self, recorded: f64, segments: u64, behind: f64, gaps: u64, speed: f64) {
        self.with_bar(
            || {
                let b = ProgressBar::new_spinner();
                b.set_style(style("{spinner} live: {msg}"));
                b
            },
            |b| {
                b.set_message(format!(
                    "recorded {}, {segments} segments, {behind:.1} s behind the live edge, {gaps} gaps, {}/s",
                    hms(recorded),
                    mb(speed)
                ))
            },
        );
    }

    /// Direct MP4: `done` of `total` bytes.
    pub fn download(&self, done: u64, total: Option<u64>) {
        self.with_bar(
            || match total {
                Some(t) => {
                    let b = ProgressBar::new(t);
                    b.set_style(style("[{bar:30.cyan/blue}] {bytes}/{total_bytes}  {bytes_per_sec}  ETA {eta}"));
                    b
                }
                None => {
                    let b = ProgressBar::new_spinner();
                    b.set_style(style("{spinner} {bytes}  {bytes_per_sec}"));
                    b
                }
            },
            |b| {
                if let Some(t) = total {
                    b.set_length(t);
                }
                b.set_position(done);
            },
        );
    }

    /// Remove the progress line (before the summary).
    pub fn finish(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(mb(1_234_567.0), "1.2 MB");
        assert_eq!(mb(2_500_000_000.0), "2.50 GB");
        assert_eq!(hms(83.4), "1:23");
        assert_eq!(hms(3723.0), "1:02:03");
    }
}
