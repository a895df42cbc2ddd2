//! Reading a clip's content credentials back and saying whether they hold.

use std::io::{Read, Seek};
use std::path::Path;

use c2pa::validation_results::ValidationState;
use c2pa::Reader;
use serde_json::Value;

use crate::manifest::{self, CAMEOS_LABEL, MODEL_LABEL, MP4};
use crate::ProvenanceError;

/// The status code for a good signature by a certificate outside the trust
/// list: not a fault of the clip.
const UNTRUSTED: &str = "signingCredential.untrusted";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Valid and signed by a certificate chaining to a given trust anchor.
    Trusted,
    /// Well formed, hashes and signature good; the signer is not (known to
    /// be) trusted.
    Valid,
    /// Something does not hold (a hash, the signature, the certificate).
    Invalid,
    /// No content credentials at all.
    Unsigned,
}

impl std::fmt::Display for Validity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Validity::Trusted => "valid, signed by a trusted certificate",
            Validity::Valid => "valid (signer not in the trust list)",
            Validity::Invalid => "INVALID",
            Validity::Unsigned => "no content credentials",
        })
    }
}

/// What a clip's active manifest says, and whether it holds.
#[derive(Debug, Clone)]
pub struct Verification {
    pub validity: Validity,
    /// Validation failures ("code: explanation"), the untrusted-signer note
    /// excepted.
    pub failures: Vec<String>,
    /// (action, digital source type) of the active manifest, in order.
    pub actions: Vec<(String, Option<String>)>,
    pub claim_generator: Option<String>,
    pub model: Option<String>,
    pub checkpoint: Option<String>,
    pub cameo_ids: Vec<String>,
    /// Titles of the active manifest's ingredients.
    pub ingredients: Vec<String>,
    /// Who signed (certificate issuer and common name).
    pub signer: Option<String>,
    /// The whole manifest store as the c2pa crate reports it.
    pub manifest_json: String,
}

/// Verifies the MP4 at `path`, offline; `trust_anchors` (PEM) decides
/// whether a valid signature also counts as trusted.
pub fn verify_file(
    path: &Path,
    trust_anchors: Option<&str>,
) -> Result<Verification, ProvenanceError> {
    let mut file = std::fs::File::open(path).map_err(|source| ProvenanceError::Read {
        what: "the clip",
        path: path.to_path_buf(),
        source,
    })?;
    verify_stream(MP4, &mut file, trust_anchors).map_err(|source| ProvenanceError::Verify {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

pub(crate) fn verify_stream(
    format: &str,
    stream: &mut (impl Read + Seek + Send),
    trust_anchors: Option<&str>,
) -> Result<Verification, c2pa::Error> {
    let context = manifest::context(trust_anchors)?;
    let reader = match Reader::from_context(context).with_stream(format, stream) {
        Ok(reader) => reader,
        Err(c2pa::Error::JumbfNotFound) | Err(c2pa::Error::ProvenanceMissing) => {
            return Ok(unsigned());
        }
        Err(c2pa::Error::IoError(error)) => return Err(c2pa::Error::IoError(error)),
        // A manifest is there but does not even parse: as bad as a
        // failed hash, for whoever relies on it.
        Err(error) => {
            let mut broken = unsigned();
            broken.validity = Validity::Invalid;
            broken.failures.push(error.to_string());
            return Ok(broken);
        }
    };
    let failures: Vec<String> = reader
        .validation_status()
        .unwrap_or_default()
        .iter()
        .filter(|status| status.code() != UNTRUSTED)
        .map(|status| match status.explanation() {
            Some(explanation) => format!("{}: {explanation}", status.code()),
            None => status.code().to_string(),
        })
        .collect();
    let validity = match reader.validation_state() {
        ValidationState::Trusted => Validity::Trusted,
        ValidationState::Valid if failures.is_empty() => Validity::Valid,
        _ => Validity::Invalid,
    };
    let manifest_json = reader.json();
    let store: Value = serde_json::from_str(&manifest_json).unwrap_or(Value::Null);
    let active = store
        .get("active_manifest")
        .and_then(Value::as_str)
        .and_then(|label| store.get("manifests")?.get(label))
        .cloned()
        .unwrap_or(Value::Null);
    let mut verification = summarise(&active);
    verification.validity = validity;
    verification.failures = failures;
    verification.manifest_json = manifest_json;
    Ok(verification)
}

fn unsigned() -> Verification {
    Verification {
        validity: Validity::Unsigned,
        failures: Vec::new(),
        actions: Vec::new(),
        claim_generator: None,
        model: None,
        checkpoint: None,
        cameo_ids: Vec::new(),
        ingredients: Vec::new(),
        signer: None,
        manifest_json: String::new(),
    }
}

/// Picks what `reel verify` and the tests look at out of the manifest JSON.
fn summarise(manifest: &Value) -> Verification {
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(String::from);
    let assertions = manifest
        .get("assertions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let data_of = |label: &str| {
        assertions
            .iter()
            .find(|a| a.get("label").and_then(Value::as_str) == Some(label))
            .and_then(|a| a.get("data"))
    };
    let actions = assertions
        .iter()
        .filter(|a| {
            a.get("label")
                .and_then(Value::as_str)
                .is_some_and(|label| label.starts_with("c2pa.actions"))
        })
        .filter_map(|a| a.get("data")?.get("actions")?.as_array())
        .flatten()
        .filter_map(|action| Some((text(action, "action")?, text(action, "digitalSourceType"))))
        .collect();
    let model = data_of(MODEL_LABEL);
    let cameo_ids = data_of(CAMEOS_LABEL)
        .and_then(|data| data.get("cameo_ids")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|id| id.as_str().map(String::from))
        .collect();
    let claim_generator = manifest
        .get("claim_generator_info")
        .and_then(|info| info.get(0))
        .map(|info| {
            let name = text(info, "name").unwrap_or_default();
            match text(info, "version") {
                Some(version) => format!("{name} {version}"),
                None => name,
            }
        });
    let signer = manifest.get("signature_info").map(|info| {
        [text(info, "issuer"), text(info, "common_name")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" / ")
    });
    Verification {
        validity: Validity::Unsigned,
        failures: Vec::new(),
        actions,
        claim_generator,
        model: model.and_then(|m| text(m, "name")),
        checkpoint: model.and_then(|m| text(m, "checkpoint")),
        cameo_ids,
        ingredients: manifest
            .get("ingredients")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(|i| text(i, "title")).collect())
            .unwrap_or_default(),
        signer,
        manifest_json: String::new(),
    }
}
