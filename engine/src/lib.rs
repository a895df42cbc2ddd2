//! reel's render pipeline: the [`Renderer`] interface, LTX-Video in candle
//! ([`ltx`]), the `testsrc` diagnostic renderer, and perception (faces)
//! for the consent checks ([`perception`]), speech in a cloned voice
//! ([`voice`]). Encoding and other
//! FFmpeg work is `reel-media`'s.

pub mod cpu_blas;
mod cpu_conv;
mod cpu_float;
mod cpu_linear;
mod cpu_memory;
mod cpu_parallel;
mod cpu_threads;
mod linear;
pub mod ltx;
pub mod ltx2;
pub mod perception;
mod renderer;
mod single_file;
#[cfg(test)]
mod test_support;
pub mod testsrc;
mod validate;
pub mod voice;

pub use cpu_float::flush_denormals;
pub use cpu_memory::keep_freed_memory;
pub use cpu_threads::single_cpu_pool;
pub use renderer::{
    Audio, CancelToken, Progress, RenderError, RenderRequest, Rendered, Renderer, RgbImage,
};
pub use testsrc::TestPattern;
pub use validate::{MAX_FPS, MAX_FRAMES, MAX_SIDE, MAX_TOTAL_FRAME_BYTES, MIN_SIDE};
