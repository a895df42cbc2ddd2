//! A file's best video track as RGB frames sampled at a fixed rate, scaled
//! down to a bounded size: what the face checks look at.

use std::path::Path;

use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{codec, frame, media, Packet};

use super::{corrupt, open, DecodeError, DecodeLimits};
use crate::RgbImage;

/// One sampled frame and when it is shown.
#[derive(Clone, Debug, PartialEq)]
pub struct SampledFrame {
    pub seconds: f64,
    pub image: RgbImage,
}

/// Frames of the best video track of `path`, one per `1 / frame_rate`
/// seconds from the start, at most `max_frames` of them.
pub fn sample_frames(path: &Path, limits: &DecodeLimits) -> Result<Vec<SampledFrame>, DecodeError> {
    if !(limits.frame_rate > 0.0 && limits.frame_rate.is_finite()) {
        return Err(DecodeError::Unreadable {
            path: path.to_path_buf(),
            reason: format!("the sampling rate {} is not positive", limits.frame_rate),
        });
    }
    let mut input = open(path, limits)?;
    let stream = input
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| DecodeError::NoVideo {
            path: path.to_path_buf(),
        })?;
    let index = stream.index();
    let time_base = f64::from(stream.time_base());
    let codec_name = stream.parameters().id().name().to_string();
    let mut decoder = codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(|e| DecodeError::Unsupported {
            path: path.to_path_buf(),
            kind: "video",
            codec: codec_name,
            reason: e.to_string(),
        })?;
    // The header's frame size, before the decoder allocates for it.
    check_size(path, decoder.width(), decoder.height(), limits)?;

    let mut picker = Picker {
        path,
        limits,
        time_base,
        next: 0.0,
        decoded: 0,
        frames: Vec::new(),
    };
    let mut packet = Packet::empty();
    while picker.frames.len() < limits.max_frames {
        match packet.read(&mut input) {
            Ok(()) if packet.stream() == index => {
                decoder
                    .send_packet(&packet)
                    .map_err(|e| corrupt(path, "decoding video", e))?;
                picker.drain(&mut decoder)?;
            }
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => {
                decoder
                    .send_eof()
                    .map_err(|e| corrupt(path, "decoding video", e))?;
                picker.drain(&mut decoder)?;
                break;
            }
            Err(e) => return Err(corrupt(path, "reading packets", e)),
        }
    }
    if picker.frames.is_empty() {
        return Err(DecodeError::Nothing {
            path: path.to_path_buf(),
            kind: "video",
        });
    }
    Ok(picker.frames)
}

fn check_size(
    path: &Path,
    width: u32,
    height: u32,
    limits: &DecodeLimits,
) -> Result<(), DecodeError> {
    if u64::from(width) * u64::from(height) > limits.max_video_pixels {
        return Err(DecodeError::FrameTooLarge {
            path: path.to_path_buf(),
            width,
            height,
            max: limits.max_video_pixels,
        });
    }
    Ok(())
}

struct Picker<'a> {
    path: &'a Path,
    limits: &'a DecodeLimits,
    time_base: f64,
    /// When the next frame is due, in seconds.
    next: f64,
    decoded: u64,
    frames: Vec<SampledFrame>,
}

impl Picker<'_> {
    fn drain(&mut self, decoder: &mut ffmpeg_next::decoder::Video) -> Result<(), DecodeError> {
        let mut decoded = frame::Video::empty();
        while decoder.receive_frame(&mut decoded).is_ok() {
            self.decoded += 1;
            let (width, height) = (decoded.width(), decoded.height());
            // Streams may change size mid-way; the header is no promise.
            check_size(self.path, width, height, self.limits)?;
            if width == 0 || height == 0 {
                continue;
            }
            let seconds = decoded
                .timestamp()
                .map_or(self.next, |ts| ts as f64 * self.time_base);
            if seconds > self.limits.max_seconds {
                return Err(DecodeError::TooLong {
                    path: self.path.to_path_buf(),
                    seconds,
                    max: self.limits.max_seconds,
                });
            }
            if seconds + 1e-6 < self.next || self.frames.len() >= self.limits.max_frames {
                continue;
            }
            let image = to_rgb(&decoded, self.limits.frame_max_side)
                .map_err(|e| corrupt(self.path, "converting a frame to RGB", e))?;
            self.frames.push(SampledFrame { seconds, image });
            // The next point of a fixed grid (no drift from frame times).
            let step = 1.0 / self.limits.frame_rate;
            while self.next <= seconds + 1e-6 {
                self.next += step;
            }
        }
        Ok(())
    }
}

/// The frame as RGB24, scaled (area averaging) so its longer side is at
/// most `max_side`.
fn to_rgb(decoded: &frame::Video, max_side: u32) -> Result<RgbImage, ffmpeg_next::Error> {
    let (width, height) = (decoded.width(), decoded.height());
    let longer = width.max(height);
    let (out_w, out_h) = if longer > max_side.max(1) {
        let scale = f64::from(max_side) / f64::from(longer);
        (
            ((f64::from(width) * scale).round() as u32).max(1),
            ((f64::from(height) * scale).round() as u32).max(1),
        )
    } else {
        (width, height)
    };
    let mut scaler = scaling::Context::get(
        decoded.format(),
        width,
        height,
        Pixel::RGB24,
        out_w,
        out_h,
        scaling::Flags::AREA,
    )?;
    let mut rgb = frame::Video::empty();
    scaler.run(decoded, &mut rgb)?;
    let row = out_w as usize * 3;
    let stride = rgb.stride(0);
    let plane = rgb.data(0);
    let mut image = RgbImage::new(out_w, out_h);
    for (y, dst) in image.data.chunks_exact_mut(row).enumerate() {
        if let Some(src) = plane.get(y * stride..y * stride + row) {
            dst.copy_from_slice(src);
        }
    }
    Ok(image)
}
