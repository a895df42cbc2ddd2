//! The Llama stack both halves of CSM are made of (`CsmDecoderLayer` in
//! transformers): pre-norm attention with grouped KV heads and rotary
//! positions (rotate-half layout, llama3 frequency scaling), a SiLU-gated
//! MLP, a final RMS norm. Weight names are transformers'.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{linear_b, rms_norm, Linear, RmsNorm, VarBuilder};
use serde::Deserialize;

/// `rope_parameters` (transformers 5) or `rope_scaling` (4.x) of a config.
#[derive(Clone, Debug, Deserialize)]
pub struct RopeParameters {
    #[serde(default = "default_rope_type", alias = "type")]
    pub rope_type: String,
    pub rope_theta: Option<f64>,
    pub factor: Option<f64>,
    pub low_freq_factor: Option<f64>,
    pub high_freq_factor: Option<f64>,
    pub original_max_position_embeddings: Option<usize>,
}

fn default_rope_type() -> String {
    "default".into()
}

/// The fields of `CsmConfig` and `CsmDepthDecoderConfig` that shape a stack.
#[derive(Clone, Debug, Deserialize)]
pub struct LlamaConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    pub head_dim: Option<usize>,
    pub rms_norm_eps: f64,
    pub max_position_embeddings: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    pub rope_parameters: Option<RopeParameters>,
    /// transformers 4.x spelling of the same.
    pub rope_scaling: Option<RopeParameters>,
    pub rope_theta: Option<f64>,
}

fn default_act() -> String {
    "silu".into()
}

impl LlamaConfig {
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads)
    }

    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Inverse rotary frequencies, as transformers computes them (f32,
    /// then llama3's smooth scaling of the long wavelengths).
    pub fn inv_freq(&self) -> Vec<f32> {
        let rope = self.rope_parameters.as_ref().or(self.rope_scaling.as_ref());
        let theta = rope
            .and_then(|r| r.rope_theta)
            .or(self.rope_theta)
            .unwrap_or(10_000.0) as f32;
        let dim = self.head_dim();
        let base: Vec<f32> = (0..dim)
            .step_by(2)
            .map(|i| 1.0 / theta.powf(i as f32 / dim as f32))
            .collect();
        let Some(rope) = rope.filter(|r| r.rope_type == "llama3") else {
            return base;
        };
        let factor = rope.factor.unwrap_or(8.0) as f32;
        let low = rope.low_freq_factor.unwrap_or(1.0) as f32;
        let high = rope.high_freq_factor.unwrap_or(4.0) as f32;
        let old_len = rope.original_max_position_embeddings.unwrap_or(8192) as f32;
        let (low_wavelen, high_wavelen) = (old_len / low, old_len / high);
        base.into_iter()
            .map(|freq| {
                let wavelen = 2.0 * std::f32::consts::PI / freq;
                if wavelen < high_wavelen {
                    freq
                } else if wavelen > low_wavelen {
                    freq / factor
                } else {
                    let smooth = (old_len / wavelen - low) / (high - low);
                    (1.0 - smooth) * freq / factor + smooth * freq
                }
            })
            .collect()
    }
}

#[derive(Clone, Debug)]
struct Rotary {
    cos: Tensor, // (positions, head_dim / 2)
    sin: Tensor,
}

impl Rotary {
    fn new(cfg: &LlamaConfig, device: &Device) -> Result<Self> {
        let inv_freq = cfg.inv_freq();
        let half = inv_freq.len();
        let inv_freq = Tensor::from_vec(inv_freq, (1, half), device)?;
        let positions = Tensor::arange(0u32, cfg.max_position_embeddings as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((cfg.max_position_embeddings, 1))?;
        let angles = positions.matmul(&inv_freq)?; // (positions, half)
        Ok(Self {
            cos: angles.cos()?,
            sin: angles.sin()?,
        })
    }

    fn apply(&self, x: &Tensor, offset: usize) -> Result<Tensor> {
        let (_b, _h, t, _d) = x.dims4()?;
        let cos = self.cos.narrow(0, offset, t)?;
        let sin = self.sin.narrow(0, offset, t)?;
        candle_nn::rotary_emb::rope(&x.contiguous()?, &cos, &sin)
    }
}

#[derive(Clone, Debug)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    cache: Option<(Tensor, Tensor)>,
}

impl Attention {
    fn new(cfg: &LlamaConfig, vb: VarBuilder) -> Result<Self> {
        let (h, heads, kv_heads, head_dim) = (
            cfg.hidden_size,
            cfg.num_attention_heads,
            cfg.kv_heads(),
            cfg.head_dim(),
        );
        let bias = cfg.attention_bias;
        Ok(Self {
            q_proj: linear_b(h, heads * head_dim, bias, vb.pp("q_proj"))?,
            k_proj: linear_b(h, kv_heads * head_dim, bias, vb.pp("k_proj"))?,
            v_proj: linear_b(h, kv_heads * head_dim, bias, vb.pp("v_proj"))?,
            o_proj: linear_b(heads * head_dim, h, bias, vb.pp("o_proj"))?,
            heads,
            kv_heads,
            head_dim,
            cache: None,
        })
    }

