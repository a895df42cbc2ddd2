//! Interaction handlers: each defers at once (Discord allows 3 s), turns
//! the interaction into a command-core call, and shows the core's reply.
//! No product logic here. Input the core refuses without touching the
//! database is answered at once, ephemerally, instead of deferred.

use reel_store::JobState;
use serenity::all::{
    ApplicationId, ChannelId, CommandInteraction, ComponentInteraction, Context,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    EditInteractionResponse, GuildId, InteractionId, Message, MessageId, UserId,
};
use serenity::http::HttpError;

use super::buttons;
use super::handle::{now_ms, Receipt, ReplyHandle, DEFAULT_ATTACHMENT_LIMIT};
use super::upload::attachment;
use super::{commands, markdown, pictures, recordings, Deps, DiscordError, DiscordSink, PLATFORM};
use crate::core::actions::{self, Action, Press};
use crate::core::{validate, wording, ChatSink, Command, Reply, Requester, Upload, UsageError};

/// Discord's limit on a message's text.
const MAX_CONTENT_CHARS: usize = 2000;

type Handled = Result<(), DiscordError>;

/// Who sent the interaction and where, as the core and the sink see it.
struct Origin {
    handle: ReplyHandle,
    interaction_id: u64,
}

impl Origin {
    /// What a command or a button press says about where it came from.
    fn new(
        id: InteractionId,
        application: ApplicationId,
        token: &str,
        channel: ChannelId,
        guild: Option<GuildId>,
        user: UserId,
        attachment_size_limit: u32,
    ) -> Self {
        Self {
            handle: ReplyHandle {
                application_id: application.get(),
                token: token.to_string(),
                issued_at_ms: now_ms(),
                channel_id: channel.get(),
                guild_id: guild.map(GuildId::get),
                user_id: user.get(),
                message_id: None,
                attachment_limit: match attachment_size_limit {
                    0 => DEFAULT_ATTACHMENT_LIMIT,
                    n => u64::from(n),
                },
                fallback_message_id: None,
                clip: None,
            },
            interaction_id: id.get(),
        }
    }

    fn requester(&self) -> Requester {
        Requester {
            platform: PLATFORM.into(),
            user_id: self.handle.user_id.to_string(),
            chat_id: self.handle.channel_id.to_string(),
            reply_handle: self.handle.to_json(),
            // A replayed interaction gets the job it already queued.
            request_key: Some(format!("interaction:{}", self.interaction_id)),
            // Answers other than a queued job are ephemeral: the sender's alone.
            shared_chat: false,
        }
    }
}

/// A slash command.
pub async fn on_command(ctx: &Context, deps: &Deps, cmd: &CommandInteraction) -> Handled {
    let origin = Origin::new(
        cmd.id,
        cmd.application_id,
        &cmd.token,
        cmd.channel_id,
        cmd.guild_id,
        cmd.user.id,
        cmd.attachment_size_limit,
    );
    if let Some(attachment) = commands::submitted_recording(&cmd.data) {
        let from = origin.requester();
        return recordings::on_submit(ctx, deps, cmd, &from, attachment).await;
    }
    let command = match commands::parse(&cmd.data) {
        Ok(command) => command,
        Err(UsageError(text)) => return refuse_at_once_command(ctx, cmd, &text).await,
    };
    match command {
        Command::Video(request) => {
            // Checked before deferring (no database involved), so bad input
            // gets an answer only its sender sees.
            if let Err(UsageError(text)) = validate(&request, deps.core.settings()) {
                return refuse_at_once_command(ctx, cmd, &text).await;
            }
            let picture = commands::video_picture(&cmd.data);
            if let Some(refusal) = picture.and_then(|file| pictures::refusal(deps, file)) {
                return refuse_at_once_command(ctx, cmd, &refusal).await;
            }
            let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
            deferred(cmd.create_response(&ctx.http, defer)).await?;
            let from = origin.requester();
            let answer = match picture {
                Some(file) => pictures::video_with(deps, &from, &request, file).await,
                None => deps.core.video(&from, &request).await,
            };
            show_video_answer(ctx, deps, cmd, answer).await
        }
        Command::Clip(job) => {
            // Posted here, for everyone in the channel to see.
            let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
            deferred(cmd.create_response(&ctx.http, defer)).await?;
            match deps.core.run(&origin.requester(), Command::Clip(job)).await {
                Reply::Repost { job, .. } => post_again(ctx, deps, cmd, &origin.handle, &job).await,
                answer => refuse_after_defer(ctx, cmd, answer.text()).await,
            }
        }
        other => {
            // Status, history and help are the sender's business only.
            let defer = CreateInteractionResponse::Defer(
                CreateInteractionResponseMessage::new().ephemeral(true),
            );
            deferred(cmd.create_response(&ctx.http, defer)).await?;
            let answer = deps.core.run(&origin.requester(), other).await;
            let mut edit = EditInteractionResponse::new().content(clip_text(answer.text()));
            if let Reply::CameoClips { job_ids, .. } = &answer {
                edit = edit.components(buttons::cameo_clips(job_ids));
            }
            cmd.edit_response(&ctx.http, edit).await?;
            if let Reply::Cancelled {
                job, ended: true, ..
            } = &answer
            {
                settle_cancelled(ctx, deps, job).await;
            }
            Ok(())
        }
    }
}

