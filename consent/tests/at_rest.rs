//! Cameo media at rest, on both backends: nothing in the clear, bound to
//! the master key, and gone after an erasure (on SQLite, checked in the
//! bytes of the database files themselves).

#[macro_use]
mod common;

use common::{ana, bob, carol, Db, FACE_MARKER};
use reel_consent::{
    CameoInfo, CameoRegistry, ChainReport, MasterKey, NewCameo, RegistryError, Status,
};
use reel_store::Backend;
use sqlx::Row;

on_both_backends!(
    erasure_leaves_nothing_decryptable_and_no_bytes_behind,
    a_wrong_master_key_cannot_decrypt,
    the_master_key_can_be_rotated,
);

/// The bytes of the SQLite database and its write-ahead log.
fn sqlite_files(db: &Db) -> Vec<u8> {
    let dir = db.dir.as_ref().expect("a SQLite test has a folder");
    let mut bytes = Vec::new();
    for name in ["reel.db", "reel.db-wal", "reel.db-shm"] {
        if let Ok(content) = std::fs::read(dir.path().join(name)) {
            bytes.extend(content);
        }
    }
    assert!(bytes.len() > 4096, "no database file found");
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn blobs(db: &Db, sql: &str) -> Vec<Vec<u8>> {
    sqlx::query(sql)
        .fetch_all(db.store.read_pool())
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<Vec<u8>, _>(0).unwrap())
        .collect()
}

/// 32 bytes from the middle of each of a cameo's stored blobs (media and
/// wrapped key): random-looking, so found only where that blob is.
async fn pieces_of(db: &Db, cameo_id: i64) -> Vec<Vec<u8>> {
    let mut stored = blobs(
        db,
        &format!("SELECT ciphertext FROM cameo_media WHERE cameo_id = {cameo_id}"),
    )
    .await;
    stored.extend(
        blobs(
            db,
            &format!("SELECT wrapped_key FROM cameo_keys WHERE cameo_id = {cameo_id}"),
        )
        .await,
    );
    assert_eq!(stored.len(), 4, "three media and a key");
    stored
        .iter()
        .map(|blob| blob[blob.len() / 2 - 16..blob.len() / 2 + 16].to_vec())
        .collect()
}

async fn erasure_leaves_nothing_decryptable_and_no_bytes_behind(db: Db) {
    // Alone in its tables (where, before registration zeroed what it
    // freed, a page split had left a copy behind) ...
    let alone = db.register(&ana(), "ana").await;
    erase_and_check(&db, &alone, &[]).await;
    // ... and between neighbours sharing its pages, which must remain.
    let before = db.register(&bob(), "bob").await;
    let middle = db.register(&ana(), "ana").await;
    let after = db.register(&carol(), "carol").await;
    erase_and_check(&db, &middle, &[&before, &after]).await;
    assert_eq!(
        db.registry.reference_media("bob").await.unwrap(),
        common::media()
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM cameo_keys").await, 2);
    assert!(matches!(
        db.registry.verify_chain().await.unwrap(),
        ChainReport::Intact { events: 10, .. }
    ));
}

async fn erase_and_check(db: &Db, cameo: &CameoInfo, neighbours: &[&CameoInfo]) {
    let id = cameo.id.0;
    let pieces = pieces_of(db, id).await;
    let mut kept = Vec::new();
    for other in neighbours {
        kept.extend(pieces_of(db, other.id.0).await);
    }
    if db.backend() == Backend::Sqlite {
        let files = sqlite_files(db);
        assert!(!contains(&files, FACE_MARKER), "plaintext media on disk");
        for piece in pieces.iter().chain(&kept) {
            assert!(
                contains(&files, piece),
                "the search must find stored ciphertext"
            );
        }
    }

    db.registry.erase(&cameo.owner, &cameo.name).await.unwrap();

    for table in ["cameo_media", "cameo_keys", "cameo_grants"] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE cameo_id = {id}");
        assert_eq!(
            db.count(&sql).await,
            0,
            "{table} keeps rows of an erased cameo"
        );
    }
    assert!(matches!(
        db.registry.reference_media(&cameo.name).await,
        Err(RegistryError::UnknownCameo(_))
    ));
    let status: String = sqlx::query_scalar("SELECT status FROM cameos WHERE id = $1")
        .bind(id)
        .fetch_one(db.store.read_pool())
        .await
        .unwrap();
    assert_eq!(status, Status::Erased.as_str());
    let events = db.registry.events_of(id).await.unwrap();
    assert_eq!(events.last().map(|e| e.kind.as_str()), Some("erased"));
    if db.backend() == Backend::Sqlite {
        let files = sqlite_files(db);
        assert!(!contains(&files, FACE_MARKER), "plaintext media on disk");
        for piece in &pieces {
            assert!(
                !contains(&files, piece),
                "erased ciphertext or key still on disk"
            );
        }
        for piece in &kept {
            assert!(contains(&files, piece), "the neighbours' media must remain");
        }
    }
    // PostgreSQL keeps dead row versions until VACUUM, out of our reach:
    // there the wrapped key's deletion (crypto-shredding) is the guarantee,
    // checked above by the rows being gone.
}

