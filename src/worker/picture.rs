//! A picture sent with `/video` (stored with the job by the command core,
//! checked there) becomes the first frame. A cameo's face, should a job
//! have both, wins; the core refuses the combination at intake anyway.

use reel_engine::RgbImage;
use reel_store::{Job, RenderFailure, Store};

pub(super) async fn load(store: &Store, job: &Job) -> Result<Option<RgbImage>, RenderFailure> {
    let picture = match store.job_picture(job.id).await {
        Ok(Some(picture)) => picture,
        Ok(None) => return Ok(None),
        Err(error) => {
            tracing::warn!(job = job.id, %error, "cannot read the job's picture; later");
            return Err(RenderFailure::Retry(
                "the picture could not be read yet".into(),
            ));
        }
    };
    match reel_media::decode_picture(picture.bytes()) {
        Ok(image) => Ok(Some(image)),
        Err(error) => {
            tracing::error!(job = job.id, %error, "a stored picture does not decode");
            Err(RenderFailure::Fatal(
                "the picture sent with the request could not be read".into(),
            ))
        }
    }
}
