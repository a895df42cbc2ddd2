//! Gemma 3's text model (transformers' `Gemma3TextModel`, the language model
//! inside the `Gemma3ForConditionalGeneration` LTX-2 ships as its text
//! encoder), returning every layer's hidden states as LTX-2 stacks them:
//! the scaled embeddings, each decoder layer's output, and the last one
//! after the final norm.
//!
//! candle-transformers' `gemma3` returns logits only; this one keeps the
//! states, takes a padding mask (Gemma pads on the left, and positions count
//! the padding, as in transformers) and alternates sliding-window and global
//! layers with their own rotary bases as `layer_types` says.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use crate::linear::{linear_b, Linear};
use serde::Deserialize;

use crate::ltx::transformer::attention;

/// A rotary embedding's parameters (`rope_parameters[layer_type]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RopeParameters {
    #[serde(default = "default_rope_type")]
    pub rope_type: String,
    pub rope_theta: Option<f64>,
    /// Linear scaling: positions divided by `factor`.
    pub factor: Option<f64>,
}

fn default_rope_type() -> String {
    "default".into()
}

/// `text_config` of a Gemma 3 config (or a `gemma3_text` config), with
/// transformers' defaults; both the current `rope_parameters`/`layer_types`
/// and the older `rope_theta`/`rope_local_base_freq`/`rope_scaling`/
/// `sliding_window_pattern` spellings are read.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub hidden_activation: String,
    pub rms_norm_eps: f64,
    pub attention_bias: bool,
    pub query_pre_attn_scalar: f64,
    pub sliding_window: Option<usize>,
    pub layer_types: Option<Vec<String>>,
    pub sliding_window_pattern: Option<usize>,
    pub rope_parameters: Option<std::collections::HashMap<String, RopeParameters>>,
    pub rope_theta: Option<f64>,
    pub rope_local_base_freq: Option<f64>,
    pub rope_scaling: Option<RopeParameters>,
    pub attn_logit_softcapping: Option<f64>,
    pub use_bidirectional_attention: Option<bool>,
    pub pad_token_id: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            vocab_size: 262_208,
            hidden_size: 2304,
            intermediate_size: 9216,
            num_hidden_layers: 26,
            num_attention_heads: 8,
            num_key_value_heads: 4,
            head_dim: 256,
            hidden_activation: "gelu_pytorch_tanh".into(),
            rms_norm_eps: 1e-6,
            attention_bias: false,
            query_pre_attn_scalar: 256.0,
            sliding_window: Some(4096),
            layer_types: None,
            sliding_window_pattern: None,
            rope_parameters: None,
            rope_theta: None,
            rope_local_base_freq: None,
            rope_scaling: None,
            attn_logit_softcapping: None,
            use_bidirectional_attention: None,
            pad_token_id: Some(0),
        }
    }
}

/// One layer's attention kind and rotary frequencies.
#[derive(Debug, Clone, PartialEq)]
struct LayerKind {
    sliding: bool,
    /// `1 / (θ^(2i/d))`, divided by the linear scaling factor, f32.
    inverse_frequencies: Vec<f32>,
}

