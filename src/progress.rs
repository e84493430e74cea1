//! Terminal progress: an indicatif bar with stage, frames, x-realtime and ETA.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Bar {
    bar: Option<ProgressBar>,
    fps: f64,
}

impl Bar {
    /// `total_frames`: when known, a bar with ETA; else a spinner. `quiet`: nothing drawn.
    pub fn new(stage: &str, total_frames: Option<u64>, fps: f64, quiet: bool) -> Bar {
        if quiet {
            return Bar { bar: None, fps };
        }
        let bar = match total_frames {
            Some(t) => {
                let b = ProgressBar::new(t);
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>9} [{bar:32.cyan/blue}] {pos}/{len} frames  {msg}  ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                b
            }
            None => {
                let b = ProgressBar::new_spinner();
                b.set_style(
                    ProgressStyle::with_template("{prefix:>9} {spinner} {pos} frames  {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b
            }
        };
        b_target(&bar);
        bar.set_prefix(stage.to_string());
        Bar { bar: Some(bar), fps }
    }

    pub fn update(&self, frames: u64, elapsed_secs: f64) {
        if let Some(b) = &self.bar {
            b.set_position(frames);
            let media = frames as f64 / self.fps;
            if elapsed_secs > 0.0 {
                b.set_message(format!("{:.1}x realtime", media / elapsed_secs));
            }
        }
    }

    /// Extra status text (e.g. the download line) appended to the message.
    pub fn set_status(&self, status: &str) {
        if let Some(b) = &self.bar {
            if !status.is_empty() {
                let media_msg = b.message();
                let base = media_msg.split(" | ").next().unwrap_or("").to_string();
                b.set_message(format!("{base} | {status}"));
            }
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn b_target(b: &ProgressBar) {
    b.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
}
