//! Whisper loaded from a Hugging Face model directory (config.json,
//! model.safetensors, tokenizer.json, generation_config.json) and run as
//! transformers' `generate` runs it for a multilingual model with no
//! language given: detect the language from the first token's logits,
//! prompt `<|startoftranscript|><|lang|><|transcribe|><|notimestamps|>`,
//! then greedy decoding with `suppress_tokens` at every step and
//! `begin_suppress_tokens` at the first. Audio longer than 30 s is cut into
//! 30-second windows, each decoded in the first window's language.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::whisper::{model, Config};
use serde::Deserialize;
use tokenizers::Tokenizer;

use super::mel::{LogMel, FRAMES, SAMPLE_RATE, WINDOW_SAMPLES};
use super::tokens::SpecialTokens;
use super::{
    SpeechError, SpeechToText, Transcript, CONFIG_FILE, GENERATION_CONFIG_FILE, TOKENIZER_FILE,
    WEIGHTS_FILE,
};

/// Bounds on one transcription.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WhisperOptions {
    /// Longer audio is refused.
    pub max_seconds: f64,
    /// Tokens generated per 30-second window at most (end of text
    /// included); OpenAI's default sample length is 224.
    pub max_new_tokens: usize,
}

impl Default for WhisperOptions {
    fn default() -> Self {
        WhisperOptions {
            max_seconds: 120.0,
            max_new_tokens: 224,
        }
    }
}

/// The suppression lists; generation_config.json holds them in current
/// checkpoints, config.json in older ones.
#[derive(Debug, Default, Deserialize)]
struct Suppressions {
    #[serde(default)]
    suppress_tokens: Option<Vec<u32>>,
    #[serde(default)]
    begin_suppress_tokens: Option<Vec<u32>>,
}

/// The greedy tokens of one window and their log-probabilities.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub language_token: u32,
    /// Generated tokens, end of text included if it came.
    pub tokens: Vec<u32>,
    pub logprobs: Vec<f64>,
}

pub struct Whisper {
    model: Mutex<model::Whisper>,
    config: Config,
    mel: LogMel,
    tokenizer: Tokenizer,
    special: SpecialTokens,
    suppress: Vec<u32>,
    begin_suppress: Vec<u32>,
    device: Device,
    options: WhisperOptions,
    version: String,
}

