//! Approval mode `ask` at delivery (issue 16): a clip with a cameo whose
//! owner approves each clip goes to the owner privately first, on the
//! owner's own platform, and waits; approved, it is posted to the
//! requester; rejected or unanswered for a day, it is deleted and the
//! requester told only that it was not approved. The owner is asked once.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reel_bots::core::{ChatSink, ClipFile, JobLocks, OutcomePoster, SinkError, APPROVAL_TIMEOUT};
use reel_consent::{
    ApprovalMode, Audience, CameoRegistry, Evidence, MasterKey, NewCameo, Person, ReferenceMedia,
};
use reel_store::{Job, JobState};

use common::cameos::StandInVerifier;
use common::{encoded_job, new_job, requester, roomy, Db};

on_both_backends!(
    an_approved_clip_waits_for_its_owner_then_goes_out,
    a_rejected_or_unanswered_clip_is_deleted_unposted,
    the_owner_answers_in_chat_and_nobody_else_can,
);

/// What one platform's sink was asked to do.
#[derive(Default)]
struct Sink {
    platform: &'static str,
    asks: Mutex<Vec<(String, i64, String)>>,
    clips: Mutex<Vec<i64>>,
    outcomes: Mutex<Vec<(i64, String)>>,
    progress: Mutex<Vec<(i64, String)>>,
    locks: JobLocks,
}

#[async_trait]
impl ChatSink for Sink {
    fn platform(&self) -> &str {
        self.platform
    }

    fn locks(&self) -> &JobLocks {
        &self.locks
    }

    async fn show_progress(&self, job: &Job, text: &str) -> Result<bool, SinkError> {
        self.progress.lock().unwrap().push((job.id, text.into()));
        Ok(true)
    }

    async fn post_clip(&self, job: &Job, _: &ClipFile, _: &str) -> Result<String, SinkError> {
        self.clips.lock().unwrap().push(job.id);
        Ok(format!("msg-{}", job.id))
    }

    async fn post_outcome(&self, job: &Job, text: &str) -> Result<(), SinkError> {
        self.outcomes.lock().unwrap().push((job.id, text.into()));
        Ok(())
    }

    async fn ask_approval(
        &self,
        owner: &str,
        job: &Job,
        clip: &ClipFile,
        text: &str,
    ) -> Result<(), SinkError> {
        assert!(!clip.data.is_empty(), "the owner sees the clip itself");
        self.asks
            .lock()
            .unwrap()
            .push((owner.into(), job.id, text.into()));
        Ok(())
    }
}

fn sink(platform: &'static str) -> Arc<Sink> {
    Arc::new(Sink {
        platform,
        ..Sink::default()
    })
}

fn ana() -> Person {
    Person::new("discord", "700")
}

/// `ana`, on Discord, lets everyone use her cameo but approves each clip.
async fn registry(db: &Db) -> CameoRegistry {
    let registry = CameoRegistry::new(db.store.clone(), MasterKey::generate());
    let text = registry
        .publish_consent_text("en", "I agree that reel may use my face and voice.")
        .await
        .unwrap();
    registry
        .register(NewCameo {
            owner: ana(),
            name: "ana".into(),
            evidence: Evidence {
                consent_text_version: text.version,
                message_id: "m".into(),
                nonce: "n".into(),
                transcript: "t".into(),
                phrase_score: 1.0,
                face_score: 1.0,
                voice_score: 1.0,
                models: BTreeMap::new(),
            },
            media: ReferenceMedia {
                face_image: b"png".to_vec(),
                voice_clip: b"wav".to_vec(),
                embedding: vec![0; 8],
            },
        })
        .await
        .unwrap();
    registry
        .set_audience(&ana(), "ana", Audience::Everyone)
        .await
        .unwrap();
    registry
        .set_approval(&ana(), "ana", ApprovalMode::Ask)
        .await
        .unwrap();
    registry
}

/// A Telegram user's encoded clip with `ana`, its use recorded as a
/// worker records it at render start.
async fn clip_with_ana(db: &Db, registry: &CameoRegistry, prompt: &str) -> Job {
    let mut new = new_job("telegram", "42", prompt);
    new.cameo_ids = vec!["ana".into()];
    let (job, _) = encoded_job(db, &db.clips(), &new, "testsrc").await;
    registry
        .record_clip(job.id, &Person::new("telegram", "42"), &job.cameo_ids)
        .await
        .unwrap();
    job
}

fn poster(db: &Db, registry: &CameoRegistry, sinks: &[Arc<Sink>]) -> OutcomePoster {
    let sinks = sinks
        .iter()
        .map(|s| s.clone() as Arc<dyn ChatSink>)
        .collect();
    OutcomePoster::new(
        db.store.clone(),
        db.clips(),
        Arc::new(registry.clone()),
        sinks,
        "poster-1".into(),
    )
    .with_approvals(registry.clone())
    .with_approval_poll(Duration::from_secs(5))
}

