//! Fitting a finished clip under a platform's upload limit: re-encode it at
//! a bitrate that should fit, then smaller, checking the real size after
//! each try. Adapters decide what to do with a clip that still does not fit
//! (another upload method, or saying so); they do not pick bitrates.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use reel_media::{reencode_mp4, EncodeOptions, ReencodeError, ReencodeOptions};

use super::ClipFile;

/// Bits the AAC track may take per second (stereo at 64 kbit/s a channel,
/// as `reel_engine` encodes it), plus headroom.
const AUDIO_BPS: u64 = 140_000;
/// A video bitrate below this makes mush; tries still go ahead, smaller.
const MIN_VIDEO_BPS: u64 = 16_000;
/// Share of the limit the tries aim for: the container and x264's rate
/// control overshooting a little.
const AIM: f64 = 0.85;

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
    let rate = video_bitrate(limit_bytes, seconds);
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
        let made = reencode_mp4(&input, &output, &options)?;
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

/// The video bitrate cap (bits/s) that should keep a clip of `seconds`
/// within `limit_bytes`. x264's VBV buffer is twice the cap, which a short
/// clip can spend on top of the cap: it counts as two more seconds.
fn video_bitrate(limit_bytes: u64, seconds: f64) -> u64 {
    let budget = limit_bytes as f64 * 8.0 * AIM - AUDIO_BPS as f64 * seconds;
    let rate = budget / (seconds + 2.0);
    if rate.is_finite() && rate > MIN_VIDEO_BPS as f64 {
        rate as u64
    } else {
        MIN_VIDEO_BPS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bitrate_leaves_room_for_audio_and_the_buffer() {
        // 50 MB over 10 s: about 27 Mbit/s for the video.
        let rate = video_bitrate(50_000_000, 10.0);
        assert!((27_000_000..29_000_000).contains(&rate), "{rate}");
        assert!(rate * 12 + AUDIO_BPS * 10 <= 50_000_000 * 8);
        // Nothing left after the audio: the floor.
        assert_eq!(video_bitrate(1_000, 5.0), MIN_VIDEO_BPS);
        assert_eq!(video_bitrate(0, 0.0), MIN_VIDEO_BPS);
    }
}