impl Whisper {
    pub fn load(dir: &Path, device: &Device, options: WhisperOptions) -> Result<Self, SpeechError> {
        let file = |name: &str| -> Result<PathBuf, SpeechError> {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(SpeechError::MissingModel {
                    dir: dir.display().to_string(),
                    missing: name.to_string(),
                })
            }
        };
        let config_path = file(CONFIG_FILE)?;
        let mut raw: serde_json::Value = read_json(&config_path)?;
        let mut suppressions: Suppressions = from_value(&config_path, raw.clone())?;
        // transformers 5 writes `null` where candle's Config wants a list;
        // the suppressions are read separately above.
        if let Some(fields) = raw.as_object_mut() {
            fields.remove("suppress_tokens");
        }
        let config: Config = from_value(&config_path, raw)?;
        let generation = dir.join(GENERATION_CONFIG_FILE);
        if generation.is_file() {
            let newer: Suppressions = from_value(&generation, read_json(&generation)?)?;
            suppressions.suppress_tokens = newer.suppress_tokens.or(suppressions.suppress_tokens);
            suppressions.begin_suppress_tokens = newer
                .begin_suppress_tokens
                .or(suppressions.begin_suppress_tokens);
        }
        let tokenizer_path = file(TOKENIZER_FILE)?;
        let tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| SpeechError::BadModel {
                path: tokenizer_path.display().to_string(),
                reason: e.to_string(),
            })?;
        let special = SpecialTokens::find(&tokenizer)?;
        let weights_path = file(WEIGHTS_FILE)?;
        let bad_weights = |e: candle_core::Error| SpeechError::BadModel {
            path: weights_path.display().to_string(),
            reason: e.to_string(),
        };
        // SAFETY: the file is only read; `reel pull` writes a new snapshot
        // rather than rewriting one in place.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights_path], DType::F32, device) }
                .map_err(bad_weights)?;
        let whisper = model::Whisper::load(&vb, config.clone()).map_err(bad_weights)?;
        let in_vocab = |t: &u32| (*t as usize) < config.vocab_size;
        let version = format!(
            "whisper d{} enc{} dec{} mel{} ({})",
            config.d_model,
            config.encoder_layers,
            config.decoder_layers,
            config.num_mel_bins,
            dir.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
        Ok(Whisper {
            model: Mutex::new(whisper),
            mel: LogMel::new(config.num_mel_bins),
            suppress: suppressions
                .suppress_tokens
                .unwrap_or_default()
                .into_iter()
                .filter(in_vocab)
                .collect(),
            begin_suppress: suppressions
                .begin_suppress_tokens
                .unwrap_or_default()
                .into_iter()
                .filter(in_vocab)
                .collect(),
            config,
            tokenizer,
            special,
            device: device.clone(),
            options,
            version,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Log-mel features of one window, (n_mels, 3000) row-major.
    pub fn features(&self, samples: &[f32]) -> Vec<f32> {
        self.mel.features(samples)
    }

    /// The encoder's output for one window's features: (1500, d_model).
    pub fn encode(&self, features: &[f32]) -> Result<Tensor, SpeechError> {
        let mut model = self.lock();
        Ok(self.encode_with(&mut model, features)?.squeeze(0)?)
    }

    fn encode_with(
        &self,
        model: &mut model::Whisper,
        features: &[f32],
    ) -> candle_core::Result<Tensor> {
        let mel = Tensor::from_slice(features, (1, self.mel.n_mels(), FRAMES), &self.device)?;
        model.encoder.forward(&mel, true)
    }

    /// Greedy decoding of one window; the language is detected unless
    /// given (as its token).
    pub fn decode_window(
        &self,
        samples: &[f32],
        language: Option<u32>,
    ) -> Result<Decoded, SpeechError> {
        let mut model = self.lock();
        let features = self.mel.features(samples);
        let audio = self.encode_with(&mut model, &features)?;
        let language_token = match language {
            Some(token) => token,
            None => self.detect_language(&mut model, &audio)?,
        };
        let s = &self.special;
        let mut tokens = vec![
            s.start_of_transcript,
            language_token,
            s.transcribe,
            s.no_timestamps,
        ];
        let prompt = tokens.len();
        let mut logprobs = Vec::new();
        for step in 0..self.options.max_new_tokens {
            if tokens.len() >= self.config.max_target_positions {
                break;
            }
            let mut logits = self.next_logits(&mut model, &tokens, &audio, step == 0)?;
            for t in &self.suppress {
                logits[*t as usize] = f32::NEG_INFINITY;
            }
            if tokens.len() == prompt {
                for t in &self.begin_suppress {
                    logits[*t as usize] = f32::NEG_INFINITY;
                }
            }
            let (next, logprob) = greedy(&logits);
            logprobs.push(logprob);
            tokens.push(next);
            if next == s.end_of_text {
                break;
            }
        }
        Ok(Decoded {
            language_token,
            tokens: tokens.split_off(prompt),
            logprobs,
        })
    }

    /// transformers' `detect_language`: the decoder's logits after
    /// `<|startoftranscript|>`, restricted to the language tokens.
    fn detect_language(
        &self,
        model: &mut model::Whisper,
        audio: &Tensor,
    ) -> Result<u32, SpeechError> {
        let logits = self.next_logits(model, &[self.special.start_of_transcript], audio, true)?;
        let best = self
            .special
            .languages
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| (*t as usize) < logits.len())
            .max_by(|a, b| logits[*a as usize].total_cmp(&logits[*b as usize]))
            .ok_or_else(|| SpeechError::MissingToken {
                token: "language".into(),
            })?;
        Ok(best)
    }

    /// The logits for the token after `tokens`. candle-transformers caches
    /// only the cross-attention keys (flushed on `first`); self-attention
    /// runs over the whole prefix each step.
    fn next_logits(
        &self,
        model: &mut model::Whisper,
        tokens: &[u32],
        audio: &Tensor,
        first: bool,
    ) -> candle_core::Result<Vec<f32>> {
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let hidden = model.decoder.forward(&input, audio, first)?;
        let last = hidden.i((.., tokens.len() - 1..))?;
        model
            .decoder
            .final_linear(&last)?
            .i((0, 0))?
            .to_vec1::<f32>()
    }

    /// Text of generated tokens: special ones (end of text and after) are
    /// left out.
    pub fn text(&self, tokens: &[u32]) -> Result<String, SpeechError> {
        let words: Vec<u32> = tokens
            .iter()
            .copied()
            .filter(|t| *t < self.special.end_of_text)
            .collect();
        let text = self
            .tokenizer
            .decode(&words, true)
            .map_err(|e| SpeechError::Detokenize(e.to_string()))?;
        Ok(text.trim().to_string())
    }

    pub fn language_code(&self, token: u32) -> &'static str {
        self.special.language_code(token)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, model::Whisper> {
        // A panic mid-decode leaves only caches behind, flushed on next use.
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The most likely token and its log-probability (log-softmax in f64).
fn greedy(logits: &[f32]) -> (u32, f64) {
    let (best, max) =
        logits
            .iter()
            .enumerate()
            .fold((0usize, f32::NEG_INFINITY), |(bi, bv), (i, v)| {
                if *v > bv {
                    (i, *v)
                } else {
                    (bi, bv)
                }
            });
    let max = f64::from(max);
    let sum: f64 = logits.iter().map(|v| (f64::from(*v) - max).exp()).sum();
    (best as u32, -sum.ln())
}

impl SpeechToText for Whisper {
    fn transcribe(&self, samples: &[f32]) -> Result<Transcript, SpeechError> {
        if samples.is_empty() {
            return Err(SpeechError::EmptyAudio);
        }
        let seconds = samples.len() as f64 / SAMPLE_RATE as f64;
        if seconds > self.options.max_seconds {
            return Err(SpeechError::TooLong {
                seconds,
                max: self.options.max_seconds,
            });
        }
        let mut language = None;
        let mut tokens = Vec::new();
        let mut logprobs = Vec::new();
        for window in samples.chunks(WINDOW_SAMPLES) {
            let decoded = self.decode_window(window, language)?;
            language = Some(decoded.language_token);
            tokens.extend(decoded.tokens);
            logprobs.extend(decoded.logprobs);
        }
        let avg = logprobs.iter().sum::<f64>() / logprobs.len().max(1) as f64;
        Ok(Transcript {
            text: self.text(&tokens)?,
            language: language
                .map_or("unknown", |t| self.language_code(t))
                .to_string(),
            avg_logprob: avg as f32,
        })
    }

    fn model_version(&self) -> String {
        self.version.clone()
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SpeechError> {
    let bad = |reason: String| SpeechError::BadModel {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
}

fn from_value<T: serde::de::DeserializeOwned>(
    path: &Path,
    value: serde_json::Value,
) -> Result<T, SpeechError> {
    serde_json::from_value(value).map_err(|e| SpeechError::BadModel {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}
