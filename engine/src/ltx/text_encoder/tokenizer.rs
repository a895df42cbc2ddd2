//! LTX-Video's `tokenizer/` folder: a T5 tokenizer.
//!
//! transformers' `T5Tokenizer` (v5, the reference) always assembles the same
//! pipeline: a Unigram model, the sentencepiece precompiled normaliser alone,
//! whitespace split + metaspace ("▁", always prefixed), `</s>` appended.
//! We do the same from either file:
//! - `tokenizer.json`, read by the `tokenizers` crate, keeping its vocabulary
//!   and added tokens but replacing the rest, as transformers does (files
//!   written by transformers v4 carry another normaliser and pre-tokenizer,
//!   which differ on e.g. trailing spaces);
//! - `spiece.model` alone (the official repositories may hold only it and
//!   the configs): the pieces plus the `<extra_id_N>` sentinels (N
//!   descending) as the vocabulary, and `<pad>`, `</s>`, `<unk>`, sentinels
//!   as special tokens.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::precompiled::Precompiled;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{
    AddedToken, ModelWrapper, NormalizerWrapper, PostProcessor, PreTokenizerWrapper, Tokenizer,
    TruncationDirection,
};

use super::spiece::SentencePieceModel;

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("tokenizer folder {dir} has neither tokenizer.json nor spiece.model")]
    Missing { dir: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid tokenizer: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("tokenizing {prompt:?}: {reason}")]
    Encode { prompt: String, reason: String },
}

/// The fields of `tokenizer_config.json` the T5 tokenizer uses.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct TokenizerConfig {
    extra_ids: usize,
    pad_token: String,
    eos_token: String,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            extra_ids: 100,
            pad_token: "<pad>".into(),
            eos_token: "</s>".into(),
        }
    }
}

/// Token ids and attention masks of a batch, each row `max_len` long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    pub ids: Vec<Vec<u32>>,
    pub mask: Vec<Vec<u32>>,
}

#[derive(Clone)]
pub struct T5Tokenizer {
    inner: Tokenizer,
    pad_id: u32,
}

