//! `/cameo`: a person registers their likeness and stays in control of
//! it. The registry (`reel_consent`) decides and records; this words its
//! answers and picks which of the owner's cameos a command means. Only
//! present where the operator configured a master key
//! ([`CommandCore::with_cameos`]); otherwise every `/cameo` is refused.

use std::sync::Arc;

use reel_consent::{CameoRegistry, Person, RecordingVerifier, RegistryError, Status};
use reel_store::StoreError;

use super::command::UsageError;
use super::reply::Reply;
use super::service::{CommandCore, Requester};
use super::wording::{self, cameo as words};

mod answer;
mod clips;
mod owner;
mod parse;
mod register;

pub use clips::CLIPS_LISTED;
pub use parse::CameoCommand;
pub(crate) use parse::{approval, audience, parse, restrictions};

/// The most a registration recording may weigh unless configured.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

/// What cameo commands need.
#[derive(Clone)]
pub(super) struct Cameos {
    registry: CameoRegistry,
    verifier: Arc<dyn RecordingVerifier>,
}

/// Why a cameo command did not succeed.
enum Failure {
    /// Worded for the user; nothing changed.
    Usage(String),
    Registry(RegistryError),
    Store(StoreError),
}

impl From<RegistryError> for Failure {
    fn from(error: RegistryError) -> Self {
        Self::Registry(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<UsageError> for Failure {
    fn from(UsageError(text): UsageError) -> Self {
        Self::Usage(text)
    }
}

type Answer = Result<Reply, Failure>;

impl CommandCore {
    /// Enables `/cameo`: `registry` records, `verifier` checks registration
    /// recordings. The consent gate the core was built with is unchanged.
    pub fn with_cameos(
        mut self,
        registry: CameoRegistry,
        verifier: Arc<dyn RecordingVerifier>,
    ) -> Self {
        self.cameos = Some(Cameos { registry, verifier });
        self
    }

    /// The most a recording sent for registration may weigh; adapters
    /// check a file's size against it before downloading it.
    pub fn with_max_upload_bytes(mut self, bytes: u64) -> Self {
        self.max_upload_bytes = bytes;
        self
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }

    /// Whether `/cameo` commands are enabled (a master key is configured).
    pub fn cameos_enabled(&self) -> bool {
        self.cameos.is_some()
    }

    /// Runs one `/cameo` command for its sender.
    pub async fn cameo(&self, from: &Requester, command: CameoCommand) -> Reply {
        let Some(cameos) = &self.cameos else {
            return Reply::refused(words::NOT_ENABLED);
        };
        let owner = Person::new(&from.platform, &from.user_id);
        let answer = match command {
            CameoCommand::Help => Ok(Reply::info(words::help())),
            CameoCommand::Register { name } => self.register(cameos, from, &owner, &name).await,
            // A path names a file on this machine: only its own terminal
            // may. Chat users send the recording itself.
            CameoCommand::Submit { .. } if from.platform != crate::terminal::PLATFORM => {
                Ok(Reply::refused(words::how_to_answer(&from.platform)))
            }
            CameoCommand::Submit { path } => {
                // The terminal has no message ids: the time stands in.
                let message_id = format!("terminal:{}", self.store().now_ms());
                self.submit(cameos, &owner, &message_id, false, &path).await
            }
            CameoCommand::Status { name } => cameos.status(&owner, name).await,
            CameoCommand::Audience { name, audience } => {
                cameos.set_audience(&owner, name, audience).await
            }
            CameoCommand::Allow { name, user } => cameos.grant(&owner, name, &user, true).await,
            CameoCommand::Deny { name, user } => cameos.grant(&owner, name, &user, false).await,
            CameoCommand::Restrict { name, phrases } => {
                cameos.restrict(&owner, name, &phrases).await
            }
            CameoCommand::Approval { name, mode } => cameos.set_approval(&owner, name, mode).await,
            CameoCommand::Clips { name } => self.cameo_clips(cameos, &owner, name).await,
            CameoCommand::Withdraw { name } => cameos.withdraw(&owner, name).await,
            CameoCommand::Erase { name } => cameos.erase(&owner, name).await,
            CameoCommand::Answer { job_id, approve } => {
                self.answer_approval(cameos, &owner, job_id, approve).await
            }
        };
        cameo_answered(from, answer)
    }
}

impl CommandCore {
    /// Autocomplete: the active cameos `from` may use whose names start
    /// with `prefix` (at most `reel_consent::MAX_SUGGESTIONS`). Empty
    /// where cameos are off or the registry cannot be read.
    pub async fn cameo_suggestions(&self, from: &Requester, prefix: &str) -> Vec<String> {
        let Some(cameos) = &self.cameos else {
            return Vec::new();
        };
        let person = Person::new(&from.platform, &from.user_id);
        match cameos.registry.usable_by(&person, prefix).await {
            Ok(names) => names,
            Err(error) => {
                tracing::warn!(%error, "cameo suggestions failed");
                Vec::new()
            }
        }
    }
}

impl Cameos {
    /// The owner's cameo a command means: `named`, or their only cameo in
    /// one of `states`.
    async fn which(
        &self,
        owner: &Person,
        named: Option<String>,
        states: &[Status],
    ) -> Result<String, Failure> {
        if let Some(name) = named {
            return Ok(name);
        }
        let mine: Vec<String> = self
            .registry
            .cameos_of(owner)
            .await?
            .into_iter()
            .filter(|c| states.contains(&c.status))
            .map(|c| c.name)
            .collect();
        match mine.as_slice() {
            [] => Err(Failure::Usage(words::NO_CAMEO.into())),
            [one] => Ok(one.clone()),
            several => Err(Failure::Usage(words::which_cameo(several))),
        }
    }
}

/// A cameo command's answer. The registry's refusals are worded for the
/// user; a failure they cannot fix is logged and told as "nothing was
/// changed".
fn cameo_answered(from: &Requester, answer: Answer) -> Reply {
    let error = match answer {
        Ok(reply) => return reply,
        Err(Failure::Usage(text)) => return Reply::refused(text),
        Err(Failure::Registry(error)) => match words::registry_error(&error) {
            Some(text) => return Reply::refused(text),
            None => error.to_string(),
        },
        Err(Failure::Store(error)) => error.to_string(),
    };
    tracing::error!(%error, platform = %from.platform, "cameo command failed");
    Reply::refused(wording::INTERNAL_ERROR)
}
