//! Whisper's log-mel front end, as OpenAI's `log_mel_spectrogram` and
//! transformers' `WhisperFeatureExtractor` compute it: audio padded to 30 s,
//! a centred (reflect-padded) STFT with a periodic 400-point Hann window
//! every 160 samples, power spectrum, Slaney mel filters up to 8 kHz,
//! log10 floored at 1e-10, clamped to 8 below the maximum, scaled by
//! (x + 4) / 4. 3000 frames per window.
//!
//! candle-transformers' `pcm_to_mel` is whisper.cpp's variant (no centring,
//! a different frame count), so the features are computed here, in f64.
//! Frames made only of the zero padding have zero power and are not
//! transformed.

use std::f64::consts::PI;

pub const SAMPLE_RATE: usize = 16_000;
pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
/// Samples in one 30-second window.
pub const WINDOW_SAMPLES: usize = 30 * SAMPLE_RATE;
/// Mel frames in one window.
pub const FRAMES: usize = WINDOW_SAMPLES / HOP;
const BINS: usize = N_FFT / 2 + 1;

/// The front end for one number of mel bins (80, or 128 for large-v3).
pub struct LogMel {
    n_mels: usize,
    /// (n_mels, BINS), row-major.
    filters: Vec<f64>,
    window: Vec<f64>,
    /// cos and sin of 2πkn/N, (BINS, N_FFT) each.
    cos: Vec<f64>,
    sin: Vec<f64>,
}

impl LogMel {
    pub fn new(n_mels: usize) -> Self {
        let window = (0..N_FFT)
            .map(|n| 0.5 - 0.5 * (2.0 * PI * n as f64 / N_FFT as f64).cos())
            .collect();
        let mut cos = vec![0.0; BINS * N_FFT];
        let mut sin = vec![0.0; BINS * N_FFT];
        for k in 0..BINS {
            for n in 0..N_FFT {
                // (k·n) mod N keeps the angle small and exact.
                let angle = 2.0 * PI * ((k * n) % N_FFT) as f64 / N_FFT as f64;
                cos[k * N_FFT + n] = angle.cos();
                sin[k * N_FFT + n] = angle.sin();
            }
        }
        LogMel {
            n_mels,
            filters: slaney_filters(n_mels, SAMPLE_RATE, N_FFT),
            window,
            cos,
            sin,
        }
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Features of one window: at most 30 s of 16 kHz samples (longer input
    /// is cut), zero-padded. (n_mels, FRAMES), row-major.
    pub fn features(&self, samples: &[f32]) -> Vec<f32> {
        let len = samples.len().min(WINDOW_SAMPLES);
        let audio = &samples[..len];
        // The padded signal, centred: x[200..1] reversed, x, zeros to 30 s,
        // then the 30 s reflected.
        let pad = N_FFT / 2;
        let window = WINDOW_SAMPLES as isize;
        let at = |i: isize| -> f64 {
            let j = if i < 0 {
                -i
            } else if i >= window {
                2 * (window - 1) - i
            } else {
                i
            };
            audio.get(j as usize).map_or(0.0, |s| f64::from(*s))
        };
        // Frames beyond this see only zeros.
        let live = ((len + pad).div_ceil(HOP) + 1).min(FRAMES);
        let mut mel = vec![0f64; self.n_mels * FRAMES];
        let mut frame = vec![0f64; N_FFT];
        let mut power = vec![0f64; BINS];
        for t in 0..live {
            let start = (t * HOP) as isize - pad as isize;
            for (n, value) in frame.iter_mut().enumerate() {
                *value = at(start + n as isize) * self.window[n];
            }
            for (k, p) in power.iter_mut().enumerate() {
                let (c, s) = (
                    &self.cos[k * N_FFT..(k + 1) * N_FFT],
                    &self.sin[k * N_FFT..(k + 1) * N_FFT],
                );
                let (mut re, mut im) = (0.0, 0.0);
                for n in 0..N_FFT {
                    re += frame[n] * c[n];
                    im += frame[n] * s[n];
                }
                *p = re * re + im * im;
            }
            for m in 0..self.n_mels {
                let row = &self.filters[m * BINS..(m + 1) * BINS];
                mel[m * FRAMES + t] = row.iter().zip(&power).map(|(f, p)| f * p).sum();
            }
        }
        let log: Vec<f64> = mel.iter().map(|v| v.max(1e-10).log10()).collect();
        let floor = log.iter().copied().fold(f64::NEG_INFINITY, f64::max) - 8.0;
        log.iter()
            .map(|v| ((v.max(floor) + 4.0) / 4.0) as f32)
            .collect()
    }
}

fn hz_to_mel(hz: f64) -> f64 {
    // Slaney: linear below 1 kHz, logarithmic above.
    let f_sp = 200.0 / 3.0;
    let min_log_mel = 1000.0 / f_sp;
    let log_step = 6.4f64.ln() / 27.0;
    if hz >= 1000.0 {
        min_log_mel + (hz / 1000.0).ln() / log_step
    } else {
        hz / f_sp
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_mel = 1000.0 / f_sp;
    let log_step = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        1000.0 * (log_step * (mel - min_log_mel)).exp()
    } else {
        mel * f_sp
    }
}

/// Triangular Slaney-normalised filters from 0 Hz to half of `sample_rate`
/// over the `n_fft / 2 + 1` bins of an STFT, (n_mels, bins) row-major
/// (librosa's and torchaudio's `slaney` scale and norm).
pub(crate) fn slaney_filters(n_mels: usize, sample_rate: usize, n_fft: usize) -> Vec<f64> {
    let bins = n_fft / 2 + 1;
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel((sample_rate / 2) as f64));
    let edges: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut filters = vec![0.0; n_mels * bins];
    for m in 0..n_mels {
        let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
        let norm = 2.0 / (right - left);
        for k in 0..bins {
            let hz = (sample_rate / 2) as f64 * k as f64 / (bins - 1) as f64;
            let up = (hz - left) / (centre - left);
            let down = (right - hz) / (right - centre);
            filters[m * bins + k] = up.min(down).max(0.0) * norm;
        }
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_flat_and_a_tone_peaks_in_its_band() {
        let mel = LogMel::new(80);
        let flat = mel.features(&[0.0; 16_000]);
        assert_eq!(flat.len(), 80 * FRAMES);
        // log10(1e-10) = -10 everywhere: (-10 + 4) / 4.
        assert!(flat.iter().all(|v| (*v + 1.5).abs() < 1e-6));

        let tone: Vec<f32> = (0..16_000)
            .map(|n| (2.0 * PI * 1000.0 * n as f64 / 16_000.0).sin() as f32)
            .collect();
        let features = mel.features(&tone);
        let frame = 50;
        let column: Vec<f32> = (0..80).map(|m| features[m * FRAMES + frame]).collect();
        let peak = (0..80)
            .max_by(|a, b| column[*a].total_cmp(&column[*b]))
            .unwrap();
        // 1 kHz is mel 15 of 45.2 at 8 kHz: filter ≈ 15 / 45.2 × 81 - 1.
        let centre = |m: usize| mel_to_hz(hz_to_mel(8000.0) * (m + 1) as f64 / 81.0);
        assert!((centre(peak) - 1000.0).abs() < 60.0, "peak filter {peak}");
    }
}
