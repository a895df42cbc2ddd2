//! Speech in a given voice: Sesame's CSM ([`csm`]) with the Mimi codec
//! ([`mimi`]), from a transformers-layout model directory (`reel pull
//! csm-1b`). A voice is cloned from a reference clip and its transcript
//! (a cameo's consent recording and its phrase): the clip is the first
//! turn of a conversation, the line the second, by the same speaker.
//! Without one the model speaks in a voice of its own, fixed by the seed.

pub mod csm;
mod llama;
pub mod mimi;
pub mod prep;
pub mod sampling;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use reel_media::Audio;
use serde::Deserialize;
use tokenizers::Tokenizer;

pub use csm::Position;
use csm::{Config, Csm};
use mimi::{Mimi, MimiConfig};
pub use sampling::{Rng, Sampling};

/// Files of a CSM model directory.
pub const CONFIG_FILE: &str = "config.json";
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const PULL_COMMAND: &str = "reel pull csm-1b";

/// The longest line, in characters (about 20 s of speech).
pub const MAX_LINE_CHARS: usize = 300;
/// No line lasts longer than this, whatever is asked.
pub const MAX_SECONDS: f32 = 30.0;
/// A voice prompt must hold this much sound, and is cut to the last part of this length.
pub const MIN_VOICE_SECONDS: f32 = 0.5;
pub const MAX_VOICE_SECONDS: f32 = 30.0;

/// The speaker id every turn uses: the reference and the line are one person.
const SPEAKER: u32 = 0;

#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error(
        "no speech model in {dir} ({missing} is missing): run `{PULL_COMMAND}` and set \
         voice.model_dir to the directory it prints"
    )]
    MissingModel { dir: PathBuf, missing: String },
    #[error("the speech model file {path} is unusable: {reason}")]
    BadModel { path: PathBuf, reason: String },
    #[error("the line to say is empty")]
    EmptyLine,
    #[error("the line to say has {chars} characters; at most {max} can be spoken")]
    LineTooLong { chars: usize, max: usize },
    #[error("the line to say contains a control character (U+{0:04X})")]
    ControlCharacter(u32),
    #[error("the voice recording cannot be used: {0}")]
    UnreadableVoice(String),
    #[error("the voice recording is silent")]
    SilentVoice,
    #[error("the voice recording holds {seconds:.2} s of sound; at least {min} s are needed")]
    VoiceTooShort { seconds: f32, min: f32 },
    #[error("the voice recording's transcript: {0}")]
    BadTranscript(Box<VoiceError>),
    #[error("the prompt needs {positions} positions; the model reads at most {max}")]
    PromptTooLong { positions: usize, max: usize },
    #[error("the speech tokenizer: {0}")]
    Tokenizer(String),
    #[error("speech model: {0}")]
    Model(#[from] candle_core::Error),
}

/// Whose voice: a recording of them and what they say in it.
#[derive(Clone, Debug)]
pub struct VoicePrompt {
    pub audio: Audio,
    pub transcript: String,
}

/// How to speak a line.
#[derive(Clone, Copy, Debug)]
pub struct SpeakOptions {
    pub seed: u64,
    /// `None`: the model's generation_config.json (CSM-1B: 0.9).
    pub temperature: Option<f32>,
    /// `None`: the model's generation_config.json (CSM-1B: 50).
    pub top_k: Option<usize>,
    /// Stops there if the model has not ended the line (capped at [`MAX_SECONDS`]).
    pub max_seconds: f32,
}

impl Default for SpeakOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            temperature: None,
            top_k: None,
            max_seconds: 10.0,
        }
    }
}

#[derive(Deserialize)]
struct GenerationConfig {
    temperature: Option<f32>,
    top_k: Option<usize>,
    do_sample: Option<bool>,
}

#[derive(Deserialize)]
struct CodecSection {
    codec_config: MimiConfig,
}

