//! LTX-2's video VAE (diffusers' `AutoencoderKLLTX2Video`): video
//! `[B, 3, 8n + 1, 32h, 32w]` in −1..1 to latents `[B, 128, n + 1, h, w]`
//! and back. The encoder is causal (first frame alone), the decoder runs
//! non-causally with reflect padding (as the released config says); both
//! come whole, as diffusers decodes by default.

mod blocks;
pub mod config;

use std::path::Path;

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::load::{self, LoadError, DIFFUSERS_WEIGHTS};
use crate::ltx::vae::{tiled_decode, Tiling, VaeTiling};
use blocks::{norm_silu, Conv3d, Downsampler, ResnetBlock, Upsampler};
pub use config::{Config, DownsampleType, PaddingMode, UpsampleType};

/// How a down block reduces.
#[derive(Debug, Clone)]
enum Reduce {
    Conv(Conv3d),
    SpaceToDepth(Downsampler),
}

/// `LTX2VideoDownBlock3D`: ResNet blocks at the input width, then the reducer.
#[derive(Debug, Clone)]
struct DownBlock {
    resnets: Vec<ResnetBlock>,
    reduce: Option<Reduce>,
}

impl Module for DownBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for resnet in &self.resnets {
            x = resnet.forward(&x)?;
        }
        match &self.reduce {
            Some(Reduce::Conv(conv)) => conv.forward(&x),
            Some(Reduce::SpaceToDepth(down)) => down.forward(&x),
            None => Ok(x),
        }
    }
}

/// `LTX2VideoUpBlock3d`: an optional width-changing ResNet, the upsampler, ResNets.
#[derive(Debug, Clone)]
struct UpBlock {
    conv_in: Option<ResnetBlock>,
    upsampler: Option<Upsampler>,
    resnets: Vec<ResnetBlock>,
}

impl Module for UpBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = match &self.conv_in {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        if let Some(up) = &self.upsampler {
            x = up.forward(&x)?;
        }
        for resnet in &self.resnets {
            x = resnet.forward(&x)?;
        }
        Ok(x)
    }
}

fn resnets(
    count: usize,
    channels: usize,
    eps: f64,
    causal: bool,
    padding: PaddingMode,
    vb: VarBuilder,
) -> Result<Vec<ResnetBlock>> {
    (0..count)
        .map(|i| ResnetBlock::new(channels, channels, eps, causal, padding, vb.pp(i)))
        .collect()
}

/// `LTX2VideoEncoder3d`.
#[derive(Debug, Clone)]
struct Encoder {
    conv_in: Conv3d,
    down_blocks: Vec<DownBlock>,
    mid_block: Vec<ResnetBlock>,
    conv_out: Conv3d,
    patch_size: usize,
    patch_size_t: usize,
}

impl Encoder {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let causal = cfg.encoder_causal;
        let padding = cfg.encoder_spatial_padding_mode;
        let eps = cfg.resnet_norm_eps;
        let unit = (1, 1, 1);
        let in_channels = cfg.in_channels * cfg.patch_size * cfg.patch_size * cfg.patch_size_t;
        let mut channels = cfg.latent_channels;
        let conv_in = Conv3d::new(
            in_channels,
            channels,
            unit,
            causal,
            padding,
            vb.pp("conv_in"),
        )?;
        let scaling = cfg
            .spatio_temporal_scaling
            .expand(cfg.block_out_channels.len());
        let mut down_blocks = Vec::new();
        for (i, &out) in cfg.block_out_channels.iter().enumerate() {
            let vb = vb.pp("down_blocks").pp(i);
            let block_resnets = resnets(
                cfg.layers_per_block[i],
                channels,
                eps,
                causal,
                padding,
                vb.pp("resnets"),
            )?;
            let reduce = if scaling[i] {
                let vb = vb.pp("downsamplers").pp(0);
                Some(match cfg.downsample_type[i] {
                    DownsampleType::Conv => Reduce::Conv(Conv3d::new(
                        channels,
                        channels,
                        (2, 2, 2),
                        causal,
                        padding,
                        vb,
                    )?),
                    kind => Reduce::SpaceToDepth(Downsampler::new(
                        channels,
                        out,
                        kind.stride(),
                        causal,
                        padding,
                        vb,
                    )?),
                })
            } else {
                None
            };
            down_blocks.push(DownBlock {
                resnets: block_resnets,
                reduce,
            });
            channels = out;
        }
        let mid = cfg.layers_per_block[cfg.block_out_channels.len()];
        Ok(Self {
            conv_in,
            down_blocks,
            mid_block: resnets(
                mid,
                channels,
                eps,
                causal,
                padding,
                vb.pp("mid_block").pp("resnets"),
            )?,
            conv_out: Conv3d::new(
                channels,
                cfg.latent_channels + 1,
                unit,
                causal,
                padding,
                vb.pp("conv_out"),
            )?,
            patch_size: cfg.patch_size,
            patch_size_t: cfg.patch_size_t,
        })
    }
}

