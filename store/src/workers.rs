use sqlx::Row;

use crate::db::Store;
use crate::error::StoreError;

/// A worker counts as live while it has been seen within this window.
pub(crate) const LIVE_WINDOW_MS: i64 = 30_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    pub id: String,
    pub host: String,
    pub renderer: String,
    pub started_at: i64,
    pub last_seen: i64,
}

impl Store {
    pub async fn register_worker(
        &self,
        id: &str,
        host: &str,
        renderer: &str,
    ) -> Result<(), StoreError> {
        let now = self.now().await?;
        sqlx::query(
            "INSERT INTO workers (id, host, renderer, started_at, last_seen) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (id) DO UPDATE SET last_seen = $4",
        )
        .bind(id)
        .bind(host)
        .bind(renderer)
        .bind(now)
        .execute(&self.writes)
        .await?;
        Ok(())
    }

    pub async fn worker_seen(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE workers SET last_seen = $1 WHERE id = $2")
            .bind(self.now().await?)
            .bind(id)
            .execute(&self.writes)
            .await?;
        Ok(())
    }

    pub async fn deregister_worker(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM workers WHERE id = $1")
            .bind(id)
            .execute(&self.writes)
            .await?;
        Ok(())
    }

    pub async fn live_worker_count(&self) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM workers WHERE last_seen > $1")
            .bind(self.now().await? - LIVE_WINDOW_MS)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(n as u32)
    }

    pub async fn live_workers(&self) -> Result<Vec<WorkerInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, host, renderer, started_at, last_seen FROM workers WHERE last_seen > $1 ORDER BY id",
        )
        .bind(self.now().await? - LIVE_WINDOW_MS)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(WorkerInfo {
                    id: row.try_get("id")?,
                    host: row.try_get("host")?,
                    renderer: row.try_get("renderer")?,
                    started_at: row.try_get("started_at")?,
                    last_seen: row.try_get("last_seen")?,
                })
            })
            .collect()
    }
}
