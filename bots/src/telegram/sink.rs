//! `ChatSink` for Telegram: progress edits the "queued" message, the clip
//! goes out with sendVideo (and its buttons), outcomes as a reply.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reel_store::Job;
use teloxide::prelude::*;
use teloxide::types::{ChatAction, InputFile, MessageId, ReplyParameters};
use teloxide::{ApiError, RequestError};

use super::handle::{Receipt, ReplyHandle};
use super::{keyboard, TgBot, PLATFORM};
use crate::core::{fit, wording, ChatHandles, ChatSink, ClipFile, JobLocks, SinkError};

/// Telegram keeps a chat action up for about 5 s; repeat it sooner.
const CHAT_ACTION_EVERY: Duration = Duration::from_secs(4);

pub struct TelegramSink {
    bot: TgBot,
    handles: ChatHandles,
    locks: JobLocks,
    max_upload_bytes: u64,
    max_document_bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct FrameSize {
    width: u32,
    height: u32,
}

impl FrameSize {
    fn of(job: &Job) -> Self {
        Self {
            width: job.width,
            height: job.height,
        }
    }
}

/// An upload in flight.
type Upload<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Message, RequestError>> + Send + 'a>>;

/// How a clip goes out.
enum Media {
    /// sendVideo: plays inline. The frame size is Telegram's layout hint for
    /// an upload (a clip re-encoded to fit is smaller than the job asked
    /// for); a `file_id` already has its size.
    Video(InputFile, Option<FrameSize>),
    /// sendDocument: a file to download, for clips sendVideo cannot take.
    Document(InputFile),
}

impl TelegramSink {
    /// `max_upload_bytes`: the largest clip sendVideo (and, unless
    /// [`with_document_limit`](Self::with_document_limit) says otherwise,
    /// sendDocument) may upload.
    pub fn new(bot: TgBot, handles: ChatHandles, max_upload_bytes: u64) -> Self {
        Self {
            bot,
            handles,
            locks: JobLocks::default(),
            max_upload_bytes,
            max_document_bytes: max_upload_bytes,
        }
    }

    /// The largest clip sent with sendDocument when sendVideo cannot take it.
    pub fn with_document_limit(mut self, max_document_bytes: u64) -> Self {
        self.max_document_bytes = max_document_bytes;
        self
    }

    /// Picks how `clip` goes out: as it is when sendVideo takes it, else
    /// re-encoded smaller, else as a document; `None` when nothing fits.
    async fn choose_media(
        &self,
        job: &Job,
        clip: &ClipFile,
        caption: &str,
    ) -> Option<(Media, String)> {
        let file = |data: &Bytes| {
            InputFile::memory(data.clone()).file_name(wording::clip_file_name(job.id))
        };
        let size = clip.data.len() as u64;
        if size <= self.max_upload_bytes {
            let media = Media::Video(file(&clip.data), Some(FrameSize::of(job)));
            return Some((media, caption.into()));
        }
        let smallest = match fit::shrink_to_fit(clip, self.max_upload_bytes).await {
            Ok(shrunk) if shrunk.fits => {
                let caption = wording::shrunk_caption(caption, self.max_upload_bytes);
                let size = FrameSize {
                    width: shrunk.width,
                    height: shrunk.height,
                };
                return Some((Media::Video(file(&shrunk.data), Some(size)), caption));
            }
            Ok(shrunk) => shrunk.data,
            Err(error) => {
                tracing::warn!(job = job.id, %error, "could not re-encode the clip smaller");
                clip.data.clone()
            }
        };
        // As a file: the original if it fits, else the smallest made.
        let document = [&clip.data, &smallest]
            .into_iter()
            .find(|data| data.len() as u64 <= self.max_document_bytes)?;
        let caption = wording::as_file_caption(caption);
        Some((Media::Document(file(document)), caption))
    }

    /// Posts the job's clip again into its own chat (see [`resend`]).
    pub async fn resend(&self, job: &Job, caption: &str) -> Result<Receipt, SinkError> {
        let reply = ReplyHandle::parse(&job.reply_handle)
            .status_message_id
            .map(reply_to);
        resend(&self.bot, job, chat_of(job)?, caption, reply).await
    }

