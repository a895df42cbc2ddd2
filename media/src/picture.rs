//! A picture a chat user sent, held in memory: only PNG and JPEG are
//! accepted, told by their content (never by a file name or a declared
//! type); the size the header declares is refused before anything is
//! decoded, and the decoded picture is checked against the header again.
//! [`encode_png`] re-encodes the checked pixels, so nothing else from the
//! upload (metadata, trailing data, other frames) is kept.

use std::io::Write;

use ffmpeg_next::codec::Id;
use ffmpeg_next::frame;
use flate2::write::ZlibEncoder;
use flate2::{Compression, Crc};

use crate::image_file::to_rgb;
use crate::{ffmpeg_setup, RgbImage, MAX_IMAGE_SIDE};

/// What a picture's content says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureFormat {
    Png,
    Jpeg,
}

/// Why a picture is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PictureError {
    #[error("the picture is a {0}; only PNG and JPEG are accepted")]
    Unsupported(&'static str),
    #[error("the data is not a picture")]
    NotAPicture,
    #[error("the picture is cut short or damaged")]
    Damaged,
    #[error("the picture is {width}×{height}; pictures up to {max}×{max} are accepted")]
    TooLarge { width: u32, height: u32, max: u32 },
}

/// The format by the content's first bytes. Formats we know but do not
/// accept are named, so the refusal can say what to send instead.
pub fn sniff_picture(bytes: &[u8]) -> Result<PictureFormat, PictureError> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(PictureFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(PictureFormat::Jpeg)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Err(PictureError::Unsupported("GIF"))
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Err(PictureError::Unsupported("WebP"))
    } else if bytes.starts_with(b"BM") {
        Err(PictureError::Unsupported("BMP"))
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        Err(PictureError::Unsupported("HEIF/AVIF or video"))
    } else {
        Err(PictureError::NotAPicture)
    }
}

/// Width and height as the header declares them, read without decoding.
pub fn picture_size(bytes: &[u8]) -> Result<(PictureFormat, u32, u32), PictureError> {
    let format = sniff_picture(bytes)?;
    let (width, height) = match format {
        PictureFormat::Png => png_size(bytes)?,
        PictureFormat::Jpeg => jpeg_size(bytes)?,
    };
    if width == 0 || height == 0 {
        return Err(PictureError::Damaged);
    }
    too_large(width, height)?;
    Ok((format, width, height))
}

/// Decodes a PNG or JPEG held in memory: the format by content, the size
/// from the header before decoding, the structure checked whole (a PNG
/// must reach its end chunk, a JPEG its end marker), the decoded size
/// against the header's.
pub fn decode_picture(bytes: &[u8]) -> Result<RgbImage, PictureError> {
    let (format, width, height) = picture_size(bytes)?;
    let codec = match format {
        PictureFormat::Png => {
            png_complete(bytes)?;
            Id::PNG
        }
        PictureFormat::Jpeg => {
            jpeg_complete(bytes)?;
            Id::MJPEG
        }
    };
    let image = decode_with(codec, bytes)?;
    if (image.width, image.height) != (width, height) {
        return Err(PictureError::Damaged);
    }
    Ok(image)
}

fn decode_with(codec: Id, bytes: &[u8]) -> Result<RgbImage, PictureError> {
    let damaged = |_: ffmpeg_next::Error| PictureError::Damaged;
    ffmpeg_setup::init().map_err(damaged)?;
    let codec = ffmpeg_next::decoder::find(codec).ok_or(PictureError::Damaged)?;
    let mut decoder = ffmpeg_next::codec::context::Context::new_with_codec(codec)
        .decoder()
        .video()
        .map_err(damaged)?;
    decoder
        .send_packet(&ffmpeg_next::Packet::copy(bytes))
        .map_err(damaged)?;
    decoder.send_eof().map_err(damaged)?;
    let mut decoded = frame::Video::empty();
    if decoder.receive_frame(&mut decoded).is_err() || decoded.width() == 0 {
        return Err(PictureError::Damaged);
    }
    too_large(decoded.width(), decoded.height())?;
    to_rgb(&decoded).map_err(damaged)
}

fn too_large(width: u32, height: u32) -> Result<(), PictureError> {
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(PictureError::TooLarge {
            width,
            height,
            max: MAX_IMAGE_SIDE,
        });
    }
    Ok(())
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// IHDR is the first chunk: signature (8), length (4), "IHDR" (4), width, height.
fn png_size(bytes: &[u8]) -> Result<(u32, u32), PictureError> {
    if bytes.get(12..16) != Some(b"IHDR") || be32(bytes, 8) != Some(13) {
        return Err(PictureError::Damaged);
    }
    let width = be32(bytes, 16).ok_or(PictureError::Damaged)?;
    let height = be32(bytes, 20).ok_or(PictureError::Damaged)?;
    Ok((width, height))
}