async fn a_wrong_master_key_cannot_decrypt(db: Db) {
    let info = db.register(&ana(), "ana").await;
    let id = info.id.0;
    let other_key = MasterKey::generate();
    let other = CameoRegistry::new(db.store.clone(), other_key.clone());
    match other.reference_media("ana").await {
        Err(RegistryError::WrongMasterKey {
            cameo_id,
            stored,
            given,
        }) => {
            assert_eq!((cameo_id, stored), (id, db.master.id()));
            assert_ne!(given, db.master.id());
        }
        other => panic!("another master key opened the media: {other:?}"),
    }
    // A key record claiming the other master key still does not open.
    let other_id = other_key.id();
    db.raw(&format!(
        "UPDATE cameo_keys SET master_id = '{other_id}' WHERE cameo_id = {id}"
    ))
    .await
    .unwrap();
    assert!(matches!(
        other.reference_media("ana").await,
        Err(RegistryError::Undecryptable { what: "key", .. })
    ));
    db.raw(&format!(
        "UPDATE cameo_keys SET master_id = '{}' WHERE cameo_id = {id}",
        db.master.id()
    ))
    .await
    .unwrap();
    // Media swapped between rows do not open either (bound to their kind).
    let swap = "UPDATE cameo_media SET ciphertext = (SELECT ciphertext FROM cameo_media m \
                WHERE m.cameo_id = cameo_media.cameo_id AND m.kind = 'embedding') \
                WHERE kind = 'voice_clip'";
    db.raw(swap).await.unwrap();
    assert!(matches!(
        db.registry.reference_media("ana").await,
        Err(RegistryError::Undecryptable {
            what: "voice_clip",
            ..
        })
    ));
}

async fn the_master_key_can_be_rotated(db: Db) {
    db.register(&ana(), "ana").await;
    db.register(&bob(), "bob").await;
    let new_key = MasterKey::generate();
    let (rotated, count) = db
        .registry
        .rotate_master_key(new_key.clone())
        .await
        .unwrap();
    assert_eq!(count, 2);
    assert_eq!(
        rotated.reference_media("ana").await.unwrap(),
        common::media()
    );
    assert_eq!(
        rotated.reference_media("bob").await.unwrap(),
        common::media()
    );
    // The old master key opens nothing any more.
    assert!(matches!(
        db.registry.reference_media("ana").await,
        Err(RegistryError::WrongMasterKey { .. })
    ));
    let wrapped_by: Vec<String> = sqlx::query_scalar("SELECT master_id FROM cameo_keys")
        .fetch_all(db.store.read_pool())
        .await
        .unwrap();
    assert_eq!(wrapped_by, [new_key.id(), new_key.id()]);
    // Rotating from a key that wrapped none of them changes nothing.
    assert!(matches!(
        db.registry.rotate_master_key(MasterKey::generate()).await,
        Err(RegistryError::WrongMasterKey { .. })
    ));
    assert_eq!(
        rotated.reference_media("ana").await.unwrap(),
        common::media()
    );
    // Erasure and registration go on under the new key.
    rotated.erase(&bob(), "bob").await.unwrap();
    let text = rotated
        .publish_consent_text("en", "I agree.")
        .await
        .unwrap();
    rotated
        .register(NewCameo {
            owner: carol(),
            name: "carol".into(),
            evidence: common::evidence(text.version),
            media: common::media(),
        })
        .await
        .unwrap();
    assert_eq!(
        rotated.reference_media("carol").await.unwrap(),
        common::media()
    );
    let (_, count) = rotated
        .rotate_master_key(MasterKey::generate())
        .await
        .unwrap();
    assert_eq!(count, 2, "ana and carol; bob's key is gone");
}
