//! A cameo's life: consent texts, registration, its media, withdrawal
//! and erasure.

use reel_store::Backend;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use sqlx::Row;

use super::{append, find_by_owner, grants_of, CameoRegistry, CameoRow};
use crate::chain::EventKind;
use crate::crypto::{hex, CameoKey};
use crate::error::RegistryError;
use crate::model::{
    CameoId, CameoInfo, CameoName, ConsentText, MediaKind, NewCameo, Person, ReferenceMedia, Status,
};

impl CameoRegistry {
    /// Stores a consent text and returns it with its version; the same
    /// text in the same language again returns the stored one. Texts are
    /// never changed or removed (the database refuses), so a consent
    /// record always names the exact words.
    pub async fn publish_consent_text(
        &self,
        language: &str,
        body: &str,
    ) -> Result<ConsentText, RegistryError> {
        let sha256 = hex(&Sha256::digest(body.as_bytes()));
        let mut conn = self.writer().await?;
        let key = TextKey::Content {
            language,
            sha256: &sha256,
        };
        if let Some(text) = find_consent_text(&mut conn, key).await? {
            return Ok(text);
        }
        let version: i64 = sqlx::query(
            "INSERT INTO consent_texts (language, body, sha256, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING version",
        )
        .bind(language)
        .bind(body)
        .bind(&sha256)
        .bind(self.now())
        .fetch_one(&mut *conn)
        .await?
        .try_get("version")?;
        self.consent_text(version).await
    }

    pub async fn consent_text(&self, version: i64) -> Result<ConsentText, RegistryError> {
        let mut conn = self.store.read_pool().acquire().await?;
        find_consent_text(&mut conn, TextKey::Version(version))
            .await?
            .ok_or(RegistryError::UnknownConsentText(version))
    }

