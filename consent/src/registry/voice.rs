//! A cameo's voice for the speech model (issue 17): the phrase its owner
//! read at registration (the transcript of the voice clip), and a cache of
//! the voice prompt made from the clip. The cache holds the owner's voice,
//! so it is sealed under the cameo's own key like the rest of its media
//! (bound to the cameo and to its kind by the AEAD's associated data),
//! deleted at withdrawal and erased with the cameo (`media.rs`). What the
//! prompt holds is the caller's business (an opaque blob here).

use sqlx::Row;

use super::CameoRegistry;
use crate::error::RegistryError;
use crate::model::MediaKind;

impl CameoRegistry {
    /// What the owner of the active cameo `name` said in the recording its
    /// voice clip comes from: the challenge phrase as the registration's
    /// speech check heard and accepted it, from the `verified` event of the
    /// consent log (the challenge row itself does not outlive an erasure
    /// request). Callers check consent first, as for [`Self::reference_media`].
    pub async fn verified_phrase(&self, name: &str) -> Result<String, RegistryError> {
        let mut conn = self.store.read_pool().acquire().await?;
        let (id, _key) = self.active_key(&mut conn, name).await?;
        let row = sqlx::query(
            "SELECT payload FROM consent_events WHERE cameo_id = $1 AND kind = 'verified' \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| RegistryError::Corrupt(format!("cameo #{} has no verified event", id.0)))?;
        let payload: String = row.try_get("payload")?;
        let value: serde_json::Value = serde_json::from_str(&payload).map_err(|e| {
            RegistryError::Corrupt(format!("cameo #{}'s verified event: {e}", id.0))
        })?;
        value["transcript"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                RegistryError::Corrupt(format!(
                    "cameo #{}'s verified event has no transcript",
                    id.0
                ))
            })
    }

    /// The cached voice prompt of the active cameo `name`, decrypted;
    /// `None` when none was kept (or it was dropped at a withdrawal).
    pub async fn cached_voice_prompt(&self, name: &str) -> Result<Option<Vec<u8>>, RegistryError> {
        let mut conn = self.store.read_pool().acquire().await?;
        let (id, key) = self.active_key(&mut conn, name).await?;
        let row = sqlx::query("SELECT ciphertext FROM cameo_voice_prompts WHERE cameo_id = $1")
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let sealed: Vec<u8> = row.try_get("ciphertext")?;
        key.open(id.0, MediaKind::VoicePrompt, &sealed)
            .map(Some)
            .map_err(|source| RegistryError::Undecryptable {
                cameo_id: id.0,
                what: MediaKind::VoicePrompt.as_str(),
                source,
            })
    }

    /// Keeps `prompt` (made from the active cameo `name`'s voice clip),
    /// sealed, replacing an older one. Should the cameo be erased at the
    /// same moment, the row cannot outlive its key (the table's foreign
    /// key cascades; after the key is gone the insert fails).
    pub async fn keep_voice_prompt(&self, name: &str, prompt: &[u8]) -> Result<(), RegistryError> {
        let mut conn = self.writer().await?;
        let saved = self.secure_delete_on(&mut conn).await?;
        let result = async {
            let (id, key) = self.active_key(&mut conn, name).await?;
            let sealed = key.seal(id.0, MediaKind::VoicePrompt, prompt)?;
            sqlx::query(
                "INSERT INTO cameo_voice_prompts (cameo_id, ciphertext, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (cameo_id) DO UPDATE \
                 SET ciphertext = excluded.ciphertext, created_at = excluded.created_at",
            )
            .bind(id.0)
            .bind(sealed)
            .bind(self.now())
            .execute(&mut *conn)
            .await?;
            Ok::<_, RegistryError>(())
        }
        .await;
        self.secure_delete_restore(&mut conn, saved).await?;
        result
    }
}