async fn an_approved_clip_waits_for_its_owner_then_goes_out(db: Db) {
    let registry = registry(&db).await;
    let (requester, owner) = (sink("telegram"), sink("discord"));
    let poster = poster(&db, &registry, &[requester.clone(), owner.clone()]);
    let job = clip_with_ana(&db, &registry, "ana juggles oranges").await;

    assert!(poster.post_next().await.unwrap());
    let asks = owner.asks.lock().unwrap().clone();
    assert_eq!(asks.len(), 1);
    assert_eq!((asks[0].0.as_str(), asks[0].1), ("700", job.id));
    assert!(asks[0].2.contains("ana juggles oranges"), "{}", asks[0].2);
    assert!(requester.clips.lock().unwrap().is_empty(), "held");
    let told = requester.progress.lock().unwrap().clone();
    assert!(
        told[0].1.contains("waits for the cameo's owner"),
        "{told:?}"
    );
    assert_eq!(db.store.job(job.id).await.unwrap().state, JobState::Encoded);
    assert!(
        !poster.post_next().await.unwrap(),
        "held until the next look"
    );

    // The next look, still unanswered: held again, not asked again.
    db.clock.advance(Duration::from_secs(6));
    assert!(poster.post_next().await.unwrap());
    assert_eq!(owner.asks.lock().unwrap().len(), 1, "asked once");
    assert!(requester.clips.lock().unwrap().is_empty());

    registry
        .record_approval(&ana(), "ana", job.id, true)
        .await
        .unwrap();
    db.clock.advance(Duration::from_secs(6));
    assert!(poster.post_next().await.unwrap());
    assert_eq!(*requester.clips.lock().unwrap(), [job.id]);
    assert_eq!(
        db.store.job(job.id).await.unwrap().state,
        JobState::Delivered
    );
    // Holding gave its delivery attempts back.
    assert_eq!(db.store.job(job.id).await.unwrap().delivery_attempts, 1);
}

async fn a_rejected_or_unanswered_clip_is_deleted_unposted(db: Db) {
    let registry = registry(&db).await;
    let (requester, owner) = (sink("telegram"), sink("discord"));
    let poster = poster(&db, &registry, &[requester.clone(), owner.clone()]);
    let rejected = clip_with_ana(&db, &registry, "ana in the rain").await;
    assert!(poster.post_next().await.unwrap());
    registry
        .record_approval(&ana(), "ana", rejected.id, false)
        .await
        .unwrap();
    db.clock.advance(Duration::from_secs(6));
    assert!(poster.post_next().await.unwrap());
    let job = db.store.job(rejected.id).await.unwrap();
    assert_eq!(job.state, JobState::Blocked);
    assert!(
        db.clips()
            .get(job.clip_key.as_deref().unwrap())
            .await
            .is_err(),
        "deleted"
    );
    let outcomes = requester.outcomes.lock().unwrap().clone();
    assert_eq!(outcomes.len(), 1);
    assert!(outcomes[0].1.contains("did not approve"), "{outcomes:?}");
    assert!(requester.clips.lock().unwrap().is_empty());

    let unanswered = clip_with_ana(&db, &registry, "ana at the beach").await;
    assert!(poster.post_next().await.unwrap());
    db.clock.advance(APPROVAL_TIMEOUT + Duration::from_secs(60));
    assert!(poster.post_next().await.unwrap());
    let job = db.store.job(unanswered.id).await.unwrap();
    assert_eq!(job.state, JobState::Blocked);
    assert!(job.failure_reason.unwrap().contains("did not answer"));
    assert!(requester.clips.lock().unwrap().is_empty());
}

async fn the_owner_answers_in_chat_and_nobody_else_can(db: Db) {
    let registry = registry(&db).await;
    let (requester_sink, owner_sink) = (sink("telegram"), sink("discord"));
    let poster = poster(
        &db,
        &registry,
        &[requester_sink.clone(), owner_sink.clone()],
    );
    let core = common::core(&db, roomy()).with_cameos(registry.clone(), Arc::new(StandInVerifier));
    let job = clip_with_ana(&db, &registry, "ana plays chess").await;
    let approve = format!("/cameo approve {}", job.id);

    // Before the owner was asked there is nothing to answer.
    let early = core
        .handle(&requester("discord", "700"), &approve, false)
        .await;
    assert!(early.is_refused(), "{early:?}");
    assert!(poster.post_next().await.unwrap());
    assert_eq!(owner_sink.asks.lock().unwrap().len(), 1);

    // The requester, or anyone but the owner, cannot answer.
    for someone in [requester("telegram", "42"), requester("discord", "701")] {
        let reply = core.handle(&someone, &approve, false).await;
        assert!(reply.is_refused(), "{reply:?}");
        assert!(
            reply.text().contains("not waiting for your approval"),
            "{}",
            reply.text()
        );
    }
    let bad = core
        .handle(&requester("discord", "700"), "/cameo approve soon", false)
        .await;
    assert!(
        bad.is_refused() && bad.text().contains("/cameo approve JOB"),
        "{}",
        bad.text()
    );

    let reply = core
        .handle(&requester("discord", "700"), &approve, false)
        .await;
    assert!(!reply.is_refused(), "{reply:?}");
    assert!(reply.text().contains("Approved"), "{}", reply.text());
    db.clock.advance(Duration::from_secs(6));
    assert!(poster.post_next().await.unwrap());
    assert_eq!(*requester_sink.clips.lock().unwrap(), [job.id]);
    // Answered once: a second answer changes nothing.
    let again = core
        .handle(
            &requester("discord", "700"),
            &format!("/cameo reject {}", job.id),
            false,
        )
        .await;
    assert!(again.is_refused(), "{again:?}");
}
