//! Getting results back to chats: `OutcomePoster` (each clip or outcome
//! message posted exactly once) and `ProgressWatcher`, on both backends, with
//! a fake chat sink.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reel_bots::core::{ChatSink, OutcomePoster, ProgressWatcher};
use reel_consent::{ConsentDecision, ConsentError, ConsentGate, ConsentRequest, NoCameoRegistry};
use reel_store::{ClipStore, Finish, JobState, RenderFailure, Store};

use common::{claim, encoded_job, new_job, Call, Db, FakeSink, LEASE};

on_both_backends!(
    a_clip_is_posted_once_by_two_posters,
    a_failing_sink_postpones_then_posts_once,
    a_restarted_poster_posts_each_clip_once,
    ended_jobs_get_their_message_once,
    captions_name_prompt_seed_and_renderer,
    platforms_without_a_sink_are_untouched,
    consent_withdrawn_before_delivery_blocks_the_clip,
    a_missing_clip_is_retried_not_posted,
    progress_is_shown_once_per_change,
);

/// The poster's delivery lease is two minutes.
const POSTER_LEASE: Duration = Duration::from_secs(120);

fn poster(
    store: Store,
    clips: &ClipStore,
    sinks: Vec<Arc<FakeSink>>,
    owner: &str,
) -> OutcomePoster {
    let sinks = sinks.into_iter().map(|s| s as Arc<dyn ChatSink>).collect();
    OutcomePoster::new(
        store,
        clips.clone(),
        Arc::new(NoCameoRegistry),
        sinks,
        owner.into(),
    )
}

/// Calls `post_next` `times` times; returns how many found something to post.
async fn drain(poster: &OutcomePoster, times: usize) -> usize {
    let mut found = 0;
    for _ in 0..times {
        if poster.post_next().await.unwrap() {
            found += 1;
        }
    }
    found
}

async fn count(db: &Db, kind: &str, job: i64) -> i64 {
    let counts = db.store.event_counts(kind).await.unwrap();
    counts
        .into_iter()
        .find(|(id, _)| *id == job)
        .map_or(0, |(_, n)| n)
}

async fn a_clip_is_posted_once_by_two_posters(db: Db) {
    let clips = db.clips();
    let sink = FakeSink::new("terminal");
    let (job, data) = encoded_job(
        &db,
        &clips,
        &new_job("terminal", "alice", "a red ball bounces"),
        "testsrc",
    )
    .await;
    let a = poster(db.store.clone(), &clips, vec![sink.clone()], "poster-a");
    let b = poster(db.reopen().await, &clips, vec![sink.clone()], "poster-b");

    let (found_a, found_b) = tokio::join!(drain(&a, 5), drain(&b, 5));
    assert_eq!(found_a + found_b, 1, "one claim between both posters");
    db.clock.advance(POSTER_LEASE * 3);
    assert_eq!(
        drain(&a, 3).await + drain(&b, 3).await,
        0,
        "nothing left once delivered"
    );

    let calls = sink.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let Call::Clip {
        job: posted,
        data: posted_data,
        local_path,
        ok: true,
        ..
    } = &calls[0]
    else {
        panic!("expected one clip post, got {calls:?}");
    };
    assert_eq!(*posted, job.id);
    assert_eq!(posted_data.as_slice(), data.as_ref());
    let path = local_path.as_ref().expect("local clips have a path");
    assert_eq!(std::fs::read(path).unwrap(), data.as_ref());

    let done = db.store.job(job.id).await.unwrap();
    assert_eq!(done.state, JobState::Delivered);
    assert!(done.outcome_posted);
    assert_eq!(done.delivery_receipt, Some(format!("msg-{}", job.id)));
    assert_eq!(count(&db, "posting", job.id).await, 1);
    assert_eq!(count(&db, "delivered", job.id).await, 1);
}

