//! Queueing a job: the limits are checked and the job inserted as one step.
//!
//! Enqueues arrive in bursts (a popular prompt in a busy server, 200 users at
//! once in the load tests), and on both backends a burst of one-job
//! transactions queues up behind one lock: SQLite's single writer, and on
//! PostgreSQL one disk flush per commit. So one task per `Store` takes every
//! enqueue waiting at that moment and runs them as one transaction (group
//! commit): the counts every ETA needs are read once, each job still gets
//! its own limit check, insert and event row, and there is one commit. It
//! never waits to fill a batch, so a lone enqueue costs what it did before.
//! On PostgreSQL a few such tasks run side by side.
//!
//! If a batch fails as a whole (a deadlock, a request key two callers sent
//! at once), each of its enqueues is retried in a transaction of its own, so
//! one request cannot fail its neighbours.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::db::{Backend, Store};
use crate::error::StoreError;
use crate::jobs::{insert_event, job_from_row, Job, NewJob, QueuePlace, JOB_COLUMNS};
use crate::limits::{average_render_time, queued_place, Limits, Refusal, HOUR_MS};

/// Enqueues in one transaction at most: bounds how long the gate rows of a
/// batch stay locked.
const MAX_BATCH: usize = 64;

type Answer = Result<(Job, QueuePlace), StoreError>;

struct Pending {
    new: NewJob,
    limits: Limits,
    answer: oneshot::Sender<Answer>,
}

/// The sending side of a `Store`'s enqueue task.
#[derive(Debug, Clone)]
pub(crate) struct Batcher {
    requests: mpsc::UnboundedSender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("new", &self.new).finish()
    }
}

impl Batcher {
    /// Starts the tasks: one on SQLite (one writer), several on PostgreSQL,
    /// where batches of different users run side by side on their own
    /// connections. `direct` is a handle without a batcher, so the tasks end
    /// once every `Store` holding the sender is dropped.
    pub(crate) fn start(direct: Store, tasks: usize) -> Self {
        let (requests, incoming) = mpsc::unbounded_channel::<Pending>();
        let incoming = Arc::new(Mutex::new(incoming));
        for _ in 0..tasks.max(1) {
            let (direct, incoming) = (direct.clone(), incoming.clone());
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&incoming).await {
                    direct.enqueue_batch(batch).await;
                }
            });
        }
        Self { requests }
    }
}

