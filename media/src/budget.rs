//! Encoding a clip to arrive within a platform's upload size on the first
//! try: the video bitrate is chosen from the byte budget and the clip's
//! length before encoding, the result is checked, and only a clip that
//! still came out too large is encoded again, lower.

use std::path::Path;

use crate::encode::{encode_mp4, EncodeError, EncodeOptions, EncodedClip};
use crate::frames::Rendered;

/// What the AAC track takes at most: stereo at the encoder's fixed 64 kbit/s
/// a channel, plus headroom for its rate control.
pub const AUDIO_BUDGET_BPS: u64 = 140_000;
/// A video bitrate below this makes mush; a budget that leaves less still
/// gets it, and the size check says whether that fitted.
pub const MIN_VIDEO_BPS: u64 = 16_000;
/// Share of the budget aimed at: the MP4 container, the manifest that is
/// signed in afterwards, and x264's rate control overshooting a little.
const AIM: f64 = 0.85;
/// Bytes kept free for the C2PA manifest signed in after encoding (a
/// manifest with one certificate is a few kB; an ingredient adds its own).
pub const SIGNING_ROOM: u64 = 64 * 1024;
/// Tries before giving up; each one aims lower by what the last overshot.
const MAX_ENCODES: u32 = 3;

/// The video bitrate cap (bits/s) that should keep a clip of `seconds`
/// within `limit_bytes`. x264's VBV buffer is twice the cap, which a short
/// clip can spend on top of the cap: it counts as two more seconds.
pub fn video_bitrate_for(limit_bytes: u64, seconds: f64) -> u64 {
    let budget = limit_bytes as f64 * 8.0 * AIM - AUDIO_BUDGET_BPS as f64 * seconds;
    let rate = budget / (seconds + 2.0);
    if rate.is_finite() && rate > MIN_VIDEO_BPS as f64 {
        rate as u64
    } else {
        MIN_VIDEO_BPS
    }
}

/// The result of [`encode_within`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fitted {
    pub clip: EncodedClip,
    /// Encodes made: 1 when the first one fitted.
    pub encodes: u32,
    /// Whether `clip` is within the budget (always, without one).
    pub fits: bool,
    /// The video bitrate cap of the last encode, when there was a budget.
    pub video_bitrate: Option<u64>,
}

/// Encodes `clip` to `out` within `limit_bytes` (no limit: `opts` as they
/// are). `opts.max_video_bitrate`, when set, stays an upper bound.
pub fn encode_within(
    clip: &Rendered,
    out: &Path,
    opts: &EncodeOptions,
    limit_bytes: Option<u64>,
) -> Result<Fitted, EncodeError> {
    let Some(limit) = limit_bytes else {
        let encoded = encode_mp4(clip, out, opts)?;
        return Ok(Fitted {
            clip: encoded,
            encodes: 1,
            fits: true,
            video_bitrate: opts.max_video_bitrate,
        });
    };
    if limit == 0 {
        return Err(EncodeError::InvalidOptions(
            "the size budget must be above 0 bytes".into(),
        ));
    }
    let seconds = clip.frames.len() as f64 / f64::from(clip.fps.max(1));
    let mut rate = video_bitrate_for(limit, seconds);
    if let Some(cap) = opts.max_video_bitrate {
        rate = rate.min(cap);
    }
    let mut encodes = 0;
    loop {
        let try_opts = EncodeOptions {
            max_video_bitrate: Some(rate),
            ..opts.clone()
        };
        let encoded = encode_mp4(clip, out, &try_opts)?;
        encodes += 1;
        let fits = encoded.bytes.saturating_add(SIGNING_ROOM) <= limit;
        if fits || encodes >= MAX_ENCODES || rate <= MIN_VIDEO_BPS {
            if !fits {
                tracing::warn!(
                    bytes = encoded.bytes,
                    limit,
                    encodes,
                    "clip still over its size budget"
                );
            }
            return Ok(Fitted {
                clip: encoded,
                encodes,
                fits,
                video_bitrate: Some(rate),
            });
        }
        // Aim lower by the overshoot, and a tenth more.
        let over = encoded.bytes as f64 / (limit as f64 * AIM);
        let next = (rate as f64 / over * 0.9) as u64;
        tracing::info!(
            bytes = encoded.bytes,
            limit,
            rate,
            next,
            "first encode over the size budget; encoding again lower"
        );
        rate = next.max(MIN_VIDEO_BPS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bitrate_leaves_room_for_audio_and_the_buffer() {
        // 50 MB over 10 s: about 27 Mbit/s for the video.
        let rate = video_bitrate_for(50_000_000, 10.0);
        assert!((27_000_000..29_000_000).contains(&rate), "{rate}");
        assert!(rate * 12 + AUDIO_BUDGET_BPS * 10 <= 50_000_000 * 8);
        // 10 MiB over 5 s: (0.85 × 83.9 Mbit − 5 s of audio) / 7 s, about
        // 10.1 Mbit/s.
        let rate = video_bitrate_for(10 * 1024 * 1024, 5.0);
        assert!((9_900_000..10_300_000).contains(&rate), "{rate}");
        assert!(rate * 7 + AUDIO_BUDGET_BPS * 5 <= 10 * 1024 * 1024 * 8);
        // Nothing left after the audio: the floor.
        assert_eq!(video_bitrate_for(1_000, 5.0), MIN_VIDEO_BPS);
        assert_eq!(video_bitrate_for(0, 0.0), MIN_VIDEO_BPS);
    }
}