async fn a_failing_sink_postpones_then_posts_once(db: Db) {
    let clips = db.clips();
    let sink = FakeSink::failing("terminal", 2);
    let (job, _) = encoded_job(
        &db,
        &clips,
        &new_job("terminal", "alice", "rain on a window"),
        "testsrc",
    )
    .await;
    let poster = poster(db.store.clone(), &clips, vec![sink.clone()], "poster-a");

    assert!(poster.post_next().await.unwrap(), "first try");
    let after = db.store.job(job.id).await.unwrap();
    assert_eq!(
        (after.state, after.outcome_posted, after.lease_owner.clone()),
        (JobState::Encoded, false, None)
    );
    assert!(
        !poster.post_next().await.unwrap(),
        "backing off after a failure"
    );
    db.clock.advance(Duration::from_secs(3));
    assert!(poster.post_next().await.unwrap(), "second try");
    assert!(!poster.post_next().await.unwrap(), "backing off again");
    db.clock.advance(Duration::from_secs(5));
    assert!(poster.post_next().await.unwrap(), "third try");
    db.clock.advance(Duration::from_secs(600));
    assert_eq!(drain(&poster, 3).await, 0);

    let attempts: Vec<bool> = sink
        .calls()
        .into_iter()
        .map(|c| match c {
            Call::Clip { job: id, ok, .. } if id == job.id => ok,
            other => panic!("unexpected call {other:?}"),
        })
        .collect();
    assert_eq!(attempts, [false, false, true]);
    assert_eq!(sink.posted_clips().len(), 1);
    let done = db.store.job(job.id).await.unwrap();
    assert_eq!(
        (done.state, done.delivery_attempts),
        (JobState::Delivered, 3)
    );
    assert_eq!(count(&db, "post_failed", job.id).await, 2);
    assert_eq!(count(&db, "delivered", job.id).await, 1);
}

async fn a_restarted_poster_posts_each_clip_once(db: Db) {
    let clips = db.clips();
    let sink = FakeSink::new("terminal");
    // Job A was claimed by a poster that then died; job B was encoded while
    // no poster ran.
    let (a, _) = encoded_job(
        &db,
        &clips,
        &new_job("terminal", "alice", "clip a"),
        "testsrc",
    )
    .await;
    {
        let old_store = db.reopen().await;
        let old = poster(old_store.clone(), &clips, vec![], "poster-old");
        let claimed = old_store
            .delivery()
            .claim(&["terminal"], "poster-old", POSTER_LEASE)
            .await
            .unwrap();
        assert_eq!(claimed.map(|j| j.id), Some(a.id));
        drop(old);
        old_store.close().await;
    }
    let (b, _) = encoded_job(
        &db,
        &clips,
        &new_job("terminal", "alice", "clip b"),
        "testsrc",
    )
    .await;

    let new = poster(db.reopen().await, &clips, vec![sink.clone()], "poster-new");
    assert!(new.post_next().await.unwrap());
    assert_eq!(
        sink.posted_clips()
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        [b.id]
    );
    assert!(
        !new.post_next().await.unwrap(),
        "A is still leased to the dead poster"
    );
    db.clock.advance(POSTER_LEASE + Duration::from_secs(1));
    assert!(new.post_next().await.unwrap());
    db.clock.advance(POSTER_LEASE * 3);
    assert_eq!(drain(&new, 3).await, 0);
    assert!(
        !db.store
            .delivery()
            .mark_delivered(a.id, "poster-old", "late")
            .await
            .unwrap(),
        "the dead poster lost A"
    );

    let mut posted: Vec<i64> = sink.posted_clips().into_iter().map(|(id, _)| id).collect();
    posted.sort();
    assert_eq!(posted, [a.id, b.id]);
    assert_eq!(sink.calls().len(), 2);
    for id in [a.id, b.id] {
        let job = db.store.job(id).await.unwrap();
        assert_eq!(job.state, JobState::Delivered, "#{id}");
        assert_eq!(job.delivery_receipt, Some(format!("msg-{id}")));
        assert_eq!(count(&db, "delivered", id).await, 1);
    }
}

