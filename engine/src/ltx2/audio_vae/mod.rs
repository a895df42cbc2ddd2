//! LTX-2's audio VAE (diffusers' `AutoencoderKLLTX2Audio`): stereo log-mel
//! spectrograms `[B, 2, time, mel]` to latents `[B, C, time / 4, mel / 4]`
//! and back. Decoding returns `4·T − 3` spectrogram frames for `T` latent
//! frames (the first latent frame stands for one causal frame), cropped or
//! zero-padded to that length and the configured mel bins, as the reference.

mod blocks;
pub mod mel;

use std::path::Path;

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::load::{self, LoadError, DIFFUSERS_WEIGHTS};
pub use blocks::CausalityAxis;
use blocks::{pixel_norm_silu, AttnBlock, CausalConv2d, Downsample, ResnetBlock, Upsample};

/// Latent frames per spectrogram frame, in time and in mel bins.
pub const LATENT_DOWNSAMPLE_FACTOR: usize = 4;

/// `audio_vae/config.json`, with diffusers' defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    pub base_channels: usize,
    pub output_channels: usize,
    pub ch_mult: Vec<usize>,
    pub num_res_blocks: usize,
    pub attn_resolutions: Option<Vec<usize>>,
    pub in_channels: usize,
    pub resolution: usize,
    pub latent_channels: usize,
    pub norm_type: String,
    pub causality_axis: CausalityAxis,
    pub mid_block_add_attention: bool,
    pub sample_rate: u32,
    pub mel_hop_length: usize,
    pub is_causal: bool,
    pub mel_bins: Option<usize>,
    pub double_z: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_channels: 128,
            output_channels: 2,
            ch_mult: vec![1, 2, 4],
            num_res_blocks: 2,
            attn_resolutions: None,
            in_channels: 2,
            resolution: 256,
            latent_channels: 8,
            norm_type: "pixel".into(),
            causality_axis: CausalityAxis::Height,
            mid_block_add_attention: false,
            sample_rate: 16000,
            mel_hop_length: 160,
            is_causal: true,
            mel_bins: Some(64),
            double_z: true,
        }
    }
}

impl Config {
    fn check(&self) -> std::result::Result<(), String> {
        if self.norm_type != "pixel" {
            return Err(format!(
                "norm_type {:?} is not supported (LTX-2's audio VAEs use \"pixel\")",
                self.norm_type
            ));
        }
        if self.ch_mult.is_empty() || self.base_channels == 0 || self.latent_channels == 0 {
            return Err(
                "ch_mult, base_channels and latent_channels must be non-empty/positive".into(),
            );
        }
        Ok(())
    }

    fn has_attention(&self, resolution: usize) -> bool {
        self.attn_resolutions
            .as_ref()
            .is_some_and(|r| r.contains(&resolution))
    }

    /// Latent frames per second of audio (sample rate / hop / 4).
    pub fn latents_per_second(&self) -> f64 {
        self.sample_rate as f64 / self.mel_hop_length as f64 / LATENT_DOWNSAMPLE_FACTOR as f64
    }
}

/// One resolution level: its ResNet blocks, their attention, the resampler.
#[derive(Debug, Clone)]
struct Level<S> {
    blocks: Vec<ResnetBlock>,
    attn: Vec<AttnBlock>,
    resample: Option<S>,
}

impl<S> Level<S> {
    fn blocks_forward(&self, mut x: Tensor) -> Result<Tensor> {
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(&x)?;
            if let Some(attn) = self.attn.get(i) {
                x = attn.forward(&x)?;
            }
        }
        Ok(x)
    }
}

/// `mid`: ResNet, optional attention, ResNet.
#[derive(Debug, Clone)]
struct Mid {
    block_1: ResnetBlock,
    attn_1: Option<AttnBlock>,
    block_2: ResnetBlock,
}

impl Mid {
    fn new(channels: usize, cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let axis = cfg.causality_axis;
        Ok(Self {
            block_1: ResnetBlock::new(channels, channels, axis, vb.pp("block_1"))?,
            attn_1: cfg
                .mid_block_add_attention
                .then(|| AttnBlock::new(channels, vb.pp("attn_1")))
                .transpose()?,
            block_2: ResnetBlock::new(channels, channels, axis, vb.pp("block_2"))?,
        })
    }
}

