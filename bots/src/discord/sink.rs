//! `ChatSink` for Discord. While the interaction token is valid (15 min),
//! progress, the clip and outcomes edit the job's status message through
//! the interaction webhook; editing is idempotent, so a retried post after
//! a crash changes nothing. After the token expires (or Discord answers
//! 401/404 for it), they go through the channel endpoints: one reply to
//! the status message that mentions the user, edited from then on.

use std::sync::Arc;

use async_trait::async_trait;
use reel_store::Job;
use serenity::all::{
    ApplicationId, ChannelId, CreateActionRow, CreateAllowedMentions, CreateAttachment,
    CreateInteractionResponseFollowup, CreateMessage, EditInteractionResponse, EditMessage,
    Message, MessageId, MessageReference, Nonce, UserId,
};
use serenity::builder::Builder;
use serenity::http::{Http, HttpError};

use super::buttons;
use super::handle::{now_ms, Receipt, ReplyHandle, Via};
use super::handlers::clip_text;
use super::upload::attachment;
use super::{describe, markdown, PLATFORM};
use crate::core::{wording, ChatHandles, ChatSink, ClipFile, JobLocks, SinkError, Upload};

/// What a bot may attach in a direct message (Discord's default limit).
const DM_ATTACHMENT_LIMIT: u64 = 10 * 1024 * 1024;

pub struct DiscordSink {
    http: Arc<Http>,
    handles: ChatHandles,
    locks: JobLocks,
    /// Bounds and caches re-encodes to fit an upload limit.
    fits: crate::core::Fits,
}

/// What one post says and carries.
struct Post {
    text: String,
    components: Vec<CreateActionRow>,
    file: Option<CreateAttachment>,
}

impl DiscordSink {
    pub fn new(http: Arc<Http>, handles: ChatHandles) -> Self {
        Self {
            http,
            handles,
            locks: JobLocks::default(),
            fits: crate::core::Fits::default(),
        }
    }

    /// Shows `post` in the job's status message: through the interaction
    /// webhook while its token lasts, else through the channel.
    async fn show(
        &self,
        job: &Job,
        handle: &mut ReplyHandle,
        post: Post,
    ) -> Result<(Message, Via), serenity::Error> {
        if !handle.token.is_empty() && !handle.token_fresh(now_ms()) {
            // Expired: of no use, and not to be kept.
            handle.token.clear();
            self.record(job, handle).await;
        }
        if handle.token_fresh(now_ms()) {
            match self.edit_via_webhook(handle, &post).await {
                Ok(message) => return Ok((message, Via::Webhook)),
                Err(error) if token_refused(&error) => {
                    tracing::info!(
                        job = job.id,
                        error = %describe(&error),
                        "interaction token refused; using the channel"
                    );
                    // Never try the token again for this job.
                    handle.token.clear();
                }
                Err(error) => return Err(error),
            }
        }
        self.show_via_channel(job, handle, post)
            .await
            .map(|m| (m, Via::Channel))
    }

    async fn edit_via_webhook(
        &self,
        handle: &ReplyHandle,
        post: &Post,
    ) -> Result<Message, serenity::Error> {
        self.http
            .set_application_id(ApplicationId::new(handle.application_id));
        let text = clip_text(&post.text);
        match handle.message_id {
            Some(id) => {
                let mut edit = CreateInteractionResponseFollowup::new()
                    .content(text)
                    .components(post.components.clone());
                if let Some(file) = &post.file {
                    edit = edit.add_file(file.clone());
                }
                edit.execute(
                    self.http.as_ref(),
                    (Some(MessageId::new(id)), &handle.token),
                )
                .await
            }
            None => {
                let mut edit = EditInteractionResponse::new()
                    .content(text)
                    .components(post.components.clone());
                if let Some(file) = &post.file {
                    edit = edit.new_attachment(file.clone());
                }
                edit.execute(self.http.as_ref(), &handle.token).await
            }
        }
    }

