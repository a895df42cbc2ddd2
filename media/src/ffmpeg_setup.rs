//! One-time FFmpeg initialisation shared by encoding and probing.

use std::sync::OnceLock;

static INIT: OnceLock<Result<(), ffmpeg_next::Error>> = OnceLock::new();

/// Initialises FFmpeg once per process; later calls return the first result.
pub(crate) fn init() -> Result<(), ffmpeg_next::Error> {
    *INIT.get_or_init(|| {
        ffmpeg_next::init()?;
        // FFmpeg logs to stderr on its own; keep it to real errors (libx264
        // otherwise prints its banner and stats for every clip).
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
        Ok(())
    })
}
