//! Layers LTX-2's connectors and transformer share: diffusers'
//! `LTX2Attention`, the tanh-GELU feed-forward, the caption projection, the
//! timestep embedding and `LTX2AdaLayerNormSingle`, and RMS norm without a
//! learned weight.

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{RmsNorm, VarBuilder};

use crate::linear::{linear_b, Linear};
use crate::ltx::transformer::cpu_ops::gelu_tanh;

use super::rope::RopeTables;
use crate::ltx::transformer::attention;

/// RMS norm over the last dimension without a learned weight
/// (`RMSNorm(elementwise_affine=False)`).
pub fn rms_norm(x: &Tensor, eps: f64) -> Result<Tensor> {
    let ones = Tensor::ones(x.dim(D::Minus1)?, x.dtype(), x.device())?;
    candle_nn::ops::rms_norm(x, &ones, eps as f32)
}

/// LayerNorm over the last dimension without affine parameters.
pub fn layer_norm(x: &Tensor, eps: f64) -> Result<Tensor> {
    let dim = x.dim(D::Minus1)?;
    let ones = Tensor::ones(dim, x.dtype(), x.device())?;
    let zeros = Tensor::zeros(dim, x.dtype(), x.device())?;
    candle_nn::ops::layer_norm(x, &ones, &zeros, eps as f32)
}

/// The largest finite value of `dtype` (`torch.finfo(dtype).max`), for the
/// connectors' additive masks.
pub fn dtype_max(dtype: DType) -> f64 {
    match dtype {
        DType::BF16 => half::bf16::MAX.to_f64(),
        DType::F16 => half::f16::MAX.to_f64(),
        DType::F64 => f64::MAX,
        _ => f32::MAX as f64,
    }
}

/// `FeedForward(activation_fn="gelu-approximate")`: dim → 4·dim → dim.
#[derive(Debug, Clone)]
pub struct FeedForward {
    proj_in: Linear,
    proj_out: Linear,
}

impl FeedForward {
    pub fn new(dim: usize, bias: bool, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            proj_in: linear_b(dim, 4 * dim, bias, vb.pp("net").pp("0").pp("proj"))?,
            proj_out: linear_b(4 * dim, dim, bias, vb.pp("net").pp("2"))?,
        })
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // The tanh approximation, in place and threaded on the CPU.
        self.proj_out.forward(&gelu_tanh(self.proj_in.forward(x)?)?)
    }
}

/// `PixArtAlphaTextProjection`: linear, tanh-GELU, linear.
#[derive(Debug, Clone)]
pub struct TextProjection {
    linear_1: Linear,
    linear_2: Linear,
}

impl TextProjection {
    pub fn new(in_features: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            linear_1: linear_b(in_features, hidden, true, vb.pp("linear_1"))?,
            linear_2: linear_b(hidden, hidden, true, vb.pp("linear_2"))?,
        })
    }
}

impl Module for TextProjection {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.linear_2.forward(&self.linear_1.forward(x)?.gelu()?)
    }
}

/// Channels of the sinusoidal timestep features (`Timesteps(num_channels=256)`).
const TIMESTEP_CHANNELS: usize = 256;

/// Sinusoidal features of `timesteps` ([n] → [n, 256], f32, on the host), as
/// `get_timestep_embedding(flip_sin_to_cos=True, downscale_freq_shift=0)` in
/// torch's f32 order: timesteps reach 1000, where one rounding of `t · f`
/// already moves the phase by 6e-5.
pub fn timestep_features(timesteps: &Tensor) -> Result<Tensor> {
    let timesteps = timesteps
        .flatten_all()?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?;
    let half = TIMESTEP_CHANNELS / 2;
    let log_period = -(10000f64.ln() as f32);
    let frequencies: Vec<f32> = (0..half)
        .map(|i| ((log_period * i as f32) / half as f32).exp())
        .collect();
    let mut features = Vec::with_capacity(timesteps.len() * TIMESTEP_CHANNELS);
    for &t in &timesteps {
        features.extend(frequencies.iter().map(|&f| (t * f).cos()));
        features.extend(frequencies.iter().map(|&f| (t * f).sin()));
    }
    Tensor::from_vec(features, (timesteps.len(), TIMESTEP_CHANNELS), &Device::Cpu)
}

/// diffusers' `TimestepEmbedding`: linear, SiLU, linear.
#[derive(Debug, Clone)]
pub struct TimestepEmbedding {
    linear_1: Linear,
    linear_2: Linear,
}

impl TimestepEmbedding {
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            linear_1: linear_b(TIMESTEP_CHANNELS, dim, true, vb.pp("linear_1"))?,
            linear_2: linear_b(dim, dim, true, vb.pp("linear_2"))?,
        })
    }

    /// `timesteps` [n] → [n, dim] in `dtype` on `timesteps`' device.
    pub fn forward(&self, timesteps: &Tensor, dtype: DType) -> Result<Tensor> {
        let features = timestep_features(timesteps)?
            .to_device(timesteps.device())?
            .to_dtype(dtype)?;
        self.linear_2
            .forward(&self.linear_1.forward(&features)?.silu()?)
    }
}