impl Module for Encoder {
    fn forward(&self, video: &Tensor) -> Result<Tensor> {
        let (b, c, f, h, w) = video.dims5()?;
        let (p, pt) = (self.patch_size, self.patch_size_t);
        if f % pt != 0 || h % p != 0 || w % p != 0 {
            candle_core::bail!(
                "video {:?} does not divide into patches of {pt}x{p}x{p}",
                video.shape()
            );
        }
        // (b, c, f', pt, h', p, w', p) → (b, c·pt·p·p, f', h', w') with the
        // patch axes ordered (c, pt, p of width, p of height), as diffusers
        let (f2, h2, w2) = (f / pt, h / p, w / p);
        let x = video
            .reshape((b * c * f2, pt, h2, p, w2, p))?
            .permute((0, 1, 5, 3, 2, 4))? // (b·c·f', pt, p_w, p_h, h', w')
            .contiguous()?
            .reshape((b * c, f2, pt * p * p, h2 * w2))?
            .permute((0, 2, 1, 3))?
            .contiguous()?
            .reshape((b, c * pt * p * p, f2, h2, w2))?;
        let mut x = self.conv_in.forward(&x)?;
        for block in &self.down_blocks {
            x = block.forward(&x)?;
        }
        for resnet in &self.mid_block {
            x = resnet.forward(&x)?;
        }
        let x = self.conv_out.forward(&norm_silu(&x)?)?;
        // Means, then the one log-variance channel repeated for every latent channel.
        let channels = x.dim(1)?;
        let logvar = x.narrow(1, channels - 1, 1)?;
        let repeated = Tensor::cat(&vec![logvar; channels - 2], 1)?;
        Tensor::cat(&[x, repeated], 1)
    }
}

/// `LTX2VideoDecoder3d`.
#[derive(Debug, Clone)]
struct Decoder {
    conv_in: Conv3d,
    mid_block: Vec<ResnetBlock>,
    up_blocks: Vec<UpBlock>,
    conv_out: Conv3d,
    patch_size: usize,
    patch_size_t: usize,
}

impl Decoder {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let causal = cfg.decoder_causal;
        let padding = cfg.decoder_spatial_padding_mode;
        let eps = cfg.resnet_norm_eps;
        let unit = (1, 1, 1);
        let blocks = cfg.decoder_block_out_channels.len();
        // diffusers builds the decoder from the reversed lists.
        let block_out: Vec<usize> = cfg
            .decoder_block_out_channels
            .iter()
            .rev()
            .copied()
            .collect();
        let scaling: Vec<bool> = cfg
            .decoder_spatio_temporal_scaling
            .expand(blocks)
            .into_iter()
            .rev()
            .collect();
        let layers: Vec<usize> = cfg.decoder_layers_per_block.iter().rev().copied().collect();
        let residual: Vec<bool> = cfg
            .upsample_residual
            .expand(blocks)
            .into_iter()
            .rev()
            .collect();
        let factors: Vec<usize> = cfg.upsample_factor.iter().rev().copied().collect();
        let mut output = block_out[0];
        let conv_in = Conv3d::new(
            cfg.latent_channels,
            output,
            unit,
            causal,
            padding,
            vb.pp("conv_in"),
        )?;
        let mid_block = resnets(
            layers[0],
            output,
            eps,
            causal,
            padding,
            vb.pp("mid_block").pp("resnets"),
        )?;
        let mut up_blocks = Vec::with_capacity(blocks);
        for i in 0..blocks {
            let vb = vb.pp("up_blocks").pp(i);
            let input = output / factors[i];
            output = block_out[i] / factors[i];
            let conv_in = (input != output)
                .then(|| ResnetBlock::new(input, output, eps, causal, padding, vb.pp("conv_in")))
                .transpose()?;
            let upsampler = scaling[i]
                .then(|| {
                    Upsampler::new(
                        output * factors[i],
                        cfg.upsample_type[i].stride(),
                        residual[i],
                        factors[i],
                        causal,
                        padding,
                        vb.pp("upsamplers").pp(0),
                    )
                })
                .transpose()?;
            up_blocks.push(UpBlock {
                conv_in,
                upsampler,
                resnets: resnets(
                    layers[i + 1],
                    output,
                    eps,
                    causal,
                    padding,
                    vb.pp("resnets"),
                )?,
            });
        }
        let out_channels = cfg.out_channels * cfg.patch_size * cfg.patch_size * cfg.patch_size_t;
        Ok(Self {
            conv_in,
            mid_block,
            up_blocks,
            conv_out: Conv3d::new(
                output,
                out_channels,
                unit,
                causal,
                padding,
                vb.pp("conv_out"),
            )?,
            patch_size: cfg.patch_size,
            patch_size_t: cfg.patch_size_t,
        })
    }
}

