//! Shared helpers for the command-core tests: a store on SQLite or on a fresh
//! PostgreSQL database (with a manual clock), a local clip folder, and a chat
//! sink that records what it was asked to show.
#![allow(dead_code, unused_macros)]

pub mod cameos;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reel_bots::core::{
    ChatSink, ClipFile, CommandCore, JobLocks, RenderSettings, Requester, SinkError,
};
use reel_consent::{CameoRegistry, MasterKey, NoCameoRegistry};
use reel_store::testing::{fresh_postgres_database, open_with_clock, sqlite_url_in, ManualClock};
use reel_store::{
    ClipRecord, ClipStore, ClipStoreConfig, Finish, Job, JobState, Limits, NewJob, Store,
    StoreOptions,
};

pub const T0: i64 = 1_800_000_000_000;
pub const LEASE: Duration = Duration::from_secs(30);

/// A database of the test's own, its clock, and a folder for clips.
pub struct Db {
    pub store: Store,
    pub clock: ManualClock,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Db {
    /// A second handle on the same database, as a restarted process has.
    pub async fn reopen(&self) -> Store {
        open_with_clock(&self.url, options(4), &self.clock)
            .await
            .unwrap()
    }

    pub fn clips(&self) -> ClipStore {
        ClipStore::open(&ClipStoreConfig::Local {
            root: self.dir.path().join("clips"),
        })
        .unwrap()
    }

    /// Every job, newest first: a snapshot to compare before and after.
    pub async fn jobs(&self) -> Vec<Job> {
        self.store.list_jobs(None, 1000).await.unwrap()
    }
}

pub async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url_in(dir.path());
    let clock = ManualClock::new(T0);
    let store = open_with_clock(&url, options(4), &clock).await.unwrap();
    Db {
        store,
        clock,
        url,
        dir,
    }
}

/// Fails (never skips) when `REEL_TEST_POSTGRES_URL` is unset or its server is down.
pub async fn postgres() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_postgres_database().await;
    let clock = ManualClock::new(T0);
    let store = open_with_clock(&url, options(8), &clock).await.unwrap();
    Db {
        store,
        clock,
        url,
        dir,
    }
}

/// Instantiates each `async fn name(db: Db)` once on SQLite and once on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[tokio::test] async fn $name() { super::$name(crate::common::sqlite().await).await } )*
        }
        mod on_postgres {
            $( #[tokio::test] async fn $name() { super::$name(crate::common::postgres().await).await } )*
        }
    };
}

