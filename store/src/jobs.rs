use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::Store;
use crate::error::StoreError;

/// Where a job is in its life. `queued → rendering → encoded → delivered`,
/// or one of the end states `failed` (reason kept), `cancelled`, `blocked`
/// (refused by a consent or safety check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Rendering,
    Encoded,
    Delivered,
    Failed,
    Cancelled,
    Blocked,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        Self::Queued,
        Self::Rendering,
        Self::Encoded,
        Self::Delivered,
        Self::Failed,
        Self::Cancelled,
        Self::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Rendering => "rendering",
            Self::Encoded => "encoded",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Blocked => "blocked",
        }
    }

    /// Still waiting for or holding a worker.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Rendering)
    }

    /// Nothing more will happen to the clip itself.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::Failed | Self::Cancelled | Self::Blocked
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown job state `{s}`"))
    }
}

/// What a requester asks for; validated by the command core before it gets here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub platform: String,
    pub user_id: String,
    pub chat_id: String,
    /// Adapter-owned JSON telling it where to post progress and the clip.
    pub reply_handle: String,
    pub prompt: String,
    pub duration_s: u32,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub seed: u64,
    pub cameo_ids: Vec<String>,
    /// The platform's unique id for the event that asked for this job; a
    /// second enqueue with the same platform and key returns the first job.
    pub request_key: Option<String>,
    /// The first frame the requester sent (a checked PNG), stored with the
    /// job in the same transaction (table `job_pictures`).
    pub picture: Option<JobPicture>,
    /// A line to speak in the clip (`say:"…"`), checked by the command core.
    pub say_line: Option<String>,
}

/// A job's picture: PNG bytes the command core decoded and re-encoded.
/// Shared, not copied, as the request travels to the enqueue task; its
/// `Debug` shows the size only.
#[derive(Clone, PartialEq, Eq)]
pub struct JobPicture(pub std::sync::Arc<Vec<u8>>);

