//! A spoken line for a clip: the speech model from `[voice]`, a voice
//! prompt from a recording (or a cameo's, `prompt`), and the line fitted
//! to the clip: as its soundtrack, and with LTX-2 as the audio → video
//! condition. Shared by `reel render --say` and the worker's `say:`.

use std::path::Path;
use std::sync::Mutex;

use anyhow::{anyhow, Context};
use candle_core::Device;
use reel_engine::voice::{check_line, SpeakOptions, SpeechModel, VoiceError, VoicePrompt};
use reel_media::{
    decode_mono, fit_line, Audio, DecodeLimits, Rendered, CLIP_AUDIO_RATE, SPEECH_LUFS,
    SPEECH_SAMPLE_RATE,
};

use crate::config::VoiceConfig;

pub mod prompt;

pub use prompt::{cameo_voice_prompt, prompt_from_bytes, prompt_to_bytes};

/// The rate voice recordings are decoded at: Mimi's.
const VOICE_DECODE_RATE: u32 = 24_000;

/// Loads the speech model `[voice]` names; a clear error when none is set.
pub fn load_model(config: &VoiceConfig) -> anyhow::Result<SpeechModel> {
    if config.model_dir.as_os_str().is_empty() {
        return Err(anyhow!(
            "no speech model: run `{}` and set voice.model_dir (REEL_VOICE__MODEL_DIR) to the \
             directory it prints",
            reel_engine::voice::PULL_COMMAND
        ));
    }
    Ok(SpeechModel::load(&config.model_dir, &Device::Cpu)?)
}

/// A recording and what is said in it, as a voice prompt. The recording
/// is decoded within the upload limits; the transcript is checked like a line.
pub fn voice_from_file(
    path: &Path,
    transcript: &str,
    limits: &DecodeLimits,
) -> anyhow::Result<VoicePrompt> {
    check_line(transcript).map_err(|e| VoiceError::BadTranscript(Box::new(e)))?;
    // At the codec's rate (CSM's Mimi: 24 kHz), so nothing above 8 kHz is lost on the way.
    let samples = decode_mono(path, limits, VOICE_DECODE_RATE)
        .map_err(|e| VoiceError::UnreadableVoice(e.to_string()))
        .with_context(|| format!("the voice recording {}", path.display()))?;
    Ok(VoicePrompt {
        audio: Audio {
            sample_rate: VOICE_DECODE_RATE,
            channels: 1,
            samples,
        },
        transcript: transcript.to_string(),
    })
}

/// The line spoken in `voice` (or the model's own), not yet fitted to a clip.
pub fn speak_line(
    model: &mut SpeechModel,
    line: &str,
    voice: Option<&VoicePrompt>,
    seed: u64,
    config: &VoiceConfig,
) -> Result<Audio, VoiceError> {
    let options = SpeakOptions {
        seed,
        max_seconds: config.max_seconds,
        ..SpeakOptions::default()
    };
    model.speak(line, voice, &options)
}

/// A spoken line fitted to `frames` at `fps` at `rate`, at [`SPEECH_LUFS`];
/// notes for the user say what fitting changed. [`CLIP_AUDIO_RATE`] for the
/// clip's soundtrack; LTX-2's audio VAE rate for its audio → video condition.
pub fn fitted_line(spoken: &Audio, frames: u32, fps: u32, rate: u32) -> (Audio, Vec<String>) {
    let fitted = fit_line(spoken, frames, fps, rate, SPEECH_LUFS);
    let mut notes = Vec::new();
    if fitted.cut_seconds > 0.0 {
        notes.push(format!(
            "the spoken line ran {:.1} s past the end of the clip and was faded out",
            fitted.cut_seconds
        ));
    }
    tracing::info!(
        spoken_s = spoken.frames() as f64 / f64::from(spoken.sample_rate),
        measured_lufs = fitted.measured_lufs,
        gain_db = fitted.gain_db,
        rate,
        "line fitted to the clip"
    );
    (fitted.audio, notes)
}

/// The line spoken and fitted to `frames` at `fps` as the clip's soundtrack.
pub fn soundtrack(
    model: &mut SpeechModel,
    line: &str,
    voice: Option<&VoicePrompt>,
    seed: u64,
    config: &VoiceConfig,
    frames: u32,
    fps: u32,
) -> Result<(Audio, Vec<String>), VoiceError> {
    let spoken = speak_line(model, line, voice, seed, config)?;
    Ok(fitted_line(&spoken, frames, fps, CLIP_AUDIO_RATE))
}

/// LTX-2's audio → video condition for a clip of `frames` at `fps`: the
/// line fitted at the audio VAE's rate, so the picture (the lips) follows
/// it. `None` for renderers that make no sound of their own: the line is
/// only mixed in after them ([`make_soundtrack`]).
pub fn speech_condition(renderer: &str, spoken: &Audio, frames: u32, fps: u32) -> Option<Audio> {
    (renderer == "ltx-2").then(|| fitted_line(spoken, frames, fps, SPEECH_SAMPLE_RATE).0)
}

/// Makes the spoken line the rendered clip's soundtrack: fitted to its
/// frames at the clip's audio rate and [`SPEECH_LUFS`] (with LTX-2 the
/// track it was conditioned on, now at the encoder's rate and loudness).
pub fn make_soundtrack(rendered: &mut Rendered, spoken: &Audio) {
    let (audio, notes) = fitted_line(
        spoken,
        rendered.frames.len() as u32,
        rendered.fps,
        CLIP_AUDIO_RATE,
    );
    rendered.audio = audio;
    rendered.notes.extend(notes);
}

/// The speech model of `[voice]`, loaded at the first line a worker speaks
/// (most clips have none, and it takes memory and seconds to load) and
/// then kept for the process; the workers of one process share it and
/// speak one line at a time (the model is not reentrant).
pub struct Speaker {
    config: VoiceConfig,
    model: Mutex<Option<SpeechModel>>,
}

impl Speaker {
    pub fn new(config: &VoiceConfig) -> Self {
        Self {
            config: config.clone(),
            model: Mutex::new(None),
        }
    }

    /// Whether a speech model is configured (not whether it loads).
    pub fn configured(&self) -> bool {
        !self.config.model_dir.as_os_str().is_empty()
    }

    /// `line` in `voice` (or the model's own). Blocking: call it where a
    /// render would run. A model that fails to load is tried again at the
    /// next line (an operator may fix the directory meanwhile).
    pub fn speak(
        &self,
        line: &str,
        voice: Option<&VoicePrompt>,
        seed: u64,
    ) -> anyhow::Result<Audio> {
        let mut slot = self
            .model
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        // Taken out while it speaks and put back after: a line that panics
        // leaves no half-used model behind (the next line loads it again).
        let mut model = match slot.take() {
            Some(model) => model,
            None => {
                let loaded = load_model(&self.config)?;
                tracing::info!(dir = %self.config.model_dir.display(), "speech model loaded");
                loaded
            }
        };
        let spoken = speak_line(&mut model, line, voice, seed, &self.config);
        *slot = Some(model);
        Ok(spoken?)
    }
}
