//! LTX-2 (Lightricks' audio-video DiT) in candle: the Gemma 3 text encoder
//! with every layer's hidden states, the text connectors, the audio VAE and
//! the vocoders, the video VAE and the audio-video transformer, and the
//! schedule LTX-2's pipelines build.
//!
//! Each component loads from the matching folder of a diffusers-layout model
//! directory (`text_encoder/`, `tokenizer/`, `connectors/`, `transformer/`,
//! `vae/`, `audio_vae/`, `vocoder/`, `scheduler/`) with diffusers' weight
//! names, and is proven against diffusers on tiny random-weight models made
//! by `scripts/golden/ltx2_*.py` (fixtures in `engine/tests/fixtures/ltx2/`).
//! Building blocks of the LTX-Video port are called, not copied: the
//! attention kernel, the causal 3D convolution, the weight-file lookup and
//! the flow-matching scheduler.

pub mod audio_vae;
pub mod connectors;
mod layers;
pub mod load;
pub mod pipeline;
pub mod rope;
pub mod scheduler;
pub mod single_file;
pub mod text_encoder;
pub mod transformer;
pub mod vae;
pub mod vocoder;
