//! Pictures sent with `/video` (`job_pictures`), on both backends: stored
//! in the job's enqueue, read back by id, kept across a reopen, and gone
//! with the clip (deleted by its requester, or expired by retention) and
//! with the job row.

use std::time::Duration;

use bytes::Bytes;
use reel_store::testing::{fresh_postgres_database, open_with_clock, sqlite_url_in, ManualClock};
use reel_store::{
    ClipDeletion, ClipRecord, ClipStore, ClipStoreConfig, Finish, Job, JobPicture, Limits, NewJob,
    RenderFailure, Retention, Store, StoreOptions,
};

const LEASE: Duration = Duration::from_secs(30);
const DAY: Duration = Duration::from_secs(86_400);

struct Db {
    store: Store,
    clock: ManualClock,
    url: String,
    _dir: Option<tempfile::TempDir>,
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

on_both_backends!(
    a_picture_is_stored_with_its_job_and_survives_a_reopen,
    a_picture_goes_with_its_deleted_clip,
    retention_removes_pictures_with_clips_and_jobs,
    a_say_line_is_stored_with_its_job_and_survives_a_reopen,
);

fn png(tag: u8) -> JobPicture {
    // Any bytes will do here: the command core checks pictures, the store keeps them.
    JobPicture::new(vec![0x89, b'P', b'N', b'G', tag, 0, 255, 7])
}

fn new_job(user: &str, picture: Option<JobPicture>) -> NewJob {
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
        picture,
        say_line: None,
    }
}

fn local_clips(dir: &tempfile::TempDir) -> ClipStore {
    ClipStore::open(&ClipStoreConfig::Local {
        root: dir.path().join("clips"),
    })
    .unwrap()
}

async fn delivered(s: &Store, clips: &ClipStore, user: &str, picture: JobPicture) -> Job {
    let job = s.enqueue(&new_job(user, Some(picture))).await.unwrap();
    let claimed = s.render_queue().claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, job.id);
    let key = ClipStore::new_key(job.id);
    clips.put(&key, Bytes::from_static(b"mp4")).await.unwrap();
    let record = ClipRecord {
        key: key.clone(),
        bytes: 3,
        render_ms: 100,
        renderer: "testsrc".into(),
    };
    let finish = s.render_queue().finish(job.id, "w", &record).await;
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

async fn a_picture_is_stored_with_its_job_and_survives_a_reopen(db: Db) {
    let s = &db.store;
    let with = s.enqueue(&new_job("u1", Some(png(1)))).await.unwrap();
    let without = s.enqueue(&new_job("u2", None)).await.unwrap();
    assert_eq!(s.job_picture(with.id).await.unwrap(), Some(png(1)));
    assert_eq!(s.job_picture(without.id).await.unwrap(), None);
    // Another process on the same database (a restarted one) reads it too.
    let reopened = open_with_clock(&db.url, options(), &db.clock)
        .await
        .unwrap();
    assert_eq!(reopened.job_picture(with.id).await.unwrap(), Some(png(1)));
    // A replayed request queues nothing new and stores no second picture.
    let keyed = NewJob {
        request_key: Some("msg:1".into()),
        ..new_job("u3", Some(png(3)))
    };
    let first = s.enqueue(&keyed).await.unwrap();
    let again = s.enqueue(&keyed).await.unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(s.job_picture(first.id).await.unwrap(), Some(png(3)));
}

async fn a_picture_goes_with_its_deleted_clip(db: Db) {
    let s = &db.store;
    let dir = tempfile::tempdir().unwrap();
    let clips = local_clips(&dir);
    let job = delivered(s, &clips, "u1", png(1)).await;
    let other = delivered(s, &clips, "u2", png(2)).await;
    assert_eq!(
        s.delete_clip(job.id, "terminal:u1", &clips).await.unwrap(),
        ClipDeletion::Deleted
    );
    assert_eq!(s.job_picture(job.id).await.unwrap(), None);
    assert_eq!(s.job_picture(other.id).await.unwrap(), Some(png(2)));
}

async fn retention_removes_pictures_with_clips_and_jobs(db: Db) {
    let s = &db.store;
    let dir = tempfile::tempdir().unwrap();
    let clips = local_clips(&dir);
    let keep = Retention {
        clips_days: Some(30),
        jobs_days: Some(60),
    };
    let old = delivered(s, &clips, "u1", png(1)).await;
    // A job that ended without a clip keeps its picture no longer.
    let failed = s.enqueue(&new_job("u2", Some(png(2)))).await.unwrap();
    s.render_queue().claim("w", LEASE).await.unwrap().unwrap();
    let fatal = RenderFailure::Fatal("no".into());
    s.render_queue().end(failed.id, "w", &fatal).await.unwrap();
    let notice = s.delivery().claim(&["terminal"], "p", LEASE).await.unwrap();
    assert_eq!(notice.map(|job| job.id), Some(failed.id));
    assert!(s
        .delivery()
        .mark_outcome_posted(failed.id, "p")
        .await
        .unwrap());

    let first = s.sweep(&clips, &keep).await.unwrap();
    assert_eq!(first.pictures, 0);
    assert_eq!(s.job_picture(old.id).await.unwrap(), Some(png(1)));

    db.clock.advance(DAY * 40);
    let recent = delivered(s, &clips, "u3", png(3)).await;
    let queued = s.enqueue(&new_job("u4", Some(png(4)))).await.unwrap();
    let second = s.sweep(&clips, &keep).await.unwrap();
    // The old clip's picture went with the clip; the failed job's is counted.
    assert_eq!((second.clips, second.pictures), (1, 1), "{second:?}");
    assert_eq!(s.job_picture(old.id).await.unwrap(), None);
    assert_eq!(s.job_picture(failed.id).await.unwrap(), None);
    assert_eq!(s.job_picture(recent.id).await.unwrap(), Some(png(3)));
    assert_eq!(s.job_picture(queued.id).await.unwrap(), Some(png(4)));

    // Job rows go later; the table holds no picture of a deleted job.
    db.clock.advance(DAY * 25);
    let third = s.sweep(&clips, &keep).await.unwrap();
    assert_eq!(third.jobs, 2, "{third:?}");
    assert!(s.job(old.id).await.is_err());
    assert_eq!(s.job_picture(queued.id).await.unwrap(), Some(png(4)));
}

/// `say:"…"` (issue 17): the line is a column of the job, read back by
/// every query that reads jobs (the worker's claim included) and by a
/// restarted process; a job without one reads `None`.
async fn a_say_line_is_stored_with_its_job_and_survives_a_reopen(db: Db) {
    let s = &db.store;
    let line = "hello there, it's \"me\" — ünïcödé".to_string();
    let with = NewJob {
        say_line: Some(line.clone()),
        ..new_job("u1", None)
    };
    let queued = s.enqueue(&with).await.unwrap();
    let silent = s.enqueue(&new_job("u2", None)).await.unwrap();
    assert_eq!(queued.say_line.as_deref(), Some(line.as_str()));
    assert_eq!(silent.say_line, None);
    let reopened = open_with_clock(&db.url, options(), &db.clock)
        .await
        .unwrap();
    assert_eq!(
        reopened.job(queued.id).await.unwrap().say_line.as_deref(),
        Some(line.as_str())
    );
    assert_eq!(reopened.job(silent.id).await.unwrap().say_line, None);
    let claimed = reopened
        .render_queue()
        .claim("w", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, queued.id);
    assert_eq!(claimed.say_line.as_deref(), Some(line.as_str()));
}
