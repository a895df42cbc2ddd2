//! The registry's flows on both backends: lifecycle, who may use a cameo,
//! restrictions, owner-only changes, clip records.

#[macro_use]
mod common;

use common::{ana, bob, carol, evidence, media, refusal, Db};
use reel_consent::{
    decide, ApprovalMode, Audience, ChainReport, Checkpoint, ConsentDecision, ConsentRequest,
    MediaKind, NewCameo, RegistryError, Status, Verdict,
};

on_both_backends!(
    lifecycle,
    names_and_texts_are_checked_and_failures_store_nothing,
    others_need_the_audience_to_include_them,
    restrictions_and_the_built_in_list_refuse_with_a_reason,
    only_the_owner_may_change_a_cameo,
    clips_are_recorded_and_listed_for_the_owner,
    a_withdrawal_stops_a_job_between_its_checks,
);

async fn kinds(db: &Db, cameo_id: i64) -> Vec<String> {
    let events = db.registry.events_of(cameo_id).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

async fn lifecycle(db: Db) {
    let info = db.register(&ana(), "Ana").await;
    assert_eq!(info.name, "ana");
    assert_eq!(info.status, Status::Active);
    assert_eq!(info.audience, Audience::OnlyMe);
    assert_eq!(info.approval, ApprovalMode::Auto);
    assert_eq!(kinds(&db, info.id.0).await, ["granted", "verified"]);
    assert_eq!(db.registry.reference_media("ana").await.unwrap(), media());
    assert_eq!(
        db.ask(&ana(), &["ana"], "ana waves").await,
        ConsentDecision::Allowed
    );

    let r = &db.registry;
    r.set_audience(&ana(), "ana", Audience::Approved)
        .await
        .unwrap();
    r.allow(&ana(), "ana", &bob()).await.unwrap();
    r.allow(&ana(), "ana", &bob()).await.unwrap(); // a repeat records nothing
    r.set_restrictions(&ana(), "ana", &["Politics".into()])
        .await
        .unwrap();
    r.set_approval(&ana(), "ana", ApprovalMode::Ask)
        .await
        .unwrap();
    for job in [31, 32] {
        r.record_clip(job, &bob(), &["ana".into()]).await.unwrap();
        assert!(r.mark_asked(job, "ana").await.unwrap());
    }
    r.record_approval(&ana(), "ana", 31, true).await.unwrap();
    r.record_approval(&ana(), "ana", 32, false).await.unwrap();
    assert!(matches!(
        r.record_approval(&bob(), "ana", 33, true).await,
        Err(RegistryError::NotOwner(_))
    ));
    let now = r.cameo(&ana(), "ana").await.unwrap();
    assert_eq!(now.audience, Audience::Approved);
    assert_eq!(now.approved_users, [bob()]);
    assert_eq!(now.restrictions, ["politics"]);
    assert_eq!(now.approval, ApprovalMode::Ask);
    assert_eq!(r.cameos_of(&ana()).await.unwrap(), [now]);

    r.withdraw(&ana(), "ana").await.unwrap();
    r.withdraw(&ana(), "ana").await.unwrap(); // nothing more to withdraw
    assert_eq!(
        r.cameo(&ana(), "ana").await.unwrap().status,
        Status::Withdrawn
    );
    let owner_told = refusal(db.ask(&ana(), &["ana"], "ana waves").await);
    assert!(owner_told.contains("withdrew"), "{owner_told}");
    let bob_told = refusal(db.ask(&bob(), &["ana"], "ana waves").await);
    assert!(bob_told.contains("unavailable"), "{bob_told}");
    assert!(matches!(
        r.reference_media("ana").await,
        Err(RegistryError::NotActive {
            status: Status::Withdrawn,
            ..
        })
    ));
    assert!(matches!(
        r.set_audience(&ana(), "ana", Audience::Everyone).await,
        Err(RegistryError::NotActive { .. })
    ));

    r.erase(&ana(), "ana").await.unwrap();
    assert_eq!(
        kinds(&db, info.id.0).await,
        [
            "granted",
            "verified",
            "audience_changed",
            "grant_added",
            "restrictions_changed",
            "approval_mode_changed",
            "approval_given",
            "approval_refused",
            "withdrawn",
            "erased"
        ]
    );
    assert!(r.cameos_of(&ana()).await.unwrap().is_empty());
    assert!(matches!(
        r.cameo(&ana(), "ana").await,
        Err(RegistryError::UnknownCameo(_))
    ));
    // The name is free again; the new cameo is a new record.
    let again = db.register(&carol(), "ana").await;
    assert_ne!(again.id, info.id);
    assert_eq!(
        r.verify_chain().await.unwrap(),
        ChainReport::Intact {
            events: 12,
            head: r
                .events_of(again.id.0)
                .await
                .unwrap()
                .last()
                .map(|e| e.hash.clone()),
        }
    );
}

async fn names_and_texts_are_checked_and_failures_store_nothing(db: Db) {
    let text = db
        .registry
        .publish_consent_text("en", "I agree.")
        .await
        .unwrap();
    let same = db
        .registry
        .publish_consent_text("en", "I agree.")
        .await
        .unwrap();
    assert_eq!(text, same, "a text is stored once");
    assert_eq!(
        text.sha256,
        "826ff0dab649a97ffdd7779a332accafb35cc161012253a19383db19289d6e02"
    );
    let other = db
        .registry
        .publish_consent_text("de", "I agree.")
        .await
        .unwrap();
    assert_ne!(
        other.version, text.version,
        "a text is versioned per language"
    );
    let attempt = |name: &str, version: i64| NewCameo {
        owner: ana(),
        name: name.into(),
        evidence: evidence(version),
        media: media(),
    };
    for bad in [
        "a",
        "1ana",
        "ana-b",
        "ana b",
        "abcdefghijklmnopqrstu",
        "",
        "änä",
    ] {
        assert!(
            matches!(
                db.registry.register(attempt(bad, text.version)).await,
                Err(RegistryError::InvalidName(_))
            ),
            "{bad:?} was accepted"
        );
    }
    assert!(matches!(
        db.registry.register(attempt("ana", 999)).await,
        Err(RegistryError::UnknownConsentText(999))
    ));
    let mut faceless = attempt("ana", text.version);
    faceless.media.face_image.clear();
    assert!(matches!(
        db.registry.register(faceless).await,
        Err(RegistryError::MissingMedia(MediaKind::FaceImage))
    ));
    db.registry
        .register(attempt("ana", text.version))
        .await
        .unwrap();
    let mut taken = attempt("ana", text.version);
    taken.owner = bob();
    assert!(
        matches!(db.registry.register(taken).await, Err(RegistryError::NameTaken(n)) if n == "ana")
    );
    // Only the one registration left rows behind.
    assert_eq!(db.count("SELECT COUNT(*) FROM cameos").await, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM cameo_keys").await, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM cameo_media").await, 3);
    assert_eq!(db.count("SELECT COUNT(*) FROM consent_events").await, 2);
}