/// Everything waiting now, up to `MAX_BATCH`; waits for the first.
async fn next_batch(incoming: &Mutex<mpsc::UnboundedReceiver<Pending>>) -> Option<Vec<Pending>> {
    let mut incoming = incoming.lock().await;
    let mut batch = vec![incoming.recv().await?];
    while batch.len() < MAX_BATCH {
        match incoming.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// What one enqueue came to inside a batch transaction.
enum Decided {
    Queued(Job, QueuePlace),
    /// The request key was seen before: this is the job it queued.
    Replayed(Job),
    /// Refused; the retry estimate is read after the commit.
    Refused(Over),
}

enum Over {
    Active,
    Hour { oldest: Option<i64> },
    Queue { queued: i64 },
}

/// The counts every enqueue of a batch shares.
struct QueueCounts {
    queued: i64,
    rendering: i64,
    avg: Duration,
    workers: u32,
}

impl Store {
    /// Checks the limits and queues the job as one step: the user's gate row
    /// is written first, which serialises enqueues of the same user (a row
    /// lock on PostgreSQL, the write lock on SQLite).
    pub async fn enqueue(&self, new: &NewJob, limits: &Limits) -> Result<Job, StoreError> {
        Ok(self.enqueue_placed(new, limits).await?.0)
    }

    /// [`enqueue`](Self::enqueue), also returning the job's place in the
    /// queue, read in the same transaction: no reads after the commit. The
    /// place matches [`queue_place`](Self::queue_place) right after the
    /// commit, except for PostgreSQL enqueues committing at the same moment
    /// in another process. A request key seen before returns the job it
    /// queued (see `NewJob::request_key`).
    pub async fn enqueue_placed(&self, new: &NewJob, limits: &Limits) -> Answer {
        if let Some(batcher) = &self.batcher {
            let (answer, reply) = oneshot::channel();
            let pending = Pending {
                new: new.clone(),
                limits: limits.clone(),
                answer,
            };
            if batcher.requests.send(pending).is_ok() {
                if let Ok(answer) = reply.await {
                    return answer;
                }
            }
            // The task is gone (its runtime shut down): enqueue directly.
        }
        self.enqueue_alone(new, limits).await
    }

    /// This handle with every enqueue in a transaction of its own, as before
    /// batching: for side-by-side measurements (the load tests).
    pub fn without_batching(&self) -> Store {
        Store {
            batcher: None,
            ..self.clone()
        }
    }

    async fn enqueue_batch(&self, mut fresh: Vec<Pending>) {
        // One order for every batch, so two processes' batches lock gate
        // rows in the same order and cannot deadlock each other.
        fresh.sort_by(|a, b| {
            (&a.new.platform, &a.new.user_id).cmp(&(&b.new.platform, &b.new.user_id))
        });
        let requests: Vec<(&NewJob, &Limits)> = fresh.iter().map(|p| (&p.new, &p.limits)).collect();
        match self.decide_in_one_transaction(&requests).await {
            Ok(decided) => {
                for (pending, decided) in fresh.into_iter().zip(decided) {
                    let answer = self.answer(&pending.new, &pending.limits, decided).await;
                    let _ = pending.answer.send(answer);
                }
            }
            Err(error) => {
                if fresh.len() > 1 {
                    tracing::debug!(%error, n = fresh.len(), "batched enqueue failed; one by one");
                }
                for pending in fresh {
                    let answer = self.enqueue_alone(&pending.new, &pending.limits).await;
                    let _ = pending.answer.send(answer);
                }
            }
        }
    }

    async fn enqueue_alone(&self, new: &NewJob, limits: &Limits) -> Answer {
        match self.decide_in_one_transaction(&[(new, limits)]).await {
            Ok(decided) => match decided.into_iter().next() {
                Some(decided) => self.answer(new, limits, decided).await,
                None => Err(sqlx::Error::RowNotFound.into()),
            },
            // The same event, enqueued at this moment by another handler or
            // process: its job is the answer.
            Err(StoreError::Db(sqlx::Error::Database(error))) if error.is_unique_violation() => {
                match self.replayed(new, limits).await? {
                    Some(found) => Ok(found),
                    None => Err(sqlx::Error::Database(error).into()),
                }
            }
            Err(other) => Err(other),
        }
    }

    /// Checks and inserts `requests` in one transaction. Refusals write
    /// nothing but their gate row's attempt counter.
    async fn decide_in_one_transaction(
        &self,
        requests: &[(&NewJob, &Limits)],
    ) -> Result<Vec<Decided>, StoreError> {
        let now = self.now_ms();
        let mut tx = self.writes.begin().await?;
        let mut counts: Option<QueueCounts> = None;
        let mut decided = Vec::with_capacity(requests.len());
        for &(new, limits) in requests {
            // Written before anything is read: takes SQLite's write lock at
            // once (a reader upgrading later could fail), and on PostgreSQL
            // the user's row lock.
            sqlx::query(
                "INSERT INTO user_gates (platform, user_id, enqueues) VALUES ($1, $2, 1) \
                 ON CONFLICT (platform, user_id) DO UPDATE SET enqueues = user_gates.enqueues + 1",
            )
            .bind(&new.platform)
            .bind(&new.user_id)
            .execute(&mut *tx)
            .await?;
            let counts = match &mut counts {
                Some(counts) => counts,
                None => counts.insert(read_queue_counts(&mut tx, now, limits).await?),
            };
            // Read inside the transaction, so a repeat of the request key
            // within the same batch finds the job its first copy inserted.
            let user = sqlx::query(
                "SELECT \
                 (SELECT COUNT(*) FROM jobs WHERE platform = $1 AND user_id = $2 \
                     AND state IN ('queued', 'rendering')) AS active, \
                 (SELECT COUNT(*) FROM jobs WHERE platform = $1 AND user_id = $2 \
                     AND created_at > $3) AS in_hour, \
                 (SELECT MIN(created_at) FROM jobs WHERE platform = $1 AND user_id = $2 \
                     AND created_at > $3) AS oldest, \
                 (SELECT id FROM jobs WHERE platform = $1 AND request_key = $4) AS replay_of",
            )
            .bind(&new.platform)
            .bind(&new.user_id)
            .bind(now - HOUR_MS)
            .bind(&new.request_key)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(id) = user.try_get::<Option<i64>, _>("replay_of")? {
                let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_one(&mut *tx).await?;
                decided.push(Decided::Replayed(job_from_row(&row)?));
                continue;
            }
            let active: i64 = user.try_get("active")?;
            let in_hour: i64 = user.try_get("in_hour")?;
            let oldest: Option<i64> = user.try_get("oldest")?;
            if active >= i64::from(limits.max_active_per_user) {
                decided.push(Decided::Refused(Over::Active));
                continue;
            }
            if in_hour >= i64::from(limits.max_per_user_per_hour) {
                decided.push(Decided::Refused(Over::Hour { oldest }));
                continue;
            }
            if counts.queued >= i64::from(limits.max_queue_length) {
                decided.push(Decided::Refused(Over::Queue {
                    queued: counts.queued,
                }));
                continue;
            }
            let job = insert_job(&mut tx, self.backend, new, limits, now).await?;
            // Every job queued before this one is ahead of it.
            let place = queued_place(counts.queued, counts.rendering, counts.avg, counts.workers);
            counts.queued += 1;
            decided.push(Decided::Queued(job, place));
        }
        tx.commit().await?;
        Ok(decided)
    }

    /// Turns a decision into the caller's answer; refusals read how long
    /// until the user may try again.
    async fn answer(&self, new: &NewJob, limits: &Limits, decided: Decided) -> Answer {
        let over = match decided {
            Decided::Queued(job, place) => {
                tracing::debug!(job = job.id, "enqueued");
                return Ok((job, place));
            }
            Decided::Replayed(job) => return self.replay_answer(job, limits).await,
            Decided::Refused(over) => over,
        };
        let now = self.now_ms();
        let refusal = match over {
            Over::Active => Refusal::TooManyActive {
                limit: limits.max_active_per_user,
                retry_after: self.user_first_active_eta(new, limits).await?,
            },
            Over::Hour { oldest } => {
                let frees_at = oldest.unwrap_or(now) + HOUR_MS;
                Refusal::HourlyQuota {
                    limit: limits.max_per_user_per_hour,
                    retry_after: Duration::from_millis((frees_at - now).max(1000) as u64),
                }
            }
            Over::Queue { queued } => {
                let (avg, workers) = self.throughput(limits).await?;
                let excess = (queued - i64::from(limits.max_queue_length) + 1) as u32;
                Refusal::QueueFull {
                    limit: limits.max_queue_length,
                    retry_after: avg * excess.div_ceil(workers),
                }
            }
        };
        Err(StoreError::Refused(refusal))
    }

    /// The job an earlier delivery of the same event queued, if any.
    async fn replayed(
        &self,
        new: &NewJob,
        limits: &Limits,
    ) -> Result<Option<(Job, QueuePlace)>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(job) = job_by_request_key(&mut conn, new).await? else {
            return Ok(None);
        };
        drop(conn);
        self.replay_answer(job, limits).await.map(Some)
    }

    async fn replay_answer(&self, job: Job, limits: &Limits) -> Answer {
        tracing::info!(job = job.id, platform = %job.platform, "replayed request: not queued again");
        let place = self.queue_place(&job, limits).await?;
        Ok((job, place))
    }
}

async fn job_by_request_key(
    conn: &mut sqlx::AnyConnection,
    new: &NewJob,
) -> Result<Option<Job>, StoreError> {
    let Some(key) = &new.request_key else {
        return Ok(None);
    };
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE platform = $1 AND request_key = $2");
    let row = sqlx::query(&sql)
        .bind(&new.platform)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(job_from_row).transpose()
}

/// The queue's length and what the ETA needs, in one statement.
async fn read_queue_counts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    now: i64,
    limits: &Limits,
) -> Result<QueueCounts, StoreError> {
    let row = sqlx::query(
        "SELECT \
         (SELECT COUNT(*) FROM jobs WHERE state = 'queued') AS queued, \
         (SELECT COUNT(*) FROM jobs WHERE state = 'rendering') AS rendering, \
         (SELECT COUNT(*) FROM workers WHERE last_seen > $1) AS workers, \
         (SELECT CAST(SUM(render_ms) AS BIGINT) FROM (SELECT render_ms FROM jobs \
             WHERE render_ms IS NOT NULL ORDER BY encoded_at DESC LIMIT 20) recent) AS render_sum, \
         (SELECT COUNT(*) FROM (SELECT render_ms FROM jobs \
             WHERE render_ms IS NOT NULL ORDER BY encoded_at DESC LIMIT 20) recent) AS render_n",
    )
    .bind(now - crate::workers::LIVE_WINDOW_MS)
    .fetch_one(&mut **tx)
    .await?;
    let workers: i64 = row.try_get("workers")?;
    Ok(QueueCounts {
        queued: row.try_get("queued")?,
        rendering: row.try_get("rendering")?,
        avg: average_render_time(row.try_get("render_sum")?, row.try_get("render_n")?, limits),
        workers: u32::try_from(workers).unwrap_or(u32::MAX).max(1),
    })
}

