//! Approval mode `ask` at delivery: an encoded clip with a cameo whose
//! owner approves each clip is shown to that owner privately first (on the
//! owner's own platform) and held unposted until they answer. Approved:
//! posted as usual. Rejected, or no answer within [`APPROVAL_TIMEOUT`]: the
//! clip is deleted and the requester told only that it was not approved.
//! The registry keeps who was asked and what they said (see
//! `reel_consent::ApprovalState`); the answer comes through the command
//! core (`/cameo approve|reject`, or the buttons).

use std::time::Duration;

use reel_consent::{ApprovalRequest, ApprovalState};
use reel_store::{Job, StoreError};

use super::outcomes::{ChatSink, ClipFile};
use super::poster::OutcomePoster;
use super::wording;

/// How long a clip waits for its cameo's owner before it is dropped.
pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// What delivery does with a clip after the approval check.
pub(super) enum AfterApproval {
    /// Nobody needs to approve, or all did: post it.
    Post,
    /// Held, or ended without posting: nothing more to do now.
    Handled,
}

impl OutcomePoster {
    /// Checks job `job`'s clip against its cameos' approval modes.
    pub(super) async fn approval_step(
        &self,
        sink: &dyn ChatSink,
        job: &Job,
        clip: &ClipFile,
    ) -> Result<AfterApproval, StoreError> {
        let Some(registry) = self.approvals() else {
            return Ok(AfterApproval::Post);
        };
        if job.cameo_ids.is_empty() {
            return Ok(AfterApproval::Post);
        }
        let delivery = self.store().delivery();
        let state = match registry.approval_state(job.id).await {
            Ok(state) => state,
            Err(error) => {
                let reason = format!("the consent registry is unreachable ({error})");
                delivery.postpone(job.id, self.owner(), &reason).await?;
                return Ok(AfterApproval::Handled);
            }
        };
        let (to_ask, waiting_on) = match state {
            ApprovalState::Clear => return Ok(AfterApproval::Post),
            ApprovalState::Rejected { cameo } => {
                self.drop_clip(sink, job, &wording::approval_refused(&cameo))
                    .await?;
                return Ok(AfterApproval::Handled);
            }
            ApprovalState::Waiting { to_ask, waiting_on } => (to_ask, waiting_on),
        };
        let waited = self.store().now_ms() - job.encoded_at.unwrap_or(job.created_at);
        if waited > APPROVAL_TIMEOUT.as_millis() as i64 {
            let cameo = waiting_on.first().or(to_ask.first().map(|a| &a.cameo));
            let text = wording::approval_timed_out(cameo.map_or("", String::as_str));
            self.drop_clip(sink, job, &text).await?;
            return Ok(AfterApproval::Handled);
        }
        let first_ask = waiting_on.is_empty();
        for ask in &to_ask {
            self.ask_owner(job, clip, ask).await?;
        }
        if first_ask && !to_ask.is_empty() {
            // The requester's status message says why the clip is late.
            let _ = sink
                .show_progress(job, &wording::awaiting_approval(job))
                .await;
        }
        delivery
            .hold(job.id, self.owner(), self.approval_poll())
            .await?;
        Ok(AfterApproval::Handled)
    }

    /// Shows the clip to one cameo's owner with Approve and Reject; noted
    /// once it went out (a failed ask is tried again at the next look).
    async fn ask_owner(
        &self,
        job: &Job,
        clip: &ClipFile,
        ask: &ApprovalRequest,
    ) -> Result<(), StoreError> {
        let Some(registry) = self.approvals() else {
            return Ok(());
        };
        let Some(owner_sink) = self.sink_for(&ask.owner.platform) else {
            tracing::warn!(
                job = job.id,
                platform = %ask.owner.platform,
                "the cameo's owner is on a platform this process does not serve; the clip waits"
            );
            return Ok(());
        };
        let text = wording::approval_request(job, &ask.cameo, |t| owner_sink.quote(t));
        match owner_sink
            .ask_approval(&ask.owner.user_id, job, clip, &text)
            .await
        {
            Ok(()) => {
                if let Err(error) = registry.mark_asked(job.id, &ask.cameo).await {
                    tracing::warn!(job = job.id, %error, "could not note the approval request");
                }
                let detail = format!("cameo {}", ask.cameo);
                self.store()
                    .record_event(job.id, "approval_asked", self.owner(), &detail)
                    .await?;
            }
            Err(error) => {
                tracing::warn!(job = job.id, %error, "asking the cameo's owner failed; tried again later")
            }
        }
        Ok(())
    }
}