    fn forward(&mut self, x: &Tensor, rotary: &Rotary, offset: usize) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let split = |y: Tensor, n: usize| -> Result<Tensor> {
            y.reshape((b, t, n, self.head_dim))?.transpose(1, 2) // (b, heads, t, head_dim)
        };
        let q = rotary.apply(&split(self.q_proj.forward(x)?, self.heads)?, offset)?;
        let k = rotary.apply(&split(self.k_proj.forward(x)?, self.kv_heads)?, offset)?;
        let v = split(self.v_proj.forward(x)?, self.kv_heads)?.contiguous()?;
        let (k, v) = match self.cache.take() {
            Some((k0, v0)) => (Tensor::cat(&[k0, k], 2)?, Tensor::cat(&[v0, v], 2)?),
            None => (k, v),
        };
        self.cache = Some((k.clone(), v.clone()));
        // Grouped heads: each KV head serves heads / kv_heads query heads.
        let repeat = self.heads / self.kv_heads;
        let expand = |y: &Tensor| -> Result<Tensor> {
            let (b, kvh, s, d) = y.dims4()?;
            y.unsqueeze(2)?
                .expand((b, kvh, repeat, s, d))?
                .reshape((b, kvh * repeat, s, d)) // (b, heads, s, head_dim)
        };
        let (k, v) = (expand(&k)?, expand(&v)?);
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)? * scale)?; // (b, heads, t, s)
        if t > 1 {
            scores = scores.broadcast_add(&causal_mask(t, offset, x.device())?)?;
        }
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = weights.matmul(&v)?; // (b, heads, t, head_dim)
        let out = out
            .transpose(1, 2)?
            .reshape((b, t, self.heads * self.head_dim))?;
        self.o_proj.forward(&out)
    }
}

/// (t, offset + t): position i sees every cached position and itself.
fn causal_mask(t: usize, offset: usize, device: &Device) -> Result<Tensor> {
    let s = offset + t;
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| {
            (0..s).map(move |j| {
                if j > offset + i {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Tensor::from_vec(mask, (t, s), device)
}

#[derive(Clone, Debug)]
struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Mlp {
    fn new(cfg: &LlamaConfig, vb: VarBuilder) -> Result<Self> {
        let (h, i, bias) = (cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias);
        Ok(Self {
            gate_proj: linear_b(h, i, bias, vb.pp("gate_proj"))?,
            up_proj: linear_b(h, i, bias, vb.pp("up_proj"))?,
            down_proj: linear_b(i, h, bias, vb.pp("down_proj"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate_proj.forward(x)?)?;
        self.down_proj.forward(&(gate * self.up_proj.forward(x)?)?)
    }
}

#[derive(Clone, Debug)]
struct Layer {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
}

/// A stack with its KV cache: `forward` appends to the cache.
#[derive(Clone, Debug)]
pub struct Llama {
    layers: Vec<Layer>,
    norm: RmsNorm,
    rotary: Rotary,
    max_positions: usize,
    position: usize,
}

impl Llama {
    /// `vb` holds `layers.N.*` and `norm.weight`.
    pub fn new(cfg: &LlamaConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.hidden_act != "silu" {
            candle_core::bail!("hidden_act {:?} is not supported (silu is)", cfg.hidden_act);
        }
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                Ok(Layer {
                    input_layernorm: rms_norm(h, eps, vb.pp("input_layernorm"))?,
                    self_attn: Attention::new(cfg, vb.pp("self_attn"))?,
                    post_attention_layernorm: rms_norm(h, eps, vb.pp("post_attention_layernorm"))?,
                    mlp: Mlp::new(cfg, vb.pp("mlp"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            norm: rms_norm(h, eps, vb.pp("norm"))?,
            rotary: Rotary::new(cfg, vb.device())?,
            max_positions: cfg.max_position_embeddings,
            position: 0,
        })
    }

    pub fn clear_cache(&mut self) {
        self.position = 0;
        for layer in &mut self.layers {
            layer.self_attn.cache = None;
        }
    }

    /// Positions already in the cache.
    pub fn position(&self) -> usize {
        self.position
    }

    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// (b, t, hidden) embeddings after the cached positions → (b, t, hidden), normed.
    pub fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let offset = self.position;
        let t = x.dim(1)?;
        if offset + t > self.max_positions {
            candle_core::bail!(
                "{} positions exceed the model's {}",
                offset + t,
                self.max_positions
            );
        }
        let mut x = x.clone();
        for layer in &mut self.layers {
            let attn = layer.self_attn.forward(
                &layer.input_layernorm.forward(&x)?,
                &self.rotary,
                offset,
            )?;
            x = (x + attn)?;
            let mlp = layer
                .mlp
                .forward(&layer.post_attention_layernorm.forward(&x)?)?;
            x = (x + mlp)?;
        }
        self.position += t;
        self.norm.forward(&x)
    }
}

/// The last position of a (b, t, hidden) tensor: (b, hidden).
pub fn last_position(x: &Tensor) -> Result<Tensor> {
    let t = x.dim(1)?;
    x.narrow(1, t - 1, 1)?.squeeze(1)
}
