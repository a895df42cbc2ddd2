//! What an owner reads and changes about their cameos.

use reel_consent::{ApprovalMode, Audience, Person, Status};

use super::parse::user_id;
use super::{Answer, Cameos};
use crate::core::reply::Reply;
use crate::core::wording::cameo as words;

/// Cameos whose settings can be changed.
const CHANGEABLE: &[Status] = &[Status::Active];
/// Cameos that can still be withdrawn.
const WITHDRAWABLE: &[Status] = &[Status::Active, Status::Pending];
/// Cameos that exist (not erased).
pub(super) const HELD: &[Status] = &[Status::Active, Status::Pending, Status::Withdrawn];

impl Cameos {
    /// `/cameo status [NAME]`: the named cameo, or all of the owner's.
    pub(super) async fn status(&self, owner: &Person, named: Option<String>) -> Answer {
        let cameos = match named {
            Some(name) => vec![self.registry.cameo(owner, &name).await?],
            None => self.registry.cameos_of(owner).await?,
        };
        if cameos.is_empty() {
            return Ok(Reply::info(words::NO_CAMEO));
        }
        let lines: Vec<String> = cameos.iter().map(words::status).collect();
        Ok(Reply::info(lines.join("\n\n")))
    }

    pub(super) async fn set_audience(
        &self,
        owner: &Person,
        named: Option<String>,
        audience: Audience,
    ) -> Answer {
        let name = self.which(owner, named, CHANGEABLE).await?;
        self.registry.set_audience(owner, &name, audience).await?;
        Ok(Reply::info(words::audience_set(&name, audience)))
    }

    /// `/cameo allow` (`allow`) and `/cameo deny`: `typed` names a user of
    /// the owner's platform.
    pub(super) async fn grant(
        &self,
        owner: &Person,
        named: Option<String>,
        typed: &str,
        allow: bool,
    ) -> Answer {
        let user = Person::new(&owner.platform, user_id(&owner.platform, typed)?);
        let name = self.which(owner, named, CHANGEABLE).await?;
        if allow {
            self.registry.allow(owner, &name, &user).await?;
        } else {
            self.registry.deny(owner, &name, &user).await?;
        }
        let cameo = self.registry.cameo(owner, &name).await?;
        Ok(Reply::info(match allow {
            true => words::allowed(&cameo, &user.user_id),
            false => words::denied(&cameo, &user.user_id),
        }))
    }

    pub(super) async fn restrict(
        &self,
        owner: &Person,
        named: Option<String>,
        phrases: &[String],
    ) -> Answer {
        let name = self.which(owner, named, CHANGEABLE).await?;
        let stored = self
            .registry
            .set_restrictions(owner, &name, phrases)
            .await?;
        Ok(Reply::info(words::restricted(&name, &stored)))
    }

    pub(super) async fn set_approval(
        &self,
        owner: &Person,
        named: Option<String>,
        mode: ApprovalMode,
    ) -> Answer {
        let name = self.which(owner, named, CHANGEABLE).await?;
        self.registry.set_approval(owner, &name, mode).await?;
        Ok(Reply::info(words::approval_set(&name, mode)))
    }

    /// One step: from now on nobody may use the cameo; jobs already queued
    /// are stopped by the gate at their next check.
    pub(super) async fn withdraw(&self, owner: &Person, named: Option<String>) -> Answer {
        let name = self.which(owner, named, WITHDRAWABLE).await?;
        self.registry.withdraw(owner, &name).await?;
        Ok(Reply::info(words::withdrawn(&name)))
    }

    /// Withdraws and destroys the cameo's media and key.
    pub(super) async fn erase(&self, owner: &Person, named: Option<String>) -> Answer {
        let name = self.which(owner, named, HELD).await?;
        self.registry.erase(owner, &name).await?;
        Ok(Reply::info(words::erased(&name)))
    }
}
