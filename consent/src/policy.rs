//! The one rule every checkpoint applies to a gate's answer.
//!
//! | gate says                   | verdict            | enqueue                 | render start                        | delivery                    |
//! |-----------------------------|--------------------|-------------------------|-------------------------------------|-----------------------------|
//! | allowed                     | `Allow`            | queued                  | rendered                            | posted                      |
//! | refused (reason)            | `Refuse(reason)`   | refused, nothing queued | blocked, never rendered             | blocked, clip deleted       |
//! | registry unreachable        | `RetryLater(why)`  | refused "try again", nothing queued | back to the queue with back-off (fails after the last attempt) | postponed, asked again later |
//!
//! Unconfirmed consent is never taken as given (no clip goes out on an
//! outage) and never as withdrawn (an outage does not block a job for good).
//! A request without cameos names nobody and is allowed without asking.

use crate::{ConsentDecision, ConsentGate, ConsentRequest};

/// What a checkpoint does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Consent is missing or withdrawn; the reason is shown to the requester.
    Refuse(String),
    /// Consent could not be confirmed now (the registry is unreachable);
    /// the reason is for logs and the job's history.
    RetryLater(String),
}

/// Asks `gate` about `request` and applies the policy above.
pub async fn decide(gate: &dyn ConsentGate, request: &ConsentRequest<'_>) -> Verdict {
    if request.cameo_ids.is_empty() {
        return Verdict::Allow;
    }
    match gate.check(request).await {
        Ok(ConsentDecision::Allowed) => Verdict::Allow,
        Ok(ConsentDecision::Refused(reason)) => Verdict::Refuse(reason),
        Err(error) => {
            tracing::warn!(%error, checkpoint = ?request.checkpoint, "consent could not be confirmed");
            Verdict::RetryLater(format!("consent could not be confirmed ({error})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::{Checkpoint, ConsentError};

    struct Fixed(Result<ConsentDecision, String>);

    #[async_trait]
    impl ConsentGate for Fixed {
        async fn check(&self, _: &ConsentRequest<'_>) -> Result<ConsentDecision, ConsentError> {
            self.0.clone().map_err(ConsentError::Unavailable)
        }
    }

    fn request(cameos: &[String]) -> ConsentRequest<'_> {
        ConsentRequest {
            platform: "terminal",
            user_id: "u",
            cameo_ids: cameos,
            prompt: "p",
            checkpoint: Checkpoint::Delivery,
        }
    }

    #[tokio::test]
    async fn each_answer_has_one_verdict() {
        let alice = ["alice".to_string()];
        let allowed = Fixed(Ok(ConsentDecision::Allowed));
        assert_eq!(decide(&allowed, &request(&alice)).await, Verdict::Allow);
        let refused = Fixed(Ok(ConsentDecision::Refused("withdrawn".into())));
        assert_eq!(
            decide(&refused, &request(&alice)).await,
            Verdict::Refuse("withdrawn".into())
        );
        let down = Fixed(Err("connection refused".into()));
        match decide(&down, &request(&alice)).await {
            Verdict::RetryLater(why) => assert!(why.contains("connection refused"), "{why}"),
            other => panic!("an outage must be retried later, got {other:?}"),
        }
        // Nobody named: the registry is not needed (and its outage harmless).
        assert_eq!(decide(&down, &request(&[])).await, Verdict::Allow);
    }
}
