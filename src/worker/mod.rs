//! A render worker: claims a job, renders it with the engine, encodes the
//! MP4, stores the clip and records it — renewing its lease all the while so
//! that if it dies, another worker takes the job over. Outages of the
//! database or the clip store are waited out, not fatal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reel_consent::{decide, CameoRegistry, Checkpoint, ConsentGate, ConsentRequest, Verdict};
use reel_engine::{CancelToken, Progress, RenderError, RenderRequest, Renderer};
use reel_store::{ClipRecord, ClipStore, Heartbeat, Job, RenderFailure, RenderQueue, StoreError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::provenance::{ClipFinisher, ClipJob};
use crate::voice::{make_soundtrack, speech_condition, Speaker};

mod backoff;
mod cameo;
mod keep;
mod picture;
mod say;

use backoff::Backoff;
pub use keep::KEEP_PATIENCE;

/// The longest pause between tries while the database is unreachable.
const MAX_OUTAGE_PAUSE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub id: String,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub poll: Duration,
}

pub struct Worker {
    pub queue: RenderQueue,
    pub clips: ClipStore,
    pub renderer: Arc<dyn Renderer>,
    pub gate: Arc<dyn ConsentGate>,
    /// Where a job's cameos' reference media come from (none: no master
    /// key, and the gate refuses every cameo).
    pub cameos: Option<CameoRegistry>,
    /// Labels, encodes within the platform's size and signs each clip.
    pub finisher: Arc<ClipFinisher>,
    /// Speaks jobs' `say:` lines (the speech model loads at the first);
    /// `None` or unconfigured: such jobs fail with a word for the operator
    /// (the chat refuses them up front where it shares the config).
    pub speaker: Option<Arc<Speaker>>,
    pub settings: WorkerSettings,
}

/// Why a render stopped early.
enum Stop {
    Cancelled,
    LeaseLost,
    Shutdown,
}

