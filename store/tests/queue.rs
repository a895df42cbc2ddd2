//! The job state machine, limits and claims, run against both backends: each
//! test body is instantiated once on SQLite and once on PostgreSQL.

use std::collections::HashSet;
use std::time::Duration;

use reel_store::testing::{fresh_postgres_database, open_with_clock, sqlite_url_in, ManualClock};
use reel_store::{
    CancelOutcome, ClipRecord, Finish, Heartbeat, JobState, Limits, NewJob, Refusal, RenderFailure,
    Store, StoreError, StoreOptions,
};

const LEASE: Duration = Duration::from_secs(30);
const T0: i64 = 1_800_000_000_000;

struct Db {
    store: Store,
    clock: ManualClock,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open_with_clock(&sqlite_url_in(dir.path()), options(4), &clock)
        .await
        .unwrap();
    Db {
        store,
        clock,
        _dir: Some(dir),
    }
}

async fn postgres() -> Db {
    let url = fresh_postgres_database().await;
    let clock = ManualClock::new(T0);
    let store = open_with_clock(&url, options(8), &clock).await.unwrap();
    Db {
        store,
        clock,
        _dir: None,
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(super::sqlite().await).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(super::postgres().await).await } )* }
    };
}

on_both_backends!(
    happy_path_walks_every_state_once,
    expired_lease_moves_job_to_another_worker,
    attempts_are_capped,
    cancel_queued_and_rendering,
    limits_refuse_and_change_nothing,
    hourly_quota_says_when_to_retry,
    retryable_failure_backs_off,
    queue_position_and_eta,
    enqueue_reports_its_queue_place,
    operator_retry,
    failed_posts_back_off_then_give_up,
    concurrent_claimers_never_share_a_job,
    a_replayed_request_finds_its_job,
    a_burst_keeps_every_limit,
);

fn new_job(user: &str, prompt: &str) -> NewJob {
    NewJob {
        platform: "terminal".into(),
        user_id: user.into(),
        chat_id: "chat-1".into(),
        reply_handle: "{}".into(),
        prompt: prompt.into(),
        duration_s: 2,
        width: 128,
        height: 96,
        fps: 12,
        seed: u64::MAX - 7,
        cameo_ids: vec!["cam_1".into()],
        request_key: None,
        picture: None,
        say_line: None,
    }
}

/// Roomy limits; a test of the limits opens a handle with its own.
fn options(max_connections: u32) -> StoreOptions {
    StoreOptions {
        max_connections,
        limits: roomy(),
    }
}

fn roomy() -> Limits {
    Limits {
        max_active_per_user: 1000,
        max_per_user_per_hour: 1000,
        max_queue_length: 1000,
        ..Limits::default()
    }
}

fn clip(key: &str) -> ClipRecord {
    ClipRecord {
        key: key.into(),
        bytes: 1234,
        render_ms: 4000,
        renderer: "testsrc".into(),
    }
}