impl JobPicture {
    pub fn new(png: Vec<u8>) -> Self {
        Self(std::sync::Arc::new(png))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for JobPicture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JobPicture({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub platform: String,
    pub user_id: String,
    pub chat_id: String,
    pub reply_handle: String,
    pub prompt: String,
    pub duration_s: u32,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub seed: u64,
    pub cameo_ids: Vec<String>,
    /// The line the clip speaks, if any (`say:"…"`).
    pub say_line: Option<String>,
    pub renderer: Option<String>,
    pub state: JobState,
    pub progress_step: u32,
    pub progress_total: u32,
    pub attempts: u32,
    pub max_attempts: u32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub cancel_requested: bool,
    pub failure_reason: Option<String>,
    pub clip_key: Option<String>,
    pub clip_bytes: Option<u64>,
    pub render_ms: Option<u64>,
    pub delivery_attempts: u32,
    pub delivery_receipt: Option<String>,
    pub outcome_posted: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub encoded_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl Job {
    /// Frames the renderer is asked for.
    pub fn frames(&self) -> u32 {
        self.duration_s * self.fps
    }
}

pub(crate) const JOB_COLUMNS: &str = "id, platform, user_id, chat_id, reply_handle, prompt, \
    duration_s, width, height, fps, seed, cameo_ids, say_line, renderer, state, progress_step, \
    progress_total, attempts, max_attempts, lease_owner, lease_expires_at, cancel_requested, \
    failure_reason, clip_key, clip_bytes, render_ms, delivery_attempts, delivery_receipt, \
    outcome_posted, created_at, updated_at, started_at, encoded_at, finished_at";

pub(crate) fn job_from_row(row: &AnyRow) -> Result<Job, StoreError> {
    let id: i64 = row.try_get("id")?;
    let corrupt = |reason: String| StoreError::Corrupt { id, reason };
    let int = |name: &str| -> Result<u32, StoreError> {
        let v: i64 = row.try_get(name)?;
        u32::try_from(v).map_err(|_| corrupt(format!("{name} = {v} is out of range")))
    };
    let state: String = row.try_get("state")?;
    let cameo_ids: String = row.try_get("cameo_ids")?;
    let seed: i64 = row.try_get("seed")?;
    let opt_u64 = |name: &str| -> Result<Option<u64>, StoreError> {
        let v: Option<i64> = row.try_get(name)?;
        Ok(v.map(|v| v.max(0) as u64))
    };
    Ok(Job {
        id,
        platform: row.try_get("platform")?,
        user_id: row.try_get("user_id")?,
        chat_id: row.try_get("chat_id")?,
        reply_handle: row.try_get("reply_handle")?,
        prompt: row.try_get("prompt")?,
        duration_s: int("duration_s")?,
        width: int("width")?,
        height: int("height")?,
        fps: int("fps")?,
        seed: seed as u64,
        cameo_ids: serde_json::from_str(&cameo_ids).map_err(|e| corrupt(e.to_string()))?,
        say_line: row.try_get("say_line")?,
        renderer: row.try_get("renderer")?,
        state: state.parse().map_err(corrupt)?,
        progress_step: int("progress_step")?,
        progress_total: int("progress_total")?,
        attempts: int("attempts")?,
        max_attempts: int("max_attempts")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        failure_reason: row.try_get("failure_reason")?,
        clip_key: row.try_get("clip_key")?,
        clip_bytes: opt_u64("clip_bytes")?,
        render_ms: opt_u64("render_ms")?,
        delivery_attempts: int("delivery_attempts")?,
        delivery_receipt: row.try_get("delivery_receipt")?,
        outcome_posted: row.try_get::<i64, _>("outcome_posted")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        encoded_at: row.try_get("encoded_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    pub job_id: i64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub detail: String,
}

/// A queued job's place in line and the expected wait until its clip is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePlace {
    /// 1 = next to be rendered; 0 = rendering now.
    pub position: u32,
    pub eta: Duration,
}

/// What `/cancel` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was waiting in the queue and is now cancelled.
    Cancelled,
    /// It is rendering; the worker stops at its next step.
    Requested,
    /// It had already ended in this state.
    AlreadyFinished(JobState),
}

impl Store {
    pub async fn job(&self, id: i64) -> Result<Job, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::UnknownJob(id))?;
        job_from_row(&row)
    }

    /// Newest first.
    pub async fn jobs_for_user(
        &self,
        platform: &str,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE platform = $1 AND user_id = $2 \
             ORDER BY id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(platform)
            .bind(user_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Newest first, optionally only one state.
    pub async fn list_jobs(
        &self,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = match state {
            Some(state) => {
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE state = $1 ORDER BY id DESC LIMIT $2"
                );
                sqlx::query(&sql)
                    .bind(state.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1");
                sqlx::query(&sql)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(job_from_row).collect()
    }

    /// Jobs of `platform` changed after `since_ms` that are still in flight or
    /// whose final message is not posted yet: what a progress watcher polls.
    pub async fn jobs_changed_since(
        &self,
        platform: &str,
        since_ms: i64,
    ) -> Result<Vec<Job>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE platform = $1 AND updated_at >= $2 \
             AND state IN ('queued', 'rendering') ORDER BY updated_at"
        );
        let rows = sqlx::query(&sql)
            .bind(platform)
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    pub async fn events(&self, job_id: i64) -> Result<Vec<JobEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT job_id, at, kind, actor, detail FROM job_events WHERE job_id = $1 ORDER BY id",
        )
        .bind(job_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(JobEvent {
                    job_id: row.try_get("job_id")?,
                    at: row.try_get("at")?,
                    kind: row.try_get("kind")?,
                    actor: row.try_get("actor")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Adds a line to a job's event log outside any state change (e.g. a
    /// worker's "second_encode": the first encode missed the size budget).
    pub async fn record_event(
        &self,
        job_id: i64,
        kind: &str,
        actor: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.writes.acquire().await?;
        insert_event(&mut conn, job_id, self.now_ms(), kind, actor, detail).await
    }

    /// Counts events of one kind per job, for audits and tests.
    pub async fn event_counts(&self, kind: &str) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT job_id, COUNT(*) AS n FROM job_events WHERE kind = $1 GROUP BY job_id ORDER BY job_id",
        )
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("job_id")?, row.try_get("n")?)))
            .collect()
    }

    /// The adapter replaces its reply handle once it knows more (e.g. the id
    /// of the "queued" message it just posted, which later edits target).
    pub async fn set_reply_handle(&self, id: i64, handle: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE jobs SET reply_handle = $1 WHERE id = $2")
            .bind(handle)
            .bind(id)
            .execute(&self.writes)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownJob(id));
        }
        Ok(())
    }

    /// Cancels a job on behalf of `actor`. A queued job ends at once; a
    /// rendering one is flagged and its worker stops between steps.
    pub async fn request_cancel(&self, id: i64, actor: &str) -> Result<CancelOutcome, StoreError> {
        let now = self.now().await?;
        let mut tx = self.writes.begin().await?;
        let queued = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', failure_reason = 'cancelled by the requester', \
             outcome_posted = 1, finished_at = $1, updated_at = $1, lease_owner = NULL, \
             lease_expires_at = NULL WHERE id = $2 AND state = 'queued'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let outcome = if queued.rows_affected() == 1 {
            CancelOutcome::Cancelled
        } else {
            let rendering = sqlx::query(
                "UPDATE jobs SET cancel_requested = 1, updated_at = $1 \
                 WHERE id = $2 AND state = 'rendering'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if rendering.rows_affected() == 1 {
                CancelOutcome::Requested
            } else {
                let row = sqlx::query("SELECT state FROM jobs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::UnknownJob(id))?;
                let state: String = row.try_get("state")?;
                let state = state
                    .parse()
                    .map_err(|reason| StoreError::Corrupt { id, reason })?;
                return Ok(CancelOutcome::AlreadyFinished(state));
            }
        };
        let kind = match outcome {
            CancelOutcome::Cancelled => "cancelled",
            _ => "cancel_requested",
        };
        insert_event(&mut tx, id, now, kind, actor, "").await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Puts a failed or cancelled job back in the queue with fresh attempts
    /// (operator command `reel jobs retry`).
    pub async fn retry(&self, id: i64, actor: &str) -> Result<Job, StoreError> {
        let now = self.now().await?;
        let update = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_after = $1, updated_at = $1, \
             cancel_requested = 0, failure_reason = NULL, outcome_posted = 0, finished_at = NULL, \
             lease_owner = NULL, lease_expires_at = NULL, progress_step = 0 \
             WHERE id = $2 AND state IN ('failed', 'cancelled')",
        )
        .bind(now)
        .bind(id);
        let event = Event {
            job_id: id,
            at: now,
            kind: "retried",
            actor,
            detail: "",
        };
        if !self.update_logged(update, event).await? {
            let job = self.job(id).await?;
            return Err(StoreError::InvalidTransition {
                id,
                state: job.state.to_string(),
                action: "retried (only failed or cancelled jobs can be)",
            });
        }
        self.job(id).await
    }
}

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// A line for a job's event log.
pub(crate) struct Event<'a> {
    pub job_id: i64,
    pub at: i64,
    pub kind: &'a str,
    pub actor: &'a str,
    pub detail: &'a str,
}

impl Store {
    /// Runs a guarded UPDATE (one whose WHERE checks that the caller still
    /// holds the job in the expected state) and, when it changed the row,
    /// logs `event` in the same transaction. Returns whether the guard held.
    pub(crate) async fn update_logged(
        &self,
        update: AnyQuery<'_>,
        event: Event<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writes.begin().await?;
        if update.execute(&mut *tx).await?.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_event(
            &mut tx,
            event.job_id,
            event.at,
            event.kind,
            event.actor,
            event.detail,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

pub(crate) async fn insert_event(
    conn: &mut sqlx::AnyConnection,
    job_id: i64,
    at: i64,
    kind: &str,
    actor: &str,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO job_events (job_id, at, kind, actor, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(job_id)
    .bind(at)
    .bind(kind)
    .bind(actor)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}
