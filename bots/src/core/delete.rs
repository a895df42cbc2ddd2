//! "Delete my clip": the requester removes a clip they were given. The job
//! keeps its history; the stored clip is deleted and can no longer be posted.

use reel_store::{ClipDeletion, StoreError};

use super::reply::Reply;
use super::service::{answered, CommandCore, Requester};
use super::wording;

impl CommandCore {
    /// Deletes the stored clip of the requester's delivered job `job_id`.
    /// Someone else's job reads like a missing one; a job still on the way
    /// or without a clip is refused and left as it is.
    pub async fn delete_clip(&self, from: &Requester, job_id: i64) -> Reply {
        answered(from, self.delete_own_clip(from, job_id).await)
    }

    async fn delete_own_clip(&self, from: &Requester, job_id: i64) -> Result<Reply, StoreError> {
        let Some(job) = self.own_job(from, job_id).await? else {
            return Ok(Reply::refused(wording::not_yours(job_id)));
        };
        if job.state.is_active() {
            return Ok(Reply::refused(wording::delete_active(job_id)));
        }
        let actor = format!("{}:{}", from.platform, from.user_id);
        // The data first, then the record: a storage error changes nothing.
        let deletion = self
            .store()
            .delete_clip(job_id, &actor, self.clips())
            .await?;
        if deletion == ClipDeletion::NoClip {
            return Ok(Reply::refused(wording::nothing_to_delete(job_id)));
        }
        tracing::info!(job = job_id, "clip deleted by its requester");
        Ok(Reply::Deleted {
            job_id,
            text: wording::deleted(job_id),
        })
    }
}