async fn happy_path_walks_every_state_once(db: Db) {
    let s = &db.store;
    let job = s
        .enqueue(&new_job("u1", "a boy throws a ball"))
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.seed, u64::MAX - 7, "seeds survive the i64 column");
    assert_eq!(job.cameo_ids, vec!["cam_1".to_string()]);
    assert_eq!(job.frames(), 24);

    let claimed = s
        .render_queue()
        .claim("w1", LEASE)
        .await
        .unwrap()
        .expect("a job to claim");
    assert_eq!(
        (claimed.id, claimed.state, claimed.attempts),
        (job.id, JobState::Rendering, 1)
    );
    assert_eq!(claimed.lease_owner.as_deref(), Some("w1"));
    assert!(
        s.render_queue().claim("w2", LEASE).await.unwrap().is_none(),
        "one job, one claim"
    );

    db.clock.advance(Duration::from_secs(1));
    assert_eq!(
        s.render_queue()
            .heartbeat(job.id, "w1", LEASE, Some((3, 10)))
            .await
            .unwrap(),
        Heartbeat::Continue
    );
    let mid = s.job(job.id).await.unwrap();
    assert_eq!((mid.progress_step, mid.progress_total), (3, 10));
    assert!(mid.updated_at > job.updated_at);

    assert_eq!(
        s.render_queue()
            .finish(job.id, "w1", &clip("clips/1/x.mp4"))
            .await
            .unwrap(),
        Finish::Encoded
    );
    let encoded = s.job(job.id).await.unwrap();
    assert_eq!(encoded.state, JobState::Encoded);
    assert_eq!(encoded.clip_key.as_deref(), Some("clips/1/x.mp4"));
    assert_eq!(encoded.render_ms, Some(4000));
    assert_eq!(encoded.lease_owner, None);

    assert!(
        s.delivery()
            .claim(&["discord"], "d1", LEASE)
            .await
            .unwrap()
            .is_none(),
        "other platform"
    );
    let posting = s
        .delivery()
        .claim(&["terminal"], "d1", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(posting.id, job.id);
    assert!(
        s.delivery()
            .claim(&["terminal"], "d2", LEASE)
            .await
            .unwrap()
            .is_none(),
        "leased"
    );
    assert!(
        !s.delivery()
            .mark_delivered(job.id, "d2", "msg-9")
            .await
            .unwrap(),
        "not d2's to mark"
    );
    assert!(s
        .delivery()
        .mark_delivered(job.id, "d1", "msg-9")
        .await
        .unwrap());
    let done = s.job(job.id).await.unwrap();
    assert_eq!(done.state, JobState::Delivered);
    assert_eq!(done.delivery_receipt.as_deref(), Some("msg-9"));
    assert!(done.outcome_posted && done.finished_at.is_some());

    db.clock.advance(LEASE * 3);
    assert!(
        s.delivery()
            .claim(&["terminal"], "d1", LEASE)
            .await
            .unwrap()
            .is_none(),
        "posted once"
    );
    assert!(s.render_queue().claim("w1", LEASE).await.unwrap().is_none());
    let kinds: Vec<String> = s
        .events(job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        ["queued", "claimed", "encoded", "posting", "delivered"]
    );
}

async fn expired_lease_moves_job_to_another_worker(db: Db) {
    let s = &db.store;
    let job = s.enqueue(&new_job("u1", "p")).await.unwrap();
    s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    db.clock.advance(LEASE - Duration::from_secs(1));
    assert!(
        s.render_queue().claim("w2", LEASE).await.unwrap().is_none(),
        "lease still valid"
    );
    db.clock.advance(Duration::from_secs(2));
    let again = s
        .render_queue()
        .claim("w2", LEASE)
        .await
        .unwrap()
        .expect("expired lease is claimable");
    assert_eq!((again.id, again.attempts), (job.id, 2));
    assert_eq!(
        s.render_queue()
            .heartbeat(job.id, "w1", LEASE, None)
            .await
            .unwrap(),
        Heartbeat::LeaseLost
    );
    assert_eq!(
        s.render_queue()
            .finish(job.id, "w1", &clip("a"))
            .await
            .unwrap(),
        Finish::LeaseLost,
        "w1 lost it"
    );
    assert_eq!(
        s.render_queue()
            .finish(job.id, "w2", &clip("b"))
            .await
            .unwrap(),
        Finish::Encoded
    );
    assert_eq!(s.job(job.id).await.unwrap().clip_key.as_deref(), Some("b"));
}

