//! A voice prompt's audio made ready for the codec: mono, at the codec's
//! rate (`reel_media::resample`), trimmed to where there is sound, at a
//! steady level.

use reel_media::Audio;

/// A peak below this (-60 dBFS) is silence.
pub const SILENCE_PEAK: f32 = 1e-3;

/// RMS the speech is brought to (-20 dBFS), never pushing a peak past 0.95.
const TARGET_RMS: f32 = 0.1;
const MAX_PEAK: f32 = 0.95;

/// Interleaved channels → their mean.
pub fn downmix(audio: &Audio) -> Vec<f32> {
    let channels = usize::from(audio.channels.max(1));
    audio
        .samples
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// The span from the first to the last sample louder than a tenth of the
/// peak (at least silence level), with 50 ms kept either side; `None` if
/// the whole clip is silent.
pub fn trim_to_sound(samples: &[f32], sample_rate: u32) -> Option<&[f32]> {
    let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if peak < SILENCE_PEAK {
        return None;
    }
    let threshold = (peak * 0.1).max(SILENCE_PEAK);
    let first = samples.iter().position(|s| s.abs() >= threshold)?;
    let last = samples.iter().rposition(|s| s.abs() >= threshold)?;
    let margin = sample_rate as usize / 20;
    Some(&samples[first.saturating_sub(margin)..(last + margin + 1).min(samples.len())])
}

/// Scales to the target RMS, less if a peak would pass `MAX_PEAK`.
pub fn normalise(samples: &mut [f32]) {
    let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt();
    let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if rms <= 0.0 || peak <= 0.0 {
        return;
    }
    let gain = (TARGET_RMS / rms).min(MAX_PEAK / peak);
    for s in samples {
        *s *= gain;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, seconds: f64) -> Vec<f32> {
        (0..(f64::from(rate) * seconds) as usize)
            .map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin() as f32)
            .collect()
    }

    #[test]
    fn trimming_finds_the_sound_and_refuses_silence() {
        let mut clip = vec![0.0; 24_000];
        clip[10_000..12_000].copy_from_slice(&tone(200.0, 24_000, 2000.0 / 24_000.0));
        let trimmed = trim_to_sound(&clip, 24_000).unwrap();
        assert!(trimmed.len() < 2000 + 2 * 1200 + 10 && trimmed.len() > 1900);
        assert!(trim_to_sound(&vec![1e-4; 24_000], 24_000).is_none());
    }

    #[test]
    fn normalising_reaches_the_target_level() {
        let mut quiet: Vec<f32> = tone(200.0, 24_000, 0.5).iter().map(|s| s * 0.01).collect();
        normalise(&mut quiet);
        let rms = (quiet.iter().map(|s| s * s).sum::<f32>() / quiet.len() as f32).sqrt();
        assert!((rms - TARGET_RMS).abs() < 1e-3, "{rms}");
    }
}
