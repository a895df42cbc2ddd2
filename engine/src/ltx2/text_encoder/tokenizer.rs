//! Gemma's tokenizer as transformers 5 assembles it: the `tokenizer.json`
//! model, normaliser and pre-tokenizer, with `<bos>` (and `<eos>` when
//! `add_eos_token`) added by a post-processor built from
//! `tokenizer_config.json`, prompts cut to fit `max_len` with the special
//! tokens and padded on the left, as LTX-2's pipelines ask.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{Tokenizer, TruncationDirection};

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid Gemma tokenizer: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("tokenizing {prompt:?}: {reason}")]
    Encode { prompt: String, reason: String },
}

/// A special token, written as a string or as an `AddedToken` object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum TokenSpec {
    Plain(String),
    Added { content: String },
}

impl TokenSpec {
    fn content(&self) -> &str {
        match self {
            Self::Plain(s) => s,
            Self::Added { content } => content,
        }
    }
}

/// The fields of `tokenizer_config.json` this tokenizer uses.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct TokenizerConfig {
    bos_token: Option<TokenSpec>,
    eos_token: Option<TokenSpec>,
    pad_token: Option<TokenSpec>,
    add_bos_token: bool,
    add_eos_token: bool,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            bos_token: None,
            eos_token: None,
            pad_token: None,
            add_bos_token: true,
            add_eos_token: false,
        }
    }
}

/// Token ids and attention masks, each row `max_len` long, padded on the left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    pub ids: Vec<Vec<u32>>,
    pub mask: Vec<Vec<u32>>,
}

#[derive(Clone)]
pub struct GemmaTokenizer {
    inner: Tokenizer,
    pad_id: u32,
}

fn invalid(path: &Path, reason: impl ToString) -> TokenizerError {
    TokenizerError::Invalid {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl GemmaTokenizer {
    /// Loads `dir` (a diffusers `tokenizer/` folder holding `tokenizer.json`).
    pub fn load(dir: &Path) -> Result<Self, TokenizerError> {
        let config_path = dir.join("tokenizer_config.json");
        let config: TokenizerConfig = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| invalid(&config_path, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokenizerConfig::default(),
            Err(source) => {
                return Err(TokenizerError::Read {
                    path: config_path,
                    source,
                })
            }
        };
        let json = dir.join("tokenizer.json");
        if !json.is_file() {
            return Err(TokenizerError::Read {
                path: json,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let mut inner = Tokenizer::from_file(&json).map_err(|e| invalid(&json, e))?;
        let bos = config
            .bos_token
            .as_ref()
            .map_or("<bos>", TokenSpec::content);
        let eos = config
            .eos_token
            .as_ref()
            .map_or("<eos>", TokenSpec::content);
        let id = |token: &str| {
            inner
                .token_to_id(token)
                .ok_or_else(|| invalid(&json, format!("no token {token:?} in the vocabulary")))
        };
        let (bos_id, eos_id) = (id(bos)?, id(eos)?);
        // The pipeline pads with <eos> when the tokenizer has no pad token.
        let pad_id = match config.pad_token.as_ref().map(TokenSpec::content) {
            Some(pad) => id(pad)?,
            None => inner.token_to_id("<pad>").unwrap_or(eos_id),
        };
        let mut single = Vec::new();
        let mut specials = Vec::new();
        if config.add_bos_token {
            single.push(bos.to_owned());
            specials.push((bos.to_owned(), bos_id));
        }
        single.push("$A".to_owned());
        if config.add_eos_token {
            single.push(eos.to_owned());
            specials.push((eos.to_owned(), eos_id));
        }
        let processor = TemplateProcessing::builder()
            .try_single(single.join(" "))
            .map_err(|e| invalid(&json, e))?
            .special_tokens(specials)
            .build()
            .map_err(|e| invalid(&json, e))?;
        inner.with_post_processor(Some(processor));
        Ok(Self { inner, pad_id })
    }

    /// Vocabulary size including added tokens (`len(tokenizer)`).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// As the LTX-2 pipelines call it: each prompt stripped, tokenised with the
    /// special tokens, cut so that it and they fit `max_len`, padded on the left.
    pub fn encode_padded(
        &self,
        prompts: &[&str],
        max_len: usize,
    ) -> Result<TokenBatch, TokenizerError> {
        let added = self
            .inner
            .get_post_processor()
            .map_or(0, |p| tokenizers::PostProcessor::added_tokens(p, false));
        let mut batch = TokenBatch {
            ids: Vec::with_capacity(prompts.len()),
            mask: Vec::with_capacity(prompts.len()),
        };
        for &prompt in prompts {
            let prompt = prompt.trim();
            let mut encoding = self
                .inner
                .encode(prompt, false)
                .map_err(|e| encode_err(prompt, e))?;
            encoding.truncate(max_len.saturating_sub(added), 0, TruncationDirection::Right);
            let encoding = self
                .inner
                .post_process(encoding, None, true)
                .map_err(|e| encode_err(prompt, e))?;
            let mut ids = encoding.get_ids().to_vec();
            ids.truncate(max_len);
            let pad = max_len - ids.len();
            let mut row = vec![self.pad_id; pad];
            row.extend(&ids);
            let mut mask = vec![0u32; pad];
            mask.extend(std::iter::repeat_n(1u32, ids.len()));
            batch.ids.push(row);
            batch.mask.push(mask);
        }
        Ok(batch)
    }

    /// How many tokens `prompt` has with the special tokens, uncut.
    pub fn count_tokens(&self, prompt: &str) -> Result<usize, TokenizerError> {
        let prompt = prompt.trim();
        Ok(self
            .inner
            .encode(prompt, true)
            .map_err(|e| encode_err(prompt, e))?
            .len())
    }
}

fn encode_err(prompt: &str, e: impl ToString) -> TokenizerError {
    TokenizerError::Encode {
        prompt: prompt.to_owned(),
        reason: e.to_string(),
    }
}
