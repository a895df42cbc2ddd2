//! Pictures sent with `/video` (the job's first frame), kept as the
//! command core checked them: PNG bytes in `job_pictures`, keyed by job.
//! Written in the job's own enqueue transaction (`enqueue/statements.rs`),
//! read by the worker when the render starts, and deleted with the clip:
//! when its requester deletes it, when retention expires it, and with the
//! job row at the latest (`retention.rs`).

use sqlx::{AnyConnection, Row};

use crate::db::Store;
use crate::error::StoreError;
use crate::jobs::{Job, JobPicture, NewJob};

/// Stores the picture of each new job that has one (`jobs[i]` was made
/// from `news[i]`).
pub(crate) async fn insert_pictures(
    conn: &mut AnyConnection,
    jobs: &[Job],
    news: &[&NewJob],
    now: i64,
) -> Result<(), StoreError> {
    for (job, new) in jobs.iter().zip(news) {
        let Some(picture) = &new.picture else {
            continue;
        };
        sqlx::query("INSERT INTO job_pictures (job_id, png, created_at) VALUES ($1, $2, $3)")
            .bind(job.id)
            .bind(picture.bytes().to_vec())
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Job `id`'s picture, if it was sent one and it is still kept.
    pub async fn job_picture(&self, id: i64) -> Result<Option<JobPicture>, StoreError> {
        let row = sqlx::query("SELECT png FROM job_pictures WHERE job_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(JobPicture::new(row.try_get("png")?))),
            None => Ok(None),
        }
    }

    /// Deletes job `id`'s picture (nothing when it has none).
    pub(crate) async fn delete_picture(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM job_pictures WHERE job_id = $1")
            .bind(id)
            .execute(&self.writes)
            .await?;
        Ok(())
    }

    /// Deletes the pictures of jobs that ended before `before`, whether or
    /// not they made a clip: a picture is kept no longer than a clip.
    pub(crate) async fn expire_pictures(&self, before: i64) -> Result<u64, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM job_pictures WHERE job_id IN (SELECT id FROM jobs \
             WHERE state IN ('delivered', 'failed', 'cancelled', 'blocked') AND finished_at < $1)",
        )
        .bind(before)
        .execute(&self.writes)
        .await?
        .rows_affected();
        Ok(deleted)
    }
}