/// A job cancelled before it started gets no outcome post: its public
/// "queued" message (and Cancel button) is updated here instead. One that
/// was rendering is left to the outcome poster, which says when it stopped.
async fn settle_cancelled(ctx: &Context, deps: &Deps, job: &reel_store::Job) {
    if job.state != JobState::Cancelled || !job.outcome_posted {
        return;
    }
    let sink = DiscordSink::new(ctx.http.clone(), deps.core.handles().clone());
    if let Err(error) = sink.post_outcome(job, &wording::outcome(job)).await {
        tracing::warn!(job = job.id, %error, "could not update the cancelled job's message");
    }
}

/// The answer to `/video` after the public defer: the queued message (with
/// Cancel), or a refusal only the sender sees.
async fn show_video_answer(
    ctx: &Context,
    deps: &Deps,
    cmd: &CommandInteraction,
    answer: Reply,
) -> Handled {
    match answer {
        Reply::Queued { job_id, text } => {
            let edit = EditInteractionResponse::new()
                .content(clip_text(&text))
                .components(buttons::in_progress(job_id));
            let message = cmd.edit_response(&ctx.http, edit).await?;
            remember(deps, job_id, message.id.get()).await
        }
        answer => refuse_after_defer(ctx, cmd, answer.text()).await,
    }
}

/// A refusal after a public defer: the deferred "thinking…" message is
/// replaced by a message for the sender alone.
async fn refuse_after_defer(ctx: &Context, cmd: &CommandInteraction, text: &str) -> Handled {
    if let Err(error) = cmd.delete_response(&ctx.http).await {
        tracing::debug!(error = %super::describe(&error), "could not delete the deferred response");
    }
    let followup = CreateInteractionResponseFollowup::new()
        .content(clip_text(text))
        .ephemeral(true);
    cmd.create_followup(&ctx.http, followup).await?;
    Ok(())
}

/// `/clip N`: the stored clip of `job` uploaded again as the answer
/// (Discord has no handle to re-send an earlier upload by), under this
/// interaction's upload limit.
async fn post_again(
    ctx: &Context,
    deps: &Deps,
    cmd: &CommandInteraction,
    handle: &ReplyHandle,
    job: &reel_store::Job,
) -> Handled {
    let caption = wording::clip_caption_with(job, markdown::escape);
    let Some(clip) = deps.core.clip_file(job).await? else {
        return refuse_after_defer(ctx, cmd, &wording::no_clip(job)).await;
    };
    let upload = deps
        .core
        .fit_for_upload(job.id, &clip, &caption, handle.attachment_limit)
        .await;
    let edit = match upload {
        Upload::Clip { data, caption } => EditInteractionResponse::new()
            .content(clip_text(&caption))
            .components(buttons::clip(job.id))
            .new_attachment(attachment(job.id, &data)),
        Upload::TooLarge(text) => EditInteractionResponse::new().content(clip_text(&text)),
    };
    cmd.edit_response(&ctx.http, edit).await?;
    Ok(())
}

/// An autocomplete request (the `cameo` option of `/video`).
pub async fn on_autocomplete(ctx: &Context, deps: &Deps, ac: &CommandInteraction) -> Handled {
    let origin = Origin::new(
        ac.id,
        ac.application_id,
        &ac.token,
        ac.channel_id,
        ac.guild_id,
        ac.user.id,
        ac.attachment_size_limit,
    );
    recordings::on_autocomplete(ctx, deps, ac, &origin.requester()).await
}

