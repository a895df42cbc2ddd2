//! diffusers' `LTX2TextConnectors`: Gemma's stacked hidden states, normalised
//! and projected, run through one small 1-D transformer per modality to make
//! the video and the audio stream's text embeddings.
//!
//! LTX-2.0 normalises each layer by its masked mean and range and projects all
//! layers at once (`text_proj_in`); LTX-2.3 RMS-normalises every token of
//! every layer and projects per modality. With learnable registers, the
//! padding is replaced by registers after moving the real tokens to the front,
//! and nothing is masked from then on.

use std::path::Path;

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::VarBuilder;

use crate::linear::{linear_b, Linear};
use serde::Deserialize;

use super::layers::{dtype_max, rms_norm, Attention, AttentionSpec, FeedForward};
use super::load::{self, LoadError, DIFFUSERS_WEIGHTS};
use super::rope::{rope_tables, RopeSpec, RopeTables, RopeType};

/// `connectors/config.json`, with diffusers' defaults (LTX-2.0 with Gemma 3 12B).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    pub caption_channels: usize,
    pub text_proj_in_factor: usize,
    pub video_connector_num_attention_heads: usize,
    pub video_connector_attention_head_dim: usize,
    pub video_connector_num_layers: usize,
    pub video_connector_num_learnable_registers: Option<usize>,
    pub video_gated_attn: bool,
    pub audio_connector_num_attention_heads: usize,
    pub audio_connector_attention_head_dim: usize,
    pub audio_connector_num_layers: usize,
    pub audio_connector_num_learnable_registers: Option<usize>,
    pub audio_gated_attn: bool,
    pub connector_rope_base_seq_len: usize,
    pub rope_theta: f64,
    pub rope_double_precision: bool,
    pub rope_type: RopeType,
    pub per_modality_projections: bool,
    pub video_hidden_dim: usize,
    pub audio_hidden_dim: usize,
    pub proj_bias: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            caption_channels: 3840,
            text_proj_in_factor: 49,
            video_connector_num_attention_heads: 30,
            video_connector_attention_head_dim: 128,
            video_connector_num_layers: 2,
            video_connector_num_learnable_registers: Some(128),
            video_gated_attn: false,
            audio_connector_num_attention_heads: 30,
            audio_connector_attention_head_dim: 128,
            audio_connector_num_layers: 2,
            audio_connector_num_learnable_registers: Some(128),
            audio_gated_attn: false,
            connector_rope_base_seq_len: 4096,
            rope_theta: 10000.0,
            rope_double_precision: true,
            rope_type: RopeType::Interleaved,
            per_modality_projections: false,
            video_hidden_dim: 4096,
            audio_hidden_dim: 2048,
            proj_bias: false,
        }
    }
}

impl Config {
    /// Width of the video stream's text embeddings.
    pub fn video_width(&self) -> usize {
        self.video_connector_num_attention_heads * self.video_connector_attention_head_dim
    }

    /// Width of the audio stream's text embeddings.
    pub fn audio_width(&self) -> usize {
        self.audio_connector_num_attention_heads * self.audio_connector_attention_head_dim
    }

    fn check(&self) -> std::result::Result<(), String> {
        let (video_in, audio_in) = if self.per_modality_projections {
            (self.video_hidden_dim, self.audio_hidden_dim)
        } else {
            (self.caption_channels, self.caption_channels)
        };
        if self.video_width() != video_in || self.audio_width() != audio_in {
            return Err(format!(
                "connector widths (video {} = heads x head_dim, audio {}) must equal their inputs ({video_in}, {audio_in})",
                self.video_width(),
                self.audio_width()
            ));
        }
        if self.text_proj_in_factor == 0 || self.caption_channels == 0 {
            return Err("caption_channels and text_proj_in_factor must be positive".into());
        }
        Ok(())
    }
}

/// Where the tokenizer put the padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaddingSide {
    /// Gemma's (the pipelines' default).
    #[default]
    Left,
    Right,
}

/// `LTX2TransformerBlock1d`: RMS norm, self-attention, RMS norm, feed-forward.
#[derive(Debug, Clone)]
struct Block {
    attn1: Attention,
    ff: FeedForward,
}

