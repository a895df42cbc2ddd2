//! C2PA content credentials for reel's clips: every MP4 says, in a signed
//! manifest, that it was made by a trained model (which one, from which
//! checkpoint), which cameo ids it used, and — for a re-encode — which clip
//! it came from. Signing and verifying are offline, with pure-Rust crypto.
//! `keygen` makes a local CA and signing certificate for self-hosters.

mod keygen;
mod manifest;
mod signer;
mod verify;

pub use keygen::{generate_keys, write_key_files, KeyFiles, KeyMaterial};
pub use manifest::{ClipFacts, CAMEOS_LABEL, MODEL_LABEL, TRAINED_ALGORITHMIC_MEDIA};
pub use signer::ClipSigner;
pub use verify::{verify_file, Validity, Verification};

use std::path::PathBuf;

/// c2pa's errors are large (144 bytes and more): boxed, so every `Result`
/// of this crate stays small.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} already exists; move it away first (keys are never overwritten)")]
    Exists { path: PathBuf },
    #[error("the signing certificate is not usable: {0}")]
    Certificate(String),
    #[error("the signing key is not usable: {0}")]
    Key(String),
    #[error("the signing key and certificate do not make a valid signature: {0}")]
    SelfTest(String),
    #[error("cannot make keys: {0}")]
    Keygen(String),
    #[error("cannot sign {path}: {source}")]
    Sign {
        path: PathBuf,
        source: Box<c2pa::Error>,
    },
    #[error("cannot read the content credentials of {path}: {source}")]
    Verify {
        path: PathBuf,
        source: Box<c2pa::Error>,
    },
    #[error("C2PA settings: {0}")]
    Settings(Box<c2pa::Error>),
}