impl Module for Mid {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = self.block_1.forward(x)?;
        if let Some(attn) = &self.attn_1 {
            x = attn.forward(&x)?;
        }
        self.block_2.forward(&x)
    }
}

/// `LTX2AudioEncoder`.
#[derive(Debug, Clone)]
struct Encoder {
    conv_in: CausalConv2d,
    down: Vec<Level<Downsample>>,
    mid: Mid,
    conv_out: CausalConv2d,
}

impl Encoder {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let axis = cfg.causality_axis;
        let conv_in = CausalConv2d::new(
            cfg.in_channels,
            cfg.base_channels,
            3,
            axis,
            vb.pp("conv_in"),
        )?;
        let mut block_in = cfg.base_channels;
        let mut resolution = cfg.resolution;
        let mut down = Vec::with_capacity(cfg.ch_mult.len());
        for (level, &mult) in cfg.ch_mult.iter().enumerate() {
            let vb = vb.pp("down").pp(level);
            let block_out = cfg.base_channels * mult;
            let mut blocks = Vec::new();
            let mut attn = Vec::new();
            for i in 0..cfg.num_res_blocks {
                blocks.push(ResnetBlock::new(
                    block_in,
                    block_out,
                    axis,
                    vb.pp("block").pp(i),
                )?);
                block_in = block_out;
                if cfg.has_attention(resolution) {
                    attn.push(AttnBlock::new(block_in, vb.pp("attn").pp(i))?);
                }
            }
            let resample = (level + 1 != cfg.ch_mult.len())
                .then(|| Downsample::new(block_in, axis, vb.pp("downsample")))
                .transpose()?;
            if resample.is_some() {
                resolution /= 2;
            }
            down.push(Level {
                blocks,
                attn,
                resample,
            });
        }
        let z_channels = if cfg.double_z {
            2 * cfg.latent_channels
        } else {
            cfg.latent_channels
        };
        Ok(Self {
            conv_in,
            down,
            mid: Mid::new(block_in, cfg, vb.pp("mid"))?,
            conv_out: CausalConv2d::new(block_in, z_channels, 3, axis, vb.pp("conv_out"))?,
        })
    }
}

impl Module for Encoder {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = self.conv_in.forward(x)?;
        for level in &self.down {
            x = level.blocks_forward(x)?;
            if let Some(down) = &level.resample {
                x = down.forward(&x)?;
            }
        }
        let x = self.mid.forward(&x)?;
        self.conv_out.forward(&pixel_norm_silu(&x)?)
    }
}

/// `LTX2AudioDecoder`.
#[derive(Debug, Clone)]
struct Decoder {
    conv_in: CausalConv2d,
    mid: Mid,
    /// By level, lowest resolution last (diffusers' `up` order).
    up: Vec<Level<Upsample>>,
    conv_out: CausalConv2d,
    output_channels: usize,
    mel_bins: Option<usize>,
}

impl Decoder {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let axis = cfg.causality_axis;
        let levels = cfg.ch_mult.len();
        let mut block_in = cfg.base_channels * cfg.ch_mult[levels - 1];
        let mut resolution = cfg.resolution >> (levels - 1);
        let conv_in = CausalConv2d::new(cfg.latent_channels, block_in, 3, axis, vb.pp("conv_in"))?;
        let mid = Mid::new(block_in, cfg, vb.pp("mid"))?;
        let mut up: Vec<Option<Level<Upsample>>> = (0..levels).map(|_| None).collect();
        for level in (0..levels).rev() {
            let vb = vb.pp("up").pp(level);
            let block_out = cfg.base_channels * cfg.ch_mult[level];
            let mut blocks = Vec::new();
            let mut attn = Vec::new();
            for i in 0..=cfg.num_res_blocks {
                blocks.push(ResnetBlock::new(
                    block_in,
                    block_out,
                    axis,
                    vb.pp("block").pp(i),
                )?);
                block_in = block_out;
                if cfg.has_attention(resolution) {
                    attn.push(AttnBlock::new(block_in, vb.pp("attn").pp(i))?);
                }
            }
            let resample = (level != 0)
                .then(|| Upsample::new(block_in, axis, vb.pp("upsample")))
                .transpose()?;
            if resample.is_some() {
                resolution *= 2;
            }
            up[level] = Some(Level {
                blocks,
                attn,
                resample,
            });
        }
        Ok(Self {
            conv_in,
            mid,
            up: up.into_iter().flatten().collect(),
            conv_out: CausalConv2d::new(block_in, cfg.output_channels, 3, axis, vb.pp("conv_out"))?,
            output_channels: cfg.output_channels,
            mel_bins: cfg.mel_bins,
        })
    }
}

