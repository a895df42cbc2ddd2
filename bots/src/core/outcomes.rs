//! Getting results back to chats: a progress watcher that turns job updates
//! into progress messages, and a poster that posts each finished clip (or
//! the reason there is none) exactly once as the user sees it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reel_consent::{Checkpoint, ConsentDecision, ConsentGate, ConsentRequest};
use reel_store::{ClipStore, Job, JobState, Store, StoreError};
use tokio_util::sync::CancellationToken;

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

    /// Shows or updates the job's progress message.
    async fn show_progress(&self, job: &Job, text: &str) -> Result<(), SinkError>;

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
            match self.sink.show_progress(&job, &text).await {
                Ok(()) => {
                    shown += 1;
                    self.shown.insert(job.id, text);
                }
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

/// Posts outcomes for the platforms it has sinks for.
pub struct OutcomePoster {
    store: Store,
    clips: ClipStore,
    gate: Arc<dyn ConsentGate>,
    sinks: HashMap<String, Arc<dyn ChatSink>>,
    owner: String,
    lease: Duration,
    idle_poll: Duration,
}

impl OutcomePoster {
    pub fn new(
        store: Store,
        clips: ClipStore,
        gate: Arc<dyn ConsentGate>,
        sinks: Vec<Arc<dyn ChatSink>>,
        owner: String,
    ) -> Self {
        let sinks = sinks
            .into_iter()
            .map(|s| (s.platform().to_string(), s))
            .collect();
        Self {
            store,
            clips,
            gate,
            sinks,
            owner,
            lease: Duration::from_secs(120),
            idle_poll: Duration::from_millis(500),
        }
    }

    pub fn with_idle_poll(mut self, idle_poll: Duration) -> Self {
        self.idle_poll = idle_poll;
        self
    }

    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let posted = match self.post_next().await {
                Ok(posted) => posted,
                Err(error) => {
                    tracing::warn!(%error, "posting outcomes failed");
                    false
                }
            };
            if posted {
                if shutdown.is_cancelled() {
                    return;
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.idle_poll) => {}
            }
        }
    }

    /// Posts one pending outcome; false when there was nothing to post.
    pub async fn post_next(&self) -> Result<bool, StoreError> {
        let platforms: Vec<&str> = self.sinks.keys().map(String::as_str).collect();
        let Some(job) = self
            .store
            .delivery()
            .claim(&platforms, &self.owner, self.lease)
            .await?
        else {
            return Ok(false);
        };
        let Some(sink) = self.sinks.get(&job.platform) else {
            return Ok(false);
        };
        match job.state {
            JobState::Encoded => self.post_clip(sink.as_ref(), job).await?,
            _ => self.post_outcome(sink.as_ref(), &job).await?,
        }
        Ok(true)
    }

    async fn post_clip(&self, sink: &dyn ChatSink, job: Job) -> Result<(), StoreError> {
        if !job.cameo_ids.is_empty() {
            let request = ConsentRequest {
                platform: &job.platform,
                user_id: &job.user_id,
                cameo_ids: &job.cameo_ids,
                prompt: &job.prompt,
                checkpoint: Checkpoint::Delivery,
            };
            let refusal = match self.gate.check(&request).await {
                Ok(ConsentDecision::Allowed) => None,
                Ok(ConsentDecision::Refused(reason)) => Some(reason),
                Err(error) => {
                    // Unconfirmed is not refused: hold the clip and ask again later.
                    let reason = format!("consent could not be confirmed ({error})");
                    return self
                        .store
                        .delivery()
                        .postpone(job.id, &self.owner, &reason)
                        .await;
                }
            };
            if let Some(reason) = refusal {
                if self
                    .store
                    .delivery()
                    .block(job.id, &self.owner, &reason)
                    .await?
                {
                    if let Some(key) = &job.clip_key {
                        self.clips.delete(key).await?;
                    }
                    let blocked = self.store.job(job.id).await?;
                    self.post_outcome(sink, &blocked).await?;
                }
                return Ok(());
            }
        }
        let Some(key) = job.clip_key.clone() else {
            return self
                .store
                .delivery()
                .postpone(job.id, &self.owner, "the job has no clip")
                .await;
        };
        let data = match self.clips.get(&key).await {
            Ok(data) => data,
            Err(error) => {
                return self
                    .store
                    .delivery()
                    .postpone(job.id, &self.owner, &error.to_string())
                    .await
            }
        };
        let clip = ClipFile {
            local_path: self.clips.local_path(&key),
            key,
            data,
        };
        match sink
            .post_clip(&job, &clip, &wording::clip_caption(&job))
            .await
        {
            Ok(receipt) => {
                self.store
                    .delivery()
                    .mark_delivered(job.id, &self.owner, &receipt)
                    .await?;
                tracing::info!(job = job.id, "delivered");
                Ok(())
            }
            Err(error) => {
                tracing::warn!(job = job.id, %error, "posting the clip failed");
                self.store
                    .delivery()
                    .postpone(job.id, &self.owner, &error.0)
                    .await
            }
        }
    }

    async fn post_outcome(&self, sink: &dyn ChatSink, job: &Job) -> Result<(), StoreError> {
        match sink.post_outcome(job, &wording::outcome(job)).await {
            Ok(()) => {
                self.store
                    .delivery()
                    .mark_outcome_posted(job.id, &self.owner)
                    .await?;
                Ok(())
            }
            Err(error) => {
                self.store
                    .delivery()
                    .postpone(job.id, &self.owner, &error.0)
                    .await
            }
        }
    }
}