impl Config {
    /// Checks what this implementation supports; the reason names the field.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.hidden_activation != "gelu_pytorch_tanh" && self.hidden_activation != "gelu" {
            return Err(format!(
                "hidden_activation {:?} is not supported",
                self.hidden_activation
            ));
        }
        if self.attn_logit_softcapping.is_some() {
            return Err("attn_logit_softcapping is not supported (Gemma 3 has none)".into());
        }
        if self.use_bidirectional_attention == Some(true) {
            return Err("use_bidirectional_attention is not supported".into());
        }
        if self.num_key_value_heads == 0
            || !self
                .num_attention_heads
                .is_multiple_of(self.num_key_value_heads)
        {
            return Err("num_attention_heads must be a multiple of num_key_value_heads".into());
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err("head_dim must be even".into());
        }
        let kinds = self.layer_kinds()?;
        if kinds.len() != self.num_hidden_layers {
            return Err(format!(
                "layer_types lists {} layers, num_hidden_layers is {}",
                kinds.len(),
                self.num_hidden_layers
            ));
        }
        Ok(())
    }

    /// The rope parameters of a layer type, as transformers standardises them.
    fn rope_for(&self, layer_type: &str) -> std::result::Result<RopeParameters, String> {
        let given = self
            .rope_parameters
            .as_ref()
            .and_then(|p| p.get(layer_type).cloned());
        let mut rope = match (given, layer_type) {
            (Some(p), _) => p,
            // The old spelling: rope_scaling applies to the global layers.
            (None, "full_attention") => self.rope_scaling.clone().unwrap_or(RopeParameters {
                rope_type: default_rope_type(),
                rope_theta: None,
                factor: None,
            }),
            (None, _) => RopeParameters {
                rope_type: default_rope_type(),
                rope_theta: None,
                factor: None,
            },
        };
        if rope.rope_theta.is_none() {
            rope.rope_theta = Some(match layer_type {
                "full_attention" => self.rope_theta.unwrap_or(1_000_000.0),
                _ => self.rope_local_base_freq.unwrap_or(10_000.0),
            });
        }
        match rope.rope_type.as_str() {
            "default" | "linear" => Ok(rope),
            other => Err(format!("rope_type {other:?} is not supported")),
        }
    }

    fn layer_kinds(&self) -> std::result::Result<Vec<LayerKind>, String> {
        let types: Vec<String> = match &self.layer_types {
            Some(types) => types.clone(),
            None => {
                let pattern = self.sliding_window_pattern.unwrap_or(6).max(1);
                (0..self.num_hidden_layers)
                    .map(|i| {
                        if (i + 1) % pattern != 0 {
                            "sliding_attention".into()
                        } else {
                            "full_attention".into()
                        }
                    })
                    .collect()
            }
        };
        types
            .iter()
            .map(|t| {
                let sliding = match t.as_str() {
                    "sliding_attention" => true,
                    "full_attention" => false,
                    other => return Err(format!("layer type {other:?} is not supported")),
                };
                let rope = self.rope_for(t)?;
                let theta = rope.rope_theta.unwrap_or(10_000.0);
                let factor = if rope.rope_type == "linear" {
                    rope.factor.unwrap_or(1.0) as f32
                } else {
                    1.0
                };
                let dim = self.head_dim;
                let inverse_frequencies = (0..dim / 2)
                    .map(|i| {
                        // torch: base ** (arange(0, dim, 2) / dim) in f32, then 1 / that, / factor.
                        let exponent = (2 * i) as f32 / dim as f32;
                        let power = theta.powf(exponent as f64) as f32;
                        (1.0 / power) / factor
                    })
                    .collect();
                Ok(LayerKind {
                    sliding,
                    inverse_frequencies,
                })
            })
            .collect()
    }
}

/// Gemma's RMS norm: computed in f32, scaled by `1 + weight`.
#[derive(Debug, Clone)]
struct GemmaRmsNorm {
    scale: Tensor,
    eps: f32,
}

impl GemmaRmsNorm {
    fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get(dim, "weight")?.to_dtype(DType::F32)?;
        Ok(Self {
            scale: (weight + 1.0)?,
            eps: eps as f32,
        })
    }
}

impl Module for GemmaRmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let scale = self.scale.to_device(x.device())?;
        candle_nn::ops::rms_norm(&x.to_dtype(DType::F32)?, &scale, self.eps)?.to_dtype(dtype)
    }
}

#[derive(Debug, Clone)]
struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gate = self.gate_proj.forward(x)?.gelu()?;
        self.down_proj.forward(&(gate * self.up_proj.forward(x)?)?)
    }
}

#[derive(Debug, Clone)]
struct SelfAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    q_norm: GemmaRmsNorm,
    k_norm: GemmaRmsNorm,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    /// Applied to the queries so that the kernel's 1/√head_dim makes
    /// `query_pre_attn_scalar^-½` in all.
    query_scale: f64,
}

