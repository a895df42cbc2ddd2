//! A render worker: claims a job, renders it with the engine, encodes the
//! MP4, stores the clip and records it — renewing its lease all the while so
//! that if it dies, another worker takes the job over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reel_consent::{decide, Checkpoint, ConsentGate, ConsentRequest, Verdict};
use reel_engine::{CancelToken, Progress, RenderError, RenderRequest, Renderer};
use reel_media::{encode_mp4, EncodeOptions};
use reel_store::{ClipRecord, ClipStore, Heartbeat, Job, RenderFailure, Store, StoreError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub id: String,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub poll: Duration,
    pub crf: u8,
}

pub struct Worker {
    pub store: Store,
    pub clips: ClipStore,
    pub renderer: Arc<dyn Renderer>,
    pub gate: Arc<dyn ConsentGate>,
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
    /// goes back to the queue.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), StoreError> {
        let s = &self.settings;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        self.store
            .register_worker(&s.id, &host, self.renderer.name())
            .await?;
        tracing::info!(worker = %s.id, renderer = self.renderer.name(), "worker started");
        let mut last_seen = Instant::now();
        while !shutdown.is_cancelled() {
            if last_seen.elapsed() >= s.heartbeat {
                self.store.worker_seen(&s.id).await?;
                self.store.reap_expired().await?;
                last_seen = Instant::now();
            }
            match self.store.claim_render(&s.id, s.lease).await {
                Ok(Some(job)) => {
                    if let Err(error) = self.process(job, &shutdown).await {
                        tracing::error!(worker = %s.id, %error, "job processing failed");
                    }
                    continue;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(worker = %s.id, %error, "claim failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(s.poll) => {}
            }
        }
        self.store.deregister_worker(&s.id).await?;
        tracing::info!(worker = %s.id, "worker stopped");
        Ok(())
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
            self.store.end_render(job.id, &worker, &failure).await?;
            return Ok(());
        }
        let started = Instant::now();
        let cancel = CancelToken::new();
        let (progress_tx, progress_rx) = watch::channel(Progress { step: 0, total: 0 });
        let request = RenderRequest {
            prompt: job.prompt.clone(),
            seed: job.seed,
            frames: job.frames(),
            width: job.width,
            height: job.height,
            fps: job.fps,
            reference_image: None,
            reference_voice: None,
        };
        let renderer = self.renderer.clone();
        let render_cancel = cancel.clone();
        let crf = self.settings.crf;
        let scratch = tempfile::Builder::new()
            .prefix("reel-clip-")
            .suffix(".mp4")
            .tempfile()
            .map_err(|e| StoreError::ClipConfig(format!("cannot create a scratch file: {e}")))?;
        let out_path = scratch.path().to_path_buf();
        let renderer_name = renderer.name().to_string();
        let render = tokio::task::spawn_blocking(move || {
            let rendered = renderer.render(
                &request,
                &mut |p| {
                    let _ = progress_tx.send(p);
                },
                &render_cancel,
            )?;
            let options = EncodeOptions {
                crf,
                comment: (renderer.name() == "testsrc")
                    .then(|| "reel testsrc: test pattern, not a model".to_string()),
                ..EncodeOptions::default()
            };
            encode_mp4(&rendered, &out_path, &options)
                .map_err(|e| RenderError::Failed(e.to_string()))
        });

        let (stop, outcome) = self
            .watch_render(&job, render, progress_rx, &cancel, shutdown)
            .await?;
        match (stop, outcome) {
            (None, Ok(encoded)) => {
                let key = ClipStore::new_key(job.id);
                let clip = ClipRecord {
                    key: key.clone(),
                    bytes: encoded.bytes,
                    render_ms: started.elapsed().as_millis() as u64,
                    renderer: renderer_name,
                };
                if let Err(error) = self.clips.put_file(&key, scratch.path()).await {
                    let failure =
                        RenderFailure::Retry(format!("the clip could not be stored: {error}"));
                    self.store.end_render(job.id, &worker, &failure).await?;
                    return Ok(());
                }
                if !self.store.finish_render(job.id, &worker, &clip).await? {
                    tracing::warn!("lease lost before the clip was recorded; discarding it");
                    self.clips.delete(&key).await?;
                }
            }
            (Some(Stop::LeaseLost), _) => tracing::warn!("lease lost; another worker has the job"),
            (Some(Stop::Shutdown), _) => {
                self.store.release_render(job.id, &worker).await?;
            }
            (Some(Stop::Cancelled), _) | (None, Err(RenderError::Cancelled)) => {
                self.store
                    .end_render(job.id, &worker, &RenderFailure::Cancelled)
                    .await?;
            }
            (None, Err(RenderError::InvalidRequest(reason))) => {
                let failure =
                    RenderFailure::Fatal(format!("the renderer refused the request: {reason}"));
                self.store.end_render(job.id, &worker, &failure).await?;
            }
            (None, Err(error)) => {
                self.store
                    .end_render(job.id, &worker, &RenderFailure::Retry(error.to_string()))
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
            let beat = self.store.heartbeat(job.id, &s.id, s.lease, reported).await;
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
