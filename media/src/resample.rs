//! Changing a signal's sample rate, for speech: a voice prompt into the
//! speech model's codec, a spoken line into a clip's audio rate.

/// Windowed-sinc resampling (Hann window, 16 zero crossings each side),
/// cut off at 95 % of the lower Nyquist: the guard band keeps what sits at
/// the very top of the band (a codec's buzz) from folding back or being
/// half-kept, so a level measured after resampling is the level heard.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || samples.is_empty() {
        return samples.to_vec();
    }
    const ZEROS: f64 = 16.0;
    let ratio = f64::from(to) / f64::from(from);
    let cutoff = 0.95 * ratio.min(1.0); // of the input's Nyquist
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
                let sinc = if arg.abs() < 1e-12 {
                    1.0
                } else {
                    arg.sin() / arg
                };
                let window = 0.5 + 0.5 * (std::f64::consts::PI * x / half_width).cos();
                acc += f64::from(*s) * sinc * window * cutoff;
            }
            acc as f32
        })
        .collect()
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
    fn what_is_above_the_new_band_is_removed() {
        // 10 kHz cannot exist at 16 kHz: rather than folding to 6 kHz, it goes.
        let out = resample(&tone(10_000.0, 48_000, 1.0), 48_000, 16_000);
        let rms = (out[500..15_500].iter().map(|s| s * s).sum::<f32>() / 15_000.0).sqrt();
        assert!(rms < 0.01, "{rms}");
    }
}