async fn attempts_are_capped(db: Db) {
    let s = &db.store;
    let limits = Limits {
        max_attempts: 2,
        ..roomy()
    };
    let s = &s.with_limits(limits);
    let job = s.enqueue(&new_job("u1", "p")).await.unwrap();
    for worker in ["w1", "w2"] {
        s.render_queue()
            .claim(worker, LEASE)
            .await
            .unwrap()
            .unwrap();
        db.clock.advance(LEASE + Duration::from_secs(1));
    }
    assert!(
        s.render_queue().claim("w3", LEASE).await.unwrap().is_none(),
        "attempts used up"
    );
    assert_eq!(s.render_queue().reap_expired().await.unwrap(), 1);
    let failed = s.job(job.id).await.unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert!(failed.failure_reason.unwrap().contains("2 times"));
    let notice = s
        .delivery()
        .claim(&["terminal"], "d", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notice.state, JobState::Failed);
    assert!(s.delivery().mark_outcome_posted(job.id, "d").await.unwrap());
    assert!(s
        .delivery()
        .claim(&["terminal"], "d", LEASE)
        .await
        .unwrap()
        .is_none());
}

async fn cancel_queued_and_rendering(db: Db) {
    let s = &db.store;
    let a = s.enqueue(&new_job("u1", "a")).await.unwrap();
    let b = s.enqueue(&new_job("u1", "b")).await.unwrap();
    assert_eq!(
        s.request_cancel(b.id, "u1").await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(s.job(b.id).await.unwrap().state, JobState::Cancelled);
    let claimed = s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, a.id, "the cancelled job is never claimed");
    assert!(s.render_queue().claim("w1", LEASE).await.unwrap().is_none());
    assert_eq!(
        s.request_cancel(a.id, "u1").await.unwrap(),
        CancelOutcome::Requested
    );
    assert_eq!(
        s.render_queue()
            .heartbeat(a.id, "w1", LEASE, Some((1, 4)))
            .await
            .unwrap(),
        Heartbeat::CancelRequested
    );
    assert_eq!(
        s.render_queue()
            .end(a.id, "w1", &RenderFailure::Cancelled)
            .await
            .unwrap(),
        JobState::Cancelled
    );
    assert_eq!(
        s.request_cancel(a.id, "u1").await.unwrap(),
        CancelOutcome::AlreadyFinished(JobState::Cancelled)
    );
    assert!(matches!(
        s.request_cancel(9999, "u1").await,
        Err(StoreError::UnknownJob(9999))
    ));
    // The job cancelled while queued was answered at once; the one stopped by
    // its worker still needs its message posted.
    let notice = s
        .delivery()
        .claim(&["terminal"], "d", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notice.id, a.id);
}

async fn limits_refuse_and_change_nothing(db: Db) {
    let s = &db.store;
    let limits = Limits {
        max_active_per_user: 2,
        max_per_user_per_hour: 100,
        max_queue_length: 3,
        ..Limits::default()
    };
    let s = &s.with_limits(limits);
    s.enqueue(&new_job("u1", "1")).await.unwrap();
    s.enqueue(&new_job("u1", "2")).await.unwrap();
    let err = s.enqueue(&new_job("u1", "3")).await.unwrap_err();
    match err {
        StoreError::Refused(Refusal::TooManyActive {
            limit: 2,
            retry_after,
        }) => {
            assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}")
        }
        other => panic!("expected TooManyActive, got {other:?}"),
    }
    s.enqueue(&new_job("u2", "4")).await.unwrap();
    let err = s.enqueue(&new_job("u3", "5")).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Refused(Refusal::QueueFull { limit: 3, .. })
        ),
        "{err:?}"
    );
    assert_eq!(
        s.list_jobs(None, 100).await.unwrap().len(),
        3,
        "refusals inserted nothing"
    );
    // Finishing a job frees the user's slot.
    let first = s.render_queue().claim("w", LEASE).await.unwrap().unwrap();
    s.render_queue()
        .end(first.id, "w", &RenderFailure::Fatal("x".into()))
        .await
        .unwrap();
    s.enqueue(&new_job("u1", "6")).await.unwrap();
}

