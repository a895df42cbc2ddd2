//! A cameo's voice for the speech model (issue 17), on both backends: the
//! phrase the owner read comes from the registration's `verified` event;
//! the cached voice prompt is sealed at rest (its plaintext is nowhere in
//! the database's bytes), readable only while the cameo is active, dropped
//! at withdrawal and gone after an erasure.

#[macro_use]
mod common;

use common::{ana, bob, Db};
use reel_consent::{RegistryError, Status};
use reel_store::Backend;
use sqlx::Row;

on_both_backends!(
    the_phrase_is_the_one_verified_at_registration,
    the_cached_prompt_is_sealed_and_erased_with_the_cameo,
    withdrawal_drops_the_cached_prompt,
);

/// A stand-in prompt: recognisable bytes throughout, so any plaintext copy
/// is found.
fn prompt() -> Vec<u8> {
    let mut bytes = Vec::new();
    for i in 0..600u32 {
        bytes.extend_from_slice(b"PLAIN-VOICE-PCM:");
        bytes.extend_from_slice(&i.to_le_bytes());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn sqlite_files(db: &Db) -> Vec<u8> {
    let dir = db.dir.as_ref().expect("a SQLite test has a folder");
    ["reel.db", "reel.db-wal"]
        .iter()
        .filter_map(|name| std::fs::read(dir.path().join(name)).ok())
        .flatten()
        .collect()
}

async fn stored(db: &Db, cameo_id: i64) -> Vec<Vec<u8>> {
    sqlx::query("SELECT ciphertext FROM cameo_voice_prompts WHERE cameo_id = $1")
        .bind(cameo_id)
        .fetch_all(db.store.read_pool())
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<Vec<u8>, _>(0).unwrap())
        .collect()
}

async fn the_phrase_is_the_one_verified_at_registration(db: Db) {
    db.register(&ana(), "ana").await;
    assert_eq!(
        db.registry.verified_phrase("ana").await.unwrap(),
        common::evidence(1).transcript
    );
    assert!(matches!(
        db.registry.verified_phrase("nobody").await,
        Err(RegistryError::UnknownCameo(_))
    ));
}

async fn the_cached_prompt_is_sealed_and_erased_with_the_cameo(db: Db) {
    let info = db.register(&ana(), "ana").await;
    db.register(&bob(), "bob").await;
    assert_eq!(db.registry.cached_voice_prompt("ana").await.unwrap(), None);
    db.registry
        .keep_voice_prompt("ana", &prompt())
        .await
        .unwrap();
    db.registry
        .keep_voice_prompt("bob", b"bob's prompt")
        .await
        .unwrap();
    assert_eq!(
        db.registry.cached_voice_prompt("ana").await.unwrap(),
        Some(prompt())
    );
    // Kept again (a newer prompt): replaced, one row.
    db.registry
        .keep_voice_prompt("ana", &prompt())
        .await
        .unwrap();
    let sealed = stored(&db, info.id.0).await;
    assert_eq!(sealed.len(), 1);
    assert!(
        !contains(&sealed[0], b"PLAIN-VOICE-PCM:"),
        "stored in the clear"
    );
    let piece = sealed[0][sealed[0].len() / 2..sealed[0].len() / 2 + 32].to_vec();
    if db.backend() == Backend::Sqlite {
        let files = sqlite_files(&db);
        assert!(!contains(&files, b"PLAIN-VOICE-PCM:"), "plaintext on disk");
        assert!(
            contains(&files, &piece),
            "the search must find the ciphertext"
        );
    }

    db.registry.erase(&info.owner, "ana").await.unwrap();
    let sql = format!(
        "SELECT COUNT(*) FROM cameo_voice_prompts WHERE cameo_id = {}",
        info.id.0
    );
    assert_eq!(db.count(&sql).await, 0, "the erased cameo's prompt remains");
    if db.backend() == Backend::Sqlite {
        assert!(
            !contains(&sqlite_files(&db), &piece),
            "the erased prompt's ciphertext is still on disk"
        );
    }
    assert!(db.registry.cached_voice_prompt("ana").await.is_err());
    // Nothing can be cached for an erased cameo afterwards.
    assert!(db
        .registry
        .keep_voice_prompt("ana", &prompt())
        .await
        .is_err());
    assert_eq!(
        db.count("SELECT COUNT(*) FROM cameo_voice_prompts").await,
        1
    );
}

async fn withdrawal_drops_the_cached_prompt(db: Db) {
    let info = db.register(&ana(), "ana").await;
    let neighbour = db.register(&bob(), "bob").await;
    db.registry
        .keep_voice_prompt("ana", &prompt())
        .await
        .unwrap();
    db.registry
        .keep_voice_prompt("bob", b"bob's")
        .await
        .unwrap();
    // Sealed for its cameo and its kind: copied into another cameo's row
    // it does not open there.
    let sealed = stored(&db, info.id.0).await;
    sqlx::query("UPDATE cameo_voice_prompts SET ciphertext = $1 WHERE cameo_id = $2")
        .bind(&sealed[0])
        .bind(neighbour.id.0)
        .execute(db.store.write_pool())
        .await
        .unwrap();
    assert!(matches!(
        db.registry.cached_voice_prompt("bob").await,
        Err(RegistryError::Undecryptable { .. })
    ));
    db.registry.withdraw(&info.owner, "ana").await.unwrap();
    let sql = format!(
        "SELECT COUNT(*) FROM cameo_voice_prompts WHERE cameo_id = {}",
        info.id.0
    );
    assert_eq!(db.count(&sql).await, 0);
    assert!(matches!(
        db.registry.cached_voice_prompt("ana").await,
        Err(RegistryError::NotActive {
            status: Status::Withdrawn,
            ..
        })
    ));
}
