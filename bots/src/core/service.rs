use std::sync::Arc;

use rand::Rng;
use reel_consent::{decide, Checkpoint, ConsentGate, ConsentRequest, Verdict};
use reel_store::{
    CancelOutcome, ClipStore, Job, JobPicture, JobState, Limits, NewJob, Store, StoreError,
};

use super::cameo::{Cameos, DEFAULT_MAX_UPLOAD_BYTES};
use super::command::{self, Command, RenderSettings, UsageError, ValidVideo, VideoRequest};
use super::handles::ChatHandles;
use super::reply::Reply;
use super::reposts::{Fits, Reposts};
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
    /// The answer is seen by everyone in the chat (a group), not by the
    /// sender alone: answers there never show the sender's prompts.
    pub shared_chat: bool,
}

/// The platform-neutral command core: every adapter hands it what the user
/// sent and shows the [`Reply`] it returns. It owns the job store, the clip
/// store and the render settings; adapters reach them only through it.
#[derive(Clone)]
pub struct CommandCore {
    store: Store,
    clips: ClipStore,
    gate: Arc<dyn ConsentGate>,
    settings: RenderSettings,
    handles: ChatHandles,
    pub(super) reposts: Reposts,
    pub(super) fits: Fits,
    /// `/cameo`, where a master key is configured (see `cameo/`).
    pub(super) cameos: Option<Cameos>,
    pub(super) max_upload_bytes: u64,
    /// Looks for faces in `/video` pictures (see `picture.rs`).
    pub(super) face_screen: Option<Arc<dyn super::picture::FaceScreen>>,
    /// Whether a speech model is configured for the workers: without one a
    /// `say:` is refused here, with a clear word, instead of queueing a job
    /// that could only fail at the worker.
    speech: bool,
}

impl CommandCore {
    pub fn new(
        store: Store,
        clips: ClipStore,
        gate: Arc<dyn ConsentGate>,
        settings: RenderSettings,
    ) -> Self {
        Self {
            handles: ChatHandles::new(store.clone()),
            reposts: Reposts::default(),
            fits: Fits::default(),
            cameos: None,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            face_screen: None,
            speech: false,
            store,
            clips,
            gate,
            settings,
        }
    }

    /// Says whether the workers have a speech model (`[voice]`), so that
    /// `/video … say:"…"` is taken; without this call it is refused.
    pub fn with_speech(mut self, available: bool) -> Self {
        self.speech = available;
        self
    }

    pub fn settings(&self) -> &RenderSettings {
        &self.settings
    }

    /// The limits the store enforces.
    pub fn limits(&self) -> &Limits {
        self.store.limits()
    }

    /// The one writer of jobs' chat handles (status message ids, receipts).
    pub fn handles(&self) -> &ChatHandles {
        &self.handles
    }

    pub(super) fn clips(&self) -> &ClipStore {
        &self.clips
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
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
            Command::Video(request) => return self.video(from, &request).await,
            Command::Status(job) => self.status(from, job).await,
            Command::Cancel(job) => self.cancel(from, job).await,
            Command::History => self.history(from).await,
            Command::Clip(job) => self.clip(from, job).await,
            Command::Help => Ok(Reply::info(wording::help())),
            Command::Cameo(cameo) => return self.cameo(from, cameo).await,
        };
        answered(from, result)
    }

    pub async fn video(&self, from: &Requester, request: &VideoRequest) -> Reply {
        let result = match command::validate(request, &self.settings) {
            Ok(video) => self.enqueue(from, video, None).await,
            Err(UsageError(message)) => Ok(Reply::refused(message)),
        };
        answered(from, result)
    }

    /// Same prompt and options as `job_id`, new seed (the Re-roll button).
    pub async fn reroll(&self, from: &Requester, job_id: i64) -> Reply {
        let result = async {
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
                say_line: job.say_line,
                notes: Vec::new(),
            };
            // A picture it started from starts the new one too.
            let picture = self.store.job_picture(job_id).await?;
            self.enqueue(from, video, picture).await
        };
        answered(from, result.await)
    }

    pub(super) async fn enqueue(
        &self,
        from: &Requester,
        video: ValidVideo,
        picture: Option<JobPicture>,
    ) -> Result<Reply, StoreError> {
        if video.say_line.is_some() && !self.speech {
            return Ok(Reply::refused(wording::NO_SPEECH_MODEL));
        }
        // The consent gate decides about the cameos, and so about their
        // voices too: the worker takes a voice only from an allowed cameo's
        // media (src/worker/cameo.rs), never by name from anywhere else.
        let consent = ConsentRequest {
            platform: &from.platform,
            user_id: &from.user_id,
            cameo_ids: &video.cameo_ids,
            prompt: &video.prompt,
            checkpoint: Checkpoint::Enqueue,
        };
        match decide(self.gate.as_ref(), &consent).await {
            Verdict::Allow => {}
            Verdict::Refuse(reason) => {
                return Ok(Reply::refused(wording::consent_refused(&reason)))
            }
            Verdict::RetryLater(_) => return Ok(Reply::refused(wording::CONSENT_UNCONFIRMED)),
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
            picture,
            say_line: video.say_line,
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
        Ok(Reply::Queued {
            job_id: job.id,
            text: wording::queued(&job, &place, &video.notes),
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
            lines.push(match from.shared_chat {
                true => wording::progress_without_prompt(job, place.as_ref()),
                false => wording::progress(job, place.as_ref()),
            });
        }
        Ok(Reply::info(lines.join("\n")))
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
        let (text, ended) = match self.store.request_cancel(id, &actor).await? {
            CancelOutcome::Cancelled => (wording::cancelled_before_start(id), true),
            CancelOutcome::Requested => (wording::stopping(id), false),
            CancelOutcome::AlreadyFinished(state) => {
                return Ok(Reply::refused(wording::nothing_to_cancel(id, state)))
            }
        };
        let job = self.store.job(id).await?;
        Ok(Reply::Cancelled {
            job: Box::new(job),
            text,
            ended,
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
        let lines: Vec<String> = jobs
            .iter()
            .map(|job| match from.shared_chat {
                true => wording::status_line_without_prompt(job),
                false => wording::status_line(job),
            })
            .collect();
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
        if let Err(wait) = self.reposts.admit(&from.platform, &from.user_id) {
            return Ok(Reply::refused(wording::too_many_reposts(wait)));
        }
        Ok(Reply::Repost {
            caption: wording::clip_caption(&job),
            job: Box::new(job),
        })
    }

    /// Whether job `job_id`'s final message (clip or reason) was posted.
    pub async fn outcome_posted(&self, job_id: i64) -> Result<bool, StoreError> {
        Ok(self.store.job(job_id).await?.outcome_posted)
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
    pub(super) async fn own_job(
        &self,
        from: &Requester,
        id: i64,
    ) -> Result<Option<Job>, StoreError> {
        match self.store.job(id).await {
            Ok(job) if job.platform == from.platform && job.user_id == from.user_id => {
                Ok(Some(job))
            }
            Ok(_) | Err(StoreError::UnknownJob(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

/// A command's answer; a failure the user cannot fix is logged and told
/// as "nothing was changed".
pub(super) fn answered(from: &Requester, result: Result<Reply, StoreError>) -> Reply {
    result.unwrap_or_else(|error| {
        tracing::error!(%error, platform = %from.platform, "command failed");
        Reply::refused(wording::INTERNAL_ERROR)
    })
}
