//! Master key rotation: every cameo key re-wrapped under a new master key.
//!
//! Why it matters for erasure: a backup taken before an erasure still
//! holds the erased cameo's wrapped key, readable with the master key of
//! the day. Once every live key is re-wrapped and the old master key is
//! destroyed, such backups hold nothing anyone can read.

use sqlx::Row;

use super::CameoRegistry;
use crate::crypto::MasterKey;
use crate::error::RegistryError;

impl CameoRegistry {
    /// Re-wraps every cameo key under `new` in one transaction and returns
    /// a registry that uses it, with the number of keys re-wrapped. Keys
    /// wrapped by another master key than this registry's stop it (nothing
    /// changes). The caller then stores `new` and destroys the old key.
    pub async fn rotate_master_key(
        &self,
        new: MasterKey,
    ) -> Result<(CameoRegistry, usize), RegistryError> {
        let mut conn = self.writer().await?;
        let saved = self.secure_delete_on(&mut conn).await?;
        let result = self.rewrap_all(&mut conn, &new).await;
        self.secure_delete_restore(&mut conn, saved).await?;
        let count = result?;
        tracing::info!(keys = count, master = %new.id(), "cameo keys re-wrapped under a new master key");
        Ok((CameoRegistry::new(self.store.clone(), new), count))
    }

    async fn rewrap_all(
        &self,
        conn: &mut sqlx::AnyConnection,
        new: &MasterKey,
    ) -> Result<usize, RegistryError> {
        // The write lock first (see `begin`), so no registration or
        // erasure slips in between the read and the updates.
        let mut tx = self.begin(conn).await?;
        let rows = sqlx::query(
            "SELECT cameo_id, master_id, wrapped_key FROM cameo_keys ORDER BY cameo_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let cameo_id: i64 = row.try_get("cameo_id")?;
            let stored: String = row.try_get("master_id")?;
            if stored != self.master.id() {
                return Err(RegistryError::WrongMasterKey {
                    cameo_id,
                    stored,
                    given: self.master.id(),
                });
            }
            let wrapped: Vec<u8> = row.try_get("wrapped_key")?;
            let key = self.master.unwrap(cameo_id, &wrapped).map_err(|source| {
                RegistryError::Undecryptable {
                    cameo_id,
                    what: "key",
                    source,
                }
            })?;
            sqlx::query(
                "UPDATE cameo_keys SET master_id = $2, wrapped_key = $3 WHERE cameo_id = $1",
            )
            .bind(cameo_id)
            .bind(new.id())
            .bind(new.wrap(cameo_id, &key)?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }
}
