//! The operator's consent tools through the `reel` binary (issue 16, item
//! 6): `reel consent verify` finds a tampered chain and names the link;
//! `export` writes what is held about a person without any media content;
//! `erase` crypto-shreds a person's cameos; a master key that cannot be
//! used stops the process, naming where it came from but not the value.

mod common;

use std::collections::BTreeMap;

use common::{text, Sandbox};
use reel_consent::{CameoRegistry, Evidence, MasterKey, NewCameo, Person, ReferenceMedia};
use reel_store::Backend;

/// In every stored face image: must never appear in an export.
const FACE_MARKER: &[u8] = b"<<CLI FACE MARKER 93ab>>";

fn master_key() -> (MasterKey, String) {
    let key = MasterKey::generate();
    let text = key.to_base64();
    (key, text)
}

async fn register(sandbox: &Sandbox, key: &MasterKey, owner: &Person, name: &str) {
    let store = sandbox.store().await;
    let registry = CameoRegistry::new(store.clone(), key.clone());
    let consent = registry
        .publish_consent_text("en", "I agree that reel may use my face and voice.")
        .await
        .unwrap();
    registry
        .register(NewCameo {
            owner: owner.clone(),
            name: name.into(),
            evidence: Evidence {
                consent_text_version: consent.version,
                message_id: "m-1".into(),
                nonce: "n-1".into(),
                transcript: "amber kettle violet".into(),
                phrase_score: 1.0,
                face_score: 0.9,
                voice_score: 0.9,
                models: BTreeMap::new(),
            },
            media: ReferenceMedia {
                face_image: [FACE_MARKER, b"face"].concat(),
                voice_clip: [FACE_MARKER, b"voice"].concat(),
                embedding: vec![7; 64],
            },
        })
        .await
        .unwrap();
    store.close().await;
}

async fn tamper(sandbox: &Sandbox) {
    let store = sandbox.store().await;
    let drops: &[&str] = match store.backend() {
        Backend::Sqlite => &["DROP TRIGGER consent_events_no_update"],
        Backend::Postgres => &["DROP TRIGGER consent_events_append_only ON consent_events"],
    };
    for sql in drops {
        sqlx::query(sql).execute(store.write_pool()).await.unwrap();
    }
    sqlx::query("UPDATE consent_events SET actor = 'telegram:999' WHERE seq = 2")
        .execute(store.write_pool())
        .await
        .unwrap();
    store.close().await;
}

async fn verify_export_erase(sandbox: Sandbox) {
    let (key, key_text) = master_key();
    let env = [("REEL_MASTER_KEY", key_text.as_str())];
    let ana = Person::new("telegram", "100");
    register(&sandbox, &key, &ana, "ana").await;
    register(&sandbox, &key, &Person::new("discord", "7"), "bo").await;

    let verified = sandbox.run(&["consent", "verify"], &env);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    assert!(
        text(&verified.stdout).contains("intact"),
        "{}",
        text(&verified.stdout)
    );

    // An auditor without the master key can still export.
    let export_path = sandbox.path().join("ana.json");
    let exported = sandbox.run(
        &[
            "consent",
            "export",
            "telegram:100",
            "-o",
            export_path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let bytes = std::fs::read(&export_path).unwrap();
    assert!(
        !bytes.windows(FACE_MARKER.len()).any(|w| w == FACE_MARKER),
        "an export must not carry media content"
    );
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["cameos"][0]["cameo"]["name"], "ana");
    assert_eq!(json["cameos"].as_array().unwrap().len(), 1, "only ana's");

    let erased = sandbox.run(
        &["consent", "erase", "telegram:100", "--operator", "dpo"],
        &env,
    );
    assert!(erased.status.success(), "{}", text(&erased.stderr));
    assert!(text(&erased.stdout).contains("erased 1"));
    let after = sandbox.run(&["consent", "export", "telegram:100"], &env);
    let json: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(json["cameos"][0]["cameo"]["status"], "erased");
    assert_eq!(json["cameos"][0]["media"].as_array().unwrap().len(), 0);
    assert!(json["cameos"][0]["key_wrapped_by"].is_null());
    let store = sandbox.store().await;
    let ciphertexts: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM cameo_media m JOIN cameos c ON c.id = m.cameo_id WHERE c.name = 'ana'",
    )
    .fetch_one(store.read_pool())
    .await
    .unwrap();
    assert_eq!(ciphertexts, 0, "erasure leaves no ciphertext");
    store.close().await;

    // The log still verifies after the erasure; then one changed event is
    // found and named.
    let verified = sandbox.run(&["consent", "verify"], &env);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    tamper(&sandbox).await;
    let verified = sandbox.run(&["consent", "verify"], &env);
    assert!(!verified.status.success());
    let said = text(&verified.stderr);
    assert!(said.contains("broken at event #2"), "{said}");
}

#[tokio::test]
async fn verify_export_and_erase_on_sqlite() {
    verify_export_erase(Sandbox::sqlite()).await;
}

#[tokio::test]
async fn verify_export_and_erase_on_postgres() {
    verify_export_erase(Sandbox::postgres().await).await;
}

#[test]
fn a_new_master_key_is_accepted_and_a_bad_one_stops_the_process_unprinted() {
    let sandbox = Sandbox::sqlite();
    let made = sandbox.run(&["consent", "new-master-key"], &[]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let key = text(&made.stdout).trim().to_string();
    assert!(MasterKey::parse(&key).is_ok(), "{key}");
    let ok = sandbox.run(&["consent", "verify"], &[("REEL_MASTER_KEY", &key)]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));

    let bad = "not-a-key-but-a-secret-1234";
    let refused = sandbox.run(&["jobs", "list"], &[("REEL_MASTER_KEY", bad)]);
    assert!(!refused.status.success());
    let said = text(&refused.stderr);
    assert!(said.contains("REEL_MASTER_KEY"), "{said}");
    assert!(
        !said.contains(bad),
        "the key's value must not be printed: {said}"
    );
}

#[test]
fn a_person_must_be_platform_and_user() {
    let sandbox = Sandbox::sqlite();
    let out = sandbox.run(&["consent", "export", "ana"], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("PLATFORM:USER_ID"),
        "{}",
        text(&out.stderr)
    );
}
