//! Content credentials on real MP4s: signed clips validate and say what
//! made them, a flipped byte of video breaks them, a re-encode is signed
//! again with its original as ingredient, and bad keys stop at load.

use std::path::PathBuf;

use reel_media::{
    encode_mp4, reencode_mp4, Audio, EncodeOptions, ReencodeOptions, Rendered, RgbImage,
};
use reel_provenance::{
    generate_keys, verify_file, write_key_files, ClipFacts, ClipSigner, KeyFiles, KeyMaterial,
    ProvenanceError, Validity, TRAINED_ALGORITHMIC_MEDIA,
};

/// A small moving gradient, silent, one second at 12 fps.
fn clip() -> Rendered {
    let (width, height) = (96, 64);
    let frames = (0..12u32)
        .map(|t| {
            let mut image = RgbImage::new(width, height);
            for y in 0..height {
                for x in 0..width {
                    image.set_pixel(x, y, [(x * 2 + t * 9) as u8, (y * 3) as u8, (t * 20) as u8]);
                }
            }
            image
        })
        .collect();
    Rendered {
        width,
        height,
        fps: 12,
        frames,
        audio: Audio {
            sample_rate: 48_000,
            channels: 1,
            samples: Vec::new(),
        },
        notes: Vec::new(),
    }
}

fn facts() -> ClipFacts {
    ClipFacts {
        title: "reel-7.mp4".into(),
        model: "ltx-video".into(),
        checkpoint: "Lightricks/LTX-Video ltxv-2b-0.9.8-distilled".into(),
        cameo_ids: vec!["cameo-3".into(), "cameo-9".into()],
    }
}

struct Signed {
    _dir: tempfile::TempDir,
    keys: KeyMaterial,
    signer: ClipSigner,
    unsigned: PathBuf,
    signed: PathBuf,
}

fn signed_clip() -> Signed {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = generate_keys("Test Org").expect("keygen");
    let signer = ClipSigner::from_pem(
        keys.signing_cert_pem.as_bytes(),
        keys.signing_key_pem.as_bytes(),
    )
    .expect("the generated key signs");
    let unsigned = dir.path().join("encoded.mp4");
    encode_mp4(&clip(), &unsigned, &EncodeOptions::default()).expect("encode");
    let signed = dir.path().join("reel-7.mp4");
    signer
        .sign_created(&unsigned, &signed, &facts())
        .expect("sign");
    Signed {
        _dir: dir,
        keys,
        signer,
        unsigned,
        signed,
    }
}

#[test]
fn a_signed_clip_validates_and_names_the_action_source_type_model_and_cameos() {
    let clip = signed_clip();
    let trusted = verify_file(&clip.signed, Some(&clip.keys.ca_cert_pem)).expect("verify");
    assert_eq!(
        trusted.validity,
        Validity::Trusted,
        "{:?}",
        trusted.failures
    );
    assert!(trusted.failures.is_empty(), "{:?}", trusted.failures);
    assert_eq!(
        trusted.actions,
        vec![(
            "c2pa.created".to_string(),
            Some(TRAINED_ALGORITHMIC_MEDIA.to_string())
        )]
    );
    assert_eq!(trusted.model.as_deref(), Some("ltx-video"));
    assert_eq!(
        trusted.checkpoint.as_deref(),
        Some("Lightricks/LTX-Video ltxv-2b-0.9.8-distilled")
    );
    assert_eq!(trusted.cameo_ids, vec!["cameo-3", "cameo-9"]);
    let generator = trusted.claim_generator.clone().unwrap_or_default();
    assert_eq!(generator, format!("reel {}", env!("CARGO_PKG_VERSION")));
    assert!(trusted.manifest_json.contains("trainedAlgorithmicMedia"));

    // Without the CA as a trust anchor the signature still holds.
    let untrusted = verify_file(&clip.signed, None).expect("verify");
    assert_eq!(
        untrusted.validity,
        Validity::Valid,
        "{:?}",
        untrusted.failures
    );
    // Another CA is no anchor for it.
    let other = generate_keys("Someone Else").expect("keygen");
    let foreign = verify_file(&clip.signed, Some(&other.ca_cert_pem)).expect("verify");
    assert_eq!(foreign.validity, Validity::Valid);
}

#[test]
fn an_encoded_but_unsigned_clip_has_no_credentials() {
    let clip = signed_clip();
    let plain = verify_file(&clip.unsigned, None).expect("verify");
    assert_eq!(plain.validity, Validity::Unsigned);
}

/// The byte range of the first top-level `mdat` box's payload.
fn mdat_payload(data: &[u8]) -> std::ops::Range<usize> {
    let mut at = 0;
    while at + 8 <= data.len() {
        let size32 = u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        let kind = &data[at + 4..at + 8];
        let (header, size) = match size32 {
            1 => (
                16,
                u64::from_be_bytes(data[at + 8..at + 16].try_into().expect("8 bytes")) as usize,
            ),
            0 => (8, data.len() - at),
            n => (8, n),
        };
        if kind == b"mdat" {
            return at + header..at + size;
        }
        at += size;
    }
    panic!("no mdat box");
}

