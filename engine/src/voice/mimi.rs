//! Kyutai's Mimi codec, CSM's audio tokenizer: candle-transformers'
//! `models::mimi`, which already reads transformers' weight names, built
//! from transformers' `MimiConfig` (the `codec_config` inside CSM's
//! config.json) instead of its one built-in size.

use candle_core::{Device, Result, Tensor};
use candle_nn::{Activation, VarBuilder};
use candle_transformers::models::mimi::{
    conv::{Norm, PadMode},
    encodec::ResampleMethod,
    seanet, transformer, Config as CandleConfig, Model, NormType,
};
use serde::Deserialize;

/// The fields of transformers' `MimiConfig` that shape the model.
#[derive(Clone, Debug, Deserialize)]
pub struct MimiConfig {
    pub sampling_rate: u32,
    #[serde(default = "one")]
    pub audio_channels: usize,
    pub hidden_size: usize,
    pub num_filters: usize,
    pub num_residual_layers: usize,
    pub upsampling_ratios: Vec<usize>,
    pub kernel_size: usize,
    pub last_kernel_size: usize,
    pub residual_kernel_size: usize,
    pub dilation_growth_rate: usize,
    #[serde(default = "yes")]
    pub use_causal_conv: bool,
    #[serde(default)]
    pub use_conv_shortcut: bool,
    pub compress: usize,
    pub codebook_size: usize,
    pub codebook_dim: usize,
    pub num_quantizers: usize,
    pub vector_quantization_hidden_dimension: usize,
    #[serde(default = "one")]
    pub num_semantic_quantizers: usize,
    pub num_hidden_layers: usize,
    pub intermediate_size: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    pub head_dim: Option<usize>,
    pub max_position_embeddings: usize,
    pub sliding_window: usize,
    pub layer_scale_initial_scale: f64,
    #[serde(default)]
    pub attention_bias: bool,
    pub rope_parameters: Option<super::llama::RopeParameters>,
    pub rope_theta: Option<f64>,
    /// Older configs state it; otherwise it follows from the strides.
    pub frame_rate: Option<f64>,
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

impl MimiConfig {
    /// Samples per code frame: the encoder's strides times the downsampler's 2.
    pub fn frame_size(&self) -> usize {
        self.upsampling_ratios.iter().product::<usize>() * 2
    }

    pub fn frame_rate(&self) -> f64 {
        self.frame_rate
            .unwrap_or(f64::from(self.sampling_rate) / self.frame_size() as f64)
    }

    fn candle(&self) -> Result<CandleConfig> {
        // candle's module has no slot for the pieces CSM-1B's Mimi does not use.
        if self.num_semantic_quantizers != 1 {
            candle_core::bail!(
                "Mimi with {} semantic quantizers",
                self.num_semantic_quantizers
            );
        }
        if self.codebook_dim != self.vector_quantization_hidden_dimension {
            candle_core::bail!("Mimi with codebook_dim ≠ vector_quantization_hidden_dimension");
        }
        if self
            .head_dim
            .is_some_and(|d| d * self.num_attention_heads != self.hidden_size)
        {
            candle_core::bail!("Mimi with head_dim × heads ≠ hidden_size");
        }
        let kv_heads = self.num_key_value_heads.unwrap_or(self.num_attention_heads);
        let theta = self
            .rope_parameters
            .as_ref()
            .and_then(|r| r.rope_theta)
            .or(self.rope_theta)
            .unwrap_or(10_000.0);
        let seanet = seanet::Config {
            dimension: self.hidden_size,
            channels: self.audio_channels,
            causal: self.use_causal_conv,
            n_filters: self.num_filters,
            n_residual_layers: self.num_residual_layers,
            activation: Activation::Elu(1.0),
            compress: self.compress,
            dilation_base: self.dilation_growth_rate,
            disable_norm_outer_blocks: 0,
            final_activation: None,
            kernel_size: self.kernel_size,
            residual_kernel_size: self.residual_kernel_size,
            last_kernel_size: self.last_kernel_size,
            lstm: 0,
            // Reads plain `weight` when present (transformers' checkpoints).
            norm: Norm::WeightNorm,
            pad_mode: PadMode::Constant,
            ratios: self.upsampling_ratios.clone(),
            true_skip: !self.use_conv_shortcut,
        };
        let transformer = transformer::Config {
            d_model: self.hidden_size,
            num_heads: self.num_attention_heads,
            num_layers: self.num_hidden_layers,
            causal: true,
            norm_first: true,
            bias_ff: false,
            bias_attn: self.attention_bias,
            layer_scale: Some(self.layer_scale_initial_scale),
            context: self.sliding_window,
            conv_kernel_size: 5,
            use_conv_bias: true,
            use_conv_block: false,
            cross_attention: false,
            max_period: theta as usize,
            gating: None,
            norm: NormType::LayerNorm,
            positional_embedding: transformer::PositionalEmbedding::Rope,
            dim_feedforward: self.intermediate_size,
            kv_repeat: self.num_attention_heads / kv_heads,
            conv_layout: true,
            max_seq_len: self.max_position_embeddings,
        };
        Ok(CandleConfig {
            channels: self.audio_channels,
            sample_rate: f64::from(self.sampling_rate),
            frame_rate: self.frame_rate(),
            renormalize: true,
            resample_method: ResampleMethod::Conv,
            seanet,
            transformer,
            quantizer_n_q: self.num_quantizers,
            quantizer_bins: self.codebook_size,
            quantizer_dim: self.vector_quantization_hidden_dimension,
        })
    }
}

pub struct Mimi {
    /// Never run itself: each call runs a clone (its tensors are shared).
    /// candle-transformers 0.11.1's `reset_state` empties the attention KV
    /// caches but leaves their rotary position (`pos`) where the last call
    /// ended, so a model used once encodes and decodes differently after.
    model: Model,
    cfg: MimiConfig,
    device: Device,
}

impl Mimi {
    /// `vb` holds the codec's weights (`codec_model` inside a CSM checkpoint).
    pub fn new(cfg: &MimiConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            model: Model::new(cfg.candle()?, vb.clone())?,
            cfg: cfg.clone(),
            device: vb.device().clone(),
        })
    }

    pub fn config(&self) -> &MimiConfig {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Mono samples at the codec's rate → codes (codebooks, frames).
    pub fn encode(&self, samples: &[f32]) -> Result<Tensor> {
        let input = Tensor::from_slice(samples, (1, 1, samples.len()), &self.device)?;
        let codes = self.model.clone().encode(&input)?; // (1, codebooks, frames)
        codes.squeeze(0)
    }

    /// Codes (codebooks, frames) → mono samples at the codec's rate.
    pub fn decode(&self, codes: &Tensor) -> Result<Vec<f32>> {
        let audio = self.model.clone().decode(&codes.unsqueeze(0)?)?; // (1, 1, samples)
        audio.flatten_all()?.to_vec1()
    }
}