impl Worker {
    /// Claims and renders jobs until `shutdown`; the job in hand at shutdown
    /// goes back to the queue. A database outage is waited out (logged,
    /// retried with a growing pause): the worker only ends at `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let s = &self.settings;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        tracing::info!(worker = %s.id, renderer = self.renderer.name(), "worker started");
        let mut outage = Backoff::new(s.poll, MAX_OUTAGE_PAUSE);
        let mut next_beat = Instant::now();
        while !shutdown.is_cancelled() {
            let pause = match self.step(&host, &mut next_beat, &shutdown).await {
                Ok(true) => {
                    outage.reset();
                    continue;
                }
                Ok(false) => {
                    outage.reset();
                    s.poll
                }
                Err(error) => {
                    let pause = outage.next_wait();
                    tracing::warn!(worker = %s.id, %error, retry_in_ms = pause.as_millis() as u64, "database unreachable; trying again");
                    pause
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
        if let Err(error) = self.queue.store().deregister_worker(&s.id).await {
            tracing::warn!(worker = %s.id, %error, "could not deregister; the row ages out");
        }
        tracing::info!(worker = %s.id, "worker stopped");
    }

    /// One round: says it is alive and ends jobs whose workers vanished
    /// (every heartbeat), then claims and renders one job. `Ok(true)` when
    /// it rendered one (look again at once).
    async fn step(
        &self,
        host: &str,
        next_beat: &mut Instant,
        shutdown: &CancellationToken,
    ) -> Result<bool, StoreError> {
        let s = &self.settings;
        if Instant::now() >= *next_beat {
            // An upsert: registers again after an outage or a sweep.
            self.queue
                .store()
                .register_worker(&s.id, host, self.renderer.name())
                .await?;
            self.queue.reap_expired().await?;
            *next_beat = Instant::now() + s.heartbeat;
        }
        let Some(job) = self.queue.claim(&s.id, s.lease).await? else {
            return Ok(false);
        };
        if let Err(error) = self.process(job, shutdown).await {
            tracing::error!(worker = %s.id, %error, "job processing failed");
        }
        Ok(true)
    }

    /// Renders one claimed job to its end state.
    pub async fn process(&self, job: Job, shutdown: &CancellationToken) -> Result<(), StoreError> {
        let worker = self.settings.id.clone();
        let span = tracing::info_span!("render", job = job.id, worker = %worker);
        let _enter = span.enter();
        // The consent policy (reel_consent::decide): refused blocks the job
        // for good; unconfirmed sends it back to the queue with back-off.
        let refusal = match self.consent(&job).await {
            Verdict::Allow => None,
            Verdict::Refuse(reason) => Some(RenderFailure::Blocked(reason)),
            Verdict::RetryLater(reason) => Some(RenderFailure::Retry(reason)),
        };
        if let Some(failure) = refusal {
            self.queue.end(job.id, &worker, &failure).await?;
            return Ok(());
        }
        let mut references = match cameo::prepare(self.cameos.as_ref(), &job).await {
            Ok(references) => references,
            Err(failure) => {
                self.queue.end(job.id, &worker, &failure).await?;
                return Ok(());
            }
        };
        // The line and its voice: the allowed cameo's (from `references`,
        // which only the gated `cameo::prepare` fills), else the model's own.
        let say =
            match say::line_to_say(self.speaker.as_ref(), &job, references.voice_prompt.take()) {
                Ok(say) => say,
                Err(failure) => {
                    self.queue.end(job.id, &worker, &failure).await?;
                    return Ok(());
                }
            };
        // A picture sent with the request, unless a cameo's face starts the clip.
        let picture = match references.image.is_some() {
            true => None,
            false => match picture::load(self.queue.store(), &job).await {
                Ok(picture) => picture,
                Err(failure) => {
                    self.queue.end(job.id, &worker, &failure).await?;
                    return Ok(());
                }
            },
        };
        let started = Instant::now();
        let cancel = CancelToken::new();
        let (progress_tx, progress_rx) = watch::channel(Progress { step: 0, total: 0 });
        let mut request = RenderRequest {
            prompt: job.prompt.clone(),
            seed: job.seed,
            frames: job.frames(),
            width: job.width,
            height: job.height,
            fps: job.fps,
            reference_image: references.image.or(picture),
            reference_voice: references.voice,
            speech: None,
        };
        let renderer = self.renderer.clone();
        let render_cancel = cancel.clone();
        let scratch = tempfile::Builder::new()
            .prefix("reel-clip-")
            .suffix(".mp4")
            .tempfile()
            .map_err(|e| StoreError::ClipConfig(format!("cannot create a scratch file: {e}")))?;
        let out_path = scratch.path().to_path_buf();
        let renderer_name = renderer.name().to_string();
        let finisher = self.finisher.clone();
        let clip_job = ClipJob {
            title: format!("reel-{}.mp4", job.id),
            budget: finisher.budget_for(&job.platform, &job.reply_handle),
            requester: Some(job.user_id.clone()),
            cameo_ids: job.cameo_ids.clone(),
        };
        let render = tokio::task::spawn_blocking(move || {
            // Spoken here, under the render's heartbeats: a line can take
            // longer than a lease. With LTX-2 it is the audio condition.
            let spoken = say.map(|say| say.speak()).transpose()?;
            if let Some(line) = &spoken {
                request.speech =
                    speech_condition(renderer.name(), line, request.frames, request.fps);
            }
            let mut rendered = renderer.render(
                &request,
                &mut |p| {
                    let _ = progress_tx.send(p);
                },
                &render_cancel,
            )?;
            if let Some(line) = &spoken {
                make_soundtrack(&mut rendered, line);
            }
            finisher
                .finish(&mut rendered, &clip_job, &out_path)
                .map_err(|e| RenderError::Failed(format!("{e:#}")))
        });

        let (stop, outcome) = self
            .watch_render(&job, render, progress_rx, &cancel, shutdown)
            .await?;
        match (stop, outcome) {
            (None, Ok(finished)) => {
                if finished.encodes > 1 {
                    // Counted per job: how often the first-try size missed.
                    let detail = format!(
                        "{} encodes to fit the upload size; {} bytes",
                        finished.encodes, finished.bytes
                    );
                    self.queue
                        .store()
                        .record_event(job.id, "second_encode", &worker, &detail)
                        .await?;
                }
                let clip = ClipRecord {
                    key: ClipStore::new_key(job.id),
                    bytes: finished.bytes,
                    render_ms: started.elapsed().as_millis() as u64,
                    renderer: renderer_name,
                };
                self.keep_clip(&job, scratch.path(), &clip, shutdown)
                    .await?;
            }
            (Some(Stop::LeaseLost), _) => tracing::warn!("lease lost; another worker has the job"),
            (Some(Stop::Shutdown), _) => {
                self.queue.release(job.id, &worker).await?;
            }
            (Some(Stop::Cancelled), _) | (None, Err(RenderError::Cancelled)) => {
                self.queue
                    .end(job.id, &worker, &RenderFailure::Cancelled)
                    .await?;
            }
            (None, Err(RenderError::InvalidRequest(reason))) => {
                let failure =
                    RenderFailure::Fatal(format!("the renderer refused the request: {reason}"));
                self.queue.end(job.id, &worker, &failure).await?;
            }
            (None, Err(RenderError::OutOfMemory(reason))) => {
                let failure = RenderFailure::Fatal(format!(
                    "the render ran out of memory ({reason}); a shorter or smaller clip may fit"
                ));
                self.queue.end(job.id, &worker, &failure).await?;
            }
            (None, Err(error)) => {
                self.queue
                    .end(job.id, &worker, &RenderFailure::Retry(error.to_string()))
                    .await?;
            }
        }
        Ok(())
    }

    /// Heartbeats until the render task ends; reports progress and turns a
    /// cancel request, a lost lease or a shutdown into a stop between steps.
    async fn watch_render<T>(
        &self,
        job: &Job,
        mut render: tokio::task::JoinHandle<Result<T, RenderError>>,
        mut progress: watch::Receiver<Progress>,
        cancel: &CancelToken,
        shutdown: &CancellationToken,
    ) -> Result<(Option<Stop>, Result<T, RenderError>), StoreError> {
        let s = &self.settings;
        let mut stop = None;
        let mut last_beat = Instant::now();
        // Progress is written at most this often; the lease at least every heartbeat.
        let min_gap = Duration::from_millis(250).min(s.heartbeat);
        loop {
            let wait = s.heartbeat.saturating_sub(last_beat.elapsed());
            tokio::select! {
                output = &mut render => {
                    let output = output.unwrap_or_else(|panic| {
                        Err(RenderError::Failed(format!("the renderer crashed: {panic}")))
                    });
                    return Ok((stop, output));
                }
                _ = shutdown.cancelled(), if stop.is_none() => {
                    cancel.cancel();
                    stop = Some(Stop::Shutdown);
                    continue;
                }
                changed = progress.changed() => {
                    if changed.is_err() || last_beat.elapsed() < min_gap {
                        if changed.is_err() {
                            tokio::time::sleep(wait.min(min_gap)).await;
                        }
                        continue;
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
            if stop.is_some() {
                continue;
            }
            let p = *progress.borrow();
            let reported = (p.total > 0).then_some((p.step, p.total));
            let beat = self.queue.heartbeat(job.id, &s.id, s.lease, reported).await;
            last_beat = Instant::now();
            match beat {
                Ok(Heartbeat::Continue) => {}
                Ok(Heartbeat::CancelRequested) => {
                    cancel.cancel();
                    stop = Some(Stop::Cancelled);
                }
                Ok(Heartbeat::LeaseLost) => {
                    cancel.cancel();
                    stop = Some(Stop::LeaseLost);
                }
                Err(error) => tracing::warn!(%error, "heartbeat failed; will retry"),
            }
        }
    }

    async fn consent(&self, job: &Job) -> Verdict {
        let request = ConsentRequest {
            platform: &job.platform,
            user_id: &job.user_id,
            cameo_ids: &job.cameo_ids,
            prompt: &job.prompt,
            checkpoint: Checkpoint::RenderStart,
        };
        decide(self.gate.as_ref(), &request).await
    }
}
