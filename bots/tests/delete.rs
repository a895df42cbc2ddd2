//! "Delete my clip" (`CommandCore::delete_clip`), on SQLite and PostgreSQL.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use reel_bots::core::{wording, CommandCore, RenderSettings, ReplyKind};
use reel_consent::NoCameoRegistry;
use reel_store::testing::StorageOutage;
use reel_store::JobState;

use common::{core, encoded_job, new_job, requester, roomy, Db};

on_both_backends!(
    only_the_requester_deletes_a_delivered_clip_once,
    a_storage_outage_changes_nothing,
);

async fn only_the_requester_deletes_a_delivered_clip_once(db: Db) {
    let clips = db.clips();
    let core = core(&db, roomy());
    let (alice, bob) = (requester("telegram", "alice"), requester("telegram", "bob"));
    let (job, _) = encoded_job(
        &db,
        &clips,
        &new_job("telegram", "alice", "a red kite"),
        "testsrc",
    )
    .await;
    let key = job.clip_key.clone().unwrap();

    // Not posted yet: nothing to delete, nothing changes.
    let early = core.delete_clip(&alice, job.id).await;
    assert_eq!(
        (early.kind(), early.text()),
        (
            ReplyKind::Refused,
            wording::nothing_to_delete(job.id).as_str()
        )
    );
    let claimed = db
        .store
        .delivery()
        .claim(&["telegram"], "poster", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(claimed.map(|j| j.id), Some(job.id));
    db.store
        .delivery()
        .mark_delivered(job.id, "poster", "{}")
        .await
        .unwrap();

    let before = db.jobs().await;
    let foreign = core.delete_clip(&bob, job.id).await;
    assert_eq!(
        (foreign.kind(), foreign.text()),
        (ReplyKind::Refused, wording::not_yours(job.id).as_str())
    );
    let missing = core.delete_clip(&alice, 999).await;
    assert_eq!(missing.text(), wording::not_yours(999));
    assert_eq!(db.jobs().await, before);
    assert!(clips.get(&key).await.is_ok());

    let done = core.delete_clip(&alice, job.id).await;
    assert_eq!(
        (done.kind(), done.text(), done.job_id()),
        (
            ReplyKind::Deleted,
            wording::deleted(job.id).as_str(),
            Some(job.id)
        )
    );
    let after = db.store.job(job.id).await.unwrap();
    assert_eq!((after.state, after.clip_key), (JobState::Delivered, None));
    assert!(clips.get(&key).await.is_err(), "the clip's data is gone");
    let events = db.store.events(job.id).await.unwrap();
    let deleted = events
        .iter()
        .find(|e| e.kind == "clip_deleted")
        .expect("an audit event");
    assert_eq!(deleted.actor, "telegram:alice");

    let again = core.delete_clip(&alice, job.id).await;
    assert_eq!(again.kind(), ReplyKind::Refused);

    // A job still on the way is cancelled, not deleted.
    let queued = core.handle(&alice, "/video a blue kite", true).await;
    let id = queued.job_id().unwrap();
    let active = core.delete_clip(&alice, id).await;
    assert_eq!(
        (active.kind(), active.text()),
        (ReplyKind::Refused, wording::delete_active(id).as_str())
    );
    assert_eq!(db.store.job(id).await.unwrap().state, JobState::Queued);
}

/// Clip storage is down when the requester deletes: the answer is an error
/// (the adapters say "nothing was changed") and indeed the clip and its
/// record are untouched; once storage is back the delete goes through
/// (fault 4: the record was cleared first and the data left orphaned).
async fn a_storage_outage_changes_nothing(db: Db) {
    let clips = db.clips();
    let alice = requester("telegram", "alice");
    let (job, _) = encoded_job(
        &db,
        &clips,
        &new_job("telegram", "alice", "a red kite"),
        "testsrc",
    )
    .await;
    let key = job.clip_key.clone().unwrap();
    let poster = db.store.delivery();
    let lease = Duration::from_secs(60);
    poster.claim(&["telegram"], "poster", lease).await.unwrap();
    poster.mark_delivered(job.id, "poster", "{}").await.unwrap();
    let outage = StorageOutage::default();
    let flaky = clips.with_outage(&outage);
    // The core owns its clip store: this one's storage fails on demand.
    let core = CommandCore::new(
        db.store.clone(),
        flaky,
        Arc::new(NoCameoRegistry),
        RenderSettings::default(),
    );
    outage.start();
    let refused = core.delete_clip(&alice, job.id).await;
    assert_eq!(refused.kind(), ReplyKind::Refused);
    assert_eq!(refused.text(), wording::INTERNAL_ERROR);
    let kept = db.store.job(job.id).await.unwrap();
    assert_eq!(kept.clip_key.as_deref(), Some(key.as_str()));
    assert!(clips.get(&key).await.is_ok());
    outage.end();
    let done = core.delete_clip(&alice, job.id).await;
    assert_eq!(done.kind(), ReplyKind::Deleted, "{done:?}");
    assert!(clips.get(&key).await.is_err());
}