    /// Over every upload limit: say so plainly rather than fail silently.
    async fn too_large(
        &self,
        job: &Job,
        chat: ChatId,
        clip: &ClipFile,
    ) -> Result<String, SinkError> {
        let text = wording::too_large_for_telegram(
            job.id,
            clip.data.len() as u64,
            self.max_upload_bytes.max(self.max_document_bytes),
        );
        let sent = self
            .bot
            .send_message(chat, text)
            .await
            .map_err(sink_error)?;
        Ok(Receipt {
            chat_id: chat.0,
            message_id: sent.id.0,
            file_id: None,
            as_document: false,
        }
        .to_json())
    }
}

#[async_trait]
impl ChatSink for TelegramSink {
    fn platform(&self) -> &str {
        PLATFORM
    }

    fn locks(&self) -> &JobLocks {
        &self.locks
    }

    /// Edits the status message the command handler posted. Only the
    /// handler makes that message: before it has recorded its id there is
    /// nothing to edit (and posting another would leave two).
    async fn show_progress(&self, job: &Job, text: &str) -> Result<bool, SinkError> {
        let chat = chat_of(job)?;
        let Some(id) = ReplyHandle::parse(&job.reply_handle).status_message_id else {
            return Ok(false);
        };
        let edit = self
            .bot
            .edit_message_text(chat, MessageId(id), text)
            .reply_markup(keyboard::for_job(job.id, job.state, false))
            .await;
        match edit {
            Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(true),
            Err(error) => Err(sink_error(error)),
        }
    }

    async fn post_clip(
        &self,
        job: &Job,
        clip: &ClipFile,
        caption: &str,
    ) -> Result<String, SinkError> {
        let handle = ReplyHandle::parse(&job.reply_handle);
        if let Some(receipt) = &handle.clip {
            tracing::info!(job = job.id, "clip was posted before; not posting again");
            return Ok(receipt.to_json());
        }
        let chat = chat_of(job)?;
        let Some((media, caption)) = self.choose_media(job, clip, caption).await else {
            return self.too_large(job, chat, clip).await;
        };
        let as_document = matches!(media, Media::Document(_));
        let reply = ReplyHandle::parse(&job.reply_handle)
            .status_message_id
            .map(reply_to);
        let sent = upload(&self.bot, job, chat, media, &caption, reply)
            .await
            .map_err(sink_error)?;
        let file_id = match as_document {
            false => sent.video().map(|v| v.file.id.to_string()),
            true => sent.document().map(|d| d.file.id.to_string()),
        };
        let receipt = Receipt {
            chat_id: chat.0,
            message_id: sent.id.0,
            file_id,
            as_document,
        };
        // Recorded at once, so a retry after a crash finds the post.
        let recorded = self
            .handles
            .update(job.id, |handle: &mut ReplyHandle| {
                handle.clip = Some(receipt.clone());
            })
            .await;
        if let Err(error) = recorded {
            tracing::warn!(job = job.id, %error, "could not record the posted clip");
        }
        Ok(receipt.to_json())
    }

    /// The owner's private chat with the bot is their user id (they
    /// registered there). The clip with the request as its caption; one
    /// too large to upload goes as the request alone.
    async fn ask_approval(
        &self,
        owner_user_id: &str,
        job: &Job,
        clip: &ClipFile,
        text: &str,
    ) -> Result<(), SinkError> {
        let chat = owner_user_id
            .parse()
            .map(ChatId)
            .map_err(|_| SinkError(format!("{owner_user_id:?} is not a Telegram user id")))?;
        if clip.data.len() as u64 > self.max_upload_bytes {
            let sent = self.bot.send_message(chat, text).await;
            return sent.map(|_| ()).map_err(sink_error);
        }
        // Telegram cuts captions at 1024 characters.
        let caption: String = text.chars().take(1024).collect();
        let file = InputFile::memory(clip.data.clone()).file_name(wording::clip_file_name(job.id));
        let sent = self.bot.send_video(chat, file).caption(caption).await;
        sent.map(|_| ()).map_err(sink_error)
    }

