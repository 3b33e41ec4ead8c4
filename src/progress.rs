//! One progress factory: bars on a terminal, nothing when stderr is not one or `--quiet` is set.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Makes progress bars, or hidden ones.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    visible: bool,
}

impl Progress {
    /// Bars are drawn when `quiet` is false and stderr is a terminal.
    pub fn new(quiet: bool) -> Self {
        Progress { visible: !quiet && std::io::stderr().is_terminal() }
    }

    /// A bar of `len` steps, labelled `what`.
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        if !self.visible {
            return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} ({eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar
    }

    /// A stage whose steps are not counted (clustering, naming): its name, the time so far,
    /// and `expected`, an estimate of its whole length from measured rates, while it lasts.
    pub fn stage(&self, what: &str, expected: std::time::Duration) -> ProgressBar {
        if !self.visible {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} {spinner} {elapsed} (about {prefix} in all)")
                .expect("valid template"),
        );
        bar.set_message(what.to_string());
        bar.set_prefix(indicatif::HumanDuration(expected).to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    }
}
