//! Signing clips: load the key and certificate once at start (and prove
//! they sign a manifest that validates), then sign each clip or re-encode.

use std::fs::{File, OpenOptions};
use std::io::Cursor;
use std::path::Path;

use c2pa::crypto::raw_signature::SigningAlg;
use c2pa::{create_signer, BoxedSigner, Builder};

use crate::manifest::{self, ClipFacts, MP4};
use crate::verify::{verify_stream, Validity};
use crate::ProvenanceError;

/// Algorithms tried against the key, in order; `reel keygen` makes ES256.
const ALGORITHMS: [SigningAlg; 5] = [
    SigningAlg::Es256,
    SigningAlg::Es384,
    SigningAlg::Es512,
    SigningAlg::Ed25519,
    SigningAlg::Ps256,
];
const SELF_TEST_SVG: &[u8] =
    br#"<svg xmlns="http://www.w3.org/2000/svg" width="2" height="2"><rect width="2" height="2"/></svg>"#;

/// A loaded signing identity.
pub struct ClipSigner {
    signer: BoxedSigner,
    alg: SigningAlg,
}

impl std::fmt::Debug for ClipSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipSigner")
            .field("alg", &self.alg)
            .finish()
    }
}

impl ClipSigner {
    /// Reads the certificate chain (PEM, signing certificate first) and
    /// uses `key_pem` (PKCS#8 PEM) with it. Fails with a message that says
    /// what is wrong when either is unusable or they do not belong together.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, ProvenanceError> {
        let certs = String::from_utf8_lossy(cert_chain_pem);
        if !certs.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ProvenanceError::Certificate(
                "no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        if !String::from_utf8_lossy(key_pem).contains("-----BEGIN PRIVATE KEY-----") {
            return Err(ProvenanceError::Key(
                "not a PKCS#8 PEM private key (expected -----BEGIN PRIVATE KEY-----)".into(),
            ));
        }
        let mut last_error = None;
        for alg in ALGORITHMS {
            match create_signer::from_keys(cert_chain_pem, key_pem, alg, None) {
                Ok(signer) => {
                    let loaded = ClipSigner { signer, alg };
                    loaded.self_test()?;
                    tracing::info!(%alg, "C2PA signing key loaded and tested");
                    return Ok(loaded);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(ProvenanceError::Key(match last_error {
            Some(error) => {
                format!("no supported algorithm (ES256/384/512, Ed25519, PS256) reads it: {error}")
            }
            None => "no supported algorithm reads it".into(),
        }))
    }

    /// Reads both from files.
    pub fn from_files(cert_path: &Path, key_path: &Path) -> Result<Self, ProvenanceError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| ProvenanceError::Read {
                what,
                path: path.to_path_buf(),
                source,
            })
        };
        let certs = read("the signing certificate", cert_path)?;
        let key = read("the signing key", key_path)?;
        Self::from_pem(&certs, &key)
    }

    pub fn algorithm(&self) -> SigningAlg {
        self.alg
    }

    /// Signs a tiny SVG and validates it: a key that does not match the
    /// certificate, or a certificate C2PA refuses (self-signed, expired,
    /// wrong key usage), shows up here, at start, not on the first clip.
    fn self_test(&self) -> Result<(), ProvenanceError> {
        let mut builder = Builder::from_context(
            manifest::context(None).map_err(|e| ProvenanceError::Settings(Box::new(e)))?,
        )
        .with_definition(
            serde_json::json!({
                "title": "self-test.svg",
                // v2 claims must start with a created or opened action.
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
                    "action": "c2pa.created",
                    "digitalSourceType": manifest::TRAINED_ALGORITHMIC_MEDIA,
                }]}}],
            })
            .to_string(),
        )
        .map_err(|e| ProvenanceError::SelfTest(e.to_string()))?;
        let mut source = Cursor::new(SELF_TEST_SVG);
        let mut signed = Cursor::new(Vec::new());
        builder
            .sign(
                self.signer.as_ref(),
                "image/svg+xml",
                &mut source,
                &mut signed,
            )
            .map_err(|e| ProvenanceError::SelfTest(e.to_string()))?;
        signed.set_position(0);
        let check = verify_stream("image/svg+xml", &mut signed, None)
            .map_err(|e| ProvenanceError::SelfTest(e.to_string()))?;
        match check.validity {
            Validity::Valid | Validity::Trusted => Ok(()),
            _ => Err(ProvenanceError::SelfTest(check.failures.join("; "))),
        }
    }

    /// Writes `input` (an MP4 the model made) to `output` with a signed
    /// manifest. `output` must differ from `input`.
    pub fn sign_created(
        &self,
        input: &Path,
        output: &Path,
        facts: &ClipFacts,
    ) -> Result<(), ProvenanceError> {
        let definition = manifest::created_definition(facts);
        self.sign_with(input, output, definition, None)
    }

    /// Writes `reencoded` to `output` with a manifest naming `original`
    /// (a signed clip) as its parent ingredient.
    pub fn sign_reencoded(
        &self,
        original: &Path,
        reencoded: &Path,
        output: &Path,
        why: &str,
    ) -> Result<(), ProvenanceError> {
        let title = file_title(output);
        let definition = manifest::reencoded_definition(&title, why);
        self.sign_with(reencoded, output, definition, Some(original))
    }

    fn sign_with(
        &self,
        input: &Path,
        output: &Path,
        definition: serde_json::Value,
        parent: Option<&Path>,
    ) -> Result<(), ProvenanceError> {
        let sign_error = |source| ProvenanceError::Sign {
            path: input.to_path_buf(),
            source: Box::new(source),
        };
        let context =
            manifest::context(None).map_err(|e| ProvenanceError::Settings(Box::new(e)))?;
        let mut builder = Builder::from_context(context)
            .with_definition(definition.to_string())
            .map_err(sign_error)?;
        if let Some(parent) = parent {
            let mut original = open(parent, "the original clip")?;
            let ingredient = manifest::original_ingredient(&file_title(parent));
            builder
                .add_ingredient_from_stream(ingredient.to_string(), MP4, &mut original)
                .map_err(sign_error)?;
        }
        let mut source = open(input, "the clip to sign")?;
        let mut dest = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(output)
            .map_err(|source| ProvenanceError::Write {
                path: output.to_path_buf(),
                source,
            })?;
        let signed = builder.sign(self.signer.as_ref(), MP4, &mut source, &mut dest);
        if let Err(error) = signed {
            drop(dest);
            // No half-signed file may look like a clip.
            let _ = std::fs::remove_file(output);
            return Err(sign_error(error));
        }
        Ok(())
    }
}

fn open(path: &Path, what: &'static str) -> Result<File, ProvenanceError> {
    File::open(path).map_err(|source| ProvenanceError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn file_title(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "clip.mp4".into())
}