    async fn post_outcome(&self, job: &Job, text: &str) -> Result<(), SinkError> {
        let chat = chat_of(job)?;
        let send = self.bot.send_message(chat, text);
        let send = match ReplyHandle::parse(&job.reply_handle).status_message_id {
            Some(id) => send.reply_parameters(reply_to(id)),
            None => send,
        };
        send.await.map(|_| ()).map_err(sink_error)
    }
}

/// Posts a delivered clip again into `chat` (replying to `reply`), by the
/// `file_id` Telegram gave the first upload: no second upload, whatever the
/// clip's size. For re-posts (`/clip 12`); a retried delivery does not come
/// here, [`ChatSink::post_clip`] finds its earlier post and stops.
pub async fn resend(
    bot: &TgBot,
    job: &Job,
    chat: ChatId,
    caption: &str,
    reply: Option<ReplyParameters>,
) -> Result<Receipt, SinkError> {
    let handle = ReplyHandle::parse(&job.reply_handle);
    let receipt = handle
        .clip
        .or_else(|| job.delivery_receipt.as_deref().and_then(Receipt::parse));
    let Some((file_id, as_document)) =
        receipt.and_then(|r| r.file_id.map(|id| (id, r.as_document)))
    else {
        return Err(SinkError(format!(
            "job #{} has no posted clip to send again",
            job.id
        )));
    };
    let file = InputFile::file_id(file_id.clone().into());
    let media = match as_document {
        false => Media::Video(file, None),
        true => Media::Document(file),
    };
    let sent = upload(bot, job, chat, media, caption, reply)
        .await
        .map_err(sink_error)?;
    Ok(Receipt {
        chat_id: chat.0,
        message_id: sent.id.0,
        file_id: Some(file_id),
        as_document,
    })
}

async fn upload(
    bot: &TgBot,
    job: &Job,
    chat: ChatId,
    media: Media,
    caption: &str,
    reply: Option<ReplyParameters>,
) -> Result<Message, RequestError> {
    let (send, action) = match media {
        Media::Video(file, size) => {
            let send = bot
                .send_video(chat, file)
                .caption(caption)
                .supports_streaming(true)
                .duration(job.duration_s)
                .reply_markup(keyboard::clip(job.id));
            let send = match size {
                Some(size) => send.width(size.width).height(size.height),
                None => send,
            };
            let send = match reply {
                Some(reply) => send.reply_parameters(reply),
                None => send,
            };
            (Box::pin(send.send()) as Upload<'_>, ChatAction::UploadVideo)
        }
        Media::Document(file) => {
            let send = bot
                .send_document(chat, file)
                .caption(caption)
                .reply_markup(keyboard::clip(job.id));
            let send = match reply {
                Some(reply) => send.reply_parameters(reply),
                None => send,
            };
            (
                Box::pin(send.send()) as Upload<'_>,
                ChatAction::UploadDocument,
            )
        }
    };
    // Shown before the upload starts, then renewed until it ends.
    let show = || bot.send_chat_action(chat, action);
    if let Err(error) = show().await {
        tracing::debug!(%error, "chat action failed");
    }
    let uploading = async {
        loop {
            tokio::time::sleep(CHAT_ACTION_EVERY).await;
            let _ = show().await;
        }
    };
    tokio::select! {
        sent = send => sent,
        () = uploading => unreachable!("the chat action loop never ends"),
    }
}

pub(crate) fn reply_to(message_id: i32) -> ReplyParameters {
    ReplyParameters::new(MessageId(message_id)).allow_sending_without_reply()
}

fn chat_of(job: &Job) -> Result<ChatId, SinkError> {
    job.chat_id.parse().map(ChatId).map_err(|_| {
        SinkError(format!(
            "job #{} has no Telegram chat id ({:?})",
            job.id, job.chat_id
        ))
    })
}

/// teloxide hides the token in network errors, so these can be logged.
fn sink_error(error: RequestError) -> SinkError {
    SinkError(format!("telegram: {error}"))
}
