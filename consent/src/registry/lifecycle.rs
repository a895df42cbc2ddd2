//! A cameo's life: consent texts, registration, withdrawal (media and
//! erasure: `media.rs`).

use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use sqlx::Row;

use super::{append, grants_of, CameoRegistry, CameoRow};
use crate::chain::EventKind;
use crate::crypto::hex;
use crate::error::RegistryError;
use crate::model::{
    CameoId, CameoInfo, CameoName, ConsentText, MediaKind, NewCameo, Person, Status,
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
        let inserted = sqlx::query(
            "INSERT INTO consent_texts (language, body, sha256, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING version",
        )
        .bind(language)
        .bind(body)
        .bind(&sha256)
        .bind(self.now())
        .fetch_one(&mut *conn)
        .await;
        match inserted {
            Ok(row) => self.consent_text(row.try_get("version")?).await,
            // Another process published the same text meanwhile.
            Err(e) if RegistryError::is_unique_violation(&e) => {
                let key = TextKey::Content {
                    language,
                    sha256: &sha256,
                };
                find_consent_text(&mut conn, key)
                    .await?
                    .ok_or(RegistryError::Db(e))
            }
            Err(e) => Err(e.into()),
        }
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
            return Err(RegistryError::MissingMedia(MediaKind::FaceImage));
        }
        let mut conn = self.writer().await?;
        let saved = self.secure_delete_on(&mut conn).await?;
        let registered = self.register_in(&mut conn, &new, &name).await;
        self.secure_delete_restore(&mut conn, saved).await?;
        let id = registered?;
        drop(conn);
        tracing::info!(cameo_id = id.0, name = name.as_str(), "cameo registered");
        self.info_of_id(id).await
    }

    async fn register_in(
        &self,
        conn: &mut AnyConnection,
        new: &NewCameo,
        name: &CameoName,
    ) -> Result<CameoId, RegistryError> {
        let at = self.now();
        let mut tx = self.begin(conn).await?;
        let id = self.insert_cameo(&mut tx, new, name, at).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The writes of a registration, inside the caller's write transaction
    /// (see [`Self::begin`]); the cameo is active once they are committed.
    pub(super) async fn insert_cameo(
        &self,
        tx: &mut AnyConnection,
        new: &NewCameo,
        name: &CameoName,
        at: i64,
    ) -> Result<CameoId, RegistryError> {
        let version = new.evidence.consent_text_version;
        let text = find_consent_text(&mut *tx, TextKey::Version(version))
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
            &mut *tx,
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
        self.store_media(&mut *tx, id, &new.media, at).await?;
        let evidence = &new.evidence;
        append(
            &mut *tx,
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
        Ok(id)
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
        // The voice prompt made from the cameo's recording is a cache: no
        // reason to keep a copy of the voice once consent is withdrawn.
        sqlx::query("DELETE FROM cameo_voice_prompts WHERE cameo_id = $1")
            .bind(cameo.id.0)
            .execute(&mut *tx)
            .await?;
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
