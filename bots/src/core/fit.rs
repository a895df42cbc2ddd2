//! Fitting a finished clip under a platform's upload limit: re-encode it at
//! a bitrate that should fit, then smaller, checking the real size after
//! each try. Adapters decide what to do with a clip that still does not fit
//! (another upload method, or saying so); they do not pick bitrates.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use reel_media::{reencode_mp4, video_bitrate_for, EncodeOptions, ReencodeError, ReencodeOptions};

use super::ClipFile;

/// A video bitrate below this makes mush; tries still go ahead, smaller.
const MIN_VIDEO_BPS: u64 = reel_media::MIN_VIDEO_BPS;

/// Signs a re-encode with the clip it came from as its ingredient (C2PA).
pub trait ReencodeSigner: Send + Sync {
    fn sign_reencoded(
        &self,
        original: &Path,
        reencoded: &Path,
        output: &Path,
    ) -> Result<(), String>;
}

static REENCODE_SIGNER: OnceLock<Arc<dyn ReencodeSigner>> = OnceLock::new();

/// Installed once at start when clips are signed: from then on every
/// re-encode is signed before it can be posted.
pub fn sign_reencodes_with(signer: Arc<dyn ReencodeSigner>) {
    if REENCODE_SIGNER.set(signer).is_err() {
        tracing::debug!("a re-encode signer was already installed");
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("cannot re-encode the clip: {0}")]
    Reencode(#[from] ReencodeError),
    #[error("cannot read the clip to re-encode it: {0}")]
    Probe(#[from] reel_media::ProbeError),
    #[error("re-encoding the clip: {0}")]
    Io(#[from] std::io::Error),
    #[error("the re-encode task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("cannot sign the re-encoded clip: {0}")]
    Sign(String),
}

/// The result of fitting a clip.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest clip made.
    pub data: Bytes,
    /// Whether it is within the limit.
    pub fits: bool,
    /// The frame size of `data` (a smaller try also scales the picture down).
    pub width: u32,
    pub height: u32,
}

/// Re-encodes `clip` (over `limit_bytes`) until it fits: first at a capped
/// bitrate, then also at half and a quarter of the size. Runs FFmpeg on the
/// blocking pool.
pub async fn shrink_to_fit(clip: &ClipFile, limit_bytes: u64) -> Result<Shrunk, FitError> {
    let data = clip.data.clone();
    let local = clip.local_path.clone();
    tokio::task::spawn_blocking(move || shrink_blocking(&data, local.as_deref(), limit_bytes))
        .await?
}

fn shrink_blocking(
    data: &Bytes,
    local: Option<&Path>,
    limit_bytes: u64,
) -> Result<Shrunk, FitError> {
    let dir = tempfile::tempdir()?;
    let input = match local {
        Some(path) if path.exists() => path.to_path_buf(),
        _ => {
            let path = dir.path().join("clip.mp4");
            std::fs::write(&path, data)?;
            path
        }
    };
    let info = reel_media::probe(&input)?;
    let seconds = Duration::from_millis(info.duration_ms.max(100)).as_secs_f64();
    let longest = info.width.max(info.height);
    let rate = video_bitrate_for(limit_bytes, seconds);
    let tries = [
        (rate, None, 26),
        (rate / 2, Some(longest / 2), 30),
        (rate / 4, Some(longest / 4), 34),
    ];
    let mut smallest = data.clone();
    let mut size = (info.width, info.height);
    for (n, (bitrate, max_side, crf)) in tries.into_iter().enumerate() {
        let output = dir.path().join(format!("fit-{n}.mp4"));
        let options = ReencodeOptions {
            encode: EncodeOptions {
                crf,
                max_video_bitrate: Some(bitrate.max(MIN_VIDEO_BPS / 2)),
                ..EncodeOptions::default()
            },
            max_side: max_side.filter(|side| *side >= 32),
        };
        let mut made = reencode_mp4(&input, &output, &options)?;
        let output = match REENCODE_SIGNER.get() {
            Some(signer) => {
                let signed = dir.path().join(format!("fit-{n}-signed.mp4"));
                signer
                    .sign_reencoded(&input, &output, &signed)
                    .map_err(FitError::Sign)?;
                made.bytes = std::fs::metadata(&signed)?.len();
                signed
            }
            None => output,
        };
        tracing::info!(
            try_ = n + 1,
            bytes = made.bytes,
            limit = limit_bytes,
            bitrate,
            ?max_side,
            "re-encoded a clip to fit an upload limit"
        );
        if made.bytes < smallest.len() as u64 {
            smallest = Bytes::from(std::fs::read(&output)?);
            let made_info = reel_media::probe(&output)?;
            size = (made_info.width, made_info.height);
        }
        if made.bytes <= limit_bytes {
            return Ok(Shrunk {
                data: smallest,
                fits: true,
                width: size.0,
                height: size.1,
            });
        }
    }
    Ok(Shrunk {
        data: smallest,
        fits: false,
        width: size.0,
        height: size.1,
    })
}
