//! LTX-Video's causal video VAE (diffusers' `AutoencoderKLLTXVideo`) in candle: the
//! 0.9.0/0.9.1 and 0.9.5+ (distilled 0.9.6/0.9.8) layouts, encode to a latent
//! distribution, decode with timestep conditioning and injected noise, and decode in
//! temporal and spatial tiles blended as diffusers blends them.
//!
//! Tensors are `[batch, channels, frames, height, width]`; video is in -1..1. With the
//! released configs 32x32 pixels and 8 frames (after the first) make one latent, so
//! `8n + 1` frames of `32h x 32w` encode to `[b, 128, n + 1, h, w]`.

mod blocks;
pub mod config;
mod conv2d_cpu_direct;
mod conv3d;
mod conv3d_cpu;
mod conv3d_cpu_direct;
#[cfg(target_arch = "x86_64")]
mod conv3d_cpu_direct_avx2;
#[cfg(target_arch = "x86_64")]
mod conv3d_cpu_direct_avx512;
mod conv3d_cpu_wide;
mod cpu_ops;
mod decoder;
mod encoder;
mod layers;
mod plan;
mod resnet;
mod sampling;
mod tiling;

use std::path::Path;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

use crate::ltx::load;
pub use crate::ltx::load::LoadError;
use crate::ltx::weights::weight_files;
pub use config::{Config, DownBlockType, DownsampleType};
pub(crate) use conv2d_cpu_direct::conv2d_direct;
pub use conv3d::CausalConv3d;
pub(crate) use cpu_ops::norm_modulate_silu;
pub use layers::{DecoderNoise, NoiseSequence, ZeroNoise};
pub use plan::{cpu_memory_budget, UnknownTiling, VaeTiling};
pub use tiling::{tiled_decode, Tiling};

use decoder::Decoder;
use encoder::Encoder;

/// The weights file `save_pretrained` writes in `vae/`.
pub const WEIGHTS_FILE: &str = "diffusion_pytorch_model.safetensors";
/// Its name without `.safetensors` (shards add an `.index.json` to it).
const WEIGHTS_BASE: &str = "diffusion_pytorch_model";

/// The encoder's output: a diagonal Gaussian per latent element.
#[derive(Debug, Clone)]
pub struct LatentDist {
    mean: Tensor,
    /// Clamped to -30..20 as diffusers does; the same for every latent channel.
    logvar: Tensor,
}

impl LatentDist {
    /// Splits the encoder output `[b, latent + 1, ...]`: mean channels and the shared log-variance.
    fn from_encoder_output(h: &Tensor) -> Result<Self> {
        let latent = h.dim(1)? - 1;
        let mean = h.narrow(1, 0, latent)?;
        let logvar = h
            .narrow(1, latent, 1)?
            .clamp(-30f32, 20f32)?
            .broadcast_as(mean.shape())?
            .contiguous()?;
        Ok(Self { mean, logvar })
    }

    /// The mean (what the image-to-video pipelines use by default).
    pub fn mode(&self) -> &Tensor {
        &self.mean
    }

    pub fn mean(&self) -> &Tensor {
        &self.mean
    }

    pub fn logvar(&self) -> &Tensor {
        &self.logvar
    }

    /// `mean + exp(logvar / 2) * noise`, with standard-normal `noise` shaped like the mean.
    pub fn sample(&self, noise: &Tensor) -> Result<Tensor> {
        let std = (&self.logvar * 0.5)?.exp()?;
        &self.mean + std.mul(&noise.to_dtype(self.mean.dtype())?)?
    }
}

/// diffusers' `AutoencoderKLLTXVideo`.
#[derive(Debug, Clone)]
pub struct AutoencoderKl {
    encoder: Encoder,
    decoder: Decoder,
    latents_mean: Tensor,
    latents_std: Tensor,
    config: Config,
}

impl AutoencoderKl {
    /// `vb` is the root of the VAE's weights (`encoder.*`, `decoder.*`, `latents_mean`, `latents_std`).
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::Msg)?;
        Ok(Self {
            encoder: Encoder::new(cfg, vb.pp("encoder"))?,
            decoder: Decoder::new(cfg, vb.pp("decoder"))?,
            latents_mean: vb.get(cfg.latent_channels, "latents_mean")?,
            latents_std: vb.get(cfg.latent_channels, "latents_std")?,
            config: cfg.clone(),
        })
    }

    /// Loads `dir/config.json` and `dir/diffusion_pytorch_model.safetensors`
    /// (or its shards) of a diffusers `vae/`.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> std::result::Result<Self, LoadError> {
        let config = Config::from_file(&dir.join("config.json"))?;
        let files = weight_files(dir, WEIGHTS_BASE)?;
        let vb = load::var_builder("vae", &files, dtype, device)?;
        Self::new(&config, vb).map_err(|e| LoadError::weights(&files, e))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Per-channel mean of the latents (`[latent_channels]`), for the pipelines' normalisation.
    pub fn latents_mean(&self) -> &Tensor {
        &self.latents_mean
    }

    /// Per-channel standard deviation of the latents (`[latent_channels]`).
    pub fn latents_std(&self) -> &Tensor {
        &self.latents_std
    }

    pub fn scaling_factor(&self) -> f64 {
        self.config.scaling_factor
    }

    pub fn spatial_compression_ratio(&self) -> usize {
        self.config.spatial_compression_ratio()
    }

    pub fn temporal_compression_ratio(&self) -> usize {
        self.config.temporal_compression_ratio()
    }

    /// `[b, 3, f, h, w]` video in -1..1 -> the latent distribution over `[b, latent, f', h', w']`.
    pub fn encode(&self, video: &Tensor) -> Result<LatentDist> {
        LatentDist::from_encoder_output(&self.encoder.forward(video)?)
    }

    /// `[b, latent, f, h, w]` (un-normalised latents) -> `[b, 3, f', h', w']` video.
    ///
    /// `timestep` (`[b]` or one value) is required by the timestep-conditioned decoders of
    /// 0.9.1+ and ignored otherwise. `noise` gives the fields for the decoder's noise
    /// injection (pass [`ZeroNoise`] when the config injects none).
    pub fn decode(
        &self,
        z: &Tensor,
        timestep: Option<&Tensor>,
        noise: &mut dyn DecoderNoise,
    ) -> Result<Tensor> {
        let batch = z.dim(0)?;
        // diffusers broadcasts a one-element timestep over the batch inside the embedders.
        let timestep = match timestep {
            Some(t) if t.elem_count() == 1 && batch > 1 => Some(t.flatten_all()?.repeat(batch)?),
            Some(t) => Some(t.flatten_all()?),
            None => None,
        };
        self.decoder.forward(z, timestep.as_ref(), noise)
    }
}
