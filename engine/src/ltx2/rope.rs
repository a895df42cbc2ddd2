//! LTX-2's rotary position embeddings (diffusers' `LTX2AudioVideoRotaryPosEmbed`
//! and the connectors' `LTX2RotaryPosEmbed1d`): each token has a position per
//! axis (frame, height, width for video; time for audio and for the
//! cross-modal attention; index for text) as a fraction of the axis's base
//! size; frequencies `θ^linspace(0, 1) · π/2` run over `2·fraction − 1`.
//!
//! Two layouts: `interleaved` rotates channel pairs (2i, 2i+1) of the whole
//! inner dimension; `split` rotates the two halves of each head against each
//! other, every head with its own slice of frequencies. Tables are computed
//! on the host in torch's float32 order of operations: phases reach 10⁴·π/2,
//! where one rounding step is already 1e-3.

use candle_core::{DType, Device, Result, Tensor};
use serde::Deserialize;

/// How rotations are laid over the channels (`rope_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RopeType {
    #[default]
    Interleaved,
    Split,
}

/// What a rope module is: its width, heads (for `split`), θ and precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RopeSpec {
    /// Channels rotated: the attention's inner dimension.
    pub dim: usize,
    pub heads: usize,
    pub theta: f64,
    /// `rope_double_precision`: the frequency grid in f64.
    pub double_precision: bool,
    pub rope_type: RopeType,
}

/// The tables for one forward.
#[derive(Debug, Clone)]
pub enum RopeTables {
    /// [B, N, dim/2] each, one entry per channel pair, as `rope_i` takes them.
    Interleaved { cos: Tensor, sin: Tensor },
    /// [B, N, heads, 1, head_dim/2] each, broadcast over the two halves.
    Split { cos: Tensor, sin: Tensor },
}

impl RopeTables {
    pub fn tokens(&self) -> Result<usize> {
        match self {
            Self::Interleaved { cos, .. } | Self::Split { cos, .. } => cos.dim(1),
        }
    }

    /// Rotates `x` ([B, N, dim]); computed in f32, returned in `x`'s dtype.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let (b, n, dim) = x.dims3()?;
        let x = x.to_dtype(DType::F32)?;
        match self {
            Self::Interleaved { cos, sin } => {
                // rope_i reads [B, heads, N, dim]: the whole inner dimension is one "head".
                let x = x.reshape((b, 1, n, dim))?.contiguous()?;
                candle_nn::rotary_emb::rope_i(&x, cos, sin)?
                    .reshape((b, n, dim))?
                    .to_dtype(dtype)
            }
            Self::Split { cos, sin } => {
                let heads = cos.dim(2)?;
                let half = cos.dim(4)?;
                // (b, n, heads, 2, half): first and second half of each head
                let x = x.reshape((b, n, heads, 2, half))?;
                let first = x.narrow(3, 0, 1)?;
                let second = x.narrow(3, 1, 1)?;
                let out_first = (first.broadcast_mul(cos)? - second.broadcast_mul(sin)?)?;
                let out_second = (second.broadcast_mul(cos)? + first.broadcast_mul(sin)?)?;
                Tensor::cat(&[out_first, out_second], 3)?
                    .reshape((b, n, dim))?
                    .to_dtype(dtype)
            }
        }
    }
}

/// torch's `linspace(0, 1, n)`: the second half counted back from the end.
fn linspace01(n: usize, f32_steps: bool) -> Vec<f64> {
    let step = if n > 1 { 1.0 / (n - 1) as f64 } else { 0.0 };
    (0..n)
        .map(|i| {
            if f32_steps {
                let step = step as f32;
                if i < n / 2 {
                    (step * i as f32) as f64
                } else {
                    (1f32 - step * (n - 1 - i) as f32) as f64
                }
            } else if i < n / 2 {
                step * i as f64
            } else {
                1.0 - step * (n - 1 - i) as f64
            }
        })
        .collect()
}

