//! Encryption at rest for cameo media.
//!
//! Each cameo has its own random 256-bit key; its media are sealed with
//! XChaCha20-Poly1305 under that key, and the key is stored only wrapped
//! (sealed the same way) by the master key, which is never stored. So:
//! destroying one wrapped key makes that cameo's media unreadable wherever
//! copies of the ciphertext lie (crypto-shredding), and the database alone
//! (a leaked file, a backup) holds nothing readable without the master key.
//!
//! Why XChaCha20-Poly1305: its 192-bit nonces can be drawn at random for
//! every message without a counter to keep (AES-GCM's 96-bit ones cannot
//! be drawn at random for many messages under one key), it needs no AES
//! hardware to be fast and constant-time, and it is a small RustCrypto
//! crate. Associated data binds every ciphertext to its cameo (and media
//! kind), so a blob copied into another row does not decrypt.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::model::MediaKind;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the master key must be 32 bytes, written as 64 hex digits or in base64 ({0})")]
    BadMasterKey(&'static str),
    /// The key is not the one the data was sealed with, or the data (or
    /// what it is bound to) was changed. AEADs cannot tell these apart.
    #[error("the data was not sealed with this key for this place, or was altered")]
    Open,
    #[error("the data is too long to seal")]
    Seal,
}

/// The key that wraps every cameo's key. 32 bytes; `Debug` shows only its
/// fingerprint, and the bytes are zeroed when it is dropped.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl MasterKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A new random key (`reel` prints one for the operator to keep).
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(&mut bytes[..]);
        Self(bytes)
    }

    /// Reads a key written as 64 hex digits or as base64 (standard or
    /// URL-safe alphabet, padded or not); surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        use base64::Engine;
        let text = text.trim();
        if text.is_empty() {
            return Err(CryptoError::BadMasterKey("it is empty"));
        }
        let bytes = Zeroizing::new(if text.len() == 2 * KEY_LEN {
            decode_hex(text).ok_or(CryptoError::BadMasterKey("64 characters but not hex"))?
        } else {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
                .ok_or(CryptoError::BadMasterKey("neither hex nor base64"))?
        });
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::BadMasterKey("it does not decode to 32 bytes"))?;
        Ok(Self::from_bytes(key))
    }

    /// The key in standard base64, which [`Self::parse`] reads back (for
    /// the operator to keep; never logged).
    pub fn to_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.0[..])
    }

    /// A fingerprint naming this key (stored beside each wrapped key, so a
    /// wrong master key is told apart from damaged data). The first 8
    /// bytes of a domain-separated SHA-256: it says nothing of the key.
    pub fn id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"reel/master-key-id/v1\0")
            .chain_update(&self.0[..])
            .finalize();
        hex(&digest[..8])
    }

    pub(crate) fn wrap(&self, cameo_id: i64, key: &CameoKey) -> Result<Vec<u8>, CryptoError> {
        seal(&self.0, &key_context(cameo_id), &key.0[..])
    }

    pub(crate) fn unwrap(&self, cameo_id: i64, wrapped: &[u8]) -> Result<CameoKey, CryptoError> {
        let plain = Zeroizing::new(open(&self.0, &key_context(cameo_id), wrapped)?);
        let key: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| CryptoError::Open)?;
        Ok(CameoKey(Zeroizing::new(key)))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id {}, <redacted>)", self.id())
    }
}

/// One cameo's own key. Never leaves this crate unwrapped.
pub(crate) struct CameoKey(Zeroizing<[u8; KEY_LEN]>);

impl CameoKey {
    pub(crate) fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(&mut bytes[..]);
        Self(bytes)
    }

    pub(crate) fn seal(
        &self,
        cameo_id: i64,
        kind: MediaKind,
        plain: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        seal(&self.0, &media_context(cameo_id, kind), plain)
    }

    pub(crate) fn open(
        &self,
        cameo_id: i64,
        kind: MediaKind,
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        open(&self.0, &media_context(cameo_id, kind), sealed)
    }
}

impl std::fmt::Debug for CameoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CameoKey(<redacted>)")
    }
}

fn key_context(cameo_id: i64) -> Vec<u8> {
    let mut ad = b"reel/cameo-key/v1\0".to_vec();
    ad.extend_from_slice(&cameo_id.to_be_bytes());
    ad
}

fn media_context(cameo_id: i64, kind: MediaKind) -> Vec<u8> {
    let mut ad = b"reel/cameo-media/v1\0".to_vec();
    ad.extend_from_slice(&cameo_id.to_be_bytes());
    ad.extend_from_slice(kind.as_str().as_bytes());
    ad
}

/// `nonce || ciphertext || tag`, with a fresh random nonce.
fn seal(key: &[u8; KEY_LEN], ad: &[u8], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: ad,
            },
        )
        .map_err(|_| CryptoError::Seal)?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn open(key: &[u8; KEY_LEN], ad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN {
        return Err(CryptoError::Open);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(key.into())
        .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: ad })
        .map_err(|_| CryptoError::Open)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    let mut out = Vec::with_capacity(digits.len() / 2);
    for pair in digits.chunks(2) {
        let high = (pair[0] as char).to_digit(16)?;
        let low = (*pair.get(1)? as char).to_digit(16)?;
        out.push((high * 16 + low) as u8);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_keys_parse_from_hex_and_base64_alike() {
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        let from_hex = MasterKey::parse(&format!(" {}\n", hex(&bytes))).unwrap();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let from_b64 = MasterKey::parse(&b64).unwrap();
        assert_eq!(from_hex.id(), from_b64.id());
        assert_eq!(*from_hex.0, bytes);
        for bad in ["", "abcd", &"zz".repeat(32), &hex(&bytes[..31])] {
            assert!(MasterKey::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = MasterKey::from_bytes([0xab; 32]);
        let shown = format!("{key:?} {:?}", CameoKey::generate());
        assert!(!shown.contains("abab"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn ciphertext_is_bound_to_its_cameo_and_kind() {
        let master = MasterKey::generate();
        let key = CameoKey::generate();
        let sealed = key.seal(7, MediaKind::FaceImage, b"face").unwrap();
        assert_eq!(key.open(7, MediaKind::FaceImage, &sealed).unwrap(), b"face");
        assert_eq!(
            key.open(8, MediaKind::FaceImage, &sealed),
            Err(CryptoError::Open)
        );
        assert_eq!(
            key.open(7, MediaKind::VoiceClip, &sealed),
            Err(CryptoError::Open)
        );
        let wrapped = master.wrap(7, &key).unwrap();
        let unwrapped = master.unwrap(7, &wrapped).unwrap();
        assert_eq!(
            unwrapped.open(7, MediaKind::FaceImage, &sealed).unwrap(),
            b"face"
        );
        assert!(master.unwrap(8, &wrapped).is_err());
        assert!(MasterKey::generate().unwrap(7, &wrapped).is_err());
    }
}
