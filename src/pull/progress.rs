//! One progress bar per file, fed by hf-hub's download callbacks.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Clones share the bar, so the caller keeps a handle to close it on errors.
#[derive(Clone)]
pub struct FileBar {
    bar: ProgressBar,
}

impl FileBar {
    /// Drawn on stderr when it is a terminal, hidden otherwise.
    pub fn new(file: &str) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(file.to_string());
        Self { bar }
    }

    /// Leaves the bar where it stopped, for a failed attempt.
    pub fn abandon(&self) {
        self.bar.abandon();
    }
}

impl hf_hub::api::Progress for FileBar {
    /// hf-hub calls this once per attempt, then `update` with the bytes a
    /// previous attempt left, so a resumed bar starts where the file stands.
    fn init(&mut self, size: usize, _filename: &str) {
        self.bar.set_length(size as u64);
        self.bar.set_position(0);
    }

    fn update(&mut self, size: usize) {
        self.bar.inc(size as u64);
    }

    fn finish(&mut self) {
        self.bar.finish();
    }
}
