//! How the reference media of a cameo are kept: the face frame as PNG
//! (which `reel_media::read_image` reads back), the speech as 16 kHz mono
//! 16-bit PCM WAV, the face embedding as f32 little-endian bytes.

use reel_media::RgbImage;

/// An 8-bit RGB PNG of `image` (`reel_media::encode_png`, which also keeps
/// the pictures attached to /video).
pub fn png(image: &RgbImage) -> std::io::Result<Vec<u8>> {
    reel_media::encode_png(image)
        .map_err(|_| std::io::Error::other("the frame's size and pixels disagree"))
}

/// A mono 16-bit PCM WAV of `samples` (in -1..1, clipped) at `rate` Hz.
pub fn wav(samples: &[f32], rate: u32) -> Vec<u8> {
    let data_bytes = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_bytes).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_bytes.to_le_bytes());
    for sample in samples {
        let value = (sample.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        out.extend_from_slice(&value.to_le_bytes());
    }
    out
}

/// The embedding's values as little-endian f32 bytes.
pub fn embedding_bytes(embedding: &[f32]) -> Vec<u8> {
    embedding.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_reads_back_as_the_same_pixels() {
        let mut image = RgbImage::new(7, 5);
        for (i, byte) in image.data.iter_mut().enumerate() {
            *byte = (i * 37 % 251) as u8;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frame.png");
        std::fs::write(&path, png(&image).unwrap()).unwrap();
        assert_eq!(reel_media::read_image(&path).unwrap(), image);
    }

    #[test]
    fn a_wav_has_a_pcm_header_and_clipped_samples() {
        let wav = wav(&[0.0, 1.0, -1.0, 2.0], 16_000);
        assert_eq!(wav.len(), 44 + 8);
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(&wav[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 16_000);
        assert_eq!(u16::from_le_bytes(wav[34..36].try_into().unwrap()), 16);
        let samples: Vec<i16> = wav[44..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(samples, [0, 32767, -32767, 32767]);
        assert_eq!(embedding_bytes(&[1.0]), 1.0f32.to_le_bytes());
    }
}
