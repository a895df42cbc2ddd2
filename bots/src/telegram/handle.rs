//! What the adapter stores with a job (`reply_handle`) and as its delivery
//! receipt, as JSON. The job row is the only memory the adapter has, so a
//! restarted process edits and answers the same messages.

use serde::{Deserialize, Serialize};

/// Where the job's messages are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyHandle {
    /// The "queued" message that progress edits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message_id: Option<i32>,
    /// The posted clip, once sent: a retried post finds it here and does
    /// not post again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<Receipt>,
}

/// The posted clip: its message, and the `file_id` Telegram gave the upload
/// (re-sending by `file_id` needs no new upload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub chat_id: i64,
    pub message_id: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// Posted with sendDocument (too large for sendVideo); `file_id` is then
    /// a document's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub as_document: bool,
}

impl ReplyHandle {
    /// A handle this version cannot read counts as empty: at worst progress
    /// is not shown and the clip is posted without replying.
    pub fn parse(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        crate::core::handle_json(self)
    }
}

impl crate::core::ChatHandle for ReplyHandle {
    fn read(json: &str) -> Option<Self> {
        Some(Self::parse(json))
    }

    fn write(&self) -> String {
        self.to_json()
    }
}

impl Receipt {
    /// `None` for a receipt this version did not write.
    pub fn parse(json: &str) -> Option<Self> {
        serde_json::from_str(json).ok()
    }

    pub fn to_json(&self) -> String {
        crate::core::handle_json(self)
    }
}
