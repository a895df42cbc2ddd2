//! An MP4 → a smaller MP4: the video is decoded and encoded again with
//! libx264 (optionally capped in bitrate and scaled down), the audio is
//! copied as it is. Used to fit a clip under a chat platform's upload limit.

use std::path::{Path, PathBuf};

use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::util::color;
use ffmpeg_next::{codec, format, frame, media, Dictionary, Packet, Rational};

use crate::encode::video::x264_options;
use crate::encode::{keep_or_remove, write_encoded_packets, EncodeOptions, EncodedClip};
use crate::ffmpeg_setup;

/// How to re-encode.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ReencodeOptions {
    /// crf, preset and `max_video_bitrate` for the new video track.
    pub encode: EncodeOptions,
    /// Longest side of the output; the aspect ratio is kept and sides are
    /// rounded down to even numbers. `None` keeps the size.
    pub max_side: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReencodeError {
    #[error("invalid re-encode options: {0}")]
    InvalidOptions(String),
    #[error("{path} is not a readable media file: {source}")]
    Open {
        path: PathBuf,
        source: ffmpeg_next::Error,
    },
    #[error("{path} has no video stream")]
    NoVideo { path: PathBuf },
    #[error("{path} has a video stream without any frames")]
    NoFrames { path: PathBuf },
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
    #[error(transparent)]
    Encode(#[from] crate::EncodeError),
    #[error("{context}: {source}")]
    Ffmpeg {
        context: &'static str,
        source: ffmpeg_next::Error,
    },
}

const MAX_CRF: u8 = 51;

fn ffmpeg<T>(
    result: Result<T, ffmpeg_next::Error>,
    context: &'static str,
) -> Result<T, ReencodeError> {
    result.map_err(|source| ReencodeError::Ffmpeg { context, source })
}

/// Re-encodes the MP4 (or any file FFmpeg reads) at `input` into an MP4 at
/// `output` (created or overwritten; removed again on failure).
pub fn reencode_mp4(
    input: &Path,
    output: &Path,
    options: &ReencodeOptions,
) -> Result<EncodedClip, ReencodeError> {
    if options.encode.crf > MAX_CRF {
        return Err(ReencodeError::InvalidOptions(format!(
            "crf must be from 0 to {MAX_CRF}, got {}",
            options.encode.crf
        )));
    }
    if options.max_side.is_some_and(|side| side < 2) {
        return Err(ReencodeError::InvalidOptions(
            "max_side must be at least 2".into(),
        ));
    }
    if options.encode.max_video_bitrate == Some(0) {
        return Err(ReencodeError::InvalidOptions(
            "max_video_bitrate must be above 0".into(),
        ));
    }
    ffmpeg(ffmpeg_setup::init(), "initialising FFmpeg")?;
    let mut ictx = format::input(input).map_err(|source| ReencodeError::Open {
        path: input.to_path_buf(),
        source,
    })?;
    let octx = format::output_as(output, "mp4").map_err(|source| ReencodeError::Output {
        path: output.to_path_buf(),
        source,
    })?;
    let written = transcode(&mut ictx, octx, input, output, options);
    let ((frames, duration_ms), bytes) =
        keep_or_remove(output, written, |source| ReencodeError::Io {
            path: output.to_path_buf(),
            source,
        })?;
    Ok(EncodedClip {
        bytes,
        frames,
        duration_ms,
    })
}

/// The output size: within `max_side`, aspect kept, even sides.
fn output_size(width: u32, height: u32, max_side: Option<u32>) -> (u32, u32) {
    let longest = width.max(height).max(1);
    let (w, h) = match max_side {
        Some(side) if side < longest => (
            (u64::from(width) * u64::from(side) / u64::from(longest)) as u32,
            (u64::from(height) * u64::from(side) / u64::from(longest)) as u32,
        ),
        _ => (width, height),
    };
    ((w & !1).max(2), (h & !1).max(2))
}

/// Returns (video frames written, duration in ms).
fn transcode(
    ictx: &mut format::context::Input,
    mut octx: format::context::Output,
    input: &Path,
    output: &Path,
    options: &ReencodeOptions,
) -> Result<(u32, u64), ReencodeError> {
    let output_error = |source| ReencodeError::Output {
        path: output.to_path_buf(),
        source,
    };
    let video_in =
        ictx.streams()
            .best(media::Type::Video)
            .ok_or_else(|| ReencodeError::NoVideo {
                path: input.to_path_buf(),
            })?;
    let video_index = video_in.index();
    let rate = [video_in.avg_frame_rate(), video_in.rate()]
        .into_iter()
        .find(|r| r.numerator() > 0 && r.denominator() > 0)
        .unwrap_or(Rational::new(24, 1));
    let mut decoder = ffmpeg(
        codec::context::Context::from_parameters(video_in.parameters())
            .and_then(|context| context.decoder().video()),
        "opening the video decoder",
    )?;
    let audio_in = ictx
        .streams()
        .best(media::Type::Audio)
        .map(|s| (s.index(), s.time_base(), s.parameters()));

    let (width, height) = output_size(decoder.width(), decoder.height(), options.max_side);
    let time_base = rate.invert();
    let codec = ffmpeg_next::encoder::find_by_name("libx264")
        .ok_or(ReencodeError::EncoderNotFound("libx264 (H.264)"))?;
    let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
    let mut context = ffmpeg(
        codec::context::Context::new_with_codec(codec)
            .encoder()
            .video(),
        "creating the H.264 encoder",
    )?;
    context.set_width(width);
    context.set_height(height);
    context.set_format(Pixel::YUV420P);
    context.set_time_base(time_base);
    context.set_frame_rate(Some(rate));
    context.set_colorspace(color::Space::SMPTE170M);
    context.set_color_range(color::Range::MPEG);
    if global_header {
        context.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut encoder = ffmpeg(
        context.open_with(x264_options(&options.encode)),
        "opening libx264 (check the preset and crf)",
    )?;
    let video_out = {
        let mut stream = ffmpeg(octx.add_stream(codec), "adding the video stream")?;
        stream.set_parameters(&encoder);
        stream.set_time_base(time_base);
        stream.set_avg_frame_rate(rate);
        stream.set_rate(rate);
        stream.index()
    };
    let audio_out = match &audio_in {
        Some((_, _, parameters)) => {
            let none = ffmpeg_next::encoder::find(codec::Id::None);
            let mut stream = ffmpeg(octx.add_stream(none), "adding the audio stream")?;
            stream.set_parameters(parameters.clone());
            Some(stream.index())
        }
        None => None,
    };
    let mut header_options = Dictionary::new();
    header_options.set("movflags", "+faststart");
    octx.write_header_with(header_options)
        .map_err(output_error)?;
    let stream_tb = |octx: &format::context::Output, index: usize| {
        octx.stream(index)
            .map(|s| s.time_base())
            .ok_or(ReencodeError::Ffmpeg {
                context: "reading stream time base after writing the header",
                source: ffmpeg_next::Error::StreamNotFound,
            })
    };
    let video_tb = stream_tb(&octx, video_out)?;
    let audio_tb = match audio_out {
        Some(index) => Some(stream_tb(&octx, index)?),
        None => None,
    };

    let mut scaler: Option<scaling::Context> = None;
    let mut video = VideoOut {
        encoder: &mut encoder,
        stream_index: video_out,
        time_base,
        stream_time_base: video_tb,
        frames: 0,
        width,
        height,
    };
    let mut packet = Packet::empty();
    loop {
        match packet.read(ictx) {
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => break,
            Err(source) => {
                return Err(ReencodeError::Ffmpeg {
                    context: "reading the input",
                    source,
                })
            }
        }
        if packet.stream() == video_index {
            ffmpeg(decoder.send_packet(&packet), "decoding the video")?;
            video.drain_decoder(&mut decoder, &mut scaler, &mut octx)?;
        } else if let (Some((index, in_tb, _)), Some(out), Some(out_tb)) =
            (&audio_in, audio_out, audio_tb)
        {
            if packet.stream() == *index {
                packet.set_stream(out);
                packet.rescale_ts(*in_tb, out_tb);
                packet.set_position(-1);
                ffmpeg(
                    packet.write_interleaved(&mut octx),
                    "writing an audio packet",
                )?;
            }
        }
    }
    ffmpeg(decoder.send_eof(), "flushing the video decoder")?;
    video.drain_decoder(&mut decoder, &mut scaler, &mut octx)?;
    if video.frames == 0 {
        return Err(ReencodeError::NoFrames {
            path: input.to_path_buf(),
        });
    }
    ffmpeg(video.encoder.send_eof(), "flushing libx264")?;
    video.write_packets(&mut octx)?;
    octx.write_trailer().map_err(output_error)?;
    let frames = video.frames;
    let duration_ms = u64::from(frames) * 1000 * rate.denominator().max(1) as u64
        / rate.numerator().max(1) as u64;
    Ok((frames, duration_ms))
}

struct VideoOut<'a> {
    encoder: &'a mut ffmpeg_next::encoder::Video,
    stream_index: usize,
    time_base: Rational,
    stream_time_base: Rational,
    frames: u32,
    width: u32,
    height: u32,
}

impl VideoOut<'_> {
    /// Encodes every frame the decoder has ready.
    fn drain_decoder(
        &mut self,
        decoder: &mut ffmpeg_next::decoder::Video,
        scaler: &mut Option<scaling::Context>,
        octx: &mut format::context::Output,
    ) -> Result<(), ReencodeError> {
        let mut decoded = frame::Video::empty();
        loop {
            match decoder.receive_frame(&mut decoded) {
                Ok(()) => {}
                Err(ffmpeg_next::Error::Eof) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno }) if errno == ffmpeg_next::error::EAGAIN => {
                    return Ok(())
                }
                Err(source) => {
                    return Err(ReencodeError::Ffmpeg {
                        context: "decoding a video frame",
                        source,
                    })
                }
            }
            let fresh = scaler.as_ref().is_none_or(|s| {
                s.input().format != decoded.format()
                    || s.input().width != decoded.width()
                    || s.input().height != decoded.height()
            });
            if fresh {
                *scaler = Some(ffmpeg(
                    scaling::Context::get(
                        decoded.format(),
                        decoded.width(),
                        decoded.height(),
                        Pixel::YUV420P,
                        self.width,
                        self.height,
                        scaling::Flags::BILINEAR,
                    ),
                    "creating the frame scaler",
                )?);
            }
            let Some(scaler) = scaler.as_mut() else {
                continue;
            };
            let mut scaled = frame::Video::empty();
            ffmpeg(scaler.run(&decoded, &mut scaled), "scaling a frame")?;
            scaled.set_pts(Some(i64::from(self.frames)));
            self.frames = self.frames.saturating_add(1);
            ffmpeg(
                self.encoder.send_frame(&scaled),
                "sending a frame to libx264",
            )?;
            self.write_packets(octx)?;
        }
    }

    fn write_packets(&mut self, octx: &mut format::context::Output) -> Result<(), ReencodeError> {
        write_encoded_packets(
            self.encoder,
            octx,
            self.stream_index,
            self.time_base,
            self.stream_time_base,
            1,
        )
        .map_err(ReencodeError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::output_size;

    #[test]
    fn output_size_keeps_aspect_and_even_sides() {
        assert_eq!(output_size(768, 512, None), (768, 512));
        assert_eq!(output_size(768, 512, Some(384)), (384, 256));
        assert_eq!(output_size(512, 768, Some(100)), (66, 100));
        assert_eq!(output_size(64, 64, Some(1000)), (64, 64));
        assert_eq!(output_size(101, 51, Some(3)), (2, 2));
    }
}
