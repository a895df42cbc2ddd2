//! Limits on render requests, checked before a renderer does any work.

use crate::renderer::{Audio, RenderError, RenderRequest, RgbImage};

pub const MIN_SIDE: u32 = 16;
pub const MAX_SIDE: u32 = 4096;
pub const MAX_FRAMES: u32 = 2000;
pub const MAX_FPS: u32 = 120;
/// Every frame is held in memory until encoding, so the product of the
/// limits above (~100 GB) must be capped too.
pub const MAX_TOTAL_FRAME_BYTES: u64 = 8 << 30;
const MAX_REFERENCE_SIDE: u32 = 8192;
const MAX_SAMPLE_RATE: u32 = 384_000;
const MAX_CHANNELS: u16 = 8;

impl RenderRequest {
    /// `Err(RenderError::InvalidRequest)` naming the offending field and its
    /// allowed range.
    pub fn validate(&self) -> Result<(), RenderError> {
        check_side("width", self.width)?;
        check_side("height", self.height)?;
        if !(1..=MAX_FRAMES).contains(&self.frames) {
            return invalid(format!(
                "frames must be from 1 to {MAX_FRAMES}, got {}",
                self.frames
            ));
        }
        if !(1..=MAX_FPS).contains(&self.fps) {
            return invalid(format!("fps must be from 1 to {MAX_FPS}, got {}", self.fps));
        }
        let total_bytes =
            u64::from(self.width) * u64::from(self.height) * 3 * u64::from(self.frames);
        if total_bytes > MAX_TOTAL_FRAME_BYTES {
            return invalid(format!(
                "frames x width x height is too large: {total_bytes} bytes of RGB frames, \
                 at most {MAX_TOTAL_FRAME_BYTES} allowed"
            ));
        }
        if let Some(image) = &self.reference_image {
            check_reference_image(image)?;
        }
        if let Some(voice) = &self.reference_voice {
            check_reference_voice(voice)?;
        }
        Ok(())
    }
}

fn check_side(field: &str, value: u32) -> Result<(), RenderError> {
    if !(MIN_SIDE..=MAX_SIDE).contains(&value) || !value.is_multiple_of(2) {
        return invalid(format!(
            "{field} must be an even number from {MIN_SIDE} to {MAX_SIDE}, got {value}"
        ));
    }
    Ok(())
}

fn check_reference_image(image: &RgbImage) -> Result<(), RenderError> {
    for (field, value) in [("width", image.width), ("height", image.height)] {
        if !(1..=MAX_REFERENCE_SIDE).contains(&value) {
            return invalid(format!(
                "reference_image.{field} must be from 1 to {MAX_REFERENCE_SIDE}, got {value}"
            ));
        }
    }
    if !image.has_consistent_size() {
        return invalid(format!(
            "reference_image.data must hold width x height x 3 = {} bytes of RGB24, got {}",
            u64::from(image.width) * u64::from(image.height) * 3,
            image.data.len()
        ));
    }
    Ok(())
}

fn check_reference_voice(voice: &Audio) -> Result<(), RenderError> {
    if !(1..=MAX_SAMPLE_RATE).contains(&voice.sample_rate) {
        return invalid(format!(
            "reference_voice.sample_rate must be from 1 to {MAX_SAMPLE_RATE} Hz, got {}",
            voice.sample_rate
        ));
    }
    if !(1..=MAX_CHANNELS).contains(&voice.channels) {
        return invalid(format!(
            "reference_voice.channels must be from 1 to {MAX_CHANNELS}, got {}",
            voice.channels
        ));
    }
    if !voice
        .samples
        .len()
        .is_multiple_of(usize::from(voice.channels))
    {
        return invalid(format!(
            "reference_voice.samples must be a multiple of channels ({}), got {} samples",
            voice.channels,
            voice.samples.len()
        ));
    }
    Ok(())
}

fn invalid(message: String) -> Result<(), RenderError> {
    Err(RenderError::InvalidRequest(message))
}