#[test]
fn flipping_one_byte_of_video_data_makes_the_clip_invalid() {
    let clip = signed_clip();
    let mut data = std::fs::read(&clip.signed).expect("read");
    let payload = mdat_payload(&data);
    assert!(payload.len() > 1000, "{payload:?}");
    let middle = payload.start + payload.len() / 2;
    data[middle] ^= 0x01;
    let tampered = clip.signed.with_file_name("tampered.mp4");
    std::fs::write(&tampered, &data).expect("write");
    let checked = verify_file(&tampered, Some(&clip.keys.ca_cert_pem)).expect("verify");
    assert_eq!(checked.validity, Validity::Invalid);
    assert!(
        checked.failures.iter().any(|f| f.contains("mismatch")),
        "{:?}",
        checked.failures
    );
}

#[test]
fn a_reencoded_clip_validates_and_lists_its_original_as_ingredient() {
    let clip = signed_clip();
    let smaller = clip.signed.with_file_name("smaller-unsigned.mp4");
    let options = ReencodeOptions {
        max_side: Some(48),
        ..ReencodeOptions::default()
    };
    reencode_mp4(&clip.signed, &smaller, &options).expect("re-encode");
    // FFmpeg does not carry the manifest over: the re-encode starts bare.
    assert_eq!(
        verify_file(&smaller, None).expect("verify").validity,
        Validity::Unsigned
    );
    let signed = clip.signed.with_file_name("reel-7-fit.mp4");
    clip.signer
        .sign_reencoded(
            &clip.signed,
            &smaller,
            &signed,
            "re-encoded to fit an upload limit",
        )
        .expect("sign the re-encode");
    let checked = verify_file(&signed, Some(&clip.keys.ca_cert_pem)).expect("verify");
    assert_eq!(
        checked.validity,
        Validity::Trusted,
        "{:?}",
        checked.failures
    );
    assert_eq!(checked.ingredients, vec!["reel-7.mp4"]);
    let actions: Vec<&str> = checked.actions.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, vec!["c2pa.opened", "c2pa.transcoded"]);
    // The original's own claim (created by a trained model) travels with it.
    assert!(checked.manifest_json.contains("trainedAlgorithmicMedia"));
    assert!(checked.manifest_json.contains("ltx-video"));
}

#[test]
fn keys_that_do_not_belong_together_are_refused_at_load() {
    let a = generate_keys("A").expect("keygen");
    let b = generate_keys("B").expect("keygen");
    let error = ClipSigner::from_pem(a.signing_cert_pem.as_bytes(), b.signing_key_pem.as_bytes())
        .expect_err("mismatched key");
    assert!(matches!(error, ProvenanceError::SelfTest(_)), "{error}");
}

#[test]
fn a_ca_certificate_cannot_sign_clips_itself() {
    // The CA's certificate is self-signed, which C2PA refuses for signing.
    let a = generate_keys("A").expect("keygen");
    let error = ClipSigner::from_pem(a.ca_cert_pem.as_bytes(), a.signing_key_pem.as_bytes())
        .expect_err("self-signed CA as signer");
    assert!(matches!(error, ProvenanceError::SelfTest(_)), "{error}");
}

#[test]
fn malformed_or_missing_key_and_certificate_files_say_what_is_wrong() {
    let keys = generate_keys("A").expect("keygen");
    let error = ClipSigner::from_pem(b"not a certificate", keys.signing_key_pem.as_bytes())
        .expect_err("bad certificate");
    assert!(error.to_string().contains("certificate"), "{error}");
    let error = ClipSigner::from_pem(
        keys.signing_cert_pem.as_bytes(),
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .expect_err("bad key");
    assert!(matches!(error, ProvenanceError::Key(_)), "{error}");
    let error = ClipSigner::from_pem(keys.signing_cert_pem.as_bytes(), b"").expect_err("empty key");
    assert!(matches!(error, ProvenanceError::Key(_)), "{error}");

    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope.pem");
    let error = ClipSigner::from_files(&missing, &missing).expect_err("missing files");
    assert!(error.to_string().contains("nope.pem"), "{error}");
}

#[test]
fn keygen_writes_three_files_that_sign_and_never_overwrites_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = KeyFiles {
        ca_cert: dir.path().join("keys/ca.pem"),
        signing_cert: dir.path().join("keys/signing-cert.pem"),
        signing_key: dir.path().join("keys/signing-key.pem"),
    };
    let keys = generate_keys("Self Host").expect("keygen");
    write_key_files(&keys, &files).expect("write");
    ClipSigner::from_files(&files.signing_cert, &files.signing_key).expect("the files sign");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.signing_key)
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is private: {mode:o}");
    }
    let before = std::fs::read(&files.signing_key).expect("key");
    let again = generate_keys("Self Host").expect("keygen");
    let error = write_key_files(&again, &files).expect_err("existing files");
    assert!(matches!(error, ProvenanceError::Exists { .. }), "{error}");
    assert_eq!(std::fs::read(&files.signing_key).expect("key"), before);
}