/// A loaded CSM + Mimi. Not `Sync`: one line at a time (hold it in a mutex).
pub struct SpeechModel {
    csm: Csm,
    codec: Mimi,
    tokenizer: Tokenizer,
    defaults: Sampling,
}

impl SpeechModel {
    /// Loads `dir` (config.json with the codec's config inside,
    /// model.safetensors with the codec under `codec_model.`, tokenizer.json).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, VoiceError> {
        for file in [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE] {
            if !dir.join(file).is_file() {
                return Err(VoiceError::MissingModel {
                    dir: dir.to_path_buf(),
                    missing: file.into(),
                });
            }
        }
        let bad = |file: &str, reason: String| VoiceError::BadModel {
            path: dir.join(file),
            reason,
        };
        let config_text = std::fs::read_to_string(dir.join(CONFIG_FILE))
            .map_err(|e| bad(CONFIG_FILE, e.to_string()))?;
        let cfg: Config =
            serde_json::from_str(&config_text).map_err(|e| bad(CONFIG_FILE, e.to_string()))?;
        let codec_cfg: CodecSection =
            serde_json::from_str(&config_text).map_err(|e| bad(CONFIG_FILE, e.to_string()))?;
        let defaults = read_generation_config(&dir.join(GENERATION_CONFIG_FILE))
            .map_err(|e| bad(GENERATION_CONFIG_FILE, e))?;
        // SAFETY: the weights file is opened read-only and not changed while mapped.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(&[dir.join(WEIGHTS_FILE)], DType::F32, device)
        }
        .map_err(|e| bad(WEIGHTS_FILE, e.to_string()))?;
        let csm = Csm::new(&cfg, vb.clone()).map_err(|e| bad(WEIGHTS_FILE, e.to_string()))?;
        let codec = Mimi::new(&codec_cfg.codec_config, vb.pp("codec_model"))
            .map_err(|e| bad(WEIGHTS_FILE, format!("codec: {e}")))?;
        if codec_cfg.codec_config.num_quantizers < cfg.num_codebooks {
            return Err(bad(
                CONFIG_FILE,
                "the codec has fewer codebooks than the model".into(),
            ));
        }
        let tokenizer = Tokenizer::from_file(dir.join(TOKENIZER_FILE))
            .map_err(|e| bad(TOKENIZER_FILE, e.to_string()))?;
        tracing::info!(dir = %dir.display(), codebooks = cfg.num_codebooks, "speech model loaded");
        Ok(Self {
            csm,
            codec,
            tokenizer,
            defaults,
        })
    }

    pub fn sample_rate(&self) -> u32 {
        self.codec.config().sampling_rate
    }

    pub fn frame_rate(&self) -> f64 {
        self.codec.config().frame_rate()
    }

    /// The codec: for tests and benchmarks.
    pub fn codec(&mut self) -> &mut Mimi {
        &mut self.codec
    }

    /// The backbone and depth decoder: for tests and benchmarks.
    pub fn csm(&mut self) -> &mut Csm {
        &mut self.csm
    }

    /// Says `line`, in `voice` if given. Errors for bad input come before any model work.
    pub fn speak(
        &mut self,
        line: &str,
        voice: Option<&VoicePrompt>,
        options: &SpeakOptions,
    ) -> Result<Audio, VoiceError> {
        let line = check_line(line)?;
        if self.codec.device().is_cpu() {
            crate::flush_denormals();
        }
        let reference = voice.map(|v| self.reference(v)).transpose()?;
        let prompt = self.prompt(
            reference
                .as_ref()
                .map(|(text, codes)| (text.as_str(), codes.as_slice())),
            &line,
        )?;
        let frames = self.generate(&prompt, options)?;
        tracing::debug!(frames = frames.len(), "line spoken");
        let samples = self.decode(&frames)?;
        Ok(Audio {
            sample_rate: self.sample_rate(),
            channels: 1,
            samples,
        })
    }

    /// A voice prompt's transcript (checked like a line) and its codes, frame by frame.
    fn reference(&mut self, voice: &VoicePrompt) -> Result<(String, Vec<Vec<u32>>), VoiceError> {
        let transcript =
            check_line(&voice.transcript).map_err(|e| VoiceError::BadTranscript(Box::new(e)))?;
        let audio = &voice.audio;
        if audio.sample_rate == 0 || audio.channels == 0 || audio.samples.is_empty() {
            return Err(VoiceError::UnreadableVoice("no samples".into()));
        }
        if audio.samples.iter().any(|s| !s.is_finite()) {
            return Err(VoiceError::UnreadableVoice(
                "samples are not numbers".into(),
            ));
        }
        let rate = self.sample_rate();
        let mono = reel_media::resample(&prep::downmix(audio), audio.sample_rate, rate);
        let sound = prep::trim_to_sound(&mono, rate).ok_or(VoiceError::SilentVoice)?;
        let seconds = sound.len() as f32 / rate as f32;
        if seconds < MIN_VOICE_SECONDS {
            return Err(VoiceError::VoiceTooShort {
                seconds,
                min: MIN_VOICE_SECONDS,
            });
        }
        let keep = (MAX_VOICE_SECONDS * rate as f32) as usize;
        let mut sound = sound[sound.len().saturating_sub(keep)..].to_vec();
        prep::normalise(&mut sound);
        let codes = self.encode(&sound)?;
        Ok((transcript, codes))
    }

    /// Mono samples at the codec's rate → frames of codes (the model's codebooks).
    pub fn encode(&mut self, samples: &[f32]) -> Result<Vec<Vec<u32>>, VoiceError> {
        let k = self.csm.config().num_codebooks;
        let codes = self.codec.encode(samples)?.narrow(0, 0, k)?; // (codebooks, frames)
        let by_frame: Vec<Vec<u32>> = codes.t()?.to_dtype(DType::U32)?.to_vec2()?;
        Ok(by_frame)
    }

    /// Frames of codes → mono samples at the codec's rate.
    pub fn decode(&mut self, frames: &[Vec<u32>]) -> Result<Vec<f32>, VoiceError> {
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        let k = frames[0].len();
        let flat: Vec<u32> = frames.iter().flatten().copied().collect();
        let codes = Tensor::from_vec(flat, (frames.len(), k), self.codec.device())?
            .t()?
            .contiguous()?; // (codebooks, frames)
        Ok(self.codec.decode(&codes)?)
    }

    /// The backbone's input: CSM's chat template, one turn per segment:
    /// `<|begin_of_text|>[speaker]text<|end_of_text|>`, then for a turn with
    /// audio its frames and an end-of-audio frame (every code the eos id).
    pub fn prompt(
        &self,
        reference: Option<(&str, &[Vec<u32>])>,
        line: &str,
    ) -> Result<Vec<Position>, VoiceError> {
        let mut positions = Vec::new();
        if let Some((text, frames)) = reference {
            positions.extend(self.text_turn(text)?);
            positions.extend(frames.iter().cloned().map(Position::Frame));
            let eos = self.csm.config().codebook_eos_token_id;
            positions.push(Position::Frame(vec![eos; self.csm.config().num_codebooks]));
        }
        positions.extend(self.text_turn(line)?);
        Ok(positions)
    }

    fn text_turn(&self, text: &str) -> Result<Vec<Position>, VoiceError> {
        let turn = format!("<|begin_of_text|>[{SPEAKER}]{text}<|end_of_text|>");
        let encoding = self
            .tokenizer
            .encode(turn, false)
            .map_err(|e| VoiceError::Tokenizer(e.to_string()))?;
        let vocab = self.csm.config().text_vocab_size as u32;
        encoding
            .get_ids()
            .iter()
            .map(|&id| {
                if id < vocab {
                    Ok(Position::Text(id))
                } else {
                    Err(VoiceError::Tokenizer(format!(
                        "token id {id} is past the model's {vocab}"
                    )))
                }
            })
            .collect()
    }

    /// Frames after `prompt` until an all-eos frame (not returned) or the length cap.
    pub fn generate(
        &mut self,
        prompt: &[Position],
        options: &SpeakOptions,
    ) -> Result<Vec<Vec<u32>>, VoiceError> {
        let sampling = Sampling {
            temperature: options.temperature.unwrap_or(self.defaults.temperature),
            top_k: options.top_k.unwrap_or(self.defaults.top_k),
        };
        let seconds = options.max_seconds.clamp(0.0, MAX_SECONDS);
        // The tolerance keeps f32 seconds (0.8 is 0.800000012) from asking for one frame more.
        let max_frames = (f64::from(seconds) * self.frame_rate() - 1e-4)
            .ceil()
            .max(0.0) as usize;
        let limit = self.csm.max_positions();
        if prompt.len() + max_frames > limit {
            return Err(VoiceError::PromptTooLong {
                positions: prompt.len() + max_frames,
                max: limit,
            });
        }
        let mut rng = Rng::new(options.seed);
        // CSM-1B's heads have 2051 outputs for Mimi's 2048 codes; the three
        // extra ids are never trained to win, but one drawn would not decode.
        let codes = self.codec.config().codebook_size;
        let mut choose = |logits: &Tensor| -> candle_core::Result<u32> {
            let logits: Vec<f32> = logits.to_vec1()?;
            Ok(sampling::choose(
                &logits[..codes.min(logits.len())],
                sampling,
                &mut rng,
            ))
        };
        let (k, eos) = (
            self.csm.config().num_codebooks,
            self.csm.config().codebook_eos_token_id,
        );
        self.csm.reset();
        let embeds = self.csm.embed(prompt)?;
        let mut last = llama_last(&self.csm.backbone(&embeds)?)?; // (1, hidden)
        let mut frames = Vec::new();
        for _ in 0..max_frames {
            let logits = self.csm.codebook0_logits(&last)?.squeeze(0)?;
            let mut frame = vec![choose(&logits)?];
            let mut logits = self.csm.depth_start(&last, frame[0])?;
            for codebook in 1..k {
                let code = choose(&logits)?;
                frame.push(code);
                if codebook + 1 < k {
                    logits = self.csm.depth_next(codebook, code)?;
                }
            }
            if frame.iter().all(|c| *c == eos) {
                break;
            }
            let embeds = self.csm.embed(&[Position::Frame(frame.clone())])?;
            last = llama_last(&self.csm.backbone(&embeds)?)?;
            frames.push(frame);
        }
        Ok(frames)
    }
}

