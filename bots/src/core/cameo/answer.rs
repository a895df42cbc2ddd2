//! `/cameo approve N` and `/cameo reject N`: a cameo's owner answers about
//! a clip held for their approval (approval mode `ask`; delivery asked them
//! privately, see `core/approval_hold.rs`). The answer is recorded in the
//! registry; the held clip goes out, or is deleted, at delivery's next look.

use reel_consent::{Person, Status};
use reel_store::StoreError;

use super::{Answer, Cameos, Failure};
use crate::core::reply::Reply;
use crate::core::service::CommandCore;
use crate::core::wording::cameo as words;

impl CommandCore {
    pub(super) async fn answer_approval(
        &self,
        cameos: &Cameos,
        owner: &Person,
        job_id: i64,
        approve: bool,
    ) -> Answer {
        let job = match self.store().job(job_id).await {
            Ok(job) => job,
            // A missing job reads like one that waits for nobody.
            Err(StoreError::UnknownJob(_)) => {
                return Err(Failure::Usage(words::nothing_to_answer(job_id)))
            }
            Err(other) => return Err(other.into()),
        };
        // The owner's active cameos in this clip: one answer covers each.
        let mine: Vec<String> = cameos
            .registry
            .cameos_of(owner)
            .await?
            .into_iter()
            .filter(|c| c.status == Status::Active && job.cameo_ids.contains(&c.name))
            .map(|c| c.name)
            .collect();
        if mine.is_empty() {
            return Err(Failure::Usage(words::nothing_to_answer(job_id)));
        }
        for name in &mine {
            cameos
                .registry
                .record_approval(owner, name, job_id, approve)
                .await?;
        }
        Ok(Reply::info(words::answered(job_id, approve)))
    }
}
