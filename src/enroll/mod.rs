//! Cameo registration's recording checks, on the real models: the
//! [`ModelVerifier`] that `CameoRegistry::finish_registration` runs on the
//! recording that answers a challenge.

pub mod encode;
mod verifier;
pub mod wording;

pub use verifier::ModelVerifier;
