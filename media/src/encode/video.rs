//! The H.264 track: RGB24 frames → yuv420p (swscale) → libx264.

use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::util::color;
use ffmpeg_next::{codec, format, frame, Dictionary, Rational};

use super::{write_encoded_packets, EncodeError, EncodeOptions, FfmpegContext};
use crate::frames::{Rendered, RgbImage};

pub(super) struct VideoTrack {
    encoder: ffmpeg_next::encoder::Video,
    scaler: scaling::Context,
    rgb: frame::Video,
    yuv: frame::Video,
    /// One tick per frame.
    time_base: Rational,
    pub(super) stream_index: usize,
}

impl VideoTrack {
    pub(super) fn new(
        octx: &mut format::context::Output,
        clip: &Rendered,
        opts: &EncodeOptions,
    ) -> Result<Self, EncodeError> {
        let codec = ffmpeg_next::encoder::find_by_name("libx264")
            .ok_or(EncodeError::EncoderNotFound("libx264 (H.264)"))?;
        let fps = clip.fps as i32;
        let time_base = Rational::new(1, fps);
        let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);

        let mut context = codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .context("creating the H.264 encoder")?;
        context.set_width(clip.width);
        context.set_height(clip.height);
        context.set_format(Pixel::YUV420P);
        context.set_time_base(time_base);
        context.set_frame_rate(Some(Rational::new(fps, 1)));
        // swscale's default RGB → YUV matrix is BT.601, limited range; say so.
        context.set_colorspace(color::Space::SMPTE170M);
        context.set_color_range(color::Range::MPEG);
        if global_header {
            context.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = context
            .open_with(x264_options(opts))
            .context("opening libx264 (check the preset and crf)")?;

        let mut stream = octx.add_stream(codec).context("adding the video stream")?;
        stream.set_parameters(&encoder);
        stream.set_time_base(time_base);
        stream.set_avg_frame_rate(Rational::new(fps, 1));
        stream.set_rate(Rational::new(fps, 1));
        let stream_index = stream.index();

        let scaler = scaling::Context::get(
            Pixel::RGB24,
            clip.width,
            clip.height,
            Pixel::YUV420P,
            clip.width,
            clip.height,
            scaling::Flags::BILINEAR,
        )
        .context("creating the RGB to YUV converter")?;
        let rgb = allocated_frame(Pixel::RGB24, clip.width, clip.height)?;
        let yuv = allocated_frame(Pixel::YUV420P, clip.width, clip.height)?;
        Ok(VideoTrack {
            encoder,
            scaler,
            rgb,
            yuv,
            time_base,
            stream_index,
        })
    }

    /// Encodes frame number `index` (its presentation time in frames) and
    /// writes whatever packets the encoder has ready.
    pub(super) fn write_frame(
        &mut self,
        octx: &mut format::context::Output,
        stream_time_base: Rational,
        image: &RgbImage,
        index: u32,
    ) -> Result<(), EncodeError> {
        copy_rgb_into(image, &mut self.rgb)?;
        self.scaler
            .run(&self.rgb, &mut self.yuv)
            .context("converting a frame from RGB to YUV")?;
        self.yuv.set_pts(Some(i64::from(index)));
        self.encoder
            .send_frame(&self.yuv)
            .context("sending a frame to libx264")?;
        self.write_packets(octx, stream_time_base)
    }

    /// Flushes the encoder and writes its remaining packets.
    pub(super) fn finish(
        &mut self,
        octx: &mut format::context::Output,
        stream_time_base: Rational,
    ) -> Result<(), EncodeError> {
        self.encoder.send_eof().context("flushing libx264")?;
        self.write_packets(octx, stream_time_base)
    }

    fn write_packets(
        &mut self,
        octx: &mut format::context::Output,
        stream_time_base: Rational,
    ) -> Result<(), EncodeError> {
        write_encoded_packets(
            &mut self.encoder,
            octx,
            self.stream_index,
            self.time_base,
            stream_time_base,
            1,
        )
    }
}

pub(crate) fn x264_options(opts: &EncodeOptions) -> Dictionary<'static> {
    let mut options = Dictionary::new();
    options.set("preset", &opts.preset);
    options.set("crf", &opts.crf.to_string());
    if let Some(max_bitrate) = opts.max_video_bitrate {
        // A VBV cap on top of CRF: quality target, but never above the limit.
        options.set("maxrate", &max_bitrate.to_string());
        options.set("bufsize", &max_bitrate.saturating_mul(2).to_string());
    }
    options
}

fn allocated_frame(format: Pixel, width: u32, height: u32) -> Result<frame::Video, EncodeError> {
    let frame = frame::Video::new(format, width, height);
    // frame::Video::new ignores allocation failure; a frame without planes
    // would make later plane access panic.
    if frame.planes() == 0 {
        return Err(EncodeError::Ffmpeg {
            context: "allocating a video frame",
            source: ffmpeg_next::Error::Other {
                errno: ffmpeg_next::error::ENOMEM,
            },
        });
    }
    Ok(frame)
}

/// Copies packed RGB rows into the frame, whose rows may be padded.
fn copy_rgb_into(image: &RgbImage, frame: &mut frame::Video) -> Result<(), EncodeError> {
    let row_bytes = image.width as usize * 3;
    let stride = frame.stride(0);
    let plane = frame.data_mut(0);
    for (row, src) in image.data.chunks_exact(row_bytes).enumerate() {
        let start = row * stride;
        let dst = plane
            .get_mut(start..start + row_bytes)
            .ok_or_else(|| EncodeError::InvalidClip("frame larger than the clip size".into()))?;
        dst.copy_from_slice(src);
    }
    Ok(())
}
