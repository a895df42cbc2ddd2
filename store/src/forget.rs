//! Removing a delivered clip at its requester's wish: the job keeps its row
//! and history; the clip's data is deleted and its key cleared so nothing
//! can post or serve it again.
//!
//! The object goes first and its key second. Deleting an object is
//! idempotent (a missing one counts as deleted), so if the object cannot be
//! deleted nothing has changed and the caller can say so; if the key cannot
//! be cleared afterwards the clip is gone all the same and a retry (or the
//! retention sweep) clears the key. The other order would leave an object
//! nobody refers to while telling the user nothing changed.

use crate::clips::ClipStore;
use crate::db::Store;
use crate::error::StoreError;
use crate::JobState;

/// What [`Store::delete_clip`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipDeletion {
    /// The clip's data is gone.
    Deleted,
    /// The job has no clip to delete (never made, not delivered yet, or
    /// deleted before); nothing changed.
    NoClip,
}

impl Store {
    /// Deletes the clip of delivered job `id` on behalf of `actor`. An error
    /// from clip storage means nothing changed.
    pub async fn delete_clip(
        &self,
        id: i64,
        actor: &str,
        clips: &ClipStore,
    ) -> Result<ClipDeletion, StoreError> {
        let job = self.job(id).await?;
        let Some(key) = job.clip_key else {
            return Ok(ClipDeletion::NoClip);
        };
        if job.state != JobState::Delivered {
            return Ok(ClipDeletion::NoClip);
        }
        clips.delete(&key).await?;
        match self.clear_clip_key(id, &key, "clip_deleted", actor).await {
            Ok(true) => Ok(ClipDeletion::Deleted),
            // Someone else cleared it between our read and now.
            Ok(false) => Ok(ClipDeletion::NoClip),
            Err(error) => {
                tracing::warn!(job = id, %error, "clip deleted; its key stays until a retry or the retention sweep");
                Ok(ClipDeletion::Deleted)
            }
        }
    }
}
