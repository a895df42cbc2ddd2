//! The T5 encoder (transformers' `T5EncoderModel`), after
//! candle-transformers' `t5`, with what LTX-Video needs and it lacks: an
//! attention mask over padded tokens (`LTXConditionPipeline` passes one) and
//! a `&self` forward (no cache, so one loaded model serves every job).

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{embedding, linear_no_bias, Activation, Embedding, Linear, VarBuilder};
use serde::Deserialize;

fn default_num_buckets() -> usize {
    32
}
fn default_max_distance() -> usize {
    128
}
fn default_eps() -> f64 {
    1e-6
}
fn default_feed_forward_proj() -> String {
    "relu".into()
}

/// `text_encoder/config.json` (transformers' T5Config), encoder fields.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    #[serde(default = "default_num_buckets")]
    pub relative_attention_num_buckets: usize,
    #[serde(default = "default_max_distance")]
    pub relative_attention_max_distance: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// "relu", "gated-gelu" (T5 v1.1), "gated-silu", ...
    #[serde(default = "default_feed_forward_proj")]
    pub feed_forward_proj: String,
}

impl Config {
    /// (gated, activation) as transformers reads `feed_forward_proj`.
    pub fn feed_forward(&self) -> std::result::Result<(bool, Activation), String> {
        let (gated, name) = match self.feed_forward_proj.strip_prefix("gated-") {
            Some(name) => (true, name),
            None => (false, self.feed_forward_proj.as_str()),
        };
        let activation = match name {
            "relu" => Activation::Relu,
            // transformers maps "gated-gelu" to gelu_new, the tanh approximation.
            "gelu" if gated => Activation::NewGelu,
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Activation::NewGelu,
            "silu" | "swish" => Activation::Silu,
            other => return Err(format!("unsupported feed_forward_proj {other:?}")),
        };
        Ok((gated, activation))
    }
}

/// T5's RMS norm (no mean, no bias), computed in f32.
#[derive(Debug, Clone)]
struct T5LayerNorm {
    weight: Tensor,
    eps: f64,
}

impl T5LayerNorm {
    fn new(size: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get(size, "weight")?,
            eps,
        })
    }
}

impl Module for T5LayerNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let dtype = xs.dtype();
        let xs = xs.to_dtype(DType::F32)?;
        let variance = xs.sqr()?.mean_keepdim(D::Minus1)?;
        let xs = xs.broadcast_div(&(variance + self.eps)?.sqrt()?)?;
        xs.to_dtype(dtype)?.broadcast_mul(&self.weight)
    }
}

#[derive(Debug, Clone)]
struct FeedForward {
    wi: Linear,
    /// The gate's second input projection (gated variants only).
    wi_1: Option<Linear>,
    wo: Linear,
    act: Activation,
}

impl FeedForward {
    fn new(cfg: &Config, gated: bool, act: Activation, vb: VarBuilder) -> Result<Self> {
        let (wi, wi_1) = if gated {
            (
                linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("wi_0"))?,
                Some(linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("wi_1"))?),
            )
        } else {
            (linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("wi"))?, None)
        };
        let wo = linear_no_bias(cfg.d_ff, cfg.d_model, vb.pp("wo"))?;
        Ok(Self { wi, wi_1, wo, act })
    }
}

impl Module for FeedForward {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let hidden = self.act.forward(&self.wi.forward(xs)?)?;
        let hidden = match &self.wi_1 {
            Some(wi_1) => (hidden * wi_1.forward(xs)?)?,
            None => hidden,
        };
        self.wo.forward(&hidden)
    }
}

#[derive(Debug, Clone)]
struct SelfAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    num_heads: usize,
    d_kv: usize,
}

impl SelfAttention {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let inner = cfg.num_heads * cfg.d_kv;
        Ok(Self {
            q: linear_no_bias(cfg.d_model, inner, vb.pp("q"))?,
            k: linear_no_bias(cfg.d_model, inner, vb.pp("k"))?,
            v: linear_no_bias(cfg.d_model, inner, vb.pp("v"))?,
            o: linear_no_bias(inner, cfg.d_model, vb.pp("o"))?,
            num_heads: cfg.num_heads,
            d_kv: cfg.d_kv,
        })
    }

    /// `bias` is the position bias plus the padding mask, (b or 1, h, l, l).
    fn forward(&self, xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (b, l, _) = xs.dims3()?;
        let heads = |t: Tensor| {
            t.reshape((b, l, self.num_heads, self.d_kv))?
                .transpose(1, 2)?
                .contiguous()
        }; // (b, h, l, d)
        let q = heads(self.q.forward(xs)?)?;
        let k = heads(self.k.forward(xs)?)?;
        let v = heads(self.v.forward(xs)?)?;
        // T5 does not scale the scores by 1/sqrt(d): the init absorbs it.
        let scores = q.matmul(&k.t()?)?.to_dtype(DType::F32)?; // (b, h, l, l)
        let scores = scores.broadcast_add(bias)?;
        let weights = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(v.dtype())?;
        let out = weights.matmul(&v)?; // (b, h, l, d)
        let out = out
            .transpose(1, 2)?
            .reshape((b, l, self.num_heads * self.d_kv))?;
        self.o.forward(&out)
    }
}

