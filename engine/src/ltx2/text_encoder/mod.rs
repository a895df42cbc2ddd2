//! LTX-2's prompt encoding: the Gemma tokenizer (`tokenizer/`) and Gemma 3's
//! text model (`text_encoder/`), used as `LTX2Pipeline._get_gemma_prompt_embeds`
//! uses them: every hidden state (embeddings, each layer, the final norm)
//! stacked on a last axis and flattened, `[B, L, hidden · (layers + 1)]`,
//! with the mask of the real (left-padded) tokens.

pub mod gemma3;
mod tokenizer;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::load::{self, LoadError, TRANSFORMERS_WEIGHTS};
pub use gemma3::{Config as GemmaConfig, Gemma3TextModel};
pub use tokenizer::{GemmaTokenizer, TokenBatch, TokenizerError};

/// The pipelines' default `max_sequence_length`.
pub const DEFAULT_MAX_LEN: usize = 1024;

/// Where the language model's weights sit in the checkpoints transformers
/// writes: `Gemma3ForConditionalGeneration` (v4.52+ and v5, then older),
/// `Gemma3ForCausalLM`, a bare `Gemma3TextModel`.
const LANGUAGE_MODEL_PREFIXES: [&str; 4] =
    ["model.language_model", "language_model.model", "model", ""];

#[derive(Debug, thiserror::Error)]
pub enum TextEncoderError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error("tokenizer ({tokenizer} tokens) does not fit the text encoder (vocab_size {encoder})")]
    VocabMismatch { tokenizer: usize, encoder: usize },
    #[error("{0}")]
    Tensor(#[from] candle_core::Error),
    #[error("no prompts to encode")]
    NoPrompts,
    #[error("max_len must be at least 1")]
    ZeroLength,
}

/// `text_encoder/config.json`: a Gemma 3 config with a `text_config`, or a text config itself.
#[derive(Deserialize)]
struct ConfigFile {
    text_config: Option<GemmaConfig>,
}

/// Prompt states and their token mask.
#[derive(Debug, Clone)]
pub struct PromptEmbeds {
    /// [B, L, hidden · (layers + 1)], channel-major: index `h · (layers + 1) + layer`.
    pub embeds: Tensor,
    /// [B, L], 1 for real tokens (f32).
    pub mask: Tensor,
    /// The token ids, [B, L].
    pub ids: Vec<Vec<u32>>,
}

/// Gemma 3 and its tokenizer.
pub struct TextEncoder {
    tokenizer: GemmaTokenizer,
    model: Gemma3TextModel,
    device: Device,
}

impl TextEncoder {
    /// Loads `text_encoder_dir` and `tokenizer_dir` of a model directory.
    pub fn load(
        text_encoder_dir: &Path,
        tokenizer_dir: &Path,
        dtype: DType,
        device: &Device,
    ) -> Result<Self, TextEncoderError> {
        let tokenizer = GemmaTokenizer::load(tokenizer_dir)?;
        let file: serde_json::Value = load::read_config(text_encoder_dir, "Gemma 3")?;
        let config: GemmaConfig = match serde_json::from_value::<ConfigFile>(file.clone()) {
            Ok(ConfigFile {
                text_config: Some(text),
            }) => text,
            _ => serde_json::from_value(file)
                .map_err(|e| load::invalid_config(text_encoder_dir, "Gemma 3", e.to_string()))?,
        };
        config
            .check()
            .map_err(|reason| load::invalid_config(text_encoder_dir, "Gemma 3", reason))?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(TextEncoderError::VocabMismatch {
                tokenizer: tokenizer.vocab_size(),
                encoder: config.vocab_size,
            });
        }
        let vb = load::var_builder(text_encoder_dir, TRANSFORMERS_WEIGHTS, dtype, device)?;
        let root = language_model_root(&vb);
        let model = load::build(text_encoder_dir, || Gemma3TextModel::new(&config, root))?;
        Ok(Self {
            tokenizer,
            model,
            device: device.clone(),
        })
    }

    pub fn tokenizer(&self) -> &GemmaTokenizer {
        &self.tokenizer
    }

    pub fn model(&self) -> &Gemma3TextModel {
        &self.model
    }

    /// The stacked states of `prompts`, each stripped and padded to `max_len` tokens.
    pub fn encode(
        &self,
        prompts: &[&str],
        max_len: usize,
    ) -> Result<PromptEmbeds, TextEncoderError> {
        if prompts.is_empty() {
            return Err(TextEncoderError::NoPrompts);
        }
        if max_len == 0 {
            return Err(TextEncoderError::ZeroLength);
        }
        let batch = self.tokenizer.encode_padded(prompts, max_len)?;
        let rows = prompts.len();
        let flat_ids: Vec<u32> = batch.ids.iter().flatten().copied().collect();
        let flat_mask: Vec<f32> = batch.mask.iter().flatten().map(|&m| m as f32).collect();
        let ids = Tensor::from_vec(flat_ids, (rows, max_len), &self.device)?;
        let mask = Tensor::from_vec(flat_mask, (rows, max_len), &self.device)?;
        let states = self.model.hidden_states(&ids, &mask)?;
        // (b, l, hidden, layers + 1) → (b, l, hidden · (layers + 1))
        let stacked = Tensor::stack(&states, 3)?;
        let (b, l, h, n) = stacked.dims4()?;
        Ok(PromptEmbeds {
            embeds: stacked.reshape((b, l, h * n))?,
            mask,
            ids: batch.ids,
        })
    }
}

/// The prefix under which this checkpoint keeps the language model.
fn language_model_root(vb: &VarBuilder<'static>) -> VarBuilder<'static> {
    for prefix in LANGUAGE_MODEL_PREFIXES {
        let root = if prefix.is_empty() {
            vb.clone()
        } else {
            vb.pp(prefix)
        };
        if root.contains_tensor("embed_tokens.weight") {
            return root;
        }
    }
    // None matched: the plain names, so the error names the weight that is missing.
    vb.clone()
}
