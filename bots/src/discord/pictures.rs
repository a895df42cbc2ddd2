//! `/video`'s `image` attachment: its declared size and content type are
//! checked by the core before anything is downloaded; the download is
//! capped at the core's limit and held in memory; the core checks the rest.

use serenity::model::channel::Attachment;

use super::Deps;
use crate::core::{wording, PictureOffer, Reply, Requester, VideoRequest};

/// The refusal, if the attachment may not even be downloaded.
pub fn refusal(deps: &Deps, file: &Attachment) -> Option<String> {
    let offer = PictureOffer {
        declared_bytes: Some(u64::from(file.size)),
        declared_type: file.content_type.as_deref(),
    };
    deps.core.picture_offer(&offer).err()
}

/// Downloads the picture and asks the core for the clip.
pub async fn video_with(
    deps: &Deps,
    from: &Requester,
    request: &VideoRequest,
    file: &Attachment,
) -> Reply {
    let limit = deps.core.max_upload_bytes();
    match fetch(&file.url, limit).await {
        Ok(bytes) => deps.core.video_with_picture(from, request, &bytes).await,
        Err(FetchError::TooLarge(bytes)) => {
            Reply::refused(wording::picture::too_large(bytes, limit))
        }
        Err(error) => {
            tracing::warn!(%error, "could not download a /video picture");
            Reply::refused(wording::picture::DOWNLOAD_FAILED)
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0} bytes, over the limit")]
    TooLarge(u64),
    #[error("download: {0}")]
    Http(#[from] reqwest::Error),
}

async fn fetch(url: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
    let mut response = reqwest::get(url).await?.error_for_status()?;
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(FetchError::TooLarge((bytes.len() + chunk.len()) as u64));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
