//! What chat users send, decoded for the consent checks: speech as 16 kHz
//! mono f32 ([`decode_speech`]) and video as frames sampled at a fixed rate
//! ([`sample_frames`]). Telegram video notes and videos (MP4/H.264+AAC),
//! voice notes (OGG/Opus), Discord attachments (MP4, MOV, WebM/VP9+Opus,
//! M4A, MP3); stills go through [`crate::read_image`].
//!
//! Nothing is trusted: the file size, the stream headers (duration, frame
//! size) and then every decoded frame are checked against [`DecodeLimits`]
//! before memory is spent on them, so a small file claiming hours of audio
//! or a huge frame is refused early, and one whose headers lie is stopped
//! as soon as the decoded data passes the limit.

mod audio;
mod video;

use std::path::{Path, PathBuf};

use ffmpeg_next::{format, media, Rational};

pub use audio::{decode_mono, decode_speech, Speech, SPEECH_SAMPLE_RATE};
pub use video::{sample_frames, SampledFrame};

/// Bounds on what one file may make the decoder do.
///
/// Memory: speech holds at most `max_seconds × 16 000 × 4` bytes (7.7 MB at
/// 120 s) plus one decoded packet; sampled video holds at most
/// `max_frames × frame_max_side² × 3` bytes of RGB (32 × 960² × 3 = 88 MB
/// by default) plus FFmpeg's reference frames for one stream of at most
/// `max_video_pixels` (H.264 keeps up to 16: ≈ 200 MB at 3840×2160 yuv420).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeLimits {
    /// Larger files are refused before they are opened.
    pub max_file_bytes: u64,
    /// Longer media is refused: from the header, then while decoding.
    pub max_seconds: f64,
    /// Larger coded video frames are refused: from the header, then per
    /// decoded frame.
    pub max_video_pixels: u64,
    /// Frames sampled per second of video.
    pub frame_rate: f64,
    /// At most this many frames are sampled (the first ones).
    pub max_frames: usize,
    /// Sampled frames are scaled so their longer side is at most this.
    pub frame_max_side: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_file_bytes: 64 * 1024 * 1024,
            max_seconds: 120.0,
            max_video_pixels: 3840 * 2160,
            frame_rate: 2.0,
            max_frames: 32,
            frame_max_side: 960,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot initialise FFmpeg: {0}")]
    Init(ffmpeg_next::Error),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is empty (0 bytes)")]
    Empty { path: PathBuf },
    #[error("{path} is {bytes} bytes; files up to {max} bytes are accepted")]
    FileTooLarge { path: PathBuf, bytes: u64, max: u64 },
    #[error("{path} is not a media file FFmpeg can read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path} has no audio track")]
    NoAudio { path: PathBuf },
    #[error("{path} has no video track")]
    NoVideo { path: PathBuf },
    #[error("{path}: cannot decode its {kind} track ({codec}): {reason}")]
    Unsupported {
        path: PathBuf,
        kind: &'static str,
        codec: String,
        reason: String,
    },
    #[error("{path} lasts {seconds:.1} s; up to {max:.0} s are accepted")]
    TooLong {
        path: PathBuf,
        seconds: f64,
        max: f64,
    },
    #[error("{path} has {width}×{height} video frames; up to {max} pixels per frame are accepted")]
    FrameTooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        max: u64,
    },
    #[error("{path} is damaged: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "{path} is truncated: its header promises {declared:.1} s, only {decoded:.1} s decode"
    )]
    Truncated {
        path: PathBuf,
        declared: f64,
        decoded: f64,
    },
    #[error("{path} has a {kind} track without any decodable {kind}")]
    Nothing { path: PathBuf, kind: &'static str },
    #[error("{path} is silent (peak {peak_dbfs:.0} dBFS)")]
    Silent { path: PathBuf, peak_dbfs: f64 },
}

/// Checks the file's size, opens it, and refuses what is too long by its
/// header.
fn open(path: &Path, limits: &DecodeLimits) -> Result<format::context::Input, DecodeError> {
    crate::ffmpeg_setup::init().map_err(DecodeError::Init)?;
    let bytes = std::fs::metadata(path)
        .map_err(|source| DecodeError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if bytes == 0 {
        return Err(DecodeError::Empty {
            path: path.to_path_buf(),
        });
    }
    if bytes > limits.max_file_bytes {
        return Err(DecodeError::FileTooLarge {
            path: path.to_path_buf(),
            bytes,
            max: limits.max_file_bytes,
        });
    }
    let input = format::input(path).map_err(|e| DecodeError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    // Text "video" demuxers (ANSI art and the like) are no upload.
    if ["tty", "bin", "xbin", "adf", "idf"].contains(&input.format().name()) {
        return Err(DecodeError::Unreadable {
            path: path.to_path_buf(),
            reason: format!("it is text ({})", input.format().name()),
        });
    }
    if let Some(seconds) = declared_seconds(&input) {
        if seconds > limits.max_seconds {
            return Err(DecodeError::TooLong {
                path: path.to_path_buf(),
                seconds,
                max: limits.max_seconds,
            });
        }
    }
    Ok(input)
}

/// The longest duration the container or any of its streams declares.
fn declared_seconds(input: &format::context::Input) -> Option<f64> {
    let container = (input.duration() > 0).then(|| input.duration() as f64 / 1e6);
    input
        .streams()
        .filter(|s| {
            matches!(
                s.parameters().medium(),
                media::Type::Audio | media::Type::Video
            )
        })
        .filter_map(|s| seconds(s.duration(), s.time_base()))
        .chain(container)
        .reduce(f64::max)
}

fn seconds(ticks: i64, time_base: Rational) -> Option<f64> {
    (ticks > 0 && time_base.numerator() > 0 && time_base.denominator() > 0)
        .then(|| ticks as f64 * f64::from(time_base))
}

/// An FFmpeg failure while reading or decoding, in words.
fn corrupt(path: &Path, what: &str, e: ffmpeg_next::Error) -> DecodeError {
    DecodeError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    }
}
