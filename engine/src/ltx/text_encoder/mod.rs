//! Prompt embeddings for LTX-Video: the T5 tokenizer (`tokenizer/`) and the
//! T5 v1.1 encoder (`text_encoder/`), used as diffusers' LTX pipelines use
//! them (`_get_t5_prompt_embeds` / `encode_prompt`).
//!
//! Prompts are padded to `max_len` tokens (128 in the pipelines) with a
//! mask of the real tokens. The embeddings at padded positions are the
//! encoder's outputs for `<pad>` tokens, not zeros, as in the reference; the
//! transformer's cross-attention ignores them through the mask.
//! `LTXPipeline` and `LTXImageToVideoPipeline` run the encoder without the
//! mask (padding attends and is attended to); `LTXConditionPipeline` passes
//! it. [`EncoderMask`] picks which.

mod spiece;
pub mod t5;
mod tokenizer;

use std::path::Path;

use candle_core::{DType, Device, Tensor};

pub use crate::ltx::load::LoadError;
use crate::ltx::load::{self, read_json};
use crate::ltx::weights::weight_files;

pub use spiece::ProtoError;
pub use tokenizer::{T5Tokenizer, TokenBatch, TokenizerError};

/// The pipelines' default `max_sequence_length`.
pub const DEFAULT_MAX_LEN: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
    #[error("{0} prompts but {1} negative prompts")]
    BatchMismatch(usize, usize),
    #[error("max_len must be at least 1")]
    ZeroLength,
    #[error("no prompts to encode")]
    NoPrompts,
}

/// Whether the encoder sees the padding mask (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderMask {
    /// `LTXPipeline`, `LTXImageToVideoPipeline`: no mask in the encoder.
    #[default]
    Unmasked,
    /// `LTXConditionPipeline`: the mask is passed to the encoder.
    Masked,
}

/// Prompt embeddings and their token mask.
#[derive(Debug, Clone)]
pub struct PromptEmbeds {
    /// (batch, max_len, d_model), in the encoder's dtype.
    pub embeds: Tensor,
    /// (batch, max_len), u8: 1 for tokens (the closing `</s>` included), 0
    /// for padding.
    pub mask: Tensor,
}

impl PromptEmbeds {
    /// Rows of `self` after rows of `other` (diffusers' `torch.cat([negative,
    /// positive])` for classifier-free guidance).
    pub fn after(&self, other: &PromptEmbeds) -> candle_core::Result<PromptEmbeds> {
        Ok(PromptEmbeds {
            embeds: Tensor::cat(&[&other.embeds, &self.embeds], 0)?,
            mask: Tensor::cat(&[&other.mask, &self.mask], 0)?,
        })
    }
}

pub struct TextEncoder {
    tokenizer: T5Tokenizer,
    encoder: t5::T5Encoder,
    device: Device,
    mask_mode: EncoderMask,
}

impl TextEncoder {
    /// Loads `model_dir/tokenizer` and `model_dir/text_encoder`.
    pub fn load(model_dir: &Path, device: &Device, dtype: DType) -> Result<Self, LoadError> {
        let tokenizer = T5Tokenizer::load(&model_dir.join("tokenizer"))?;
        Self::from_parts(tokenizer, &model_dir.join("text_encoder"), device, dtype)
    }

    /// A tokenizer already loaded and the encoder in `encoder_dir`.
    pub fn from_parts(
        tokenizer: T5Tokenizer,
        encoder_dir: &Path,
        device: &Device,
        dtype: DType,
    ) -> Result<Self, LoadError> {
        let config_path = encoder_dir.join("config.json");
        let config: t5::Config = read_json(&config_path, "a T5 encoder config")?;
        config
            .feed_forward()
            .map_err(|reason| LoadError::invalid(&config_path, reason))?;
        // Ids past the embedding table would fail mid-render, not here.
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(LoadError::invalid(
                &config_path,
                format!(
                    "vocab_size = {} but the tokenizer has {} tokens; expected at least as many",
                    config.vocab_size,
                    tokenizer.vocab_size()
                ),
            ));
        }
        let files = weight_files(encoder_dir, "model")?;
        let vb = load::var_builder("text_encoder", &files, dtype, device)?;
        let encoder = t5::T5Encoder::new(&config, vb).map_err(|e| LoadError::weights(&files, e))?;
        Ok(Self {
            tokenizer,
            encoder,
            device: device.clone(),
            mask_mode: EncoderMask::default(),
        })
    }

    /// Chooses whether the encoder sees the padding mask.
    pub fn with_encoder_mask(mut self, mode: EncoderMask) -> Self {
        self.mask_mode = mode;
        self
    }

    pub fn tokenizer(&self) -> &T5Tokenizer {
        &self.tokenizer
    }

    /// Embeddings of `prompts`, each padded or cut to `max_len` tokens.
    pub fn encode(&self, prompts: &[&str], max_len: usize) -> Result<PromptEmbeds, EncodeError> {
        if max_len == 0 {
            return Err(EncodeError::ZeroLength);
        }
        if prompts.is_empty() {
            return Err(EncodeError::NoPrompts);
        }
        let batch = self.tokenizer.encode_padded(prompts, max_len)?;
        let rows = prompts.len();
        let flat = |rows_of: &[Vec<u32>]| rows_of.concat();
        let ids = Tensor::from_vec(flat(&batch.ids), (rows, max_len), &self.device)?;
        let mask_u32 = Tensor::from_vec(flat(&batch.mask), (rows, max_len), &self.device)?;
        let encoder_mask = match self.mask_mode {
            EncoderMask::Masked => Some(&mask_u32),
            EncoderMask::Unmasked => None,
        };
        let embeds = self.encoder.forward(&ids, encoder_mask)?;
        Ok(PromptEmbeds {
            embeds,
            mask: mask_u32.to_dtype(DType::U8)?,
        })
    }

    /// Prompt and negative-prompt embeddings for classifier-free guidance,
    /// as `encode_prompt(do_classifier_free_guidance=True)`: `negative` has
    /// one entry per prompt, or none for `""` everywhere. Returns
    /// (positive, negative).
    pub fn encode_with_negative(
        &self,
        prompts: &[&str],
        negative: &[&str],
        max_len: usize,
    ) -> Result<(PromptEmbeds, PromptEmbeds), EncodeError> {
        let empty = vec![""; prompts.len()];
        let negative = match negative.len() {
            0 => empty.as_slice(),
            n if n == prompts.len() => negative,
            n => return Err(EncodeError::BatchMismatch(prompts.len(), n)),
        };
        Ok((
            self.encode(prompts, max_len)?,
            self.encode(negative, max_len)?,
        ))
    }
}
