//! `vae/config.json` of a diffusers `AutoencoderKLLTX2Video`.

use serde::Deserialize;

/// How a down block reduces (`downsample_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DownsampleType {
    /// A causal conv with stride 2 in time, height and width (same width).
    Conv,
    /// Space-to-depth by 2 in height and width.
    Spatial,
    /// Space-to-depth by 2 in time.
    Temporal,
    /// Space-to-depth by 2 in time, height and width.
    Spatiotemporal,
}

/// How an up block enlarges (`upsample_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsampleType {
    Spatial,
    Temporal,
    Spatiotemporal,
}

/// (time, height, width) factors of a resampler.
pub fn stride_of(spatial: bool, temporal: bool) -> (usize, usize, usize) {
    (
        if temporal { 2 } else { 1 },
        if spatial { 2 } else { 1 },
        if spatial { 2 } else { 1 },
    )
}

impl DownsampleType {
    pub fn stride(self) -> (usize, usize, usize) {
        match self {
            Self::Conv | Self::Spatiotemporal => (2, 2, 2),
            Self::Spatial => (1, 2, 2),
            Self::Temporal => (2, 1, 1),
        }
    }
}

impl UpsampleType {
    pub fn stride(self) -> (usize, usize, usize) {
        match self {
            Self::Spatial => stride_of(true, false),
            Self::Temporal => stride_of(false, true),
            Self::Spatiotemporal => stride_of(true, true),
        }
    }
}

/// Spatial padding of the convolutions (`*_spatial_padding_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaddingMode {
    Zeros,
    Reflect,
}

/// A value given once for all blocks or per block.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PerBlock<T> {
    One(T),
    Each(Vec<T>),
}

impl<T: Clone> PerBlock<T> {
    pub fn expand(&self, blocks: usize) -> Vec<T> {
        match self {
            Self::One(v) => vec![v.clone(); blocks],
            Self::Each(v) => v.clone(),
        }
    }
}

/// The fields of diffusers' `AutoencoderKLLTX2Video` config, with its defaults (LTX-2.0).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    pub in_channels: usize,
    pub out_channels: usize,
    pub latent_channels: usize,
    pub block_out_channels: Vec<usize>,
    pub decoder_block_out_channels: Vec<usize>,
    pub layers_per_block: Vec<usize>,
    pub decoder_layers_per_block: Vec<usize>,
    pub spatio_temporal_scaling: PerBlock<bool>,
    pub decoder_spatio_temporal_scaling: PerBlock<bool>,
    pub decoder_inject_noise: PerBlock<bool>,
    pub downsample_type: Vec<DownsampleType>,
    pub upsample_type: Vec<UpsampleType>,
    pub upsample_residual: PerBlock<bool>,
    pub upsample_factor: Vec<usize>,
    pub timestep_conditioning: bool,
    pub patch_size: usize,
    pub patch_size_t: usize,
    pub resnet_norm_eps: f64,
    pub scaling_factor: f64,
    pub encoder_causal: bool,
    pub decoder_causal: bool,
    pub encoder_spatial_padding_mode: PaddingMode,
    pub decoder_spatial_padding_mode: PaddingMode,
    pub spatial_compression_ratio: Option<usize>,
    pub temporal_compression_ratio: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            in_channels: 3,
            out_channels: 3,
            latent_channels: 128,
            block_out_channels: vec![256, 512, 1024, 2048],
            decoder_block_out_channels: vec![256, 512, 1024],
            layers_per_block: vec![4, 6, 6, 2, 2],
            decoder_layers_per_block: vec![5, 5, 5, 5],
            spatio_temporal_scaling: PerBlock::Each(vec![true; 4]),
            decoder_spatio_temporal_scaling: PerBlock::Each(vec![true; 3]),
            decoder_inject_noise: PerBlock::Each(vec![false; 4]),
            downsample_type: vec![
                DownsampleType::Spatial,
                DownsampleType::Temporal,
                DownsampleType::Spatiotemporal,
                DownsampleType::Spatiotemporal,
            ],
            upsample_type: vec![UpsampleType::Spatiotemporal; 3],
            upsample_residual: PerBlock::Each(vec![true; 3]),
            upsample_factor: vec![2, 2, 2],
            timestep_conditioning: false,
            patch_size: 4,
            patch_size_t: 1,
            resnet_norm_eps: 1e-6,
            scaling_factor: 1.0,
            encoder_causal: true,
            decoder_causal: true,
            encoder_spatial_padding_mode: PaddingMode::Zeros,
            decoder_spatial_padding_mode: PaddingMode::Reflect,
            spatial_compression_ratio: None,
            temporal_compression_ratio: None,
        }
    }
}

