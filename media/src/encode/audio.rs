//! The AAC track: interleaved f32 at any rate → planar f32 at 48 kHz
//! (swresample) → FFmpeg's native AAC encoder in frame_size chunks.

use ffmpeg_next::format::sample::Type as SampleLayout;
use ffmpeg_next::format::Sample;
use ffmpeg_next::software::resampling;
use ffmpeg_next::{codec, format, frame, ChannelLayout, Rational};

use super::{write_encoded_packets, EncodeError, FfmpegContext};
use crate::frames::Audio;

pub(super) const SAMPLE_RATE: u32 = 48_000;
const MAX_CHANNELS: u16 = 8;
const MAX_INPUT_RATE: u32 = 384_000;
/// Room the resampler gets per flush call.
const FLUSH_CHUNK: usize = 4096;

/// Rejects audio the resampler cannot take. Empty audio is fine (silence).
pub(super) fn check(audio: &Audio) -> Result<(), EncodeError> {
    if audio.samples.is_empty() {
        return Ok(());
    }
    let invalid = |message: String| Err(EncodeError::InvalidClip(message));
    if !(1..=MAX_INPUT_RATE).contains(&audio.sample_rate) {
        return invalid(format!(
            "audio sample_rate must be from 1 to {MAX_INPUT_RATE} Hz, got {}",
            audio.sample_rate
        ));
    }
    if !(1..=MAX_CHANNELS).contains(&audio.channels) {
        return invalid(format!(
            "audio channels must be from 1 to {MAX_CHANNELS}, got {}",
            audio.channels
        ));
    }
    if !audio
        .samples
        .len()
        .is_multiple_of(usize::from(audio.channels))
    {
        return invalid(format!(
            "audio has {} samples, not a multiple of its {} channels",
            audio.samples.len(),
            audio.channels
        ));
    }
    Ok(())
}

pub(super) struct AudioTrack {
    encoder: ffmpeg_next::encoder::Audio,
    layout: ChannelLayout,
    /// One plane per output channel, exactly the clip's length.
    planes: Vec<Vec<f32>>,
    /// Samples already sent to the encoder.
    sent: usize,
    frame_size: usize,
    /// Whether the encoder takes a short final frame (else it is zero-padded).
    small_last_frame: bool,
    /// One tick per sample.
    time_base: Rational,
    pub(super) stream_index: usize,
}

impl AudioTrack {
    /// Prepares the whole soundtrack, fitted to `frames / fps` seconds.
    pub(super) fn new(
        octx: &mut format::context::Output,
        audio: &Audio,
        frames: u32,
        fps: u32,
    ) -> Result<Self, EncodeError> {
        let codec = ffmpeg_next::encoder::find_by_name("aac")
            .ok_or(EncodeError::EncoderNotFound("aac (FFmpeg's native AAC)"))?;
        let channels = if audio.samples.is_empty() || audio.channels == 1 {
            1
        } else {
            2
        };
        let layout = ChannelLayout::default(channels);
        let time_base = Rational::new(1, SAMPLE_RATE as i32);
        let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);

        let mut context = codec::context::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .context("creating the AAC encoder")?;
        context.set_rate(SAMPLE_RATE as i32);
        context.set_channel_layout(layout);
        context.set_format(Sample::F32(SampleLayout::Planar));
        context.set_bit_rate(64_000 * channels as usize);
        context.set_time_base(time_base);
        if global_header {
            context.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = context.open_as(codec).context("opening the AAC encoder")?;

        let mut stream = octx.add_stream(codec).context("adding the audio stream")?;
        stream.set_parameters(&encoder);
        stream.set_time_base(time_base);
        let stream_index = stream.index();

        let clip_samples =
            (u64::from(frames) * u64::from(SAMPLE_RATE) / u64::from(fps.max(1))) as usize;
        let mut planes = if audio.samples.is_empty() {
            vec![Vec::new()]
        } else {
            to_planar_48k(audio, layout)?
        };
        let converted = planes.first().map_or(0, Vec::len);
        if converted.abs_diff(clip_samples) > SAMPLE_RATE as usize / fps.max(1) as usize {
            tracing::debug!(
                converted,
                clip_samples,
                "audio length differs from video; fitting it"
            );
        }
        for plane in &mut planes {
            plane.resize(clip_samples, 0.0);
        }
        let frame_size = match encoder.frame_size() {
            0 => 1024,
            size => size as usize,
        };
        let small_last_frame = codec
            .capabilities()
            .contains(codec::capabilities::Capabilities::SMALL_LAST_FRAME);
        Ok(AudioTrack {
            encoder,
            layout,
            planes,
            sent: 0,
            frame_size,
            small_last_frame,
            time_base,
            stream_index,
        })
    }

    /// Encodes whole encoder frames until `end_sample` is covered, writing
    /// packets as they come (the encoder takes no new frame while one is
    /// waiting to be received).
    pub(super) fn write_until(
        &mut self,
        octx: &mut format::context::Output,
        stream_time_base: Rational,
        end_sample: u64,
    ) -> Result<(), EncodeError> {
        let end = usize::try_from(end_sample).map_or(self.len(), |end| end.min(self.len()));
        while self.sent < end {
            self.send_next_frame()?;
            self.write_packets(octx, stream_time_base)?;
        }
        Ok(())
    }

