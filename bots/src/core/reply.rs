//! What the core answers. Each adapter shows each kind of answer its
//! platform's way (a public message with buttons, an ephemeral note, a
//! callback answer); none of them decides what the answer is.

use reel_store::Job;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A job was queued: `text` is its status message, which progress edits
    /// later and which carries the job's buttons.
    Queued { job_id: i64, text: String },
    /// An answer for the sender: help, status, history.
    Info { text: String },
    /// A cancel was accepted. `ended`: the job stopped at once (it never
    /// started), so its status message can say so now; otherwise the worker
    /// stops it and the outcome poster tells the chat.
    Cancelled {
        job: Box<Job>,
        text: String,
        ended: bool,
    },
    /// The requester's clip was deleted from storage; its message can go.
    Deleted { job_id: i64, text: String },
    /// Bad input, a limit, someone else's job: nothing changed. Shown only
    /// to the sender wherever the platform allows it.
    Refused { text: String },
    /// `/clip 12`: post this delivered job's clip again, here, with `caption`.
    Repost { job: Box<Job>, caption: String },
    /// `/cameo clips`: the list, and under it a Delete button
    /// ([`Action::RemoveCameoClip`](super::actions::Action)) for each of
    /// `job_ids`.
    CameoClips { text: String, job_ids: Vec<i64> },
    /// A cameo's owner removed a clip made with their likeness: the stored
    /// clip is gone; where the platform allows, its posted message (found
    /// through the job's reply handle) goes too.
    Removed { job: Box<Job>, text: String },
}

/// The kind of a [`Reply`], without its data (logs, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Queued,
    Info,
    Cancelled,
    Deleted,
    Refused,
    Repost,
    CameoClips,
    Removed,
}

impl Reply {
    pub(crate) fn info(text: impl Into<String>) -> Self {
        Self::Info { text: text.into() }
    }

    pub(crate) fn refused(text: impl Into<String>) -> Self {
        Self::Refused { text: text.into() }
    }

    pub fn kind(&self) -> ReplyKind {
        match self {
            Self::Queued { .. } => ReplyKind::Queued,
            Self::Info { .. } => ReplyKind::Info,
            Self::Cancelled { .. } => ReplyKind::Cancelled,
            Self::Deleted { .. } => ReplyKind::Deleted,
            Self::Refused { .. } => ReplyKind::Refused,
            Self::Repost { .. } => ReplyKind::Repost,
            Self::CameoClips { .. } => ReplyKind::CameoClips,
            Self::Removed { .. } => ReplyKind::Removed,
        }
    }

    /// What the sender reads (a re-post's caption).
    pub fn text(&self) -> &str {
        match self {
            Self::Queued { text, .. }
            | Self::Info { text }
            | Self::Cancelled { text, .. }
            | Self::Deleted { text, .. }
            | Self::Refused { text }
            | Self::CameoClips { text, .. }
            | Self::Removed { text, .. } => text,
            Self::Repost { caption, .. } => caption,
        }
    }

    /// The job the answer is about, where there is one.
    pub fn job_id(&self) -> Option<i64> {
        match self {
            Self::Queued { job_id, .. } | Self::Deleted { job_id, .. } => Some(*job_id),
            Self::Cancelled { job, .. } | Self::Repost { job, .. } | Self::Removed { job, .. } => {
                Some(job.id)
            }
            Self::Info { .. } | Self::Refused { .. } | Self::CameoClips { .. } => None,
        }
    }

    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}