async fn hourly_quota_says_when_to_retry(db: Db) {
    let s = &db.store;
    let limits = Limits {
        max_active_per_user: 10,
        max_per_user_per_hour: 2,
        ..roomy()
    };
    let s = &s.with_limits(limits);
    s.enqueue(&new_job("u1", "1")).await.unwrap();
    db.clock.advance(Duration::from_secs(600));
    s.enqueue(&new_job("u1", "2")).await.unwrap();
    db.clock.advance(Duration::from_secs(600));
    match s.enqueue(&new_job("u1", "3")).await.unwrap_err() {
        StoreError::Refused(Refusal::HourlyQuota {
            limit: 2,
            retry_after,
        }) => {
            assert_eq!(
                retry_after,
                Duration::from_secs(2400),
                "the first job leaves the window in 40 min"
            )
        }
        other => panic!("expected HourlyQuota, got {other:?}"),
    }
    db.clock.advance(Duration::from_secs(2401));
    s.enqueue(&new_job("u1", "3")).await.unwrap();
}

async fn retryable_failure_backs_off(db: Db) {
    let s = &db.store;
    let job = s.enqueue(&new_job("u1", "p")).await.unwrap();
    s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    let state = s
        .render_queue()
        .end(job.id, "w1", &RenderFailure::Retry("disk full".into()))
        .await
        .unwrap();
    assert_eq!(state, JobState::Queued);
    assert!(
        s.render_queue().claim("w1", LEASE).await.unwrap().is_none(),
        "backing off"
    );
    db.clock.advance(Duration::from_secs(3));
    let again = s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    assert_eq!(again.attempts, 2);
    s.render_queue()
        .end(job.id, "w1", &RenderFailure::Retry("disk full".into()))
        .await
        .unwrap();
    db.clock.advance(Duration::from_secs(10));
    s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    // Third of three attempts: a retryable error now ends the job.
    let state = s
        .render_queue()
        .end(job.id, "w1", &RenderFailure::Retry("disk full".into()))
        .await
        .unwrap();
    assert_eq!(state, JobState::Failed);
    assert_eq!(
        s.job(job.id).await.unwrap().failure_reason.as_deref(),
        Some("disk full")
    );
}

