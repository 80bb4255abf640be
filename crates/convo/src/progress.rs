//! Progress of long work, on stderr: a bar with the count done, the rate and the time left (or a
//! spinner with the count and rate when the total is unknown). Nothing is drawn when stderr is not
//! a terminal, so scripts and `--json` output see only the results.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for `total` items (a spinner when `None`), labelled `what` (e.g. "events").
    pub fn new(what: &str, total: Option<u64>) -> Self {
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {human_pos}/{human_len} {msg} ({per_sec}, ETA {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {human_pos} {msg} ({per_sec})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(what.to_owned());
        if std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Self { bar }
    }

    /// `n` more items done.
    // Only spinners so far (the dead-letter topic); counted work comes with the replay tools.
    #[allow(dead_code)]
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Changes the label (e.g. from "events" to "catching up").
    #[allow(dead_code)]
    pub fn label(&self, what: &str) {
        self.bar.set_message(what.to_owned());
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
