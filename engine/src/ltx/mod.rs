//! LTX-Video (Lightricks' video DiT, 0.9.x) in candle: the T5 text encoder,
//! the 3D transformer, the causal video VAE, the flow-matching scheduler and
//! the pipeline that ties them to the [`crate::Renderer`] interface.
//!
//! Each component loads from the matching folder of a diffusers-layout model
//! directory (`text_encoder/`, `tokenizer/`, `transformer/`, `vae/`,
//! `scheduler/`), all through [`load`] with one error type, [`LoadError`];
//! each is proven against diffusers on tiny random-weight
//! models made by `scripts/golden/` (fixtures in `engine/tests/fixtures/ltx/`).

pub mod load;
pub mod noise;
pub mod pipeline;
pub mod scheduler;
pub mod single_file;
pub mod text_encoder;
pub mod transformer;
pub mod vae;
pub mod weights;

pub use load::LoadError;
