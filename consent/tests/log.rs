//! The consent log on both backends: the database refuses to change it,
//! tampering is found and named, an outage is not taken as a refusal, and
//! an export holds what the registry knows of a person.

#[macro_use]
mod common;

use common::{ana, bob, Db, FACE_MARKER};
use reel_consent::{
    decide, Audience, CameoRegistry, ChainReport, Checkpoint, ConsentError, ConsentGate,
    ConsentRequest, Verdict,
};
use reel_store::{Backend, Store, StoreOptions};

on_both_backends!(
    the_database_refuses_to_change_the_log,
    tampering_is_found_and_named,
    an_unreachable_registry_is_retried_not_refused,
    an_export_holds_everything_about_a_person_and_no_media,
    concurrent_changes_from_two_processes_keep_one_chain,
);

async fn busy_log(db: &Db) {
    db.register(&ana(), "ana").await; // events 1, 2
    let r = &db.registry;
    r.set_audience(&ana(), "ana", Audience::Approved)
        .await
        .unwrap(); // 3
    r.allow(&ana(), "ana", &bob()).await.unwrap(); // 4
    r.set_restrictions(&ana(), "ana", &["politics".into()])
        .await
        .unwrap(); // 5
}

fn refused_by_database(result: Result<u64, sqlx::Error>, what: &str) {
    match result {
        Err(error) => {
            let message = error.to_string();
            assert!(
                message.contains("append-only") || message.contains("immutable"),
                "{what}: {message}"
            );
        }
        Ok(rows) => panic!("{what} went through ({rows} rows)"),
    }
}

