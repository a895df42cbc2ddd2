//! reel's media handling with FFmpeg, apart from the models: the clip as
//! frames and samples, MP4 encoding, re-encoding to fit a size, probing,
//! reading still images, and decoding what chat users send (speech at
//! 16 kHz, sampled video frames) within limits. The chat side links this crate, not candle.

mod decode;
mod encode;
mod ffmpeg_setup;
mod frames;
mod image_file;
mod probe;
mod reencode;

pub use decode::{
    decode_speech, sample_frames, DecodeError, DecodeLimits, SampledFrame, Speech,
    SPEECH_SAMPLE_RATE,
};
pub use encode::{encode_mp4, EncodeError, EncodeOptions, EncodedClip};
pub use frames::{Audio, Rendered, RgbImage};
pub use image_file::{read_image, ImageError, MAX_IMAGE_SIDE};
pub use probe::{probe, ClipInfo, ProbeError};
pub use reencode::{reencode_mp4, ReencodeError, ReencodeOptions};
