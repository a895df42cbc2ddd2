//! Retention: what reel keeps, and for how long. Clips are the bulk of the
//! storage and go first (`clips_days` after their job ended); the job rows
//! and their event logs go later (`jobs_days`), so `/history` and audits
//! outlive the clips. Worker rows of processes not seen for a day go too.
//! A clip object no job points to (a post that failed for good, a crash
//! between the upload and the database record) is an orphan and is removed
//! once it is older than [`ORPHAN_GRACE`], which leaves an upload in flight
//! alone.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::Row;

use crate::clips::ClipStore;
use crate::db::Store;
use crate::error::StoreError;
use crate::jobs::Event;

const DAY_MS: i64 = 86_400_000;

/// A clip object younger than this is never taken for an orphan: its job
/// may be about to record it.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(24 * 3600);

/// Worker rows not seen for this long belong to processes that are gone.
const STALE_WORKER_MS: i64 = DAY_MS;

/// Rows handled per statement, so a first sweep of a large history does
/// not hold one long transaction.
const CHUNK: i64 = 200;

/// How long ended jobs keep their clip and their row; `None` keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub clips_days: Option<u32>,
    pub jobs_days: Option<u32>,
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub clips: u64,
    pub jobs: u64,
    pub workers: u64,
    pub orphans: u64,
    /// Pictures sent with `/video`, gone with their job's clip.
    pub pictures: u64,
}

impl Store {
    /// Removes what `retention` no longer keeps (see the module notes).
    /// Safe to run from several processes at once: every step is
    /// idempotent, and a clip's object is deleted before its key.
    pub async fn sweep(
        &self,
        clips: &ClipStore,
        retention: &Retention,
    ) -> Result<SweepReport, StoreError> {
        let now = self.now().await?;
        let cutoff = |days: Option<u32>| days.map(|d| now - i64::from(d) * DAY_MS);
        let mut report = SweepReport::default();
        // A job's clip goes no later than the job itself.
        let clip_cutoff = match (cutoff(retention.clips_days), cutoff(retention.jobs_days)) {
            (Some(c), Some(j)) => Some(c.max(j)),
            (c, j) => c.or(j),
        };
        if let Some(before) = clip_cutoff {
            report.clips = self.expire_clips(clips, before).await?;
            report.pictures = self.expire_pictures(before).await?;
        }
        if let Some(before) = cutoff(retention.jobs_days) {
            report.jobs = self.delete_jobs(before).await?;
        }
        report.workers = sqlx::query("DELETE FROM workers WHERE last_seen < $1")
            .bind(now - STALE_WORKER_MS)
            .execute(&self.writes)
            .await?
            .rows_affected();
        report.orphans = self.remove_orphans(clips, now).await?;
        Ok(report)
    }

    /// Deletes the clips of jobs that ended before `before`: the object
    /// first, then the key, so a failure leaves the key to try again.
    async fn expire_clips(&self, clips: &ClipStore, before: i64) -> Result<u64, StoreError> {
        let mut expired = 0;
        loop {
            let rows = sqlx::query(
                "SELECT id, clip_key FROM jobs WHERE clip_key IS NOT NULL \
                 AND state IN ('delivered', 'failed', 'cancelled', 'blocked') \
                 AND finished_at < $1 ORDER BY id LIMIT $2",
            )
            .bind(before)
            .bind(CHUNK)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                return Ok(expired);
            }
            for row in &rows {
                let id: i64 = row.try_get("id")?;
                let key: String = row.try_get("clip_key")?;
                clips.delete(&key).await?;
                if self
                    .clear_clip_key(id, &key, "clip_expired", "retention")
                    .await?
                {
                    expired += 1;
                }
            }
        }
    }

    /// Deletes ended jobs (and their events) that ended before `before` and
    /// hold no clip.
    async fn delete_jobs(&self, before: i64) -> Result<u64, StoreError> {
        const OLD: &str = "SELECT id FROM jobs WHERE clip_key IS NULL \
             AND state IN ('delivered', 'failed', 'cancelled', 'blocked') \
             AND finished_at < $1 ORDER BY id LIMIT $2";
        let mut deleted = 0;
        loop {
            let mut tx = self.writes.begin().await?;
            sqlx::query(&format!("DELETE FROM job_pictures WHERE job_id IN ({OLD})"))
                .bind(before)
                .bind(CHUNK)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!("DELETE FROM job_events WHERE job_id IN ({OLD})"))
                .bind(before)
                .bind(CHUNK)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query(&format!("DELETE FROM jobs WHERE id IN ({OLD})"))
                .bind(before)
                .bind(CHUNK)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            deleted += done;
            if done < CHUNK as u64 {
                return Ok(deleted);
            }
        }
    }

    /// Deletes clip objects older than [`ORPHAN_GRACE`] that no job points to.
    async fn remove_orphans(&self, clips: &ClipStore, now: i64) -> Result<u64, StoreError> {
        let old_enough = now - ORPHAN_GRACE.as_millis() as i64;
        let candidates: Vec<String> = clips
            .list_clips()
            .await?
            .into_iter()
            .filter(|(_, modified_ms)| *modified_ms < old_enough)
            .map(|(key, _)| key)
            .collect();
        let mut removed = 0;
        for chunk in candidates.chunks(CHUNK as usize) {
            let wanted: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT clip_key FROM jobs WHERE clip_key IN ({})",
                wanted.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for key in chunk {
                query = query.bind(key.as_str());
            }
            let known: HashSet<String> = query
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| row.try_get("clip_key"))
                .collect::<Result<_, _>>()?;
            for key in chunk.iter().filter(|key| !known.contains(*key)) {
                clips.delete(key).await?;
                tracing::info!(%key, "removed an orphaned clip");
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Clears a clip key that still holds `key`, logging `kind`.
    pub(crate) async fn clear_clip_key(
        &self,
        id: i64,
        key: &str,
        kind: &str,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let now = self.now().await?;
        let update = sqlx::query(
            "UPDATE jobs SET clip_key = NULL, updated_at = $1 WHERE id = $2 AND clip_key = $3",
        )
        .bind(now)
        .bind(id)
        .bind(key.to_string());
        let event = Event {
            job_id: id,
            at: now,
            kind,
            actor,
            detail: "",
        };
        let cleared = self.update_logged(update, event).await?;
        // The picture it was made from goes with the clip.
        self.delete_picture(id).await?;
        Ok(cleared)
    }
}
