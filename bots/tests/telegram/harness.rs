//! The adapter running against the fake Bot API, with its own SQLite
//! database and clip folder, and a hand-driven "worker" that walks jobs
//! through the store with a real (tiny) MP4.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reel_bots::core::{
    ChatHandles, ChatSink, CommandCore, OutcomePoster, ProgressWatcher, RenderSettings,
};
use reel_bots::retry::Backoff;
use reel_bots::telegram::{self, Mode, Options, ReplyHandle, TelegramSink, TgBot, ThrottleLimits};
use reel_consent::{CameoRegistry, MasterKey, NoCameoRegistry};
use reel_store::{ClipStore, ClipStoreConfig, Job, JobState, Limits, Store, StoreOptions};
use tokio_util::sync::CancellationToken;

use super::fake::FakeTelegram;

#[path = "../common/cameos.rs"]
pub mod cameos;
#[path = "../common/fake_worker.rs"]
mod fake_worker;
#[allow(unused_imports)] // not every test binary uses both
pub use fake_worker::{lossless_mp4, tiny_mp4, WORKER};

/// No waiting between messages: the throttle's own waits are not what these
/// tests measure (except where they say so).
pub fn fast_limits() -> ThrottleLimits {
    ThrottleLimits {
        messages_per_sec_chat: 1000,
        messages_per_min_chat: 100_000,
        messages_per_min_channel_or_supergroup: 100_000,
        messages_per_sec_overall: 1000,
    }
}

