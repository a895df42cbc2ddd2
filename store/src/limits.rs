use std::time::Duration;

use sqlx::Row;

use crate::db::Store;
use crate::error::StoreError;
use crate::jobs::{insert_event, job_from_row, Job, NewJob, QueuePlace, JOB_COLUMNS};

const HOUR_MS: i64 = 3_600_000;

/// Limits enforced in the database, so they hold across restarts and across
/// every process sharing the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Queued + rendering jobs one user may have at once.
    pub max_active_per_user: u32,
    /// Jobs one user may start in any 60 minutes.
    pub max_per_user_per_hour: u32,
    /// Jobs waiting in the queue, all users together.
    pub max_queue_length: u32,
    /// Render attempts before a job whose workers keep dying is failed.
    pub max_attempts: u32,
    /// Render time assumed for the ETA until real timings exist.
    pub default_render_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_active_per_user: 2,
            max_per_user_per_hour: 20,
            max_queue_length: 100,
            max_attempts: 3,
            default_render_time: Duration::from_secs(30),
        }
    }
}

/// Why a job was not queued, and when the user may try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    TooManyActive { limit: u32, retry_after: Duration },
    HourlyQuota { limit: u32, retry_after: Duration },
    QueueFull { limit: u32, retry_after: Duration },
}

impl Refusal {
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::TooManyActive { retry_after, .. }
            | Self::HourlyQuota { retry_after, .. }
            | Self::QueueFull { retry_after, .. } => *retry_after,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.retry_after().as_secs();
        match self {
            Self::TooManyActive { limit, .. } => {
                write!(f, "{limit} jobs already in progress; retry in {secs} s")
            }
            Self::HourlyQuota { limit, .. } => {
                write!(f, "hourly limit of {limit} jobs reached; retry in {secs} s")
            }
            Self::QueueFull { limit, .. } => {
                write!(f, "queue full ({limit} jobs); retry in {secs} s")
            }
        }
    }
}

impl Store {
    /// Checks the limits and queues the job as one step: the user's gate row
    /// is written first, which serialises enqueues of the same user (a row
    /// lock on PostgreSQL, the write lock on SQLite).
    pub async fn enqueue(&self, new: &NewJob, limits: &Limits) -> Result<Job, StoreError> {
        Ok(self.enqueue_placed(new, limits).await?.0)
    }

    /// [`enqueue`](Self::enqueue), also returning the job's place in the
    /// queue, read in the same transaction (one statement gathers the limit
    /// counts and what the ETA needs): no reads after the commit. The place
    /// matches [`queue_place`](Self::queue_place) right after the commit,
    /// except for PostgreSQL enqueues committing at the same moment.
    pub async fn enqueue_placed(
        &self,
        new: &NewJob,
        limits: &Limits,
    ) -> Result<(Job, QueuePlace), StoreError> {
        let now = self.now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO user_gates (platform, user_id, enqueues) VALUES ($1, $2, 1) \
             ON CONFLICT (platform, user_id) DO UPDATE SET enqueues = user_gates.enqueues + 1",
        )
        .bind(&new.platform)
        .bind(&new.user_id)
        .execute(&mut *tx)
        .await?;

