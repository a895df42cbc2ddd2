//! Registration: `/cameo register NAME` hands out the consent text and a
//! one-time phrase; the person's recording of themselves reading it
//! (`/cameo submit PATH` here, a video note or an attachment through the
//! adapters) finishes it.

use std::path::Path;

use reel_consent::{Person, Submission};

use super::{cameo_answered, Answer, Cameos, Failure};
use crate::core::reply::Reply;
use crate::core::service::{CommandCore, Requester};
use crate::core::wording::cameo as words;

impl CommandCore {
    pub(super) async fn register(
        &self,
        cameos: &Cameos,
        from: &Requester,
        owner: &Person,
        name: &str,
    ) -> Answer {
        let challenge = cameos.registry.start_registration(owner, name).await?;
        let now = self.store().now_ms();
        Ok(Reply::info(words::challenge(
            &challenge,
            &from.platform,
            now,
        )))
    }

    /// A recording that answers the sender's challenge, downloaded by the
    /// adapter into a private temporary file at `path`. `message_id`: the
    /// platform's id of the message or interaction that carried it;
    /// `forwarded`: the platform marked it as not recorded by the sender.
    pub async fn submit_recording(
        &self,
        from: &Requester,
        message_id: &str,
        forwarded: bool,
        path: &Path,
    ) -> Reply {
        let Some(cameos) = &self.cameos else {
            return Reply::refused(words::NOT_ENABLED);
        };
        let owner = Person::new(&from.platform, &from.user_id);
        let answer = self
            .submit(cameos, &owner, message_id, forwarded, path)
            .await;
        cameo_answered(from, answer)
    }

    pub(super) async fn submit(
        &self,
        cameos: &Cameos,
        owner: &Person,
        message_id: &str,
        forwarded: bool,
        path: &Path,
    ) -> Answer {
        let size = match tokio::fs::metadata(path).await {
            Ok(meta) if meta.is_file() => meta.len(),
            _ => return Err(Failure::Usage(words::CANNOT_READ_RECORDING.into())),
        };
        if size > self.max_upload_bytes {
            let text = words::recording_too_large(size, self.max_upload_bytes);
            return Err(Failure::Usage(text));
        }
        let submission = Submission {
            owner: owner.clone(),
            message_id: message_id.into(),
            forwarded,
            path: path.to_path_buf(),
        };
        let cameo = cameos
            .registry
            .finish_registration(&submission, cameos.verifier.as_ref())
            .await?;
        tracing::info!(cameo_id = cameo.id.0, "cameo registered from chat");
        Ok(Reply::info(words::registered(&cameo)))
    }
}