pub struct Harness {
    pub fake: FakeTelegram,
    pub store: Store,
    pub clips: ClipStore,
    pub bot: TgBot,
    /// Set where `/cameo` is enabled (the core's gate too).
    pub registry: Option<CameoRegistry>,
    db_url: String,
    shutdown: CancellationToken,
    adapter: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = reel_store::testing::sqlite_url_in(dir.path());
        Self::start_on(db_url, dir, Mode::Polling, fast_limits()).await
    }

    /// On SQLite, with these throttle limits (e.g. Telegram's own).
    pub async fn start_throttled(limits: ThrottleLimits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = reel_store::testing::sqlite_url_in(dir.path());
        Self::start_on(db_url, dir, Mode::Polling, limits).await
    }

    /// Updates come by webhook: the adapter listens on a free loopback port
    /// (returned) and registers the webhook with the fake.
    pub async fn start_webhook() -> (Self, std::net::SocketAddr) {
        let dir = tempfile::tempdir().unwrap();
        let db_url = reel_store::testing::sqlite_url_in(dir.path());
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let listen = free.local_addr().unwrap();
        drop(free);
        let url = "https://reel.example/telegram/hook".parse().unwrap();
        let h = Self::start_on(db_url, dir, Mode::Webhook { url, listen }, fast_limits()).await;
        (h, listen)
    }

    /// On a fresh PostgreSQL schema (`REEL_TEST_POSTGRES_URL`).
    pub async fn start_postgres() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = reel_store::testing::fresh_postgres_database().await;
        Self::start_on(db_url, dir, Mode::Polling, fast_limits()).await
    }

    /// With `/cameo` enabled (a registry, the stand-in recording checks),
    /// on SQLite or, with `postgres`, on a fresh PostgreSQL database.
    pub async fn start_with_cameos(postgres: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = match postgres {
            true => reel_store::testing::fresh_postgres_database().await,
            false => reel_store::testing::sqlite_url_in(dir.path()),
        };
        let store = open_store(&db_url).await;
        let registry = CameoRegistry::new(store.clone(), MasterKey::generate());
        Self::start_with(db_url, dir, Mode::Polling, fast_limits(), Some(registry)).await
    }

    async fn start_on(
        db_url: String,
        dir: tempfile::TempDir,
        mode: Mode,
        limits: ThrottleLimits,
    ) -> Self {
        Self::start_with(db_url, dir, mode, limits, None).await
    }

    async fn start_with(
        db_url: String,
        dir: tempfile::TempDir,
        mode: Mode,
        limits: ThrottleLimits,
        registry: Option<CameoRegistry>,
    ) -> Self {
        let fake = FakeTelegram::start().await;
        let store = open_store(&db_url).await;
        let clips = ClipStore::open(&ClipStoreConfig::Local {
            root: dir.path().join("clips"),
        })
        .unwrap();
        let core = match &registry {
            Some(registry) => cameo_core_for(&store, &clips, registry),
            None => core_for(&store, &clips),
        };
        let (bot, shutdown, adapter) = spawn_adapter(&fake, core, mode.clone(), limits);
        match mode {
            Mode::Polling => fake.wait_for("getUpdates", 1).await,
            Mode::Webhook { .. } => fake.wait_for("setWebhook", 1).await,
        };
        Self {
            fake,
            store,
            clips,
            bot,
            registry,
            db_url,
            shutdown,
            adapter,
            _dir: dir,
        }
    }

    /// Stops the adapter and starts a new one on a fresh database handle,
    /// as a restarted process would.
    pub async fn restart(&mut self) {
        self.shutdown().await;
        let polls = self.fake.calls_to("getUpdates").len();
        self.store = open_store(&self.db_url).await;
        let core = match &self.registry {
            Some(registry) => cameo_core_for(&self.store, &self.clips, registry),
            None => core_for(&self.store, &self.clips),
        };
        (self.bot, self.shutdown, self.adapter) =
            spawn_adapter(&self.fake, core, Mode::Polling, fast_limits());
        self.fake.wait_for("getUpdates", polls + 1).await;
    }

    pub fn sink(&self) -> Arc<TelegramSink> {
        Arc::new(TelegramSink::new(
            self.bot.clone(),
            ChatHandles::new(self.store.clone()),
            50_000_000,
        ))
    }

    pub fn poster(&self) -> OutcomePoster {
        let sinks: Vec<Arc<dyn ChatSink>> = vec![self.sink()];
        let gate: Arc<dyn reel_consent::ConsentGate> = match &self.registry {
            Some(registry) => Arc::new(registry.clone()),
            None => Arc::new(NoCameoRegistry),
        };
        let poster = OutcomePoster::new(
            self.store.clone(),
            self.clips.clone(),
            gate,
            sinks,
            "poster".into(),
        );
        match &self.registry {
            Some(registry) => poster
                .with_approvals(registry.clone())
                .with_approval_poll(Duration::from_millis(50)),
            None => poster,
        }
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

    /// Stops the adapter, then checks its webhook was deleted.
    pub async fn stop_webhook(mut self) {
        self.shutdown().await;
        self.fake.wait_for("deleteWebhook", 1).await;
    }

    /// Stops the adapter, keeping the database and the fake.
    pub async fn shutdown(&mut self) {
        self.shutdown.cancel();
        let adapter = std::mem::replace(&mut self.adapter, tokio::spawn(async {}));
        tokio::time::timeout(Duration::from_secs(5), adapter)
            .await
            .expect("the adapter stops within 5 s")
            .unwrap();
    }

    /// The id of `job_id`'s "queued" message, once the adapter has stored
    /// it (just after sendMessage answered).
    pub async fn status_message_id(&self, job_id: i64) -> i32 {
        let started = std::time::Instant::now();
        loop {
            let job = self.store.job(job_id).await.unwrap();
            if let Some(id) = ReplyHandle::parse(&job.reply_handle).status_message_id {
                return id;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the queued message's id was never stored"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Claims `job_id` and reports `step` of `total`, as a worker does.
    pub async fn start_render(&self, job_id: i64, step: u32, total: u32) {
        fake_worker::start_render(&self.store, job_id, step, total).await;
    }

    /// Stores a real MP4 for `job_id` and marks it encoded.
    pub async fn finish_render(&self, job_id: i64) -> Bytes {
        fake_worker::finish_render(&self.store, &self.clips, job_id, tiny_mp4().await).await
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

pub async fn open_store(url: &str) -> Store {
    // As many connections as `reel serve` opens by default.
    let options = StoreOptions {
        max_connections: 8,
        limits: Limits {
            max_active_per_user: 100,
            max_per_user_per_hour: 100,
            max_queue_length: 10_000,
            ..Limits::default()
        },
    };
    Store::open(url, options).await.unwrap()
}

/// The command core the adapter under test uses.
pub fn core_for(store: &Store, clips: &ClipStore) -> CommandCore {
    let limits = Limits {
        max_active_per_user: 100,
        max_per_user_per_hour: 100,
        max_queue_length: 10_000,
        ..Limits::default()
    };
    CommandCore::new(
        store.with_limits(limits),
        clips.clone(),
        Arc::new(NoCameoRegistry),
        RenderSettings::default(),
    )
    .with_face_screen(Arc::new(RedPixelFaces))
    .with_max_upload_bytes(PICTURE_LIMIT)
}

/// The upload limit of the adapter's core.
pub const PICTURE_LIMIT: u64 = 1_000_000;

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

/// The command core with `/cameo` enabled: `registry` is its gate too.
pub fn cameo_core_for(store: &Store, clips: &ClipStore, registry: &CameoRegistry) -> CommandCore {
    let limits = Limits {
        max_active_per_user: 100,
        max_per_user_per_hour: 100,
        max_queue_length: 10_000,
        ..Limits::default()
    };
    CommandCore::new(
        store.with_limits(limits),
        clips.clone(),
        Arc::new(registry.clone()),
        RenderSettings::default(),
    )
    .with_cameos(registry.clone(), Arc::new(cameos::StandInVerifier))
}

/// Options that reach `fake`.
pub fn options_for(fake: &FakeTelegram, mode: Mode, throttle: ThrottleLimits) -> Options {
    Options {
        api_url: fake.url.clone(),
        limits: throttle,
        poll_timeout: Duration::from_secs(1),
        mode,
        start_retry: fast_retry(),
    }
}

fn spawn_adapter(
    fake: &FakeTelegram,
    core: CommandCore,
    mode: Mode,
    throttle: ThrottleLimits,
) -> (TgBot, CancellationToken, tokio::task::JoinHandle<()>) {
    let options = options_for(fake, mode, throttle);
    let bot = telegram::connect("123456:TEST-TOKEN", &options).unwrap();
    let shutdown = CancellationToken::new();
    let adapter = tokio::spawn({
        let (bot, shutdown) = (bot.clone(), shutdown.clone());
        async move { telegram::run(bot, core, &options, shutdown).await.unwrap() }
    });
    (bot, shutdown, adapter)
}

/// Start retries that fit in a test: 4 tries, 20-80 ms apart.
pub fn fast_retry() -> Backoff {
    Backoff {
        tries: 4,
        first: Duration::from_millis(20),
        max: Duration::from_millis(80),
    }
}