async fn ended_jobs_get_their_message_once(db: Db) {
    let clips = db.clips();
    let s = &db.store;
    let failed = s
        .enqueue(&new_job("terminal", "alice", "failing"))
        .await
        .unwrap();
    claim(s, failed.id, "w").await;
    s.render_queue()
        .end(
            failed.id,
            "w",
            &RenderFailure::Fatal("the model crashed".into()),
        )
        .await
        .unwrap();
    let stopped = s
        .enqueue(&new_job("terminal", "alice", "stopped"))
        .await
        .unwrap();
    claim(s, stopped.id, "w").await;
    s.request_cancel(stopped.id, "terminal:alice")
        .await
        .unwrap();
    s.render_queue()
        .end(stopped.id, "w", &RenderFailure::Cancelled)
        .await
        .unwrap();
    let blocked = s
        .enqueue(&new_job("terminal", "alice", "blocked"))
        .await
        .unwrap();
    claim(s, blocked.id, "w").await;
    s.render_queue()
        .end(
            blocked.id,
            "w",
            &RenderFailure::Blocked("unsafe prompt".into()),
        )
        .await
        .unwrap();
    // Cancelled while queued: the /cancel reply already said so.
    let early = s
        .enqueue(&new_job("terminal", "alice", "early"))
        .await
        .unwrap();
    s.request_cancel(early.id, "terminal:alice").await.unwrap();

    // The first message fails once and is posted after its backoff.
    let sink = FakeSink::failing("terminal", 1);
    let poster = poster(db.store.clone(), &clips, vec![sink.clone()], "poster-a");
    assert_eq!(drain(&poster, 6).await, 3);
    db.clock.advance(Duration::from_secs(3));
    assert_eq!(drain(&poster, 3).await, 1);
    db.clock.advance(Duration::from_secs(600));
    assert_eq!(drain(&poster, 3).await, 0);

    let posted: HashMap<i64, Vec<String>> =
        sink.posted_outcomes()
            .into_iter()
            .fold(HashMap::new(), |mut m, (id, text)| {
                m.entry(id).or_default().push(text);
                m
            });
    assert_eq!(posted.len(), 3, "{posted:?}");
    let expected = [
        (
            failed.id,
            format!("#{} failed: the model crashed", failed.id),
            JobState::Failed,
        ),
        (
            stopped.id,
            format!("#{} was cancelled.", stopped.id),
            JobState::Cancelled,
        ),
        (
            blocked.id,
            format!("#{} was not made: unsafe prompt", blocked.id),
            JobState::Blocked,
        ),
    ];
    for (id, fragment, state) in expected {
        let texts = &posted[&id];
        assert_eq!(texts.len(), 1, "#{id}: {texts:?}");
        assert!(
            texts[0].contains(&fragment),
            "#{id}: {:?} lacks {fragment:?}",
            texts[0]
        );
        let job = s.job(id).await.unwrap();
        assert_eq!((job.state, job.outcome_posted), (state, true), "#{id}");
        assert_eq!(count(&db, "outcome_posted", id).await, 1);
    }
    assert!(!posted.contains_key(&early.id));
    assert_eq!(count(&db, "posting", early.id).await, 0);
    assert!(sink.posted_clips().is_empty());
    let failures = sink
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Outcome { ok: false, .. }))
        .count();
    assert_eq!(failures, 1);
}

async fn captions_name_prompt_seed_and_renderer(db: Db) {
    let clips = db.clips();
    let sink = FakeSink::new("terminal");
    let pattern = new_job("terminal", "alice", "a lighthouse in a storm");
    let (test_job, _) = encoded_job(&db, &clips, &pattern, "testsrc").await;
    let model = reel_store::NewJob {
        prompt: "a fox in snow".into(),
        seed: 987_654_321,
        ..pattern.clone()
    };
    let (model_job, _) = encoded_job(&db, &clips, &model, "ltx-video").await;
    let poster = poster(db.store.clone(), &clips, vec![sink.clone()], "poster-a");
    assert_eq!(drain(&poster, 4).await, 2);

    let captions: HashMap<i64, String> = sink.posted_clips().into_iter().collect();
    let test_caption = &captions[&test_job.id];
    for fragment in [
        format!("#{}", test_job.id),
        pattern.prompt.clone(),
        format!("seed {}", pattern.seed),
        format!("{} s", pattern.duration_s),
        format!("{}×{}", pattern.width, pattern.height),
        "test pattern".into(),
    ] {
        assert!(
            test_caption.contains(&fragment),
            "{test_caption:?} lacks {fragment:?}"
        );
    }
    let model_caption = &captions[&model_job.id];
    for fragment in [
        model.prompt.clone(),
        format!("seed {}", model.seed),
        "ltx-video".into(),
    ] {
        assert!(
            model_caption.contains(&fragment),
            "{model_caption:?} lacks {fragment:?}"
        );
    }
    assert!(!model_caption.contains("test pattern"), "{model_caption:?}");
}

