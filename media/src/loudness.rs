//! Integrated loudness per ITU-R BS.1770-4 (LUFS): K-weighting (a high
//! shelf and a high-pass, designed for any sample rate as libebur128 does),
//! mean square over 400 ms blocks overlapping by 75 %, an absolute gate at
//! -70 LUFS and a relative gate 10 LU under the absolutely gated level.

use crate::Audio;

const ABSOLUTE_GATE: f64 = -70.0;
const RELATIVE_GATE: f64 = -10.0;

/// One biquad, direct form I.
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    fn run(&self, x: &[f64]) -> Vec<f64> {
        let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
        x.iter()
            .map(|&x0| {
                let y0 = self.b[0] * x0 + self.b[1] * x1 + self.b[2] * x2
                    - self.a[0] * y1
                    - self.a[1] * y2;
                (x2, x1, y2, y1) = (x1, x0, y1, y0);
                y0
            })
            .collect()
    }
}

/// BS.1770's two K-weighting stages at `rate` (the standard gives their
/// 48 kHz coefficients; these analogue prototypes reproduce them).
fn k_weighting(rate: f64) -> [Biquad; 2] {
    let (f0, gain_db, q) = (1681.974450955533, 3.999843853973347, 0.7071752369554196);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let vh = 10f64.powf(gain_db / 20.0);
    let vb = vh.powf(0.4996667741545416);
    let a0 = 1.0 + k / q + k * k;
    let shelf = Biquad {
        b: [
            (vh + vb * k / q + k * k) / a0,
            2.0 * (k * k - vh) / a0,
            (vh - vb * k / q + k * k) / a0,
        ],
        a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    };
    let (f0, q) = (38.13547087602444, 0.5003270373238773);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let a0 = 1.0 + k / q + k * k;
    let high_pass = Biquad {
        b: [1.0, -2.0, 1.0],
        a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    };
    [shelf, high_pass]
}

/// Integrated loudness in LUFS; `None` when nothing passes the gates
/// (silence, or shorter than one 400 ms block). Channels are weighted 1
/// (BS.1770's weights for left, right and centre; reel has no surround).
pub fn integrated_loudness(audio: &Audio) -> Option<f64> {
    let channels = usize::from(audio.channels);
    let rate = f64::from(audio.sample_rate);
    if channels == 0 || rate <= 0.0 {
        return None;
    }
    let filters = k_weighting(rate);
    let weighted: Vec<Vec<f64>> = (0..channels)
        .map(|c| {
            let x: Vec<f64> = audio
                .samples
                .iter()
                .skip(c)
                .step_by(channels)
                .map(|s| f64::from(*s))
                .collect();
            filters[1].run(&filters[0].run(&x))
        })
        .collect();
    let len = weighted[0].len();
    let block = (0.4 * rate).round() as usize;
    let step = (0.1 * rate).round() as usize;
    if len < block || step == 0 {
        return None;
    }
    // Per block: the sum over channels of the mean square.
    let powers: Vec<f64> = (0..=(len - block) / step)
        .map(|i| {
            weighted
                .iter()
                .map(|y| {
                    y[i * step..i * step + block]
                        .iter()
                        .map(|v| v * v)
                        .sum::<f64>()
                        / block as f64
                })
                .sum()
        })
        .collect();
    let loudness = |power: f64| -0.691 + 10.0 * power.log10();
    let gated_mean = |gate: f64| {
        let kept: Vec<f64> = powers
            .iter()
            .copied()
            .filter(|p| loudness(*p) > gate)
            .collect();
        (!kept.is_empty()).then(|| kept.iter().sum::<f64>() / kept.len() as f64)
    };
    let absolute = gated_mean(ABSOLUTE_GATE)?;
    let relative = gated_mean(loudness(absolute) + RELATIVE_GATE)?;
    Some(loudness(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, channels: u16, seconds: f64, peak_dbfs: f64) -> Audio {
        let amplitude = 10f64.powf(peak_dbfs / 20.0);
        let samples = (0..(f64::from(rate) * seconds) as usize)
            .flat_map(|i| {
                let s = (amplitude
                    * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / f64::from(rate)).sin())
                    as f32;
                std::iter::repeat_n(s, usize::from(channels))
            })
            .collect();
        Audio {
            sample_rate: rate,
            channels,
            samples,
        }
    }

    /// EBU Tech 3341 cases 1 and 2: a 1 kHz stereo sine at -23 (-33) dBFS
    /// peak per channel measures -23.0 (-33.0) ± 0.1 LUFS.
    #[test]
    fn ebu_tech_3341_sines_measure_their_level() {
        for (peak, expected) in [(-23.0, -23.0), (-33.0, -33.0)] {
            let measured = integrated_loudness(&sine(48_000, 2, 20.0, peak)).unwrap();
            assert!(
                (measured - expected).abs() < 0.1,
                "{peak} dBFS: {measured} LUFS"
            );
        }
        // One channel carries half the power: 3 LU less. Another rate, the same level.
        let mono = integrated_loudness(&sine(24_000, 1, 5.0, -23.0)).unwrap();
        assert!((mono - -26.01).abs() < 0.1, "{mono}");
    }

    #[test]
    fn silence_and_quiet_passages_are_gated_out() {
        assert_eq!(integrated_loudness(&sine(48_000, 1, 2.0, -200.0)), None);
        // Loud then as long far quieter: the quiet part is under the relative
        // gate and does not pull the level down (ungated it would, by 3 LU).
        let mut audio = sine(48_000, 1, 10.0, -20.0);
        let quiet = sine(48_000, 1, 10.0, -50.0);
        let loud_only = integrated_loudness(&audio).unwrap();
        audio.samples.extend(quiet.samples);
        let both = integrated_loudness(&audio).unwrap();
        assert!((both - loud_only).abs() < 0.2, "{both} vs {loud_only}");
    }
}
