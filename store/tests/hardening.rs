//! Faults found in review (issue 11), each proven on both backends where it
//! can happen: what the store must do instead.

use std::time::Duration;

use bytes::Bytes;
use reel_store::testing::{
    fresh_postgres_database, open_with_clock, sqlite_url_in, ManualClock, StorageOutage,
};
use reel_store::{
    Backend, CancelOutcome, ClipDeletion, ClipRecord, ClipStore, ClipStoreConfig, Finish, Job,
    JobState, Limits, NewJob, Retention, Store, StoreOptions,
};

const LEASE: Duration = Duration::from_secs(30);

struct Db {
    store: Store,
    clock: ManualClock,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    /// Another process on the same database, whose own clock reads `clock`.
    async fn another_host(&self, clock: &ManualClock) -> Store {
        open_with_clock(&self.url, options(), clock).await.unwrap()
    }
}

fn options() -> StoreOptions {
    StoreOptions {
        max_connections: 4,
        limits: Limits {
            max_active_per_user: 1000,
            max_per_user_per_hour: 1000,
            max_queue_length: 1000,
            ..Limits::default()
        },
    }
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url_in(dir.path());
    let clock = ManualClock::new(0);
    let store = open_with_clock(&url, options(), &clock).await.unwrap();
    Db {
        store,
        clock,
        url,
        _dir: Some(dir),
    }
}

async fn postgres() -> Db {
    let url = fresh_postgres_database().await;
    let clock = ManualClock::new(0);
    let store = open_with_clock(&url, options(), &clock).await.unwrap();
    Db {
        store,
        clock,
        url,
        _dir: None,
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(super::sqlite().await).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(super::postgres().await).await } )* }
    };
}

fn new_job(user: &str) -> NewJob {
    NewJob {
        platform: "terminal".into(),
        user_id: user.into(),
        chat_id: "chat".into(),
        reply_handle: "{}".into(),
        prompt: format!("a clip for {user}"),
        duration_s: 1,
        width: 64,
        height: 64,
        fps: 8,
        seed: 1,
        cameo_ids: Vec::new(),
        request_key: None,
        picture: None,
        say_line: None,
    }
}

fn clip(key: &str) -> ClipRecord {
    ClipRecord {
        key: key.into(),
        bytes: 10,
        render_ms: 100,
        renderer: "testsrc".into(),
    }
}

on_both_backends!(
    a_cancel_just_before_finish_wins,
    a_skewed_host_clock_steals_no_lease,
    a_clip_is_deleted_object_first,
    retention_removes_old_clips_jobs_workers_and_orphans,
);

/// A cancel that lands while the last step renders: the job ends cancelled
/// and no clip is recorded or posted (fault 14; before, the clip was posted
/// after the user had been told "stopping").
async fn a_cancel_just_before_finish_wins(db: Db) {
    let s = &db.store;
    let job = s.enqueue(&new_job("u1")).await.unwrap();
    s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    assert_eq!(
        s.request_cancel(job.id, "terminal:u1").await.unwrap(),
        CancelOutcome::Requested
    );
    let finish = s
        .render_queue()
        .finish(job.id, "w1", &clip("clips/1/0000000000000001.mp4"))
        .await
        .unwrap();
    assert_eq!(
        finish,
        Finish::Cancelled,
        "the clip is the caller's to delete"
    );
    let ended = s.job(job.id).await.unwrap();
    assert_eq!(ended.state, JobState::Cancelled);
    assert_eq!(ended.clip_key, None);
    let notice = s
        .delivery()
        .claim(&["terminal"], "poster", LEASE)
        .await
        .unwrap()
        .expect("the requester is told it stopped");
    assert_eq!((notice.state, notice.clip_key), (JobState::Cancelled, None));
    // A worker that lost its lease is told so, not that the job was cancelled.
    let other = s.enqueue(&new_job("u2")).await.unwrap();
    s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    let lost = s
        .render_queue()
        .finish(other.id, "w2", &clip("clips/2/0000000000000002.mp4"))
        .await
        .unwrap();
    assert_eq!(lost, Finish::LeaseLost);
}

/// A host whose clock runs an hour ahead neither takes a running job whose
/// lease is valid nor writes times an hour off: times for leases and
/// limits come from the database (fault 5).
async fn a_skewed_host_clock_steals_no_lease(db: Db) {
    let s = &db.store;
    let job = s.enqueue(&new_job("u1")).await.unwrap();
    s.render_queue()
        .claim("honest", LEASE)
        .await
        .unwrap()
        .unwrap();
    let ahead = ManualClock::new(3_600_000);
    let skewed = db.another_host(&ahead).await;
    assert!(
        skewed
            .render_queue()
            .claim("skewed", LEASE)
            .await
            .unwrap()
            .is_none(),
        "the lease is 30 s old at most, whatever this host's clock says"
    );
    let other = skewed.enqueue(&new_job("u2")).await.unwrap();
    assert!(
        (other.created_at - job.created_at).abs() < 60_000,
        "created {} vs {}: one clock for both",
        other.created_at,
        job.created_at
    );
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (job.created_at - wall).abs() < 60_000,
        "the database's clock, not the test's manual one ({} vs {wall})",
        job.created_at
    );
    // The test's clock still moves the store's time (leases expire).
    db.clock.advance(LEASE * 2);
    ahead.advance(LEASE * 2);
    assert!(skewed
        .render_queue()
        .claim("skewed", LEASE)
        .await
        .unwrap()
        .is_some());
}

