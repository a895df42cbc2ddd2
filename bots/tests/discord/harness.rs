//! The Discord adapter running against the fake Discord, with its own
//! SQLite database and clip folder, and a hand-driven "worker" that walks
//! jobs through the store with a real (tiny) MP4.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reel_bots::core::{ChatSink, CommandCore, OutcomePoster, ProgressWatcher, RenderSettings};
use reel_bots::discord::{self, DiscordSink, Options};
use reel_consent::{CameoRegistry, ConsentGate, MasterKey, NoCameoRegistry};
use reel_store::{ClipStore, ClipStoreConfig, Job, JobState, Limits, Store, StoreOptions};
use tokio_util::sync::CancellationToken;

use crate::fake_discord::{FakeDiscord, TOKEN};

#[path = "../common/cameos.rs"]
pub mod cameos;
#[path = "../common/fake_worker.rs"]
mod fake_worker;
#[allow(unused_imports)] // not every test binary uses both
pub use fake_worker::{lossless_mp4, tiny_mp4, WORKER};

pub const GUILD: u64 = 3_000_000;

pub struct Harness {
    pub fake: FakeDiscord,
    pub store: Store,
    pub clips: ClipStore,
    pub options: Options,
    /// Set where `/cameo` is enabled (the core's gate too).
    pub registry: Option<CameoRegistry>,
    db_url: String,
    shutdown: CancellationToken,
    adapter: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Commands registered in [`GUILD`] (as with `discord.dev_guild`).
    pub async fn start() -> Self {
        Self::start_with(Some(GUILD), 8).await
    }

    /// `dev_guild`: `None` registers globally. `connections`: the store's pool.
    pub async fn start_with(dev_guild: Option<u64>, connections: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = reel_store::testing::sqlite_url_in(dir.path());
        Self::start_on(db_url, dir, dev_guild, connections).await
    }

