//! Loading a diffusers `transformer/` folder: `config.json` plus
//! `diffusion_pytorch_model.safetensors` (or its sharded form with an
//! `.index.json`), every problem reported once, naming the file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use safetensors::Dtype;

use super::{Config, ConfigError, Transformer};

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
        let files = weight_files(dir)?;
        for file in &files {
            if !file.is_file() {
                return Err(LoadError::MissingWeights {
                    dir: dir.to_owned(),
                });
            }
        }
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

/// The single weights file, or the shards an index names.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let single = dir.join(WEIGHTS);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index_path = dir.join(WEIGHTS_INDEX);
    if !index_path.is_file() {
        return Err(LoadError::MissingWeights {
            dir: dir.to_owned(),
        });
    }
    let bad_index = |reason: String| LoadError::Index {
        path: index_path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&index_path).map_err(|e| bad_index(e.to_string()))?;
    let index: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad_index(e.to_string()))?;
    let map = index
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad_index("no \"weight_map\" object".into()))?;
    let mut shards = BTreeSet::new();
    for file in map.values() {
        let file = file
            .as_str()
            .ok_or_else(|| bad_index("a weight_map value is not a file name".into()))?;
        shards.insert(file.to_owned());
    }
    if shards.is_empty() {
        return Err(bad_index("empty weight_map".into()));
    }
    Ok(shards.into_iter().map(|file| dir.join(file)).collect())
}
