//! Update handlers: each turns a Telegram update into a command-core call
//! and the core's reply back into Telegram calls. No product logic here.

use teloxide::prelude::*;
use teloxide::requests::Requester as _;
use teloxide::types::{Me, MessageId, ReplyParameters};

use super::handle::{Receipt, ReplyHandle};
use super::identity::{self, Sender};
use super::keyboard;
use super::{pictures, recordings, route, sink, TelegramError, TgBot, PLATFORM};
use crate::core::actions::{self, Action, Press};
use crate::core::{wording, Command, CommandCore, Reply, Requester};

pub type HandlerResult = Result<(), TelegramError>;

/// The tracing target of the debug event logged when a reply to a message
/// is handed to the throttled bot (field `chat`: the chat id).
pub const HANDOFF_TARGET: &str = "reel_bots::telegram::handoff";

/// A message in a private chat, or one addressed to the bot in a group.
pub async fn on_message(bot: TgBot, me: Me, msg: Message, core: CommandCore) -> HandlerResult {
    let (text, plain_is_prompt) = match route::incoming(&msg, me.username()) {
        route::Incoming::Ignore => return Ok(()),
        route::Incoming::Media => {
            reply(&bot, &msg, wording::MEDIA_REFUSED).await?;
            return Ok(());
        }
        route::Incoming::Recording(_) if !core.cameos_enabled() => {
            reply(&bot, &msg, wording::MEDIA_REFUSED).await?;
            return Ok(());
        }
        route::Incoming::Recording(recording) => {
            return recordings::on_recording(&bot, &msg, &core, recording).await
        }
        route::Incoming::Picture { text, picture } => {
            return pictures::on_picture(&bot, &msg, &core, &text, picture).await
        }
        route::Incoming::Text {
            text,
            plain_is_prompt,
        } => (text, plain_is_prompt),
    };
    let user_id = match identity::sender(&msg) {
        None => return Ok(()),
        Some(Sender::Shared) => {
            reply(&bot, &msg, wording::SHARED_ACCOUNT).await?;
            return Ok(());
        }
        Some(sender) => sender.user_id().unwrap_or_default(),
    };
    let from = requester(
        user_id,
        &msg.chat,
        format!("msg:{}:{}", msg.chat.id.0, msg.id.0),
    );
    let answer = core.handle(&from, &text, plain_is_prompt).await;
    // Where the adapter's own work ends and the throttle's queue begins
    // (the load test measures both sides of it).
    tracing::debug!(target: HANDOFF_TARGET, chat = msg.chat.id.0, "reply handed to the throttled bot");
    if let Reply::Repost { job, caption } = &answer {
        let to = Some(sink::reply_to(msg.id.0));
        if let Err(error) = sink::resend(&bot, job, msg.chat.id, caption, to).await {
            tracing::warn!(job = job.id, %error, "could not post a clip again");
            reply(&bot, &msg, &wording::cannot_post_again(job.id)).await?;
        }
        return Ok(());
    }
    let sent = send_reply(&bot, msg.chat.id, Some(msg.id), &answer).await?;
    remember_status_message(&core, &answer, sent).await
}

/// A button press. Always answered, whatever happens.
pub async fn on_callback(bot: TgBot, q: CallbackQuery, core: CommandCore) -> HandlerResult {
    let answer = match (
        actions::decode(q.data.as_deref().unwrap_or("")),
        q.message.as_ref(),
    ) {
        (Some(press), Some(message)) => {
            // A button press always comes from a person, never a shared account.
            let from = requester(
                q.from.id.0.to_string(),
                message.chat(),
                format!("callback:{}", q.id),
            );
            press_button(&bot, &core, &from, press, message.chat().id, message.id()).await
        }
        _ => Ok(wording::STALE_BUTTON.to_string()),
    };
    let text = match &answer {
        Ok(text) => text.as_str(),
        Err(_) => wording::INTERNAL_ERROR,
    };
    bot.answer_callback_query(q.id.clone()).text(text).await?;
    answer.map(|_| ())
}

