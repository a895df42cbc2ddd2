//! Job queue benchmark: claims per second and enqueue→claim latency with 1, 4
//! and 16 concurrent workers, on SQLite and on PostgreSQL.
//!
//! Run with `cargo bench -p reel-store --bench queue`. Environment:
//! - `REEL_BENCH_BACKENDS`: comma-separated, `sqlite`, `postgres` (default both)
//! - `REEL_BENCH_WORKERS`: comma-separated worker counts (default `1,4,16`)
//! - `REEL_BENCH_JOBS`: jobs drained in the throughput run (default 2000)
//! - `REEL_BENCH_LATENCY_JOBS`: jobs trickled in the latency run (default 200)
//! - `REEL_TEST_POSTGRES_URL`: the PostgreSQL server, needed for `postgres`
//!
//! A result that breaks the queue's promises (a job claimed twice, or never)
//! aborts the run.

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reel_store::testing::{
    drop_postgres_database, fresh_postgres_database, postgres_server_url, sqlite_url_in,
};
use reel_store::{Backend, ClipRecord, Finish, JobState, Limits, NewJob, Store, StoreOptions};
use sqlx::Connection;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;
/// A job a worker claimed, and when `claim_render` returned it.
type Claim = (i64, Instant);

/// Long enough that no lease expires during a run.
const LEASE: Duration = Duration::from_secs(300);
/// How long an idle worker sleeps after finding the queue empty.
const POLL: Duration = Duration::from_millis(5);
/// Gap between enqueues in the latency run.
const ENQUEUE_EVERY: Duration = Duration::from_millis(20);
/// Pool connections beyond one per worker (producer, checks).
const SPARE_CONNECTIONS: u32 = 4;

struct Config {
    backends: Vec<Backend>,
    workers: Vec<usize>,
    jobs: usize,
    latency_jobs: usize,
}

impl Config {
    fn from_env() -> BenchResult<Self> {
        let backends = env_list("REEL_BENCH_BACKENDS", "sqlite,postgres")?
            .into_iter()
            .map(|name: String| match name.as_str() {
                "sqlite" => Ok(Backend::Sqlite),
                "postgres" => Ok(Backend::Postgres),
                other => Err(format!("unknown backend `{other}` (sqlite, postgres)")),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            backends,
            workers: env_list("REEL_BENCH_WORKERS", "1,4,16")?,
            jobs: env_list("REEL_BENCH_JOBS", "2000")?[0],
            latency_jobs: env_list("REEL_BENCH_LATENCY_JOBS", "200")?[0],
        })
    }
}

fn env_list<T: FromStr>(name: &str, default: &str) -> BenchResult<Vec<T>> {
    let raw = std::env::var(name).unwrap_or_else(|_| default.to_string());
    let items: Vec<T> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("{name}: cannot parse `{s}`")))
        .collect::<Result<_, _>>()?;
    if items.is_empty() {
        return Err(format!("{name} is empty").into());
    }
    Ok(items)
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// A fresh database for one run; removed again by [`Db::close`].
struct Db {
    store: Store,
    _dir: Option<TempDir>,
    postgres_url: Option<String>,
}

impl Db {
    async fn open(backend: Backend, workers: usize) -> BenchResult<Self> {
        let pool = workers as u32 + SPARE_CONNECTIONS;
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let store = Store::open(&sqlite_url_in(dir.path()), options(pool)).await?;
                Ok(Self {
                    store,
                    _dir: Some(dir),
                    postgres_url: None,
                })
            }
            Backend::Postgres => {
                let url = fresh_postgres_database().await;
                let store = Store::open(&url, options(pool)).await?;
                Ok(Self {
                    store,
                    _dir: None,
                    postgres_url: Some(url),
                })
            }
        }
    }

    async fn close(self) -> BenchResult<()> {
        self.store.close().await;
        if let Some(url) = self.postgres_url {
            drop_postgres_database(&url).await?;
        }
        Ok(())
    }
}

fn options(max_connections: u32) -> StoreOptions {
    StoreOptions {
        max_connections,
        ..StoreOptions::default()
    }
}

fn roomy_limits(jobs: usize) -> Limits {
    let n = jobs as u32 + 1;
    Limits {
        max_active_per_user: n,
        max_per_user_per_hour: n,
        max_queue_length: n,
        ..Limits::default()
    }
}

