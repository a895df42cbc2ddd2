//! What the adapter stores with a job (`reply_handle`) and as its delivery
//! receipt, as JSON. The job row is the adapter's only memory: a restarted
//! process (or another host) edits the same messages with it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Discord's default upload limit when an interaction does not say.
pub const DEFAULT_ATTACHMENT_LIMIT: u64 = 10 * 1024 * 1024;
/// An interaction token works for 15 minutes; stop using it a little
/// earlier so a slow request does not straddle the expiry.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60 - 30);

/// Where a job's messages are and how to reach them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyHandle {
    pub application_id: u64,
    /// The interaction token (edits and follow-ups). It expires after 15
    /// minutes, after which the channel endpoints are used instead.
    pub token: String,
    /// When the interaction arrived (ms since the Unix epoch).
    pub issued_at_ms: i64,
    pub channel_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<u64>,
    pub user_id: u64,
    /// The job's status message; `None` means the interaction's original
    /// response (`@original`) before its id was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<u64>,
    /// The interaction's `attachment_size_limit` in bytes.
    pub attachment_limit: u64,
    /// After the token expired: the channel message (a reply to the status
    /// message, mentioning the user) that carries progress and the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_message_id: Option<u64>,
    /// The posted clip: a retried post finds it here and posts nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<Receipt>,
}

/// How a message was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The interaction webhook (token still valid).
    Webhook,
    /// The channel-message endpoints (token expired or refused).
    Channel,
}

/// The delivery receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub channel_id: u64,
    pub message_id: u64,
    pub via: Via,
    /// Bytes of the clip uploaded; 0 when it could not be (too large, no
    /// permission) and a message said so instead.
    pub bytes: u64,
    /// Why the clip itself was not attached, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_attached: Option<String>,
}

impl ReplyHandle {
    /// `None` for a handle this version did not write (nothing to post to).
    pub fn parse(json: &str) -> Option<Self> {
        serde_json::from_str::<Self>(json)
            .ok()
            .filter(|h| h.application_id != 0 && h.channel_id != 0)
    }

    pub fn to_json(&self) -> String {
        crate::core::handle_json(self)
    }

    /// Whether the interaction token may still be used at `now_ms`.
    pub fn token_fresh(&self, now_ms: i64) -> bool {
        !self.token.is_empty()
            && now_ms.saturating_sub(self.issued_at_ms) < TOKEN_LIFETIME.as_millis() as i64
    }
}

impl crate::core::ChatHandle for ReplyHandle {
    fn read(json: &str) -> Option<Self> {
        Self::parse(json)
    }

    fn write(&self) -> String {
        self.to_json()
    }
}

impl Receipt {
    pub fn parse(json: &str) -> Option<Self> {
        serde_json::from_str(json).ok()
    }

    pub fn to_json(&self) -> String {
        crate::core::handle_json(self)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_foreign_json() {
        let handle = ReplyHandle {
            application_id: 1,
            token: "t".into(),
            issued_at_ms: 1000,
            channel_id: 2,
            guild_id: None,
            user_id: 3,
            message_id: Some(4),
            attachment_limit: DEFAULT_ATTACHMENT_LIMIT,
            fallback_message_id: None,
            clip: None,
        };
        assert_eq!(ReplyHandle::parse(&handle.to_json()), Some(handle.clone()));
        assert_eq!(ReplyHandle::parse("{}"), None);
        assert_eq!(ReplyHandle::parse(r#"{"status_message_id":5}"#), None);
        assert!(handle.token_fresh(1000 + 14 * 60 * 1000));
        assert!(!handle.token_fresh(1000 + 15 * 60 * 1000));
    }
}
