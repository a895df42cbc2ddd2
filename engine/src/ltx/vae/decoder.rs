//! `LTXVideoDecoder3d`: conv, mid block, up blocks, norm, [timestep modulation], conv,
//! unpatchify. Its config lists run from the output side, so they are read reversed.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::blocks::{MidBlock, UpBlock, UpBlockConfig};
use super::config::Config;
use super::conv3d::CausalConv3d;
use super::cpu_ops::norm_modulate_silu;
use super::layers::{DecoderNoise, TimestepEmbedder};
use super::resnet::PIXEL_NORM_EPS;

/// The final modulation of timestep-conditioned decoders.
#[derive(Debug, Clone)]
struct OutputConditioning {
    timestep_scale_multiplier: Tensor,
    time_embedder: TimestepEmbedder,
    /// `[2, c]`: added to the embedding, giving shift and scale.
    scale_shift_table: Tensor,
}

#[derive(Debug, Clone)]
pub struct Decoder {
    conv_in: CausalConv3d,
    mid_block: MidBlock,
    up_blocks: Vec<UpBlock>,
    conv_out: CausalConv3d,
    conditioning: Option<OutputConditioning>,
    out_width: usize,
    patch_size: usize,
    patch_size_t: usize,
}

fn reversed<T: Copy>(v: &[T]) -> Vec<T> {
    v.iter().rev().copied().collect()
}

impl Decoder {
    /// `vb` is the `decoder` prefix.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (p, pt) = (cfg.patch_size, cfg.patch_size_t);
        let causal = cfg.decoder_causal;
        let eps = cfg.resnet_norm_eps;
        let tc = cfg.timestep_conditioning;
        let channels = reversed(&cfg.decoder_block_out_channels);
        let scaling = reversed(&cfg.decoder_spatio_temporal_scaling);
        let layers = reversed(&cfg.decoder_layers_per_block);
        let inject_noise = reversed(&cfg.decoder_inject_noise);
        let residual = reversed(&cfg.upsample_residual);
        let factor = reversed(&cfg.upsample_factor);

        let mut output_channel = channels[0];
        let conv_in = CausalConv3d::new(
            cfg.latent_channels,
            output_channel,
            (3, 3, 3),
            (1, 1, 1),
            causal,
            vb.pp("conv_in"),
        )?;
        let mid_block = MidBlock::new(
            output_channel,
            layers[0],
            eps,
            causal,
            inject_noise[0],
            tc,
            vb.pp("mid_block"),
        )?;
        let mut up_blocks = Vec::with_capacity(channels.len());
        for i in 0..channels.len() {
            let in_channels = output_channel / factor[i];
            output_channel = channels[i] / factor[i];
            let block = UpBlockConfig {
                in_channels,
                out_channels: output_channel,
                layers: layers[i + 1],
                eps,
                upsample: scaling[i],
                is_causal: causal,
                inject_noise: inject_noise[i + 1],
                timestep_conditioning: tc,
                upsample_residual: residual[i],
                upscale_factor: factor[i],
            };
            up_blocks.push(UpBlock::new(&block, vb.pp(format!("up_blocks.{i}")))?);
        }
        let out_width = cfg.out_channels * p * p * pt;
        let conv_out = CausalConv3d::new(
            output_channel,
            out_width,
            (3, 3, 3),
            (1, 1, 1),
            causal,
            vb.pp("conv_out"),
        )?;
        let conditioning = if tc {
            Some(OutputConditioning {
                timestep_scale_multiplier: vb.get((), "timestep_scale_multiplier")?,
                time_embedder: TimestepEmbedder::new(output_channel * 2, vb.pp("time_embedder"))?,
                scale_shift_table: vb.get((2, output_channel), "scale_shift_table")?,
            })
        } else {
            None
        };
        Ok(Self {
            conv_in,
            mid_block,
            up_blocks,
            conv_out,
            conditioning,
            out_width,
            patch_size: p,
            patch_size_t: pt,
        })
    }

    /// `[b, latent, f, h, w]` -> `[b, 3, f', h', w']`. `timestep` (`[b]` or a scalar) is
    /// required by timestep-conditioned decoders and ignored by the others.
    pub fn forward(
        &self,
        z: &Tensor,
        timestep: Option<&Tensor>,
        noise: &mut dyn DecoderNoise,
    ) -> Result<Tensor> {
        let mut h = self.conv_in.forward(z)?;
        let temb = match (&self.conditioning, timestep) {
            (Some(c), Some(t)) => Some(
                t.flatten_all()?
                    .to_dtype(c.timestep_scale_multiplier.dtype())?
                    .broadcast_mul(&c.timestep_scale_multiplier)?,
            ),
            (Some(_), None) => {
                candle_core::bail!("this VAE decoder is timestep-conditioned: pass a timestep")
            }
            (None, _) => None,
        };
        h = self.mid_block.forward(&h, temb.as_ref(), noise)?;
        for block in &self.up_blocks {
            h = block.forward(&h, temb.as_ref(), noise)?;
        }
        let modulation = match (&self.conditioning, &temb) {
            (Some(c), Some(t)) => {
                let e = c.time_embedder.forward(t, h.dtype())?;
                let (b, c2) = e.dims2()?;
                let width = c2 / 2;
                // (b, 2c) -> (b, 2, c, 1, 1, 1), plus the table's (1, 2, c, 1, 1, 1)
                let table = c
                    .scale_shift_table
                    .reshape((1, 2, width, 1, 1, 1))?
                    .to_dtype(h.dtype())?;
                let m = e.reshape((b, 2, width, 1, 1, 1))?.broadcast_add(&table)?;
                let shift = m.narrow(1, 0, 1)?.squeeze(1)?;
                let scale = m.narrow(1, 1, 1)?.squeeze(1)?;
                Some((shift, scale))
            }
            _ => None,
        };
        let m = modulation.as_ref().map(|(shift, scale)| (shift, scale));
        h = self
            .conv_out
            .forward(&norm_modulate_silu(&h, PIXEL_NORM_EPS, m)?)?;

        let (p, pt) = (self.patch_size, self.patch_size_t);
        let (b, _, f, hh, ww) = h.dims5()?;
        let c = self.out_width / (p * p * pt);
        // (b, c, pt, p(w), p(h), f, h, w) -> (b, c, f, pt, h, p(h), w, p(w))
        h.reshape(vec![b, c, pt, p, p, f, hh, ww])?
            .permute(vec![0, 1, 5, 2, 6, 4, 7, 3])?
            .reshape((b, c, f * pt, hh * p, ww * p))
    }
}