    /// The channel path: the first post replies to the status message and
    /// mentions the user (once); later posts edit that reply.
    async fn show_via_channel(
        &self,
        job: &Job,
        handle: &mut ReplyHandle,
        post: Post,
    ) -> Result<Message, serenity::Error> {
        let channel = ChannelId::new(handle.channel_id);
        let text = clip_text(&format!("<@{}> {}", handle.user_id, post.text));
        if let Some(id) = handle.fallback_message_id {
            let mut edit = EditMessage::new()
                .content(text)
                .components(post.components)
                // Edits never ping; say so anyway.
                .allowed_mentions(CreateAllowedMentions::new());
            if let Some(file) = post.file {
                edit = edit.new_attachment(file);
            }
            return channel
                .edit_message(self.http.as_ref(), MessageId::new(id), edit)
                .await;
        }
        let mut create = CreateMessage::new()
            .content(text)
            .components(post.components)
            .allowed_mentions(CreateAllowedMentions::new().users([UserId::new(handle.user_id)]))
            // The same nonce on a retry: Discord returns the first message
            // instead of posting a second. The clip's nonce differs from a
            // text's, so a text message made before a crash is never taken
            // for the clip.
            .nonce(Nonce::String(nonce(job.id, post.file.is_some())))
            .enforce_nonce(true);
        if let Some(id) = handle.message_id {
            let mut reply = MessageReference::from((channel, MessageId::new(id)));
            reply.fail_if_not_exists = Some(false);
            create = create.reference_message(reply);
        }
        if let Some(file) = post.file {
            create = create.add_file(file);
        }
        let message = channel.send_message(self.http.as_ref(), create).await?;
        handle.fallback_message_id = Some(message.id.get());
        self.record(job, handle).await;
        Ok(message)
    }

    /// Keeps what this sink learned with the job, so a retry (or another
    /// process) finds the messages already made: merged into the stored
    /// handle (whose status message id the command handler may have set
    /// meanwhile), never overwriting it.
    async fn record(&self, job: &Job, handle: &ReplyHandle) {
        let token_gone = handle.token.is_empty();
        let (fallback, clip) = (handle.fallback_message_id, handle.clip.clone());
        let merged = self
            .handles
            .update(job.id, |stored: &mut ReplyHandle| {
                if token_gone {
                    stored.token.clear();
                }
                if fallback.is_some() {
                    stored.fallback_message_id = fallback;
                }
                if clip.is_some() {
                    stored.clip.clone_from(&clip);
                }
            })
            .await;
        if let Err(error) = merged {
            tracing::warn!(job = job.id, %error, "could not record the discord message");
        }
    }

    /// After the job's last post: the interaction token is not needed any
    /// more and is not kept.
    async fn forget_token(&self, job: &Job, handle: &mut ReplyHandle) {
        handle.token.clear();
        self.record(job, handle).await;
    }

    /// Posts `text` instead of the clip (too large, no permission to attach).
    async fn explain(
        &self,
        job: &Job,
        handle: &mut ReplyHandle,
        text: String,
    ) -> Result<String, SinkError> {
        let post = Post {
            text: text.clone(),
            components: Vec::new(),
            file: None,
        };
        let (message, via) = self
            .show(job, handle, post)
            .await
            .map_err(|e| sink_error(&e))?;
        let receipt = Receipt {
            channel_id: message.channel_id.get(),
            message_id: message.id.get(),
            via,
            bytes: 0,
            not_attached: Some(text),
        };
        handle.clip = Some(receipt.clone());
        self.forget_token(job, handle).await;
        Ok(receipt.to_json())
    }
}

#[async_trait]
impl ChatSink for DiscordSink {
    fn platform(&self) -> &str {
        PLATFORM
    }

    fn locks(&self) -> &JobLocks {
        &self.locks
    }

    fn quote(&self, user_text: &str) -> String {
        markdown::escape(user_text)
    }

    async fn show_progress(&self, job: &Job, text: &str) -> Result<bool, SinkError> {
        let mut handle = handle_of(job)?;
        let before = handle.clone();
        let post = Post {
            text: text.into(),
            components: buttons::for_job(job.id, job.state, false),
            file: None,
        };
        self.show(job, &mut handle, post)
            .await
            .map_err(|e| sink_error(&e))?;
        if handle != before {
            self.record(job, &handle).await;
        }
        Ok(true)
    }

