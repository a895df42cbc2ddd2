//! A cameo's media: sealed at registration, opened for the renderer,
//! destroyed at erasure.

use reel_store::Backend;
use serde_json::json;
use sqlx::AnyConnection;
use sqlx::Row;

use super::{append, find_by_owner, CameoRegistry};
use crate::chain::EventKind;
use crate::crypto::CameoKey;
use crate::error::RegistryError;
use crate::model::{CameoId, CameoName, MediaKind, Person, ReferenceMedia, Status};

impl CameoRegistry {
    /// Seals each piece of media under a new cameo key, and stores the key
    /// wrapped by the master key.
    pub(super) async fn store_media(
        &self,
        conn: &mut AnyConnection,
        id: CameoId,
        media: &ReferenceMedia,
        at: i64,
    ) -> Result<(), RegistryError> {
        let key = CameoKey::generate();
        sqlx::query(
            "INSERT INTO cameo_keys (cameo_id, master_id, wrapped_key, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.0)
        .bind(self.master.id())
        .bind(self.master.wrap(id.0, &key)?)
        .bind(at)
        .execute(&mut *conn)
        .await?;
        for (kind, plain) in media.parts() {
            if plain.is_empty() {
                continue;
            }
            sqlx::query(
                "INSERT INTO cameo_media (cameo_id, kind, ciphertext, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(id.0)
            .bind(kind.as_str())
            .bind(key.seal(id.0, kind, plain)?)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// The reference media of the active cameo `name`, decrypted, for the
    /// renderer. Callers check consent first (the gate); this refuses any
    /// cameo that is not active all the same.
    pub async fn reference_media(&self, name: &str) -> Result<ReferenceMedia, RegistryError> {
        let mut conn = self.store.read_pool().acquire().await?;
        let (id, key) = self.active_key(&mut conn, name).await?;
        let id = id.0;
        let mut media = ReferenceMedia {
            face_image: Vec::new(),
            voice_clip: Vec::new(),
            embedding: Vec::new(),
        };
        let rows = sqlx::query("SELECT kind, ciphertext FROM cameo_media WHERE cameo_id = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            let kind: MediaKind = row.try_get::<String, _>("kind")?.parse()?;
            let sealed: Vec<u8> = row.try_get("ciphertext")?;
            let plain =
                key.open(id, kind, &sealed)
                    .map_err(|source| RegistryError::Undecryptable {
                        cameo_id: id,
                        what: kind.as_str(),
                        source,
                    })?;
            match kind {
                MediaKind::FaceImage => media.face_image = plain,
                MediaKind::VoiceClip => media.voice_clip = plain,
                MediaKind::Embedding => media.embedding = plain,
                // Kept in a table of its own (see `voice.rs`), never here.
                MediaKind::VoicePrompt => {}
            }
        }
        Ok(media)
    }

    /// The id and unwrapped key of the active cameo `name`: what reading
    /// any of its media starts with. Refuses a cameo that is not active.
    pub(super) async fn active_key(
        &self,
        conn: &mut AnyConnection,
        name: &str,
    ) -> Result<(CameoId, CameoKey), RegistryError> {
        let name = CameoName::parse(name)?;
        let cameo = super::find_by_name(&mut *conn, &name)
            .await?
            .ok_or_else(|| RegistryError::UnknownCameo(name.to_string()))?;
        if cameo.status != Status::Active {
            return Err(RegistryError::NotActive {
                name: cameo.name,
                status: cameo.status,
            });
        }
        let id = cameo.id.0;
        let key_row =
            sqlx::query("SELECT master_id, wrapped_key FROM cameo_keys WHERE cameo_id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| RegistryError::Corrupt(format!("cameo #{id} has no key")))?;
        let stored: String = key_row.try_get("master_id")?;
        if stored != self.master.id() {
            return Err(RegistryError::WrongMasterKey {
                cameo_id: id,
                stored,
                given: self.master.id(),
            });
        }
        let wrapped: Vec<u8> = key_row.try_get("wrapped_key")?;
        let key =
            self.master
                .unwrap(id, &wrapped)
                .map_err(|source| RegistryError::Undecryptable {
                    cameo_id: id,
                    what: "key",
                    source,
                })?;
        Ok((cameo.id, key))
    }

    /// Withdraws (if need be) and erases the owner's cameo `name`.
    pub async fn erase(&self, actor: &Person, name: &str) -> Result<(), RegistryError> {
        let cameo = {
            let mut conn = self.store.read_pool().acquire().await?;
            self.owned(
                &mut conn,
                actor,
                name,
                &[Status::Active, Status::Pending, Status::Withdrawn],
            )
            .await?
        };
        self.erase_ids(&[cameo.id], &actor.actor(), "owner").await
    }

    /// An operator's erasure of everything `person` registered (an erasure
    /// request), their registration challenges included; `operator` names
    /// who did it, for the log. Returns how
    /// many cameos were erased.
    pub async fn erase_person(
        &self,
        person: &Person,
        operator: &str,
    ) -> Result<usize, RegistryError> {
        let ids: Vec<CameoId> = {
            let mut conn = self.store.read_pool().acquire().await?;
            find_by_owner(&mut conn, person)
                .await?
                .into_iter()
                .filter(|c| c.status != Status::Erased)
                .map(|c| c.id)
                .collect()
        };
        self.erase_ids(&ids, &format!("operator:{operator}"), "operator")
            .await?;
        self.forget_challenges(person).await?;
        Ok(ids.len())
    }

    /// Crypto-shredding: deletes the wrapped key and the media (so copies
    /// of the ciphertext anywhere, backups included, cannot be read once
    /// the key's copies are gone too) and the grants; marks the cameo
    /// erased, which frees its name; leaves the `erased` tombstone event.
    /// On SQLite it then empties the write-ahead log, which still holds
    /// the deleted pages' old versions (see `secure_delete_on` for the
    /// database file itself).
    async fn erase_ids(&self, ids: &[CameoId], actor: &str, by: &str) -> Result<(), RegistryError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer().await?;
        let saved = self.secure_delete_on(&mut conn).await?;
        let result = self.erase_in_transaction(&mut conn, ids, actor, by).await;
        self.secure_delete_restore(&mut conn, saved).await?;
        result?;
        if self.store.backend() == Backend::Sqlite {
            let busy: i64 = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
            if busy != 0 {
                tracing::warn!("after an erasure the SQLite write-ahead log could not be emptied (readers active); a later checkpoint will overwrite it");
            }
        }
        Ok(())
    }

    /// On SQLite, makes the connection zero every byte it frees, until
    /// [`Self::secure_delete_restore`]. Needed wherever cameo media and
    /// keys are written, not only where they are deleted: SQLite zeroes
    /// only what it frees while the pragma is on, and a page split during
    /// registration leaves the moved cells' old bytes in free space, which
    /// a later delete would never touch (the erasure test found such a
    /// copy). Cheaper than a `VACUUM` after each erasure, which rewrites
    /// the whole database (job queue included) and needs it to itself.
    pub(super) async fn secure_delete_on(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<Option<i64>, RegistryError> {
        if self.store.backend() != Backend::Sqlite {
            return Ok(None);
        }
        let before: i64 = sqlx::query("PRAGMA secure_delete")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *conn)
            .await?;
        Ok(Some(before))
    }

    pub(super) async fn secure_delete_restore(
        &self,
        conn: &mut AnyConnection,
        before: Option<i64>,
    ) -> Result<(), RegistryError> {
        if let Some(before) = before {
            sqlx::query(&format!("PRAGMA secure_delete = {before}"))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn erase_in_transaction(
        &self,
        conn: &mut AnyConnection,
        ids: &[CameoId],
        actor: &str,
        by: &str,
    ) -> Result<(), RegistryError> {
        let mut tx = self.begin(conn).await?;
        let at = self.now();
        for id in ids {
            // The status first: the write that also tells whether someone
            // erased it meanwhile (then there is nothing left to do).
            let marked = sqlx::query(
                "UPDATE cameos SET status = 'erased', restrictions = '[]', updated_at = $2 \
                 WHERE id = $1 AND status <> 'erased'",
            )
            .bind(id.0)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if marked == 0 {
                continue;
            }
            let mut deleted = 0u64;
            // The cached voice prompt before the key it references (and
            // sealed under): the cascade would take it too, this says so.
            let tables = [
                "cameo_media",
                "cameo_voice_prompts",
                "cameo_keys",
                "cameo_grants",
            ];
            for table in tables {
                deleted += sqlx::query(&format!("DELETE FROM {table} WHERE cameo_id = $1"))
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            let payload = json!({ "by": by, "rows_deleted": deleted });
            append(&mut tx, *id, EventKind::Erased, actor, payload, at).await?;
            tracing::info!(cameo_id = id.0, by, "cameo erased");
        }
        tx.commit().await?;
        Ok(())
    }
}