impl Module for Decoder {
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let (_, _, frames, mel) = z.dims4()?;
        // Every latent frame but the first stands for 4 spectrogram frames.
        let target_frames = (frames * LATENT_DOWNSAMPLE_FACTOR)
            .saturating_sub(LATENT_DOWNSAMPLE_FACTOR - 1)
            .max(1);
        let target_mel = self.mel_bins.unwrap_or(mel);
        let mut x = self.mid.forward(&self.conv_in.forward(z)?)?;
        for level in self.up.iter().rev() {
            x = level.blocks_forward(x)?;
            if let Some(up) = &level.resample {
                x = up.forward(&x)?;
            }
        }
        let x = self.conv_out.forward(&pixel_norm_silu(&x)?)?;
        let (_, channels, time, bins) = x.dims4()?;
        let x = x
            .narrow(1, 0, self.output_channels.min(channels))?
            .narrow(2, 0, time.min(target_frames))?
            .narrow(3, 0, bins.min(target_mel))?;
        let x = x.pad_with_zeros(2, 0, target_frames.saturating_sub(time))?;
        x.pad_with_zeros(3, 0, target_mel.saturating_sub(bins))
    }
}

/// diffusers' `AutoencoderKLLTX2Audio`.
#[derive(Debug, Clone)]
pub struct AudioAutoencoder {
    encoder: Encoder,
    decoder: Decoder,
    latents_mean: Tensor,
    latents_std: Tensor,
    config: Config,
}

impl AudioAutoencoder {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.check().map_err(candle_core::Error::msg)?;
        Ok(Self {
            encoder: Encoder::new(cfg, vb.pp("encoder"))?,
            decoder: Decoder::new(cfg, vb.pp("decoder"))?,
            latents_mean: vb.get(cfg.base_channels, "latents_mean")?,
            latents_std: vb.get(cfg.base_channels, "latents_std")?,
            config: cfg.clone(),
        })
    }

    /// Loads a diffusers `audio_vae/` folder.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> std::result::Result<Self, LoadError> {
        let config: Config = load::read_config(dir, "AutoencoderKLLTX2Audio")?;
        config
            .check()
            .map_err(|reason| load::invalid_config(dir, "AutoencoderKLLTX2Audio", reason))?;
        let vb = load::var_builder(dir, DIFFUSERS_WEIGHTS, dtype, device)?;
        load::build(dir, || Self::new(&config, vb))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Per-channel statistics of the packed latents (`[base_channels]`).
    pub fn latents_mean(&self) -> &Tensor {
        &self.latents_mean
    }

    pub fn latents_std(&self) -> &Tensor {
        &self.latents_std
    }

    /// The encoder's output `[B, 2·latent, T, M]`: means, then log-variances.
    pub fn encode_posterior(&self, mel: &Tensor) -> Result<Tensor> {
        self.encoder.forward(mel)
    }

    /// The latent distribution's mode (its mean), `[B, latent, T, M]`.
    pub fn encode(&self, mel: &Tensor) -> Result<Tensor> {
        let posterior = self.encode_posterior(mel)?;
        let channels = posterior.dim(1)? / 2;
        posterior.narrow(1, 0, channels)
    }

    /// Latents `[B, latent, T, M]` (denormalised) → spectrogram `[B, out, 4T − 3, mel]`.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        self.decoder.forward(z)
    }
}
