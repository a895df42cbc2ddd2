//! A file's best audio track as 16 kHz mono f32: what speech recognition
//! takes. FFmpeg decodes, swresample downmixes and resamples.

use std::path::Path;

use ffmpeg_next::format::sample::Type as SampleLayout;
use ffmpeg_next::format::Sample;
use ffmpeg_next::software::resampling;
use ffmpeg_next::{codec, frame, media, ChannelLayout, Packet};

use super::{corrupt, open, seconds, DecodeError, DecodeLimits};

pub const SPEECH_SAMPLE_RATE: u32 = 16_000;

/// Audio quieter than this peak (-60 dBFS) is refused as silent.
const SILENCE_PEAK: f32 = 1e-3;

/// Samples per resampler flush call.
const FLUSH_CHUNK: usize = 4096;

/// Speech ready for recognition.
#[derive(Clone, Debug, PartialEq)]
pub struct Speech {
    /// Mono, 16 kHz, in -1..1.
    pub samples: Vec<f32>,
    /// FFmpeg's name of the source codec, e.g. "opus".
    pub codec: String,
}

impl Speech {
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(SPEECH_SAMPLE_RATE)
    }
}

/// Decodes the best audio track of `path` to 16 kHz mono.
pub fn decode_speech(path: &Path, limits: &DecodeLimits) -> Result<Speech, DecodeError> {
    let (samples, codec) = decode_audio(path, limits, SPEECH_SAMPLE_RATE)?;
    Ok(Speech { samples, codec })
}

/// Decodes the best audio track of `path` to mono at `rate` Hz (a voice
/// prompt at the speech model's rate; a clip's soundtrack at its own).
pub fn decode_mono(path: &Path, limits: &DecodeLimits, rate: u32) -> Result<Vec<f32>, DecodeError> {
    decode_audio(path, limits, rate).map(|(samples, _)| samples)
}

fn decode_audio(
    path: &Path,
    limits: &DecodeLimits,
    rate: u32,
) -> Result<(Vec<f32>, String), DecodeError> {
    let mut input = open(path, limits)?;
    let stream = input
        .streams()
        .best(media::Type::Audio)
        .ok_or_else(|| DecodeError::NoAudio {
            path: path.to_path_buf(),
        })?;
    let index = stream.index();
    let codec_name = stream.parameters().id().name().to_string();
    let declared = seconds(stream.duration(), stream.time_base());
    let decoder = codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().audio())
        .map_err(|e| DecodeError::Unsupported {
            path: path.to_path_buf(),
            kind: "audio",
            codec: codec_name.clone(),
            reason: e.to_string(),
        })?;
    let mut sink = Sink {
        path,
        decoder,
        resampler: None,
        samples: Vec::new(),
        max_samples: (limits.max_seconds * f64::from(rate)).ceil() as usize,
        max_seconds: limits.max_seconds,
        rate,
    };
    let mut packet = Packet::empty();
    loop {
        match packet.read(&mut input) {
            Ok(()) if packet.stream() == index => {
                sink.decoder
                    .send_packet(&packet)
                    .map_err(|e| corrupt(path, "decoding audio", e))?;
                sink.drain()?;
            }
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => break,
            Err(e) => return Err(corrupt(path, "reading packets", e)),
        }
    }
    sink.decoder
        .send_eof()
        .map_err(|e| corrupt(path, "decoding audio", e))?;
    sink.drain()?;
    sink.flush()?;
    let samples = sink.samples;
    let decoded_seconds = samples.len() as f64 / f64::from(rate);
    if samples.is_empty() {
        return Err(DecodeError::Nothing {
            path: path.to_path_buf(),
            kind: "audio",
        });
    }
    if let Some(declared) = declared {
        // Encoder delay and padding move the end by a few frames at most.
        if decoded_seconds + 0.5 < declared * 0.9 {
            return Err(DecodeError::Truncated {
                path: path.to_path_buf(),
                declared,
                decoded: decoded_seconds,
            });
        }
    }
    let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    if peak < SILENCE_PEAK {
        return Err(DecodeError::Silent {
            path: path.to_path_buf(),
            peak_dbfs: 20.0 * f64::from(peak.max(1e-10)).log10(),
        });
    }
    Ok((samples, codec_name))
}

/// Decoded frames → resampler → `samples`, refusing more than the limit.
struct Sink<'a> {
    path: &'a Path,
    decoder: ffmpeg_next::decoder::Audio,
    /// Made for the first frame's format; remade if a frame changes it.
    resampler: Option<(resampling::Context, (Sample, ChannelLayout, u32))>,
    samples: Vec<f32>,
    max_samples: usize,
    max_seconds: f64,
    /// Output rate.
    rate: u32,
}

impl Sink<'_> {
    fn drain(&mut self) -> Result<(), DecodeError> {
        let mut decoded = frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            if decoded.channels() == 0 || decoded.rate() == 0 {
                return Err(DecodeError::Corrupt {
                    path: self.path.to_path_buf(),
                    reason: "an audio frame without channels or sample rate".into(),
                });
            }
            if decoded.channel_layout().is_empty() {
                decoded.set_channel_layout(ChannelLayout::default(i32::from(decoded.channels())));
            }
            let key = (decoded.format(), decoded.channel_layout(), decoded.rate());
            if self.resampler.as_ref().map(|(_, k)| *k) != Some(key) {
                self.flush()?;
                let context = resampling::Context::get(
                    key.0,
                    key.1,
                    key.2,
                    Sample::F32(SampleLayout::Packed),
                    ChannelLayout::MONO,
                    self.rate,
                )
                .map_err(|e| corrupt(self.path, "setting up the resampler", e))?;
                self.resampler = Some((context, key));
            }
            let room = decoded.samples() * self.rate as usize / key.2 as usize + 256;
            let mut out = mono_frame(room, self.rate);
            if let Some((resampler, _)) = self.resampler.as_mut() {
                resampler
                    .run(&decoded, &mut out)
                    .map_err(|e| corrupt(self.path, "resampling audio", e))?;
            }
            self.append(&out)?;
        }
        Ok(())
    }

    /// Drains the resampler's delay line.
    fn flush(&mut self) -> Result<(), DecodeError> {
        let Some((mut resampler, _)) = self.resampler.take() else {
            return Ok(());
        };
        loop {
            let mut tail = mono_frame(FLUSH_CHUNK, self.rate);
            resampler
                .flush(&mut tail)
                .map_err(|e| corrupt(self.path, "draining the resampler", e))?;
            if tail.samples() == 0 {
                return Ok(());
            }
            self.append(&tail)?;
        }
    }

    fn append(&mut self, out: &frame::Audio) -> Result<(), DecodeError> {
        let bytes = out.data(0);
        let count = out.samples().min(bytes.len() / 4);
        self.samples.extend(
            bytes[..count * 4]
                .chunks_exact(4)
                .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        );
        if self.samples.len() > self.max_samples {
            // The header understated the length (or had none).
            return Err(DecodeError::TooLong {
                path: self.path.to_path_buf(),
                seconds: self.samples.len() as f64 / f64::from(self.rate),
                max: self.max_seconds,
            });
        }
        Ok(())
    }
}

fn mono_frame(samples: usize, rate: u32) -> frame::Audio {
    let mut frame = frame::Audio::new(
        Sample::F32(SampleLayout::Packed),
        samples,
        ChannelLayout::MONO,
    );
    frame.set_rate(rate);
    frame
}
