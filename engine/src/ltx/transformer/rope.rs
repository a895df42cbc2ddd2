//! diffusers' `LTXVideoRotaryPosEmbed`: rotary embeddings over (frame,
//! height, width), one third of the rotary pairs per axis, frequencies
//! interleaved across the axes.

use candle_core::{DType, Device, Result, Tensor};

/// Frames, height and width of the latent grid the positions are normalised by
/// (`base_num_frames`, `base_height`, `base_width` in diffusers).
const BASE_SIZES: [f32; 3] = [20.0, 2048.0, 2048.0];
const THETA: f64 = 10000.0;

/// Where each token sits in the video, for the rotary embedding.
#[derive(Debug, Clone)]
pub enum VideoPositions {
    /// A full latent grid of `num_frames × height × width` tokens in pack
    /// order (what `LTXPipeline` and `LTXImageToVideoPipeline` pass).
    Grid(LatentGrid),
    /// Explicit per-token coordinates, [B, 3, N] (frame, y, x) as
    /// `LTXConditionPipeline` builds them: pixel-space positions with the
    /// frame axis already divided by the frame rate.
    Coords(Tensor),
}

/// The latent grid and diffusers' `rope_interpolation_scale`, which pipelines
/// set to (temporal compression / frame rate, spatial compression, spatial compression).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatentGrid {
    /// Latent frames, rows and columns after patching.
    pub num_frames: usize,
    pub height: usize,
    pub width: usize,
    pub rope_interpolation_scale: [f64; 3],
}

impl LatentGrid {
    pub fn num_tokens(&self) -> usize {
        self.num_frames * self.height * self.width
    }
}

/// The rotary tables for one forward, [B or 1, N, dim/2] each: one entry per
/// (2i, 2i+1) channel pair, as `candle_nn::rotary_emb::rope_i` takes them.
#[derive(Debug, Clone)]
pub struct RotaryTables {
    pub cos: Tensor,
    pub sin: Tensor,
}

/// Builds the tables for `dim` channels (the whole inner dimension).
///
/// Computed on the host in f32 in torch's operation order: phases reach
/// 10⁴·π/2, where one f32 rounding step is already 1e-3.
pub fn rotary_tables(
    positions: &VideoPositions,
    dim: usize,
    patch_size: usize,
    patch_size_t: usize,
    device: &Device,
) -> Result<RotaryTables> {
    // Per token, the three axis positions divided by the base sizes.
    let (batch, fractions): (usize, Vec<[f32; 3]>) = match positions {
        VideoPositions::Grid(grid) => (1, grid_fractions(grid, patch_size, patch_size_t)),
        VideoPositions::Coords(coords) => {
            let coords = coords.to_dtype(DType::F32)?.to_vec3::<f32>()?;
            let batch = coords.len();
            let mut fractions = Vec::new();
            for sample in &coords {
                let [frames, ys, xs] = sample.as_slice() else {
                    candle_core::bail!("video_coords must be [B, 3, N], got {} axes", sample.len());
                };
                for ((f, y), x) in frames.iter().zip(ys).zip(xs) {
                    fractions.push([f / BASE_SIZES[0], y / BASE_SIZES[1], x / BASE_SIZES[2]]);
                }
            }
            (batch, fractions)
        }
    };
    let tokens = fractions.len() / batch.max(1);
    let frequencies = frequencies(dim / 6);
    // diffusers pads the front of the table with cos 1 / sin 0 when dim % 6 != 0.
    let padding_pairs = (dim % 6) / 2;
    let pairs = dim / 2;
    let mut cos = Vec::with_capacity(fractions.len() * pairs);
    let mut sin = Vec::with_capacity(fractions.len() * pairs);
    for fraction in &fractions {
        cos.extend(std::iter::repeat_n(1f32, padding_pairs));
        sin.extend(std::iter::repeat_n(0f32, padding_pairs));
        let centred = fraction.map(|p| p * 2.0 - 1.0);
        for &frequency in &frequencies {
            for &c in &centred {
                let phase = frequency * c;
                cos.push(phase.cos());
                sin.push(phase.sin());
            }
        }
    }
    Ok(RotaryTables {
        cos: Tensor::from_vec(cos, (batch, tokens, pairs), device)?,
        sin: Tensor::from_vec(sin, (batch, tokens, pairs), device)?,
    })
}

/// `theta ** linspace(0, 1, n) * π / 2` in f32, with torch's linspace
/// (the second half counted back from the end).
fn frequencies(n: usize) -> Vec<f32> {
    let step = if n > 1 { 1f32 / (n - 1) as f32 } else { 0.0 };
    let pi = std::f64::consts::PI as f32;
    (0..n)
        .map(|i| {
            let exponent = if i < n / 2 {
                step * i as f32
            } else {
                1f32 - step * (n - 1 - i) as f32
            };
            // Rounded from f64: the correctly rounded power.
            let power = THETA.powf(exponent as f64) as f32;
            power * pi / 2.0
        })
        .collect()
}

/// `_prepare_video_coords`: grid indices scaled by the interpolation scale and
/// patch size, divided by the base sizes, in pack order (frame, row, column).
fn grid_fractions(grid: &LatentGrid, patch_size: usize, patch_size_t: usize) -> Vec<[f32; 3]> {
    let scale = grid.rope_interpolation_scale.map(|s| s as f32);
    let patch = [patch_size_t as f32, patch_size as f32, patch_size as f32];
    let axis = |index: usize, a: usize| index as f32 * scale[a] * patch[a] / BASE_SIZES[a];
    let mut fractions = Vec::with_capacity(grid.num_tokens());
    for f in 0..grid.num_frames {
        for h in 0..grid.height {
            for w in 0..grid.width {
                fractions.push([axis(f, 0), axis(h, 1), axis(w, 2)]);
            }
        }
    }
    fractions
}
