//! Getting results back to chats: what an adapter implements ([`ChatSink`])
//! and the progress watcher that turns job updates into progress messages.
//! The poster of final outcomes is in `poster.rs`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reel_store::{Job, JobState, Store, StoreError};
use tokio_util::sync::CancellationToken;

use super::handles::JobLocks;
use super::wording;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// A finished clip, ready to post.
#[derive(Debug, Clone)]
pub struct ClipFile {
    pub key: String,
    pub data: Bytes,
    /// Set when clips live in a local folder.
    pub local_path: Option<PathBuf>,
}

/// What an adapter implements to show progress and post results.
#[async_trait]
pub trait ChatSink: Send + Sync {
    /// The platform whose jobs this sink posts (`Job::platform`).
    fn platform(&self) -> &str;

    /// The per-job locks this sink's progress edits and final posts share
    /// (the watcher and the poster take them; see [`JobLocks`]).
    fn locks(&self) -> &JobLocks;

    /// Shows or updates the job's progress message. `Ok(false)`: nothing
    /// to update yet (the status message is not recorded); asked again later.
    async fn show_progress(&self, job: &Job, text: &str) -> Result<bool, SinkError>;

    /// User text (a prompt) as it must appear in this platform's messages
    /// to show as typed; escapes the platform's markup where it has one.
    fn quote(&self, user_text: &str) -> String {
        user_text.to_string()
    }

    /// Posts the clip and returns a receipt (e.g. the message id). Must be
    /// idempotent per job: after a crash between the post and its record it
    /// is called again for the same job, and should then edit or find its
    /// earlier post rather than post twice.
    async fn post_clip(
        &self,
        job: &Job,
        clip: &ClipFile,
        caption: &str,
    ) -> Result<String, SinkError>;

    /// Posts why a job ended without a clip (failed, cancelled, blocked).
    async fn post_outcome(&self, job: &Job, text: &str) -> Result<(), SinkError>;

    /// Shows `clip` privately to the owner of a cameo in it (`owner_user_id`,
    /// on this sink's platform) with Approve and Reject, asking whether it
    /// may go to its requester (approval mode `ask`). A platform that
    /// cannot reach the owner keeps the default, and such clips wait until
    /// they time out.
    async fn ask_approval(
        &self,
        _owner_user_id: &str,
        _job: &Job,
        _clip: &ClipFile,
        _text: &str,
    ) -> Result<(), SinkError> {
        Err(SinkError(format!(
            "{} cannot ask a cameo's owner for approval",
            self.platform()
        )))
    }
}

/// Polls the database for jobs of one platform whose progress changed and
/// hands a progress line to the sink. Polling (not in-process events) because
/// the worker may run on another host.
pub struct ProgressWatcher {
    store: Store,
    sink: Arc<dyn ChatSink>,
    interval: Duration,
    since: i64,
    shown: HashMap<i64, String>,
}

impl ProgressWatcher {
    pub fn new(store: Store, sink: Arc<dyn ChatSink>, interval: Duration) -> Self {
        Self {
            store,
            sink,
            interval,
            since: 0,
            shown: HashMap::new(),
        }
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.poll_once().await {
                tracing::warn!(%error, "progress poll failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// One poll; returns how many progress messages were shown.
    pub async fn poll_once(&mut self) -> Result<usize, StoreError> {
        let jobs = self
            .store
            .jobs_changed_since(self.sink.platform(), self.since)
            .await?;
        let mut shown = 0;
        for job in jobs {
            self.since = self.since.max(job.updated_at);
            // The queued message was the command's reply; progress starts with rendering.
            if job.state != JobState::Rendering {
                continue;
            }
            let text = wording::progress(&job, None);
            if self.shown.get(&job.id) == Some(&text) {
                continue;
            }
            // Checked again under the job's lock, right before the edit: a
            // clip posted since the poll must not turn back into a progress line.
            let _held = self.sink.locks().lock(job.id).await;
            let job = self.store.job(job.id).await?;
            if job.state != JobState::Rendering || job.outcome_posted {
                continue;
            }
            let text = wording::progress(&job, None);
            match self.sink.show_progress(&job, &text).await {
                Ok(true) => {
                    shown += 1;
                    self.shown.insert(job.id, text);
                }
                // Not shown: the next change of the job tries again.
                Ok(false) => {}
                Err(error) => tracing::warn!(job = job.id, %error, "progress update failed"),
            }
        }
        // Forget jobs that have not changed for a while.
        if self.shown.len() > 1000 {
            self.shown.clear();
        }
        Ok(shown)
    }
}