    /// On a fresh PostgreSQL schema (`REEL_TEST_POSTGRES_URL`).
    pub async fn start_postgres() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = reel_store::testing::fresh_postgres_database().await;
        Self::start_on(db_url, dir, Some(GUILD), 8).await
    }

    /// With `/cameo` enabled (a registry, the stand-in recording checks),
    /// on SQLite or, with `postgres`, a fresh PostgreSQL database.
    pub async fn start_with_cameos(postgres: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = match postgres {
            true => reel_store::testing::fresh_postgres_database().await,
            false => reel_store::testing::sqlite_url_in(dir.path()),
        };
        let store = open_store(&db_url, 8).await;
        let registry = CameoRegistry::new(store.clone(), MasterKey::generate());
        Self::start_full(db_url, dir, Some(GUILD), 8, Some(registry)).await
    }

    async fn start_on(
        db_url: String,
        dir: tempfile::TempDir,
        dev_guild: Option<u64>,
        connections: u32,
    ) -> Self {
        Self::start_full(db_url, dir, dev_guild, connections, None).await
    }

    async fn start_full(
        db_url: String,
        dir: tempfile::TempDir,
        dev_guild: Option<u64>,
        connections: u32,
        registry: Option<CameoRegistry>,
    ) -> Self {
        // RUST_LOG=reel_bots=debug,serenity=debug shows what the adapter did.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
        let fake = FakeDiscord::start().await;
        let store = open_store(&db_url, connections).await;
        let clips = ClipStore::open(&ClipStoreConfig::Local {
            root: dir.path().join("clips"),
        })
        .unwrap();
        let options = Options {
            api_base: Some(fake.api.clone()),
            dev_guild,
            start_retry: reel_bots::retry::Backoff {
                tries: 4,
                first: Duration::from_millis(20),
                max: Duration::from_millis(80),
            },
        };
        let (shutdown, adapter) = spawn_adapter(&store, &clips, &options, registry.as_ref());
        let h = Self {
            fake,
            store,
            clips,
            options,
            registry,
            db_url,
            shutdown,
            adapter,
            _dir: dir,
        };
        h.wait_until_registered(1).await;
        h
    }

    /// Waits for IDENTIFY number `n` and the command registration after it.
    async fn wait_until_registered(&self, n: usize) {
        self.fake.wait_for_op(2, n).await;
        self.fake.wait_for("PUT", "/applications/", n).await;
    }

    /// Stops the adapter and starts a new one on a fresh database handle,
    /// as a restarted process would.
    pub async fn restart(&mut self) {
        self.shutdown().await;
        let identified = self.fake.gateway_ops(2).len();
        self.store = open_store(&self.db_url, 8).await;
        (self.shutdown, self.adapter) = spawn_adapter(
            &self.store,
            &self.clips,
            &self.options,
            self.registry.as_ref(),
        );
        self.wait_until_registered(identified + 1).await;
    }

    pub fn sink(&self) -> Arc<DiscordSink> {
        let http = Arc::new(discord::http(TOKEN, &self.options));
        Arc::new(DiscordSink::new(
            http,
            reel_bots::core::ChatHandles::new(self.store.clone()),
        ))
    }

    pub fn poster(&self) -> OutcomePoster {
        let sinks: Vec<Arc<dyn ChatSink>> = vec![self.sink()];
        let gate: Arc<dyn ConsentGate> = match &self.registry {
            Some(registry) => Arc::new(registry.clone()),
            None => Arc::new(NoCameoRegistry),
        };
        OutcomePoster::new(
            self.store.clone(),
            self.clips.clone(),
            gate,
            sinks,
            "poster".into(),
        )
    }

    pub fn watcher(&self) -> ProgressWatcher {
        ProgressWatcher::new(self.store.clone(), self.sink(), Duration::from_millis(50))
    }

    pub async fn jobs(&self) -> Vec<Job> {
        self.store.list_jobs(None, 10_000).await.unwrap()
    }

    /// Stops the adapter; it must stop promptly.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    /// Stops the adapter, keeping the database and the fake.
    pub async fn shutdown(&mut self) {
        self.shutdown.cancel();
        let adapter = std::mem::replace(&mut self.adapter, tokio::spawn(async {}));
        tokio::time::timeout(Duration::from_secs(10), adapter)
            .await
            .expect("the adapter stops within 10 s")
            .unwrap();
    }

    /// Waits until job `id` exists and its status message id is recorded.
    pub async fn wait_for_job(&self, id: i64) -> Job {
        let started = std::time::Instant::now();
        loop {
            if let Ok(job) = self.store.job(id).await {
                let handle = discord::ReplyHandle::parse(&job.reply_handle);
                if handle.is_some_and(|h| h.message_id.is_some()) {
                    return job;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "job #{id} was not queued with its message id"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Claims `job_id` and reports `step` of `total`, as a worker does.
    pub async fn start_render(&self, job_id: i64, step: u32, total: u32) {
        fake_worker::start_render(&self.store, job_id, step, total).await;
    }

    pub async fn report_progress(&self, job_id: i64, step: u32, total: u32) {
        fake_worker::report_progress(&self.store, job_id, step, total).await;
    }

    /// Stores `data` (default: a real tiny MP4) for `job_id`, marks it encoded.
    pub async fn finish_render_with(&self, job_id: i64, data: Bytes) -> Bytes {
        fake_worker::finish_render(&self.store, &self.clips, job_id, data).await
    }

    pub async fn finish_render(&self, job_id: i64) -> Bytes {
        self.finish_render_with(job_id, tiny_mp4().await).await
    }

    /// Renders and posts `job_id` (queued): ends delivered.
    pub async fn deliver(&self, job_id: i64) -> Job {
        self.start_render(job_id, 1, 2).await;
        self.finish_render(job_id).await;
        assert!(self.poster().post_next().await.unwrap());
        let job = self.store.job(job_id).await.unwrap();
        assert_eq!(job.state, JobState::Delivered);
        job
    }
}

async fn open_store(url: &str, connections: u32) -> Store {
    let options = StoreOptions {
        max_connections: connections,
        limits: limits(),
    };
    Store::open(url, options).await.unwrap()
}

pub fn limits() -> Limits {
    Limits {
        max_active_per_user: 100,
        max_per_user_per_hour: 1000,
        max_queue_length: 10_000,
        ..Limits::default()
    }
}

fn spawn_adapter(
    store: &Store,
    clips: &ClipStore,
    options: &Options,
    registry: Option<&CameoRegistry>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let gate: Arc<dyn ConsentGate> = match registry {
        Some(registry) => Arc::new(registry.clone()),
        None => Arc::new(NoCameoRegistry),
    };
    let core = CommandCore::new(
        store.clone(),
        clips.clone(),
        gate,
        RenderSettings::default(),
    )
    .with_face_screen(Arc::new(RedPixelFaces));
    let core = match registry {
        Some(registry) => core.with_cameos(registry.clone(), Arc::new(cameos::StandInVerifier)),
        None => core,
    };
    let shutdown = CancellationToken::new();
    let adapter = tokio::spawn({
        let (options, shutdown) = (options.clone(), shutdown.clone());
        async move { discord::run(TOKEN, core, &options, shutdown).await.unwrap() }
    });
    (shutdown, adapter)
}

/// Writes `bytes` to a temp file and probes it as an MP4.
pub fn probe_upload(bytes: &[u8]) -> reel_media::ClipInfo {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("uploaded.mp4");
    std::fs::write(&path, bytes).unwrap();
    reel_media::probe(&path).expect("the upload decodes as MP4")
}

/// The upload limit of the adapter's core (the default).
pub const PICTURE_LIMIT: u64 = reel_bots::core::DEFAULT_MAX_UPLOAD_BYTES;

/// A stand-in for the face models: a picture whose top-left pixel is pure
/// red shows "a face".
pub struct RedPixelFaces;

#[async_trait::async_trait]
impl reel_bots::core::FaceScreen for RedPixelFaces {
    async fn faces(
        &self,
        image: Arc<reel_media::RgbImage>,
    ) -> Result<usize, reel_bots::core::ScreenUnavailable> {
        Ok(usize::from(image.data.get(..3) == Some(&[255, 0, 0][..])))
    }
}
