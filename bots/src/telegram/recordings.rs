//! A video note or video sent in a private chat: the recording that
//! answers a `/cameo register` challenge. Its size is checked against the
//! core's limit before anything is downloaded; the download goes into a
//! private temporary directory that is removed once the core is done.

use std::path::PathBuf;

use futures::StreamExt;
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::FileId;
use tokio::io::AsyncWriteExt;

use super::handlers::{reply, requester, send_reply, HandlerResult};
use super::identity::{self, Sender};
use super::route::Recording;
use super::TgBot;
use crate::core::{wording, CommandCore};

/// Why a recording could not be fetched from Telegram.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0} bytes, over the limit")]
    TooLarge(u64),
    #[error("telegram: {0}")]
    Telegram(#[from] teloxide::RequestError),
    #[error("download: {0}")]
    Download(String),
    #[error("temporary file: {0}")]
    Io(#[from] std::io::Error),
}

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

/// Downloads file `file_id` into a new private directory, stopping at
/// `limit` bytes whatever Telegram said the size was.
async fn fetch(
    bot: &TgBot,
    file_id: &str,
    limit: u64,
) -> Result<(tempfile::TempDir, PathBuf), FetchError> {
    let file = bot.get_file(FileId(file_id.to_string())).await?;
    if u64::from(file.size) > limit {
        return Err(FetchError::TooLarge(u64::from(file.size)));
    }
    // Created readable by this user only.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("recording");
    let mut out = tokio::fs::File::create(&path).await?;
    let mut stream = bot.download_file_stream(&file.path);
    let mut written: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| FetchError::Download(e.to_string()))?;
        written += chunk.len() as u64;
        if written > limit {
            return Err(FetchError::TooLarge(written));
        }
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok((dir, path))
}
