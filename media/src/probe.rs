//! What is inside a media file, read by demuxing it with FFmpeg. Also how
//! broken or non-video files are told apart from usable ones.

mod mp4_boxes;

use std::path::{Path, PathBuf};

use ffmpeg_next::{codec, format, media, Packet, Rational};

use crate::ffmpeg_setup;

#[derive(Clone, Debug, PartialEq)]
pub struct ClipInfo {
    /// FFmpeg's codec name, e.g. "h264".
    pub video_codec: String,
    /// e.g. "yuv420p".
    pub pixel_format: String,
    pub width: u32,
    pub height: u32,
    /// Average frame rate.
    pub fps: f64,
    /// Video packets actually demuxed.
    pub frames: u32,
    pub duration_ms: u64,
    /// The video and audio streams' own durations, when the container states them.
    pub video_duration_ms: Option<u64>,
    pub audio_duration_ms: Option<u64>,
    /// e.g. "aac"; `None` without an audio stream.
    pub audio_codec: Option<String>,
    pub audio_sample_rate: Option<u32>,
    /// `moov` box before `mdat` among the file's top-level boxes.
    pub faststart: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot initialise FFmpeg: {0}")]
    Init(ffmpeg_next::Error),
    #[error("{path} is not a readable media file: {source}")]
    Open {
        path: PathBuf,
        source: ffmpeg_next::Error,
    },
    #[error("{path} has no video stream")]
    NoVideo { path: PathBuf },
    #[error("{path} is text ({format}), not video")]
    Text { path: PathBuf, format: String },
    #[error("{path}: cannot decode its video stream ({codec}): {source}")]
    UnsupportedVideo {
        path: PathBuf,
        codec: String,
        source: ffmpeg_next::Error,
    },
    #[error("{path} is damaged: reading packets failed after {frames} video frames: {source}")]
    Corrupt {
        path: PathBuf,
        frames: u32,
        source: ffmpeg_next::Error,
    },
    #[error(
        "{path} is truncated: the index lists {expected} video frames, only {found} could be read"
    )]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u32,
    },
    #[error("{path} has a video stream without any frames")]
    NoFrames { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// FFmpeg demuxers that render text files (ASCII/ANSI art and the like) as
/// "video"; a text file must not pass as a clip.
const TEXT_DEMUXERS: &[&str] = &["tty", "bin", "xbin", "adf", "idf"];

/// Facts about the best video stream (and audio stream, if any), read
/// before demuxing.
struct StreamFacts {
    video_index: usize,
    video_codec: String,
    pixel_format: String,
    width: u32,
    height: u32,
    fps: f64,
    declared_frames: u64,
    video_duration_ms: Option<u64>,
    audio_duration_ms: Option<u64>,
    audio_codec: Option<String>,
    audio_sample_rate: Option<u32>,
}

pub fn probe(path: &Path) -> Result<ClipInfo, ProbeError> {
    ffmpeg_setup::init().map_err(ProbeError::Init)?;
    let mut input = format::input(path).map_err(|source| ProbeError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let format_name = input.format().name().to_string();
    if TEXT_DEMUXERS.contains(&format_name.as_str()) {
        return Err(ProbeError::Text {
            path: path.to_path_buf(),
            format: format_name,
        });
    }
    let facts = stream_facts(&input, path)?;
    let frames = count_video_packets(&mut input, facts.video_index, path)?;
    if facts.declared_frames > 0 && u64::from(frames) < facts.declared_frames {
        return Err(ProbeError::Truncated {
            path: path.to_path_buf(),
            expected: facts.declared_frames,
            found: frames,
        });
    }
    if frames == 0 {
        return Err(ProbeError::NoFrames {
            path: path.to_path_buf(),
        });
    }
    let faststart = mp4_boxes::moov_before_mdat(path).map_err(|source| ProbeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let duration_ms = container_duration_ms(&input)
        .or(facts.video_duration_ms)
        .unwrap_or(0);
    Ok(ClipInfo {
        video_codec: facts.video_codec,
        pixel_format: facts.pixel_format,
        width: facts.width,
        height: facts.height,
        fps: facts.fps,
        frames,
        duration_ms,
        video_duration_ms: facts.video_duration_ms,
        audio_duration_ms: facts.audio_duration_ms,
        audio_codec: facts.audio_codec,
        audio_sample_rate: facts.audio_sample_rate,
        faststart,
    })
}

fn stream_facts(input: &format::context::Input, path: &Path) -> Result<StreamFacts, ProbeError> {
    let video = input
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| ProbeError::NoVideo {
            path: path.to_path_buf(),
        })?;
    let video_codec = video.parameters().id().name().to_string();
    // Opening a decoder is the safe way to read size and pixel format, and
    // proves FFmpeg can decode the stream at all.
    let decoder = codec::context::Context::from_parameters(video.parameters())
        .and_then(|context| context.decoder().video())
        .map_err(|source| ProbeError::UnsupportedVideo {
            path: path.to_path_buf(),
            codec: video_codec.clone(),
            source,
        })?;
    let pixel_format = decoder
        .format()
        .descriptor()
        .map_or_else(|| "unknown".to_string(), |d| d.name().to_string());
    let fps = [video.avg_frame_rate(), video.rate()]
        .into_iter()
        .find(|rate| rate.numerator() > 0 && rate.denominator() > 0)
        .map_or(0.0, f64::from);
    let video_duration_ms = to_ms(video.duration(), video.time_base());

    let audio = input.streams().best(media::Type::Audio);
    let audio_codec = audio
        .as_ref()
        .map(|stream| stream.parameters().id().name().to_string());
    let audio_duration_ms = audio
        .as_ref()
        .and_then(|stream| to_ms(stream.duration(), stream.time_base()));
    let audio_sample_rate = audio.and_then(|stream| {
        codec::context::Context::from_parameters(stream.parameters())
            .and_then(|context| context.decoder().audio())
            .ok()
            .map(|decoder| decoder.rate())
    });
    Ok(StreamFacts {
        video_index: video.index(),
        video_codec,
        pixel_format,
        width: decoder.width(),
        height: decoder.height(),
        fps,
        declared_frames: u64::try_from(video.frames()).unwrap_or(0),
        video_duration_ms,
        audio_duration_ms,
        audio_codec,
        audio_sample_rate,
    })
}

/// Demuxes the whole file, counting the video stream's packets. Unlike
/// ffmpeg-next's packet iterator, read errors are reported, not swallowed.
fn count_video_packets(
    input: &mut format::context::Input,
    video_index: usize,
    path: &Path,
) -> Result<u32, ProbeError> {
    let mut frames = 0u32;
    let mut packet = Packet::empty();
    loop {
        match packet.read(input) {
            Ok(()) => {
                if packet.stream() == video_index {
                    frames = frames.saturating_add(1);
                }
            }
            Err(ffmpeg_next::Error::Eof) => return Ok(frames),
            Err(source) => {
                return Err(ProbeError::Corrupt {
                    path: path.to_path_buf(),
                    frames,
                    source,
                })
            }
        }
    }
}

fn container_duration_ms(input: &format::context::Input) -> Option<u64> {
    let micros = input.duration();
    // AV_NOPTS_VALUE (i64::MIN) when unknown.
    (micros > 0).then(|| (micros as u64 + 500) / 1000)
}

fn to_ms(ticks: i64, time_base: Rational) -> Option<u64> {
    if ticks <= 0 || time_base.denominator() <= 0 || time_base.numerator() <= 0 {
        return None;
    }
    let ms = i128::from(ticks) * i128::from(time_base.numerator()) * 1000
        / i128::from(time_base.denominator());
    u64::try_from(ms).ok()
}