/// `(θ^linspace(0, 1, n) · π / 2)` as f32, in f64 or f32 as the module asks.
fn frequencies(n: usize, theta: f64, double_precision: bool) -> Vec<f32> {
    linspace01(n, !double_precision)
        .into_iter()
        .map(|exponent| {
            if double_precision {
                (theta.powf(exponent) * std::f64::consts::PI / 2.0) as f32
            } else {
                // f32 pow (correctly rounded from f64), then × π and / 2 in f32.
                let power = theta.powf(exponent) as f32;
                power * std::f32::consts::PI / 2.0
            }
        })
        .collect()
}

/// Tables for tokens at `fractions`: [batch][token][axis], each position
/// already divided by its axis's base size. All tokens have the same number of axes.
pub fn rope_tables(
    spec: &RopeSpec,
    fractions: &[Vec<Vec<f32>>],
    device: &Device,
) -> Result<RopeTables> {
    let batch = fractions.len();
    let tokens = fractions.first().map_or(0, |f| f.len());
    let axes = fractions
        .first()
        .and_then(|f| f.first())
        .map_or(1, |axes| axes.len());
    let per_axis = spec.dim / (2 * axes);
    let freqs = frequencies(per_axis, spec.theta, spec.double_precision);
    let pairs = spec.dim / 2;
    // The pairs not covered by per_axis × axes frequencies: cos 1, sin 0, in front.
    let padding = pairs - per_axis * axes;
    let mut cos = Vec::with_capacity(batch * tokens * pairs);
    let mut sin = Vec::with_capacity(batch * tokens * pairs);
    for sample in fractions {
        if sample.len() != tokens {
            candle_core::bail!("rope positions: samples have different token counts");
        }
        for token in sample {
            if token.len() != axes {
                candle_core::bail!("rope positions: tokens have different axis counts");
            }
            cos.extend(std::iter::repeat_n(1f32, padding));
            sin.extend(std::iter::repeat_n(0f32, padding));
            // Frequency-major, axis-minor (diffusers' transpose(-1, -2).flatten(2)).
            for &f in &freqs {
                for &p in token {
                    let phase = (p * 2.0 - 1.0) * f;
                    cos.push(phase.cos());
                    sin.push(phase.sin());
                }
            }
        }
    }
    match spec.rope_type {
        RopeType::Interleaved => Ok(RopeTables::Interleaved {
            cos: Tensor::from_vec(cos, (batch, tokens, pairs), device)?,
            sin: Tensor::from_vec(sin, (batch, tokens, pairs), device)?,
        }),
        RopeType::Split => {
            let heads = spec.heads.max(1);
            if !pairs.is_multiple_of(heads) {
                candle_core::bail!(
                    "split rope: {pairs} frequency pairs do not divide into {heads} heads"
                );
            }
            let shape = (batch, tokens, heads, 1, pairs / heads);
            Ok(RopeTables::Split {
                cos: Tensor::from_vec(cos, shape, device)?,
                sin: Tensor::from_vec(sin, shape, device)?,
            })
        }
    }
}

/// Positions as fractions of the base sizes from patch boundaries
/// `[B, axes, N, 2]` (start, end): the midpoint divided by `max_positions`,
/// in f32 as diffusers computes them.
pub fn boundary_fractions(coords: &Tensor, max_positions: &[f32]) -> Result<Vec<Vec<Vec<f32>>>> {
    let (batch, axes, tokens, two) = coords.dims4()?;
    if two != 2 || axes != max_positions.len() {
        candle_core::bail!(
            "coords {:?} do not match {} axes of [start, end)",
            coords.shape(),
            max_positions.len()
        );
    }
    // (b, axes, n · 2): start and end of each token, axis by axis
    let flat = coords
        .to_dtype(DType::F32)?
        .reshape((batch, axes, tokens * 2))?
        .to_vec3::<f32>()?;
    Ok(flat
        .iter()
        .map(|sample| {
            (0..tokens)
                .map(|n| {
                    (0..axes)
                        .map(|a| {
                            let (start, end) = (sample[a][2 * n], sample[a][2 * n + 1]);
                            ((start + end) / 2.0) / max_positions[a]
                        })
                        .collect()
                })
                .collect()
        })
        .collect())
}
