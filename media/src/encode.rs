//! Rendered clip → MP4 file: H.264 (libx264, yuv420p) + AAC, faststart.

mod audio;
/// The rate of every clip's AAC track.
pub const CLIP_AUDIO_RATE: u32 = audio::SAMPLE_RATE;
pub(crate) mod video;

use std::path::{Path, PathBuf};

use ffmpeg_next::{format, Dictionary, Packet, Rational};

use crate::ffmpeg_setup;
use crate::frames::Rendered;
use audio::AudioTrack;
use video::VideoTrack;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// x264 constant rate factor, 0 (lossless) ..= 51; 23 by default.
    pub crf: u8,
    /// Caps the video bitrate (bits/s), to fit upload size limits.
    pub max_video_bitrate: Option<u64>,
    /// x264 preset, "veryfast" by default.
    pub preset: String,
    /// Written as the MP4 "comment" tag.
    pub comment: Option<String>,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            crf: 23,
            max_video_bitrate: None,
            preset: "veryfast".to_string(),
            comment: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodedClip {
    /// File size.
    pub bytes: u64,
    pub frames: u32,
    pub duration_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot encode this clip: {0}")]
    InvalidClip(String),
    #[error("invalid encode options: {0}")]
    InvalidOptions(String),
    #[error("FFmpeg has no {0} encoder (is it built with it?)")]
    EncoderNotFound(&'static str),
    #[error("cannot write {path}: {source}")]
    Output {
        path: PathBuf,
        source: ffmpeg_next::Error,
    },
    #[error("cannot read back {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Ffmpeg {
        context: &'static str,
        source: ffmpeg_next::Error,
    },
}

