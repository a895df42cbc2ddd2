//! A voice prompt's audio made ready for the codec: mono, at the codec's
//! rate, trimmed to where there is sound, at a steady level.

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

/// Windowed-sinc resampling (Hann window, 16 zero crossings each side,
/// cut-off at the lower Nyquist): plenty for speech into a codec.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || samples.is_empty() {
        return samples.to_vec();
    }
    const ZEROS: f64 = 16.0;
    let ratio = f64::from(to) / f64::from(from);
    let cutoff = ratio.min(1.0); // of the input's Nyquist
    let half_width = ZEROS / cutoff; // input samples each side
    let out_len = (samples.len() as f64 * ratio).round() as usize;
    (0..out_len)
        .map(|n| {
            let centre = n as f64 / ratio;
            let first = (centre - half_width).ceil().max(0.0) as usize;
            let last = ((centre + half_width).floor() as usize).min(samples.len() - 1);
            let mut acc = 0.0;
            for (i, s) in samples.iter().enumerate().take(last + 1).skip(first) {
                let x = i as f64 - centre;
                let arg = std::f64::consts::PI * x * cutoff;
                let sinc = if arg.abs() < 1e-12 { 1.0 } else { arg.sin() / arg };
                let window = 0.5 + 0.5 * (std::f64::consts::PI * x / half_width).cos();
                acc += f64::from(*s) * sinc * window * cutoff;
            }
            acc as f32
        })
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
    fn resampling_keeps_a_tone_and_its_length() {
        let out = resample(&tone(440.0, 16_000, 1.0), 16_000, 24_000);
        assert_eq!(out.len(), 24_000);
        let expected = tone(440.0, 24_000, 1.0);
        // Away from the edges (the filter's half width) it is the same tone.
        let worst = out[1000..23_000]
            .iter()
            .zip(&expected[1000..23_000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 0.01, "{worst}");
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
