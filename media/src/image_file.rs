//! Still images (PNG, JPEG, WebP, ... whatever FFmpeg decodes) read into an
//! [`RgbImage`]: the reference image for image-to-video.

use std::path::Path;

use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{format, frame, media};

use crate::{ffmpeg_setup, RgbImage};

/// The largest width or height of a picture read as a reference image.
pub const MAX_IMAGE_SIDE: u32 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path} could not be opened as an image: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path} holds no picture")]
    NoPicture { path: String },
    #[error("{path} is not an image file (FFmpeg reads it as {format}); use a PNG, JPEG, WebP or similar picture")]
    NotAnImage { path: String, format: String },
    #[error("{path} is {width}×{height}; images up to {max}×{max} are accepted")]
    TooLarge {
        path: String,
        width: u32,
        height: u32,
        max: u32,
    },
}

/// Decodes the first picture in `path` as RGB24.
pub fn read_image(path: &Path) -> Result<RgbImage, ImageError> {
    let name = path.display().to_string();
    let unreadable = |e: ffmpeg_next::Error| ImageError::Unreadable {
        path: name.clone(),
        reason: e.to_string(),
    };
    ffmpeg_setup::init().map_err(unreadable)?;
    let mut input = format::input(path).map_err(unreadable)?;
    // Only still-image demuxers: a video container (MP4, MKV, ...) would
    // give its first frame, and may declare a size its frames do not have.
    let demuxer = input.format().name().to_string();
    if !is_image_demuxer(&demuxer) {
        return Err(ImageError::NotAnImage {
            path: name,
            format: demuxer,
        });
    }
    let stream = input
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| ImageError::NoPicture { path: name.clone() })?;
    let index = stream.index();
    let mut decoder = ffmpeg_next::codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(unreadable)?;
    // The header's size refuses a large picture before decoding it; the
    // decoded frame is checked again below (a header can say anything).
    too_large(&name, decoder.width(), decoder.height())?;
    let mut decoded = frame::Video::empty();
    let mut got = false;
    for (stream, packet) in input.packets() {
        if stream.index() != index {
            continue;
        }
        decoder.send_packet(&packet).map_err(unreadable)?;
        if decoder.receive_frame(&mut decoded).is_ok() {
            got = true;
            break;
        }
    }
    if !got {
        decoder.send_eof().map_err(unreadable)?;
        got = decoder.receive_frame(&mut decoded).is_ok();
    }
    if !got || decoded.width() == 0 || decoded.height() == 0 {
        return Err(ImageError::NoPicture { path: name });
    }
    // The header is no promise: check the picture actually decoded too.
    too_large(&name, decoded.width(), decoded.height())?;
    to_rgb(&decoded).map_err(unreadable)
}

/// Decodes a PNG held in memory (a cameo's reference frame, decrypted: it
/// must never touch the disk in the clear).
pub fn decode_png(bytes: &[u8]) -> Result<RgbImage, ImageError> {
    const NAME: &str = "the PNG in memory";
    let unreadable = |e: ffmpeg_next::Error| ImageError::Unreadable {
        path: NAME.to_string(),
        reason: e.to_string(),
    };
    ffmpeg_setup::init().map_err(unreadable)?;
    let codec = ffmpeg_next::decoder::find(ffmpeg_next::codec::Id::PNG)
        .ok_or(ffmpeg_next::Error::DecoderNotFound)
        .map_err(unreadable)?;
    let mut decoder = ffmpeg_next::codec::context::Context::new_with_codec(codec)
        .decoder()
        .video()
        .map_err(unreadable)?;
    decoder
        .send_packet(&ffmpeg_next::Packet::copy(bytes))
        .map_err(unreadable)?;
    decoder.send_eof().map_err(unreadable)?;
    let mut decoded = frame::Video::empty();
    if decoder.receive_frame(&mut decoded).is_err() || decoded.width() == 0 {
        return Err(ImageError::NoPicture {
            path: NAME.to_string(),
        });
    }
    too_large(NAME, decoded.width(), decoded.height())?;
    to_rgb(&decoded).map_err(unreadable)
}

fn too_large(path: &str, width: u32, height: u32) -> Result<(), ImageError> {
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(ImageError::TooLarge {
            path: path.to_string(),
            width,
            height,
            max: MAX_IMAGE_SIDE,
        });
    }
    Ok(())
}

/// FFmpeg's still-image demuxers: `image2` (by file name) and the
/// `*_pipe` probes (`png_pipe`, `jpeg_pipe`, `webp_pipe`, `ppm_pipe`, ...).
fn is_image_demuxer(name: &str) -> bool {
    name.split(',')
        .any(|n| n == "image2" || n == "image2pipe" || n.ends_with("_pipe"))
}

pub(crate) fn to_rgb(decoded: &frame::Video) -> Result<RgbImage, ffmpeg_next::Error> {
    let (width, height) = (decoded.width(), decoded.height());
    let mut scaler = scaling::Context::get(
        decoded.format(),
        width,
        height,
        Pixel::RGB24,
        width,
        height,
        scaling::Flags::BILINEAR,
    )?;
    let mut rgb = frame::Video::empty();
    scaler.run(decoded, &mut rgb)?;
    let row = width as usize * 3;
    let stride = rgb.stride(0);
    let plane = rgb.data(0);
    let mut image = RgbImage::new(width, height);
    for (y, dst) in image.data.chunks_exact_mut(row).enumerate() {
        if let Some(src) = plane.get(y * stride..y * stride + row) {
            dst.copy_from_slice(src);
        }
    }
    Ok(image)
}
