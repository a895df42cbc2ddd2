//! Registration by challenge: `start_registration` holds a name for its
//! owner and issues a one-time phrase; `finish_registration` answers it
//! with one recording, runs the checks (a [`RecordingVerifier`]) and only
//! then records the cameo, in the same transaction that spends the
//! challenge.
//!
//! A person has at most one open challenge: a new one voids the last. The
//! answer is looked up by the person who sent the recording, so nobody can
//! answer someone else's challenge. Single use: after a registration the
//! person's latest challenge is `used`, and answering again is
//! [`RegistryError::ChallengeUsed`]. A refused recording changes nothing:
//! the challenge stays open until it expires. Expiry is judged when the
//! recording arrives (checks may take a while after that).

use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::RngCore;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{find_by_name, CameoRegistry};
use crate::consent_text::{CONSENT_LANGUAGE_EN, CONSENT_TEXT_EN};
use crate::crypto::hex;
use crate::enroll::{Challenge, RecordingVerifier, Submission, CHALLENGE_TTL_MS};
use crate::error::RegistryError;
use crate::model::{CameoId, CameoInfo, CameoName, Evidence, NewCameo, Person};

/// Words in a challenge phrase.
pub const PHRASE_WORDS: usize = 5;

/// What phrases are made of: short, common, easy to say, distinct in sound,
/// and none a number word (the phrase check turns those into digits).
pub const CHALLENGE_WORDS: [&str; 64] = [
    "apple", "anchor", "basket", "blanket", "bottle", "bridge", "button", "camera", "candle",
    "canyon", "castle", "cherry", "circle", "coffee", "cookie", "copper", "cotton", "desert",
    "dinner", "doctor", "dragon", "engine", "falcon", "feather", "flower", "forest", "garden",
    "ginger", "guitar", "hammer", "helmet", "honey", "island", "jacket", "kettle", "ladder",
    "lantern", "lemon", "lizard", "magnet", "marble", "meadow", "mirror", "monkey", "muffin",
    "napkin", "ocean", "orange", "panda", "parrot", "pebble", "pencil", "pepper", "picnic",
    "pillow", "planet", "purple", "rabbit", "river", "rocket", "silver", "tiger", "turtle",
    "violin",
];

/// A challenge as stored.
struct ChallengeRow {
    id: i64,
    name: String,
    phrase: String,
    nonce: String,
    consent_text_version: i64,
    status: String,
    expires_at: i64,
}

impl ChallengeRow {
    fn from_row(row: &AnyRow) -> Result<Self, RegistryError> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            phrase: row.try_get("phrase")?,
            nonce: row.try_get("nonce")?,
            consent_text_version: row.try_get("consent_text_version")?,
            status: row.try_get("status")?,
            expires_at: row.try_get("expires_at")?,
        })
    }
}

impl CameoRegistry {
    /// Holds `name` for `owner` and issues a fresh phrase; an earlier
    /// unanswered challenge of the same owner is void. A name held by a
    /// cameo, or by another person's unexpired challenge, is `NameTaken`.
    pub async fn start_registration(
        &self,
        owner: &Person,
        name: &str,
    ) -> Result<Challenge, RegistryError> {
        let name = CameoName::parse(name)?;
        let text = self
            .publish_consent_text(CONSENT_LANGUAGE_EN, CONSENT_TEXT_EN)
            .await?;
        let phrase = new_phrase();
        let nonce = new_nonce();
        let mut conn = self.writer().await?;
        // The log's lock also serialises challenges, so two people asking
        // for one name at once cannot both hold it.
        let mut tx = self.begin(&mut conn).await?;
        let at = self.now();
        if find_by_name(&mut tx, &name).await?.is_some() {
            return Err(RegistryError::NameTaken(name.to_string()));
        }
        let held = sqlx::query(
            "SELECT id FROM cameo_challenges WHERE name = $1 AND status = 'open' \
             AND expires_at > $2 AND NOT (owner_platform = $3 AND owner_user = $4) LIMIT 1",
        )
        .bind(name.as_str())
        .bind(at)
        .bind(&owner.platform)
        .bind(&owner.user_id)
        .fetch_optional(&mut *tx)
        .await?;
        if held.is_some() {
            return Err(RegistryError::NameTaken(name.to_string()));
        }
        sqlx::query(
            "UPDATE cameo_challenges SET status = 'void' \
             WHERE owner_platform = $1 AND owner_user = $2 AND status = 'open'",
        )
        .bind(&owner.platform)
        .bind(&owner.user_id)
        .execute(&mut *tx)
        .await?;
        let expires_at = at + CHALLENGE_TTL_MS;
        sqlx::query(
            "INSERT INTO cameo_challenges (owner_platform, owner_user, name, phrase, nonce, \
             consent_text_version, status, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8)",
        )
        .bind(&owner.platform)
        .bind(&owner.user_id)
        .bind(name.as_str())
        .bind(&phrase)
        .bind(&nonce)
        .bind(text.version)
        .bind(at)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(name = name.as_str(), "cameo registration challenge issued");
        Ok(Challenge {
            name: name.to_string(),
            phrase,
            consent_text: text,
            expires_at,
        })
    }

