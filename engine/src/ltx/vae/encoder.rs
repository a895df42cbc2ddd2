//! `LTXVideoEncoder3d`: patchify, conv, down blocks, mid block, norm, conv to the
//! latent mean and one shared log-variance channel.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::blocks::{DownBlock, MidBlock};
use super::config::{Config, DownBlockType, DownsampleType};
use super::conv3d::CausalConv3d;
use super::cpu_ops::norm_modulate_silu;
use super::layers::ZeroNoise;
use super::resnet::PIXEL_NORM_EPS;

#[derive(Debug, Clone)]
pub struct Encoder {
    conv_in: CausalConv3d,
    down_blocks: Vec<DownBlock>,
    mid_block: MidBlock,
    conv_out: CausalConv3d,
    patch_size: usize,
    patch_size_t: usize,
}

impl Encoder {
    /// `vb` is the `encoder` prefix.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (p, pt) = (cfg.patch_size, cfg.patch_size_t);
        let causal = cfg.encoder_causal;
        let eps = cfg.resnet_norm_eps;
        let channels = &cfg.block_out_channels;
        let mut output_channel = channels[0];
        let conv_in = CausalConv3d::new(
            cfg.in_channels * p * p * pt,
            output_channel,
            (3, 3, 3),
            (1, 1, 1),
            causal,
            vb.pp("conv_in"),
        )?;
        let is_095 = cfg.is_095_encoder();
        let num_blocks = channels.len() - usize::from(is_095);
        let mut down_blocks = Vec::with_capacity(num_blocks);
        for i in 0..num_blocks {
            let input_channel = output_channel;
            output_channel = if is_095 {
                channels[i + 1]
            } else {
                channels[(i + 1).min(num_blocks - 1)]
            };
            let layers = cfg.layers_per_block[i];
            let downsample = cfg.spatio_temporal_scaling[i];
            let vb_block = vb.pp(format!("down_blocks.{i}"));
            let block = match cfg.down_block_types[i] {
                DownBlockType::LtxVideo => DownBlock::new_v090(
                    input_channel,
                    output_channel,
                    layers,
                    eps,
                    downsample,
                    causal,
                    vb_block,
                )?,
                DownBlockType::LtxVideo095 => DownBlock::new_v095(
                    input_channel,
                    output_channel,
                    layers,
                    eps,
                    downsample,
                    causal,
                    cfg.downsample_type
                        .get(i)
                        .copied()
                        .unwrap_or(DownsampleType::Conv),
                    vb_block,
                )?,
            };
            down_blocks.push(block);
        }
        let mid_layers = cfg.layers_per_block[cfg.layers_per_block.len() - 1];
        let mid_block = MidBlock::new(
            output_channel,
            mid_layers,
            eps,
            causal,
            false,
            false,
            vb.pp("mid_block"),
        )?;
        let conv_out = CausalConv3d::new(
            output_channel,
            cfg.latent_channels + 1,
            (3, 3, 3),
            (1, 1, 1),
            causal,
            vb.pp("conv_out"),
        )?;
        Ok(Self {
            conv_in,
            down_blocks,
            mid_block,
            conv_out,
            patch_size: p,
            patch_size_t: pt,
        })
    }

    /// `[b, 3, f, h, w]` -> `[b, latent + 1, f', h', w']`: the latent mean channels, then
    /// the one log-variance channel all latent channels share.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (p, pt) = (self.patch_size, self.patch_size_t);
        let (b, c, f, h, w) = x.dims5()?;
        if f % pt != 0 || h % p != 0 || w % p != 0 {
            candle_core::bail!(
                "video of {f} frames of {h}x{w} does not divide into {pt}x{p}x{p} patches"
            );
        }
        // (b, c, f/pt, pt, h/p, p(h), w/p, p(w)) -> (b, c, pt, p(w), p(h), f/pt, h/p, w/p)
        let x = x
            .reshape(vec![b, c, f / pt, pt, h / p, p, w / p, p])?
            .permute(vec![0, 1, 3, 7, 5, 2, 4, 6])?
            .reshape((b, c * pt * p * p, f / pt, h / p, w / p))?;
        let mut h = self.conv_in.forward(&x)?;
        for block in &self.down_blocks {
            h = block.forward(&h)?;
        }
        h = self.mid_block.forward(&h, None, &mut ZeroNoise)?;
        h = norm_modulate_silu(&h, PIXEL_NORM_EPS, None)?;
        self.conv_out.forward(&h)
    }
}
