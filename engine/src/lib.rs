//! reel's render pipeline: the [`Renderer`] interface, LTX-Video in candle
//! ([`ltx`]), the `testsrc` diagnostic renderer, MP4 encoding, re-encoding
//! and probing.

mod encode;
mod ffmpeg_setup;
mod image_file;
pub mod ltx;
mod probe;
mod reencode;
mod renderer;
pub mod testsrc;
mod validate;

pub use encode::{encode_mp4, EncodeError, EncodeOptions, EncodedClip};
pub use image_file::{read_image, ImageError};
pub use probe::{probe, ClipInfo, ProbeError};
pub use reencode::{reencode_mp4, ReencodeError, ReencodeOptions};
pub use renderer::{
    Audio, CancelToken, Progress, RenderError, RenderRequest, Rendered, Renderer, RgbImage,
};
pub use testsrc::TestPattern;
pub use validate::{MAX_FPS, MAX_FRAMES, MAX_SIDE, MAX_TOTAL_FRAME_BYTES, MIN_SIDE};
