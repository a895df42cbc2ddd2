//! Registration's contract: a one-time challenge phrase, one recording of
//! the person reading it, and the checks that turn that recording into a
//! cameo. The checks themselves (speech to text, faces) live with the
//! models; this crate sees them only through [`RecordingVerifier`], so the
//! chat side never links a model and tests plug in stand-ins.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;

use crate::model::{ConsentText, Person, ReferenceMedia};

/// How long a challenge phrase may be answered.
pub const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;

/// What `/cameo register NAME` hands the person: the consent text to read
/// and agree to, and the phrase to speak in one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    /// The cameo name the person asked for (held for them until expiry).
    pub name: String,
    /// Random words to read aloud; single use.
    pub phrase: String,
    pub consent_text: ConsentText,
    /// Database time (unix ms) after which the phrase is refused.
    pub expires_at: i64,
}

/// The recording that answers a challenge, as the chat delivered it.
#[derive(Debug, Clone)]
pub struct Submission {
    pub owner: Person,
    /// The platform's id of the message or interaction that carried it.
    pub message_id: String,
    /// The platform marked it as forwarded (or otherwise not recorded by
    /// the sender): always refused.
    pub forwarded: bool,
    /// The downloaded file, in a private temporary directory.
    pub path: PathBuf,
}

/// What the checks established from a recording that passed them.
#[derive(Debug)]
pub struct VerifiedRecording {
    /// What the speech model heard.
    pub transcript: String,
    /// How well the phrase matched (0..1).
    pub phrase_score: f64,
    /// Face consistency across the recording (0..1).
    pub face_score: f64,
    /// Voice quality (0..1).
    pub voice_score: f64,
    /// The model behind each check, e.g. `"speech" => "whisper-base@…"`.
    pub models: BTreeMap<String, String>,
    /// Sharpest frontal frame (encoded image), the speech (WAV) and the
    /// face embedding: encrypted by the registry before they are stored.
    pub media: ReferenceMedia,
}

/// Why a recording was not accepted, worded for the person who sent it:
/// what to fix. Nothing was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecordingRefused(pub String);

/// The checks a registration recording must pass.
#[async_trait]
pub trait RecordingVerifier: Send + Sync {
    /// Decodes the recording, checks that `phrase` was spoken and that one
    /// consistent face is in it, and extracts the reference media.
    async fn verify(
        &self,
        recording: &std::path::Path,
        phrase: &str,
    ) -> Result<VerifiedRecording, RecordingRefused>;
}
