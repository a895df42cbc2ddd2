//! Approval mode `ask` on both backends: a clip with the cameo waits for its
//! owner; the owner is asked once; an approval clears it, a rejection is
//! final; only the owner answers, only about a clip they were asked about,
//! once; the owner's own clips and `auto` cameos never wait.

#[macro_use]
mod common;

use common::{ana, bob, carol, Db};
use reel_consent::{ApprovalMode, ApprovalRequest, ApprovalState, Audience, RegistryError};

on_both_backends!(
    a_clip_waits_for_the_owner_and_an_approval_clears_it,
    a_rejection_is_final_and_answers_come_once_from_the_owner,
    own_clips_and_auto_cameos_never_wait,
);

async fn ana_asks(db: &Db) {
    db.register(&ana(), "ana").await;
    let r = &db.registry;
    r.set_audience(&ana(), "ana", Audience::Everyone)
        .await
        .unwrap();
    r.set_approval(&ana(), "ana", ApprovalMode::Ask)
        .await
        .unwrap();
}

async fn kinds(db: &Db) -> Vec<String> {
    let id = db.registry.cameo(&ana(), "ana").await.unwrap().id.0;
    let events = db.registry.events_of(id).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

async fn a_clip_waits_for_the_owner_and_an_approval_clears_it(db: Db) {
    ana_asks(&db).await;
    let r = &db.registry;
    r.record_clip(7, &bob(), &["ana".into()]).await.unwrap();
    assert_eq!(
        r.approval_state(7).await.unwrap(),
        ApprovalState::Waiting {
            to_ask: vec![ApprovalRequest {
                cameo: "ana".into(),
                owner: ana()
            }],
            waiting_on: vec![],
        }
    );
    // An answer before the owner was asked is refused.
    assert!(matches!(
        r.record_approval(&ana(), "ana", 7, true).await,
        Err(RegistryError::NoApprovalPending { job_id: 7, .. })
    ));
    assert!(r.mark_asked(7, "ana").await.unwrap());
    assert!(!r.mark_asked(7, "ana").await.unwrap(), "asked once");
    assert_eq!(
        r.approval_state(7).await.unwrap(),
        ApprovalState::Waiting {
            to_ask: vec![],
            waiting_on: vec!["ana".into()],
        }
    );
    r.record_approval(&ana(), "ana", 7, true).await.unwrap();
    assert_eq!(r.approval_state(7).await.unwrap(), ApprovalState::Clear);
    assert_eq!(
        kinds(&db).await.last().map(String::as_str),
        Some("approval_given")
    );
}

async fn a_rejection_is_final_and_answers_come_once_from_the_owner(db: Db) {
    ana_asks(&db).await;
    let r = &db.registry;
    r.record_clip(8, &carol(), &["ana".into()]).await.unwrap();
    r.mark_asked(8, "ana").await.unwrap();
    assert!(matches!(
        r.record_approval(&bob(), "ana", 8, true).await,
        Err(RegistryError::NotOwner(_))
    ));
    assert!(
        matches!(
            r.record_approval(&ana(), "ana", 9, true).await,
            Err(RegistryError::NoApprovalPending { .. })
        ),
        "no such clip"
    );
    r.record_approval(&ana(), "ana", 8, false).await.unwrap();
    assert_eq!(
        r.approval_state(8).await.unwrap(),
        ApprovalState::Rejected {
            cameo: "ana".into()
        }
    );
    assert!(
        matches!(
            r.record_approval(&ana(), "ana", 8, true).await,
            Err(RegistryError::NoApprovalPending { .. })
        ),
        "a second answer changes nothing"
    );
    assert_eq!(
        r.approval_state(8).await.unwrap(),
        ApprovalState::Rejected {
            cameo: "ana".into()
        }
    );
    let events = kinds(&db).await;
    let answers = ["approval_given", "approval_refused"];
    assert_eq!(
        events
            .iter()
            .filter(|k| answers.contains(&k.as_str()))
            .count(),
        1
    );
}

async fn own_clips_and_auto_cameos_never_wait(db: Db) {
    ana_asks(&db).await;
    let r = &db.registry;
    r.record_clip(10, &ana(), &["ana".into()]).await.unwrap();
    assert_eq!(r.approval_state(10).await.unwrap(), ApprovalState::Clear);
    assert_eq!(
        r.approval_state(11).await.unwrap(),
        ApprovalState::Clear,
        "no cameo"
    );
    r.record_clip(12, &bob(), &["ana".into()]).await.unwrap();
    r.set_approval(&ana(), "ana", ApprovalMode::Auto)
        .await
        .unwrap();
    assert_eq!(r.approval_state(12).await.unwrap(), ApprovalState::Clear);
}
