//! Removing a delivered clip at its requester's wish: the job keeps its row
//! and history, the clip's key is cleared so nothing can post or serve it
//! again, and the caller deletes the data under the returned key.

use crate::db::Store;
use crate::error::StoreError;
use crate::jobs::Event;

impl Store {
    /// Clears the clip of a delivered job on behalf of `actor` and returns
    /// the key whose data the caller should delete. `None` when the job has
    /// no clip (never made, or already forgotten); the row is then untouched.
    pub async fn forget_clip(&self, id: i64, actor: &str) -> Result<Option<String>, StoreError> {
        let job = self.job(id).await?;
        let Some(key) = job.clip_key else {
            return Ok(None);
        };
        if job.state != crate::JobState::Delivered {
            return Ok(None);
        }
        let now = self.now_ms();
        let update = sqlx::query(
            "UPDATE jobs SET clip_key = NULL, updated_at = $1 \
             WHERE id = $2 AND state = 'delivered' AND clip_key = $3",
        )
        .bind(now)
        .bind(id)
        .bind(key.clone());
        let event = Event {
            job_id: id,
            at: now,
            kind: "clip_deleted",
            actor,
            detail: "",
        };
        match self.update_logged(update, event).await? {
            true => Ok(Some(key)),
            false => Ok(None),
        }
    }
}