/// Does what the button says; returns the text to answer the press with.
/// A refusal is told to the presser alone (the callback answer), never
/// posted in the chat.
async fn press_button(
    bot: &TgBot,
    core: &CommandCore,
    from: &Requester,
    press: Press,
    chat: ChatId,
    message: MessageId,
) -> Result<String, TelegramError> {
    let answer = match press.action {
        Action::Reroll => core.reroll(from, press.job_id).await,
        Action::Cancel => core.run(from, Command::Cancel(Some(press.job_id))).await,
        Action::Delete => core.delete_clip(from, press.job_id).await,
        Action::RemoveCameoClip => core.remove_cameo_clip(from, press.job_id).await,
    };
    match &answer {
        Reply::Queued { .. } => {
            let sent = send_reply(bot, chat, Some(message), &answer).await?;
            remember_status_message(core, &answer, sent).await?;
        }
        Reply::Deleted { .. } => {
            bot.delete_message(chat, message).await?;
        }
        Reply::Removed { job, .. } => take_down(bot, job).await,
        _ => {}
    }
    Ok(answer.text().to_string())
}

/// A clip its cameo's owner removed: its posted message goes where
/// Telegram still allows (bots may delete their messages for 48 hours),
/// and the requester is told that it was removed, nothing more.
async fn take_down(bot: &TgBot, job: &reel_store::Job) {
    let posted = ReplyHandle::parse(&job.reply_handle)
        .clip
        .or_else(|| job.delivery_receipt.as_deref().and_then(Receipt::parse));
    let Some(posted) = posted else {
        return;
    };
    let chat = ChatId(posted.chat_id);
    if let Err(error) = bot.delete_message(chat, MessageId(posted.message_id)).await {
        tracing::info!(job = job.id, %error, "could not delete a removed clip's message");
    }
    let notice = wording::cameo::removed_for_requester(job.id);
    if let Err(error) = bot.send_message(chat, notice).await {
        tracing::info!(job = job.id, %error, "could not tell the requester a clip was removed");
    }
}

/// `request_key`: what makes this event unique on Telegram (a message's
/// chat and id, a callback query's id), so a replayed update queues nothing new.
pub(super) fn requester(
    user_id: String,
    chat: &teloxide::types::Chat,
    request_key: String,
) -> Requester {
    Requester {
        platform: PLATFORM.into(),
        user_id,
        chat_id: chat.id.0.to_string(),
        reply_handle: "{}".into(),
        request_key: Some(request_key),
        // Everyone in a group reads the answers.
        shared_chat: !chat.is_private(),
    }
}

/// Shows a core reply; a queued job's message gets its buttons.
pub(super) async fn send_reply(
    bot: &TgBot,
    chat: ChatId,
    to: Option<MessageId>,
    answer: &Reply,
) -> Result<Message, TelegramError> {
    let mut send = bot.send_message(chat, answer.text());
    if let Some(to) = to {
        send = send.reply_parameters(ReplyParameters::new(to).allow_sending_without_reply());
    }
    match answer {
        Reply::Queued { job_id, .. } => send = send.reply_markup(keyboard::in_progress(*job_id)),
        Reply::CameoClips { job_ids, .. } if !job_ids.is_empty() => {
            send = send.reply_markup(keyboard::cameo_clips(job_ids))
        }
        _ => {}
    }
    Ok(send.await?)
}

pub(super) async fn reply(
    bot: &TgBot,
    msg: &Message,
    text: &str,
) -> Result<Message, TelegramError> {
    let send = bot
        .send_message(msg.chat.id, text)
        .reply_parameters(ReplyParameters::new(msg.id).allow_sending_without_reply());
    Ok(send.await?)
}

/// Progress edits the "queued" message: keep its id with the job. Only
/// the handler makes a status message; the watcher waits for this record.
pub(super) async fn remember_status_message(
    core: &CommandCore,
    answer: &Reply,
    sent: Message,
) -> HandlerResult {
    let Reply::Queued { job_id, .. } = answer else {
        return Ok(());
    };
    let id = sent.id.0;
    core.handles()
        .update(*job_id, |handle: &mut ReplyHandle| {
            handle.status_message_id.get_or_insert(id);
        })
        .await?;
    Ok(())
}