/// Every chunk lies within the data, its CRC matches, and `IEND` ends it.
fn png_complete(bytes: &[u8]) -> Result<(), PictureError> {
    let mut at = 8;
    let mut frames = 0;
    loop {
        let length = be32(bytes, at).ok_or(PictureError::Damaged)? as usize;
        let kind = bytes.get(at + 4..at + 8).ok_or(PictureError::Damaged)?;
        let data_end = (at + 8).checked_add(length).ok_or(PictureError::Damaged)?;
        let stored = be32(bytes, data_end).ok_or(PictureError::Damaged)?;
        let mut crc = Crc::new();
        crc.update(&bytes[at + 4..data_end]);
        if crc.sum() != stored {
            return Err(PictureError::Damaged);
        }
        match kind {
            b"IEND" => return Ok(()),
            // An animated PNG is not a still picture.
            b"acTL" => return Err(PictureError::Unsupported("animated PNG")),
            b"IDAT" => frames += 1,
            _ => {}
        }
        if frames > 1_000_000 {
            return Err(PictureError::Damaged);
        }
        at = data_end + 4;
    }
}

/// The first start-of-frame segment's size (SOF0..SOF15 but DHT, JPG, DAC).
fn jpeg_size(bytes: &[u8]) -> Result<(u32, u32), PictureError> {
    let mut at = 2;
    loop {
        // Markers may be padded with 0xFF.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        if bytes.get(at) != Some(&0xFF) {
            return Err(PictureError::Damaged);
        }
        let marker = *bytes.get(at + 1).ok_or(PictureError::Damaged)?;
        match marker {
            // Stand-alone markers carry no length.
            0x01 | 0xD0..=0xD7 => {
                at += 2;
                continue;
            }
            // End of image or start of scan before any frame header.
            0xD9 | 0xDA => return Err(PictureError::Damaged),
            _ => {}
        }
        let length = bytes
            .get(at + 2..at + 4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or(PictureError::Damaged)?;
        if length < 2 {
            return Err(PictureError::Damaged);
        }
        let is_frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            let segment = bytes.get(at + 4..at + 9).ok_or(PictureError::Damaged)?;
            let height = u32::from(u16::from_be_bytes([segment[1], segment[2]]));
            let width = u32::from(u16::from_be_bytes([segment[3], segment[4]]));
            return Ok((width, height));
        }
        at += 2 + length;
    }
}

/// A JPEG ends with its end-of-image marker (trailing padding allowed).
fn jpeg_complete(bytes: &[u8]) -> Result<(), PictureError> {
    let end = bytes
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(PictureError::Damaged)?;
    if end < 1 || bytes[end - 1..=end] != [0xFF, 0xD9] {
        return Err(PictureError::Damaged);
    }
    Ok(())
}

/// An 8-bit RGB PNG of `image` (no filtering; zlib at the default level).
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>, PictureError> {
    let row_bytes = image.width as usize * 3;
    if row_bytes == 0 || image.height == 0 || !image.has_consistent_size() {
        return Err(PictureError::Damaged);
    }
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    for row in image.data.chunks_exact(row_bytes) {
        // Writing into a Vec cannot fail.
        let _ = z.write_all(&[0]); // filter type: none
        let _ = z.write_all(row);
    }
    let idat = z.finish().map_err(|_| PictureError::Damaged)?;
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&image.width.to_be_bytes());
    header.extend_from_slice(&image.height.to_be_bytes());
    // 8 bits per channel, colour type 2 (RGB), deflate, adaptive filters,
    // no interlace.
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    Ok(out)
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32) -> RgbImage {
        let mut image = RgbImage::new(width, height);
        for (i, px) in image.data.chunks_exact_mut(3).enumerate() {
            px.copy_from_slice(&[(i % 251) as u8, (i % 13) as u8 * 19, 200]);
        }
        image
    }

    #[test]
    fn a_png_round_trips_exactly() {
        let image = gradient(37, 21);
        let png = encode_png(&image).unwrap();
        assert_eq!(picture_size(&png).unwrap(), (PictureFormat::Png, 37, 21));
        assert_eq!(decode_picture(&png).unwrap().data, image.data);
    }

    #[test]
    fn refusals_are_told_apart() {
        let png = encode_png(&gradient(16, 16)).unwrap();
        assert_eq!(
            decode_picture(&png[..png.len() - 20]),
            Err(PictureError::Damaged)
        );
        assert_eq!(
            decode_picture(b"GIF89a\x01\x00\x01\x00"),
            Err(PictureError::Unsupported("GIF"))
        );
        assert_eq!(
            decode_picture(b"RIFF\x10\x00\x00\x00WEBPVP8 "),
            Err(PictureError::Unsupported("WebP"))
        );
        assert_eq!(
            decode_picture(b"hello, not a picture"),
            Err(PictureError::NotAPicture)
        );
        // A header claiming 100000×100000 is refused before any decoding.
        let mut huge = png.clone();
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        assert_eq!(
            picture_size(&huge),
            Err(PictureError::TooLarge {
                width: 100_000,
                height: 100_000,
                max: MAX_IMAGE_SIDE
            })
        );
    }
}
