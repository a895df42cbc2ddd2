//! Posting a finished clip again (`/clip 12`) and fitting clips under an
//! upload limit, with bounds: a user may re-post a few clips an hour, at
//! most a few re-encodes run at once in a process, and a shrunk copy is
//! kept so the same clip under the same limit is re-encoded once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reel_store::{Job, StoreError};
use tokio::sync::Semaphore;

use super::fit::{self, Shrunk};
use super::service::CommandCore;
use super::{wording, ClipFile};

/// Re-posts one user may ask for per [`REPOST_WINDOW`].
pub const REPOSTS_PER_USER: usize = 10;
pub const REPOST_WINDOW: Duration = Duration::from_secs(3600);
/// Re-encodes (each up to three FFmpeg runs) at once in this process.
pub const MAX_CONCURRENT_FITS: usize = 2;
/// Shrunk copies kept (each at most an upload limit's size).
const CACHED_FITS: usize = 16;

/// (platform, user id): who re-posted.
type Reposter = (String, String);
/// (clip key, byte limit): which shrunk copy.
type FitKey = (String, u64);

/// Re-posts per user; shared by clones of the core.
#[derive(Clone, Default)]
pub(crate) struct Reposts {
    recent: Arc<Mutex<HashMap<Reposter, VecDeque<Instant>>>>,
}

/// Re-encodes to fit upload limits: how many run at once, and the shrunk
/// copies kept. Cheap to clone; clones share both.
#[derive(Clone)]
pub struct Fits {
    running: Arc<Semaphore>,
    cache: Arc<Mutex<VecDeque<(FitKey, Shrunk)>>>,
}

impl Default for Fits {
    fn default() -> Self {
        Self {
            running: Arc::new(Semaphore::new(MAX_CONCURRENT_FITS)),
            cache: Arc::default(),
        }
    }
}

impl Reposts {
    /// Counts a re-post by `user`; `Err(wait)` when over the limit.
    pub(crate) fn admit(&self, platform: &str, user: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() > 10_000 {
            recent.retain(|_, times| times.back().is_some_and(|t| now - *t < REPOST_WINDOW));
        }
        let times = recent
            .entry((platform.to_string(), user.to_string()))
            .or_default();
        while times.front().is_some_and(|t| now - *t >= REPOST_WINDOW) {
            times.pop_front();
        }
        if times.len() >= REPOSTS_PER_USER {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(REPOST_WINDOW.saturating_sub(now - oldest));
        }
        times.push_back(now);
        Ok(())
    }
}

impl Fits {
    fn cached(&self, key: &(String, u64)) -> Option<Shrunk> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.iter().find(|(k, _)| k == key).map(|(_, s)| s.clone())
    }

    fn keep(&self, key: (String, u64), shrunk: Shrunk) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED_FITS {
            cache.pop_front();
        }
        cache.push_back((key, shrunk));
    }
}

/// A clip ready to upload under a limit, or the text to post instead.
pub enum Upload {
    Clip { data: Bytes, caption: String },
    TooLarge(String),
}

impl CommandCore {
    /// The stored clip of `job`.
    pub async fn clip_file(&self, job: &Job) -> Result<Option<ClipFile>, StoreError> {
        let Some(key) = job.clip_key.clone() else {
            return Ok(None);
        };
        Ok(Some(ClipFile {
            data: self.clips().get(&key).await?,
            local_path: self.clips().local_path(&key),
            key,
        }))
    }

    /// `clip` under `limit` bytes: as it is, or a shrunk copy (made once
    /// per clip and limit, at most [`MAX_CONCURRENT_FITS`] at a time).
    pub async fn fit_for_upload(
        &self,
        job_id: i64,
        clip: &ClipFile,
        caption: &str,
        limit: u64,
    ) -> Upload {
        fit_with(&self.fits, job_id, clip, caption, limit).await
    }
}

/// `clip` under `limit` bytes, re-encoded through `fits` if it must be.
pub async fn fit_with(
    fits: &Fits,
    job_id: i64,
    clip: &ClipFile,
    caption: &str,
    limit: u64,
) -> Upload {
    let size = clip.data.len() as u64;
    if size <= limit {
        return Upload::Clip {
            data: clip.data.clone(),
            caption: caption.into(),
        };
    }
    let key = (clip.key.clone(), limit);
    let shrunk = match fits.cached(&key) {
        Some(shrunk) => Ok(shrunk),
        None => {
            let _slot = fits.running.acquire().await;
            // Another caller may have made it while this one waited.
            match fits.cached(&key) {
                Some(shrunk) => Ok(shrunk),
                None => fit::shrink_to_fit(clip, limit).await.inspect(|shrunk| {
                    fits.keep(key, shrunk.clone());
                }),
            }
        }
    };
    match shrunk {
        Ok(shrunk) if shrunk.fits => Upload::Clip {
            data: shrunk.data,
            caption: wording::shrunk_caption(caption, limit),
        },
        Ok(shrunk) => Upload::TooLarge(wording::too_large_to_post(
            job_id,
            shrunk.data.len() as u64,
            limit,
        )),
        Err(error) => {
            tracing::warn!(job = job_id, %error, "could not re-encode the clip smaller");
            Upload::TooLarge(wording::too_large_to_post(job_id, size, limit))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_reposts_a_bounded_number_of_times() {
        let reposts = Reposts::default();
        for _ in 0..REPOSTS_PER_USER {
            reposts.admit("discord", "alice").unwrap();
        }
        let wait = reposts.admit("discord", "alice").unwrap_err();
        assert!(wait > Duration::from_secs(3500), "{wait:?}");
        // Others are not held back by alice.
        reposts.admit("discord", "bob").unwrap();
        reposts.admit("telegram", "alice").unwrap();
    }
}
