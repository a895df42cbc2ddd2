//! The outcome poster: posts each finished clip (or the reason there is
//! none) exactly once as the user sees it. Each platform is served by its
//! own loop with a bounded number of posts in flight, so a Telegram 429
//! wait or a large upload does not hold up Discord; the delivery lease is
//! renewed while a post is under way, so a slow post is never claimed and
//! uploaded a second time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reel_consent::{decide, CameoRegistry, Checkpoint, ConsentGate, ConsentRequest, Verdict};
use reel_store::{ClipStore, Job, JobState, Store, StoreError};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::approval_hold::AfterApproval;
use super::outcomes::{ChatSink, ClipFile};
use super::wording;

/// Posts in flight per platform.
pub const POSTS_PER_PLATFORM: usize = 4;

/// Posts outcomes for the platforms it has sinks for.
#[derive(Clone)]
pub struct OutcomePoster {
    store: Store,
    clips: ClipStore,
    gate: Arc<dyn ConsentGate>,
    sinks: HashMap<String, Arc<dyn ChatSink>>,
    owner: String,
    lease: Duration,
    idle_poll: Duration,
    per_platform: usize,
    /// The registry, for cameos whose owners approve each clip (none: no
    /// master key, so no cameo exists).
    approvals: Option<CameoRegistry>,
    /// How often a held clip looks again for its owner's answer.
    approval_poll: Duration,
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
            per_platform: POSTS_PER_PLATFORM,
            approvals: None,
            approval_poll: Duration::from_secs(5),
        }
    }

    /// Holds clips whose cameos' owners approve each one (approval mode
    /// `ask`) until they answer; see `approval_hold.rs`.
    pub fn with_approvals(mut self, registry: CameoRegistry) -> Self {
        self.approvals = Some(registry);
        self
    }

    pub fn with_approval_poll(mut self, every: Duration) -> Self {
        self.approval_poll = every;
        self
    }

    pub(super) fn approvals(&self) -> Option<&CameoRegistry> {
        self.approvals.as_ref()
    }

    pub(super) fn approval_poll(&self) -> Duration {
        self.approval_poll
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// Who holds delivery leases (this poster).
    pub(super) fn owner(&self) -> &str {
        &self.owner
    }

    pub(super) fn sink_for(&self, platform: &str) -> Option<&Arc<dyn ChatSink>> {
        self.sinks.get(platform)
    }

    /// The delivery lease (renewed every third of it while posting).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn with_posts_per_platform(mut self, posts: usize) -> Self {
        self.per_platform = posts.max(1);
        self
    }

    pub fn with_idle_poll(mut self, idle_poll: Duration) -> Self {
        self.idle_poll = idle_poll;
        self
    }

    /// Serves every platform until `shutdown`: one loop per platform, each
    /// with at most `per_platform` posts in flight. Posts under way finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut loops = tokio::task::JoinSet::new();
        for platform in self.sinks.keys().cloned() {
            loops.spawn(self.clone().serve(platform, shutdown.clone()));
        }
        while loops.join_next().await.is_some() {}
    }

    async fn serve(self, platform: String, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.per_platform));
        let mut posting = tokio::task::JoinSet::new();
        loop {
            let slot = tokio::select! {
                _ = shutdown.cancelled() => break,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            };
            let claimed = self
                .store
                .delivery()
                .claim(&[platform.as_str()], &self.owner, self.lease)
                .await;
            match claimed {
                Ok(Some(job)) => {
                    let poster = self.clone();
                    posting.spawn(async move {
                        if let Err(error) = poster.post(job).await {
                            tracing::warn!(%error, "posting an outcome failed");
                        }
                        drop(slot);
                    });
                    // Reap finished posts without waiting for any.
                    while posting.try_join_next().is_some() {}
                    continue;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, %platform, "claiming outcomes failed"),
            }
            drop(slot);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.idle_poll) => {}
            }
        }
        while posting.join_next().await.is_some() {}
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
        self.post(job).await?;
        Ok(true)
    }

    /// Posts a claimed job's outcome, renewing the lease while it runs.
    async fn post(&self, job: Job) -> Result<(), StoreError> {
        let Some(sink) = self.sinks.get(&job.platform).cloned() else {
            return Ok(());
        };
        let id = job.id;
        let _held = sink.locks().lock(id).await;
        let posting = async {
            match job.state {
                JobState::Encoded => self.post_clip(sink.as_ref(), job).await,
                _ => self.post_outcome(sink.as_ref(), &job).await,
            }
        };
        tokio::select! {
            posted = posting => posted,
            () = self.keep_lease(id) => unreachable!("keeping the lease never ends"),
        }
    }

    /// Renews the delivery lease on `id` every third of its length.
    async fn keep_lease(&self, id: i64) {
        let every = self.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            match self
                .store
                .renew_outcome_lease(id, &self.owner, self.lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(job = id, "the delivery lease was lost while posting");
                    return std::future::pending().await;
                }
                Err(error) => {
                    tracing::warn!(job = id, %error, "renewing the delivery lease failed")
                }
            }
        }
    }

    async fn post_clip(&self, sink: &dyn ChatSink, job: Job) -> Result<(), StoreError> {
        let request = ConsentRequest {
            platform: &job.platform,
            user_id: &job.user_id,
            cameo_ids: &job.cameo_ids,
            prompt: &job.prompt,
            checkpoint: Checkpoint::Delivery,
        };
        match decide(self.gate.as_ref(), &request).await {
            Verdict::Allow => {}
            // Unconfirmed is not refused: hold the clip and ask again later.
            Verdict::RetryLater(reason) => {
                return self
                    .store
                    .delivery()
                    .postpone(job.id, &self.owner, &reason)
                    .await
            }
            Verdict::Refuse(reason) => return self.drop_clip(sink, &job, &reason).await,
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
        if let AfterApproval::Handled = self.approval_step(sink, &job, &clip).await? {
            return Ok(());
        }
        match sink
            .post_clip(
                &job,
                &clip,
                &wording::clip_caption_with(&job, |t| sink.quote(t)),
            )
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

    /// Ends an encoded clip without posting it: blocked with `reason`
    /// (what the requester reads), the stored clip deleted, the reason
    /// posted. For a consent refusal and a clip its cameo's owner did not
    /// approve alike.
    pub(super) async fn drop_clip(
        &self,
        sink: &dyn ChatSink,
        job: &Job,
        reason: &str,
    ) -> Result<(), StoreError> {
        if self
            .store
            .delivery()
            .block(job.id, &self.owner, reason)
            .await?
        {
            if let Some(key) = &job.clip_key {
                self.clips.delete(key).await?;
            }
            let blocked = self.store.job(job.id).await?;
            self.post_outcome(sink, &blocked).await?;
        }
        Ok(())
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