async fn platforms_without_a_sink_are_untouched(db: Db) {
    let clips = db.clips();
    let (discord_clip, _) = encoded_job(
        &db,
        &clips,
        &new_job("discord", "alice", "for discord"),
        "testsrc",
    )
    .await;
    let discord_failed = db
        .store
        .enqueue(&new_job("discord", "alice", "fails"))
        .await
        .unwrap();
    claim(&db.store, discord_failed.id, "w").await;
    db.store
        .render_queue()
        .end(discord_failed.id, "w", &RenderFailure::Fatal("boom".into()))
        .await
        .unwrap();
    let before = db.jobs().await;
    let events_before = db.store.events(discord_clip.id).await.unwrap();

    let terminal = FakeSink::new("terminal");
    let nobody = poster(db.store.clone(), &clips, vec![], "poster-none");
    let terminal_only = poster(
        db.store.clone(),
        &clips,
        vec![terminal.clone()],
        "poster-terminal",
    );
    assert_eq!(drain(&nobody, 2).await, 0);
    assert_eq!(drain(&terminal_only, 3).await, 0);
    assert!(terminal.calls().is_empty());
    assert_eq!(db.jobs().await, before, "no lease, no attempt counted");
    assert_eq!(
        db.store.events(discord_clip.id).await.unwrap(),
        events_before
    );

    // A terminal job next to them is posted by the terminal poster alone.
    let (terminal_job, _) = encoded_job(
        &db,
        &clips,
        &new_job("terminal", "bob", "for the terminal"),
        "testsrc",
    )
    .await;
    assert_eq!(drain(&terminal_only, 3).await, 1);
    assert_eq!(
        terminal
            .posted_clips()
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        [terminal_job.id]
    );
    assert_eq!(
        db.store.job(discord_clip.id).await.unwrap().state,
        JobState::Encoded
    );

    // The discord jobs were waiting for a discord sink all along.
    let discord = FakeSink::new("discord");
    let both = poster(
        db.store.clone(),
        &clips,
        vec![terminal.clone(), discord.clone()],
        "poster-both",
    );
    assert_eq!(drain(&both, 4).await, 2);
    assert_eq!(
        discord
            .posted_clips()
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        [discord_clip.id]
    );
    assert_eq!(
        discord
            .posted_outcomes()
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        [discord_failed.id]
    );
    assert_eq!(terminal.calls().len(), 1);
}

struct AllowAll;

#[async_trait]
impl ConsentGate for AllowAll {
    async fn check(&self, _: &ConsentRequest<'_>) -> Result<ConsentDecision, ConsentError> {
        Ok(ConsentDecision::Allowed)
    }
}

async fn consent_withdrawn_before_delivery_blocks_the_clip(db: Db) {
    let clips = db.clips();
    let sink = FakeSink::new("terminal");
    let with_cameo = reel_store::NewJob {
        cameo_ids: vec!["alice".into()],
        request_key: None,
        ..new_job("terminal", "u1", "alice waves")
    };
    let (job, _) = encoded_job(&db, &clips, &with_cameo, "testsrc").await;
    let key = job.clip_key.clone().unwrap();
    let path = clips.local_path(&key).unwrap();
    assert!(path.exists());

    let poster = poster(db.store.clone(), &clips, vec![sink.clone()], "poster-a");
    assert_eq!(drain(&poster, 3).await, 1);
    assert!(sink.posted_clips().is_empty(), "{:?}", sink.calls());
    let outcomes = sink.posted_outcomes();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert!(
        outcomes[0].1.contains(&format!(
            "#{} was not made: there is no cameo `alice`",
            job.id
        )),
        "{outcomes:?}"
    );
    let blocked = db.store.job(job.id).await.unwrap();
    assert_eq!(
        (blocked.state, blocked.outcome_posted),
        (JobState::Blocked, true)
    );
    assert!(!path.exists(), "the blocked clip is deleted");
    assert!(clips.get(&key).await.is_err());

    // With consent in place the same kind of job is posted as a clip.
    let (allowed, _) = encoded_job(&db, &clips, &with_cameo, "testsrc").await;
    let consenting = OutcomePoster::new(
        db.store.clone(),
        clips.clone(),
        Arc::new(AllowAll),
        vec![sink.clone() as Arc<dyn ChatSink>],
        "poster-b".into(),
    );
    assert_eq!(drain(&consenting, 2).await, 1);
    assert_eq!(
        sink.posted_clips()
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        [allowed.id]
    );
}

