//! A video note or video sent in a private chat: the recording that
//! answers a `/cameo register` challenge. Its size is checked against the
//! core's limit before anything is downloaded; the download goes into a
//! private temporary directory that is removed once the core is done.

use std::path::PathBuf;

use teloxide::prelude::*;

use super::download::{fetch_into, FetchError};
use super::handlers::{reply, requester, send_reply, HandlerResult};
use super::identity::{self, Sender};
use super::route::Recording;
use super::TgBot;
use crate::core::{wording, CommandCore};

pub async fn on_recording(
    bot: &TgBot,
    msg: &Message,
    core: &CommandCore,
    recording: Recording,
) -> HandlerResult {
    let user_id = match identity::sender(msg) {
        None => return Ok(()),
        Some(Sender::Shared) => {
            reply(bot, msg, wording::SHARED_ACCOUNT).await?;
            return Ok(());
        }
        Some(sender) => sender.user_id().unwrap_or_default(),
    };
    let limit = core.max_upload_bytes();
    if recording.bytes > limit {
        let text = wording::cameo::recording_too_large(recording.bytes, limit);
        reply(bot, msg, &text).await?;
        return Ok(());
    }
    let key = format!("msg:{}:{}", msg.chat.id.0, msg.id.0);
    let from = requester(user_id, &msg.chat, key);
    let message_id = format!("telegram:{}:{}", msg.chat.id.0, msg.id.0);
    let answer = match fetch(bot, &recording.file_id, limit).await {
        // `_dir` (and the recording in it) goes when this arm ends.
        Ok((_dir, path)) => {
            core.submit_recording(&from, &message_id, recording.forwarded, &path)
                .await
        }
        Err(FetchError::TooLarge(bytes)) => {
            reply(bot, msg, &wording::cameo::recording_too_large(bytes, limit)).await?;
            return Ok(());
        }
        Err(error) => {
            tracing::warn!(%error, "could not download a registration recording");
            reply(bot, msg, wording::cameo::DOWNLOAD_FAILED).await?;
            return Ok(());
        }
    };
    send_reply(bot, msg.chat.id, Some(msg.id), &answer).await?;
    Ok(())
}

/// Downloads file `file_id` into a new private directory, at most `limit` bytes.
async fn fetch(
    bot: &TgBot,
    file_id: &str,
    limit: u64,
) -> Result<(tempfile::TempDir, PathBuf), FetchError> {
    // Created readable by this user only.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("recording");
    let mut out = tokio::fs::File::create(&path).await?;
    fetch_into(bot, file_id, limit, &mut out).await?;
    Ok((dir, path))
}