async fn others_need_the_audience_to_include_them(db: Db) {
    db.register(&ana(), "ana").await;
    let r = &db.registry;
    let prompt = "ana dances in the rain";
    // What someone without permission is told does not depend on whether
    // the cameo exists.
    let nobody = refusal(db.ask(&bob(), &["zed"], prompt).await);
    let unavailable = |told: String| {
        assert_eq!(
            told,
            nobody.replace("zed", "ana"),
            "a refusal leaks more than 'unavailable'"
        );
    };

    // only me
    assert_eq!(
        db.ask(&ana(), &["ana"], prompt).await,
        ConsentDecision::Allowed
    );
    unavailable(refusal(db.ask(&bob(), &["ana"], prompt).await));
    assert_eq!(r.usable_by(&ana(), "").await.unwrap(), ["ana"]);
    assert!(r.usable_by(&bob(), "a").await.unwrap().is_empty());

    // approved: bob once allowed, never carol; denied again
    r.set_audience(&ana(), "ana", Audience::Approved)
        .await
        .unwrap();
    unavailable(refusal(db.ask(&bob(), &["ana"], prompt).await));
    r.allow(&ana(), "ana", &bob()).await.unwrap();
    assert_eq!(
        db.ask(&bob(), &["ana"], prompt).await,
        ConsentDecision::Allowed
    );
    assert_eq!(r.usable_by(&bob(), "an").await.unwrap(), ["ana"]);
    // The same user id on another platform is another person.
    let bob_on_discord = reel_consent::Person::new("discord", "200");
    unavailable(refusal(db.ask(&bob_on_discord, &["ana"], prompt).await));
    unavailable(refusal(db.ask(&carol(), &["ana"], prompt).await));
    r.deny(&ana(), "ana", &bob()).await.unwrap();
    unavailable(refusal(db.ask(&bob(), &["ana"], prompt).await));

    // everyone
    r.set_audience(&ana(), "ana", Audience::Everyone)
        .await
        .unwrap();
    assert_eq!(
        db.ask(&carol(), &["ana"], prompt).await,
        ConsentDecision::Allowed
    );
    assert_eq!(r.usable_by(&carol(), "").await.unwrap(), ["ana"]);
    // Names are read as the owner's are: `@Ana` is `ana`.
    assert_eq!(
        db.ask(&carol(), &["@Ana"], prompt).await,
        ConsentDecision::Allowed
    );
    let odd = refusal(db.ask(&carol(), &["an a"], prompt).await);
    assert_eq!(odd, nobody.replace("zed", "an a"));
    assert!(r.usable_by(&carol(), "b").await.unwrap().is_empty());
    // `_` in a prefix is a letter, not a wildcard.
    assert!(r.usable_by(&carol(), "_").await.unwrap().is_empty());

    // withdrawn: unavailable to others, like a cameo that never existed
    db.register(&carol(), "carol_c").await;
    r.set_audience(&carol(), "carol_c", Audience::Everyone)
        .await
        .unwrap();
    assert_eq!(r.usable_by(&bob(), "carol_").await.unwrap(), ["carol_c"]);
    r.withdraw(&carol(), "carol_c").await.unwrap();
    let told = refusal(db.ask(&bob(), &["carol_c"], prompt).await);
    assert_eq!(told, nobody.replace("zed", "carol_c"));
    assert_eq!(r.usable_by(&bob(), "").await.unwrap(), ["ana"]);

    // more than two cameos
    let three = refusal(db.ask(&ana(), &["ana", "ana", "ana"], prompt).await);
    assert!(three.contains("at most 2"), "{three}");
}

