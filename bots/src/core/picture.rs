//! A picture sent with `/video` becomes the clip's first frame. Checked
//! here once for every chat, cheapest first, and every refusal changes
//! nothing: the declared size and type before the adapter downloads
//! ([`CommandCore::picture_offer`]), then the request itself, the actual
//! size, the format by content and the header's dimensions before
//! decoding, the decode (`reel_media::decode_picture`), and the
//! [`FaceScreen`]: a picture showing a face is refused, since a picture is
//! a way to put a real person into a clip without their consent (cameos
//! are the way in, with it). Only the re-encoded pixels are stored.

use std::sync::Arc;

use async_trait::async_trait;
use reel_media::{decode_picture, encode_png, PictureError, RgbImage};
use reel_store::JobPicture;

use super::command::{self, UsageError, VideoRequest};
use super::reply::Reply;
use super::service::{answered, CommandCore, Requester};
use super::wording::picture as words;

/// What the adapter knows of an attachment before downloading it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PictureOffer<'a> {
    /// The size the platform reports, if it does.
    pub declared_bytes: Option<u64>,
    /// The MIME type the platform reports, if it does.
    pub declared_type: Option<&'a str>,
}

/// The face check could not run (its models are missing or failed); the
/// operator's log says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the face check is unavailable")]
pub struct ScreenUnavailable;

/// Counts the faces in a picture (the face models behind cameo
/// registration; tests use a stand-in).
#[async_trait]
pub trait FaceScreen: Send + Sync {
    async fn faces(&self, image: Arc<RgbImage>) -> Result<usize, ScreenUnavailable>;
}

/// Why a picture was not taken, worded for the user.
struct Refused(String);

impl CommandCore {
    /// Enables pictures with `/video`: `screen` looks for faces. Without
    /// one every picture is refused (never accepted unchecked).
    pub fn with_face_screen(mut self, screen: Arc<dyn FaceScreen>) -> Self {
        self.face_screen = Some(screen);
        self
    }

    /// Whether an attachment may be downloaded at all; `Err` is the refusal
    /// to show.
    pub fn picture_offer(&self, offer: &PictureOffer<'_>) -> Result<(), String> {
        if let Some(bytes) = offer.declared_bytes.filter(|b| *b > self.max_upload_bytes) {
            return Err(words::too_large(bytes, self.max_upload_bytes));
        }
        match offer.declared_type.map(|t| t.trim().to_ascii_lowercase()) {
            None => Ok(()),
            Some(t) if matches!(t.as_str(), "image/png" | "image/jpeg" | "image/jpg") => Ok(()),
            Some(_) => Err(words::wrong_type(offer.declared_type.unwrap_or_default())),
        }
    }

    /// `/video` with a picture, downloaded by the adapter (at most
    /// [`max_upload_bytes`](Self::max_upload_bytes)).
    pub async fn video_with_picture(
        &self,
        from: &Requester,
        request: &VideoRequest,
        bytes: &[u8],
    ) -> Reply {
        let video = match command::validate(request, self.settings()) {
            Ok(video) => video,
            Err(UsageError(message)) => return Reply::refused(message),
        };
        if !video.cameo_ids.is_empty() {
            return Reply::refused(words::WITH_CAMEO);
        }
        let picture = match self.check_picture(bytes).await {
            Ok(picture) => picture,
            Err(Refused(text)) => return Reply::refused(text),
        };
        tracing::info!(
            platform = %from.platform,
            bytes = picture.bytes().len(),
            "a /video picture passed its checks"
        );
        answered(from, self.enqueue(from, video, Some(picture)).await)
    }

    async fn check_picture(&self, bytes: &[u8]) -> Result<JobPicture, Refused> {
        let limit = self.max_upload_bytes;
        if bytes.len() as u64 > limit {
            return Err(Refused(words::too_large(bytes.len() as u64, limit)));
        }
        let Some(screen) = self.face_screen.clone() else {
            return Err(Refused(words::UNAVAILABLE.into()));
        };
        let data = bytes.to_vec();
        // Decoding is CPU work: off the async threads.
        let decoded = tokio::task::spawn_blocking(move || decode_picture(&data))
            .await
            .unwrap_or(Err(PictureError::Damaged));
        let image = Arc::new(decoded.map_err(|e| Refused(words::not_accepted(&e)))?);
        match screen.faces(image.clone()).await {
            Ok(0) => {}
            Ok(_) => return Err(Refused(words::HAS_A_FACE.into())),
            Err(ScreenUnavailable) => return Err(Refused(words::UNAVAILABLE.into())),
        }
        let png = encode_png(&image).map_err(|e| Refused(words::not_accepted(&e)))?;
        Ok(JobPicture::new(png))
    }
}
