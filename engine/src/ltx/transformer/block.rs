//! diffusers' `LTXVideoTransformerBlock`: AdaLN-modulated self-attention,
//! cross-attention to the caption, AdaLN-modulated feed-forward.

use candle_core::{Module, Result, Tensor, D};
use candle_nn::VarBuilder;

use crate::linear::{linear, Linear};

use super::attention::Attention;
use super::cpu_modulate::{gated_residual, norm_modulate};
use super::cpu_ops::gelu_tanh;
use super::rope::RotaryTables;
use super::Config;

/// `FeedForward(activation_fn="gelu-approximate")`: dim → 4·dim → dim.
#[derive(Debug, Clone)]
struct FeedForward {
    proj_in: Linear,
    proj_out: Linear,
}

impl FeedForward {
    fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            proj_in: linear(dim, 4 * dim, vb.pp("net").pp("0").pp("proj"))?,
            proj_out: linear(4 * dim, dim, vb.pp("net").pp("2"))?,
        })
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.proj_out.forward(&gelu_tanh(self.proj_in.forward(x)?)?)
    }
}

/// RMS norm without a learned weight (`norm_elementwise_affine=False`).
pub(super) fn rms_norm(x: &Tensor, eps: f64) -> Result<Tensor> {
    let ones = Tensor::ones(x.dim(D::Minus1)?, x.dtype(), x.device())?;
    candle_nn::ops::rms_norm(x, &ones, eps as f32)
}

#[derive(Debug, Clone)]
pub struct TransformerBlock {
    attn1: Attention,
    attn2: Attention,
    ff: FeedForward,
    /// [6, dim]: added to the timestep modulation.
    scale_shift_table: Tensor,
    norm_eps: f64,
}

impl TransformerBlock {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.inner_dim();
        let (heads, head_dim) = (cfg.num_attention_heads, cfg.attention_head_dim);
        let (bias, out_bias) = (cfg.attention_bias, cfg.attention_out_bias);
        Ok(Self {
            attn1: Attention::new(dim, dim, heads, head_dim, bias, out_bias, vb.pp("attn1"))?,
            attn2: Attention::new(
                dim,
                cfg.cross_attention_dim,
                heads,
                head_dim,
                bias,
                out_bias,
                vb.pp("attn2"),
            )?,
            ff: FeedForward::new(dim, vb.pp("ff"))?,
            scale_shift_table: vb.get((6, dim), "scale_shift_table")?,
            norm_eps: cfg.norm_eps,
        })
    }

    /// `x`: [B, N, dim]; `captions`: [B, L, dim] (projected); `modulation`:
    /// [B, T, 6·dim] with T = 1 or N; `caption_bias`: additive, [B, 1, 1, L].
    pub fn forward(
        &self,
        x: &Tensor,
        captions: &Tensor,
        modulation: &Tensor,
        rotary: &RotaryTables,
        caption_bias: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (b, t, _) = modulation.dims3()?;
        let dim = x.dim(D::Minus1)?;
        // (b, t, 6, dim): shift, scale, gate (attention), shift, scale, gate (feed-forward)
        let ada = modulation
            .reshape((b, t, 6, dim))?
            .broadcast_add(&self.scale_shift_table.unsqueeze(0)?.unsqueeze(0)?)?;
        let chunk = |i: usize| ada.narrow(2, i, 1)?.squeeze(2); // (b, t, dim)
        let (shift_msa, scale_msa, gate_msa) = (chunk(0)?, chunk(1)?, chunk(2)?);
        let (shift_mlp, scale_mlp, gate_mlp) = (chunk(3)?, chunk(4)?, chunk(5)?);

        let normed = norm_modulate(x, self.norm_eps, &shift_msa, &scale_msa)?;
        let attended = self.attn1.forward(&normed, None, Some(rotary), None)?;
        let x = gated_residual(x, &attended, &gate_msa)?;

        // diffusers feeds cross-attention the un-normalised stream, ungated.
        let attended = self.attn2.forward(&x, Some(captions), None, caption_bias)?;
        let x = (x + attended)?;

        let normed = norm_modulate(&x, self.norm_eps, &shift_mlp, &scale_mlp)?;
        let fed = self.ff.forward(&normed)?;
        gated_residual(&x, &fed, &gate_mlp)
    }
}

/// `x · (1 + scale) + shift`, broadcasting (b, t, dim) over the tokens.
pub(super) fn modulate(x: &Tensor, shift: &Tensor, scale: &Tensor) -> Result<Tensor> {
    x.broadcast_mul(&(scale + 1.0)?)?.broadcast_add(shift)
}
