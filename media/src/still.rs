//! A still picture through H.264 and back: LTX-2 was trained on first frames
//! taken from compressed video, and its pipelines compress a conditioning
//! picture the same way (one frame, libx264 at a fixed CRF, yuv420p) before
//! encoding it (ltx-pipelines' `preprocess`, diffusers' `image_crf`).

use crate::decode::{sample_frames, DecodeError, DecodeLimits};
use crate::encode::{encode_mp4, EncodeError, EncodeOptions};
use crate::frames::{Audio, Rendered, RgbImage};

#[derive(Debug, thiserror::Error)]
pub enum StillError {
    #[error("the picture is too small to compress ({0}x{1})")]
    TooSmall(u32, u32),
    #[error("cannot make a scratch file: {0}")]
    Scratch(std::io::Error),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("the compressed picture has no frame")]
    NoFrame,
}

/// `image` cropped to even sides, encoded as one H.264 frame at `crf`
/// (preset veryfast) and decoded again; `crf` 0 returns it unchanged.
pub fn h264_round_trip(image: &RgbImage, crf: u8) -> Result<RgbImage, StillError> {
    if crf == 0 {
        return Ok(image.clone());
    }
    let (width, height) = (image.width / 2 * 2, image.height / 2 * 2);
    if width < 2 || height < 2 {
        return Err(StillError::TooSmall(image.width, image.height));
    }
    let mut even = RgbImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            if let Some(rgb) = image.pixel(x, y) {
                even.set_pixel(x, y, rgb);
            }
        }
    }
    let scratch = tempfile::tempdir().map_err(StillError::Scratch)?;
    let path = scratch.path().join("still.mp4");
    let clip = Rendered {
        width,
        height,
        fps: 1,
        frames: vec![even],
        audio: Audio {
            sample_rate: 48_000,
            channels: 1,
            samples: Vec::new(),
        },
        notes: Vec::new(),
    };
    let options = EncodeOptions {
        crf,
        preset: "veryfast".into(),
        ..EncodeOptions::default()
    };
    encode_mp4(&clip, &path, &options)?;
    let limits = DecodeLimits {
        max_file_bytes: 64 << 20,
        max_seconds: 10.0,
        max_video_pixels: u64::from(width) * u64::from(height),
        frame_rate: 1.0,
        max_frames: 1,
        frame_max_side: width.max(height),
    };
    let mut frames = sample_frames(&path, &limits)?;
    if frames.is_empty() {
        return Err(StillError::NoFrame);
    }
    Ok(frames.swap_remove(0).image)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(width: u32, height: u32) -> RgbImage {
        let mut image = RgbImage::new(width, height);
        for y in 0..height {
            for x in 0..width {
                let v = ((x * 7 + y * 3) % 256) as u8;
                image.set_pixel(x, y, [v, 255 - v, ((x / 4 + y / 4) % 2 * 200) as u8]);
            }
        }
        image
    }

    #[test]
    fn compression_changes_the_picture_a_little_and_keeps_even_sides() {
        let image = pattern(67, 48);
        assert_eq!(h264_round_trip(&image, 0).unwrap(), image);
        let compressed = h264_round_trip(&image, 33).unwrap();
        assert_eq!((compressed.width, compressed.height), (66, 48));
        let mut total = 0u64;
        let mut changed = 0usize;
        for y in 0..48 {
            for x in 0..66 {
                let (a, b) = (image.pixel(x, y).unwrap(), compressed.pixel(x, y).unwrap());
                for c in 0..3 {
                    let d = (i32::from(a[c]) - i32::from(b[c])).unsigned_abs();
                    total += u64::from(d);
                    changed += usize::from(d > 0);
                }
            }
        }
        let mean = total as f64 / (66.0 * 48.0 * 3.0);
        assert!(changed > 0, "CRF 33 must lose something");
        assert!(mean < 40.0, "mean error {mean} is not a compressed copy");
    }
}