    /// Records a registration whose checks passed: the cameo, its media
    /// sealed under a new key of its own, and the `granted` and `verified`
    /// events, in one transaction; the cameo goes from pending to active
    /// (audience only me, approval auto) only once all of it is written.
    pub async fn register(&self, new: NewCameo) -> Result<CameoInfo, RegistryError> {
        let name = CameoName::parse(&new.name)?;
        if new.media.face_image.is_empty() {
            return Err(RegistryError::Corrupt("a cameo needs a face image".into()));
        }
        let at = self.now();
        let mut conn = self.writer().await?;
        let mut tx = self.begin(&mut conn).await?;
        let version = new.evidence.consent_text_version;
        let text = find_consent_text(&mut tx, TextKey::Version(version))
            .await?
            .ok_or(RegistryError::UnknownConsentText(version))?;
        let inserted = sqlx::query(
            "INSERT INTO cameos (owner_platform, owner_user, name, status, consent_text_version, \
             created_at, updated_at) VALUES ($1, $2, $3, 'pending', $4, $5, $5) RETURNING id",
        )
        .bind(&new.owner.platform)
        .bind(&new.owner.user_id)
        .bind(name.as_str())
        .bind(version)
        .bind(at)
        .fetch_one(&mut *tx)
        .await;
        let id = match inserted {
            Ok(row) => CameoId(row.try_get("id")?),
            Err(e) if RegistryError::is_unique_violation(&e) => {
                return Err(RegistryError::NameTaken(name.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        let actor = new.owner.actor();
        append(
            &mut tx,
            id,
            EventKind::Granted,
            &actor,
            json!({
                "name": name.as_str(),
                "consent_text_version": text.version,
                "consent_text_sha256": text.sha256,
                "language": text.language,
                "message_id": new.evidence.message_id,
            }),
            at,
        )
        .await?;
        self.store_media(&mut tx, id, &new.media, at).await?;
        let evidence = &new.evidence;
        append(
            &mut tx,
            id,
            EventKind::Verified,
            &actor,
            json!({
                "nonce": evidence.nonce,
                "transcript": evidence.transcript,
                "phrase_score": evidence.phrase_score,
                "face_score": evidence.face_score,
                "voice_score": evidence.voice_score,
                "models": evidence.models,
                "message_id": evidence.message_id,
            }),
            at,
        )
        .await?;
        sqlx::query("UPDATE cameos SET status = 'active' WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        drop(conn);
        tracing::info!(cameo_id = id.0, name = name.as_str(), "cameo registered");
        self.info_of_id(id).await
    }

    /// Seals each piece of media under a new cameo key, and stores the key
    /// wrapped by the master key.
    async fn store_media(
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
        let name = CameoName::parse(name)?;
        let mut conn = self.store.read_pool().acquire().await?;
        let cameo = super::find_by_name(&mut conn, &name)
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
            }
        }
        Ok(media)
    }

    /// Withdraws consent: from now on nobody may use the cameo (checked
    /// again before rendering and before delivery). Withdrawing a
    /// withdrawn cameo changes nothing.
    pub async fn withdraw(&self, actor: &Person, name: &str) -> Result<(), RegistryError> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin(&mut conn).await?;
        let cameo = self
            .owned(
                &mut tx,
                actor,
                name,
                &[Status::Active, Status::Pending, Status::Withdrawn],
            )
            .await?;
        if cameo.status == Status::Withdrawn {
            return Ok(());
        }
        let at = self.now();
        set_status(&mut tx, cameo.id, Status::Withdrawn, at).await?;
        append(
            &mut tx,
            cameo.id,
            EventKind::Withdrawn,
            &actor.actor(),
            json!({}),
            at,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(cameo_id = cameo.id.0, "cameo withdrawn");
        Ok(())
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
    /// request); `operator` names who did it, for the log. Returns how
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
        Ok(ids.len())
    }

    /// Crypto-shredding: deletes the wrapped key and the media (so copies
    /// of the ciphertext anywhere, backups included, cannot be read once
    /// the key's copies are gone too) and the grants; marks the cameo
    /// erased, which frees its name; leaves the `erased` tombstone event.
    ///
    /// On SQLite the rows' bytes would otherwise stay in the file's free
    /// space and in the write-ahead log: `secure_delete` makes SQLite zero
    /// what it deletes, and a truncating checkpoint empties the WAL
    /// afterwards. Cheaper than a `VACUUM`, which rewrites the whole
    /// database (the job queue too) and needs it to itself.
    async fn erase_ids(&self, ids: &[CameoId], actor: &str, by: &str) -> Result<(), RegistryError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer().await?;
        let sqlite = self.store.backend() == Backend::Sqlite;
        let secure_before: i64 = if sqlite {
            let before = sqlx::query("PRAGMA secure_delete")
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
            sqlx::query("PRAGMA secure_delete = ON")
                .execute(&mut *conn)
                .await?;
            before
        } else {
            0
        };
        let result = self.erase_in_transaction(&mut conn, ids, actor, by).await;
        if sqlite {
            sqlx::query(&format!("PRAGMA secure_delete = {secure_before}"))
                .execute(&mut *conn)
                .await?;
            if result.is_ok() {
                let busy: i64 = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?;
                if busy != 0 {
                    tracing::warn!("after an erasure the SQLite write-ahead log could not be emptied yet (readers active); the next checkpoint will");
                }
            }
        }
        result
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
            for table in ["cameo_media", "cameo_keys", "cameo_grants"] {
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

    /// The cameo with id `id`, as stored.
    pub(super) async fn info_of_id(&self, id: CameoId) -> Result<CameoInfo, RegistryError> {
        let mut conn = self.store.read_pool().acquire().await?;
        let sql = format!("SELECT {} FROM cameos WHERE id = $1", super::CAMEO_COLUMNS);
        let row = sqlx::query(&sql).bind(id.0).fetch_one(&mut *conn).await?;
        let cameo = CameoRow::from_row(&row)?;
        let grants = grants_of(&mut conn, id).await?;
        Ok(cameo.info(grants))
    }
}

async fn set_status(
    conn: &mut AnyConnection,
    id: CameoId,
    status: Status,
    at: i64,
) -> Result<(), RegistryError> {
    sqlx::query("UPDATE cameos SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(id.0)
        .bind(status.as_str())
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// How a consent text is looked up.
pub(super) enum TextKey<'a> {
    Version(i64),
    Content { language: &'a str, sha256: &'a str },
}

pub(super) async fn find_consent_text(
    conn: &mut AnyConnection,
    key: TextKey<'_>,
) -> Result<Option<ConsentText>, RegistryError> {
    const SELECT: &str = "SELECT version, language, body, sha256, created_at FROM consent_texts";
    let row = match key {
        TextKey::Version(version) => {
            sqlx::query(&format!("{SELECT} WHERE version = $1"))
                .bind(version)
                .fetch_optional(&mut *conn)
                .await?
        }
        TextKey::Content { language, sha256 } => {
            sqlx::query(&format!("{SELECT} WHERE language = $1 AND sha256 = $2"))
                .bind(language)
                .bind(sha256)
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    row.map(|row| {
        Ok(ConsentText {
            version: row.try_get("version")?,
            language: row.try_get("language")?,
            body: row.try_get("body")?,
            sha256: row.try_get("sha256")?,
            created_at: row.try_get("created_at")?,
        })
    })
    .transpose()
}
