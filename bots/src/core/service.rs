use std::sync::Arc;

use rand::Rng;
use reel_consent::{Checkpoint, ConsentDecision, ConsentGate, ConsentRequest};
use reel_store::{CancelOutcome, Job, JobState, Limits, NewJob, Store, StoreError};

use super::command::{self, Command, RenderSettings, UsageError, ValidVideo, VideoRequest};
use super::wording;

/// Who sent a command, and where answers go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// `terminal`, `discord`, `telegram`.
    pub platform: String,
    pub user_id: String,
    pub chat_id: String,
    /// Adapter-owned JSON stored with the job (see `reel_store::NewJob`).
    pub reply_handle: String,
    /// The platform's unique id for the event that carried this command
    /// (Telegram update id, Discord interaction id). A replayed event with
    /// the same key gets the job it already queued instead of a second one.
    pub request_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// A job was queued; `job_id` is set.
    Queued,
    /// An answer (status, help, a cancellation).
    Info,
    /// Bad input or a limit: nothing was changed. Discord shows these only
    /// to the sender.
    Refused,
    /// Post job `job_id`'s finished clip again, here, with `text` as its
    /// caption (`/clip 12`). The adapter re-sends what it posted before.
    Clip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    pub text: String,
    pub job_id: Option<i64>,
}

impl Reply {
    fn info(text: impl Into<String>) -> Self {
        Self {
            kind: ReplyKind::Info,
            text: text.into(),
            job_id: None,
        }
    }

    fn refused(text: impl Into<String>) -> Self {
        Self {
            kind: ReplyKind::Refused,
            text: text.into(),
            job_id: None,
        }
    }
}

/// The platform-neutral command core: every adapter hands it what the user
/// sent and shows the [`Reply`] it returns.
#[derive(Clone)]
pub struct CommandCore {
    store: Store,
    gate: Arc<dyn ConsentGate>,
    settings: RenderSettings,
}

