//! What the bots say about a picture sent with `/video`.

use reel_media::PictureError;

use super::megabytes;

/// Telegram's `/video` caption on a photo, Discord's `image` option.
pub const IMAGE_OPTION_ABOUT: &str = "A PNG or JPEG picture to start the clip from (no faces)";

pub fn too_large(bytes: u64, limit_bytes: u64) -> String {
    format!(
        "That picture is {}, over the {} limit. Nothing was queued.",
        megabytes(bytes),
        megabytes(limit_bytes)
    )
}

pub fn not_accepted(error: &PictureError) -> String {
    let why = match error {
        PictureError::Unsupported(format) => {
            format!("That picture is a {format}; send a PNG or JPEG.")
        }
        PictureError::NotAPicture => "That file is not a picture; send a PNG or JPEG.".into(),
        PictureError::Damaged => {
            "That picture could not be read (it is cut short or damaged).".into()
        }
        PictureError::TooLarge { width, height, max } => {
            format!("That picture is {width}×{height}; pictures up to {max}×{max} are accepted.")
        }
    };
    format!("{why} Nothing was queued.")
}

/// A declared type that is not PNG or JPEG, refused before the download.
pub fn wrong_type(declared: &str) -> String {
    format!(
        "That file is {}; only PNG and JPEG pictures can start a clip. Nothing was queued.",
        super::printable(declared, 40)
    )
}

pub const HAS_A_FACE: &str = "That picture shows a face. A real person only appears in a clip \
    with their consent, through their cameo: see /cameo. Send a picture without people, or \
    use cameo:NAME. Nothing was queued.";

pub const WITH_CAMEO: &str = "A clip starts either from your picture or from a cameo's face, not \
    both: send the picture without cameo:, or the cameo without a picture. Nothing was queued.";

pub const UNAVAILABLE: &str = "Pictures can't be checked right now, so they are not accepted; \
    send /video without one, or try again later. Nothing was queued.";

pub const DOWNLOAD_FAILED: &str =
    "I could not download that picture; please send it again. Nothing was queued.";