/// Inserts the job and its `queued` event: one statement on PostgreSQL (a
/// data-modifying CTE; every statement is a round trip), two on SQLite.
async fn insert_job(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    new: &NewJob,
    limits: &Limits,
    now: i64,
) -> Result<Job, StoreError> {
    let insert = "INSERT INTO jobs (platform, user_id, chat_id, reply_handle, prompt, duration_s, \
         width, height, fps, seed, cameo_ids, state, max_attempts, run_after, created_at, \
         updated_at, request_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
         'queued', $12, $13, $13, $13, $14)";
    let sql = match backend {
        Backend::Postgres => format!(
            "WITH job AS ({insert} RETURNING {JOB_COLUMNS}), \
             logged AS (INSERT INTO job_events (job_id, at, kind, actor, detail) \
                 SELECT id, $13, 'queued', $15, '' FROM job) \
             SELECT {JOB_COLUMNS} FROM job"
        ),
        Backend::Sqlite => format!("{insert} RETURNING {JOB_COLUMNS}"),
    };
    let actor = format!("{}:{}", new.platform, new.user_id);
    let cameo_ids = serde_json::to_string(&new.cameo_ids).unwrap_or_else(|_| "[]".into());
    let row = sqlx::query(&sql)
        .bind(&new.platform)
        .bind(&new.user_id)
        .bind(&new.chat_id)
        .bind(&new.reply_handle)
        .bind(&new.prompt)
        .bind(i64::from(new.duration_s))
        .bind(i64::from(new.width))
        .bind(i64::from(new.height))
        .bind(i64::from(new.fps))
        .bind(new.seed as i64)
        .bind(cameo_ids)
        .bind(i64::from(limits.max_attempts.max(1)))
        .bind(now)
        .bind(&new.request_key);
    let row = match backend {
        Backend::Postgres => row.bind(&actor),
        Backend::Sqlite => row,
    }
    .fetch_one(&mut **tx)
    .await?;
    let job = job_from_row(&row)?;
    if backend == Backend::Sqlite {
        insert_event(tx, job.id, now, "queued", &actor, "").await?;
    }
    Ok(job)
}
