//! The LTX-Video 3D transformer (diffusers' `LTXVideoTransformer3DModel`):
//! packed video latents in, the flow-matching velocity out, conditioned on
//! the timestep (AdaLN-single) and the T5 caption (cross-attention).
//!
//! Weight names under [`Transformer::new`]'s `VarBuilder` mirror diffusers'
//! (`proj_in`, `time_embed.*`, `caption_projection.*`, `transformer_blocks.N.*`,
//! `scale_shift_table`, `proj_out`); [`Transformer::load`] reads a
//! diffusers `transformer/` folder.

mod attention;
mod attention_cpu;
mod block;
mod config;
mod cpu_modulate;
pub(crate) use cpu_modulate::{gated_residual, norm_modulate};
pub(crate) mod cpu_ops;
mod embeddings;
mod load;
mod packing;
mod rope;

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::linear::{linear, Linear};

pub use crate::ltx::load::LoadError;
pub use attention::attention;
pub use config::Config;
pub use packing::{denormalize_latents, normalize_latents, pack_latents, unpack_latents};
pub use rope::{rotary_tables, LatentGrid, RotaryTables, VideoPositions};

use block::{modulate, TransformerBlock};
use embeddings::{AdaLayerNormSingle, CaptionProjection};

/// The additive bias diffusers gives padded caption tokens.
const MASKED_BIAS: f64 = -10000.0;
/// `norm_out`: LayerNorm without affine parameters.
const NORM_OUT_EPS: f32 = 1e-6;

#[derive(Debug, Clone)]
pub struct Transformer {
    proj_in: Linear,
    time_embed: AdaLayerNormSingle,
    caption_projection: CaptionProjection,
    transformer_blocks: Vec<TransformerBlock>,
    /// [2, dim]: shift and scale of the output norm, added to the timestep embedding.
    scale_shift_table: Tensor,
    proj_out: Linear,
    config: Config,
}

impl Transformer {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.check().map_err(candle_core::Error::msg)?;
        let dim = cfg.inner_dim();
        let transformer_blocks = (0..cfg.num_layers)
            .map(|i| TransformerBlock::new(cfg, vb.pp("transformer_blocks").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            proj_in: linear(cfg.in_channels, dim, vb.pp("proj_in"))?,
            time_embed: AdaLayerNormSingle::new(dim, vb.pp("time_embed"))?,
            caption_projection: CaptionProjection::new(
                cfg.caption_channels,
                dim,
                vb.pp("caption_projection"),
            )?,
            transformer_blocks,
            scale_shift_table: vb.get((2, dim), "scale_shift_table")?,
            proj_out: linear(dim, cfg.out_channels(), vb.pp("proj_out"))?,
            config: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// One denoising evaluation.
    ///
    /// - `hidden_states`: [B, N, in_channels], packed latents ([`pack_latents`]).
    /// - `encoder_hidden_states`: [B, L, caption_channels], the T5 states.
    /// - `timestep`: [B] (one per sample) or [B, T] with T = 1 or N (per
    ///   token: image-to-video gives conditioning tokens t = 0). Values in 0..1000.
    /// - `encoder_attention_mask`: [B, L], 1 for real tokens and 0 for padding.
    /// - `positions`: the tokens' places in the video, for the rotary embedding.
    ///
    /// Returns [B, N, out_channels].
    pub fn forward(
        &self,
        hidden_states: &Tensor,
        encoder_hidden_states: &Tensor,
        timestep: &Tensor,
        encoder_attention_mask: Option<&Tensor>,
        positions: &VideoPositions,
    ) -> Result<Tensor> {
        let cfg = &self.config;
        let dtype = hidden_states.dtype();
        let device = hidden_states.device();
        let (batch, tokens, _) = hidden_states.dims3()?;
        let dim = cfg.inner_dim();

        let rotary = rotary_tables(positions, dim, cfg.patch_size, cfg.patch_size_t, device)?;
        if rotary.cos.dim(1)? != tokens {
            candle_core::bail!(
                "positions describe {} tokens, hidden_states has {tokens}",
                rotary.cos.dim(1)?
            );
        }
        // (1 − mask) · −10000, one row for every head and query: (b, 1, 1, l)
        let caption_bias = encoder_attention_mask
            .map(|mask| {
                let keep = mask.to_dtype(dtype)?;
                ((keep.ones_like()? - keep)? * MASKED_BIAS)?
                    .unsqueeze(1)?
                    .unsqueeze(1)
            })
            .transpose()?;

        let x = self.proj_in.forward(hidden_states)?;

        // Timesteps flattened through the embedding, then one row per sample or per token.
        let timesteps = timestep.flatten_all()?;
        let per_sample = timesteps.dim(0)? / batch.max(1);
        if per_sample * batch != timesteps.dim(0)? || !(per_sample == 1 || per_sample == tokens) {
            candle_core::bail!(
                "timestep {:?} is neither [B] nor [B, N] for B = {batch}, N = {tokens}",
                timestep.shape()
            );
        }
        let conditioning = self.time_embed.forward(&timesteps, dtype)?;
        let modulation = conditioning
            .modulation
            .reshape((batch, per_sample, 6 * dim))?;
        let embedded = conditioning.embedded.reshape((batch, per_sample, dim))?;

        let captions = self.caption_projection.forward(encoder_hidden_states)?;

        let mut x = x;
        for block in &self.transformer_blocks {
            x = block.forward(&x, &captions, &modulation, &rotary, caption_bias.as_ref())?;
        }

        // (b, t, 2, dim) = table + embedded timestep: shift, scale
        let shift_scale = embedded
            .unsqueeze(2)?
            .broadcast_add(&self.scale_shift_table.unsqueeze(0)?.unsqueeze(0)?)?;
        let shift = shift_scale.narrow(2, 0, 1)?.squeeze(2)?;
        let scale = shift_scale.narrow(2, 1, 1)?.squeeze(2)?;
        let ones = Tensor::ones(dim, dtype, device)?;
        let zeros = Tensor::zeros(dim, dtype, device)?;
        let x = candle_nn::ops::layer_norm(&x, &ones, &zeros, NORM_OUT_EPS)?;
        self.proj_out.forward(&modulate(&x, &shift, &scale)?)
    }
}
