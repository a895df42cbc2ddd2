//! Everything about a clip that its seed decides.

use super::prng::SplitMix64;

pub(crate) struct Look {
    /// Hue of the first colour bar, degrees.
    pub(crate) hue: f32,
    /// Bars scroll by this many 1/64ths of the frame width per frame.
    pub(crate) scroll_speed: u32,
    /// Where along its bouncing path the square starts, 0..1 of the travel.
    pub(crate) square_phase: (f32, f32),
    pub(crate) tone_hz: f64,
}

impl Look {
    pub(crate) fn from_seed(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let hue = rng.below(360) as f32;
        let scroll_speed = 1 + rng.below(3);
        let square_phase = (
            rng.below(1000) as f32 / 1000.0,
            rng.below(1000) as f32 / 1000.0,
        );
        // A440 moved by up to three semitones either way.
        let semitones = rng.below(7) as f64 - 3.0;
        let tone_hz = 440.0 * (semitones / 12.0).exp2();
        Look {
            hue,
            scroll_speed,
            square_phase,
            tone_hz,
        }
    }
}