/// Enqueues of one batch each get their own job even when the database
/// hands out ids in another order than the rows were written (fault 20:
/// the batch matched ids to requesters by sorting them).
#[tokio::test]
async fn batched_enqueues_get_their_own_jobs_whatever_the_id_order() {
    use sqlx::{Connection, Executor};
    let db = postgres().await;
    // Ids counting down: the order of ids is not the order of the rows.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    conn.execute(
        "ALTER SEQUENCE jobs_id_seq INCREMENT BY -1 MINVALUE 1 MAXVALUE 1000000 \
         RESTART WITH 1000000",
    )
    .await
    .unwrap();
    for round in 0..3 {
        let calls: Vec<_> = (0..40)
            .map(|i| {
                let s = db.store.clone();
                let user = format!("r{round}u{i}");
                tokio::spawn(async move {
                    let (job, _) = s.enqueue_placed(&new_job(&user)).await.unwrap();
                    (user, job)
                })
            })
            .collect();
        for call in calls {
            let (user, job) = call.await.unwrap();
            assert_eq!(
                job.user_id, user,
                "job #{} went to the wrong requester",
                job.id
            );
            assert_eq!(db.store.job(job.id).await.unwrap().user_id, user);
        }
    }
}

/// Batches running side by side on PostgreSQL (four per process, two
/// processes here) never queue past `max_queue_length` (fault 15: each
/// counted the queue before the others' inserts).
#[tokio::test]
async fn concurrent_batches_keep_the_queue_length() {
    let db = postgres().await;
    let limits = Limits {
        max_queue_length: 12,
        ..options().limits
    };
    let first = db.store.with_limits(limits.clone());
    let second = db
        .another_host(&ManualClock::new(0))
        .await
        .with_limits(limits);
    for round in 0..3 {
        let calls: Vec<_> = (0..120)
            .map(|i| {
                let s = if i % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let user = format!("r{round}u{i}");
                tokio::spawn(async move { s.enqueue(&new_job(&user)).await.is_ok() })
            })
            .collect();
        let mut queued = 0;
        for call in calls {
            queued += usize::from(call.await.unwrap());
        }
        let waiting = first.list_jobs(Some(JobState::Queued), 1000).await.unwrap();
        assert_eq!((queued, waiting.len()), (12, 12), "round {round}");
        for job in waiting {
            first.request_cancel(job.id, "test").await.unwrap();
        }
    }
}

/// An outcome pending for a platform nobody in this process serves costs
/// its poller no write transaction (fault 15): with SQLite's write lock
/// held by another connection, the poll still answers at once.
#[tokio::test]
async fn a_poll_for_unserved_platforms_takes_no_write_lock() {
    use sqlx::{Connection, Executor};
    let db = sqlite().await;
    assert_eq!(db.store.backend(), Backend::Sqlite);
    let s = &db.store;
    let discord = s
        .enqueue(&NewJob {
            platform: "discord".into(),
            ..new_job("u1")
        })
        .await
        .unwrap();
    s.render_queue().claim("w1", LEASE).await.unwrap().unwrap();
    s.render_queue()
        .finish(discord.id, "w1", &clip("clips/1/0000000000000001.mp4"))
        .await
        .unwrap();
    let mut writer = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    writer.execute("BEGIN IMMEDIATE").await.unwrap();
    let poll = tokio::time::timeout(
        Duration::from_secs(3),
        s.delivery()
            .claim(&["terminal", "telegram"], "poster", LEASE),
    )
    .await
    .expect("the poll waited for the write lock");
    assert!(poll.unwrap().is_none());
    writer.execute("ROLLBACK").await.unwrap();
    let served = s
        .delivery()
        .claim(&["discord"], "poster", LEASE)
        .await
        .unwrap();
    assert_eq!(served.map(|job| job.id), Some(discord.id));
}

/// A job rendered and posted: its clip object exists and its key is set.
async fn delivered(s: &Store, clips: &ClipStore, user: &str) -> Job {
    let job = s.enqueue(&new_job(user)).await.unwrap();
    let claimed = s.render_queue().claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, job.id);
    let key = ClipStore::new_key(job.id);
    clips.put(&key, Bytes::from_static(b"mp4")).await.unwrap();
    let finish = s.render_queue().finish(job.id, "w", &clip(&key)).await;
    assert_eq!(finish.unwrap(), Finish::Encoded);
    s.delivery()
        .claim(&["terminal"], "p", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert!(s
        .delivery()
        .mark_delivered(job.id, "p", "{}")
        .await
        .unwrap());
    s.job(job.id).await.unwrap()
}