fn new_job(i: usize) -> NewJob {
    NewJob {
        platform: "terminal".into(),
        user_id: format!("bench-user-{i}"),
        chat_id: "bench".into(),
        reply_handle: "{}".into(),
        prompt: "a red ball bounces".into(),
        duration_s: 2,
        width: 128,
        height: 96,
        fps: 12,
        seed: i as u64,
        cameo_ids: Vec::new(),
        request_key: None,
        picture: None,
        say_line: None,
    }
}

fn clip(id: i64) -> ClipRecord {
    ClipRecord {
        key: format!("clips/{id}.mp4"),
        bytes: 1,
        render_ms: 1,
        renderer: "bench".into(),
    }
}

/// Claims one job and marks it rendered; `None` when nothing was claimable.
async fn claim_and_finish(store: &Store, worker: &str) -> BenchResult<Option<Claim>> {
    let Some(job) = store.render_queue().claim(worker, LEASE).await? else {
        return Ok(None);
    };
    let claimed_at = Instant::now();
    if store
        .render_queue()
        .finish(job.id, worker, &clip(job.id))
        .await?
        != Finish::Encoded
    {
        return Err(format!("{worker} lost job {} it had just claimed", job.id).into());
    }
    Ok(Some((job.id, claimed_at)))
}

/// Opens about one connection per worker before the clock starts.
async fn warm_pool(store: &Store, workers: usize) -> BenchResult<()> {
    let calls = (0..workers).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .render_queue()
                .claim(&format!("warm-{w}"), LEASE)
                .await
        })
    });
    for call in futures::future::join_all(calls).await {
        if call??.is_some() {
            return Err("warm-up claimed a job from an empty queue".into());
        }
    }
    Ok(())
}

/// Checks that exactly the jobs in `expected` were claimed, each once, both
/// by the workers' own account and by the queue's event log.
async fn verify_claims(store: &Store, expected: &HashSet<i64>, claimed: &[i64]) -> BenchResult<()> {
    let unique: HashSet<i64> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "a job was claimed twice");
    assert_eq!(&unique, expected, "claimed jobs differ from enqueued jobs");
    let counts = store.event_counts("claimed").await?;
    let twice: Vec<_> = counts.iter().filter(|(_, n)| *n != 1).collect();
    assert!(twice.is_empty(), "jobs with more than one claim: {twice:?}");
    let logged: HashSet<i64> = counts.iter().map(|(id, _)| *id).collect();
    assert_eq!(&logged, expected, "claim events differ from enqueued jobs");
    let encoded = store.list_jobs(Some(JobState::Encoded), u32::MAX).await?;
    assert_eq!(encoded.len(), expected.len(), "not every job ended encoded");
    Ok(())
}

/// Pre-enqueues `jobs`, then `workers` tasks claim and finish until the queue
/// is empty. Returns completed claim+finish cycles per second.
async fn throughput(backend: Backend, workers: usize, jobs: usize) -> BenchResult<f64> {
    let db = Db::open(backend, workers).await?;
    let store = &db.store;
    warm_pool(store, workers).await?;
    let limited = store.with_limits(roomy_limits(jobs));
    let mut expected = HashSet::new();
    for i in 0..jobs {
        expected.insert(limited.enqueue(&new_job(i)).await?.id);
    }

    let start = Instant::now();
    let tasks: Vec<JoinHandle<BenchResult<Vec<i64>>>> = (0..workers)
        .map(|w| tokio::spawn(drain(store.clone(), format!("worker-{w}"))))
        .collect();
    let mut claimed = Vec::with_capacity(jobs);
    for task in tasks {
        claimed.extend(task.await??);
    }
    let elapsed = start.elapsed();

    verify_claims(store, &expected, &claimed).await?;
    db.close().await?;
    Ok(jobs as f64 / elapsed.as_secs_f64())
}

async fn drain(store: Store, worker: String) -> BenchResult<Vec<i64>> {
    let mut mine = Vec::new();
    while let Some((id, _)) = claim_and_finish(&store, &worker).await? {
        mine.push(id);
    }
    Ok(mine)
}