async fn restrictions_and_the_built_in_list_refuse_with_a_reason(db: Db) {
    db.register(&ana(), "ana").await;
    let r = &db.registry;
    // Built in, with no restrictions of the owner's, for the owner too.
    let told = refusal(db.ask(&ana(), &["ana"], "Ana must KILL the dragon").await);
    assert!(told.contains("violent") && told.contains("kill"), "{told}");
    assert_eq!(
        db.ask(&ana(), &["ana"], "ana shows her skill").await,
        ConsentDecision::Allowed
    );

    let stored = r
        .set_restrictions(&ana(), "ana", &["Politics".into(), " red  HAT ".into()])
        .await
        .unwrap();
    assert_eq!(stored, ["politics", "red hat"]);
    // Before bob may use the cameo, he learns nothing of its restrictions.
    let hidden = refusal(db.ask(&bob(), &["ana"], "ana talks politics").await);
    assert!(
        hidden.contains("unavailable") && !hidden.contains("politics"),
        "{hidden}"
    );

    r.set_audience(&ana(), "ana", Audience::Everyone)
        .await
        .unwrap();
    let told = refusal(db.ask(&bob(), &["ana"], "Ana talks POLITICS!").await);
    assert!(
        told.contains("doesn't allow") && told.contains("politics"),
        "{told}"
    );
    let told = refusal(db.ask(&bob(), &["ana"], "ana in a red hat").await);
    assert!(told.contains("red hat"), "{told}");
    assert_eq!(
        db.ask(&bob(), &["ana"], "ana in a hat, red").await,
        ConsentDecision::Allowed
    );
    assert_eq!(
        db.ask(&bob(), &["ana"], "ana in a red cap").await,
        ConsentDecision::Allowed
    );
    let own = refusal(db.ask(&ana(), &["ana"], "ana talks politics").await);
    assert!(own.contains("your restrictions"), "{own}");

    // Cleared: only the built-in list is left.
    r.set_restrictions(&ana(), "ana", &[]).await.unwrap();
    assert_eq!(
        db.ask(&bob(), &["ana"], "ana talks politics").await,
        ConsentDecision::Allowed
    );
    assert!(matches!(
        r.set_restrictions(&ana(), "ana", &vec!["x".to_string(); 51])
            .await,
        Err(RegistryError::InvalidRestrictions(_))
    ));
}