pub fn requester(platform: &str, user: &str) -> Requester {
    Requester {
        platform: platform.into(),
        user_id: user.into(),
        chat_id: format!("{platform}-chat-{user}"),
        reply_handle: format!(r#"{{"user":"{user}"}}"#),
        request_key: None,
        shared_chat: false,
    }
}

pub fn roomy() -> Limits {
    Limits {
        max_active_per_user: 1000,
        max_per_user_per_hour: 1000,
        max_queue_length: 1000,
        ..Limits::default()
    }
}

/// A store handle with roomy limits; a test of the limits makes its own.
fn options(max_connections: u32) -> StoreOptions {
    StoreOptions {
        max_connections,
        limits: roomy(),
    }
}

pub fn cameo_registry(db: &Db) -> CameoRegistry {
    CameoRegistry::new(db.store.clone(), MasterKey::generate())
}

/// A core whose consent gate is `registry`, with `/cameo` enabled and the
/// stand-in recording checks.
pub fn cameo_core(db: &Db, registry: &CameoRegistry) -> CommandCore {
    CommandCore::new(
        db.store.with_limits(roomy()),
        db.clips(),
        Arc::new(registry.clone()),
        RenderSettings::default(),
    )
    .with_cameos(registry.clone(), Arc::new(cameos::StandInVerifier))
}

pub fn core(db: &Db, limits: Limits) -> CommandCore {
    CommandCore::new(
        db.store.with_limits(limits),
        db.clips(),
        Arc::new(NoCameoRegistry),
        RenderSettings::default(),
    )
}

pub fn new_job(platform: &str, user: &str, prompt: &str) -> NewJob {
    NewJob {
        platform: platform.into(),
        user_id: user.into(),
        chat_id: format!("{platform}-chat-{user}"),
        reply_handle: "{}".into(),
        prompt: prompt.into(),
        duration_s: 2,
        width: 128,
        height: 96,
        fps: 12,
        seed: 1234,
        cameo_ids: Vec::new(),
        request_key: None,
        picture: None,
        say_line: None,
    }
}

/// Claims `job_id` for rendering as `worker`; it must be the oldest runnable job.
pub async fn claim(store: &Store, job_id: i64, worker: &str) -> Job {
    let claimed = store
        .render_queue()
        .claim(worker, LEASE)
        .await
        .unwrap()
        .expect("a job to claim");
    assert_eq!(claimed.id, job_id, "the test expected to claim #{job_id}");
    claimed
}

/// Walks `new` to `encoded` the way a worker does: enqueue, claim, store the
/// clip, record it. Returns the encoded job and the clip's bytes.
pub async fn encoded_job(db: &Db, clips: &ClipStore, new: &NewJob, renderer: &str) -> (Job, Bytes) {
    let job = db.store.enqueue(new).await.unwrap();
    claim(&db.store, job.id, "worker-1").await;
    let key = ClipStore::new_key(job.id);
    let data = Bytes::from(format!("fake mp4 for job {} / {}", job.id, new.prompt));
    clips.put(&key, data.clone()).await.unwrap();
    let record = ClipRecord {
        key,
        bytes: data.len() as u64,
        render_ms: 1500,
        renderer: renderer.into(),
    };
    assert_eq!(
        db.store
            .render_queue()
            .finish(job.id, "worker-1", &record)
            .await
            .unwrap(),
        Finish::Encoded
    );
    let job = db.store.job(job.id).await.unwrap();
    assert_eq!(job.state, JobState::Encoded);
    (job, data)
}

/// Posts encoded job `job_id` as a poster would: claimed, marked delivered.
pub async fn deliver(db: &Db, job_id: i64) {
    let platform = db.store.job(job_id).await.unwrap().platform;
    let claimed = db
        .store
        .delivery()
        .claim(&[platform.as_str()], "poster-1", LEASE)
        .await
        .unwrap()
        .expect("an outcome to post");
    assert_eq!(claimed.id, job_id);
    assert!(db
        .store
        .delivery()
        .mark_delivered(job_id, "poster-1", "receipt")
        .await
        .unwrap());
}

/// One thing a [`FakeSink`] was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Progress {
        job: i64,
        text: String,
    },
    Clip {
        job: i64,
        caption: String,
        data: Vec<u8>,
        local_path: Option<std::path::PathBuf>,
        ok: bool,
    },
    Outcome {
        job: i64,
        text: String,
        ok: bool,
    },
}

/// A chat sink that records every call and fails the next `fail` calls.
pub struct FakeSink {
    platform: String,
    pub calls: Mutex<Vec<Call>>,
    fail: AtomicUsize,
    locks: JobLocks,
}

impl FakeSink {
    pub fn new(platform: &str) -> Arc<Self> {
        Self::failing(platform, 0)
    }

    pub fn failing(platform: &str, times: usize) -> Arc<Self> {
        Arc::new(Self {
            locks: JobLocks::default(),
            platform: platform.into(),
            calls: Mutex::new(Vec::new()),
            fail: AtomicUsize::new(times),
        })
    }

