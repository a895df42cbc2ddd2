//! Registration's entry points. Interim: the registry's
//! `start_registration` / `finish_registration` (branch `enroll`) are not
//! on main yet, so registration is refused with a plain reason; the
//! implementation against them replaces this file once they are.

use std::path::Path;

use reel_consent::Person;

use super::{Answer, Cameos};
use crate::core::reply::Reply;
use crate::core::service::{CommandCore, Requester};
use crate::core::wording::cameo as words;

impl CommandCore {
    pub(super) async fn register(
        &self,
        _cameos: &Cameos,
        _from: &Requester,
        _owner: &Person,
        _name: &str,
    ) -> Answer {
        Ok(Reply::refused(words::REGISTRATION_UNAVAILABLE))
    }

    /// A recording that answers the sender's challenge, downloaded by the
    /// adapter into a private temporary file at `path`.
    pub async fn submit_recording(
        &self,
        _from: &Requester,
        _message_id: &str,
        _forwarded: bool,
        _path: &Path,
    ) -> Reply {
        match &self.cameos {
            Some(_) => Reply::refused(words::REGISTRATION_UNAVAILABLE),
            None => Reply::refused(words::NOT_ENABLED),
        }
    }

    pub(super) async fn submit(
        &self,
        _cameos: &Cameos,
        _owner: &Person,
        _message_id: &str,
        _forwarded: bool,
        _path: &Path,
    ) -> Answer {
        Ok(Reply::refused(words::REGISTRATION_UNAVAILABLE))
    }
}