async fn only_the_owner_may_change_a_cameo(db: Db) {
    let info = db.register(&ana(), "ana").await;
    let r = &db.registry;
    let before = db.count("SELECT COUNT(*) FROM consent_events").await;
    let not_owner = |result: Result<(), RegistryError>, what: &str| match result {
        Err(RegistryError::NotOwner(name)) => assert_eq!(name, "ana"),
        other => panic!("{what} by someone else: {other:?}"),
    };
    not_owner(
        r.set_audience(&bob(), "ana", Audience::Everyone).await,
        "audience",
    );
    not_owner(r.allow(&bob(), "ana", &bob()).await, "allow");
    not_owner(r.deny(&bob(), "ana", &ana()).await, "deny");
    not_owner(
        r.set_restrictions(&bob(), "ana", &[]).await.map(drop),
        "restrict",
    );
    not_owner(
        r.set_approval(&bob(), "ana", ApprovalMode::Ask).await,
        "approval",
    );
    not_owner(r.withdraw(&bob(), "ana").await, "withdraw");
    not_owner(r.erase(&bob(), "ana").await, "erase");
    not_owner(r.cameo(&bob(), "ana").await.map(drop), "status");
    not_owner(r.clips_of(&bob(), "ana").await.map(drop), "clips");
    // Same user id, other platform: not the owner either.
    let other = reel_consent::Person::new("discord", "100");
    not_owner(r.withdraw(&other, "ana").await, "withdraw");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM consent_events").await,
        before
    );
    let after = r.cameo(&ana(), "ana").await.unwrap();
    assert_eq!(
        (after.status, after.audience),
        (Status::Active, Audience::OnlyMe)
    );
    assert_eq!(after.id, info.id);
}

async fn clips_are_recorded_and_listed_for_the_owner(db: Db) {
    db.register(&ana(), "ana").await;
    db.register(&bob(), "bob").await;
    let r = &db.registry;
    r.record_clip(7, &bob(), &["ana".into(), "bob".into()])
        .await
        .unwrap();
    r.record_clip(7, &bob(), &["ana".into()]).await.unwrap(); // once per job
    r.record_clip(8, &ana(), &["ana".into()]).await.unwrap();
    assert!(matches!(
        r.record_clip(9, &ana(), &["nobody".into()]).await,
        Err(RegistryError::UnknownCameo(_))
    ));
    let clips = r.clips_of(&ana(), "ana").await.unwrap();
    let seen: Vec<(i64, String)> = clips
        .iter()
        .map(|c| (c.job_id, c.requester.user_id.clone()))
        .collect();
    assert_eq!(seen, [(8, "100".to_string()), (7, "200".to_string())]);
    assert_eq!(r.clips_of(&bob(), "bob").await.unwrap().len(), 1);
}

/// What `decide` says to bob at `checkpoint` about a clip with `ana`.
async fn verdict(db: &Db, checkpoint: Checkpoint) -> Verdict {
    let cameos = ["ana".to_string()];
    let request = ConsentRequest {
        platform: &bob().platform,
        user_id: &bob().user_id,
        cameo_ids: &cameos,
        prompt: "ana waves",
        checkpoint,
    };
    decide(&db.registry, &request).await
}

async fn a_withdrawal_stops_a_job_between_its_checks(db: Db) {
    db.register(&ana(), "ana").await;
    let r = &db.registry;
    r.set_audience(&ana(), "ana", Audience::Everyone)
        .await
        .unwrap();
    assert_eq!(verdict(&db, Checkpoint::Enqueue).await, Verdict::Allow);
    // Queued; the owner withdraws before the render starts.
    r.withdraw(&ana(), "ana").await.unwrap();
    for checkpoint in [Checkpoint::RenderStart, Checkpoint::Delivery] {
        match verdict(&db, checkpoint).await {
            Verdict::Refuse(reason) => assert!(reason.contains("unavailable"), "{reason}"),
            other => panic!("a withdrawn cameo passed at {checkpoint:?}: {other:?}"),
        }
    }
    // An audience narrowed mid-way stops it the same way.
    db.register(&carol(), "cara").await;
    r.set_audience(&carol(), "cara", Audience::Approved)
        .await
        .unwrap();
    r.allow(&carol(), "cara", &bob()).await.unwrap();
    let cameos = ["cara".to_string()];
    let ask = |checkpoint| ConsentRequest {
        platform: "telegram",
        user_id: "200",
        cameo_ids: &cameos,
        prompt: "cara waves",
        checkpoint,
    };
    assert_eq!(decide(r, &ask(Checkpoint::Enqueue)).await, Verdict::Allow);
    r.deny(&carol(), "cara", &bob()).await.unwrap();
    assert!(matches!(
        decide(r, &ask(Checkpoint::RenderStart)).await,
        Verdict::Refuse(_)
    ));
}
