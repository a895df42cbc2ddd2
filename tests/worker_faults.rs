//! A render worker through the faults of issue 11: a database outage
//! (fault 2), a clip-storage outage after the render (fault 11), a render
//! that runs out of memory (fault 7). The worker runs in this process on
//! the testsrc renderer (wrapped to count or to fail).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{tiny_job, wait_until, Sandbox};
use reel::provenance::ClipFinisher;
use reel::worker::{Worker, WorkerSettings};
use reel_consent::NoCameoRegistry;
use reel_engine::ltx::pipeline::PipelineError;
use reel_engine::{
    CancelToken, Progress, RenderError, RenderRequest, Rendered, Renderer, TestPattern,
};
use reel_store::testing::{set_postgres_reachable, StorageOutage};
use reel_store::{ClipStore, ClipStoreConfig, JobState, Store};
use tokio_util::sync::CancellationToken;

/// testsrc, counting its renders.
#[derive(Default)]
struct Counting {
    renders: AtomicUsize,
}

impl Renderer for Counting {
    fn name(&self) -> &str {
        "testsrc"
    }

    fn render(
        &self,
        req: &RenderRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
    ) -> Result<Rendered, RenderError> {
        self.renders.fetch_add(1, Ordering::SeqCst);
        TestPattern::new().render(req, progress, cancel)
    }
}

/// A model that runs out of device memory, reported the way the LTX
/// pipeline reports candle's errors.
#[derive(Default)]
struct OutOfMemory {
    renders: AtomicUsize,
}

impl Renderer for OutOfMemory {
    fn name(&self) -> &str {
        "oom"
    }

    fn render(
        &self,
        _req: &RenderRequest,
        _progress: &mut dyn FnMut(Progress),
        _cancel: &CancelToken,
    ) -> Result<Rendered, RenderError> {
        self.renders.fetch_add(1, Ordering::SeqCst);
        let error = candle_core::Error::Msg(
            "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")".into(),
        );
        Err(PipelineError::Model(error).into())
    }
}

fn worker(store: &Store, clips: ClipStore, renderer: Arc<dyn Renderer>) -> Worker {
    Worker {
        queue: store.render_queue(),
        clips,
        renderer,
        gate: Arc::new(NoCameoRegistry),
        cameos: None,
        finisher: unsigned_finisher(),
        speaker: None,
        settings: WorkerSettings {
            id: "test-worker".into(),
            lease: Duration::from_secs(10),
            heartbeat: Duration::from_millis(100),
            poll: Duration::from_millis(20),
        },
    }
}

/// Labels and encodes like production but does not sign: these tests are
/// about the queue and storage faults, signing has its own tests.
fn unsigned_finisher() -> Arc<ClipFinisher> {
    let mut config = reel::config::Config::load(None).expect("the default config loads");
    config.provenance.sign = false;
    Arc::new(ClipFinisher::from_config(&config, "testsrc").expect("an unsigned finisher"))
}

fn clips(sb: &Sandbox) -> ClipStore {
    ClipStore::open(&ClipStoreConfig::Local {
        root: sb.clips_dir(),
    })
    .unwrap()
}

async fn state_of(store: &Store, id: i64) -> JobState {
    store.job(id).await.unwrap().state
}

/// The database goes away under a running worker and comes back: the worker
/// logs, backs off and carries on (before, its first failed heartbeat ended
/// the worker for good while the process ran on).
#[tokio::test]
async fn a_worker_rides_out_a_database_outage() {
    let sb = Sandbox::postgres().await;
    let store = sb.store().await;
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(
        worker(&store, clips(&sb), Arc::new(Counting::default())).run(shutdown.clone()),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    set_postgres_reachable(&sb.db_url, false).await.unwrap();
    // Several heartbeats and claims fail meanwhile.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !running.is_finished(),
        "the worker gave up during the outage"
    );
    set_postgres_reachable(&sb.db_url, true).await.unwrap();
    let job = store.enqueue(&tiny_job("fake", "alice", 1)).await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "the job rendered after the outage",
        || async { state_of(&store, job.id).await == JobState::Encoded },
    )
    .await;
    shutdown.cancel();
    running.await.unwrap();
}

/// Clip storage is down when the render finishes: the worker keeps the file
/// and uploads it once storage is back; the clip is rendered once (before,
/// the job went back to the queue and was rendered again, and again).
#[tokio::test]
async fn a_storage_outage_after_a_render_retries_the_upload_only() {
    let sb = Sandbox::sqlite();
    let store = sb.store().await;
    let outage = StorageOutage::default();
    let renderer = Arc::new(Counting::default());
    let shutdown = CancellationToken::new();
    let flaky = clips(&sb).with_outage(&outage);
    outage.start();
    let job = store.enqueue(&tiny_job("fake", "alice", 1)).await.unwrap();
    let running = tokio::spawn(worker(&store, flaky, renderer.clone()).run(shutdown.clone()));
    wait_until(Duration::from_secs(30), "the render", || async {
        renderer.renders.load(Ordering::SeqCst) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        state_of(&store, job.id).await,
        JobState::Rendering,
        "still held"
    );
    outage.end();
    wait_until(Duration::from_secs(60), "the clip stored", || async {
        state_of(&store, job.id).await == JobState::Encoded
    })
    .await;
    assert_eq!(renderer.renders.load(Ordering::SeqCst), 1, "rendered once");
    let job = store.job(job.id).await.unwrap();
    assert_eq!(job.attempts, 1);
    assert!(clips(&sb)
        .get(job.clip_key.as_deref().unwrap())
        .await
        .is_ok());
    shutdown.cancel();
    running.await.unwrap();
}

/// A render that runs out of memory fails at once with a reason saying so
/// (before, it was retried as if transient, three renders for nothing).
#[tokio::test]
async fn an_out_of_memory_render_fails_at_once_and_says_why() {
    let sb = Sandbox::sqlite();
    let store = sb.store().await;
    let renderer = Arc::new(OutOfMemory::default());
    let shutdown = CancellationToken::new();
    let job = store.enqueue(&tiny_job("fake", "alice", 1)).await.unwrap();
    let running = tokio::spawn(worker(&store, clips(&sb), renderer.clone()).run(shutdown.clone()));
    wait_until(Duration::from_secs(30), "the job to end", || async {
        state_of(&store, job.id).await.is_final()
    })
    .await;
    let ended = store.job(job.id).await.unwrap();
    assert_eq!((ended.state, ended.attempts), (JobState::Failed, 1));
    let reason = ended.failure_reason.unwrap_or_default();
    assert!(reason.contains("out of memory"), "{reason}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(renderer.renders.load(Ordering::SeqCst), 1, "not retried");
    shutdown.cancel();
    running.await.unwrap();
}
