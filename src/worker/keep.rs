//! Keeping a rendered clip: upload the file, then record it. A render is the
//! expensive part, so an outage of the clip store or the database after it
//! is waited out (the lease renewed meanwhile) and the same file uploaded
//! again, instead of the job going back to the queue to be rendered anew.

use std::path::Path;
use std::time::{Duration, Instant};

use reel_store::{ClipRecord, Finish, Heartbeat, Job, RenderFailure, StoreError};
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::Worker;

/// How long a worker keeps trying to store a finished clip before it gives
/// the job back for another render.
pub const KEEP_PATIENCE: Duration = Duration::from_secs(600);

impl Worker {
    /// Uploads `file` under `clip.key` and records it on the job, retrying
    /// both through outages for up to [`KEEP_PATIENCE`].
    pub(super) async fn keep_clip(
        &self,
        job: &Job,
        file: &Path,
        clip: &ClipRecord,
        shutdown: &CancellationToken,
    ) -> Result<(), StoreError> {
        let s = &self.settings;
        let give_up = Instant::now() + KEEP_PATIENCE;
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
        let mut uploaded = false;
        loop {
            let error = if uploaded {
                match self.queue.finish(job.id, &s.id, clip).await {
                    Ok(finish) => return self.after_finish(finish, clip).await,
                    Err(error) => error,
                }
            } else {
                match self.clips.put_file(&clip.key, file).await {
                    Ok(_) => {
                        uploaded = true;
                        continue;
                    }
                    Err(error) => error,
                }
            };
            if Instant::now() >= give_up {
                let failure =
                    RenderFailure::Retry(format!("the clip could not be stored: {error}"));
                self.discard(uploaded, clip).await;
                self.queue.end(job.id, &s.id, &failure).await?;
                return Ok(());
            }
            let wait = backoff.next_wait();
            tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, uploaded, "storing the clip failed; keeping the file and trying again");
            tokio::select! {
                _ = shutdown.cancelled() => {
                    self.discard(uploaded, clip).await;
                    self.queue.release(job.id, &s.id).await?;
                    return Ok(());
                }
                _ = tokio::time::sleep(wait) => {}
            }
            // Hold on to the job while waiting; a database that is down too
            // is retried with the next try.
            match self.queue.heartbeat(job.id, &s.id, s.lease, None).await {
                Ok(Heartbeat::Continue) | Err(_) => {}
                Ok(Heartbeat::CancelRequested) => {
                    self.discard(uploaded, clip).await;
                    self.queue
                        .end(job.id, &s.id, &RenderFailure::Cancelled)
                        .await?;
                    return Ok(());
                }
                Ok(Heartbeat::LeaseLost) => {
                    tracing::warn!("lease lost while storing the clip; another worker has the job");
                    self.discard(uploaded, clip).await;
                    return Ok(());
                }
            }
        }
    }

    async fn after_finish(&self, finish: Finish, clip: &ClipRecord) -> Result<(), StoreError> {
        match finish {
            Finish::Encoded => return Ok(()),
            Finish::Cancelled => tracing::info!("cancelled as the render finished; clip discarded"),
            Finish::LeaseLost => {
                tracing::warn!("lease lost before the clip was recorded; discarding it")
            }
        }
        self.discard(true, clip).await;
        Ok(())
    }

    /// Deletes an uploaded clip nobody will record; one left behind is an
    /// orphan the retention sweeper removes.
    async fn discard(&self, uploaded: bool, clip: &ClipRecord) {
        if uploaded {
            if let Err(error) = self.clips.delete(&clip.key).await {
                tracing::warn!(%error, key = %clip.key, "could not delete a surplus clip");
            }
        }
    }
}
