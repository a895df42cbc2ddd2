//! reel's media handling with FFmpeg, apart from the models: the clip as
//! frames and samples, MP4 encoding, re-encoding to fit a size, probing,
//! reading still images, decoding what chat users send (speech at 16 kHz,
//! sampled video frames) within limits, the visible watermark and encoding
//! within a size budget, and a spoken line fitted to a clip as its
//! soundtrack at a set loudness (BS.1770). The chat side links this crate, not candle.

mod budget;
mod decode;
mod encode;
mod ffmpeg_setup;
mod frames;
mod image_file;
mod loudness;
mod picture;
mod probe;
mod reencode;
mod resample;
mod soundtrack;
mod still;
mod watermark;

pub use budget::{
    encode_within, video_bitrate_for, Fitted, AUDIO_BUDGET_BPS, MIN_VIDEO_BPS, SIGNING_ROOM,
};
pub use decode::{
    decode_mono, decode_speech, sample_frames, DecodeError, DecodeLimits, SampledFrame, Speech,
    SPEECH_SAMPLE_RATE,
};
pub use encode::{encode_mp4, EncodeError, EncodeOptions, EncodedClip, CLIP_AUDIO_RATE};
pub use frames::{Audio, Rendered, RgbImage};
pub use image_file::{decode_png, read_image, ImageError, MAX_IMAGE_SIDE};
pub use loudness::integrated_loudness;
pub use picture::{
    decode_picture, encode_png, picture_size, sniff_picture, PictureError, PictureFormat,
};
pub use probe::{probe, ClipInfo, ProbeError};
pub use reencode::{reencode_mp4, ReencodeError, ReencodeOptions};
pub use resample::resample;
pub use soundtrack::{fit_line, Fitted as FittedLine, FADE_SECONDS, SPEECH_LUFS};
pub use still::{h264_round_trip, StillError};
pub use watermark::{label_box, watermark_clip, LabelBox};
