//! Loading a diffusers `transformer/` folder: `config.json` plus
//! `diffusion_pytorch_model.safetensors` (or its sharded form with an
//! `.index.json`), every problem reported once, naming the file.

use std::path::Path;

use candle_core::{DType, Device};

use super::{Config, Transformer};
use crate::ltx::load::{self, LoadError};
use crate::ltx::weights::weight_files;

impl Transformer {
    /// Loads `dir` (a diffusers `transformer/` folder), weights converted to `dtype`.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self, LoadError> {
        let config = Config::from_file(&dir.join("config.json"))?;
        let files = weight_files(dir, "diffusion_pytorch_model")?;
        let vb = load::var_builder("transformer", &files, dtype, device)?;
        Transformer::new(&config, vb).map_err(|e| LoadError::weights(&files, e))
    }
}
