//! A photo (or an image file) with a `/video` caption: the picture starts
//! the clip. The largest size Telegram made under the core's limit is
//! chosen from the declared sizes, checked by the core before `getFile`,
//! checked again against what `getFile` says, and downloaded into memory
//! capped at the limit; the core checks the rest.

use teloxide::prelude::*;

use super::download::{fetch_into, FetchError};
use super::handlers::{remember_status_message, reply, requester, send_reply, HandlerResult};
use super::identity::{self, Sender};
use super::route::Picture;
use super::TgBot;
use crate::core::{parse, wording, Command, CommandCore, PictureOffer};

pub async fn on_picture(
    bot: &TgBot,
    msg: &Message,
    core: &CommandCore,
    text: &str,
    picture: Picture,
) -> HandlerResult {
    let user_id = match identity::sender(msg) {
        None => return Ok(()),
        Some(Sender::Shared) => {
            reply(bot, msg, wording::SHARED_ACCOUNT).await?;
            return Ok(());
        }
        Some(sender) => sender.user_id().unwrap_or_default(),
    };
    let request = match parse(text, false) {
        Ok(Command::Video(request)) => request,
        Ok(_) => return Ok(()),
        Err(usage) => {
            reply(bot, msg, &usage.0).await?;
            return Ok(());
        }
    };
    let limit = core.max_upload_bytes();
    // The largest size under the limit, else the smallest (refused below).
    let chosen = picture
        .sizes
        .iter()
        .rev()
        .find(|(_, bytes)| *bytes <= limit)
        .or(picture.sizes.first());
    let Some((file_id, declared)) = chosen else {
        return Ok(());
    };
    let offer = PictureOffer {
        declared_bytes: Some(*declared),
        declared_type: picture.mime.as_deref(),
    };
    if let Err(refusal) = core.picture_offer(&offer) {
        reply(bot, msg, &refusal).await?;
        return Ok(());
    }
    let bytes = match fetch(bot, file_id, limit).await {
        Ok(bytes) => bytes,
        Err(FetchError::TooLarge(bytes)) => {
            reply(bot, msg, &wording::picture::too_large(bytes, limit)).await?;
            return Ok(());
        }
        Err(error) => {
            tracing::warn!(%error, "could not download a /video picture");
            reply(bot, msg, wording::picture::DOWNLOAD_FAILED).await?;
            return Ok(());
        }
    };
    let key = format!("msg:{}:{}", msg.chat.id.0, msg.id.0);
    let from = requester(user_id, &msg.chat, key);
    let answer = core.video_with_picture(&from, &request, &bytes).await;
    let sent = send_reply(bot, msg.chat.id, Some(msg.id), &answer).await?;
    remember_status_message(core, &answer, sent).await
}

/// File `file_id`'s bytes, at most `limit` of them.
async fn fetch(bot: &TgBot, file_id: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
    let mut bytes = Vec::new();
    fetch_into(bot, file_id, limit, &mut bytes).await?;
    Ok(bytes)
}
