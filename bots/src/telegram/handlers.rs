//! Update handlers: each turns a Telegram update into a command-core call
//! and the core's reply back into Telegram calls. No product logic here.

use reel_store::{ClipStore, StoreError};
use teloxide::prelude::*;
use teloxide::requests::Requester as _;
use teloxide::types::{Me, MessageId, ReplyParameters};

use super::handle::ReplyHandle;
use super::keyboard::{self, Action, Press};
use super::{route, sink, TelegramError, TgBot, PLATFORM};
use crate::core::{Command, CommandCore, Reply, ReplyKind, Requester};

pub const MEDIA_REFUSED: &str = "I can only read text for now: send /video followed by what you \
    want to see (photos, videos, voice notes and files are not used yet). Nothing was queued.";
pub const STALE_BUTTON: &str = "This button no longer works. Send /video to start a new clip.";

pub type HandlerResult = Result<(), TelegramError>;

/// The tracing target of the debug event logged when a reply to a message
/// is handed to the throttled bot (field `chat`: the chat id).
pub const HANDOFF_TARGET: &str = "reel_bots::telegram::handoff";

/// A message in a private chat, or one addressed to the bot in a group.
pub async fn on_message(bot: TgBot, me: Me, msg: Message, core: CommandCore) -> HandlerResult {
    let Some(user) = msg.from.as_ref() else {
        return Ok(());
    };
    let (text, plain_is_prompt) = match route::incoming(&msg, me.username()) {
        route::Incoming::Ignore => return Ok(()),
        route::Incoming::Media => {
            reply(&bot, &msg, MEDIA_REFUSED).await?;
            return Ok(());
        }
        route::Incoming::Text {
            text,
            plain_is_prompt,
        } => (text, plain_is_prompt),
    };
    let from = requester(
        user.id,
        msg.chat.id,
        format!("msg:{}:{}", msg.chat.id.0, msg.id.0),
    );
    let answer = core.handle(&from, &text, plain_is_prompt).await;
    // Where the adapter's own work ends and the throttle's queue begins
    // (the load test measures both sides of it).
    tracing::debug!(target: HANDOFF_TARGET, chat = msg.chat.id.0, "reply handed to the throttled bot");
    if let (ReplyKind::Clip, Some(job)) = (answer.kind, answer.job_id) {
        return post_again(&bot, &core, &msg, job, &answer.text).await;
    }
    let sent = send_reply(&bot, msg.chat.id, Some(msg.id), &answer).await?;
    remember_status_message(&core, &answer, sent).await
}

/// A button press. Always answered, whatever happens.
pub async fn on_callback(
    bot: TgBot,
    q: CallbackQuery,
    core: CommandCore,
    clips: ClipStore,
) -> HandlerResult {
    let answer = match (
        keyboard::decode(q.data.as_deref().unwrap_or("")),
        q.message.as_ref(),
    ) {
        (Some(press), Some(message)) => {
            let from = requester(q.from.id, message.chat().id, format!("callback:{}", q.id));
            press_button(
                &bot,
                &core,
                &clips,
                &from,
                press,
                message.chat().id,
                message.id(),
            )
            .await
        }
        _ => Ok(STALE_BUTTON.to_string()),
    };
    let text = match &answer {
        Ok(text) => text.as_str(),
        Err(_) => crate::core::wording::INTERNAL_ERROR,
    };
    bot.answer_callback_query(q.id.clone()).text(text).await?;
    answer.map(|_| ())
}

/// Does what the button says; returns the text to answer the press with.
async fn press_button(
    bot: &TgBot,
    core: &CommandCore,
    clips: &ClipStore,
    from: &Requester,
    press: Press,
    chat: ChatId,
    message: MessageId,
) -> Result<String, TelegramError> {
    match press.action {
        Action::Reroll => {
            let answer = core.reroll(from, press.job_id).await?;
            let sent = send_reply(bot, chat, Some(message), &answer).await?;
            remember_status_message(core, &answer, sent).await?;
            Ok(answer.text)
        }
        Action::Cancel => Ok(core
            .run(from, Command::Cancel(Some(press.job_id)))
            .await
            .text),
        Action::Delete => {
            let answer = core.delete_clip(from, clips, press.job_id).await?;
            if answer.kind != ReplyKind::Refused {
                bot.delete_message(chat, message).await?;
            }
            Ok(answer.text)
        }
    }
}

/// `request_key`: what makes this event unique on Telegram (a message's
/// chat and id, a callback query's id), so a replayed update queues nothing new.
fn requester(user: UserId, chat: ChatId, request_key: String) -> Requester {
    Requester {
        platform: PLATFORM.into(),
        user_id: user.0.to_string(),
        chat_id: chat.0.to_string(),
        reply_handle: "{}".into(),
        request_key: Some(request_key),
    }
}

/// `/clip 12`: the clip again, into this chat, by its `file_id`.
async fn post_again(
    bot: &TgBot,
    core: &CommandCore,
    msg: &Message,
    job_id: i64,
    caption: &str,
) -> HandlerResult {
    let job = core.store().job(job_id).await?;
    let to = Some(sink::reply_to(msg.id.0));
    if let Err(error) = sink::resend(bot, &job, msg.chat.id, caption, to).await {
        tracing::warn!(job = job_id, %error, "could not post a clip again");
        reply(
            bot,
            msg,
            &format!("#{job_id} could not be posted again; try later."),
        )
        .await?;
    }
    Ok(())
}

/// Shows a core reply; a queued job's message gets the Cancel button.
async fn send_reply(
    bot: &TgBot,
    chat: ChatId,
    to: Option<MessageId>,
    answer: &Reply,
) -> Result<Message, TelegramError> {
    let mut send = bot.send_message(chat, &answer.text);
    if let Some(to) = to {
        send = send.reply_parameters(ReplyParameters::new(to).allow_sending_without_reply());
    }
    if let (ReplyKind::Queued, Some(job)) = (answer.kind, answer.job_id) {
        send = send.reply_markup(keyboard::in_progress(job));
    }
    Ok(send.await?)
}

async fn reply(bot: &TgBot, msg: &Message, text: &str) -> Result<Message, TelegramError> {
    let send = bot
        .send_message(msg.chat.id, text)
        .reply_parameters(ReplyParameters::new(msg.id).allow_sending_without_reply());
    Ok(send.await?)
}

/// Progress edits the "queued" message: keep its id with the job.
async fn remember_status_message(
    core: &CommandCore,
    answer: &Reply,
    sent: Message,
) -> HandlerResult {
    let (ReplyKind::Queued, Some(job)) = (answer.kind, answer.job_id) else {
        return Ok(());
    };
    let handle = ReplyHandle {
        status_message_id: Some(sent.id.0),
        clip: None,
    };
    match core.store().set_reply_handle(job, &handle.to_json()).await {
        Ok(()) => Ok(()),
        Err(StoreError::UnknownJob(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}
