//! A clip as a Discord attachment.

use bytes::Bytes;
use serenity::all::CreateAttachment;

/// `reel-<job>.mp4`: an MP4 attachment plays inline.
pub fn attachment(job_id: i64, data: &Bytes) -> CreateAttachment {
    CreateAttachment::bytes(data.to_vec(), crate::core::wording::clip_file_name(job_id))
}
