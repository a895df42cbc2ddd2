//! A file a user sent, downloaded from Telegram with a hard cap: refused
//! when `getFile` declares more than `limit` bytes, and stopped as soon as
//! the stream passes `limit`, whatever Telegram declared.

use futures::StreamExt;
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::FileId;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::TgBot;

/// Why a file could not be fetched from Telegram.
#[derive(Debug, thiserror::Error)]
pub(super) enum FetchError {
    #[error("{0} bytes, over the limit")]
    TooLarge(u64),
    #[error("telegram: {0}")]
    Telegram(#[from] teloxide::RequestError),
    #[error("download: {0}")]
    Download(String),
    #[error("writing the download: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes file `file_id` into `out`, at most `limit` bytes.
pub(super) async fn fetch_into(
    bot: &TgBot,
    file_id: &str,
    limit: u64,
    out: &mut (impl AsyncWrite + Unpin),
) -> Result<(), FetchError> {
    let file = bot.get_file(FileId(file_id.to_string())).await?;
    if u64::from(file.size) > limit {
        return Err(FetchError::TooLarge(u64::from(file.size)));
    }
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
    Ok(())
}
