//! Delivery: posting each job's outcome (the clip, or why there is none)
//! to its chat. A poster claims a job under a lease like a render worker
//! does, so a crash mid-post leaves the job to be claimed again and a post
//! is recorded once.

use std::time::Duration;

use crate::db::Store;
use crate::error::StoreError;
use crate::jobs::{insert_event, job_from_row, Event, Job, JOB_COLUMNS};

/// A job whose outcome waits to be posted and that nobody holds (`$1`: now).
const OUTCOME_PENDING: &str = "(state = 'encoded' \
     OR (state IN ('failed', 'blocked', 'cancelled') AND outcome_posted = 0)) \
     AND (lease_expires_at IS NULL OR lease_expires_at < $1) AND run_after <= $1";

/// Delivery gives up after this many failed posts (with backoff in between).
const MAX_DELIVERY_ATTEMPTS: u32 = 8;

/// The chat side's view of finished jobs (from [`Store::delivery`]).
#[derive(Clone, Debug)]
pub struct Delivery {
    store: Store,
}

impl Store {
    pub fn delivery(&self) -> Delivery {
        Delivery {
            store: self.clone(),
        }
    }
}

impl Delivery {
    /// The store deliveries are recorded in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Takes the next job of one of `platforms` whose outcome must be posted:
    /// an encoded clip, or the reason a job failed, was blocked or cancelled.
    pub async fn claim(
        &self,
        platforms: &[&str],
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Job>, StoreError> {
        if platforms.is_empty() {
            return Ok(None);
        }
        let now = self.store.now().await?;
        // Pollers look often: look before writing, for these platforms only
        // (a job for a platform nobody here serves would otherwise cost a
        // write transaction per poll, forever).
        let placeholders: Vec<String> = (0..platforms.len())
            .map(|i| format!("${}", i + 2))
            .collect();
        let pending = format!(
            "SELECT id FROM jobs WHERE {OUTCOME_PENDING} AND platform IN ({}) LIMIT 1",
            placeholders.join(", ")
        );
        let mut look = sqlx::query(&pending).bind(now);
        for platform in platforms {
            look = look.bind(*platform);
        }
        if look.fetch_optional(&self.store.pool).await?.is_none() {
            return Ok(None);
        }
        let placeholders: Vec<String> = (0..platforms.len())
            .map(|i| format!("${}", i + 4))
            .collect();
        let sql = format!(
            "UPDATE jobs SET lease_owner = $2, lease_expires_at = $3, \
             delivery_attempts = delivery_attempts + 1 \
             WHERE id = (SELECT id FROM jobs WHERE {OUTCOME_PENDING} \
                 AND platform IN ({}) ORDER BY id LIMIT 1 {}) \
             RETURNING {JOB_COLUMNS}",
            placeholders.join(", "),
            self.store.skip_locked()
        );
        let mut query = sqlx::query(&sql)
            .bind(now)
            .bind(owner)
            .bind(now + lease.as_millis() as i64);
        for platform in platforms {
            query = query.bind(*platform);
        }
        let mut tx = self.store.writes.begin().await?;
        let Some(row) = query.fetch_optional(&mut *tx).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        insert_event(&mut tx, job.id, now, "posting", owner, job.state.as_str()).await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    /// The clip was posted; `receipt` is the adapter's record of the post.
    /// Returns false if `owner` had lost the job.
    pub async fn mark_delivered(
        &self,
        id: i64,
        owner: &str,
        receipt: &str,
    ) -> Result<bool, StoreError> {
        self.mark_posted(id, owner, Some(receipt)).await
    }

    /// The failure/cancel/block message was posted.
    pub async fn mark_outcome_posted(&self, id: i64, owner: &str) -> Result<bool, StoreError> {
        self.mark_posted(id, owner, None).await
    }

    async fn mark_posted(
        &self,
        id: i64,
        owner: &str,
        receipt: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = self.store.now().await?;
        let update = sqlx::query(
            "UPDATE jobs SET outcome_posted = 1, lease_owner = NULL, lease_expires_at = NULL, \
             state = CASE WHEN state = 'encoded' THEN 'delivered' ELSE state END, \
             delivery_receipt = COALESCE($1, delivery_receipt), \
             finished_at = COALESCE(finished_at, $2), updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND outcome_posted = 0",
        )
        .bind(receipt)
        .bind(now)
        .bind(id)
        .bind(owner);
        let kind = if receipt.is_some() {
            "delivered"
        } else {
            "outcome_posted"
        };
        self.store
            .update_logged(
                update,
                Event {
                    job_id: id,
                    at: now,
                    kind,
                    actor: owner,
                    detail: receipt.unwrap_or(""),
                },
            )
            .await
    }

    /// Posting failed: try again later with backoff, or after too many
    /// attempts give up (the job then ends failed, with the reason).
    pub async fn postpone(&self, id: i64, owner: &str, error: &str) -> Result<(), StoreError> {
        let now = self.store.now().await?;
        let job = self.store.job(id).await?;
        let mut tx = self.store.writes.begin().await?;
        if job.delivery_attempts >= MAX_DELIVERY_ATTEMPTS {
            let reason = format!("the clip could not be posted: {error}");
            sqlx::query(
                "UPDATE jobs SET state = 'failed', outcome_posted = 1, failure_reason = $1, \
                 finished_at = $2, updated_at = $2, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE id = $3 AND lease_owner = $4",
            )
            .bind(&reason)
            .bind(now)
            .bind(id)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
            insert_event(&mut tx, id, now, "gave_up_posting", owner, error).await?;
        } else {
            let backoff = (1000 * 2i64.pow(job.delivery_attempts)).min(300_000);
            sqlx::query(
                "UPDATE jobs SET run_after = $1, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE id = $2 AND lease_owner = $3",
            )
            .bind(now + backoff)
            .bind(id)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
            insert_event(&mut tx, id, now, "post_failed", owner, error).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Holds an encoded clip unposted for `wait` (it waits for its cameo's
    /// owner to approve it) and lets the lease go. Not a failed post: the
    /// attempt the claim counted is given back, so a long wait never runs
    /// out of delivery attempts. Recorded as no event (it repeats every
    /// `wait`); the caller records what the wait is for once.
    pub async fn hold(&self, id: i64, owner: &str, wait: Duration) -> Result<bool, StoreError> {
        let now = self.store.now().await?;
        let held = sqlx::query(
            "UPDATE jobs SET run_after = $1, delivery_attempts = delivery_attempts - 1, \
             lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $2 AND lease_owner = $3 AND state = 'encoded'",
        )
        .bind(now + wait.as_millis() as i64)
        .bind(id)
        .bind(owner)
        .execute(&self.store.writes)
        .await?;
        Ok(held.rows_affected() == 1)
    }

    /// A consent check refused an encoded clip just before posting (the
    /// cameo's owner withdrew): the job ends blocked and its outcome message
    /// is posted instead of the clip. `owner` must hold the delivery lease.
    pub async fn block(&self, id: i64, owner: &str, reason: &str) -> Result<bool, StoreError> {
        let now = self.store.now().await?;
        let update = sqlx::query(
            "UPDATE jobs SET state = 'blocked', failure_reason = $1, updated_at = $2, finished_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND state = 'encoded'",
        )
        .bind(reason)
        .bind(now)
        .bind(id)
        .bind(owner);
        self.store
            .update_logged(
                update,
                Event {
                    job_id: id,
                    at: now,
                    kind: "blocked",
                    actor: owner,
                    detail: reason,
                },
            )
            .await
    }
}
