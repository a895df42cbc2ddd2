use std::time::Duration;

use sqlx::Row;

use crate::db::Store;
use crate::error::StoreError;
use crate::jobs::{job_from_row, Job, NewJob, QueuePlace, JOB_COLUMNS};

pub(crate) const HOUR_MS: i64 = 3_600_000;

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
    /// Position in the queue and expected time until the clip is done.
    pub async fn queue_place(&self, job: &Job) -> Result<QueuePlace, StoreError> {
        self.queue_place_under(job, &self.limits).await
    }

    pub(crate) async fn queue_place_under(
        &self,
        job: &Job,
        limits: &Limits,
    ) -> Result<QueuePlace, StoreError> {
        let (avg, workers) = self.throughput_under(limits).await?;
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
    pub async fn throughput(&self) -> Result<(Duration, u32), StoreError> {
        self.throughput_under(&self.limits).await
    }

    pub(crate) async fn throughput_under(
        &self,
        limits: &Limits,
    ) -> Result<(Duration, u32), StoreError> {
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

    pub(crate) async fn user_first_active_eta(
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
                    .queue_place_under(&job, limits)
                    .await?
                    .eta
                    .max(Duration::from_secs(1)))
            }
            None => Ok(Duration::from_secs(1)),
        }
    }
}

/// The place of a queued job with `ahead` queued jobs before it.
pub(crate) fn queued_place(ahead: i64, rendering: i64, avg: Duration, workers: u32) -> QueuePlace {
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
pub(crate) fn average_render_time(sum: Option<i64>, n: i64, limits: &Limits) -> Duration {
    match sum {
        Some(sum) if n > 0 => Duration::from_millis((sum / n).max(1) as u64),
        _ => limits.default_render_time,
    }
}

fn round_up_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_millis().div_ceil(1000) as u64)
}
