//! Interaction handlers: each defers at once (Discord allows 3 s), turns
//! the interaction into a command-core call, and shows the core's reply.
//! No product logic here. Input the core refuses without touching the
//! database is answered at once, ephemerally, instead of deferred.

use reel_store::{JobState, StoreError};
use serenity::all::{
    ApplicationId, ChannelId, CommandInteraction, ComponentInteraction, Context,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    EditInteractionResponse, GuildId, InteractionId, Message, UserId,
};
use serenity::http::HttpError;

use super::buttons::{self, Action, Press};
use super::handle::{now_ms, ReplyHandle, DEFAULT_ATTACHMENT_LIMIT};
use super::upload::{attachment, fit_clip};
use super::{commands, Deps, DiscordError, DiscordSink, PLATFORM};
use crate::core::{
    validate, wording, ChatSink, ClipFile, Command, Reply, ReplyKind, Requester, UsageError,
};

pub const STALE_BUTTON: &str = "This button no longer works. Use /video to start a new clip.";

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
    let command = match commands::parse(&cmd.data) {
        Ok(command) => command,
        Err(UsageError(text)) => return refuse_at_once_command(ctx, cmd, &text).await,
    };
    match command {
        Command::Video(request) => {
            // Checked before deferring (no database involved), so bad input
            // gets an answer only its sender sees.
            if let Err(UsageError(text)) = validate(&request, &deps.settings) {
                return refuse_at_once_command(ctx, cmd, &text).await;
            }
            let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
            deferred(cmd.create_response(&ctx.http, defer)).await?;
            let answer = deps
                .core
                .video(&origin.requester(), &request)
                .await
                .unwrap_or_else(internal_error);
            show_video_answer(ctx, deps, cmd, origin.handle, answer).await
        }
        Command::Clip(job) => {
            // Posted here, for everyone in the channel to see.
            let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
            deferred(cmd.create_response(&ctx.http, defer)).await?;
            let answer = deps.core.run(&origin.requester(), Command::Clip(job)).await;
            match (answer.kind, answer.job_id) {
                (ReplyKind::Clip, Some(job)) => {
                    post_again(ctx, deps, cmd, &origin.handle, job, &answer.text).await
                }
                _ => refuse_after_defer(ctx, cmd, &answer.text).await,
            }
        }
        other => {
            // Status, history and help are the sender's business only.
            let defer = CreateInteractionResponse::Defer(
                CreateInteractionResponseMessage::new().ephemeral(true),
            );
            deferred(cmd.create_response(&ctx.http, defer)).await?;
            let cancel = matches!(other, Command::Cancel(_));
            let answer = deps.core.run(&origin.requester(), other).await;
            let edit = EditInteractionResponse::new().content(clip_text(&answer.text));
            cmd.edit_response(&ctx.http, edit).await?;
            match (cancel, answer.kind, answer.job_id) {
                (true, ReplyKind::Info, Some(job)) => settle_cancelled(ctx, deps, job).await,
                _ => Ok(()),
            }
        }
    }
}

/// A job cancelled before it started gets no outcome post: its public
/// "queued" message (and Cancel button) is updated here instead. One that
/// was rendering is left to the outcome poster, which says when it stopped.
async fn settle_cancelled(ctx: &Context, deps: &Deps, job_id: i64) -> Handled {
    let job = deps.core.store().job(job_id).await?;
    if job.state != JobState::Cancelled || !job.outcome_posted {
        return Ok(());
    }
    let sink = DiscordSink::new(ctx.http.clone(), deps.core.store().clone());
    if let Err(error) = sink.post_outcome(&job, &wording::outcome(&job)).await {
        tracing::warn!(job = job_id, %error, "could not update the cancelled job's message");
    }
    Ok(())
}

