//! The interface every video renderer implements, and the data it exchanges.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use reel_media::{Audio, Rendered, RgbImage};

/// What to render. Checked by [`RenderRequest::validate`] before any work starts.
#[derive(Clone, Debug)]
pub struct RenderRequest {
    pub prompt: String,
    pub seed: u64,
    /// Number of video frames.
    pub frames: u32,
    /// Even, 16..=4096.
    pub width: u32,
    /// Even, 16..=4096.
    pub height: u32,
    pub fps: u32,
    /// A cameo's face; testsrc draws it small in a corner.
    pub reference_image: Option<RgbImage>,
    /// A cameo's voice; testsrc ignores it.
    pub reference_voice: Option<Audio>,
    /// LTX-2's audio → video condition for this clip (a spoken line, mono,
    /// fitted to the clip at the audio VAE's rate): the soundtrack, which
    /// the picture follows. Per request, where the renderer's own option
    /// (`reel render --speech`) is per process; renderers that make no
    /// sound of their own ignore it (their caller mixes the line in).
    pub speech: Option<Audio>,
}

/// Step `step` of `total` is done (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub step: u32,
    pub total: u32,
}

/// Shared flag a renderer polls between steps; clone it to cancel from elsewhere.
#[derive(Clone, Default, Debug)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

pub trait Renderer: Send + Sync {
    /// Short stable name shown to users and stored with each job ("testsrc", later "ltx-video").
    fn name(&self) -> &str;

    /// Blocking; called from a worker thread. Calls `progress` once per step
    /// (steps are the renderer's unit of work), checks `cancel` between steps
    /// and returns `Err(RenderError::Cancelled)` when it is set.
    fn render(
        &self,
        req: &RenderRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
    ) -> Result<Rendered, RenderError>;
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("render cancelled")]
    Cancelled,
    #[error("invalid render request: {0}")]
    InvalidRequest(String),
    #[error("render failed: {0}")]
    Failed(String),
    /// The device (or host) ran out of memory: the same request would fail
    /// the same way again, so it is not retried.
    #[error("out of memory: {0}")]
    OutOfMemory(String),
}

impl RenderError {
    /// A model error by its message: an allocation failure (CUDA's
    /// `CUDA_ERROR_OUT_OF_MEMORY`, Metal's and candle's "out of memory")
    /// becomes [`RenderError::OutOfMemory`], anything else `Failed`.
    pub fn from_model_error(message: String) -> Self {
        let lower = message.to_ascii_lowercase();
        if lower.contains("out of memory") || lower.contains("out_of_memory") {
            Self::OutOfMemory(message)
        } else {
            Self::Failed(message)
        }
    }
}

/// A model's tensor error, told apart by [`RenderError::from_model_error`].
impl From<candle_core::Error> for RenderError {
    fn from(e: candle_core::Error) -> Self {
        RenderError::from_model_error(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_memory_is_told_apart() {
        for message in [
            "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")",
            "Metal error: out of memory",
        ] {
            assert!(matches!(
                RenderError::from_model_error(message.into()),
                RenderError::OutOfMemory(_)
            ));
        }
        assert!(matches!(
            RenderError::from_model_error("shape mismatch in matmul".into()),
            RenderError::Failed(_)
        ));
    }
}
