//! Keeping a delivery lease while a post is under way: a slow upload (a
//! Telegram 429 wait, a 50 MB clip) must not let the lease lapse, or a
//! second poster claims the job and uploads the clip again.

use std::time::Duration;

use crate::db::Store;
use crate::error::StoreError;

impl Store {
    /// Extends `owner`'s delivery lease on job `id` to `lease` from now.
    /// False when `owner` no longer holds it (it lapsed and another poster
    /// took the job, or the outcome was already posted).
    pub async fn renew_outcome_lease(
        &self,
        id: i64,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let until = self.now_ms() + lease.as_millis() as i64;
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1 \
             WHERE id = $2 AND lease_owner = $3 AND outcome_posted = 0 \
             AND state IN ('encoded', 'failed', 'blocked', 'cancelled')",
        )
        .bind(until)
        .bind(id)
        .bind(owner)
        .execute(&self.writes)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