async fn queue_position_and_eta(db: Db) {
    let s = &db.store;
    let limits = Limits {
        default_render_time: Duration::from_secs(10),
        ..roomy()
    };
    let s = &s.with_limits(limits);
    let jobs: Vec<_> = futures_join(s, 3).await;
    s.register_worker("w1", "host", "testsrc").await.unwrap();
    let places: Vec<_> = {
        let mut v = Vec::new();
        for job in &jobs {
            v.push(s.queue_place(job).await.unwrap());
        }
        v
    };
    assert_eq!(
        places.iter().map(|p| p.position).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(places[0].eta, Duration::from_secs(10));
    assert_eq!(places[2].eta, Duration::from_secs(30));
    // A second live worker halves the wait; real render times replace the default.
    s.register_worker("w2", "host", "testsrc").await.unwrap();
    let first = s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    s.render_queue()
        .finish(
            first.id,
            "w1",
            &ClipRecord {
                render_ms: 4000,
                ..clip("k")
            },
        )
        .await
        .unwrap();
    let third = s.job(jobs[2].id).await.unwrap();
    let place = s.queue_place(&third).await.unwrap();
    assert_eq!(place.position, 2);
    assert_eq!(
        place.eta,
        Duration::from_secs(6),
        "1 ahead / 2 workers × 4 s + 4 s"
    );
}

/// The place `enqueue_placed` reports is what `queue_place` says just after.
async fn enqueue_reports_its_queue_place(db: Db) {
    let s = &db.store;
    let limits = Limits {
        default_render_time: Duration::from_secs(10),
        ..roomy()
    };
    let s = &s.with_limits(limits);
    for i in 0..3 {
        let (job, place) = s
            .enqueue_placed(&new_job(&format!("u{i}"), "p"))
            .await
            .unwrap();
        assert_eq!(place, s.queue_place(&job).await.unwrap());
        assert_eq!(place.position, i + 1);
    }
    // With a live worker, a rendering job and a real render time.
    s.register_worker("w1", "host", "testsrc").await.unwrap();
    s.register_worker("w2", "host", "testsrc").await.unwrap();
    let first = s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    s.render_queue()
        .finish(
            first.id,
            "w1",
            &ClipRecord {
                render_ms: 4000,
                ..clip("k")
            },
        )
        .await
        .unwrap();
    s.render_queue().claim("w2", LEASE).await.unwrap().unwrap();
    let (job, place) = s.enqueue_placed(&new_job("u9", "p")).await.unwrap();
    assert_eq!(place, s.queue_place(&job).await.unwrap());
    assert_eq!(
        (place.position, place.eta),
        (2, Duration::from_secs(7)),
        "(1 ahead + ½ rendering) / 2 workers × 4 s + 4 s"
    );
}

/// The same platform event enqueued twice, one after the other and at the
/// same moment, queues one job; other keys, other platforms and keyless jobs
/// are unaffected.
async fn a_replayed_request_finds_its_job(db: Db) {
    let s = &db.store;
    let limits = Limits {
        max_active_per_user: 1,
        ..roomy()
    };
    let s = &s.with_limits(limits);
    let keyed = |user: &str, key: &str| NewJob {
        request_key: Some(key.into()),
        ..new_job(user, "p")
    };
    let (first, _) = s.enqueue_placed(&keyed("u1", "msg:1:1")).await.unwrap();
    // At the user's active limit a replay still gets its job, not a refusal.
    let (again, place) = s.enqueue_placed(&keyed("u1", "msg:1:1")).await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(place.position, 1);
    assert!(matches!(
        s.enqueue_placed(&keyed("u1", "msg:1:2")).await,
        Err(StoreError::Refused(Refusal::TooManyActive { .. }))
    ));
    // Ten deliveries of one event racing each other: one job.
    let racing = (0..10).map(|_| {
        let s = s.clone();
        let new = keyed("u2", "msg:2:1");
        tokio::spawn(async move { s.enqueue_placed(&new).await.unwrap().0.id })
    });
    let mut ids = HashSet::new();
    for call in racing.collect::<Vec<_>>() {
        ids.insert(call.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    // The same key on another platform is another event.
    let other = NewJob {
        platform: "other".into(),
        ..keyed("u3", "msg:1:1")
    };
    assert_ne!(s.enqueue_placed(&other).await.unwrap().0.id, first.id);
    let total = s.jobs_for_user("terminal", "u2", 50).await.unwrap().len()
        + s.jobs_for_user("terminal", "u1", 50).await.unwrap().len();
    assert_eq!(total, 2);
    // Keyless jobs never collide.
    s.enqueue(&new_job("u4", "p")).await.unwrap();
    s.enqueue(&new_job("u5", "p")).await.unwrap();
}

/// 60 enqueues at once (they share batches): one user's active limit, the
/// queue length, the places and the event rows all come out as if they had
/// arrived one by one.
async fn a_burst_keeps_every_limit(db: Db) {
    let s = &db.store;
    let limits = Limits {
        max_active_per_user: 3,
        max_queue_length: 30,
        ..roomy()
    };
    let s = &s.with_limits(limits);
    let burst = (0..60).map(|i| {
        let s = s.clone();
        // Twenty from one user, the rest from forty others.
        let user = if i % 3 == 0 {
            "heavy".to_string()
        } else {
            format!("u{i}")
        };
        tokio::spawn(async move { s.enqueue_placed(&new_job(&user, "p")).await })
    });
    let mut queued = Vec::new();
    let (mut too_many_active, mut queue_full) = (0, 0);
    for call in burst.collect::<Vec<_>>() {
        match call.await.unwrap() {
            Ok((job, place)) => queued.push((job, place)),
            Err(StoreError::Refused(Refusal::TooManyActive { .. })) => too_many_active += 1,
            Err(StoreError::Refused(Refusal::QueueFull { .. })) => queue_full += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    let heavy = queued
        .iter()
        .filter(|(job, _)| job.user_id == "heavy")
        .count();
    assert!(heavy <= 3, "{heavy} active jobs of one user, limit 3");
    assert_eq!(queued.len() + too_many_active + queue_full, 60);
    let jobs = s.list_jobs(None, 100).await.unwrap();
    assert_eq!(jobs.len(), queued.len(), "refusals inserted nothing");
    let events = s.event_counts("queued").await.unwrap();
    let mut ids: Vec<i64> = queued.iter().map(|(job, _)| job.id).collect();
    ids.sort();
    assert_eq!(events, ids.iter().map(|id| (*id, 1)).collect::<Vec<_>>());
    // The queue's limit is exact and every job saw exactly the ones before
    // it: SQLite has one writer, and on PostgreSQL batches running side by
    // side take the queue's lock before counting.
    assert_eq!(queued.len(), 30, "the queue's limit");
    let mut positions: Vec<u32> = queued.iter().map(|(_, place)| place.position).collect();
    positions.sort();
    assert_eq!(positions, (1..=30).collect::<Vec<_>>());
}

async fn futures_join(s: &Store, n: usize) -> Vec<reel_store::Job> {
    let mut jobs = Vec::new();
    for i in 0..n {
        jobs.push(s.enqueue(&new_job(&format!("u{i}"), "p")).await.unwrap());
    }
    jobs
}

async fn operator_retry(db: Db) {
    let s = &db.store;
    let job = s.enqueue(&new_job("u1", "p")).await.unwrap();
    s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    s.render_queue()
        .end(job.id, "w1", &RenderFailure::Fatal("model crashed".into()))
        .await
        .unwrap();
    let retried = s.retry(job.id, "operator").await.unwrap();
    assert_eq!(
        (retried.state, retried.attempts, retried.failure_reason),
        (JobState::Queued, 0, None)
    );
    let claimed = s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    s.render_queue()
        .finish(claimed.id, "w1", &clip("k"))
        .await
        .unwrap();
    assert!(matches!(
        s.retry(job.id, "operator").await,
        Err(StoreError::InvalidTransition { .. })
    ));
    assert!(matches!(
        s.retry(424242, "operator").await,
        Err(StoreError::UnknownJob(424242))
    ));
}

async fn failed_posts_back_off_then_give_up(db: Db) {
    let s = &db.store;
    let job = s.enqueue(&new_job("u1", "p")).await.unwrap();
    s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    s.render_queue()
        .finish(job.id, "w1", &clip("k"))
        .await
        .unwrap();
    for attempt in 1..=8 {
        let posting = s.delivery().claim(&["terminal"], "d", LEASE).await.unwrap();
        let posting = posting.unwrap_or_else(|| panic!("attempt {attempt} should be claimable"));
        assert_eq!(posting.delivery_attempts, attempt);
        s.delivery()
            .postpone(job.id, "d", "HTTP 502")
            .await
            .unwrap();
        assert!(
            s.delivery()
                .claim(&["terminal"], "d", LEASE)
                .await
                .unwrap()
                .is_none(),
            "backoff"
        );
        db.clock.advance(Duration::from_secs(301));
    }
    let job = s.job(job.id).await.unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert!(job.outcome_posted);
    assert!(job.failure_reason.unwrap().contains("HTTP 502"));
}

async fn concurrent_claimers_never_share_a_job(db: Db) {
    let s = db.store.clone();
    for i in 0..120 {
        s.enqueue(&new_job(&format!("u{i}"), "p")).await.unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut mine = Vec::new();
            while let Some(job) = s.render_queue().claim(&worker, LEASE).await.unwrap() {
                s.render_queue()
                    .finish(job.id, &worker, &clip("k"))
                    .await
                    .unwrap();
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for task in tasks {
        for id in task.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "job {id} claimed twice");
        }
    }
    assert_eq!(total, 120);
    let claims = s.event_counts("claimed").await.unwrap();
    assert_eq!(claims.len(), 120);
    assert!(claims.iter().all(|(_, n)| *n == 1));
}