impl SelfAttention {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (h, kv, d) = (
            cfg.num_attention_heads,
            cfg.num_key_value_heads,
            cfg.head_dim,
        );
        let bias = cfg.attention_bias;
        Ok(Self {
            q_proj: linear_b(cfg.hidden_size, h * d, bias, vb.pp("q_proj"))?,
            k_proj: linear_b(cfg.hidden_size, kv * d, bias, vb.pp("k_proj"))?,
            v_proj: linear_b(cfg.hidden_size, kv * d, bias, vb.pp("v_proj"))?,
            o_proj: linear_b(h * d, cfg.hidden_size, bias, vb.pp("o_proj"))?,
            q_norm: GemmaRmsNorm::new(d, cfg.rms_norm_eps, vb.pp("q_norm"))?,
            k_norm: GemmaRmsNorm::new(d, cfg.rms_norm_eps, vb.pp("k_norm"))?,
            heads: h,
            kv_heads: kv,
            head_dim: d,
            query_scale: (d as f64).sqrt() / cfg.query_pre_attn_scalar.sqrt(),
        })
    }

    /// `x`: [B, L, hidden]; `cos`/`sin`: [L, head_dim/2]; `bias`: [B, 1, L, L].
    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let d = self.head_dim;
        // (b, heads, l, d) for the norms and rope_thd-free rotation
        let q = self
            .q_proj
            .forward(x)?
            .reshape((b, l, self.heads, d))?
            .transpose(1, 2)?;
        let k = self
            .k_proj
            .forward(x)?
            .reshape((b, l, self.kv_heads, d))?
            .transpose(1, 2)?;
        let v = self.v_proj.forward(x)?.reshape((b, l, self.kv_heads, d))?;
        let q = self.q_norm.forward(&q.contiguous()?)?;
        let k = self.k_norm.forward(&k.contiguous()?)?;
        let q = candle_nn::rotary_emb::rope(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
        let q = (q * self.query_scale)?.transpose(1, 2)?; // (b, l, heads, d)
        let k = k.transpose(1, 2)?;
        // Grouped keys and values: each serves heads / kv_heads query heads.
        let repeat = self.heads / self.kv_heads;
        let (k, v) = if repeat > 1 {
            let expand = |t: Tensor| -> Result<Tensor> {
                t.unsqueeze(3)?
                    .broadcast_as((b, l, self.kv_heads, repeat, d))?
                    .reshape((b, l, self.heads, d))
            };
            (expand(k)?, expand(v)?)
        } else {
            (k, v)
        };
        let out = attention(&q, &k, &v, Some(bias))?.reshape((b, l, self.heads * d))?;
        self.o_proj.forward(&out)
    }
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: SelfAttention,
    mlp: Mlp,
    input_layernorm: GemmaRmsNorm,
    post_attention_layernorm: GemmaRmsNorm,
    pre_feedforward_layernorm: GemmaRmsNorm,
    post_feedforward_layernorm: GemmaRmsNorm,
}

impl DecoderLayer {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.rms_norm_eps);
        let mlp = vb.pp("mlp");
        Ok(Self {
            self_attn: SelfAttention::new(cfg, vb.pp("self_attn"))?,
            mlp: Mlp {
                gate_proj: linear_b(h, i, false, mlp.pp("gate_proj"))?,
                up_proj: linear_b(h, i, false, mlp.pp("up_proj"))?,
                down_proj: linear_b(i, h, false, mlp.pp("down_proj"))?,
            },
            input_layernorm: GemmaRmsNorm::new(h, eps, vb.pp("input_layernorm"))?,
            post_attention_layernorm: GemmaRmsNorm::new(h, eps, vb.pp("post_attention_layernorm"))?,
            pre_feedforward_layernorm: GemmaRmsNorm::new(
                h,
                eps,
                vb.pp("pre_feedforward_layernorm"),
            )?,
            post_feedforward_layernorm: GemmaRmsNorm::new(
                h,
                eps,
                vb.pp("post_feedforward_layernorm"),
            )?,
        })
    }

    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let attended = self
            .self_attn
            .forward(&self.input_layernorm.forward(x)?, cos, sin, bias)?;
        let x = (x + self.post_attention_layernorm.forward(&attended)?)?;
        let fed = self
            .mlp
            .forward(&self.pre_feedforward_layernorm.forward(&x)?)?;
        x + self.post_feedforward_layernorm.forward(&fed)?
    }
}

/// A large negative bias for masked pairs: finite, so a fully masked row
/// (a padding query) softmaxes to uniform weights instead of NaN.
const MASKED: f32 = -1e30;

