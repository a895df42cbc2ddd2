//! A synthetic clip for the media tests: moving colour bars over seeded
//! grain (so the encoder has real work) and a 48 kHz mono tone.

use reel_media::{Audio, Rendered, RgbImage};

pub const SAMPLE_RATE: u32 = 48_000;

/// `frames` frames of `width`×`height` at `fps`, with a tone exactly
/// `frames / fps` seconds long (rounded down to a sample).
pub fn pattern_clip(width: u32, height: u32, frames: u32, fps: u32, seed: u64) -> Rendered {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut grain = move || {
        // xorshift64: a few grey levels of grain, the same for a seed.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 24) as u8
    };
    let bars: [[u8; 3]; 6] = [
        [230, 40, 40],
        [40, 200, 60],
        [50, 80, 220],
        [230, 220, 50],
        [200, 60, 200],
        [60, 210, 210],
    ];
    let images = (0..frames)
        .map(|index| {
            let mut image = RgbImage::new(width, height);
            for y in 0..height {
                let shade = (y * 40 / height.max(1)) as u8;
                for x in 0..width {
                    let bar = ((x + index * 2) * 6 / width.max(1)) as usize % bars.len();
                    let g = grain();
                    let rgb = bars[bar].map(|c| c.saturating_sub(shade).saturating_add(g));
                    image.set_pixel(x, y, rgb);
                }
            }
            image
        })
        .collect();
    let sample_count = u64::from(frames) * u64::from(SAMPLE_RATE) / u64::from(fps.max(1));
    let samples = (0..sample_count)
        .map(|n| {
            let t = n as f64 / f64::from(SAMPLE_RATE);
            (0.2 * (std::f64::consts::TAU * 440.0 * t).sin()) as f32
        })
        .collect();
    Rendered {
        width,
        height,
        fps,
        frames: images,
        audio: Audio {
            sample_rate: SAMPLE_RATE,
            channels: 1,
            samples,
        },
        notes: Vec::new(),
    }
}
