//! Cameo media at rest, on both backends: nothing in the clear, bound to
//! the master key, and gone after an erasure (on SQLite, checked in the
//! bytes of the database files themselves).

#[macro_use]
mod common;

use common::{ana, Db, FACE_MARKER};
use reel_consent::{CameoRegistry, ChainReport, MasterKey, RegistryError, Status};
use reel_store::Backend;
use sqlx::Row;

on_both_backends!(
    erasure_leaves_nothing_decryptable_and_no_bytes_behind,
    a_wrong_master_key_cannot_decrypt,
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

async fn erasure_leaves_nothing_decryptable_and_no_bytes_behind(db: Db) {
    let info = db.register(&ana(), "ana").await;
    let sealed = blobs(&db, "SELECT ciphertext FROM cameo_media ORDER BY kind").await;
    let wrapped = blobs(&db, "SELECT wrapped_key FROM cameo_keys").await;
    assert_eq!((sealed.len(), wrapped.len()), (3, 1));
    // 32 bytes from the middle of each blob: past the nonce, inside the
    // ciphertext proper.
    let pieces: Vec<Vec<u8>> = sealed
        .iter()
        .chain(&wrapped)
        .map(|blob| blob[blob.len() / 2 - 16..blob.len() / 2 + 16].to_vec())
        .collect();
    if db.backend() == Backend::Sqlite {
        let files = sqlite_files(&db);
        assert!(!contains(&files, FACE_MARKER), "plaintext media on disk");
        for piece in &pieces {
            assert!(
                contains(&files, piece),
                "the search must find stored ciphertext"
            );
        }
    }

    db.registry.erase(&ana(), "ana").await.unwrap();

    for table in ["cameo_media", "cameo_keys", "cameo_grants"] {
        let left = db
            .count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE cameo_id = {}",
                info.id.0
            ))
            .await;
        assert_eq!(left, 0, "{table} keeps rows of an erased cameo");
    }
    assert!(matches!(
        db.registry.reference_media("ana").await,
        Err(RegistryError::UnknownCameo(_))
    ));
    let status: String = sqlx::query_scalar("SELECT status FROM cameos WHERE id = $1")
        .bind(info.id.0)
        .fetch_one(db.store.read_pool())
        .await
        .unwrap();
    assert_eq!(status, Status::Erased.as_str());
    let events = db.registry.events_of(info.id.0).await.unwrap();
    assert_eq!(events.last().map(|e| e.kind.as_str()), Some("erased"));
    assert!(matches!(
        db.registry.verify_chain().await.unwrap(),
        ChainReport::Intact { events: 3, .. }
    ));
    if db.backend() == Backend::Sqlite {
        let files = sqlite_files(&db);
        assert!(!contains(&files, FACE_MARKER), "plaintext media on disk");
        for piece in &pieces {
            assert!(
                !contains(&files, piece),
                "erased ciphertext or key still on disk"
            );
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