/// Gemma 3's text model.
#[derive(Debug, Clone)]
pub struct Gemma3TextModel {
    embed_tokens: Embedding,
    layers: Vec<DecoderLayer>,
    kinds: Vec<LayerKind>,
    norm: GemmaRmsNorm,
    embed_scale: f64,
    sliding_window: Option<usize>,
    config: Config,
}

impl Gemma3TextModel {
    /// `vb` is the language model's root (`embed_tokens`, `layers.N`, `norm`).
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.check().map_err(candle_core::Error::msg)?;
        let kinds = cfg.layer_kinds().map_err(candle_core::Error::msg)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::new(cfg, vb.pp("layers").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embed_tokens: candle_nn::embedding(
                cfg.vocab_size,
                cfg.hidden_size,
                vb.pp("embed_tokens"),
            )?,
            layers,
            kinds,
            norm: GemmaRmsNorm::new(cfg.hidden_size, cfg.rms_norm_eps, vb.pp("norm"))?,
            embed_scale: (cfg.hidden_size as f64).sqrt(),
            sliding_window: cfg.sliding_window,
            config: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `ids`: [B, L] (u32); `mask`: [B, L], 1 for real tokens. Returns the
    /// `num_hidden_layers + 1` hidden states, each [B, L, hidden].
    pub fn hidden_states(&self, ids: &Tensor, mask: &Tensor) -> Result<Vec<Tensor>> {
        let (_, len) = ids.dims2()?;
        let device = ids.device();
        let dtype = self.embed_tokens.embeddings().dtype();
        // transformers casts the scale to the weights' dtype first (√3840 → 62 in bf16).
        let scale = Tensor::new(self.embed_scale as f32, device)?
            .to_dtype(dtype)?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        let mut x = (self.embed_tokens.forward(ids)? * scale)?;
        let keep = mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let full_bias = attention_bias(&keep, len, None, dtype, device)?;
        let sliding_bias = attention_bias(&keep, len, self.sliding_window, dtype, device)?;
        let rope: Vec<(Tensor, Tensor)> = self
            .kinds
            .iter()
            .map(|kind| rotary(&kind.inverse_frequencies, len, dtype, device))
            .collect::<Result<_>>()?;
        let mut states = Vec::with_capacity(self.layers.len() + 1);
        states.push(x.clone());
        for (i, (layer, kind)) in self.layers.iter().zip(&self.kinds).enumerate() {
            let bias = if kind.sliding {
                &sliding_bias
            } else {
                &full_bias
            };
            x = layer.forward(&x, &rope[i].0, &rope[i].1, bias)?;
            if i + 1 < self.layers.len() {
                states.push(x.clone());
            }
        }
        states.push(self.norm.forward(&x)?);
        Ok(states)
    }
}

/// cos and sin of `position · inverse_frequency` for positions 0..len, [len, d/2].
fn rotary(
    inverse_frequencies: &[f32],
    len: usize,
    dtype: DType,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let half = inverse_frequencies.len();
    let mut cos = Vec::with_capacity(len * half);
    let mut sin = Vec::with_capacity(len * half);
    for p in 0..len {
        for &f in inverse_frequencies {
            let phase = p as f32 * f;
            cos.push(phase.cos());
            sin.push(phase.sin());
        }
    }
    Ok((
        Tensor::from_vec(cos, (len, half), device)?.to_dtype(dtype)?,
        Tensor::from_vec(sin, (len, half), device)?.to_dtype(dtype)?,
    ))
}

/// The additive causal (and sliding-window) padding bias, [B, 1, L, L]:
/// query q sees key k when k ≤ q, k is a real token and q − k < window.
fn attention_bias(
    keep: &[Vec<f32>],
    len: usize,
    window: Option<usize>,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let mut bias = Vec::with_capacity(keep.len() * len * len);
    for row in keep {
        for q in 0..len {
            for (k, &real) in row.iter().enumerate() {
                let visible = k <= q && real > 0.5 && window.is_none_or(|w| q - k < w);
                bias.push(if visible { 0f32 } else { MASKED });
            }
        }
    }
    Tensor::from_vec(bias, (keep.len(), 1, len, len), device)?.to_dtype(dtype)
}