async fn the_database_refuses_to_change_the_log(db: Db) {
    busy_log(&db).await;
    let before = db.registry.verify_chain().await.unwrap();
    refused_by_database(
        db.raw("UPDATE consent_events SET payload = '{}' WHERE seq = 3")
            .await,
        "update",
    );
    refused_by_database(
        db.raw("UPDATE consent_events SET actor = 'x'").await,
        "update all",
    );
    refused_by_database(
        db.raw("DELETE FROM consent_events WHERE seq = 5").await,
        "delete",
    );
    refused_by_database(db.raw("DELETE FROM consent_events").await, "delete all");
    refused_by_database(
        db.raw("UPDATE consent_texts SET body = 'I agree to anything.'")
            .await,
        "text update",
    );
    refused_by_database(db.raw("DELETE FROM consent_texts").await, "text delete");
    if db.backend() == Backend::Postgres {
        refused_by_database(db.raw("TRUNCATE consent_events").await, "truncate");
        // The owning role's rights to change rows are revoked too (this
        // test runs as a superuser, whom rights do not bind: the trigger
        // is what stopped it above).
        let acl: String = sqlx::query_scalar(
            "SELECT CAST(array_to_string(relacl, ',') AS TEXT) FROM pg_class \
             WHERE oid = CAST('consent_events' AS regclass)",
        )
        .fetch_one(db.store.read_pool())
        .await
        .unwrap();
        let me: String = sqlx::query_scalar("SELECT CAST(current_user AS TEXT)")
            .fetch_one(db.store.read_pool())
            .await
            .unwrap();
        let owner = acl
            .split(',')
            .find_map(|entry| entry.strip_prefix(&format!("{me}=")))
            .unwrap_or_else(|| panic!("no entry for {me} in {acl}"));
        let rights = owner.split('/').next().unwrap();
        assert!(rights.contains('a') && rights.contains('r'), "{acl}");
        assert!(
            !rights.contains('w') && !rights.contains('d') && !rights.contains('D'),
            "{acl}"
        );
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM consent_events").await, 5);
    assert_eq!(db.registry.verify_chain().await.unwrap(), before);
    assert!(matches!(before, ChainReport::Intact { events: 5, .. }));
}

async fn tampering_is_found_and_named(db: Db) {
    busy_log(&db).await;
    // As the superuser an attacker with the database would be.
    let drop_triggers: &[&str] = match db.backend() {
        Backend::Sqlite => &[
            "DROP TRIGGER consent_events_no_update",
            "DROP TRIGGER consent_events_no_delete",
        ],
        Backend::Postgres => &["DROP TRIGGER consent_events_append_only ON consent_events"],
    };
    for sql in drop_triggers {
        db.raw(sql).await.unwrap();
    }
    let original: String = sqlx::query_scalar("SELECT payload FROM consent_events WHERE seq = 3")
        .fetch_one(db.store.read_pool())
        .await
        .unwrap();
    db.raw(
        r#"UPDATE consent_events SET payload = '{"from":"only_me","to":"everyone"}' WHERE seq = 3"#,
    )
    .await
    .unwrap();
    match db.registry.verify_chain().await.unwrap() {
        ChainReport::Broken { seq: 3, reason } => assert!(reason.contains("altered"), "{reason}"),
        other => panic!("an edited payload went unnoticed: {other:?}"),
    }
    // Rehashing the edited row does not help: the next link breaks.
    let row = db.registry.events_of(1).await.unwrap().remove(2);
    let rehashed = row.expected_hash();
    db.raw(&format!(
        "UPDATE consent_events SET hash = '{rehashed}' WHERE seq = 3"
    ))
    .await
    .unwrap();
    match db.registry.verify_chain().await.unwrap() {
        ChainReport::Broken { seq: 4, reason } => assert!(reason.contains("prev_hash"), "{reason}"),
        other => panic!("a rehashed row went unnoticed: {other:?}"),
    }
    // Put back as it was: whole again. Then a deleted row is named.
    let original = original.replace('\'', "''");
    db.raw(&format!(
        "UPDATE consent_events SET payload = '{original}', hash = '{}' WHERE seq = 3",
        row.hash
    ))
    .await
    .unwrap();
    assert!(matches!(
        db.registry.verify_chain().await.unwrap(),
        ChainReport::Intact { events: 5, .. }
    ));
    db.raw("DELETE FROM consent_events WHERE seq = 2")
        .await
        .unwrap();
    match db.registry.verify_chain().await.unwrap() {
        ChainReport::Broken { seq: 2, reason } => assert!(reason.contains("missing"), "{reason}"),
        other => panic!("a deleted row went unnoticed: {other:?}"),
    }
}

async fn an_unreachable_registry_is_retried_not_refused(db: Db) {
    db.register(&ana(), "ana").await;
    db.store.close().await;
    let cameos = ["ana".to_string()];
    let request = ConsentRequest {
        platform: "telegram",
        user_id: "100",
        cameo_ids: &cameos,
        prompt: "ana waves",
        checkpoint: Checkpoint::RenderStart,
    };
    assert!(matches!(
        db.registry.check(&request).await,
        Err(ConsentError::Unavailable(_))
    ));
    assert!(matches!(
        decide(&db.registry, &request).await,
        Verdict::RetryLater(_)
    ));
}

async fn an_export_holds_everything_about_a_person_and_no_media(db: Db) {
    busy_log(&db).await;
    let r = &db.registry;
    r.record_clip(11, &bob(), &["ana".into()]).await.unwrap();
    let export = r.export(&ana()).await.unwrap();
    assert_eq!(export.cameos.len(), 1);
    let cameo = &export.cameos[0];
    assert_eq!(cameo.cameo.name, "ana");
    assert_eq!(cameo.cameo.approved_users, [bob()]);
    assert_eq!(cameo.media.len(), 3);
    assert!(cameo.media.iter().all(|m| m.encrypted_bytes > 24));
    assert_eq!(
        cameo.key_wrapped_by.as_deref(),
        Some(db.master.id().as_str())
    );
    assert_eq!(cameo.events.len(), 5);
    assert_eq!(cameo.clips.len(), 1);
    assert!(cameo
        .consent_text
        .as_ref()
        .is_some_and(|t| t.body.contains("I agree")));
    let json = serde_json::to_string(&export).unwrap();
    for expected in [
        "\"granted\"",
        "purple tiger 47 sings",
        "\"face_image\"",
        "\"politics\"",
    ] {
        assert!(json.contains(expected), "{expected} missing from {json}");
    }
    let marker = String::from_utf8_lossy(FACE_MARKER);
    assert!(
        !json.contains(marker.as_ref()),
        "media content in an export"
    );

    let bobs = r.export(&bob()).await.unwrap();
    assert!(bobs.cameos.is_empty());
    assert_eq!(bobs.approved_for, ["ana"]);
    assert_eq!(bobs.clips_requested.len(), 1);
    assert_eq!(bobs.clips_requested[0].job_id, 11);

    // After an operator's erasure the record remains, without media.
    assert_eq!(r.erase_person(&ana(), "dpo").await.unwrap(), 1);
    let after = r.export(&ana()).await.unwrap();
    let cameo = &after.cameos[0];
    assert!(cameo.media.is_empty() && cameo.key_wrapped_by.is_none());
    let tombstone = cameo.events.last().unwrap();
    assert_eq!(
        (tombstone.kind.as_str(), tombstone.actor.as_str()),
        ("erased", "operator:dpo")
    );
    assert!(r.export(&bob()).await.unwrap().approved_for.is_empty());
}

async fn concurrent_changes_from_two_processes_keep_one_chain(db: Db) {
    // A second process on the same database: pools of its own.
    let other_store = Store::open(&db.url, StoreOptions::default()).await.unwrap();
    let other = CameoRegistry::new(other_store, db.master.clone());
    db.register(&ana(), "ana").await;
    db.register(&bob(), "bob").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let registry = if i % 2 == 0 {
            db.registry.clone()
        } else {
            other.clone()
        };
        let (owner, name) = if i % 3 == 0 {
            (ana(), "ana")
        } else {
            (bob(), "bob")
        };
        tasks.spawn(async move {
            registry
                .set_restrictions(&owner, name, &[format!("word{i}")])
                .await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    match db.registry.verify_chain().await.unwrap() {
        ChainReport::Intact { events, .. } => assert_eq!(events, 4 + 12),
        broken => panic!("concurrent appends broke the chain: {broken:?}"),
    }
}
