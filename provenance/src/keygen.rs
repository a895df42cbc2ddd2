//! `reel keygen`: a local CA and a signing certificate it issues, for
//! self-hosters without a certificate from a C2PA-recognised CA. Clips
//! signed this way validate; they count as trusted only where the CA
//! certificate is given as a trust anchor (`reel verify` does so).

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

use crate::ProvenanceError;

/// The CA lives ten years, the signing certificate two.
const CA_DAYS: i64 = 3652;
const SIGNING_DAYS: i64 = 730;

/// PEM texts made by [`generate_keys`].
pub struct KeyMaterial {
    /// The local CA's certificate: the trust anchor for verifying.
    pub ca_cert_pem: String,
    /// The signing certificate (issued by the CA).
    pub signing_cert_pem: String,
    /// The signing certificate's private key, PKCS#8. The CA's own key is
    /// not kept: nothing else is ever issued from it.
    pub signing_key_pem: String,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMaterial(<redacted>)")
    }
}

/// Where the three files go.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    pub ca_cert: PathBuf,
    pub signing_cert: PathBuf,
    pub signing_key: PathBuf,
}

fn keygen_error(error: rcgen::Error) -> ProvenanceError {
    ProvenanceError::Keygen(error.to_string())
}

/// Makes a P-256 CA and an ES256 signing certificate with what C2PA asks
/// of one: issued by a CA (not self-signed), digitalSignature key usage,
/// the emailProtection extended key usage, an authority key identifier.
pub fn generate_keys(organisation: &str) -> Result<KeyMaterial, ProvenanceError> {
    let now = time::OffsetDateTime::now_utc();
    let yesterday = now - time::Duration::days(1);

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(keygen_error)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(keygen_error)?;
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, format!("{organisation} reel local CA"));
    ca.distinguished_name
        .push(DnType::OrganizationName, organisation);
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = yesterday;
    ca.not_after = now + time::Duration::days(CA_DAYS);
    let ca_cert = ca.self_signed(&ca_key).map_err(keygen_error)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(keygen_error)?;
    let mut leaf = CertificateParams::new(Vec::<String>::new()).map_err(keygen_error)?;
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, format!("{organisation} reel clips"));
    leaf.distinguished_name
        .push(DnType::OrganizationName, organisation);
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = yesterday;
    leaf.not_after = now + time::Duration::days(SIGNING_DAYS);
    let leaf_cert = leaf.signed_by(&key, &issuer).map_err(keygen_error)?;

    Ok(KeyMaterial {
        ca_cert_pem: ca_cert.pem(),
        signing_cert_pem: leaf_cert.pem(),
        signing_key_pem: key.serialize_pem(),
    })
}

/// Writes the three files, never replacing an existing one (a replaced
/// key would orphan every clip signed so far); the key is readable by its
/// owner only.
pub fn write_key_files(material: &KeyMaterial, files: &KeyFiles) -> Result<(), ProvenanceError> {
    let all = [
        (&files.ca_cert, &material.ca_cert_pem, false),
        (&files.signing_cert, &material.signing_cert_pem, false),
        (&files.signing_key, &material.signing_key_pem, true),
    ];
    for (path, _, _) in &all {
        if path.exists() {
            return Err(ProvenanceError::Exists {
                path: path.to_path_buf(),
            });
        }
    }
    for (path, text, private) in all {
        write_new(path, text, private).map_err(|source| ProvenanceError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

fn write_new(path: &Path, text: &str, private: bool) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
