//! The audio VAE's input: a log-mel spectrogram as ltx-core's
//! `AudioProcessor.waveform_to_mel` computes it with torchaudio — a centred
//! (reflect-padded) STFT with a periodic Hann window of `n_fft` samples every
//! `hop` samples, magnitude (power 1), Slaney mel filters from 0 Hz to
//! Nyquist with Slaney normalisation, `ln(max(x, 1e-5))` — laid out as the
//! encoder takes it, [B, channels, frames, mel bins].

use candle_core::{DType, Device, Result, Tensor};

use crate::perception::speech::mel::slaney_filters;

/// ltx-core's STFT size for the audio VAE (`filter_length`).
pub const N_FFT: usize = 1024;

/// The front end of one audio VAE.
pub struct LogMel {
    n_fft: usize,
    hop: usize,
    /// [n_fft, 2 · bins]: windowed cosines, then windowed (negated) sines.
    basis: Tensor,
    /// [bins, n_mels]
    filters: Tensor,
    bins: usize,
}

impl LogMel {
    pub fn new(sample_rate: usize, n_fft: usize, hop: usize, n_mels: usize) -> Result<Self> {
        let bins = n_fft / 2 + 1;
        let window: Vec<f64> = (0..n_fft)
            .map(|n| 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / n_fft as f64).cos())
            .collect();
        let mut basis = vec![0f32; n_fft * 2 * bins];
        for (n, w) in window.iter().enumerate() {
            for k in 0..bins {
                let phase = std::f64::consts::TAU * (k * n % n_fft) as f64 / n_fft as f64;
                basis[n * 2 * bins + k] = (w * phase.cos()) as f32;
                basis[n * 2 * bins + bins + k] = (-w * phase.sin()) as f32;
            }
        }
        let filters = slaney_filters(n_mels, sample_rate, n_fft);
        // (n_mels, bins) → (bins, n_mels)
        let mut transposed = vec![0f32; bins * n_mels];
        for m in 0..n_mels {
            for k in 0..bins {
                transposed[k * n_mels + m] = filters[m * bins + k] as f32;
            }
        }
        Ok(LogMel {
            n_fft,
            hop,
            basis: Tensor::from_vec(basis, (n_fft, 2 * bins), &Device::Cpu)?,
            filters: Tensor::from_vec(transposed, (bins, n_mels), &Device::Cpu)?,
            bins,
        })
    }

    /// Frames of a `samples`-long signal: `1 + samples / hop` (centred).
    pub fn frames(&self, samples: usize) -> usize {
        1 + samples / self.hop
    }

    /// `channels` (each the same length) → [1, channels, frames, n_mels] f32 on `device`.
    pub fn spectrogram(&self, channels: &[Vec<f32>], device: &Device) -> Result<Tensor> {
        let pad = self.n_fft / 2;
        let mut per_channel = Vec::with_capacity(channels.len());
        for signal in channels {
            if signal.len() <= pad {
                candle_core::bail!(
                    "{} samples are too few for a {}-point STFT",
                    signal.len(),
                    self.n_fft
                );
            }
            let padded = reflect_pad(signal, pad);
            let frames = self.frames(signal.len());
            let mut windows = vec![0f32; frames * self.n_fft];
            for (t, row) in windows.chunks_mut(self.n_fft).enumerate() {
                row.copy_from_slice(&padded[t * self.hop..t * self.hop + self.n_fft]);
            }
            let windows = Tensor::from_vec(windows, (frames, self.n_fft), &Device::Cpu)?;
            let spectrum = windows.matmul(&self.basis)?; // (frames, 2·bins)
            let re = spectrum.narrow(1, 0, self.bins)?;
            let im = spectrum.narrow(1, self.bins, self.bins)?;
            let magnitude = (re.sqr()? + im.sqr()?)?.sqrt()?;
            let mel = magnitude.matmul(&self.filters)?; // (frames, n_mels)
            per_channel.push(mel.clamp(1e-5f32, f32::MAX)?.log()?);
        }
        Tensor::stack(&per_channel, 0)?
            .unsqueeze(0)?
            .to_dtype(DType::F32)?
            .to_device(device)
    }
}

/// torch's `reflect` padding: the edge sample is not repeated.
fn reflect_pad(signal: &[f32], pad: usize) -> Vec<f32> {
    let n = signal.len();
    let mut out = Vec::with_capacity(n + 2 * pad);
    out.extend((1..=pad).rev().map(|i| signal[i]));
    out.extend_from_slice(signal);
    out.extend((0..pad).map(|i| signal[n - 2 - i]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_padding_mirrors_without_the_edge() {
        assert_eq!(
            reflect_pad(&[1.0, 2.0, 3.0, 4.0], 2),
            vec![3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]
        );
    }

    #[test]
    fn a_tone_lights_its_band() {
        let mel = LogMel::new(16_000, 1024, 160, 64).unwrap();
        let tone: Vec<f32> = (0..16_000)
            .map(|i| (std::f64::consts::TAU * 1000.0 * i as f64 / 16_000.0).sin() as f32)
            .collect();
        let spec = mel.spectrogram(&[tone], &Device::Cpu).unwrap();
        assert_eq!(spec.dims(), &[1, 1, 101, 64]);
        let frame = spec
            .get(0)
            .unwrap()
            .get(0)
            .unwrap()
            .get(50)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let loudest = frame
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
            .unwrap();
        // 1 kHz is 15 Slaney mels; 8 kHz is 15 + ln 8 / (ln 6.4 / 27) ≈ 45.2,
        // split into 65 steps for 64 filters: the peak is filter ≈ 15 / 0.696 − 1 ≈ 20.5.
        assert!((20..=21).contains(&loudest), "peak in filter {loudest}");
    }
}
