//! What the cameo tests share: a deterministic stand-in for the recording
//! checks, and a cameo registered without a recording. (Also included by
//! the adapter harnesses, so nothing here needs the rest of `common`.)
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use reel_consent::{
    CameoInfo, CameoRegistry, Evidence, NewCameo, Person, RecordingRefused, RecordingVerifier,
    ReferenceMedia, VerifiedRecording,
};

pub const CONSENT_TEXT: &str = "I agree that reel may use my face and voice in clips.";

/// The stand-in's refusal of a recording without the phrase in it.
pub const PHRASE_NOT_HEARD: &str =
    "I didn't hear the phrase: read all of it, clearly, in one take.";

/// Stands in for speech-to-text and the face checks: a "recording" is a
/// text file, and it passes when it contains the phrase. Deterministic,
/// and it never sees a real face.
pub struct StandInVerifier;

#[async_trait]
impl RecordingVerifier for StandInVerifier {
    async fn verify(
        &self,
        recording: &Path,
        phrase: &str,
    ) -> Result<VerifiedRecording, RecordingRefused> {
        let said = tokio::fs::read_to_string(recording)
            .await
            .map_err(|_| RecordingRefused("I can't read that recording.".into()))?;
        if !said.contains(phrase) {
            return Err(RecordingRefused(PHRASE_NOT_HEARD.into()));
        }
        Ok(VerifiedRecording {
            transcript: phrase.into(),
            phrase_score: 1.0,
            face_score: 1.0,
            voice_score: 1.0,
            models: BTreeMap::from([("speech".to_string(), "stand-in".to_string())]),
            media: media(),
        })
    }
}

pub fn media() -> ReferenceMedia {
    ReferenceMedia {
        face_image: b"stand-in face image".to_vec(),
        voice_clip: b"stand-in voice clip".to_vec(),
        embedding: vec![1, 2, 3, 4],
    }
}

/// Registers cameo `name` for `owner` as if its recording had passed
/// (for tests of what comes after registration).
pub async fn registered(registry: &CameoRegistry, owner: &Person, name: &str) -> CameoInfo {
    let text = registry
        .publish_consent_text("en", CONSENT_TEXT)
        .await
        .unwrap();
    let evidence = Evidence {
        consent_text_version: text.version,
        message_id: format!("test:{name}"),
        nonce: format!("nonce-{name}"),
        transcript: "stand-in".into(),
        phrase_score: 1.0,
        face_score: 1.0,
        voice_score: 1.0,
        models: BTreeMap::new(),
    };
    registry
        .register(NewCameo {
            owner: owner.clone(),
            name: name.into(),
            evidence,
            media: media(),
        })
        .await
        .unwrap()
}