impl CommandCore {
    pub fn new(store: Store, gate: Arc<dyn ConsentGate>, settings: RenderSettings) -> Self {
        Self {
            store,
            gate,
            settings,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The limits the store enforces.
    pub fn limits(&self) -> &Limits {
        self.store.limits()
    }

    /// Handles one chat message. `plain_text_is_prompt`: treat text without a
    /// leading `/` as a `/video` prompt.
    pub async fn handle(&self, from: &Requester, text: &str, plain_text_is_prompt: bool) -> Reply {
        match command::parse(text, plain_text_is_prompt) {
            Ok(command) => self.run(from, command).await,
            Err(UsageError(message)) => Reply::refused(message),
        }
    }

    pub async fn run(&self, from: &Requester, command: Command) -> Reply {
        let result = match command {
            Command::Video(request) => self.video(from, &request).await,
            Command::Status(job) => self.status(from, job).await,
            Command::Cancel(job) => self.cancel(from, job).await,
            Command::History => self.history(from).await,
            Command::Clip(job) => self.clip(from, job).await,
            Command::Help => Ok(Reply::info(wording::HELP)),
        };
        result.unwrap_or_else(|error| {
            tracing::error!(%error, platform = %from.platform, "command failed");
            Reply::refused(wording::INTERNAL_ERROR)
        })
    }

    pub async fn video(
        &self,
        from: &Requester,
        request: &VideoRequest,
    ) -> Result<Reply, StoreError> {
        match command::validate(request, &self.settings) {
            Ok(video) => self.enqueue(from, video).await,
            Err(UsageError(message)) => Ok(Reply::refused(message)),
        }
    }

    /// Same prompt and options as `job_id`, new seed (the Re-roll button).
    pub async fn reroll(&self, from: &Requester, job_id: i64) -> Result<Reply, StoreError> {
        let Some(job) = self.own_job(from, job_id).await? else {
            return Ok(Reply::refused(wording::not_yours(job_id)));
        };
        let video = ValidVideo {
            prompt: job.prompt,
            duration_s: job.duration_s,
            width: job.width,
            height: job.height,
            fps: job.fps,
            seed: rand::thread_rng().gen_range(0..=u64::from(u32::MAX)),
            cameo_ids: job.cameo_ids,
            notes: Vec::new(),
        };
        self.enqueue(from, video).await
    }

    async fn enqueue(&self, from: &Requester, video: ValidVideo) -> Result<Reply, StoreError> {
        let consent = ConsentRequest {
            platform: &from.platform,
            user_id: &from.user_id,
            cameo_ids: &video.cameo_ids,
            prompt: &video.prompt,
            checkpoint: Checkpoint::Enqueue,
        };
        match self.gate.check(&consent).await {
            Ok(ConsentDecision::Allowed) => {}
            Ok(ConsentDecision::Refused(reason)) => {
                return Ok(Reply::refused(format!("{reason}. Nothing was queued.")))
            }
            Err(error) => {
                tracing::error!(%error, "consent check failed");
                return Ok(Reply::refused(wording::INTERNAL_ERROR));
            }
        }
        let new = NewJob {
            platform: from.platform.clone(),
            user_id: from.user_id.clone(),
            chat_id: from.chat_id.clone(),
            reply_handle: from.reply_handle.clone(),
            prompt: video.prompt,
            duration_s: video.duration_s,
            width: video.width,
            height: video.height,
            fps: video.fps,
            seed: video.seed,
            cameo_ids: video.cameo_ids,
            request_key: from.request_key.clone(),
        };
        // The place comes from the enqueue's own transaction: no reads after it.
        let (job, place) = match self.store.enqueue_placed(&new).await {
            Ok(placed) => placed,
            Err(StoreError::Refused(refusal)) => {
                return Ok(Reply::refused(wording::refusal(&refusal)))
            }
            Err(other) => return Err(other),
        };
        tracing::info!(job = job.id, platform = %job.platform, "queued");
        Ok(Reply {
            kind: ReplyKind::Queued,
            text: wording::queued(&job, &place, &video.notes),
            job_id: Some(job.id),
        })
    }

    async fn status(&self, from: &Requester, job_id: Option<i64>) -> Result<Reply, StoreError> {
        let jobs = match job_id {
            Some(id) => match self.own_job(from, id).await? {
                Some(job) => vec![job],
                None => return Ok(Reply::refused(wording::not_yours(id))),
            },
            None => self.active_jobs(from).await?,
        };
        if jobs.is_empty() {
            return Ok(Reply::info(wording::NO_ACTIVE_JOBS));
        }
        let mut lines = Vec::new();
        for job in &jobs {
            let place = match job.state.is_active() {
                true => Some(self.store.queue_place(job).await?),
                false => None,
            };
            lines.push(wording::progress(job, place.as_ref()));
        }
        Ok(Reply {
            job_id,
            ..Reply::info(lines.join("\n"))
        })
    }

    async fn cancel(&self, from: &Requester, job_id: Option<i64>) -> Result<Reply, StoreError> {
        let id = match job_id {
            Some(id) => match self.own_job(from, id).await? {
                Some(job) => job.id,
                None => return Ok(Reply::refused(wording::not_yours(id))),
            },
            None => match self.active_jobs(from).await?.first() {
                Some(job) => job.id,
                None => return Ok(Reply::refused(wording::NO_ACTIVE_JOBS)),
            },
        };
        let actor = format!("{}:{}", from.platform, from.user_id);
        let text = match self.store.request_cancel(id, &actor).await? {
            CancelOutcome::Cancelled => format!("#{id} cancelled; it never started."),
            CancelOutcome::Requested => {
                format!("#{id} is stopping; it will end after the current step.")
            }
            CancelOutcome::AlreadyFinished(state) => {
                return Ok(Reply::refused(format!(
                    "#{id} is already {state}; there is nothing to cancel."
                )))
            }
        };
        Ok(Reply {
            job_id: Some(id),
            ..Reply::info(text)
        })
    }

    async fn history(&self, from: &Requester) -> Result<Reply, StoreError> {
        let jobs = self
            .store
            .jobs_for_user(&from.platform, &from.user_id, 10)
            .await?;
        if jobs.is_empty() {
            return Ok(Reply::info(wording::NO_HISTORY));
        }
        let lines: Vec<String> = jobs.iter().map(wording::status_line).collect();
        Ok(Reply::info(lines.join("\n")))
    }

    /// A delivered clip of the requester's, to post again.
    async fn clip(&self, from: &Requester, job_id: i64) -> Result<Reply, StoreError> {
        let Some(job) = self.own_job(from, job_id).await? else {
            return Ok(Reply::refused(wording::not_yours(job_id)));
        };
        if job.state != JobState::Delivered || job.clip_key.is_none() {
            return Ok(Reply::refused(wording::no_clip(&job)));
        }
        Ok(Reply {
            kind: ReplyKind::Clip,
            text: wording::clip_caption(&job),
            job_id: Some(job.id),
        })
    }

    /// The requester's jobs still queued or rendering, newest first.
    async fn active_jobs(&self, from: &Requester) -> Result<Vec<Job>, StoreError> {
        let jobs = self
            .store
            .jobs_for_user(&from.platform, &from.user_id, 50)
            .await?;
        Ok(jobs.into_iter().filter(|j| j.state.is_active()).collect())
    }

    /// The job if it exists and belongs to the requester. Someone else's job
    /// reads exactly like a missing one.
    async fn own_job(&self, from: &Requester, id: i64) -> Result<Option<Job>, StoreError> {
        match self.store.job(id).await {
            Ok(job) if job.platform == from.platform && job.user_id == from.user_id => {
                Ok(Some(job))
            }
            Ok(_) | Err(StoreError::UnknownJob(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }
}
