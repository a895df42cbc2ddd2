//! `LTX2VocoderWithBWE`: the first-stage vocoder, a causal log-mel analysis
//! of its waveform (the STFT bases and mel filters are checkpoint buffers),
//! a second vocoder (the bandwidth extender) on that spectrogram, and its
//! output added to the first stage resampled by a Hann-sinc filter.

use std::path::Path;

use candle_core::{DType, Device, Result, Tensor};
use serde::Deserialize;

use super::filters::UpSample1d;
use super::{Activation, Config, FinalActivation, Vocoder};
use crate::ltx2::load::{self, LoadError, DIFFUSERS_WEIGHTS};

/// `LTX2VocoderWithBWE`'s config, with diffusers' defaults (LTX-2.3).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BweConfig {
    pub in_channels: usize,
    pub hidden_channels: usize,
    pub out_channels: usize,
    pub upsample_kernel_sizes: Vec<usize>,
    pub upsample_factors: Vec<usize>,
    pub resnet_kernel_sizes: Vec<usize>,
    pub resnet_dilations: Vec<Vec<usize>>,
    pub act_fn: Activation,
    pub leaky_relu_negative_slope: f64,
    pub antialias: bool,
    pub antialias_ratio: usize,
    pub antialias_kernel_size: usize,
    pub final_act_fn: Option<FinalActivation>,
    pub final_bias: bool,
    pub bwe_in_channels: usize,
    pub bwe_hidden_channels: usize,
    pub bwe_out_channels: usize,
    pub bwe_upsample_kernel_sizes: Vec<usize>,
    pub bwe_upsample_factors: Vec<usize>,
    pub bwe_resnet_kernel_sizes: Vec<usize>,
    pub bwe_resnet_dilations: Vec<Vec<usize>>,
    pub bwe_act_fn: Activation,
    pub bwe_leaky_relu_negative_slope: f64,
    pub bwe_antialias: bool,
    pub bwe_antialias_ratio: usize,
    pub bwe_antialias_kernel_size: usize,
    pub bwe_final_act_fn: Option<FinalActivation>,
    pub bwe_final_bias: bool,
    pub filter_length: usize,
    pub hop_length: usize,
    pub window_length: usize,
    pub num_mel_channels: usize,
    pub input_sampling_rate: u32,
    pub output_sampling_rate: u32,
}

impl Default for BweConfig {
    fn default() -> Self {
        let dilations = vec![vec![1, 3, 5], vec![1, 3, 5], vec![1, 3, 5]];
        Self {
            in_channels: 128,
            hidden_channels: 1536,
            out_channels: 2,
            upsample_kernel_sizes: vec![11, 4, 4, 4, 4, 4],
            upsample_factors: vec![5, 2, 2, 2, 2, 2],
            resnet_kernel_sizes: vec![3, 7, 11],
            resnet_dilations: dilations.clone(),
            act_fn: Activation::Snakebeta,
            leaky_relu_negative_slope: 0.1,
            antialias: true,
            antialias_ratio: 2,
            antialias_kernel_size: 12,
            final_act_fn: None,
            final_bias: false,
            bwe_in_channels: 128,
            bwe_hidden_channels: 512,
            bwe_out_channels: 2,
            bwe_upsample_kernel_sizes: vec![12, 11, 4, 4, 4],
            bwe_upsample_factors: vec![6, 5, 2, 2, 2],
            bwe_resnet_kernel_sizes: vec![3, 7, 11],
            bwe_resnet_dilations: dilations,
            bwe_act_fn: Activation::Snakebeta,
            bwe_leaky_relu_negative_slope: 0.1,
            bwe_antialias: true,
            bwe_antialias_ratio: 2,
            bwe_antialias_kernel_size: 12,
            bwe_final_act_fn: None,
            bwe_final_bias: false,
            filter_length: 512,
            hop_length: 80,
            window_length: 512,
            num_mel_channels: 64,
            input_sampling_rate: 16000,
            output_sampling_rate: 48000,
        }
    }
}

impl BweConfig {
    fn stage_one(&self) -> Config {
        Config {
            in_channels: self.in_channels,
            hidden_channels: self.hidden_channels,
            out_channels: self.out_channels,
            upsample_kernel_sizes: self.upsample_kernel_sizes.clone(),
            upsample_factors: self.upsample_factors.clone(),
            resnet_kernel_sizes: self.resnet_kernel_sizes.clone(),
            resnet_dilations: self.resnet_dilations.clone(),
            act_fn: self.act_fn,
            leaky_relu_negative_slope: self.leaky_relu_negative_slope,
            antialias: self.antialias,
            antialias_ratio: self.antialias_ratio,
            antialias_kernel_size: self.antialias_kernel_size,
            final_act_fn: self.final_act_fn,
            final_bias: self.final_bias,
            output_sampling_rate: self.input_sampling_rate,
        }
    }

