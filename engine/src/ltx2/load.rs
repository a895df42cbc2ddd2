//! Loading one component folder of a diffusers-layout LTX-2 model directory:
//! its `config.json` and its weights (one safetensors file or the shards an
//! index lists), every problem reported once, naming the file at fault.

use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use safetensors::Dtype;
use serde::de::DeserializeOwned;

use crate::ltx::weights::{weight_files, WeightFilesError};

/// diffusers' weights file base name (`save_pretrained` of a diffusers model).
pub const DIFFUSERS_WEIGHTS: &str = "diffusion_pytorch_model";
/// transformers' weights file base name.
pub const TRANSFORMERS_WEIGHTS: &str = "model";

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid {what} config: {reason}")]
    Config {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error(transparent)]
    WeightFiles(#[from] WeightFilesError),
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

/// Reads and parses `dir/config.json` as a `what` config.
pub fn read_config<T: DeserializeOwned>(dir: &Path, what: &'static str) -> Result<T, LoadError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| LoadError::Config {
        path,
        what,
        reason: e.to_string(),
    })
}

/// A config value the model cannot use, reported against `dir/config.json`.
pub fn invalid_config(dir: &Path, what: &'static str, reason: impl Into<String>) -> LoadError {
    LoadError::Config {
        path: dir.join("config.json"),
        what,
        reason: reason.into(),
    }
}

/// The memory-mapped weights `dir/<base>.safetensors` (or its shards),
/// every tensor checked to be a float, as a `VarBuilder` converting to `dtype`.
pub fn var_builder(
    dir: &Path,
    base: &str,
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>, LoadError> {
    let files = weight_files(dir, base)?;
    // SAFETY: the files are memory-mapped read-only; like every candle loader we
    // rely on nobody rewriting the model directory while it is loaded.
    let tensors =
        unsafe { MmapedSafetensors::multi(&files) }.map_err(|source| LoadError::Safetensors {
            path: files[0].clone(),
            source,
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
    Ok(VarBuilder::from_backend(
        Box::new(tensors),
        dtype,
        device.clone(),
    ))
}

/// Builds a model from its weights, naming `dir` when a weight is missing or misshapen.
pub fn build<T>(
    dir: &Path,
    build: impl FnOnce() -> candle_core::Result<T>,
) -> Result<T, LoadError> {
    build().map_err(|source| LoadError::Weights {
        dir: dir.to_owned(),
        source,
    })
}