    /// Answers the owner's pending challenge with a recording: refuses
    /// forwarded media, an expired or already-used challenge, or a
    /// recording the verifier refuses (nothing stored then; the challenge
    /// stays open until it expires). On success registers the cameo
    /// (evidence: nonce, transcript, scores, model versions, message id,
    /// consent text version) and marks the challenge used (single use).
    pub async fn finish_registration(
        &self,
        submission: &Submission,
        verifier: &dyn RecordingVerifier,
    ) -> Result<CameoInfo, RegistryError> {
        let owner = &submission.owner;
        let challenge = {
            let mut conn = self.store.read_pool().acquire().await?;
            latest_challenge(&mut conn, owner).await?
        }
        .ok_or(RegistryError::NoChallenge)?;
        match challenge.status.as_str() {
            "used" => return Err(RegistryError::ChallengeUsed),
            _ if challenge.expires_at <= self.now() => return Err(RegistryError::ChallengeExpired),
            _ => {}
        }
        if submission.forwarded {
            return Err(RegistryError::Forwarded);
        }
        let verified = verifier
            .verify(&submission.path, &challenge.phrase)
            .await
            .map_err(RegistryError::Recording)?;
        let new = NewCameo {
            owner: owner.clone(),
            name: challenge.name.clone(),
            evidence: Evidence {
                consent_text_version: challenge.consent_text_version,
                message_id: submission.message_id.clone(),
                nonce: challenge.nonce.clone(),
                transcript: verified.transcript,
                phrase_score: verified.phrase_score,
                face_score: verified.face_score,
                voice_score: verified.voice_score,
                models: verified.models,
            },
            media: verified.media,
        };
        let name = CameoName::parse(&new.name)?;
        let mut conn = self.writer().await?;
        let saved = self.secure_delete_on(&mut conn).await?;
        let registered = self.answer_in(&mut conn, challenge.id, &new, &name).await;
        self.secure_delete_restore(&mut conn, saved).await?;
        let id = registered?;
        drop(conn);
        tracing::info!(cameo_id = id.0, name = name.as_str(), "cameo registered");
        self.info_of_id(id).await
    }

    /// Deletes every registration challenge of `person` (an erasure
    /// request: they hold the person's id and the names they asked for).
    pub(super) async fn forget_challenges(&self, person: &Person) -> Result<(), RegistryError> {
        sqlx::query("DELETE FROM cameo_challenges WHERE owner_platform = $1 AND owner_user = $2")
            .bind(&person.platform)
            .bind(&person.user_id)
            .execute(self.store.write_pool())
            .await?;
        Ok(())
    }

    /// Spends the challenge and records the cameo, in one transaction.
    async fn answer_in(
        &self,
        conn: &mut AnyConnection,
        challenge_id: i64,
        new: &NewCameo,
        name: &CameoName,
    ) -> Result<CameoId, RegistryError> {
        let mut tx = self.begin(conn).await?;
        let at = self.now();
        // Only an open challenge is spent: of two answers racing, the
        // second finds it used (or void, if a new one was asked for).
        let spent = sqlx::query(
            "UPDATE cameo_challenges SET status = 'used', used_at = $2 \
             WHERE id = $1 AND status = 'open'",
        )
        .bind(challenge_id)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if spent == 0 {
            let status: String = sqlx::query("SELECT status FROM cameo_challenges WHERE id = $1")
                .bind(challenge_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("status")?;
            return Err(if status == "used" {
                RegistryError::ChallengeUsed
            } else {
                RegistryError::NoChallenge
            });
        }
        let id = self.insert_cameo(&mut tx, new, name, at).await?;
        tx.commit().await?;
        Ok(id)
    }
}

/// The person's latest challenge that was not replaced (open or used).
async fn latest_challenge(
    conn: &mut AnyConnection,
    owner: &Person,
) -> Result<Option<ChallengeRow>, RegistryError> {
    let row = sqlx::query(
        "SELECT id, name, phrase, nonce, consent_text_version, status, expires_at \
         FROM cameo_challenges WHERE owner_platform = $1 AND owner_user = $2 \
         AND status <> 'void' ORDER BY id DESC LIMIT 1",
    )
    .bind(&owner.platform)
    .bind(&owner.user_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(ChallengeRow::from_row).transpose()
}

/// [`PHRASE_WORDS`] distinct words from [`CHALLENGE_WORDS`], chosen by the
/// operating system's CSPRNG.
fn new_phrase() -> String {
    CHALLENGE_WORDS
        .choose_multiple(&mut OsRng, PHRASE_WORDS)
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// 128 random bits, hex.
fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn phrases_are_distinct_words_from_the_list() {
        let list: BTreeSet<&str> = CHALLENGE_WORDS.iter().copied().collect();
        assert_eq!(list.len(), CHALLENGE_WORDS.len(), "the list has repeats");
        let phrases: BTreeSet<String> = (0..50).map(|_| new_phrase()).collect();
        assert!(phrases.len() > 45, "phrases repeat: {phrases:?}");
        for phrase in &phrases {
            let words: BTreeSet<&str> = phrase.split(' ').collect();
            assert_eq!(words.len(), PHRASE_WORDS, "{phrase}");
            assert!(words.is_subset(&list), "{phrase}");
        }
        assert_eq!(new_nonce().len(), 32);
        assert_ne!(new_nonce(), new_nonce());
    }
}
