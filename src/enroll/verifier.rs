//! [`ModelVerifier`]: the registration checks on the real models. The
//! recording is decoded within the perception limits (size first, then
//! headers, then every frame), the speech transcribed and matched against
//! the phrase, the sampled frames checked for one consistent face; the
//! sharpest frontal frame, the speech and the face embedding become the
//! cameo's reference media. Nothing from the recording is logged.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use candle_core::Device;
use reel_consent::{RecordingRefused, RecordingVerifier, ReferenceMedia, VerifiedRecording};
use reel_engine::perception::faces::{
    single_consistent_face, ConsistencyPolicy, FaceAnalyzer, FaceModels,
};
use reel_engine::perception::speech::phrase::compare;
use reel_engine::perception::speech::{PhrasePolicy, SpeechError, SpeechToText, Whisper};
use reel_media::{decode_speech, sample_frames, DecodeLimits, SPEECH_SAMPLE_RATE};

use super::{encode, wording};
use crate::config::{Config, PerceptionConfig};

/// The checks a registration recording must pass, on any speech and face
/// models (tests pass stand-ins for either).
#[derive(Clone)]
pub struct ModelVerifier {
    speech: Arc<dyn SpeechToText>,
    faces: Arc<dyn FaceAnalyzer>,
    limits: DecodeLimits,
    phrase_policy: PhrasePolicy,
    face_policy: ConsistencyPolicy,
}

impl std::fmt::Debug for ModelVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelVerifier")
            .field("speech", &self.speech.model_version())
            .field("faces", &self.faces.model_version())
            .field("limits", &self.limits)
            .finish()
    }
}

impl ModelVerifier {
    /// Loads Whisper and the face models named by `config.perception`
    /// (on the CPU), with its limits and thresholds.
    pub fn from_config(config: &Config) -> anyhow::Result<ModelVerifier> {
        let perception = &config.perception;
        let whisper = Whisper::load(
            &perception.whisper_model_dir,
            &Device::Cpu,
            perception.whisper_options(),
        )
        .context("cannot load the speech model for cameo registration")?;
        let faces = FaceModels::load(
            &perception.face_model_dir,
            &Device::Cpu,
            perception.face_limits(),
        )
        .context("cannot load the face models for cameo registration")?;
        Ok(Self::new(Arc::new(whisper), Arc::new(faces), perception))
    }

    /// The checks on the given models, with `perception`'s limits and
    /// thresholds.
    pub fn new(
        speech: Arc<dyn SpeechToText>,
        faces: Arc<dyn FaceAnalyzer>,
        perception: &PerceptionConfig,
    ) -> ModelVerifier {
        ModelVerifier {
            speech,
            faces,
            limits: perception.decode_limits(),
            phrase_policy: perception.phrase_policy(),
            face_policy: perception.face_policy(),
        }
    }

    /// The whole check, blocking (decoding and the models are CPU work).
    fn check(&self, recording: &Path, phrase: &str) -> Result<VerifiedRecording, RecordingRefused> {
        // Frames first: the container, the length and the frame size are
        // refused from the headers before any audio is decoded.
        let frames = sample_frames(recording, &self.limits).map_err(|e| wording::decode(&e))?;
        let speech = decode_speech(recording, &self.limits).map_err(|e| wording::decode(&e))?;

        let transcript = self.speech.transcribe(&speech.samples).map_err(|e| {
            if !matches!(e, SpeechError::EmptyAudio | SpeechError::TooLong { .. }) {
                tracing::error!(error = %e, "speech model failed on a registration recording");
            }
            wording::speech(&e)
        })?;
        let confidence = transcript.avg_logprob;
        let spoken = compare(transcript, phrase, &self.phrase_policy);
        let words = phrase.split_whitespace().count();
        if let Some(refusal) = wording::phrase(spoken.verdict, words) {
            return Err(refusal);
        }

        let images: Vec<_> = frames.into_iter().map(|f| f.image).collect();
        let faces = single_consistent_face(self.faces.as_ref(), &images, &self.face_policy)
            .map_err(|e| {
                tracing::error!(error = %e, "face models failed on a registration recording");
                wording::unavailable()
            })?;
        if let Some(refusal) = wording::face(&faces.verdict) {
            return Err(refusal);
        }
        let Some(pick) = faces.reference.as_ref() else {
            // A consistent verdict always has a reference frame.
            tracing::error!("the face check passed without a reference frame");
            return Err(wording::unavailable());
        };
        let face_image = encode::png(&images[pick.frame]).map_err(|e| {
            tracing::error!(error = %e, "cannot encode the reference frame");
            wording::unavailable()
        })?;
        let media = ReferenceMedia {
            face_image,
            voice_clip: encode::wav(&speech.samples, SPEECH_SAMPLE_RATE),
            embedding: encode::embedding_bytes(&pick.face.embedding),
        };
        Ok(VerifiedRecording {
            transcript: spoken.transcript.text,
            phrase_score: f64::from(spoken.similarity),
            face_score: f64::from(faces.min_similarity.unwrap_or(0.0).clamp(0.0, 1.0)),
            // No voice model yet: how sure the speech model was of what it
            // heard (exp of the mean token log-probability), 0..1.
            voice_score: f64::from(confidence).exp().clamp(0.0, 1.0),
            models: BTreeMap::from([
                ("speech".to_string(), self.speech.model_version()),
                ("face".to_string(), faces.model_version),
                (
                    "voice_score".to_string(),
                    "speech model confidence (exp mean token logprob)".to_string(),
                ),
            ]),
            media,
        })
    }
}

#[async_trait]
impl RecordingVerifier for ModelVerifier {
    async fn verify(
        &self,
        recording: &Path,
        phrase: &str,
    ) -> Result<VerifiedRecording, RecordingRefused> {
        let verifier = self.clone();
        let recording = recording.to_path_buf();
        let phrase = phrase.to_string();
        tokio::task::spawn_blocking(move || verifier.check(&recording, &phrase))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "the registration checks panicked");
                Err(wording::unavailable())
            })
    }
}
