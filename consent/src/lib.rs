//! Consent checks for cameos (a person's registered face and voice).
//!
//! Every job that names cameos is checked three times: when it is queued,
//! when a worker starts rendering it, and before its clip is posted, so a
//! withdrawal stops clips already in flight. [`CameoRegistry`] records
//! consent (cameos, their encrypted media, who may use them, a
//! hash-chained log the database refuses to change) and is the gate where
//! a master key is configured; without one [`NoCameoRegistry`] is the gate,
//! and since no cameo can be registered it refuses every cameo reference
//! (and lets cameo-free prompts through).
//!
//! Checkpoints do not read a gate's answer themselves: [`decide`] turns it
//! into a [`Verdict`] by one documented policy (see `policy.rs`).

use async_trait::async_trait;

mod chain;
mod consent_text;
mod crypto;
mod enroll;
mod error;
mod model;
mod policy;
mod registry;
mod restrict;

pub use chain::{ChainReport, ConsentEvent, EventKind, GENESIS};
pub use consent_text::{CONSENT_LANGUAGE_EN, CONSENT_TEXT_EN};
pub use crypto::{CryptoError, MasterKey};
pub use enroll::{
    Challenge, RecordingRefused, RecordingVerifier, Submission, VerifiedRecording, CHALLENGE_TTL_MS,
};
pub use error::RegistryError;
pub use model::{
    ApprovalMode, Audience, CameoId, CameoInfo, CameoName, ClipUse, ConsentText, Evidence,
    MediaInfo, MediaKind, NewCameo, Person, ReferenceMedia, Status,
};
pub use policy::{decide, Verdict};
pub use registry::{
    ApprovalRequest, ApprovalState, CameoExport, CameoRegistry, PersonExport, CHALLENGE_WORDS,
    MAX_SUGGESTIONS, PHRASE_WORDS,
};
pub use restrict::BUILT_IN as BUILT_IN_RESTRICTIONS;

/// At most this many cameos may appear in one clip.
pub const MAX_CAMEOS_PER_CLIP: usize = 2;

/// The three points at which consent is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    Enqueue,
    RenderStart,
    Delivery,
}

/// Who wants which cameos in which prompt.
#[derive(Debug, Clone)]
pub struct ConsentRequest<'a> {
    pub platform: &'a str,
    pub user_id: &'a str,
    pub cameo_ids: &'a [String],
    pub prompt: &'a str,
    pub checkpoint: Checkpoint,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentDecision {
    Allowed,
    /// The reason is shown to the requester as it is.
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("the consent registry is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait ConsentGate: Send + Sync {
    async fn check(&self, request: &ConsentRequest<'_>) -> Result<ConsentDecision, ConsentError>;
}

/// The gate while no cameo registry exists: no cameo can be used.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCameoRegistry;

#[async_trait]
impl ConsentGate for NoCameoRegistry {
    async fn check(&self, request: &ConsentRequest<'_>) -> Result<ConsentDecision, ConsentError> {
        if request.cameo_ids.len() > MAX_CAMEOS_PER_CLIP {
            return Ok(ConsentDecision::Refused(format!(
                "at most {MAX_CAMEOS_PER_CLIP} cameos may appear in one clip"
            )));
        }
        match request.cameo_ids.first() {
            None => Ok(ConsentDecision::Allowed),
            Some(name) => Ok(ConsentDecision::Refused(format!(
                "there is no cameo `{name}`: cameos can't be registered on this server yet"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cameos: &[String]) -> ConsentRequest<'_> {
        ConsentRequest {
            platform: "terminal",
            user_id: "u",
            cameo_ids: cameos,
            prompt: "p",
            checkpoint: Checkpoint::Enqueue,
        }
    }

    #[tokio::test]
    async fn without_a_registry_only_cameo_free_prompts_pass() {
        let gate = NoCameoRegistry;
        assert_eq!(
            gate.check(&request(&[])).await.unwrap(),
            ConsentDecision::Allowed
        );
        let one = ["alice".to_string()];
        match gate.check(&request(&one)).await.unwrap() {
            ConsentDecision::Refused(reason) => assert!(reason.contains("alice"), "{reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let three = ["a".to_string(), "b".to_string(), "c".to_string()];
        match gate.check(&request(&three)).await.unwrap() {
            ConsentDecision::Refused(reason) => assert!(reason.contains("at most 2"), "{reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
