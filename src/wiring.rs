//! Builds the shared pieces from config: the store, clip storage, the
//! renderer, the command core and workers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rand::Rng;
use reel_bots::core::CommandCore;
use reel_consent::{ConsentGate, NoCameoRegistry};
use reel_engine::{Renderer, TestPattern};
use reel_store::{ClipStore, Store};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::worker::{Worker, WorkerSettings};

pub struct App {
    pub config: Config,
    pub store: Store,
    pub clips: ClipStore,
    pub gate: Arc<dyn ConsentGate>,
}

impl App {
    /// Opens the database (running migrations) and clip storage.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        let store = Store::open(&config.database.url, config.database.max_connections).await?;
        let clips = ClipStore::open(&config.clip_store()).context("opening clip storage")?;
        Ok(Self {
            config,
            store,
            clips,
            gate: Arc::new(NoCameoRegistry),
        })
    }

    pub fn core(&self) -> CommandCore {
        CommandCore::new(
            self.store.clone(),
            self.gate.clone(),
            self.config.render_settings(),
            self.config.limits(),
        )
    }

    pub fn renderer(&self) -> Arc<dyn Renderer> {
        make_renderer(&self.config)
    }

    /// Starts `count` render workers sharing one renderer.
    pub fn spawn_workers(&self, count: u32, tasks: &mut JoinSet<()>, shutdown: &CancellationToken) {
        let renderer = self.renderer();
        let w = &self.config.workers;
        for _ in 0..count {
            let worker = Worker {
                store: self.store.clone(),
                clips: self.clips.clone(),
                renderer: renderer.clone(),
                gate: self.gate.clone(),
                settings: WorkerSettings {
                    id: process_unique_id("worker"),
                    lease: Duration::from_secs(w.lease_secs),
                    heartbeat: Duration::from_secs(w.heartbeat_secs),
                    poll: Duration::from_millis(w.poll_ms),
                    crf: self.config.render.crf,
                },
            };
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                if let Err(error) = worker.run(shutdown).await {
                    tracing::error!(%error, "worker stopped with an error");
                }
            });
        }
    }
}

/// The renderer named in config (validated at load time).
pub fn make_renderer(config: &Config) -> Arc<dyn Renderer> {
    let delay = config.render.testsrc_step_delay_ms;
    if delay > 0 {
        Arc::new(TestPattern::with_step_delay(Duration::from_millis(delay)))
    } else {
        Arc::new(TestPattern::new())
    }
}

/// `<kind>-<host>-<pid>-<random>`: distinct across processes and hosts.
pub fn process_unique_id(kind: &str) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    let nonce: u32 = rand::thread_rng().gen();
    format!("{kind}-{host}-{}-{nonce:08x}", std::process::id())
}
