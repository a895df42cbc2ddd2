//! What an owner reads and changes. Only the owner may; every change is
//! an event in the same transaction.

use serde_json::json;
use sqlx::{Any, Transaction};

use super::{append, find_by_owner, grants_of, CameoRegistry};
use crate::chain::EventKind;
use crate::error::RegistryError;
use crate::model::{ApprovalMode, Audience, CameoId, CameoInfo, Person, Status};
use crate::restrict;

impl CameoRegistry {
    /// The owner's cameo `name` (not erased). Anyone else gets `NotOwner`.
    pub async fn cameo(&self, actor: &Person, name: &str) -> Result<CameoInfo, RegistryError> {
        let mut conn = self.store.read_pool().acquire().await?;
        let all = [Status::Pending, Status::Active, Status::Withdrawn];
        let cameo = self.owned(&mut conn, actor, name, &all).await?;
        let grants = grants_of(&mut conn, cameo.id).await?;
        Ok(cameo.info(grants))
    }

    /// Every cameo `owner` holds (not erased), oldest first: `/cameo status`.
    pub async fn cameos_of(&self, owner: &Person) -> Result<Vec<CameoInfo>, RegistryError> {
        let mut conn = self.store.read_pool().acquire().await?;
        let mut out = Vec::new();
        for cameo in find_by_owner(&mut conn, owner).await? {
            if cameo.status != Status::Erased {
                let grants = grants_of(&mut conn, cameo.id).await?;
                out.push(cameo.info(grants));
            }
        }
        Ok(out)
    }

    pub async fn set_audience(
        &self,
        actor: &Person,
        name: &str,
        audience: Audience,
    ) -> Result<(), RegistryError> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin(&mut conn).await?;
        let cameo = self.owned(&mut tx, actor, name, &[Status::Active]).await?;
        if cameo.audience == audience {
            return Ok(());
        }
        let event = json!({ "from": cameo.audience, "to": audience });
        let event = (EventKind::AudienceChanged, event);
        self.save_setting(tx, cameo.id, actor, "audience", audience.as_str(), event)
            .await
    }

    /// Approves `user` (used when the audience is `approved`). Approving
    /// someone already approved changes nothing.
    pub async fn allow(
        &self,
        actor: &Person,
        name: &str,
        user: &Person,
    ) -> Result<(), RegistryError> {
        self.change_grant(actor, name, user, true).await
    }

    /// Takes `user`'s approval back. Denying someone not approved changes
    /// nothing.
    pub async fn deny(
        &self,
        actor: &Person,
        name: &str,
        user: &Person,
    ) -> Result<(), RegistryError> {
        self.change_grant(actor, name, user, false).await
    }

    async fn change_grant(
        &self,
        actor: &Person,
        name: &str,
        user: &Person,
        allow: bool,
    ) -> Result<(), RegistryError> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin(&mut conn).await?;
        let cameo = self.owned(&mut tx, actor, name, &[Status::Active]).await?;
        let at = self.now();
        let changed = if allow {
            // Written so a repeat finds its row instead of failing.
            sqlx::query(
                "INSERT INTO cameo_grants (cameo_id, platform, user_id, granted_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (cameo_id, platform, user_id) DO NOTHING",
            )
            .bind(cameo.id.0)
            .bind(&user.platform)
            .bind(&user.user_id)
            .bind(at)
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query(
                "DELETE FROM cameo_grants WHERE cameo_id = $1 AND platform = $2 AND user_id = $3",
            )
            .bind(cameo.id.0)
            .bind(&user.platform)
            .bind(&user.user_id)
            .execute(&mut *tx)
            .await?
        };
        if changed.rows_affected() == 0 {
            return Ok(());
        }
        let kind = if allow {
            EventKind::GrantAdded
        } else {
            EventKind::GrantRemoved
        };
        let payload = json!({ "user": user });
        append(&mut tx, cameo.id, kind, &actor.actor(), payload, at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the owner's restrictions (words and phrases no clip with
    /// the cameo may ask for); an empty list clears them. The built-in
    /// list applies whatever this holds. Returns the list as stored.
    pub async fn set_restrictions(
        &self,
        actor: &Person,
        name: &str,
        phrases: &[String],
    ) -> Result<Vec<String>, RegistryError> {
        let phrases = restrict::normalise(phrases)?;
        let mut conn = self.writer().await?;
        let mut tx = self.begin(&mut conn).await?;
        let cameo = self.owned(&mut tx, actor, name, &[Status::Active]).await?;
        if cameo.restrictions == phrases {
            return Ok(phrases);
        }
        let stored = serde_json::to_string(&phrases)
            .map_err(|e| RegistryError::Corrupt(format!("restrictions: {e}")))?;
        let event = (
            EventKind::RestrictionsChanged,
            json!({ "restrictions": phrases }),
        );
        self.save_setting(tx, cameo.id, actor, "restrictions", &stored, event)
            .await?;
        Ok(phrases)
    }

    pub async fn set_approval(
        &self,
        actor: &Person,
        name: &str,
        mode: ApprovalMode,
    ) -> Result<(), RegistryError> {
        let mut conn = self.writer().await?;
        let mut tx = self.begin(&mut conn).await?;
        let cameo = self.owned(&mut tx, actor, name, &[Status::Active]).await?;
        if cameo.approval == mode {
            return Ok(());
        }
        let event = json!({ "from": cameo.approval, "to": mode });
        let event = (EventKind::ApprovalModeChanged, event);
        self.save_setting(tx, cameo.id, actor, "approval", mode.as_str(), event)
            .await
    }

    /// Stores one owner setting and its event, then commits. `column` is
    /// one of ours, never user input.
    async fn save_setting(
        &self,
        mut tx: Transaction<'_, Any>,
        cameo_id: CameoId,
        actor: &Person,
        column: &'static str,
        value: &str,
        (kind, payload): (EventKind, serde_json::Value),
    ) -> Result<(), RegistryError> {
        let at = self.now();
        let update = format!("UPDATE cameos SET {column} = $2, updated_at = $3 WHERE id = $1");
        sqlx::query(&update)
            .bind(cameo_id.0)
            .bind(value)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        append(&mut tx, cameo_id, kind, &actor.actor(), payload, at).await?;
        tx.commit().await?;
        Ok(())
    }
}
