//! Where a component's weights are: `<base>.safetensors`, or the shards its
//! `<base>.safetensors.index.json` lists (how diffusers and transformers save
//! large models). One lookup for every component loader.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum WeightFilesError {
    #[error("{single}: missing; expected the weights (or {index} listing shards)")]
    NoWeights { single: PathBuf, index: PathBuf },
    #[error("{path}: not a safetensors shard index: {reason}")]
    BadIndex { path: PathBuf, reason: String },
    #[error("{path}: missing; expected a shard listed in {index}")]
    MissingShard { path: PathBuf, index: PathBuf },
}

/// The single weights file in `dir`, or the shards its index names (each
/// once, sorted), every one checked to exist.
pub fn weight_files(dir: &Path, base: &str) -> Result<Vec<PathBuf>, WeightFilesError> {
    let single = dir.join(format!("{base}.safetensors"));
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join(format!("{base}.safetensors.index.json"));
    if !index.is_file() {
        return Err(WeightFilesError::NoWeights { single, index });
    }
    let bad = |reason: String| WeightFilesError::BadIndex {
        path: index.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&index).map_err(|e| bad(e.to_string()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no \"weight_map\" object".into()))?;
    let mut shards = BTreeSet::new();
    for file in map.values() {
        let file = file
            .as_str()
            .ok_or_else(|| bad("a weight_map value is not a file name".into()))?;
        shards.insert(dir.join(file));
    }
    if shards.is_empty() {
        return Err(bad("weight_map lists no files".into()));
    }
    for path in &shards {
        if !path.is_file() {
            return Err(WeightFilesError::MissingShard {
                path: path.clone(),
                index: index.clone(),
            });
        }
    }
    Ok(shards.into_iter().collect())
}
