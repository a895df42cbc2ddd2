//! The registry as the [`ConsentGate`] every checkpoint asks.
//!
//! A requester who may not use a cameo learns only that it is unavailable:
//! the same words whether it does not exist, was withdrawn or erased, or
//! its audience leaves them out, so nobody can probe who registered what
//! or whom the owner approved. The owner is told their own cameo's state.
//! Restrictions are checked only once use is permitted (so they stay
//! private to those who may use the cameo), and the reason names the
//! requester's own word that hit.

use async_trait::async_trait;

use super::CameoRegistry;
use crate::error::RegistryError;
use crate::model::{CameoName, Person, Status};
use crate::restrict::{self, BUILT_IN};
use crate::{ConsentDecision, ConsentError, ConsentGate, ConsentRequest, MAX_CAMEOS_PER_CLIP};

#[async_trait]
impl ConsentGate for CameoRegistry {
    async fn check(&self, request: &ConsentRequest<'_>) -> Result<ConsentDecision, ConsentError> {
        if request.cameo_ids.len() > MAX_CAMEOS_PER_CLIP {
            return Ok(ConsentDecision::Refused(format!(
                "at most {MAX_CAMEOS_PER_CLIP} cameos may appear in one clip"
            )));
        }
        let requester = Person::new(request.platform, request.user_id);
        let prompt = restrict::words(request.prompt);
        for name in request.cameo_ids {
            let decision = self
                .check_one(&requester, name, &prompt)
                .await
                .map_err(|e| ConsentError::Unavailable(e.to_string()))?;
            if let ConsentDecision::Refused(reason) = decision {
                tracing::info!(checkpoint = ?request.checkpoint, "cameo use refused");
                return Ok(ConsentDecision::Refused(reason));
            }
        }
        Ok(ConsentDecision::Allowed)
    }
}

impl CameoRegistry {
    async fn check_one(
        &self,
        requester: &Person,
        name: &str,
        prompt: &[String],
    ) -> Result<ConsentDecision, RegistryError> {
        let Ok(name) = CameoName::parse(name) else {
            return Ok(unavailable(&name.chars().take(20).collect::<String>()));
        };
        let mut conn = self.store.read_pool().acquire().await?;
        let Some(cameo) = super::find_by_name(&mut conn, &name).await? else {
            return Ok(unavailable(name.as_str()));
        };
        let is_owner = cameo.owner == *requester;
        match cameo.status {
            Status::Active => {}
            Status::Withdrawn if is_owner => {
                return Ok(refused(format!(
                    "you withdrew your consent for cameo `{name}`, so it can't be used; register again to use your likeness"
                )))
            }
            Status::Pending if is_owner => {
                return Ok(refused(format!("your cameo `{name}` is not registered yet")))
            }
            _ => return Ok(unavailable(name.as_str())),
        }
        if !is_owner && !self.permitted(&mut conn, requester, cameo.id.0).await? {
            return Ok(unavailable(name.as_str()));
        }
        if let Some(word) = restrict::first_hit(prompt, BUILT_IN) {
            return Ok(refused(format!(
                "cameos can't appear in sexual or violent clips, and the prompt says “{word}”"
            )));
        }
        if let Some(phrase) = restrict::first_hit(prompt, &cameo.restrictions) {
            return Ok(refused(if is_owner {
                format!("your restrictions on cameo `{name}` rule out “{phrase}”")
            } else {
                format!("the owner of cameo `{name}` doesn't allow “{phrase}” in clips with them")
            }));
        }
        Ok(ConsentDecision::Allowed)
    }
}

fn refused(reason: String) -> ConsentDecision {
    ConsentDecision::Refused(reason)
}

/// The one refusal a requester without permission gets.
fn unavailable(name: &str) -> ConsentDecision {
    refused(format!(
        "cameo `{name}` is unavailable: it doesn't exist or its owner hasn't allowed you to use it"
    ))
}
