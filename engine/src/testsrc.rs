//! `testsrc`: a diagnostic renderer in the spirit of ffmpeg's testsrc. It
//! needs no model and no GPU, renders fast, and labels every frame as a test
//! pattern so nobody can mistake it for generated video.

mod look;
mod overlay;
mod pattern;
pub(crate) mod prng;
mod text;
mod tone;

use std::time::{Duration, Instant};

use look::Look;
use overlay::Overlay;

use crate::renderer::{
    CancelToken, Progress, RenderError, RenderRequest, Rendered, Renderer, RgbImage,
};

pub use overlay::{banner_placement, TextPlacement, BANNER_TEXT, TEXT_BACKGROUND, TEXT_COLOUR};
pub use text::glyph_mask;
pub use tone::SAMPLE_RATE;

/// At most this many progress steps per clip; frames are rendered in batches.
pub const MAX_STEPS: u32 = 20;
/// How often a step delay wakes up to look at the cancel token.
const CANCEL_POLL: Duration = Duration::from_millis(10);

#[derive(Clone, Debug, Default)]
pub struct TestPattern {
    /// Extra sleep per step, to make renders slow for load and cancel tests.
    step_delay: Option<Duration>,
}

impl TestPattern {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_step_delay(step_delay: Duration) -> Self {
        TestPattern {
            step_delay: Some(step_delay),
        }
    }

    fn render_frame(req: &RenderRequest, look: &Look, overlay: &Overlay, index: u32) -> RgbImage {
        let mut image = RgbImage::new(req.width, req.height);
        pattern::draw_background(&mut image, look, index);
        pattern::draw_square(&mut image, look, index);
        if let Some(reference) = &req.reference_image {
            pattern::draw_inset(&mut image, reference);
        }
        overlay.draw(&mut image, index, req.frames);
        image
    }

    /// Sleeps for the step delay, waking early if cancelled.
    fn wait_step_delay(&self, cancel: &CancelToken) -> Result<(), RenderError> {
        let Some(delay) = self.step_delay else {
            return Ok(());
        };
        let deadline = Instant::now() + delay;
        loop {
            if cancel.is_cancelled() {
                return Err(RenderError::Cancelled);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(CANCEL_POLL));
        }
    }
}

impl Renderer for TestPattern {
    fn name(&self) -> &str {
        "testsrc"
    }

    fn render(
        &self,
        req: &RenderRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
    ) -> Result<Rendered, RenderError> {
        req.validate()?;
        let look = Look::from_seed(req.seed);
        let overlay = Overlay::new(req.width, req.height, &req.prompt);
        let total = req.frames.min(MAX_STEPS);
        tracing::debug!(
            width = req.width,
            height = req.height,
            frames = req.frames,
            steps = total,
            "rendering test pattern"
        );
        let mut frames = Vec::with_capacity(req.frames as usize);
        for step in 0..total {
            if cancel.is_cancelled() {
                return Err(RenderError::Cancelled);
            }
            let batch = batch_range(step, total, req.frames);
            frames.extend(batch.map(|index| Self::render_frame(req, &look, &overlay, index)));
            self.wait_step_delay(cancel)?;
            progress(Progress {
                step: step + 1,
                total,
            });
        }
        if cancel.is_cancelled() {
            return Err(RenderError::Cancelled);
        }
        Ok(Rendered {
            width: req.width,
            height: req.height,
            fps: req.fps,
            frames,
            audio: tone::test_tone(look.tone_hz, req.frames, req.fps),
            notes: Vec::new(),
        })
    }
}

/// Frames rendered in step `step` of `total`: an even split of `0..frames`.
fn batch_range(step: u32, total: u32, frames: u32) -> std::ops::Range<u32> {
    let split = |s: u32| (u64::from(s) * u64::from(frames) / u64::from(total.max(1))) as u32;
    split(step)..split(step + 1)
}

#[cfg(test)]
mod tests {
    use super::batch_range;

    #[test]
    fn batches_cover_every_frame_once() {
        for (frames, total) in [(1, 1), (7, 7), (48, 20), (2000, 20)] {
            let covered: Vec<u32> = (0..total)
                .flat_map(|s| batch_range(s, total, frames))
                .collect();
            assert_eq!(covered, (0..frames).collect::<Vec<_>>());
        }
    }
}