/// A button press.
pub async fn on_button(ctx: &Context, deps: &Deps, press: &ComponentInteraction) -> Handled {
    let Some(Press { action, job_id }) = actions::decode(&press.data.custom_id) else {
        let refuse = CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new()
                .content(wording::STALE_BUTTON)
                .ephemeral(true),
        );
        press.create_response(&ctx.http, refuse).await?;
        return Ok(());
    };
    // Type 6: acknowledged, the message stays as it is for now.
    deferred(press.create_response(&ctx.http, CreateInteractionResponse::Acknowledge)).await?;
    let origin = Origin::new(
        press.id,
        press.application_id,
        &press.token,
        press.channel_id,
        press.guild_id,
        press.user.id,
        press.attachment_size_limit,
    );
    let from = origin.requester();
    let answer = match action {
        Action::Reroll => deps.core.reroll(&from, job_id).await,
        Action::Cancel => deps.core.run(&from, Command::Cancel(Some(job_id))).await,
        Action::Delete => deps.core.delete_clip(&from, job_id).await,
        Action::RemoveCameoClip => deps.core.remove_cameo_clip(&from, job_id).await,
    };
    match &answer {
        Reply::Queued { job_id, text } => {
            let queued = CreateInteractionResponseFollowup::new()
                .content(clip_text(text))
                .components(buttons::in_progress(*job_id));
            let message: Message = press.create_followup(&ctx.http, queued).await?;
            return remember(deps, *job_id, message.id.get()).await;
        }
        // The button is on the job's status message: say so there and
        // take the button away.
        Reply::Cancelled { text, .. } => {
            let edit = EditInteractionResponse::new()
                .content(clip_text(text))
                .components(Vec::new());
            press.edit_response(&ctx.http, edit).await?;
        }
        // The clip's message is the one the button is on.
        Reply::Deleted { .. } => press.delete_response(&ctx.http).await?,
        Reply::Removed { job, .. } => take_down(ctx, job).await,
        _ => {}
    }
    // Refusals (someone else's clip, a limit) reach the presser alone.
    tell_sender(ctx, press, answer.text()).await
}

/// A clip its cameo's owner removed: its posted message is deleted and the
/// requester's channel told that it was removed, nothing more.
async fn take_down(ctx: &Context, job: &reel_store::Job) {
    let posted = ReplyHandle::parse(&job.reply_handle)
        .and_then(|handle| handle.clip)
        .or_else(|| job.delivery_receipt.as_deref().and_then(Receipt::parse));
    let Some(posted) = posted else {
        return;
    };
    let channel = ChannelId::new(posted.channel_id.max(1));
    let message = MessageId::new(posted.message_id.max(1));
    if let Err(error) = channel.delete_message(&ctx.http, message).await {
        tracing::info!(job = job.id, error = %super::describe(&error), "could not delete a removed clip's message");
    }
    let notice = wording::cameo::removed_for_requester(job.id);
    if let Err(error) = channel.say(&ctx.http, notice).await {
        tracing::info!(job = job.id, error = %super::describe(&error), "could not tell the requester a clip was removed");
    }
}

/// Discord's code for a second response to one interaction.
const ALREADY_ACKNOWLEDGED: isize = 40060;

/// The defer's outcome. An interaction delivered again (a replayed
/// gateway event) is already acknowledged: carry on, the core's request key
/// finds the job the first delivery queued.
async fn deferred(defer: impl std::future::Future<Output = serenity::Result<()>>) -> Handled {
    match defer.await {
        Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(response)))
            if response.error.code == ALREADY_ACKNOWLEDGED =>
        {
            tracing::info!("interaction delivered again; already acknowledged");
            Ok(())
        }
        other => Ok(other?),
    }
}

/// A message only the presser sees.
async fn tell_sender(ctx: &Context, press: &ComponentInteraction, text: &str) -> Handled {
    let followup = CreateInteractionResponseFollowup::new()
        .content(clip_text(text))
        .ephemeral(true);
    press.create_followup(&ctx.http, followup).await?;
    Ok(())
}

/// Answers at once (type 4, ephemeral): nothing was deferred or changed.
async fn refuse_at_once_command(ctx: &Context, cmd: &CommandInteraction, text: &str) -> Handled {
    let refuse = CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(clip_text(text))
            .ephemeral(true),
    );
    cmd.create_response(&ctx.http, refuse).await?;
    Ok(())
}

/// Progress edits the queued message: keep its id with the job (unless
/// a newer writer already recorded one).
async fn remember(deps: &Deps, job_id: i64, message_id: u64) -> Handled {
    deps.core
        .handles()
        .update(job_id, |handle: &mut ReplyHandle| {
            handle.message_id.get_or_insert(message_id);
        })
        .await?;
    Ok(())
}

/// Cut to what Discord accepts in one message.
pub(super) fn clip_text(text: &str) -> String {
    if text.chars().count() <= MAX_CONTENT_CHARS {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(MAX_CONTENT_CHARS - 1).collect();
    cut.push('…');
    cut
}