fn local_clips(dir: &tempfile::TempDir) -> ClipStore {
    ClipStore::open(&ClipStoreConfig::Local {
        root: dir.path().join("clips"),
    })
    .unwrap()
}

/// Deleting a clip while clip storage is down changes nothing, so "nothing
/// changed" is the truth; once it is back the clip goes, data then key
/// (fault 4: the key went first and the object stayed, orphaned).
async fn a_clip_is_deleted_object_first(db: Db) {
    let s = &db.store;
    let dir = tempfile::tempdir().unwrap();
    let clips = local_clips(&dir);
    let job = delivered(s, &clips, "u1").await;
    let key = job.clip_key.clone().unwrap();
    let outage = StorageOutage::default();
    let flaky = clips.with_outage(&outage);
    outage.start();
    assert!(s.delete_clip(job.id, "terminal:u1", &flaky).await.is_err());
    assert_eq!(s.job(job.id).await.unwrap().clip_key, Some(key.clone()));
    assert!(clips.get(&key).await.is_ok(), "the data is still there");
    outage.end();
    assert_eq!(
        s.delete_clip(job.id, "terminal:u1", &flaky).await.unwrap(),
        ClipDeletion::Deleted
    );
    assert_eq!(s.job(job.id).await.unwrap().clip_key, None);
    assert!(clips.get(&key).await.is_err(), "the data is gone");
    assert_eq!(
        s.delete_clip(job.id, "terminal:u1", &flaky).await.unwrap(),
        ClipDeletion::NoClip
    );
}

/// The retention sweep (fault 10: nothing was ever deleted): clips of jobs
/// ended `clips_days` ago, jobs and their events `jobs_days` ago, worker
/// rows not seen for a day, and clip objects no job refers to once older
/// than a day. Active jobs, recent clips and other objects stay.
async fn retention_removes_old_clips_jobs_workers_and_orphans(db: Db) {
    let s = &db.store;
    let dir = tempfile::tempdir().unwrap();
    let clips = local_clips(&dir);
    let keep = Retention {
        clips_days: Some(30),
        jobs_days: Some(60),
    };
    let old = delivered(s, &clips, "u1").await;
    let old_key = old.clip_key.clone().unwrap();
    let failed = s.enqueue(&new_job("u2")).await.unwrap();
    s.render_queue().claim("w", LEASE).await.unwrap().unwrap();
    let fatal = reel_store::RenderFailure::Fatal("no".into());
    s.render_queue().end(failed.id, "w", &fatal).await.unwrap();
    let notice = s.delivery().claim(&["terminal"], "p", LEASE).await.unwrap();
    assert_eq!(notice.map(|job| job.id), Some(failed.id));
    assert!(s
        .delivery()
        .mark_outcome_posted(failed.id, "p")
        .await
        .unwrap());
    s.register_worker("gone", "host", "testsrc").await.unwrap();
    let orphan = ClipStore::new_key(999_999);
    clips.put(&orphan, Bytes::from_static(b"x")).await.unwrap();
    clips
        .put("notes/keep.txt", Bytes::from_static(b"x"))
        .await
        .unwrap();

    // A fresh orphan may be an upload about to be recorded: it stays.
    let first = s.sweep(&clips, &keep).await.unwrap();
    assert_eq!(
        (first.clips, first.jobs, first.workers, first.orphans),
        (0, 0, 0, 0)
    );
    assert!(clips.get(&orphan).await.is_ok());

    db.clock.advance(Duration::from_secs(40 * 86_400));
    s.register_worker("alive", "host", "testsrc").await.unwrap();
    let recent = delivered(s, &clips, "u3").await;
    let active = s.enqueue(&new_job("u4")).await.unwrap();
    let second = s.sweep(&clips, &keep).await.unwrap();
    assert_eq!(
        (second.clips, second.jobs, second.workers, second.orphans),
        (1, 0, 1, 1)
    );
    assert_eq!(s.job(old.id).await.unwrap().clip_key, None);
    assert!(
        clips.get(&old_key).await.is_err(),
        "the old clip's data is gone"
    );
    assert!(clips.get(&orphan).await.is_err(), "the orphan is gone");
    assert!(clips.get("notes/keep.txt").await.is_ok(), "not a clip key");
    assert!(clips.get(recent.clip_key.as_deref().unwrap()).await.is_ok());
    let workers: Vec<String> = s
        .live_workers()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(workers, ["alive"]);

    db.clock.advance(Duration::from_secs(25 * 86_400));
    let third = s.sweep(&clips, &keep).await.unwrap();
    assert_eq!((third.clips, third.jobs), (0, 2), "{third:?}");
    for gone in [old.id, failed.id] {
        assert!(s.job(gone).await.is_err(), "job #{gone} is deleted");
        assert!(s.events(gone).await.unwrap().is_empty(), "with its events");
    }
    assert_eq!(s.job(recent.id).await.unwrap().state, JobState::Delivered);
    assert_eq!(s.job(active.id).await.unwrap().state, JobState::Queued);
}
