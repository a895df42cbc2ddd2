//! The registry's errors. The messages are for operators and logs; the
//! command core words what a chat user sees (a requester without
//! permission must learn no more than "unavailable").

use crate::crypto::CryptoError;
use crate::enroll::RecordingRefused;
use crate::model::{MediaKind, Status};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the consent registry's database failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("`{0}` can't be a cameo name: use 2 to 20 lowercase letters, digits or _, starting with a letter")]
    InvalidName(String),
    #[error("the cameo name `{0}` is taken")]
    NameTaken(String),
    #[error("there is no cameo `{0}`")]
    UnknownCameo(String),
    #[error("only the owner of cameo `{0}` may do that")]
    NotOwner(String),
    #[error("cameo `{name}` is {status}")]
    NotActive { name: String, status: Status },
    #[error("a cameo needs its {0}")]
    MissingMedia(MediaKind),
    #[error("there is no consent text version {0}")]
    UnknownConsentText(i64),
    #[error("{0}")]
    InvalidRestrictions(String),
    #[error("cameo #{cameo_id}'s key was wrapped by master key {stored}, not by the one given ({given})")]
    WrongMasterKey {
        cameo_id: i64,
        stored: String,
        given: String,
    },
    #[error("cameo #{cameo_id}'s stored {what} cannot be decrypted: {source}")]
    Undecryptable {
        cameo_id: i64,
        what: &'static str,
        source: CryptoError,
    },
    #[error("encryption failed: {0}")]
    Crypto(#[from] CryptoError),
    #[error("cameo `{name}` has no clip #{job_id} waiting for its owner's approval")]
    NoApprovalPending { name: String, job_id: i64 },
    #[error("corrupt registry data: {0}")]
    Corrupt(String),
    /// The person has no pending registration challenge (never asked for
    /// one, or it was replaced by a newer one).
    #[error("there is no registration challenge to answer: start with `/cameo register NAME`")]
    NoChallenge,
    #[error("the registration challenge expired: ask for a new phrase")]
    ChallengeExpired,
    /// The challenge was answered already (challenges are single use).
    #[error("the registration challenge was already answered: ask for a new phrase")]
    ChallengeUsed,
    #[error("forwarded media can't register a cameo: record yourself and send that recording")]
    Forwarded,
    /// The recording failed the checks; the text says what to fix.
    #[error("{0}")]
    Recording(RecordingRefused),
}

impl RegistryError {
    /// Whether the database said a unique index refused the row.
    pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
        error
            .as_database_error()
            .is_some_and(|e| e.is_unique_violation())
    }
}
