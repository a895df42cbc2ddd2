//! A clip as a Discord attachment, under the upload limit the interaction
//! reported: as it is, or re-encoded smaller by the core's rule, or not at
//! all (then the text that says so).

use bytes::Bytes;
use serenity::all::CreateAttachment;

use crate::core::{fit, wording, ClipFile};

/// The clip to upload and its caption, or the message to post instead.
pub async fn fit_clip(
    job_id: i64,
    clip: &ClipFile,
    caption: &str,
    limit: u64,
) -> Result<(Bytes, String), String> {
    let size = clip.data.len() as u64;
    if size <= limit {
        return Ok((clip.data.clone(), caption.into()));
    }
    match fit::shrink_to_fit(clip, limit).await {
        Ok(shrunk) if shrunk.fits => Ok((shrunk.data, wording::shrunk_caption(caption, limit))),
        Ok(shrunk) => Err(wording::too_large_to_post(
            job_id,
            shrunk.data.len() as u64,
            limit,
        )),
        Err(error) => {
            tracing::warn!(job = job_id, %error, "could not re-encode the clip smaller");
            Err(wording::too_large_to_post(job_id, size, limit))
        }
    }
}

/// `reel-<job>.mp4`: an MP4 attachment plays inline.
pub fn attachment(job_id: i64, data: &Bytes) -> CreateAttachment {
    CreateAttachment::bytes(data.to_vec(), format!("reel-{job_id}.mp4"))
}