/// `workers` tasks poll the queue while a producer enqueues `jobs` one at a
/// time. Returns, per job, the time from just before `enqueue` was called
/// until a worker's `claim_render` returned it.
async fn latency(backend: Backend, workers: usize, jobs: usize) -> BenchResult<Vec<Duration>> {
    let db = Db::open(backend, workers).await?;
    let store = &db.store;
    warm_pool(store, workers).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let pollers: Vec<JoinHandle<BenchResult<Vec<Claim>>>> = (0..workers)
        .map(|w| tokio::spawn(poll(store.clone(), format!("worker-{w}"), stop.clone())))
        .collect();

    let enqueued = produce(store, jobs).await?;
    stop.store(true, Ordering::SeqCst);
    let mut claims = Vec::with_capacity(jobs);
    for poller in pollers {
        claims.extend(poller.await??);
    }

    let expected: HashSet<i64> = enqueued.keys().copied().collect();
    let ids: Vec<i64> = claims.iter().map(|(id, _)| *id).collect();
    verify_claims(store, &expected, &ids).await?;
    db.close().await?;
    Ok(claims
        .iter()
        .map(|(id, claimed_at)| claimed_at.duration_since(enqueued[id]))
        .collect())
}

/// Enqueues `jobs` at a steady pace; returns when each enqueue was started.
async fn produce(store: &Store, jobs: usize) -> BenchResult<HashMap<i64, Instant>> {
    let store = store.with_limits(roomy_limits(jobs));
    let mut tick = tokio::time::interval(ENQUEUE_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut started = HashMap::with_capacity(jobs);
    for i in 0..jobs {
        tick.tick().await;
        let at = Instant::now();
        let job = store.enqueue(&new_job(i)).await?;
        started.insert(job.id, at);
    }
    Ok(started)
}

/// Claims jobs as they come, sleeping [`POLL`] whenever the queue is empty,
/// until `stop` is set and the queue has been found empty after it.
async fn poll(store: Store, worker: String, stop: Arc<AtomicBool>) -> BenchResult<Vec<Claim>> {
    let mut mine = Vec::new();
    loop {
        // Read before claiming: an empty queue after the last enqueue means done.
        let stopping = stop.load(Ordering::SeqCst);
        match claim_and_finish(&store, &worker).await? {
            Some(claim) => mine.push(claim),
            None if stopping => return Ok(mine),
            None => tokio::time::sleep(POLL).await,
        }
    }
}

struct Percentiles {
    p50: Duration,
    p95: Duration,
    p99: Duration,
    max: Duration,
}

impl Percentiles {
    /// Nearest-rank percentiles.
    fn of(mut samples: Vec<Duration>) -> Self {
        assert!(!samples.is_empty(), "no latency samples");
        samples.sort();
        let rank = |p: f64| {
            let i = (p * samples.len() as f64).ceil() as usize;
            samples[i.clamp(1, samples.len()) - 1]
        };
        Self {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: samples[samples.len() - 1],
        }
    }
}

struct Row {
    backend: Backend,
    workers: usize,
    jobs: usize,
    claims_per_s: f64,
    latency_jobs: usize,
    latency: Percentiles,
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn print_table(rows: &[Row]) {
    println!("| backend | workers | jobs | claims/s | latency jobs | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |",
            backend_name(r.backend),
            r.workers,
            r.jobs,
            r.claims_per_s,
            r.latency_jobs,
            ms(r.latency.p50),
            ms(r.latency.p95),
            ms(r.latency.p99),
            ms(r.latency.max),
        );
    }
}

/// The database versions the numbers came from.
async fn versions(config: &Config) -> BenchResult<String> {
    let mut parts = Vec::new();
    if config.backends.contains(&Backend::Sqlite) {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:").await?;
        let v: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&mut conn)
            .await?;
        parts.push(format!("SQLite {v}"));
    }
    if config.backends.contains(&Backend::Postgres) {
        let mut conn = sqlx::PgConnection::connect(&postgres_server_url()).await?;
        let v: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&mut conn)
            .await?;
        parts.push(format!("PostgreSQL {v}"));
    }
    Ok(parts.join(", "))
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; this harness takes its settings from
    // the environment only.
    let config = Config::from_env()?;
    eprintln!("queue benchmark: {}", versions(&config).await?);
    let mut rows = Vec::new();
    for &backend in &config.backends {
        for &workers in &config.workers {
            let name = backend_name(backend);
            eprintln!(
                "{name}, {workers} workers: throughput ({} jobs)",
                config.jobs
            );
            let claims_per_s = throughput(backend, workers, config.jobs).await?;
            eprintln!(
                "{name}, {workers} workers: latency ({} jobs)",
                config.latency_jobs
            );
            let samples = latency(backend, workers, config.latency_jobs).await?;
            rows.push(Row {
                backend,
                workers,
                jobs: config.jobs,
                claims_per_s,
                latency_jobs: config.latency_jobs,
                latency: Percentiles::of(samples),
            });
        }
    }
    print_table(&rows);
    Ok(())
}