    async fn post_clip(
        &self,
        job: &Job,
        clip: &ClipFile,
        caption: &str,
    ) -> Result<String, SinkError> {
        let mut handle = handle_of(job)?;
        if let Some(receipt) = &handle.clip {
            tracing::info!(job = job.id, "clip was posted before; not posting again");
            return Ok(receipt.to_json());
        }
        let upload =
            crate::core::fit_with(&self.fits, job.id, clip, caption, handle.attachment_limit).await;
        let (data, caption) = match upload {
            Upload::Clip { data, caption } => (data, caption),
            Upload::TooLarge(text) => return self.explain(job, &mut handle, text).await,
        };
        let bytes = data.len() as u64;
        let post = Post {
            text: caption,
            components: buttons::clip(job.id),
            file: Some(attachment(job.id, &data)),
        };
        let (message, via) = match self.show(job, &mut handle, post).await {
            Ok(shown) => shown,
            Err(error) if status_of(&error) == Some(403) => {
                tracing::warn!(job = job.id, error = %describe(&error), "not allowed to attach the clip");
                return self
                    .explain(job, &mut handle, wording::cannot_attach(job.id))
                    .await;
            }
            Err(error) => return Err(sink_error(&error)),
        };
        let receipt = Receipt {
            channel_id: message.channel_id.get(),
            message_id: message.id.get(),
            via,
            bytes,
            not_attached: None,
        };
        handle.clip = Some(receipt.clone());
        // Recorded at once, so a retry after a crash finds the post.
        self.forget_token(job, &mut handle).await;
        Ok(receipt.to_json())
    }

    /// In a direct message to the owner (Discord opens the DM channel on
    /// request), with the clip attached where it fits a bot's upload
    /// limit; mentions are never resolved.
    async fn ask_approval(
        &self,
        owner_user_id: &str,
        job: &Job,
        clip: &ClipFile,
        text: &str,
    ) -> Result<(), SinkError> {
        let owner = owner_user_id
            .parse::<u64>()
            .ok()
            .filter(|id| *id != 0)
            .map(UserId::new)
            .ok_or_else(|| SinkError(format!("{owner_user_id:?} is not a Discord user id")))?;
        let dm = owner
            .create_dm_channel(&self.http)
            .await
            .map_err(|e| sink_error(&e))?;
        let message = CreateMessage::new()
            .content(clip_text(text))
            .allowed_mentions(CreateAllowedMentions::new());
        let message = match clip.data.len() as u64 <= DM_ATTACHMENT_LIMIT {
            true => message.add_file(attachment(job.id, &clip.data)),
            false => message,
        };
        dm.id
            .send_message(&self.http, message)
            .await
            .map(|_| ())
            .map_err(|e| sink_error(&e))
    }

    async fn post_outcome(&self, job: &Job, text: &str) -> Result<(), SinkError> {
        let mut handle = handle_of(job)?;
        let post = Post {
            text: text.into(),
            // The job is over: no buttons left to press.
            components: Vec::new(),
            file: None,
        };
        self.show(job, &mut handle, post)
            .await
            .map_err(|e| sink_error(&e))?;
        self.forget_token(job, &mut handle).await;
        Ok(())
    }
}

/// `r12c` (the clip) or `r12t` (a text); Discord allows 25 characters.
fn nonce(job_id: i64, clip: bool) -> String {
    format!("r{job_id}{}", if clip { 'c' } else { 't' })
}

fn handle_of(job: &Job) -> Result<ReplyHandle, SinkError> {
    ReplyHandle::parse(&job.reply_handle).ok_or_else(|| {
        SinkError(format!(
            "job #{} has no Discord reply handle; nowhere to post",
            job.id
        ))
    })
}

fn status_of(error: &serenity::Error) -> Option<u16> {
    match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) => {
            Some(response.status_code.as_u16())
        }
        _ => None,
    }
}

/// 401 (Invalid Webhook Token) or 404 (Unknown Webhook / Message): the
/// token has expired or its message is gone.
fn token_refused(error: &serenity::Error) -> bool {
    matches!(status_of(error), Some(401 | 404))
}

/// Stored with the job and logged: never with the request's URL (it
/// contains the interaction token).
fn sink_error(error: &serenity::Error) -> SinkError {
    match status_of(error) {
        Some(status) => SinkError(format!("discord ({status}): {}", describe(error))),
        None => SinkError(format!("discord: {}", describe(error))),
    }
}