    pub fn fail_next(&self, times: usize) {
        self.fail.store(times, Ordering::SeqCst);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Successful clip posts, as (job, caption).
    pub fn posted_clips(&self) -> Vec<(i64, String)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Clip {
                    job,
                    caption,
                    ok: true,
                    ..
                } => Some((job, caption)),
                _ => None,
            })
            .collect()
    }

    /// Successful outcome messages, as (job, text).
    pub fn posted_outcomes(&self) -> Vec<(i64, String)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Outcome {
                    job,
                    text,
                    ok: true,
                } => Some((job, text)),
                _ => None,
            })
            .collect()
    }

    pub fn progress(&self) -> Vec<(i64, String)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Progress { job, text } => Some((job, text)),
                _ => None,
            })
            .collect()
    }

    fn should_fail(&self) -> bool {
        self.fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

#[async_trait]
impl ChatSink for FakeSink {
    fn platform(&self) -> &str {
        &self.platform
    }

    fn locks(&self) -> &JobLocks {
        &self.locks
    }

    async fn show_progress(&self, job: &Job, text: &str) -> Result<bool, SinkError> {
        if self.should_fail() {
            return Err(SinkError("progress: chat API unavailable".into()));
        }
        self.calls.lock().unwrap().push(Call::Progress {
            job: job.id,
            text: text.into(),
        });
        Ok(true)
    }

    async fn post_clip(
        &self,
        job: &Job,
        clip: &ClipFile,
        caption: &str,
    ) -> Result<String, SinkError> {
        // Let another poster run between the read and the record.
        tokio::task::yield_now().await;
        let ok = !self.should_fail();
        self.calls.lock().unwrap().push(Call::Clip {
            job: job.id,
            caption: caption.into(),
            data: clip.data.to_vec(),
            local_path: clip.local_path.clone(),
            ok,
        });
        if ok {
            Ok(format!("msg-{}", job.id))
        } else {
            Err(SinkError("HTTP 502 from the chat API".into()))
        }
    }

    async fn post_outcome(&self, job: &Job, text: &str) -> Result<(), SinkError> {
        tokio::task::yield_now().await;
        let ok = !self.should_fail();
        self.calls.lock().unwrap().push(Call::Outcome {
            job: job.id,
            text: text.into(),
            ok,
        });
        if ok {
            Ok(())
        } else {
            Err(SinkError("HTTP 502 from the chat API".into()))
        }
    }
}

/// A stand-in for the face models: a picture whose top-left pixel is pure
/// red "shows a face"; `unavailable` plays models that are not installed.
pub struct FakeFaceScreen {
    pub unavailable: bool,
    pub calls: AtomicUsize,
}

impl FakeFaceScreen {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            unavailable: false,
            calls: AtomicUsize::new(0),
        })
    }

    pub fn missing_models() -> Arc<Self> {
        Arc::new(Self {
            unavailable: true,
            calls: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl reel_bots::core::FaceScreen for FakeFaceScreen {
    async fn faces(
        &self,
        image: Arc<reel_media::RgbImage>,
    ) -> Result<usize, reel_bots::core::ScreenUnavailable> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.unavailable {
            return Err(reel_bots::core::ScreenUnavailable);
        }
        Ok(usize::from(image.data.get(..3) == Some(&[255, 0, 0][..])))
    }
}

/// A `width`×`height` PNG: a gradient, with a pure red top-left pixel
/// (a "face" to [`FakeFaceScreen`]) when `face`.
pub fn picture_png(width: u32, height: u32, face: bool) -> Vec<u8> {
    let mut image = reel_media::RgbImage::new(width, height);
    for (i, px) in image.data.chunks_exact_mut(3).enumerate() {
        px.copy_from_slice(&[40, (i % 200) as u8, 180]);
    }
    if face {
        image.data[..3].copy_from_slice(&[255, 0, 0]);
    }
    reel_media::encode_png(&image).unwrap()
}

/// The upload limit of [`picture_core`].
pub const PICTURE_LIMIT: u64 = 2_000_000;

/// A core with roomy limits whose pictures are checked by `screen`.
pub fn picture_core(db: &Db, screen: Arc<FakeFaceScreen>) -> CommandCore {
    core(db, roomy())
        .with_face_screen(screen)
        .with_max_upload_bytes(PICTURE_LIMIT)
}