fn invalid(path: &Path, reason: impl ToString) -> TokenizerError {
    TokenizerError::Invalid {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl T5Tokenizer {
    /// Loads `dir` (a diffusers `tokenizer/` folder).
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
        let spiece = dir.join("spiece.model");
        let inner = if json.is_file() {
            let tokenizer = Tokenizer::from_file(&json).map_err(|e| invalid(&json, e))?;
            as_transformers_t5(tokenizer, &config).map_err(|e| invalid(&json, e))?
        } else if spiece.is_file() {
            let bytes = std::fs::read(&spiece).map_err(|source| TokenizerError::Read {
                path: spiece.clone(),
                source,
            })?;
            let model = SentencePieceModel::parse(&bytes).map_err(|e| invalid(&spiece, e))?;
            from_sentencepiece(&model, &config).map_err(|e| invalid(&spiece, e))?
        } else {
            return Err(TokenizerError::Missing {
                dir: dir.to_path_buf(),
            });
        };
        let pad_id = inner
            .token_to_id(&config.pad_token)
            .ok_or_else(|| invalid(dir, format!("no pad token {:?}", config.pad_token)))?;
        Ok(Self { inner, pad_id })
    }

    /// Vocabulary size including added tokens (`len(tokenizer)`).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Token ids with the special tokens, untruncated.
    pub fn encode(&self, prompt: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self
            .inner
            .encode(prompt, true)
            .map_err(|e| encode_err(prompt, e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// As transformers' `tokenizer(prompts, padding="max_length",
    /// max_length=max_len, truncation=True)`: the text is cut so that it and
    /// the special tokens fit `max_len`, then padded on the right.
    pub fn encode_padded(
        &self,
        prompts: &[&str],
        max_len: usize,
    ) -> Result<TokenBatch, TokenizerError> {
        let added = self
            .inner
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        let mut batch = TokenBatch {
            ids: Vec::with_capacity(prompts.len()),
            mask: Vec::with_capacity(prompts.len()),
        };
        for &prompt in prompts {
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
            // A max_len smaller than the special tokens: cut them too.
            ids.truncate(max_len);
            let mut mask = vec![1u32; ids.len()];
            ids.resize(max_len, self.pad_id);
            mask.resize(max_len, 0);
            batch.ids.push(ids);
            batch.mask.push(mask);
        }
        Ok(batch)
    }
}

fn encode_err(prompt: &str, e: impl ToString) -> TokenizerError {
    TokenizerError::Encode {
        prompt: prompt.to_owned(),
        reason: e.to_string(),
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The pre-tokenizer, decoder and post-processor transformers' T5Tokenizer sets.
fn set_t5_pipeline(tokenizer: &mut Tokenizer, eos_token: &str) -> Result<(), BoxError> {
    let eos_id = tokenizer
        .token_to_id(eos_token)
        .ok_or_else(|| format!("no eos token {eos_token:?}"))?;
    tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
        PreTokenizerWrapper::WhitespaceSplit(WhitespaceSplit),
        PreTokenizerWrapper::Metaspace(Metaspace::new('▁', PrependScheme::Always, true)),
    ])));
    tokenizer.with_decoder(Some(Metaspace::new('▁', PrependScheme::Always, true)));
    tokenizer.with_post_processor(Some(
        TemplateProcessing::builder()
            .try_single(format!("$A {eos_token}"))?
            .try_pair(format!("$A {eos_token} $B {eos_token}"))?
            .special_tokens(vec![(eos_token.to_owned(), eos_id)])
            .build()?,
    ));
    Ok(())
}

/// A tokenizer.json's Unigram tokenizer with transformers' T5 pipeline:
/// only its precompiled normaliser is kept.
fn as_transformers_t5(
    mut tokenizer: Tokenizer,
    config: &TokenizerConfig,
) -> Result<Tokenizer, BoxError> {
    if !matches!(tokenizer.get_model(), ModelWrapper::Unigram(_)) {
        return Err("the model is not a Unigram (sentencepiece) model, as T5's is".into());
    }
    let precompiled = match tokenizer.get_normalizer() {
        Some(NormalizerWrapper::Precompiled(p)) => Some(p.clone()),
        Some(NormalizerWrapper::Sequence(seq)) => seq.as_ref().iter().find_map(|n| match n {
            NormalizerWrapper::Precompiled(p) => Some(p.clone()),
            _ => None,
        }),
        _ => None,
    };
    tokenizer.with_normalizer(precompiled)?;
    set_t5_pipeline(&mut tokenizer, &config.eos_token)?;
    Ok(tokenizer)
}

/// transformers' T5Tokenizer built from a sentencepiece model.
fn from_sentencepiece(
    model: &SentencePieceModel,
    config: &TokenizerConfig,
) -> Result<Tokenizer, BoxError> {
    let mut vocab: Vec<(String, f64)> = model
        .pieces
        .iter()
        .map(|p| (p.piece.clone(), f64::from(p.score)))
        .collect();
    let sentinels: Vec<String> = (0..config.extra_ids)
        .rev()
        .map(|i| format!("<extra_id_{i}>"))
        .collect();
    vocab.extend(sentinels.iter().map(|s| (s.clone(), 0.0)));
    let unigram = Unigram::from(vocab, Some(model.unk_id), false)?;
    let mut tokenizer = Tokenizer::new(unigram);
    if !model.precompiled_charsmap.is_empty() {
        tokenizer.with_normalizer(Some(Precompiled::from(&model.precompiled_charsmap)?))?;
    }
    set_t5_pipeline(&mut tokenizer, &config.eos_token)?;
    let unk = model.pieces[model.unk_id].piece.clone();
    let specials = [config.pad_token.clone(), config.eos_token.clone(), unk]
        .into_iter()
        .chain(sentinels)
        .map(|t| AddedToken::from(t, true));
    tokenizer.add_special_tokens(specials)?;
    Ok(tokenizer)
}