    /// Encodes what is left, flushes the encoder and writes its last packets.
    pub(super) fn finish(
        &mut self,
        octx: &mut format::context::Output,
        stream_time_base: Rational,
    ) -> Result<(), EncodeError> {
        self.write_until(octx, stream_time_base, u64::MAX)?;
        self.encoder
            .send_eof()
            .context("flushing the AAC encoder")?;
        self.write_packets(octx, stream_time_base)
    }

    fn write_packets(
        &mut self,
        octx: &mut format::context::Output,
        stream_time_base: Rational,
    ) -> Result<(), EncodeError> {
        let frame_size = self.frame_size as i64;
        write_encoded_packets(
            &mut self.encoder,
            octx,
            self.stream_index,
            self.time_base,
            stream_time_base,
            frame_size,
        )
    }

    fn len(&self) -> usize {
        self.planes.first().map_or(0, Vec::len)
    }

    fn send_next_frame(&mut self) -> Result<(), EncodeError> {
        let start = self.sent;
        let count = self.frame_size.min(self.len() - start);
        let samples_in_frame = if self.small_last_frame {
            count
        } else {
            self.frame_size
        };
        let mut frame = frame::Audio::new(
            Sample::F32(SampleLayout::Planar),
            samples_in_frame,
            self.layout,
        );
        if frame.planes() < self.planes.len() {
            return Err(allocation_failed("allocating an audio frame"));
        }
        frame.set_rate(SAMPLE_RATE);
        for (index, source) in self.planes.iter().enumerate() {
            let destination = frame.plane_mut::<f32>(index);
            let (head, padding) = destination.split_at_mut(count.min(destination.len()));
            head.copy_from_slice(&source[start..start + head.len()]);
            padding.fill(0.0);
        }
        frame.set_pts(Some(start as i64));
        self.encoder
            .send_frame(&frame)
            .context("sending audio to the AAC encoder")?;
        self.sent += count;
        Ok(())
    }
}

/// Converts interleaved f32 at any rate into planar f32 at 48 kHz in
/// `layout` (mono, or stereo downmixed by swresample).
fn to_planar_48k(audio: &Audio, layout: ChannelLayout) -> Result<Vec<Vec<f32>>, EncodeError> {
    let input_layout = ChannelLayout::default(i32::from(audio.channels));
    let mut resampler = resampling::Context::get(
        Sample::F32(SampleLayout::Packed),
        input_layout,
        audio.sample_rate,
        Sample::F32(SampleLayout::Planar),
        layout,
        SAMPLE_RATE,
    )
    .context("creating the audio resampler")?;

    let input_samples = audio.frames();
    let mut input = frame::Audio::new(
        Sample::F32(SampleLayout::Packed),
        input_samples,
        input_layout,
    );
    if input.planes() == 0 {
        return Err(allocation_failed("allocating the audio input frame"));
    }
    input.set_rate(audio.sample_rate);
    for (bytes, sample) in input.data_mut(0).chunks_exact_mut(4).zip(&audio.samples) {
        bytes.copy_from_slice(&sample.to_ne_bytes());
    }

    let channels = layout.channels() as usize;
    let mut planes = vec![Vec::new(); channels];
    let expected =
        (input_samples as u64 * u64::from(SAMPLE_RATE) / u64::from(audio.sample_rate)) as usize;
    let mut output = planar_frame(expected + FLUSH_CHUNK, layout)?;
    resampler
        .run(&input, &mut output)
        .context("resampling audio")?;
    append_planes(&output, &mut planes);
    // The resampler keeps a few samples back for its filter; drain them.
    loop {
        let mut tail = planar_frame(FLUSH_CHUNK, layout)?;
        resampler
            .flush(&mut tail)
            .context("draining the audio resampler")?;
        if tail.samples() == 0 {
            break;
        }
        append_planes(&tail, &mut planes);
    }
    Ok(planes)
}

fn planar_frame(samples: usize, layout: ChannelLayout) -> Result<frame::Audio, EncodeError> {
    let frame = frame::Audio::new(Sample::F32(SampleLayout::Planar), samples, layout);
    if frame.planes() < layout.channels() as usize {
        return Err(allocation_failed("allocating an audio frame"));
    }
    Ok(frame)
}

fn append_planes(frame: &frame::Audio, planes: &mut [Vec<f32>]) {
    for (index, plane) in planes.iter_mut().enumerate() {
        if index < frame.planes() {
            plane.extend_from_slice(frame.plane::<f32>(index));
        }
    }
}

fn allocation_failed(context: &'static str) -> EncodeError {
    EncodeError::Ffmpeg {
        context,
        source: ffmpeg_next::Error::Other {
            errno: ffmpeg_next::error::ENOMEM,
        },
    }
}