#[derive(Debug, Clone)]
struct Block {
    attn_norm: T5LayerNorm,
    attn: SelfAttention,
    ff_norm: T5LayerNorm,
    ff: FeedForward,
}

impl Block {
    fn new(cfg: &Config, gated: bool, act: Activation, vb: VarBuilder) -> Result<Self> {
        let (vb0, vb1) = (vb.pp("layer.0"), vb.pp("layer.1"));
        Ok(Self {
            attn_norm: T5LayerNorm::new(cfg.d_model, cfg.layer_norm_epsilon, vb0.pp("layer_norm"))?,
            attn: SelfAttention::new(cfg, vb0.pp("SelfAttention"))?,
            ff_norm: T5LayerNorm::new(cfg.d_model, cfg.layer_norm_epsilon, vb1.pp("layer_norm"))?,
            ff: FeedForward::new(cfg, gated, act, vb1.pp("DenseReluDense"))?,
        })
    }

    fn forward(&self, xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let xs = (xs + self.attn.forward(&self.attn_norm.forward(xs)?, bias)?)?;
        &xs + self.ff.forward(&self.ff_norm.forward(&xs)?)?
    }
}

/// Bidirectional relative-position bucket of `key - query`, as transformers
/// computes it (the log in f32).
fn relative_bucket(relative: i64, num_buckets: usize, max_distance: usize) -> u32 {
    let half = (num_buckets / 2) as i64;
    let mut bucket = if relative > 0 { half } else { 0 };
    let distance = relative.abs();
    let max_exact = half / 2;
    bucket += if distance < max_exact {
        distance
    } else {
        let ratio = (distance as f32 / max_exact as f32).ln()
            / ((max_distance as f64 / max_exact as f64).ln() as f32)
            * (half - max_exact) as f32;
        (max_exact + ratio as i64).min(half - 1)
    };
    bucket as u32
}

#[derive(Debug, Clone)]
pub struct T5Encoder {
    embed: Embedding,
    relative_bias: Embedding,
    blocks: Vec<Block>,
    final_norm: T5LayerNorm,
    cfg: Config,
}

impl T5Encoder {
    /// `vb` at the checkpoint's root (`shared.weight`, `encoder.*`).
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (gated, act) = cfg.feed_forward().map_err(candle_core::Error::msg)?;
        // Encoder-only checkpoints may keep the tied embedding under either name.
        let embed_vb = if vb.contains_tensor("shared.weight") {
            vb.pp("shared")
        } else {
            vb.pp("encoder.embed_tokens")
        };
        let embed = embedding(cfg.vocab_size, cfg.d_model, embed_vb)?;
        let vb = vb.pp("encoder");
        let relative_bias = embedding(
            cfg.relative_attention_num_buckets,
            cfg.num_heads,
            vb.pp("block.0.layer.0.SelfAttention.relative_attention_bias"),
        )?;
        let blocks = (0..cfg.num_layers)
            .map(|i| Block::new(cfg, gated, act, vb.pp(format!("block.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let final_norm = T5LayerNorm::new(
            cfg.d_model,
            cfg.layer_norm_epsilon,
            vb.pp("final_layer_norm"),
        )?;
        Ok(Self {
            embed,
            relative_bias,
            blocks,
            final_norm,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The first block's relative-position bias, shared by all blocks: (1, h, l, l), f32.
    fn position_bias(&self, len: usize, device: &candle_core::Device) -> Result<Tensor> {
        let buckets: Vec<u32> = (0..len as i64)
            .flat_map(|q| {
                (0..len as i64).map(move |k| {
                    relative_bucket(
                        k - q,
                        self.cfg.relative_attention_num_buckets,
                        self.cfg.relative_attention_max_distance,
                    )
                })
            })
            .collect();
        let buckets = Tensor::from_vec(buckets, (len, len), device)?;
        self.relative_bias
            .forward(&buckets)? // (q, k, h)
            .permute((2, 0, 1))?
            .unsqueeze(0)?
            .to_dtype(DType::F32)
    }

    /// Hidden states (b, l, d_model) of `input_ids` (b, l). `mask` (b, l),
    /// 1 for tokens and 0 for padding, hides padding from attention as
    /// transformers does with `attention_mask`; without it every position
    /// attends to every other, padding included.
    pub fn forward(&self, input_ids: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (_, len) = input_ids.dims2()?;
        let mut bias = self.position_bias(len, input_ids.device())?;
        if let Some(mask) = mask {
            // (1 - mask) * f32::MIN, broadcast over heads and queries: (b, 1, 1, l).
            let hidden = (1.0 - mask.to_dtype(DType::F32)?)?;
            let additive = (hidden * f64::from(f32::MIN))?.unsqueeze(1)?.unsqueeze(1)?;
            bias = bias.broadcast_add(&additive)?;
        }
        let mut xs = self.embed.forward(input_ids)?;
        for block in &self.blocks {
            xs = block.forward(&xs, &bias)?;
        }
        self.final_norm.forward(&xs)
    }
}