    fn extender(&self) -> Config {
        Config {
            in_channels: self.bwe_in_channels,
            hidden_channels: self.bwe_hidden_channels,
            out_channels: self.bwe_out_channels,
            upsample_kernel_sizes: self.bwe_upsample_kernel_sizes.clone(),
            upsample_factors: self.bwe_upsample_factors.clone(),
            resnet_kernel_sizes: self.bwe_resnet_kernel_sizes.clone(),
            resnet_dilations: self.bwe_resnet_dilations.clone(),
            act_fn: self.bwe_act_fn,
            leaky_relu_negative_slope: self.bwe_leaky_relu_negative_slope,
            antialias: self.bwe_antialias,
            antialias_ratio: self.bwe_antialias_ratio,
            antialias_kernel_size: self.bwe_antialias_kernel_size,
            final_act_fn: self.bwe_final_act_fn,
            final_bias: self.bwe_final_bias,
            output_sampling_rate: self.output_sampling_rate,
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        self.stage_one().check()?;
        self.extender().check()?;
        if self.hop_length == 0 || self.input_sampling_rate == 0 {
            return Err("hop_length and input_sampling_rate must be positive".into());
        }
        if !self
            .output_sampling_rate
            .is_multiple_of(self.input_sampling_rate)
        {
            return Err("output_sampling_rate must be a multiple of input_sampling_rate".into());
        }
        if self.window_length < self.hop_length {
            return Err("window_length must be at least hop_length".into());
        }
        Ok(())
    }
}

/// diffusers' `LTX2VocoderWithBWE`.
#[derive(Debug, Clone)]
pub struct VocoderWithBwe {
    vocoder: Vocoder,
    bwe_generator: Vocoder,
    /// [2F, 1, filter_length]: windowed cosines, then sines.
    forward_basis: Tensor,
    /// [mel, F]
    mel_basis: Tensor,
    resampler: UpSample1d,
    config: BweConfig,
}

impl VocoderWithBwe {
    pub fn new(cfg: &BweConfig, vb: candle_nn::VarBuilder) -> Result<Self> {
        cfg.check().map_err(candle_core::Error::msg)?;
        let freqs = cfg.filter_length / 2 + 1;
        let stft = vb.pp("mel_stft");
        Ok(Self {
            vocoder: Vocoder::new(&cfg.stage_one(), vb.pp("vocoder"))?,
            bwe_generator: Vocoder::new(&cfg.extender(), vb.pp("bwe_generator"))?,
            forward_basis: stft
                .pp("stft_fn")
                .get((2 * freqs, 1, cfg.filter_length), "forward_basis")?,
            mel_basis: stft.get((cfg.num_mel_channels, freqs), "mel_basis")?,
            resampler: UpSample1d::hann(
                (cfg.output_sampling_rate / cfg.input_sampling_rate) as usize,
                vb.dtype(),
                vb.device(),
            )?,
            config: cfg.clone(),
        })
    }

    /// Loads a diffusers `vocoder/` folder holding an `LTX2VocoderWithBWE`.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> std::result::Result<Self, LoadError> {
        let config: BweConfig = load::read_config(dir, "LTX2VocoderWithBWE")?;
        config
            .check()
            .map_err(|reason| load::invalid_config(dir, "LTX2VocoderWithBWE", reason))?;
        let vb = load::var_builder(dir, DIFFUSERS_WEIGHTS, dtype, device)?;
        load::build(dir, || Self::new(&config, vb))
    }

    pub fn config(&self) -> &BweConfig {
        &self.config
    }

    /// Causal log-mel spectrogram of `wave` [N, samples] → [N, mel, frames].
    fn log_mel(&self, wave: &Tensor) -> Result<Tensor> {
        let cfg = &self.config;
        let basis = self.forward_basis.to_dtype(wave.dtype())?;
        // (n, 1, samples) padded on the left only: each frame ends at its hop
        let wave = wave
            .unsqueeze(1)?
            .pad_with_zeros(2, cfg.window_length - cfg.hop_length, 0)?;
        let spec = wave.conv1d(&basis, 0, cfg.hop_length, 1, 1)?;
        let freqs = spec.dim(1)? / 2;
        let real = spec.narrow(1, 0, freqs)?;
        let imag = spec.narrow(1, freqs, freqs)?;
        let magnitude = (real.sqr()? + imag.sqr()?)?.sqrt()?;
        let mel = self
            .mel_basis
            .to_dtype(magnitude.dtype())?
            .broadcast_matmul(&magnitude)?;
        mel.clamp(1e-5f32, f32::MAX)?.log()
    }

    /// `mel` [B, C, time, mel bins] → waveform [B, C, samples] at the output rate.
    pub fn forward(&self, mel: &Tensor) -> Result<Tensor> {
        let cfg = &self.config;
        let x = self.vocoder.forward(mel)?;
        let (b, c, samples) = x.dims3()?;
        // Whole hops, for a whole number of analysis frames (the reference's
        // padding branch names a missing attribute; this is what it means).
        let remainder = samples % cfg.hop_length;
        let x = if remainder != 0 {
            x.pad_with_zeros(2, 0, cfg.hop_length - remainder)?
        } else {
            x
        };
        let padded = x.dim(2)?;
        let log_mel = self.log_mel(&x.reshape((b * c, padded))?)?;
        let (_, bins, frames) = log_mel.dims3()?;
        // (b, c, frames, bins) as the extender takes spectrograms
        let log_mel = log_mel.reshape((b, c, bins, frames))?.transpose(2, 3)?;
        let residual = self.bwe_generator.forward(&log_mel)?;
        let skip = self.resampler.forward(&x)?;
        let out_samples =
            samples * cfg.output_sampling_rate as usize / cfg.input_sampling_rate as usize;
        let waveform = (residual + skip)?.clamp(-1f32, 1f32)?;
        let len = waveform.dim(2)?;
        waveform.narrow(2, 0, out_samples.min(len))
    }
}
