//! Initial noise for the sampler: a seeded standard-normal generator of our
//! own, and initial latents read from a file.
//!
//! candle's CPU RNG cannot be seeded, and runs must be comparable across
//! machines and implementations, so [`randn`] is counter-based: element `i`
//! depends only on the seed and `i` (SplitMix64 of `seed + i * golden`,
//! paired into normals by Box–Muller). The same seed gives the same tensor
//! on every platform, whatever the device or thread count. [`load_latents`]
//! takes noise made elsewhere (e.g. by diffusers) so a render can start from
//! exactly the same latents.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Shape, Tensor};

/// The name [`load_latents`] looks for when a file holds several tensors.
pub const LATENTS_TENSOR_NAME: &str = "latents";

/// Why initial latents could not be read from a file.
#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    #[error("cannot read latents file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("latents file {path} is not a valid safetensors file: {source}")]
    Parse {
        path: PathBuf,
        source: candle_core::Error,
    },
    #[error("latents file {path} holds no tensor")]
    Empty { path: PathBuf },
    #[error(
        "latents file {path} holds {count} tensors ({names}) and none is named \"{LATENTS_TENSOR_NAME}\""
    )]
    Ambiguous {
        path: PathBuf,
        count: usize,
        names: String,
    },
}

/// SplitMix64's increment (2^64 / golden ratio).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective 64-bit mix.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `counter`-th uniform number of the stream `seed`, in (0, 1]: never 0,
/// so `ln` in Box–Muller stays finite.
fn uniform(seed: u64, counter: u64) -> f64 {
    let bits = mix64(seed.wrapping_add(counter.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)));
    ((bits >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `len` standard-normal samples of the stream `seed`, as f32.
///
/// Pair `k` (elements `2k`, `2k+1`) comes from uniforms `2k` and `2k+1`, so a
/// longer request extends a shorter one with the same seed.
pub fn randn_vec(seed: u64, len: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(len + 1);
    let mut pair = 0u64;
    while out.len() < len {
        let u1 = uniform(seed, 2 * pair);
        let u2 = uniform(seed, 2 * pair + 1);
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        out.push((radius * angle.cos()) as f32);
        out.push((radius * angle.sin()) as f32);
        pair += 1;
    }
    out.truncate(len);
    out
}

/// A tensor of standard-normal samples, reproducible from `seed` alone.
///
/// Values are drawn in f32 on the host (row-major order) and then moved to
/// `device` and cast to `dtype`, so a bf16 CUDA tensor holds the rounded
/// values of the f32 CPU one.
pub fn randn<S: Into<Shape>>(
    seed: u64,
    shape: S,
    device: &Device,
    dtype: DType,
) -> candle_core::Result<Tensor> {
    let shape: Shape = shape.into();
    let values = randn_vec(seed, shape.elem_count());
    Tensor::from_vec(values, shape, &Device::Cpu)?
        .to_device(device)?
        .to_dtype(dtype)
}

/// Initial latents from a `.safetensors` file (on the CPU, in the file's
/// dtype): its only tensor, or the one named `"latents"`.
pub fn load_latents(path: &Path) -> Result<Tensor, NoiseError> {
    let bytes = std::fs::read(path).map_err(|source| NoiseError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut tensors =
        candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|source| {
            NoiseError::Parse {
                path: path.to_path_buf(),
                source,
            }
        })?;
    if let Some(latents) = tensors.remove(LATENTS_TENSOR_NAME) {
        return Ok(latents);
    }
    let mut names: Vec<String> = tensors.keys().cloned().collect();
    names.sort();
    let count = tensors.len();
    match tensors.into_values().next() {
        None => Err(NoiseError::Empty {
            path: path.to_path_buf(),
        }),
        Some(only) if count == 1 => Ok(only),
        Some(_) => Err(NoiseError::Ambiguous {
            path: path.to_path_buf(),
            count,
            names: names.join(", "),
        }),
    }
}