/// The answer to `/video` after the public defer: the queued message (with
/// Cancel), or a refusal only the sender sees.
async fn show_video_answer(
    ctx: &Context,
    deps: &Deps,
    cmd: &CommandInteraction,
    mut handle: ReplyHandle,
    answer: Reply,
) -> Handled {
    match (answer.kind, answer.job_id) {
        (ReplyKind::Queued, Some(job)) => {
            let edit = EditInteractionResponse::new()
                .content(clip_text(&answer.text))
                .components(buttons::in_progress(job));
            let message = cmd.edit_response(&ctx.http, edit).await?;
            handle.message_id = Some(message.id.get());
            remember(deps, job, &handle).await
        }
        _ => refuse_after_defer(ctx, cmd, &answer.text).await,
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

/// `/clip N`: the stored clip of job `job_id` uploaded again as the
/// answer (Discord has no handle to re-send an earlier upload by), under
/// this interaction's upload limit.
async fn post_again(
    ctx: &Context,
    deps: &Deps,
    cmd: &CommandInteraction,
    handle: &ReplyHandle,
    job_id: i64,
    caption: &str,
) -> Handled {
    let job = deps.core.store().job(job_id).await?;
    let Some(key) = job.clip_key.clone() else {
        return refuse_after_defer(ctx, cmd, &wording::no_clip(&job)).await;
    };
    let clip = ClipFile {
        data: deps.clips.get(&key).await?,
        local_path: deps.clips.local_path(&key),
        key,
    };
    let edit = match fit_clip(job.id, &clip, caption, handle.attachment_limit).await {
        Ok((data, caption)) => EditInteractionResponse::new()
            .content(clip_text(&caption))
            .components(buttons::clip(job.id))
            .new_attachment(attachment(job.id, &data)),
        Err(too_large) => EditInteractionResponse::new().content(clip_text(&too_large)),
    };
    cmd.edit_response(&ctx.http, edit).await?;
    Ok(())
}

/// A button press.
pub async fn on_button(ctx: &Context, deps: &Deps, press: &ComponentInteraction) -> Handled {
    let Some(Press { action, job_id }) = buttons::decode(&press.data.custom_id) else {
        let refuse = CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new()
                .content(STALE_BUTTON)
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
    match action {
        Action::Reroll => {
            let answer = deps
                .core
                .reroll(&from, job_id)
                .await
                .unwrap_or_else(internal_error);
            if let (ReplyKind::Queued, Some(job)) = (answer.kind, answer.job_id) {
                let queued = CreateInteractionResponseFollowup::new()
                    .content(clip_text(&answer.text))
                    .components(buttons::in_progress(job));
                let message: Message = press.create_followup(&ctx.http, queued).await?;
                let mut handle = origin.handle;
                handle.message_id = Some(message.id.get());
                return remember(deps, job, &handle).await;
            }
            tell_sender(ctx, press, &answer.text).await
        }
        Action::Cancel => {
            let answer = deps.core.run(&from, Command::Cancel(Some(job_id))).await;
            if answer.kind != ReplyKind::Refused {
                // The button is on the job's status message: say so there
                // and take the button away.
                let edit = EditInteractionResponse::new()
                    .content(clip_text(&answer.text))
                    .components(Vec::new());
                press.edit_response(&ctx.http, edit).await?;
            }
            tell_sender(ctx, press, &answer.text).await
        }
        Action::Delete => {
            let answer = deps
                .core
                .delete_clip(&from, &deps.clips, job_id)
                .await
                .unwrap_or_else(internal_error);
            if answer.kind != ReplyKind::Refused {
                // The clip's message is the one the button is on.
                press.delete_response(&ctx.http).await?;
            }
            tell_sender(ctx, press, &answer.text).await
        }
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

/// Progress edits the queued message: keep its id with the job.
async fn remember(deps: &Deps, job: i64, handle: &ReplyHandle) -> Handled {
    match deps
        .core
        .store()
        .set_reply_handle(job, &handle.to_json())
        .await
    {
        Ok(()) | Err(StoreError::UnknownJob(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

fn internal_error(error: StoreError) -> Reply {
    tracing::error!(%error, platform = PLATFORM, "command failed");
    Reply {
        kind: ReplyKind::Refused,
        text: wording::INTERNAL_ERROR.into(),
        job_id: None,
    }
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
