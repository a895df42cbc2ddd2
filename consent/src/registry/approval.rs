//! Approval mode `ask`: a clip with the cameo goes to its owner privately
//! before the requester gets it. The registry keeps where each clip stands
//! (on its `clip_cameos` rows, written at render start); delivery asks
//! each owner once, holds the clip, and posts or deletes it on the answer.
//! An owner's own clips never wait for themselves.

use serde_json::json;
use sqlx::Row;

use super::{append, CameoRegistry};
use crate::chain::EventKind;
use crate::error::RegistryError;
use crate::model::{ApprovalMode, Person, Status};

/// Where a clip stands with the owners of its cameos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalState {
    /// Nobody needs to approve (approval `auto`, or the requester owns the
    /// cameo), or every owner who does approved.
    Clear,
    /// An owner said no: the clip is deleted, never posted.
    Rejected { cameo: String },
    /// Owners still to answer. `to_ask`: not asked yet (ask them, then
    /// [`CameoRegistry::mark_asked`]); `waiting_on`: asked, no answer yet.
    Waiting {
        to_ask: Vec<ApprovalRequest>,
        waiting_on: Vec<String>,
    },
}

/// One owner to ask about one clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub cameo: String,
    pub owner: Person,
}

impl CameoRegistry {
    /// Where job `job_id`'s clip stands, for delivery.
    pub async fn approval_state(&self, job_id: i64) -> Result<ApprovalState, RegistryError> {
        let rows = sqlx::query(
            "SELECT c.name, c.owner_platform, c.owner_user, c.approval AS mode, c.status, \
             k.requester_platform, k.requester_user, k.approval_asked_at, k.approval \
             FROM clip_cameos k JOIN cameos c ON c.id = k.cameo_id \
             WHERE k.job_id = $1 ORDER BY c.name",
        )
        .bind(job_id)
        .fetch_all(self.store.read_pool())
        .await?;
        let (mut to_ask, mut waiting_on) = (Vec::new(), Vec::new());
        for row in &rows {
            let name: String = row.try_get("name")?;
            let owner = Person::new(
                row.try_get::<String, _>("owner_platform")?,
                row.try_get::<String, _>("owner_user")?,
            );
            let requester = Person::new(
                row.try_get::<String, _>("requester_platform")?,
                row.try_get::<String, _>("requester_user")?,
            );
            let mode: ApprovalMode = row.try_get::<String, _>("mode")?.parse()?;
            let status: Status = row.try_get::<String, _>("status")?.parse()?;
            // A withdrawn or erased cameo is the gate's to refuse.
            if mode != ApprovalMode::Ask || requester == owner || status != Status::Active {
                continue;
            }
            match row.try_get::<Option<String>, _>("approval")?.as_deref() {
                Some("approved") => {}
                Some(_) => return Ok(ApprovalState::Rejected { cameo: name }),
                None if row
                    .try_get::<Option<i64>, _>("approval_asked_at")?
                    .is_some() =>
                {
                    waiting_on.push(name)
                }
                None => to_ask.push(ApprovalRequest { cameo: name, owner }),
            }
        }
        Ok(if to_ask.is_empty() && waiting_on.is_empty() {
            ApprovalState::Clear
        } else {
            ApprovalState::Waiting { to_ask, waiting_on }
        })
    }

    /// Notes that the owner of `cameo` was asked about job `job_id` (so
    /// they are asked once). Returns false when that was already noted.
    pub async fn mark_asked(&self, job_id: i64, cameo: &str) -> Result<bool, RegistryError> {
        let done = sqlx::query(
            "UPDATE clip_cameos SET approval_asked_at = $1 \
             WHERE job_id = $2 AND approval_asked_at IS NULL \
             AND cameo_id = (SELECT id FROM cameos WHERE name = $3 AND status <> 'erased')",
        )
        .bind(self.now())
        .bind(job_id)
        .bind(cameo)
        .execute(self.store.write_pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the owner's answer about one clip: stored on the clip's row
    /// and appended to the log (`approval_given` / `approval_refused`),
    /// in one transaction. Only the owner may answer, only about a clip
    /// they were asked about, and only once.
    pub async fn record_approval(
        &self,
        actor: &Person,
        name: &str,
        job_id: i64,
        approved: bool,
    ) -> Result<(), RegistryError> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin(&mut conn).await?;
        let cameo = self.owned(&mut tx, actor, name, &[Status::Active]).await?;
        let at = self.now();
        let answer = if approved { "approved" } else { "rejected" };
        let stored = sqlx::query(
            "UPDATE clip_cameos SET approval = $1, approval_at = $2 \
             WHERE job_id = $3 AND cameo_id = $4 \
             AND approval_asked_at IS NOT NULL AND approval IS NULL",
        )
        .bind(answer)
        .bind(at)
        .bind(job_id)
        .bind(cameo.id.0)
        .execute(&mut *tx)
        .await?;
        if stored.rows_affected() != 1 {
            return Err(RegistryError::NoApprovalPending {
                name: cameo.name,
                job_id,
            });
        }
        let kind = if approved {
            EventKind::ApprovalGiven
        } else {
            EventKind::ApprovalRefused
        };
        let payload = json!({ "job_id": job_id });
        append(&mut tx, cameo.id, kind, &actor.actor(), payload, at).await?;
        tx.commit().await?;
        Ok(())
    }
}
