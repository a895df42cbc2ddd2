//! The render queue: workers claim jobs under a lease (`lease_owner`,
//! `lease_expires_at`) that they renew with heartbeats; when a process dies
//! its lease runs out and the job is claimed again. On PostgreSQL the claim
//! skips rows other claimers hold (`FOR UPDATE SKIP LOCKED`), so any number
//! of processes share one queue; SQLite runs each claim as one write
//! statement under its single-writer lock.

use std::time::Duration;

use sqlx::Row;

use crate::db::Store;
use crate::error::StoreError;
use crate::jobs::{insert_event, job_from_row, Event, Job, JobState, JOB_COLUMNS};

/// The clip a worker produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipRecord {
    pub key: String,
    pub bytes: u64,
    pub render_ms: u64,
    pub renderer: String,
}

/// What a worker learns when it renews its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    Continue,
    /// The requester cancelled: stop at the next step.
    CancelRequested,
    /// The lease expired and the job was taken by someone else (or ended):
    /// stop and throw the work away.
    LeaseLost,
}

/// What recording a finished clip came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Recorded: the job is encoded and waits for delivery.
    Encoded,
    /// The requester cancelled while the render finished: the job ended
    /// cancelled and the clip is not kept.
    Cancelled,
    /// The lease expired and another worker took the job (or it ended).
    LeaseLost,
}

/// How a render ended when it did not produce a clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderFailure {
    /// Worth another attempt (storage hiccup, worker shutting down).
    Retry(String),
    /// Will fail again: end the job with this reason.
    Fatal(String),
    /// A consent or safety check refused it.
    Blocked(String),
    /// Stopped because the requester cancelled.
    Cancelled,
}

/// The render worker's side of the store (from [`Store::render_queue`]).
#[derive(Clone, Debug)]
pub struct RenderQueue {
    store: Store,
}

impl Store {
    pub fn render_queue(&self) -> RenderQueue {
        RenderQueue {
            store: self.clone(),
        }
    }
}

impl RenderQueue {
    /// The store this queue lives in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Takes the oldest runnable job — queued, or rendering under a lease
    /// that expired — for `worker`, holding it for `lease`.
    pub async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Job>, StoreError> {
        let now = self.store.now().await?;
        const RUNNABLE: &str = "((state = 'queued' AND run_after <= $1) \
             OR (state = 'rendering' AND lease_expires_at < $1 AND cancel_requested = 0)) \
             AND attempts < max_attempts";
        // Idle workers poll often: look before taking the write lock.
        if !self
            .store
            .any_row(
                &format!("SELECT id FROM jobs WHERE {RUNNABLE} LIMIT 1"),
                now,
            )
            .await?
        {
            return Ok(None);
        }
        let sql = format!(
            "UPDATE jobs SET state = 'rendering', lease_owner = $2, lease_expires_at = $3, \
             attempts = attempts + 1, started_at = $1, updated_at = $1, progress_step = 0, \
             progress_total = 0 \
             WHERE id = (SELECT id FROM jobs WHERE {RUNNABLE} ORDER BY id LIMIT 1 {}) \
             RETURNING {JOB_COLUMNS}",
            self.store.skip_locked()
        );
        let mut tx = self.store.writes.begin().await?;
        let row = sqlx::query(&sql)
            .bind(now)
            .bind(worker)
            .bind(now + lease.as_millis() as i64)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        let detail = format!("attempt {}", job.attempts);
        insert_event(&mut tx, job.id, now, "claimed", worker, &detail).await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    /// Renews `worker`'s lease and records progress.
    pub async fn heartbeat(
        &self,
        id: i64,
        worker: &str,
        lease: Duration,
        progress: Option<(u32, u32)>,
    ) -> Result<Heartbeat, StoreError> {
        let now = self.store.now().await?;
        let (step, total) = progress.map_or((-1, -1), |(s, t)| (i64::from(s), i64::from(t)));
        let row = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1, \
             progress_step = CASE WHEN $2 < 0 THEN progress_step ELSE $2 END, \
             progress_total = CASE WHEN $3 < 0 THEN progress_total ELSE $3 END, \
             updated_at = $4 \
             WHERE id = $5 AND lease_owner = $6 AND state = 'rendering' \
             RETURNING cancel_requested",
        )
        .bind(now + lease.as_millis() as i64)
        .bind(step)
        .bind(total)
        .bind(now)
        .bind(id)
        .bind(worker)
        .fetch_optional(&self.store.writes)
        .await?;
        Ok(match row {
            None => Heartbeat::LeaseLost,
            Some(row) if row.try_get::<i64, _>("cancel_requested")? != 0 => {
                Heartbeat::CancelRequested
            }
            Some(_) => Heartbeat::Continue,
        })
    }