impl Config {
    /// Checks the lengths agree and that the model uses only what is implemented.
    pub fn check(&self) -> std::result::Result<(), String> {
        let down = self.block_out_channels.len();
        let up = self.decoder_block_out_channels.len();
        if self.layers_per_block.len() != down + 1 {
            return Err(format!(
                "layers_per_block has {} entries; expected {} (one per down block and the mid block)",
                self.layers_per_block.len(),
                down + 1
            ));
        }
        if self.decoder_layers_per_block.len() != up + 1 {
            return Err(format!(
                "decoder_layers_per_block has {} entries; expected {}",
                self.decoder_layers_per_block.len(),
                up + 1
            ));
        }
        if self.spatio_temporal_scaling.expand(down).len() < down
            || self.downsample_type.len() < down
            || self.decoder_spatio_temporal_scaling.expand(up).len() < up
            || self.upsample_type.len() < up
            || self.upsample_residual.expand(up).len() < up
            || self.upsample_factor.len() < up
        {
            return Err("a per-block list is shorter than the blocks it describes".into());
        }
        if self.timestep_conditioning {
            return Err("timestep_conditioning is not supported (LTX-2's VAEs have none)".into());
        }
        if self.decoder_inject_noise.expand(up + 1).iter().any(|&n| n) {
            return Err("decoder_inject_noise is not supported (LTX-2's VAEs inject none)".into());
        }
        if self.patch_size == 0 || self.patch_size_t == 0 {
            return Err("patch sizes must be positive".into());
        }
        Ok(())
    }

    fn scaling_steps(&self) -> usize {
        self.spatio_temporal_scaling
            .expand(self.block_out_channels.len())
            .iter()
            .filter(|&&s| s)
            .count()
    }

    /// Estimated peak bytes of one whole decode of latents `[1, c, frames, height,
    /// width]` in a dtype of `dtype_bytes`, as LTX-Video's estimate
    /// (`ltx::vae::Config::decode_peak_bytes`): the largest activation five times
    /// over plus the largest conv column matrix (nine spatial taps, capped by the
    /// conv's frame chunking). An estimate to choose whole or tiled by.
    pub fn decode_peak_bytes(
        &self,
        frames: usize,
        height: usize,
        width: usize,
        dtype_bytes: usize,
    ) -> u64 {
        const COLUMN_CAP_ELEMENTS: u64 = 1 << 28;
        let blocks = self.decoder_block_out_channels.len();
        let channels: Vec<u64> = self
            .decoder_block_out_channels
            .iter()
            .rev()
            .map(|&c| c as u64)
            .collect();
        let scaling: Vec<bool> = self
            .decoder_spatio_temporal_scaling
            .expand(blocks)
            .into_iter()
            .rev()
            .collect();
        let factors: Vec<u64> = self
            .upsample_factor
            .iter()
            .rev()
            .map(|&f| f.max(1) as u64)
            .collect();
        let (mut f, mut h, mut w) = (frames as u64, height as u64, width as u64);
        let mut now = channels.first().copied().unwrap_or(1);
        let mut largest = (self.latent_channels as u64).max(now) * f * h * w;
        let mut conv_input = largest;
        for (i, &block) in channels.iter().enumerate() {
            let out = block / factors.get(i).copied().unwrap_or(1);
            let volume = f * h * w;
            largest = largest.max(now.max(out) * volume);
            conv_input = conv_input.max(now.max(out) * volume);
            if scaling.get(i).copied().unwrap_or(false) {
                let (st, sh, sw) = self
                    .upsample_type
                    .get(i)
                    .map_or((2, 2, 2), |kind| kind.stride());
                let (st, sh, sw) = (st as u64, sh as u64, sw as u64);
                // The upsampler's conv makes st·sh·sw times its input's channels here.
                largest = largest.max(block * st * sh * sw * volume);
                f = st * f - (st - 1);
                h *= sh;
                w *= sw;
            }
            largest = largest.max(out * f * h * w);
            conv_input = conv_input.max(out * f * h * w);
            now = out;
        }
        let columns = (9 * conv_input).min(COLUMN_CAP_ELEMENTS);
        (5 * largest + columns) * dtype_bytes as u64
    }

    /// Pixels per latent along height and width (32 for LTX-2).
    pub fn spatial_compression_ratio(&self) -> usize {
        self.spatial_compression_ratio
            .unwrap_or(self.patch_size << self.scaling_steps())
    }

    /// Frames per latent frame after the first (8 for LTX-2).
    pub fn temporal_compression_ratio(&self) -> usize {
        self.temporal_compression_ratio
            .unwrap_or(self.patch_size_t << self.scaling_steps())
    }
}