fn llama_last(states: &Tensor) -> candle_core::Result<Tensor> {
    let t = states.dim(1)?;
    states.narrow(1, t - 1, 1)?.squeeze(1)
}

fn read_generation_config(path: &Path) -> Result<Sampling, String> {
    // Sesame's own defaults where the file is absent.
    let mut sampling = Sampling {
        temperature: 0.9,
        top_k: 50,
    };
    if !path.is_file() {
        return Ok(sampling);
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let cfg: GenerationConfig = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if cfg.do_sample == Some(false) {
        sampling.temperature = 0.0;
    } else if let Some(t) = cfg.temperature {
        sampling.temperature = t;
    }
    if let Some(k) = cfg.top_k {
        sampling.top_k = k;
    }
    Ok(sampling)
}

/// A line as it will be spoken: whitespace runs made one space; refused
/// when empty, too long or holding control characters.
pub fn check_line(line: &str) -> Result<String, VoiceError> {
    if let Some(bad) = line
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(VoiceError::ControlCharacter(bad as u32));
    }
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return Err(VoiceError::EmptyLine);
    }
    let chars = line.chars().count();
    if chars > MAX_LINE_CHARS {
        return Err(VoiceError::LineTooLong {
            chars,
            max: MAX_LINE_CHARS,
        });
    }
    Ok(line)
}
