//! diffusers' `LTXAttention`: q/k/v projections, RMS norm of q and k across
//! all heads, rotary embeddings on the whole inner dimension (self-attention
//! only), scaled dot-product attention, output projection.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{RmsNorm, VarBuilder};

use crate::linear::{linear_b, Linear};

use super::cpu_ops::softmax_last_dim;
use super::rope::RotaryTables;

/// Scaled dot-product attention: `softmax(q·kᵀ/√d + mask)·v`.
///
/// `q`: [B, Nq, H, d], `k`, `v`: [B, Nk, H, d] (the layout the projections
/// produce); `mask`: an additive bias broadcastable to [B, H, Nq, Nk].
/// Returns [B, Nq, H, d]. The one place a fused kernel (flash attention
/// under the `cuda` feature) can replace the plain softmax.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    // Unmasked attention (the self-attention) on the GPU in bf16/f16: the
    // fused kernel takes the same [B, N, H, d] layout. Built only with
    // `flash-attn`, which needs nvcc: not compiled on machines without it.
    #[cfg(feature = "flash-attn")]
    if mask.is_none() && q.device().is_cuda() && matches!(q.dtype(), DType::BF16 | DType::F16) {
        let scale = 1.0 / (q.dim(3)? as f32).sqrt();
        return candle_flash_attn::flash_attn(
            &q.contiguous()?,
            &k.contiguous()?,
            &v.contiguous()?,
            scale,
            false,
        );
    }
    if let Some(out) = super::attention_cpu::attention_f32(q, k, v, mask)? {
        return Ok(out);
    }
    let (b, nq, h, d) = q.dims4()?;
    let nk = k.dim(1)?;
    // Scaling q (nq·d values) is cheaper than scaling the scores (nq·nk).
    let q = (q.transpose(1, 2)? * (1.0 / (d as f64).sqrt()))?; // (b, h, nq, d)
    let k_t = k.transpose(1, 2)?.contiguous()?.t()?; // (b, h, d, nk)
    let v = v.transpose(1, 2)?.contiguous()?; // (b, h, nk, d)

    // Queries in blocks, so the score matrix stays small (and is not a fresh
    // mmap, page-faulted in, on every call) however long the video is.
    let block = (SCORES_PER_BLOCK / (b * h * nk).max(1)).clamp(1, nq.max(1));
    let mut outputs = Vec::with_capacity(nq.div_ceil(block));
    for start in (0..nq).step_by(block) {
        let len = block.min(nq - start);
        let q = q.narrow(2, start, len)?.contiguous()?;
        let mut scores = crate::cpu_blas::matmul(&q, &k_t)?; // (b, h, len, nk)
        if let Some(mask) = mask {
            // A mask with a query axis is cut like the queries.
            let query_axis = mask.rank().saturating_sub(2);
            let mask = if mask.rank() >= 2 && mask.dim(query_axis)? == nq && nq > 1 {
                mask.narrow(query_axis, start, len)?
            } else {
                mask.clone()
            };
            scores = scores.broadcast_add(&mask)?;
        }
        let weights = softmax_last_dim(scores)?;
        outputs.push(crate::cpu_blas::matmul(&weights, &v)?); // (b, h, len, d)
    }
    Tensor::cat(&outputs, 2)?.transpose(1, 2) // (b, nq, h, d)
}

/// Score entries computed at once on the CPU path (16 MiB of f32).
const SCORES_PER_BLOCK: usize = 1 << 22;

#[derive(Debug, Clone)]
pub struct Attention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    norm_q: RmsNorm,
    norm_k: RmsNorm,
    heads: usize,
    head_dim: usize,
}

/// `torch.nn.RMSNorm`'s default in `LTXAttention`.
const QK_NORM_EPS: f64 = 1e-5;

impl Attention {
    /// `context_dim`: the width of what keys and values are read from.
    pub fn new(
        dim: usize,
        context_dim: usize,
        heads: usize,
        head_dim: usize,
        bias: bool,
        out_bias: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let inner = heads * head_dim;
        Ok(Self {
            to_q: linear_b(dim, inner, bias, vb.pp("to_q"))?,
            to_k: linear_b(context_dim, inner, bias, vb.pp("to_k"))?,
            to_v: linear_b(context_dim, inner, bias, vb.pp("to_v"))?,
            to_out: linear_b(inner, dim, out_bias, vb.pp("to_out").pp("0"))?,
            norm_q: candle_nn::rms_norm(inner, QK_NORM_EPS, vb.pp("norm_q"))?,
            norm_k: candle_nn::rms_norm(inner, QK_NORM_EPS, vb.pp("norm_k"))?,
            heads,
            head_dim,
        })
    }

    /// `x`: [B, N, dim]; `context`: [B, L, context_dim] for cross-attention,
    /// `None` for self-attention; `bias`: additive, broadcastable to [B, H, N, L].
    pub fn forward(
        &self,
        x: &Tensor,
        context: Option<&Tensor>,
        rotary: Option<&RotaryTables>,
        bias: Option<&Tensor>,
    ) -> Result<Tensor> {
        let context = context.unwrap_or(x);
        let mut q = self.norm_q.forward(&self.to_q.forward(x)?)?;
        let mut k = self.norm_k.forward(&self.to_k.forward(context)?)?;
        let v = self.to_v.forward(context)?;
        if let Some(tables) = rotary {
            q = apply_rotary(&q, tables)?;
            k = apply_rotary(&k, tables)?;
        }
        let (b, n, _) = q.dims3()?;
        let l = k.dim(1)?;
        let q = q.reshape((b, n, self.heads, self.head_dim))?;
        let k = k.reshape((b, l, self.heads, self.head_dim))?;
        let v = v.reshape((b, l, self.heads, self.head_dim))?;
        let out = attention(&q, &k, &v, bias)?.reshape((b, n, self.heads * self.head_dim))?;
        self.to_out.forward(&out)
    }
}

/// diffusers' `apply_rotary_emb`: channel pairs (2i, 2i+1) rotated, in f32.
fn apply_rotary(x: &Tensor, tables: &RotaryTables) -> Result<Tensor> {
    let dtype = x.dtype();
    let (b, n, dim) = x.dims3()?;
    // rope_i reads [B, heads, N, dim]: the whole inner dimension is one "head" here.
    let x = x.to_dtype(DType::F32)?.reshape((b, 1, n, dim))?;
    let (cos, sin) = if tables.cos.dim(0)? == b {
        (tables.cos.clone(), tables.sin.clone())
    } else {
        // One table for every sample (grid positions): rope_i's 2-D form.
        (tables.cos.squeeze(0)?, tables.sin.squeeze(0)?)
    };
    candle_nn::rotary_emb::rope_i(&x.contiguous()?, &cos, &sin)?
        .reshape((b, n, dim))?
        .to_dtype(dtype)
}
