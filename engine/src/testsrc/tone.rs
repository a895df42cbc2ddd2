//! The soundtrack: a quiet steady tone with a short, louder beep at the
//! start of every second, so A/V sync and dropouts are easy to hear.

use crate::renderer::Audio;

pub const SAMPLE_RATE: u32 = 48_000;
const TONE_LEVEL: f64 = 0.15;
const BEEP_LEVEL: f64 = 0.5;
const BEEP_SECONDS: f64 = 0.1;
/// Linear fade at both ends of a beep, so it does not click.
const BEEP_RAMP_SECONDS: f64 = 0.005;

/// Mono audio exactly `frames / fps` seconds long (rounded down to a sample).
pub(crate) fn test_tone(tone_hz: f64, frames: u32, fps: u32) -> Audio {
    let sample_count = u64::from(frames) * u64::from(SAMPLE_RATE) / u64::from(fps.max(1));
    let rate = f64::from(SAMPLE_RATE);
    let beep_hz = tone_hz * 2.0;
    let samples = (0..sample_count)
        .map(|n| {
            let t = n as f64 / rate;
            let tone = TONE_LEVEL * (std::f64::consts::TAU * tone_hz * t).sin();
            let beep =
                BEEP_LEVEL * beep_envelope(t.fract()) * (std::f64::consts::TAU * beep_hz * t).sin();
            (tone + beep) as f32
        })
        .collect();
    Audio {
        sample_rate: SAMPLE_RATE,
        channels: 1,
        samples,
    }
}

/// 0..1 loudness of the beep at `into_second` seconds past a whole second.
fn beep_envelope(into_second: f64) -> f64 {
    if into_second >= BEEP_SECONDS {
        return 0.0;
    }
    let fade_in = into_second / BEEP_RAMP_SECONDS;
    let fade_out = (BEEP_SECONDS - into_second) / BEEP_RAMP_SECONDS;
    fade_in.min(fade_out).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_beeps() {
        let audio = test_tone(440.0, 48, 24);
        assert_eq!(audio.samples.len(), 96_000);
        let peak = |range: std::ops::Range<usize>| {
            audio.samples[range]
                .iter()
                .fold(0.0f32, |m, s| m.max(s.abs()))
        };
        // Beep in the first 100 ms of each second, tone only after it.
        assert!(peak(1_000..4_000) > 0.4);
        assert!(peak(10_000..40_000) < 0.2);
        assert!(peak(49_000..52_000) > 0.4);
    }
}
