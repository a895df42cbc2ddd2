//! Loading a diffusers `transformer/` folder: `config.json` plus
//! `diffusion_pytorch_model.safetensors` (or its sharded form with an
//! `.index.json`), every problem reported once, naming the file.

use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use safetensors::Dtype;

use super::{Config, ConfigError, Transformer};
use crate::ltx::weights::{weight_files, WeightFilesError};

const WEIGHTS: &str = "diffusion_pytorch_model.safetensors";
const WEIGHTS_INDEX: &str = "diffusion_pytorch_model.safetensors.index.json";

/// Why a transformer folder could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{dir}: no transformer weights (expected {WEIGHTS} or {WEIGHTS_INDEX})")]
    MissingWeights { dir: PathBuf },
    #[error("{path}: bad shard index: {reason}")]
    Index { path: PathBuf, reason: String },
    #[error("{path}: cannot read safetensors: {source}")]
    Safetensors {
        path: PathBuf,
        source: candle_core::Error,
    },
    #[error("{dir}: weight {name} has dtype {dtype:?}, expected a float (F32, F16 or BF16)")]
    WeightDtype {
        dir: PathBuf,
        name: String,
        dtype: Dtype,
    },
    /// A weight missing or of the wrong shape (the message names it).
    #[error("{dir}: {source}")]
    Weights {
        dir: PathBuf,
        source: candle_core::Error,
    },
}

impl Transformer {
    /// Loads `dir` (a diffusers `transformer/` folder), weights converted to `dtype`.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self, LoadError> {
        let config = Config::from_file(&dir.join("config.json"))?;
        let files = weight_files(dir, "diffusion_pytorch_model").map_err(|e| match e {
            WeightFilesError::BadIndex { path, reason } => LoadError::Index { path, reason },
            WeightFilesError::NoWeights { .. } | WeightFilesError::MissingShard { .. } => {
                LoadError::MissingWeights {
                    dir: dir.to_owned(),
                }
            }
        })?;
        // SAFETY: the files are memory-mapped read-only; like every candle
        // loader we rely on nobody rewriting the model directory while it is loaded.
        let tensors = unsafe { MmapedSafetensors::multi(&files) }.map_err(|source| {
            LoadError::Safetensors {
                path: dir.to_owned(),
                source,
            }
        })?;
        for (name, view) in tensors.tensors() {
            if !matches!(view.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16) {
                return Err(LoadError::WeightDtype {
                    dir: dir.to_owned(),
                    name,
                    dtype: view.dtype(),
                });
            }
        }
        let vb = VarBuilder::from_backend(Box::new(tensors), dtype, device.clone());
        Transformer::new(&config, vb).map_err(|source| LoadError::Weights {
            dir: dir.to_owned(),
            source,
        })
    }
}
