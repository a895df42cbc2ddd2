//! The compare-and-swap behind a job's chat handles (`reply_handle`): the
//! handler that posted the status message, the progress watcher and the
//! poster all change the same JSON, and none may undo another's change.
//! The JSON belongs to the adapter; `reel_bots::core::ChatHandles` is the
//! one writer that uses this.

use crate::db::Store;
use crate::error::StoreError;

impl Store {
    /// Replaces job `id`'s reply handle with `new` if it is still
    /// `expected`. False when another writer changed it first (read it
    /// again and redo the change); an unknown job is an error.
    pub async fn swap_reply_handle(
        &self,
        id: i64,
        expected: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE jobs SET reply_handle = $1 WHERE id = $2 AND reply_handle = $3")
                .bind(new)
                .bind(id)
                .bind(expected)
                .execute(&self.writes)
                .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        // Tell a lost race from a missing job.
        self.job(id).await?;
        Ok(false)
    }
}