    /// Records the finished clip, unless the requester cancelled while the
    /// last step ran: the job then ends cancelled (a cancel acknowledged as
    /// "stopping" must not be followed by the clip). On anything but
    /// [`Finish::Encoded`] the caller's clip is surplus and should be deleted.
    pub async fn finish(
        &self,
        id: i64,
        worker: &str,
        clip: &ClipRecord,
    ) -> Result<Finish, StoreError> {
        let now = self.store.now().await?;
        let mut tx = self.store.writes.begin().await?;
        let encoded = sqlx::query(
            "UPDATE jobs SET state = 'encoded', clip_key = $1, clip_bytes = $2, render_ms = $3, \
             renderer = $4, encoded_at = $5, updated_at = $5, run_after = $5, \
             progress_step = progress_total, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $6 AND lease_owner = $7 AND state = 'rendering' AND cancel_requested = 0",
        )
        .bind(&clip.key)
        .bind(clip.bytes as i64)
        .bind(clip.render_ms as i64)
        .bind(&clip.renderer)
        .bind(now)
        .bind(id)
        .bind(worker)
        .execute(&mut *tx)
        .await?;
        let (finish, kind, detail) = if encoded.rows_affected() == 1 {
            let detail = format!("{} bytes in {} ms", clip.bytes, clip.render_ms);
            (Finish::Encoded, "encoded", detail)
        } else {
            let cancelled = sqlx::query(
                "UPDATE jobs SET state = 'cancelled', failure_reason = 'cancelled by the requester', \
                 finished_at = $1, updated_at = $1, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE id = $2 AND lease_owner = $3 AND state = 'rendering' AND cancel_requested = 1",
            )
            .bind(now)
            .bind(id)
            .bind(worker)
            .execute(&mut *tx)
            .await?;
            if cancelled.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(Finish::LeaseLost);
            }
            let detail = "the cancel came as the render finished; clip discarded".to_string();
            (Finish::Cancelled, "cancelled", detail)
        };
        insert_event(&mut tx, id, now, kind, worker, &detail).await?;
        tx.commit().await?;
        Ok(finish)
    }

    /// Ends a render that produced no clip. A retryable failure goes back to
    /// the queue with a backoff until the attempts run out.
    pub async fn end(
        &self,
        id: i64,
        worker: &str,
        failure: &RenderFailure,
    ) -> Result<JobState, StoreError> {
        let now = self.store.now().await?;
        let job = self.store.job(id).await?;
        let (state, reason, kind) = match failure {
            RenderFailure::Retry(reason) if job.attempts < job.max_attempts => {
                (JobState::Queued, reason.as_str(), "retry")
            }
            RenderFailure::Retry(reason) | RenderFailure::Fatal(reason) => {
                (JobState::Failed, reason.as_str(), "failed")
            }
            RenderFailure::Blocked(reason) => (JobState::Blocked, reason.as_str(), "blocked"),
            RenderFailure::Cancelled => (
                JobState::Cancelled,
                "cancelled by the requester",
                "cancelled",
            ),
        };
        let backoff = 1000 * 2i64.pow(job.attempts.min(8));
        let update = sqlx::query(
            "UPDATE jobs SET state = $1, failure_reason = $2, run_after = $3, updated_at = $4, \
             finished_at = CASE WHEN $1 = 'queued' THEN NULL ELSE $4 END, \
             lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $5 AND lease_owner = $6 AND state = 'rendering'",
        )
        .bind(state.as_str())
        .bind(reason)
        .bind(
            now + if state == JobState::Queued {
                backoff
            } else {
                0
            },
        )
        .bind(now)
        .bind(id)
        .bind(worker);
        let event = Event {
            job_id: id,
            at: now,
            kind,
            actor: worker,
            detail: reason,
        };
        if self.store.update_logged(update, event).await? {
            Ok(state)
        } else {
            // Someone else holds the job now; report where it stands.
            Ok(self.store.job(id).await?.state)
        }
    }

    /// Ends jobs whose worker vanished and that may not be tried again:
    /// out of attempts → failed; cancel requested → cancelled. Returns how
    /// many jobs it ended.
    pub async fn reap_expired(&self) -> Result<u64, StoreError> {
        let now = self.store.now().await?;
        let cancelled = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', failure_reason = 'cancelled by the requester', \
             finished_at = $1, updated_at = $1, lease_owner = NULL, lease_expires_at = NULL \
             WHERE state = 'rendering' AND lease_expires_at < $1 AND cancel_requested = 1",
        )
        .bind(now)
        .execute(&self.store.writes)
        .await?;
        let failed = sqlx::query(
            "UPDATE jobs SET state = 'failed', \
             failure_reason = 'the render stopped ' || CAST(attempts AS TEXT) || ' times (worker lost); giving up', \
             finished_at = $1, updated_at = $1, lease_owner = NULL, lease_expires_at = NULL \
             WHERE state = 'rendering' AND lease_expires_at < $1 AND attempts >= max_attempts",
        )
        .bind(now)
        .execute(&self.store.writes)
        .await?;
        Ok(cancelled.rows_affected() + failed.rows_affected())
    }

    /// Gives a job back to the queue untouched, as if never claimed (a
    /// worker shutting down mid-render). The attempt is not counted.
    pub async fn release(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        let now = self.store.now().await?;
        let update = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_after = $1, \
             updated_at = $1, progress_step = 0, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $2 AND lease_owner = $3 AND state = 'rendering'",
        )
        .bind(now)
        .bind(id)
        .bind(worker);
        self.store
            .update_logged(
                update,
                Event {
                    job_id: id,
                    at: now,
                    kind: "released",
                    actor: worker,
                    detail: "worker shut down",
                },
            )
            .await
    }
}