async fn a_missing_clip_is_retried_not_posted(db: Db) {
    let clips = db.clips();
    let sink = FakeSink::new("terminal");
    let (job, data) = encoded_job(
        &db,
        &clips,
        &new_job("terminal", "alice", "lost clip"),
        "testsrc",
    )
    .await;
    let key = job.clip_key.clone().unwrap();
    clips.delete(&key).await.unwrap();

    let poster = poster(db.store.clone(), &clips, vec![sink.clone()], "poster-a");
    assert!(poster.post_next().await.unwrap());
    assert!(sink.calls().is_empty(), "{:?}", sink.calls());
    let after = db.store.job(job.id).await.unwrap();
    assert_eq!(
        (after.state, after.outcome_posted),
        (JobState::Encoded, false)
    );
    assert_eq!(count(&db, "post_failed", job.id).await, 1);

    // Storage comes back: the clip is posted after the backoff.
    clips.put(&key, data).await.unwrap();
    db.clock.advance(Duration::from_secs(3));
    assert_eq!(drain(&poster, 3).await, 1);
    assert_eq!(sink.posted_clips().len(), 1);
    assert_eq!(
        db.store.job(job.id).await.unwrap().state,
        JobState::Delivered
    );
}

async fn progress_is_shown_once_per_change(db: Db) {
    let s = &db.store;
    let sink = FakeSink::new("terminal");
    let mut watcher = ProgressWatcher::new(
        s.clone(),
        sink.clone() as Arc<dyn ChatSink>,
        Duration::from_millis(10),
    );

    // Another platform's rendering job is never shown here.
    let elsewhere = s
        .enqueue(&new_job("discord", "bob", "not ours"))
        .await
        .unwrap();
    claim(s, elsewhere.id, "wd").await;
    s.render_queue()
        .heartbeat(elsewhere.id, "wd", LEASE, Some((5, 10)))
        .await
        .unwrap();

    let job = s
        .enqueue(&new_job("terminal", "alice", "ours"))
        .await
        .unwrap();
    assert_eq!(
        watcher.poll_once().await.unwrap(),
        0,
        "a queued job has no progress line"
    );

    claim(s, job.id, "w1").await;
    assert_eq!(watcher.poll_once().await.unwrap(), 1);
    assert_eq!(
        sink.progress().last().unwrap().1,
        format!("#{} rendering, starting up…", job.id)
    );

    db.clock.advance(Duration::from_secs(1));
    s.render_queue()
        .heartbeat(job.id, "w1", LEASE, Some((3, 10)))
        .await
        .unwrap();
    assert_eq!(watcher.poll_once().await.unwrap(), 1);
    let (id, text) = sink.progress().last().unwrap().clone();
    assert_eq!(id, job.id);
    assert!(
        text.starts_with(&format!("#{} rendering", job.id)) && text.contains("step 3/10"),
        "{text}"
    );
    assert_eq!(
        watcher.poll_once().await.unwrap(),
        0,
        "unchanged progress is not shown again"
    );

    // A heartbeat without new progress changes the row but not the line.
    db.clock.advance(Duration::from_secs(1));
    s.render_queue()
        .heartbeat(job.id, "w1", LEASE, Some((3, 10)))
        .await
        .unwrap();
    assert_eq!(watcher.poll_once().await.unwrap(), 0);

    db.clock.advance(Duration::from_secs(1));
    s.render_queue()
        .heartbeat(job.id, "w1", LEASE, Some((7, 10)))
        .await
        .unwrap();
    assert_eq!(watcher.poll_once().await.unwrap(), 1);
    assert!(sink.progress().last().unwrap().1.contains("step 7/10"));

    // A failed update is tried again on the next poll.
    db.clock.advance(Duration::from_secs(1));
    s.render_queue()
        .heartbeat(job.id, "w1", LEASE, Some((9, 10)))
        .await
        .unwrap();
    sink.fail_next(1);
    assert_eq!(watcher.poll_once().await.unwrap(), 0);
    assert_eq!(watcher.poll_once().await.unwrap(), 1);
    assert!(sink.progress().last().unwrap().1.contains("step 9/10"));

    // The finished job leaves the watcher's view.
    let record = reel_store::ClipRecord {
        key: "k".into(),
        bytes: 1,
        render_ms: 1,
        renderer: "testsrc".into(),
    };
    db.clock.advance(Duration::from_secs(1));
    assert_eq!(
        s.render_queue()
            .finish(job.id, "w1", &record)
            .await
            .unwrap(),
        Finish::Encoded
    );
    assert_eq!(watcher.poll_once().await.unwrap(), 0);

    let progress = sink.progress();
    let steps: Vec<&str> = progress.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(progress.len(), 4, "{steps:?}");
    assert!(progress.iter().all(|(id, _)| *id == job.id), "{progress:?}");
}
