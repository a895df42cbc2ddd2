//! Speech to text: OpenAI's Whisper on candle-transformers' model code,
//! with the log-mel front end ([`mel`]), greedy decoding, language
//! detection and the usual token suppressions ([`whisper`]) done here,
//! timestamps off. The consent registry sees only the [`SpeechToText`]
//! trait and the phrase check ([`phrase`]).

pub mod mel;
pub mod phrase;
mod tokens;
pub mod whisper;

use serde::{Deserialize, Serialize};

pub use phrase::{normalise, spoken_phrase_matches, PhraseCheck, PhrasePolicy, PhraseVerdict};
pub use whisper::{Whisper, WhisperOptions};

/// Files of a Whisper model directory (`reel pull whisper-base`).
pub const CONFIG_FILE: &str = "config.json";
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// The command that fills a model directory.
pub const PULL_COMMAND: &str = "reel pull whisper-base";

#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error(
        "no Whisper model in {dir} ({missing} is missing): run `{PULL_COMMAND}` (or -small, \
         -large-v3-turbo) and set perception.whisper_model_dir to the directory it prints"
    )]
    MissingModel { dir: String, missing: String },
    #[error("the Whisper model file {path} is unusable: {reason}")]
    BadModel { path: String, reason: String },
    #[error("the Whisper tokenizer has no {token} token")]
    MissingToken { token: String },
    #[error("no audio to transcribe")]
    EmptyAudio,
    #[error("the audio lasts {seconds:.1} s; up to {max:.0} s are transcribed")]
    TooLong { seconds: f64, max: f64 },
    #[error("the Whisper tokenizer cannot decode the output: {0}")]
    Detokenize(String),
    #[error("Whisper: {0}")]
    Model(#[from] candle_core::Error),
}

/// What was said, in which language, and how sure the model was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub text: String,
    /// The language code Whisper detected, e.g. "en".
    pub language: String,
    /// Mean log-probability of the emitted tokens (end of text included),
    /// after the suppressions; near 0 is confident, below -1 doubtful.
    pub avg_logprob: f32,
}

/// What the consent registry needs from speech recognition; its tests plug
/// in deterministic stand-ins.
pub trait SpeechToText: Send + Sync {
    /// `samples`: 16 kHz mono in -1..1.
    fn transcribe(&self, samples: &[f32]) -> Result<Transcript, SpeechError>;
    /// Names the model, for the evidence a consent record keeps.
    fn model_version(&self) -> String;
}
