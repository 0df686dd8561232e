//! Progress bars on stderr, shown only to a person watching a terminal.
//!
//! Every stage that takes long (download, hashing, building, comparing) reports through
//! [`Progress`]; when the output is not a terminal, or `--json`/`--quiet` was given, a
//! `Progress` is a no-op, so callers never need to branch.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One progress bar, or nothing.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Whether bars should be drawn at all: not with `--json` or `--quiet`, and only
    /// when stderr is a terminal.
    pub fn wanted(json: bool, quiet: bool) -> bool {
        !json && !quiet && std::io::stderr().is_terminal()
    }

    /// A bar counting bytes. `enabled` is the caller's choice (see [`Progress::wanted`]);
    /// it is ignored when stderr is not a terminal. `label` is printed as is: escape
    /// untrusted text before passing it.
    pub fn new(enabled: bool, label: &str, total: Option<u64>) -> Self {
        Self::with_templates(
            enabled,
            label,
            total,
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            "{spinner} {msg} {bytes} {bytes_per_sec}",
        )
    }

    /// A bar counting items (files, blocks, steps) rather than bytes.
    pub fn new_count(enabled: bool, label: &str, total: Option<u64>) -> Self {
        Self::with_templates(
            enabled,
            label,
            total,
            "{msg} [{bar:30}] {pos}/{len} eta {eta}",
            "{spinner} {msg} {pos}",
        )
    }

    /// A progress that shows nothing.
    pub fn hidden() -> Self {
        Progress { bar: None }
    }

    fn with_templates(
        enabled: bool,
        label: &str,
        total: Option<u64>,
        bar_template: &str,
        spinner_template: &str,
    ) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Self::hidden();
        }
        let (bar, template) = match total {
            Some(n) => (ProgressBar::new(n), bar_template),
            None => (ProgressBar::no_length(), spinner_template),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_message(label.to_string());
        Progress { bar: Some(bar) }
    }

    /// Whether anything is drawn.
    pub fn is_enabled(&self) -> bool {
        self.bar.is_some()
    }

    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Jumps to an absolute position (e.g. where a resumed download starts).
    pub fn set_position(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(n);
        }
    }

    /// Leaves the finished bar on screen.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }

    /// Removes the bar (used when the work failed or was restarted).
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.finish_and_clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_progress_draws_nothing_and_accepts_calls() {
        let p = Progress::new(false, "x", Some(10));
        assert!(!p.is_enabled());
        p.inc(3);
        p.set_position(5);
        p.finish();
        let q = Progress::new_count(false, "y", None);
        assert!(!q.is_enabled());
        q.clear();
    }

    #[test]
    fn json_or_quiet_never_want_bars() {
        assert!(!Progress::wanted(true, false));
        assert!(!Progress::wanted(false, true));
    }
}