const NORM_EPS: f64 = 1e-6;

/// `LTX2ConnectorTransformer1d`.
#[derive(Debug, Clone)]
struct Connector {
    learnable_registers: Option<Tensor>,
    blocks: Vec<Block>,
    rope: RopeSpec,
    base_seq_len: usize,
}

/// What a connector returns: embeddings and the additive mask it ended with.
struct ConnectorOutput {
    hidden: Tensor,
    mask: Tensor,
}

impl Connector {
    #[allow(clippy::too_many_arguments)]
    fn new(
        heads: usize,
        head_dim: usize,
        layers: usize,
        registers: Option<usize>,
        gated: bool,
        cfg: &Config,
        vb: VarBuilder,
    ) -> Result<Self> {
        let dim = heads * head_dim;
        let spec = AttentionSpec {
            query_dim: dim,
            context_dim: dim,
            heads,
            head_dim,
            bias: true,
            out_bias: true,
            gated,
            norm_eps: NORM_EPS,
        };
        let blocks = (0..layers)
            .map(|i| {
                let vb = vb.pp("transformer_blocks").pp(i);
                Ok(Block {
                    attn1: Attention::new(spec, vb.pp("attn1"))?,
                    ff: FeedForward::new(dim, true, vb.pp("ff"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let learnable_registers = registers
            .map(|r| vb.get((r, dim), "learnable_registers"))
            .transpose()?;
        Ok(Self {
            learnable_registers,
            blocks,
            rope: RopeSpec {
                dim,
                heads,
                theta: cfg.rope_theta,
                double_precision: cfg.rope_double_precision,
                rope_type: cfg.rope_type,
            },
            base_seq_len: cfg.connector_rope_base_seq_len,
        })
    }

    /// `x`: [B, L, dim]; `mask`: additive [B, 1, 1, L] (0 kept, −max masked).
    fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<ConnectorOutput> {
        let (batch, len, _) = x.dims3()?;
        let (mut x, mask) = match &self.learnable_registers {
            Some(registers) => {
                let count = registers.dim(0)?;
                if len % count != 0 {
                    candle_core::bail!(
                        "the text length {len} must be a multiple of the {count} learnable registers"
                    );
                }
                (with_registers(x, mask, registers)?, mask.zeros_like()?)
            }
            None => (x.clone(), mask.clone()),
        };
        let rope = self.rope_tables(batch, len, x.device())?;
        for block in &self.blocks {
            let normed = rms_norm(&x, NORM_EPS)?;
            let attended =
                block
                    .attn1
                    .forward(&normed, None, Some(&rope), None, Some(&mask), None)?;
            x = (x + attended)?;
            let fed = block.ff.forward(&rms_norm(&x, NORM_EPS)?)?;
            x = (x + fed)?;
        }
        Ok(ConnectorOutput {
            hidden: rms_norm(&x, NORM_EPS)?,
            mask,
        })
    }

    /// 1-D positions `i / base_seq_len`.
    fn rope_tables(&self, batch: usize, len: usize, device: &Device) -> Result<RopeTables> {
        let base = self.base_seq_len as f32;
        let sample: Vec<Vec<f32>> = (0..len).map(|i| vec![i as f32 / base]).collect();
        rope_tables(&self.rope, &vec![sample; batch], device)
    }
}

/// The real tokens moved to the front in order, the rest filled with the
/// registers of their absolute positions (`learnable_registers[pos % R]`).
fn with_registers(x: &Tensor, mask: &Tensor, registers: &Tensor) -> Result<Tensor> {
    let (batch, len, dim) = x.dims3()?;
    let count = registers.dim(0)?;
    // (b, l): kept where the additive mask is above the −9000 binarising threshold
    let keep = mask
        .reshape((batch, len))?
        .to_dtype(DType::F32)?
        .to_vec2::<f32>()?;
    let registers = registers.to_dtype(x.dtype())?;
    let mut rows = Vec::with_capacity(batch);
    for (b, keep) in keep.iter().enumerate() {
        let sample = x.get(b)?;
        let mut parts = Vec::with_capacity(len);
        let valid: Vec<usize> = (0..len).filter(|&i| keep[i] >= -9000.0).collect();
        for &i in &valid {
            parts.push(sample.narrow(0, i, 1)?);
        }
        for pos in valid.len()..len {
            parts.push(registers.narrow(0, pos % count, 1)?);
        }
        rows.push(Tensor::cat(&parts, 0)?.reshape((1, len, dim))?);
    }
    Tensor::cat(&rows, 0)
}

/// LTX-2.0's `per_layer_masked_mean_norm`: each sample's layers centred on
/// their mean over the real tokens and scaled by their range, ×8; padding 0.
/// `x`: [B, L, hidden, layers]; `lengths`: real tokens per sample.
fn per_layer_masked_mean_norm(x: &Tensor, lengths: &[usize], side: PaddingSide) -> Result<Tensor> {
    const SCALE: f64 = 8.0;
    const EPS: f64 = 1e-6;
    let (batch, len, hidden, layers) = x.dims4()?;
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let mut rows = Vec::with_capacity(batch);
    for (b, &valid) in lengths.iter().enumerate() {
        let start = match side {
            PaddingSide::Left => len - valid,
            PaddingSide::Right => 0,
        };
        let sample = x.get(b)?; // (l, hidden, layers)
        let real = sample.narrow(0, start, valid)?;
        // Per layer: sum, min and max over the real tokens and all hidden channels.
        let per_layer = real.permute((2, 0, 1))?.reshape((layers, valid * hidden))?;
        let mean = (per_layer.sum(1)? / ((valid * hidden) as f64 + EPS))?;
        let range = ((per_layer.max(1)? - per_layer.min(1)?)? + EPS)?;
        let normed = sample
            .broadcast_sub(&mean)?
            .broadcast_div(&range)?
            .affine(SCALE, 0.0)?
            .reshape((len, hidden * layers))?;
        let keep = Tensor::from_vec(
            (0..len)
                .map(|i| {
                    if i >= start && i < start + valid {
                        1f32
                    } else {
                        0.0
                    }
                })
                .collect::<Vec<_>>(),
            (len, 1),
            x.device(),
        )?;
        rows.push(normed.broadcast_mul(&keep)?.unsqueeze(0)?);
    }
    Tensor::cat(&rows, 0)?.to_dtype(dtype)
}

/// LTX-2.3's `per_token_rms_norm` over the hidden channels of each layer.
fn per_token_rms_norm(x: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let variance = x.sqr()?.mean_keepdim(2)?;
    x.broadcast_div(&(variance + 1e-6)?.sqrt()?)?
        .to_dtype(dtype)
}

/// The connectors' outputs.
#[derive(Debug, Clone)]
pub struct ConnectorEmbeds {
    /// [B, L, video width], padding zeroed when there are no registers.
    pub video: Tensor,
    /// [B, L, audio width].
    pub audio: Tensor,
    /// [B, L]: 1 for tokens the transformer attends to (all of them with registers).
    pub mask: Tensor,
}

/// diffusers' `LTX2TextConnectors`.
#[derive(Debug, Clone)]
pub struct TextConnectors {
    text_proj_in: Option<Linear>,
    video_text_proj_in: Option<Linear>,
    audio_text_proj_in: Option<Linear>,
    video_connector: Connector,
    audio_connector: Connector,
    config: Config,
}

impl TextConnectors {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.check().map_err(candle_core::Error::msg)?;
        let text_dim = cfg.caption_channels * cfg.text_proj_in_factor;
        let (text_proj_in, video_text_proj_in, audio_text_proj_in) = if cfg.per_modality_projections
        {
            (
                None,
                Some(linear_b(
                    text_dim,
                    cfg.video_hidden_dim,
                    cfg.proj_bias,
                    vb.pp("video_text_proj_in"),
                )?),
                Some(linear_b(
                    text_dim,
                    cfg.audio_hidden_dim,
                    cfg.proj_bias,
                    vb.pp("audio_text_proj_in"),
                )?),
            )
        } else {
            (
                Some(linear_b(
                    text_dim,
                    cfg.caption_channels,
                    cfg.proj_bias,
                    vb.pp("text_proj_in"),
                )?),
                None,
                None,
            )
        };
        Ok(Self {
            text_proj_in,
            video_text_proj_in,
            audio_text_proj_in,
            video_connector: Connector::new(
                cfg.video_connector_num_attention_heads,
                cfg.video_connector_attention_head_dim,
                cfg.video_connector_num_layers,
                cfg.video_connector_num_learnable_registers,
                cfg.video_gated_attn,
                cfg,
                vb.pp("video_connector"),
            )?,
            audio_connector: Connector::new(
                cfg.audio_connector_num_attention_heads,
                cfg.audio_connector_attention_head_dim,
                cfg.audio_connector_num_layers,
                cfg.audio_connector_num_learnable_registers,
                cfg.audio_gated_attn,
                cfg,
                vb.pp("audio_connector"),
            )?,
            config: cfg.clone(),
        })
    }

    /// Loads a diffusers `connectors/` folder.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> std::result::Result<Self, LoadError> {
        let config: Config = load::read_config(dir, "LTX2TextConnectors")?;
        config
            .check()
            .map_err(|reason| load::invalid_config(dir, "LTX2TextConnectors", reason))?;
        let vb = load::var_builder(dir, DIFFUSERS_WEIGHTS, dtype, device)?;
        load::build(dir, || Self::new(&config, vb))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `text_states`: [B, L, caption · layers] (Gemma's states stacked on the
    /// last axis, as `_get_gemma_prompt_embeds` packs them); `mask`: [B, L], 1 for real tokens.
    pub fn forward(
        &self,
        text_states: &Tensor,
        mask: &Tensor,
        side: PaddingSide,
    ) -> Result<ConnectorEmbeds> {
        let cfg = &self.config;
        let (batch, len, width) = text_states.dims3()?;
        if width != cfg.caption_channels * cfg.text_proj_in_factor {
            candle_core::bail!(
                "text states are {width} wide; the connectors take {} channels x {} layers",
                cfg.caption_channels,
                cfg.text_proj_in_factor
            );
        }
        let dtype = text_states.dtype();
        // (b, l, caption, layers)
        let states =
            text_states.reshape((batch, len, cfg.caption_channels, cfg.text_proj_in_factor))?;
        let mask_values = mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let (video_in, audio_in) = if cfg.per_modality_projections {
            let normed = per_token_rms_norm(&states)?.reshape((batch, len, width))?;
            let keep = mask.to_dtype(dtype)?.unsqueeze(2)?;
            let normed = normed.broadcast_mul(&keep)?;
            let video_scale = (cfg.video_hidden_dim as f64 / cfg.caption_channels as f64).sqrt();
            let audio_scale = (cfg.audio_hidden_dim as f64 / cfg.caption_channels as f64).sqrt();
            let (Some(video_proj), Some(audio_proj)) =
                (&self.video_text_proj_in, &self.audio_text_proj_in)
            else {
                candle_core::bail!("per-modality projections missing");
            };
            (
                video_proj.forward(&(&normed * video_scale)?)?,
                audio_proj.forward(&(&normed * audio_scale)?)?,
            )
        } else {
            let lengths: Vec<usize> = mask_values
                .iter()
                .map(|row| row.iter().sum::<f32>().round() as usize)
                .collect();
            let normed = per_layer_masked_mean_norm(&states, &lengths, side)?;
            let Some(proj) = &self.text_proj_in else {
                candle_core::bail!("text_proj_in missing");
            };
            let projected = proj.forward(&normed)?;
            (projected.clone(), projected)
        };
        // Additive mask (mask − 1) · max, [B, 1, 1, L].
        let additive =
            ((mask.to_dtype(dtype)? - 1.0)? * dtype_max(dtype))?.reshape((batch, 1, 1, len))?;
        let video = self.video_connector.forward(&video_in, &additive)?;
        // Tokens whose final additive mask is ~0 are attended to.
        let keep = video
            .mask
            .reshape((batch, len))?
            .to_dtype(DType::F32)?
            .lt(1e-6)?;
        let keep = keep.to_dtype(dtype)?;
        let video_embeds = video.hidden.broadcast_mul(&keep.unsqueeze(D::Minus1)?)?;
        let audio = self.audio_connector.forward(&audio_in, &additive)?;
        Ok(ConnectorEmbeds {
            video: video_embeds,
            audio: audio.hidden,
            mask: keep,
        })
    }
}
