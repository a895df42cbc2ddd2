//! `/cameo submit` with a recording attached, and the `cameo` option's
//! autocomplete. The attachment's size (as Discord reports it) is checked
//! against the core's limit before anything is downloaded; the download is
//! capped at that limit too, goes into a private temporary directory, and
//! is removed once the core is done with it.

use std::path::PathBuf;

use serenity::all::{
    CommandInteraction, Context, CreateAutocompleteResponse, CreateInteractionResponse,
    CreateInteractionResponseMessage, EditInteractionResponse,
};
use serenity::model::channel::Attachment;
use tokio::io::AsyncWriteExt;

use super::handlers::clip_text;
use super::{Deps, DiscordError};
use crate::core::{wording, Requester};

/// Why an attachment could not be fetched.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0} bytes, over the limit")]
    TooLarge(u64),
    #[error("download: {0}")]
    Http(#[from] reqwest::Error),
    #[error("temporary file: {0}")]
    Io(#[from] std::io::Error),
}

/// `/cameo submit`: `attachment` is the recording (`None`: none was sent).
pub async fn on_submit(
    ctx: &Context,
    deps: &Deps,
    cmd: &CommandInteraction,
    from: &Requester,
    attachment: Option<&Attachment>,
) -> Result<(), DiscordError> {
    let limit = deps.core.max_upload_bytes();
    let refusal = match attachment {
        None => Some(wording::cameo::ATTACH_RECORDING.to_string()),
        Some(file) if u64::from(file.size) > limit => Some(wording::cameo::recording_too_large(
            u64::from(file.size),
            limit,
        )),
        Some(_) => None,
    };
    let Some(attachment) = attachment.filter(|_| refusal.is_none()) else {
        let refuse = CreateInteractionResponseMessage::new()
            .content(clip_text(&refusal.unwrap_or_default()))
            .ephemeral(true);
        cmd.create_response(&ctx.http, CreateInteractionResponse::Message(refuse))
            .await?;
        return Ok(());
    };
    let defer = CreateInteractionResponseMessage::new().ephemeral(true);
    cmd.create_response(&ctx.http, CreateInteractionResponse::Defer(defer))
        .await?;
    let text = match fetch(&attachment.url, limit).await {
        // `_dir` (and the recording in it) goes when this arm ends.
        Ok((_dir, path)) => {
            let message_id = format!("discord:{}", cmd.id.get());
            let answer = deps
                .core
                .submit_recording(from, &message_id, false, &path)
                .await;
            answer.text().to_string()
        }
        Err(FetchError::TooLarge(bytes)) => wording::cameo::recording_too_large(bytes, limit),
        Err(error) => {
            tracing::warn!(%error, "could not download a registration recording");
            wording::cameo::DOWNLOAD_FAILED.to_string()
        }
    };
    let edit = EditInteractionResponse::new().content(clip_text(&text));
    cmd.edit_response(&ctx.http, edit).await?;
    Ok(())
}

/// Downloads `url` into a new private directory, stopping past `limit`.
async fn fetch(url: &str, limit: u64) -> Result<(tempfile::TempDir, PathBuf), FetchError> {
    let mut response = reqwest::get(url).await?.error_for_status()?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("recording");
    let mut out = tokio::fs::File::create(&path).await?;
    let mut written: u64 = 0;
    while let Some(chunk) = response.chunk().await? {
        written += chunk.len() as u64;
        if written > limit {
            return Err(FetchError::TooLarge(written));
        }
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok((dir, path))
}

/// Autocomplete of `/video`'s `cameo` option: the cameos the user may use.
pub async fn on_autocomplete(
    ctx: &Context,
    deps: &Deps,
    ac: &CommandInteraction,
    from: &Requester,
) -> Result<(), DiscordError> {
    let Some(focused) = ac.data.autocomplete() else {
        return Ok(());
    };
    let names = match focused.name {
        "cameo" => deps.core.cameo_suggestions(from, focused.value).await,
        _ => Vec::new(),
    };
    let choices = names
        .into_iter()
        .fold(CreateAutocompleteResponse::new(), |r, name| {
            r.add_string_choice(name.clone(), name)
        });
    ac.create_response(&ctx.http, CreateInteractionResponse::Autocomplete(choices))
        .await?;
    Ok(())
}
