//! `vae/config.json` of a diffusers `AutoencoderKLLTXVideo`.

use std::path::Path;

use serde::Deserialize;

use crate::ltx::load::{read_json, LoadError};

/// Which down block the encoder uses (diffusers' `down_block_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DownBlockType {
    /// 0.9.0/0.9.1: resnets, a strided conv, a resnet where the width changes.
    #[serde(rename = "LTXVideoDownBlock3D")]
    LtxVideo,
    /// 0.9.5+: resnets, then a space-to-depth downsampler that also changes the width.
    #[serde(rename = "LTXVideo095DownBlock3D")]
    LtxVideo095,
}

/// How an `LTXVideo095DownBlock3D` downsamples (diffusers' `downsample_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DownsampleType {
    /// A causal conv with stride 2 in time, height and width.
    Conv,
    /// Space-to-depth by 2 in height and width.
    Spatial,
    /// Space-to-depth by 2 in time.
    Temporal,
    /// Space-to-depth by 2 in time, height and width.
    Spatiotemporal,
}

impl DownsampleType {
    /// (time, height, width) strides of the downsampler.
    pub fn stride(self) -> (usize, usize, usize) {
        match self {
            Self::Conv | Self::Spatiotemporal => (2, 2, 2),
            Self::Spatial => (1, 2, 2),
            Self::Temporal => (2, 1, 1),
        }
    }
}

/// The fields of diffusers' `AutoencoderKLLTXVideo` config, with its defaults (the 0.9.0 model).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    pub in_channels: usize,
    pub out_channels: usize,
    pub latent_channels: usize,
    pub block_out_channels: Vec<usize>,
    pub down_block_types: Vec<DownBlockType>,
    pub decoder_block_out_channels: Vec<usize>,
    pub layers_per_block: Vec<usize>,
    pub decoder_layers_per_block: Vec<usize>,
    pub spatio_temporal_scaling: Vec<bool>,
    pub decoder_spatio_temporal_scaling: Vec<bool>,
    pub decoder_inject_noise: Vec<bool>,
    pub downsample_type: Vec<DownsampleType>,
    pub upsample_residual: Vec<bool>,
    pub upsample_factor: Vec<usize>,
    pub timestep_conditioning: bool,
    pub patch_size: usize,
    pub patch_size_t: usize,
    pub resnet_norm_eps: f64,
    pub scaling_factor: f64,
    pub encoder_causal: bool,
    pub decoder_causal: bool,
    pub spatial_compression_ratio: Option<usize>,
    pub temporal_compression_ratio: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            in_channels: 3,
            out_channels: 3,
            latent_channels: 128,
            block_out_channels: vec![128, 256, 512, 512],
            down_block_types: vec![DownBlockType::LtxVideo; 4],
            decoder_block_out_channels: vec![128, 256, 512, 512],
            layers_per_block: vec![4, 3, 3, 3, 4],
            decoder_layers_per_block: vec![4, 3, 3, 3, 4],
            spatio_temporal_scaling: vec![true, true, true, false],
            decoder_spatio_temporal_scaling: vec![true, true, true, false],
            decoder_inject_noise: vec![false; 5],
            downsample_type: vec![DownsampleType::Conv; 4],
            upsample_residual: vec![false; 4],
            upsample_factor: vec![1; 4],
            timestep_conditioning: false,
            patch_size: 4,
            patch_size_t: 1,
            resnet_norm_eps: 1e-6,
            scaling_factor: 1.0,
            encoder_causal: true,
            decoder_causal: false,
            spatial_compression_ratio: None,
            temporal_compression_ratio: None,
        }
    }
}

impl Config {
    /// Reads and checks `vae/config.json`.
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        let config: Self = read_json(path, "the VAE's config (AutoencoderKLLTXVideo)")?;
        config
            .validate()
            .map_err(|message| LoadError::invalid(path, message))?;
        Ok(config)
    }

    /// Pixels per latent along height and width (32 for every released LTX-Video VAE).
    pub fn spatial_compression_ratio(&self) -> usize {
        self.spatial_compression_ratio
            .unwrap_or_else(|| self.patch_size * 2usize.pow(self.scaled_blocks() as u32))
    }

    /// Frames per latent frame after the first (8 for every released LTX-Video VAE).
    pub fn temporal_compression_ratio(&self) -> usize {
        self.temporal_compression_ratio
            .unwrap_or_else(|| self.patch_size_t * 2usize.pow(self.scaled_blocks() as u32))
    }

    fn scaled_blocks(&self) -> usize {
        self.spatio_temporal_scaling.iter().filter(|s| **s).count()
    }

    /// Whether the encoder is the 0.9.5+ one (diffusers decides by the last down block type).
    pub(crate) fn is_095_encoder(&self) -> bool {
        self.down_block_types.last() == Some(&DownBlockType::LtxVideo095)
    }

    /// The list-length and divisibility rules the diffusers constructor relies on.
    pub fn validate(&self) -> Result<(), String> {
        let encoder_blocks = if self.is_095_encoder() {
            self.block_out_channels.len().saturating_sub(1)
        } else {
            self.block_out_channels.len()
        };
        if encoder_blocks == 0 {
            return Err("block_out_channels is empty".into());
        }
        let at_least = |name: &str, len: usize, need: usize| {
            if len < need {
                Err(format!(
                    "{name} has {len} entries, expected at least {need}"
                ))
            } else {
                Ok(())
            }
        };
        at_least(
            "down_block_types",
            self.down_block_types.len(),
            encoder_blocks,
        )?;
        at_least(
            "spatio_temporal_scaling",
            self.spatio_temporal_scaling.len(),
            encoder_blocks,
        )?;
        at_least(
            "layers_per_block",
            self.layers_per_block.len(),
            encoder_blocks + 1,
        )?;
        if self.is_095_encoder() {
            at_least(
                "downsample_type",
                self.downsample_type.len(),
                encoder_blocks,
            )?;
        }
        let decoder_blocks = self.decoder_block_out_channels.len();
        if decoder_blocks == 0 {
            return Err("decoder_block_out_channels is empty".into());
        }
        at_least(
            "decoder_spatio_temporal_scaling",
            self.decoder_spatio_temporal_scaling.len(),
            decoder_blocks,
        )?;
        at_least(
            "decoder_layers_per_block",
            self.decoder_layers_per_block.len(),
            decoder_blocks + 1,
        )?;
        at_least(
            "decoder_inject_noise",
            self.decoder_inject_noise.len(),
            decoder_blocks + 1,
        )?;
        at_least(
            "upsample_residual",
            self.upsample_residual.len(),
            decoder_blocks,
        )?;
        at_least(
            "upsample_factor",
            self.upsample_factor.len(),
            decoder_blocks,
        )?;
        if self.patch_size == 0 || self.patch_size_t == 0 || self.upsample_factor.contains(&0) {
            return Err("patch sizes and upsample factors must be positive".into());
        }
        let mut widths = self
            .block_out_channels
            .iter()
            .chain(&self.decoder_block_out_channels);
        if self.in_channels == 0 || self.out_channels == 0 || widths.any(|c| *c == 0) {
            return Err("channel counts must be positive".into());
        }
        if self.latent_channels < 2 {
            return Err("latent_channels must be at least 2".into());
        }
        Ok(())
    }
}
