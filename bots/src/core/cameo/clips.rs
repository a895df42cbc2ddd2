//! `/cameo clips`: every clip that used the owner's likeness, whoever
//! asked for it, each with a button that removes it. The requester learns
//! only that the clip was removed.

use reel_consent::{ClipUse, Person};
use reel_store::ClipDeletion;

use super::owner::HELD;
use super::{cameo_answered, Answer, Cameos, Failure};
use crate::core::reply::Reply;
use crate::core::service::{CommandCore, Requester};
use crate::core::wording::cameo as words;

/// At most this many clips are listed with buttons (Discord allows 25
/// buttons a message; Telegram keyboards get unwieldy long before).
pub const CLIPS_LISTED: usize = 20;

impl CommandCore {
    pub(super) async fn cameo_clips(
        &self,
        cameos: &Cameos,
        owner: &Person,
        named: Option<String>,
    ) -> Answer {
        let uses = cameos.uses(owner, named).await?;
        if uses.is_empty() {
            return Ok(Reply::info(words::NO_CLIPS));
        }
        let mut lines = Vec::new();
        let mut removable = Vec::new();
        for clip in uses.iter().take(CLIPS_LISTED) {
            let job = self.store().job(clip.job_id).await?;
            let stored = job.clip_key.is_some();
            lines.push(words::clip_use(clip, stored));
            if stored {
                removable.push(clip.job_id);
            }
        }
        Ok(Reply::CameoClips {
            text: words::clip_list(&lines, uses.len()),
            job_ids: removable,
        })
    }

    /// The Delete button under `/cameo clips`: removes the stored clip of
    /// job `job_id` if it used one of the presser's cameos. A job that did
    /// not reads like a missing one.
    pub async fn remove_cameo_clip(&self, from: &Requester, job_id: i64) -> Reply {
        let Some(cameos) = &self.cameos else {
            return Reply::refused(words::NOT_ENABLED);
        };
        let answer = self.remove_clip_of(cameos, from, job_id).await;
        cameo_answered(from, answer)
    }

    async fn remove_clip_of(&self, cameos: &Cameos, from: &Requester, job_id: i64) -> Answer {
        let owner = Person::new(&from.platform, &from.user_id);
        let uses = cameos.uses(&owner, None).await?;
        if !uses.iter().any(|c| c.job_id == job_id) {
            return Err(Failure::Usage(words::not_your_clip(job_id)));
        }
        let actor = format!("{}:{} (cameo owner)", from.platform, from.user_id);
        let deletion = self
            .store()
            .delete_clip(job_id, &actor, self.clips())
            .await?;
        if deletion == ClipDeletion::NoClip {
            return Err(Failure::Usage(words::clip_already_removed(job_id)));
        }
        tracing::info!(job = job_id, "clip removed by a cameo's owner");
        let job = self.store().job(job_id).await?;
        Ok(Reply::Removed {
            job: Box::new(job),
            text: words::clip_removed(job_id),
        })
    }
}

impl Cameos {
    /// The clips that used the owner's cameo `named`, or any of theirs,
    /// newest first, each job once.
    async fn uses(&self, owner: &Person, named: Option<String>) -> Result<Vec<ClipUse>, Failure> {
        let names = match named {
            Some(name) => vec![name],
            None => self
                .registry
                .cameos_of(owner)
                .await?
                .into_iter()
                .filter(|c| HELD.contains(&c.status))
                .map(|c| c.name)
                .collect(),
        };
        let mut uses = Vec::new();
        for name in names {
            uses.extend(self.registry.clips_of(owner, &name).await?);
        }
        uses.sort_by_key(|c| std::cmp::Reverse((c.at, c.job_id)));
        uses.dedup_by_key(|c| c.job_id);
        Ok(uses)
    }
}