        let stats = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM jobs WHERE platform = $1 AND user_id = $2 \
                 AND state IN ('queued', 'rendering')) AS active, \
             (SELECT COUNT(*) FROM jobs WHERE platform = $1 AND user_id = $2 \
                 AND created_at > $3) AS in_hour, \
             (SELECT MIN(created_at) FROM jobs WHERE platform = $1 AND user_id = $2 \
                 AND created_at > $3) AS oldest, \
             (SELECT COUNT(*) FROM jobs WHERE state = 'queued') AS queued, \
             (SELECT COUNT(*) FROM jobs WHERE state = 'rendering') AS rendering, \
             (SELECT COUNT(*) FROM workers WHERE last_seen > $4) AS workers, \
             (SELECT CAST(SUM(render_ms) AS BIGINT) FROM (SELECT render_ms FROM jobs \
                 WHERE render_ms IS NOT NULL ORDER BY encoded_at DESC LIMIT 20) recent) AS render_sum, \
             (SELECT COUNT(*) FROM (SELECT render_ms FROM jobs \
                 WHERE render_ms IS NOT NULL ORDER BY encoded_at DESC LIMIT 20) recent) AS render_n",
        )
        .bind(&new.platform)
        .bind(&new.user_id)
        .bind(now - HOUR_MS)
        .bind(now - crate::workers::LIVE_WINDOW_MS)
        .fetch_one(&mut *tx)
        .await?;
        let active: i64 = stats.try_get("active")?;
        let in_hour: i64 = stats.try_get("in_hour")?;
        let oldest: Option<i64> = stats.try_get("oldest")?;
        let queued: i64 = stats.try_get("queued")?;
        let rendering: i64 = stats.try_get("rendering")?;
        let workers: i64 = stats.try_get("workers")?;
        let render_sum: Option<i64> = stats.try_get("render_sum")?;
        let render_n: i64 = stats.try_get("render_n")?;

        let over_active = active >= i64::from(limits.max_active_per_user);
        let over_hour = in_hour >= i64::from(limits.max_per_user_per_hour);
        let over_queue = queued >= i64::from(limits.max_queue_length);
        if over_active || over_hour || over_queue {
            // Nothing was written that should stay; release the lock before
            // the (read-only) retry estimate.
            tx.rollback().await?;
            let refusal = if over_active {
                Refusal::TooManyActive {
                    limit: limits.max_active_per_user,
                    retry_after: self.user_first_active_eta(new, limits).await?,
                }
            } else if over_hour {
                let frees_at = oldest.unwrap_or(now) + HOUR_MS;
                Refusal::HourlyQuota {
                    limit: limits.max_per_user_per_hour,
                    retry_after: Duration::from_millis((frees_at - now).max(1000) as u64),
                }
            } else {
                let (avg, workers) = self.throughput(limits).await?;
                let excess = (queued - i64::from(limits.max_queue_length) + 1) as u32;
                Refusal::QueueFull {
                    limit: limits.max_queue_length,
                    retry_after: avg * excess.div_ceil(workers),
                }
            };
            return Err(StoreError::Refused(refusal));
        }

        let sql = format!(
            "INSERT INTO jobs (platform, user_id, chat_id, reply_handle, prompt, duration_s, \
             width, height, fps, seed, cameo_ids, state, max_attempts, run_after, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', $12, \
             $13, $13, $13) RETURNING {JOB_COLUMNS}"
        );
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
            .fetch_one(&mut *tx)
            .await?;
        let job = job_from_row(&row)?;
        let actor = format!("{}:{}", new.platform, new.user_id);
        insert_event(&mut tx, job.id, now, "queued", &actor, "").await?;
        tx.commit().await?;
        // Every job queued before this one is ahead of it.
        let avg = average_render_time(render_sum, render_n, limits);
        let workers = u32::try_from(workers).unwrap_or(u32::MAX).max(1);
        let place = queued_place(queued, rendering, avg, workers);
        Ok((job, place))
    }

    /// Position in the queue and expected time until the clip is done.
    pub async fn queue_place(&self, job: &Job, limits: &Limits) -> Result<QueuePlace, StoreError> {
        let (avg, workers) = self.throughput(limits).await?;
        let rendering: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE state = 'rendering'")
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
        match job.state {
            crate::JobState::Queued => {
                let ahead: i64 = sqlx::query(
                    "SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued' AND id < $1",
                )
                .bind(job.id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
                Ok(queued_place(ahead, rendering, avg, workers))
            }
            crate::JobState::Rendering => {
                let done = if job.progress_total > 0 {
                    f64::from(job.progress_step) / f64::from(job.progress_total)
                } else {
                    0.0
                };
                Ok(QueuePlace {
                    position: 0,
                    eta: round_up_secs(avg.mul_f64(1.0 - done.min(1.0))),
                })
            }
            _ => Ok(QueuePlace {
                position: 0,
                eta: Duration::ZERO,
            }),
        }
    }

    /// Average render time of recent jobs, and the number of live workers (≥ 1).
    pub async fn throughput(&self, limits: &Limits) -> Result<(Duration, u32), StoreError> {
        let rows = sqlx::query(
            "SELECT render_ms FROM jobs WHERE render_ms IS NOT NULL ORDER BY encoded_at DESC LIMIT 20",
        )
        .fetch_all(&self.pool)
        .await?;
        let times: Vec<i64> = rows
            .iter()
            .map(|row| row.try_get("render_ms"))
            .collect::<Result<_, _>>()?;
        let avg = average_render_time(Some(times.iter().sum()), times.len() as i64, limits);
        let workers = self.live_worker_count().await?.max(1);
        Ok((avg, workers))
    }

    async fn user_first_active_eta(
        &self,
        new: &NewJob,
        limits: &Limits,
    ) -> Result<Duration, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE platform = $1 AND user_id = $2 \
             AND state IN ('queued', 'rendering') ORDER BY id LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(&new.platform)
            .bind(&new.user_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => {
                let job = job_from_row(&row)?;
                Ok(self
                    .queue_place(&job, limits)
                    .await?
                    .eta
                    .max(Duration::from_secs(1)))
            }
            None => Ok(Duration::from_secs(1)),
        }
    }
}

/// The place of a queued job with `ahead` queued jobs before it.
fn queued_place(ahead: i64, rendering: i64, avg: Duration, workers: u32) -> QueuePlace {
    // Jobs ahead are shared out over the live workers; the ones rendering
    // now are on average half done.
    let work_ahead = ahead as f64 + rendering as f64 / 2.0;
    let wait = avg.mul_f64(work_ahead / f64::from(workers.max(1)));
    QueuePlace {
        position: u32::try_from(ahead).unwrap_or(u32::MAX - 1) + 1,
        eta: round_up_secs(wait + avg),
    }
}

/// The mean of the last `n` render times (summing to `sum`), or the
/// configured default before any job has rendered.
fn average_render_time(sum: Option<i64>, n: i64, limits: &Limits) -> Duration {
    match sum {
        Some(sum) if n > 0 => Duration::from_millis((sum / n).max(1) as u64),
        _ => limits.default_render_time,
    }
}

fn round_up_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_millis().div_ceil(1000) as u64)
}