/// Adds what was being done to an FFmpeg error.
pub(crate) trait FfmpegContext<T> {
    fn context(self, context: &'static str) -> Result<T, EncodeError>;
}

impl<T> FfmpegContext<T> for Result<T, ffmpeg_next::Error> {
    fn context(self, context: &'static str) -> Result<T, EncodeError> {
        self.map_err(|source| EncodeError::Ffmpeg { context, source })
    }
}

const MAX_CRF: u8 = 51;

/// Keeps the MP4 a writer produced and returns its size in bytes, or removes
/// it when the writer failed, so no half-written file looks like a clip.
pub(crate) fn keep_or_remove<T, E>(
    out: &Path,
    written: Result<T, E>,
    io_error: impl FnOnce(std::io::Error) -> E,
) -> Result<(T, u64), E> {
    match written {
        Ok(value) => {
            let bytes = std::fs::metadata(out).map_err(io_error)?.len();
            Ok((value, bytes))
        }
        Err(error) => {
            if let Err(remove_error) = std::fs::remove_file(out) {
                tracing::warn!(path = %out.display(), %remove_error, "cannot remove partial mp4");
            }
            Err(error)
        }
    }
}

/// Encodes `clip` into an MP4 at `out` (created or overwritten). The audio
/// track is fitted to the video's length: padded with silence (or all
/// silence when the clip has none) or cut.
pub fn encode_mp4(
    clip: &Rendered,
    out: &Path,
    opts: &EncodeOptions,
) -> Result<EncodedClip, EncodeError> {
    check_clip(clip)?;
    if opts.crf > MAX_CRF {
        return Err(EncodeError::InvalidOptions(format!(
            "crf must be from 0 to {MAX_CRF}, got {}",
            opts.crf
        )));
    }
    ffmpeg_setup::init().context("initialising FFmpeg")?;
    let frames = clip.frames.len() as u32;
    let (width, height) = (clip.width, clip.height);
    tracing::debug!(path = %out.display(), frames, width, height, "encoding mp4");

    let octx = format::output_as(out, "mp4").map_err(|source| EncodeError::Output {
        path: out.to_path_buf(),
        source,
    })?;
    let written = write_tracks(octx, clip, opts, out);
    let ((), bytes) = keep_or_remove(out, written, |source| EncodeError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(EncodedClip {
        bytes,
        frames,
        duration_ms: u64::from(frames) * 1000 / u64::from(clip.fps),
    })
}

/// Sets up both tracks, encodes everything and finishes the file; `octx`
/// is closed when this returns.
fn write_tracks(
    mut octx: format::context::Output,
    clip: &Rendered,
    opts: &EncodeOptions,
    out: &Path,
) -> Result<(), EncodeError> {
    let output_error = |source| EncodeError::Output {
        path: out.to_path_buf(),
        source,
    };
    let frames = clip.frames.len() as u32;
    let mut video = VideoTrack::new(&mut octx, clip, opts)?;
    let mut audio = AudioTrack::new(&mut octx, &clip.audio, frames, clip.fps)?;
    if let Some(comment) = &opts.comment {
        let mut metadata = Dictionary::new();
        metadata.set("comment", comment);
        octx.set_metadata(metadata);
    }
    let mut header_options = Dictionary::new();
    // moov before mdat, so players can start before the whole file arrives.
    header_options.set("movflags", "+faststart");
    octx.write_header_with(header_options)
        .map_err(output_error)?;
    // The MP4 muxer picks its own stream time bases in write_header.
    let video_time_base = stream_time_base(&octx, video.stream_index)?;
    let audio_time_base = stream_time_base(&octx, audio.stream_index)?;

    let samples_per_second = u64::from(audio::SAMPLE_RATE);
    for (index, frame) in (0u32..).zip(&clip.frames) {
        video.write_frame(&mut octx, video_time_base, frame, index)?;
        // Keep audio up with the video written so far, so the muxer
        // interleaves as it goes instead of buffering a whole track.
        let video_end = u64::from(index + 1) * samples_per_second / u64::from(clip.fps);
        audio.write_until(&mut octx, audio_time_base, video_end)?;
    }
    video.finish(&mut octx, video_time_base)?;
    audio.finish(&mut octx, audio_time_base)?;
    octx.write_trailer().map_err(output_error)
}

fn check_clip(clip: &Rendered) -> Result<(), EncodeError> {
    let invalid = |message: String| Err(EncodeError::InvalidClip(message));
    for (field, value) in [("width", clip.width), ("height", clip.height)] {
        // yuv420p halves both sides for chroma, so they must be even.
        if !(2..=16384).contains(&value) || value % 2 != 0 {
            return invalid(format!(
                "{field} must be an even number from 2 to 16384, got {value}"
            ));
        }
    }
    if !(1..=1000).contains(&clip.fps) {
        return invalid(format!("fps must be from 1 to 1000, got {}", clip.fps));
    }
    if clip.frames.is_empty() {
        return invalid("it has no frames".to_string());
    }
    if i32::try_from(clip.frames.len()).is_err() {
        return invalid(format!("too many frames: {}", clip.frames.len()));
    }
    for (index, frame) in clip.frames.iter().enumerate() {
        if frame.width != clip.width || frame.height != clip.height || !frame.has_consistent_size()
        {
            return invalid(format!(
                "frame {index} is {}x{} with {} bytes, expected {}x{} RGB24 ({} bytes)",
                frame.width,
                frame.height,
                frame.data.len(),
                clip.width,
                clip.height,
                u64::from(clip.width) * u64::from(clip.height) * 3
            ));
        }
    }
    audio::check(&clip.audio)
}

fn stream_time_base(octx: &format::context::Output, index: usize) -> Result<Rational, EncodeError> {
    octx.stream(index)
        .map(|stream| stream.time_base())
        .ok_or(EncodeError::Ffmpeg {
            context: "reading stream time base after writing the header",
            source: ffmpeg_next::Error::StreamNotFound,
        })
}

/// Moves every packet the encoder has ready into the file, converting
/// timestamps from the encoder's time base to the stream's.
pub(crate) fn write_encoded_packets(
    encoder: &mut ffmpeg_next::encoder::Encoder,
    octx: &mut format::context::Output,
    stream_index: usize,
    encoder_time_base: Rational,
    stream_time_base: Rational,
    default_duration: i64,
) -> Result<(), EncodeError> {
    let mut packet = Packet::empty();
    loop {
        match encoder.receive_packet(&mut packet) {
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => return Ok(()),
            Err(ffmpeg_next::Error::Other { errno }) if errno == ffmpeg_next::error::EAGAIN => {
                return Ok(())
            }
            Err(source) => {
                return Err(EncodeError::Ffmpeg {
                    context: "receiving encoded packets",
                    source,
                })
            }
        }
        // libx264 and aac set durations in FFmpeg 5.1; should an encoder not,
        // the muxer would have to guess the last sample's and the stream
        // could come out a frame short.
        if packet.duration() <= 0 {
            packet.set_duration(default_duration);
        }
        packet.set_stream(stream_index);
        packet.rescale_ts(encoder_time_base, stream_time_base);
        packet.set_position(-1);
        packet
            .write_interleaved(octx)
            .context("writing a packet to the MP4")?;
    }
}