/// `LTX2AdaLayerNormSingle`: a timestep becomes `params` modulation vectors
/// and the embedding the output norm uses.
#[derive(Debug, Clone)]
pub struct AdaLayerNormSingle {
    timestep_embedder: TimestepEmbedding,
    linear: Linear,
}

impl AdaLayerNormSingle {
    pub fn new(dim: usize, params: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            timestep_embedder: TimestepEmbedding::new(dim, vb.pp("emb").pp("timestep_embedder"))?,
            linear: linear_b(dim, params * dim, true, vb.pp("linear"))?,
        })
    }

    /// `timesteps` [n] → (modulation [n, params·dim], embedded [n, dim]).
    pub fn forward(&self, timesteps: &Tensor, dtype: DType) -> Result<(Tensor, Tensor)> {
        let embedded = self.timestep_embedder.forward(timesteps, dtype)?;
        let modulation = self.linear.forward(&embedded.silu()?)?;
        Ok((modulation, embedded))
    }
}

/// STG's perturbation of a self-attention (`LTX2PerturbedAttnProcessor`
/// with every sample perturbed, as the pipelines run it): the attention is
/// skipped and the values stand in for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perturbation {
    All,
}

/// diffusers' `LTX2Attention`: q/k/v projections, RMS norm of q and k across
/// all heads, rotary embeddings on queries and keys (separate tables for the
/// cross-modal attentions), attention, optional per-head gates, output projection.
#[derive(Debug, Clone)]
pub struct Attention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    norm_q: RmsNorm,
    norm_k: RmsNorm,
    to_gate_logits: Option<Linear>,
    heads: usize,
    head_dim: usize,
}

/// Shapes of one `LTX2Attention`.
#[derive(Debug, Clone, Copy)]
pub struct AttentionSpec {
    pub query_dim: usize,
    /// Width keys and values are read from (the query width for self-attention).
    pub context_dim: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub bias: bool,
    pub out_bias: bool,
    pub gated: bool,
    pub norm_eps: f64,
}

impl Attention {
    pub fn new(spec: AttentionSpec, vb: VarBuilder) -> Result<Self> {
        let inner = spec.heads * spec.head_dim;
        let to_gate_logits = spec
            .gated
            .then(|| linear_b(spec.query_dim, spec.heads, true, vb.pp("to_gate_logits")))
            .transpose()?;
        Ok(Self {
            to_q: linear_b(spec.query_dim, inner, spec.bias, vb.pp("to_q"))?,
            to_k: linear_b(spec.context_dim, inner, spec.bias, vb.pp("to_k"))?,
            to_v: linear_b(spec.context_dim, inner, spec.bias, vb.pp("to_v"))?,
            to_out: linear_b(
                inner,
                spec.query_dim,
                spec.out_bias,
                vb.pp("to_out").pp("0"),
            )?,
            norm_q: candle_nn::rms_norm(inner, spec.norm_eps, vb.pp("norm_q"))?,
            norm_k: candle_nn::rms_norm(inner, spec.norm_eps, vb.pp("norm_k"))?,
            to_gate_logits,
            heads: spec.heads,
            head_dim: spec.head_dim,
        })
    }

    /// `x`: [B, N, query_dim]; `context`: [B, L, context_dim] or `None` for
    /// self-attention; `q_rope`/`k_rope`: rotations of queries and keys
    /// (`k_rope` defaults to `q_rope`); `bias`: additive, broadcastable to [B, H, N, L].
    pub fn forward(
        &self,
        x: &Tensor,
        context: Option<&Tensor>,
        q_rope: Option<&RopeTables>,
        k_rope: Option<&RopeTables>,
        bias: Option<&Tensor>,
        perturbation: Option<&Perturbation>,
    ) -> Result<Tensor> {
        let context = context.unwrap_or(x);
        let (b, n, _) = x.dims3()?;
        let inner = self.heads * self.head_dim;
        let v = self.to_v.forward(context)?;
        let attended = if matches!(perturbation, Some(Perturbation::All)) {
            // Skipped attention: the values stand in for it (self-attention only).
            v
        } else {
            let mut q = self.norm_q.forward(&self.to_q.forward(x)?)?;
            let mut k = self.norm_k.forward(&self.to_k.forward(context)?)?;
            if let Some(q_rope) = q_rope {
                q = q_rope.apply(&q)?;
                k = k_rope.unwrap_or(q_rope).apply(&k)?;
            }
            let l = k.dim(1)?;
            // (b, n, heads, head_dim): the layout the attention kernel takes
            let q = q.reshape((b, n, self.heads, self.head_dim))?;
            let k = k.reshape((b, l, self.heads, self.head_dim))?;
            let v_heads = v.reshape((b, l, self.heads, self.head_dim))?;
            attention(&q, &k, &v_heads, bias)?.reshape((b, n, inner))?
        };
        let attended = match &self.to_gate_logits {
            Some(gate) => {
                // 2·sigmoid so zero logits give gates of 1; one gate per head.
                let gates = (candle_nn::ops::sigmoid(&gate.forward(x)?)? * 2.0)?;
                attended
                    .reshape((b, n, self.heads, self.head_dim))?
                    .broadcast_mul(&gates.unsqueeze(3)?)?
                    .reshape((b, n, inner))?
            }
            None => attended,
        };
        self.to_out.forward(&attended)
    }
}