impl Module for Decoder {
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let mut x = self.conv_in.forward(z)?;
        for resnet in &self.mid_block {
            x = resnet.forward(&x)?;
        }
        for block in &self.up_blocks {
            x = block.forward(&x)?;
        }
        let x = self.conv_out.forward(&norm_silu(&x)?)?;
        let (b, cp, f, h, w) = x.dims5()?;
        let (p, pt) = (self.patch_size, self.patch_size_t);
        let c = cp / (pt * p * p);
        // (b, c, pt, p of width, p of height, f, h, w) → (b, c, f·pt, h·p, w·p)
        x.reshape((b * c, pt * p * p, f, h * w))?
            .permute((0, 2, 1, 3))?
            .contiguous()?
            .reshape((b * c * f, pt, p, p, h, w))?
            .permute((0, 1, 4, 3, 5, 2))? // (b·c·f, pt, h, p of height, w, p of width)
            .contiguous()?
            .reshape((b, c, f * pt, h * p, w * p))
    }
}

/// diffusers' `AutoencoderKLLTX2Video`.
#[derive(Debug, Clone)]
pub struct VideoAutoencoder {
    encoder: Encoder,
    decoder: Decoder,
    latents_mean: Tensor,
    latents_std: Tensor,
    config: Config,
}

impl VideoAutoencoder {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.check().map_err(candle_core::Error::msg)?;
        Ok(Self {
            encoder: Encoder::new(cfg, vb.pp("encoder"))?,
            decoder: Decoder::new(cfg, vb.pp("decoder"))?,
            latents_mean: vb.get(cfg.latent_channels, "latents_mean")?,
            latents_std: vb.get(cfg.latent_channels, "latents_std")?,
            config: cfg.clone(),
        })
    }

    /// Loads a diffusers `vae/` folder.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> std::result::Result<Self, LoadError> {
        let config: Config = load::read_config(dir, "AutoencoderKLLTX2Video")?;
        config
            .check()
            .map_err(|reason| load::invalid_config(dir, "AutoencoderKLLTX2Video", reason))?;
        let vb = load::var_builder(dir, DIFFUSERS_WEIGHTS, dtype, device)?;
        load::build(dir, || Self::new(&config, vb))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn latents_mean(&self) -> &Tensor {
        &self.latents_mean
    }

    pub fn latents_std(&self) -> &Tensor {
        &self.latents_std
    }

    /// The encoder's output `[B, 2·latent, f, h, w]`: means, then log-variances.
    pub fn encode_posterior(&self, video: &Tensor) -> Result<Tensor> {
        self.encoder.forward(video)
    }

    /// The latent distribution's mode (its mean), as the image-to-video pipeline takes it.
    pub fn encode(&self, video: &Tensor) -> Result<Tensor> {
        let posterior = self.encode_posterior(video)?;
        posterior.narrow(1, 0, posterior.dim(1)? / 2)
    }

    /// Latents `[B, latent, f, h, w]` (denormalised) → video `[B, 3, F, H, W]`.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        self.decoder.forward(z)
    }

    /// [`Self::decode`] in overlapping tiles, as diffusers' `enable_tiling()` with
    /// framewise decoding (the scheme LTX-Video's VAE shares).
    pub fn tiled_decode(&self, z: &Tensor, tiling: &Tiling) -> Result<Tensor> {
        let ratios = (
            self.config.spatial_compression_ratio(),
            self.config.temporal_compression_ratio(),
        );
        tiled_decode(z, ratios, tiling, &mut |tile| self.decode(tile))
    }

    /// Decodes whole, or in diffusers' default tiles when `mode` says so or
    /// (auto) when the estimated peak of a whole decode is over `budget_bytes`.
    pub fn planned_decode(&self, z: &Tensor, mode: VaeTiling, budget_bytes: u64) -> Result<Tensor> {
        let (batch, _, frames, height, width) = z.dims5()?;
        let peak = self
            .config
            .decode_peak_bytes(frames, height, width, z.dtype().size_in_bytes())
            .saturating_mul(batch as u64);
        let tiled = mode.tiles(peak, budget_bytes);
        tracing::debug!(%mode, peak_mib = peak >> 20, budget_mib = budget_bytes >> 20, tiled, "LTX-2 VAE decode");
        if tiled {
            self.tiled_decode(z, &Tiling::default())
        } else {
            self.decode(z)
        }
    }
}
