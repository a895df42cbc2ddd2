//! "Delete my clip": the requester removes a clip they were given. The job
//! keeps its history; the stored clip is deleted and can no longer be posted.

use reel_store::{ClipDeletion, ClipStore, StoreError};

use super::service::{CommandCore, Reply, ReplyKind, Requester};
use super::wording;

impl CommandCore {
    /// Deletes the stored clip of the requester's delivered job `job_id`.
    /// Someone else's job reads like a missing one; a job still on the way
    /// or without a clip is refused and left as it is.
    pub async fn delete_clip(
        &self,
        from: &Requester,
        clips: &ClipStore,
        job_id: i64,
    ) -> Result<Reply, StoreError> {
        let job = match self.store().job(job_id).await {
            Ok(job) if job.platform == from.platform && job.user_id == from.user_id => job,
            Ok(_) | Err(StoreError::UnknownJob(_)) => {
                return Ok(refused(wording::not_yours(job_id)))
            }
            Err(other) => return Err(other),
        };
        if job.state.is_active() {
            return Ok(refused(wording::delete_active(job_id)));
        }
        let actor = format!("{}:{}", from.platform, from.user_id);
        // The data first, then the record: a storage error changes nothing.
        let deletion = self.store().delete_clip(job_id, &actor, clips).await?;
        if deletion == ClipDeletion::NoClip {
            return Ok(refused(wording::nothing_to_delete(job_id)));
        }
        tracing::info!(job = job_id, "clip deleted by its requester");
        Ok(Reply {
            kind: ReplyKind::Info,
            text: wording::deleted(job_id),
            job_id: Some(job_id),
        })
    }
}

fn refused(text: String) -> Reply {
    Reply {
        kind: ReplyKind::Refused,
        text,
        job_id: None,
    }
}
