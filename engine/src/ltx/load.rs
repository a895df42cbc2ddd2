//! Loading LTX-Video from disk, one way for every component and one error
//! type: configs are read with [`read_json`], weights found with
//! [`weight_files`](crate::ltx::weights::weight_files) and opened with
//! [`var_builder`], whose headers are checked up front and whose lookups
//! fail naming the file and the tensor. The whole model directory
//! ([`crate::ltx::pipeline::ModelDir`], [`crate::ltx::pipeline::LtxPipeline`])
//! and each component alone (`Transformer::load`, `AutoencoderKl::load`,
//! `TextEncoder::load`) go through here, so a bad file is reported the same
//! way whichever loaded it.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::ltx::scheduler::SchedulerError;
use crate::ltx::text_encoder::TokenizerError;
use crate::ltx::weights::WeightFilesError;

/// Why a model directory or one of its components could not be loaded;
/// every variant names the file (or folder) at fault.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("model directory {0} does not exist (download one with `reel pull ltx-video-0.9.6-distilled`)")]
    MissingDir(PathBuf),
    #[error("{path}: missing; expected {expected}")]
    MissingFile { path: PathBuf, expected: String },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path}: unknown checkpoint ({found}); expected {expected}")]
    UnknownCheckpoint {
        path: PathBuf,
        found: String,
        expected: String,
    },
    /// A weights file: unreadable, a tensor of a non-float dtype, or a
    /// tensor missing or of another shape than the config implies.
    #[error("{path}: {reason}")]
    Weights { path: PathBuf, reason: String },
    /// The T5 tokenizer (its messages name the file).
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

impl From<WeightFilesError> for LoadError {
    fn from(e: WeightFilesError) -> Self {
        match e {
            WeightFilesError::NoWeights { single, index } => LoadError::MissingFile {
                path: single,
                expected: format!("the weights (or {} listing shards)", index.display()),
            },
            WeightFilesError::MissingShard { path, index } => LoadError::MissingFile {
                path,
                expected: format!("a shard listed in {}", index.display()),
            },
            WeightFilesError::BadIndex { path, reason } => LoadError::Invalid { path, reason },
        }
    }
}

impl LoadError {
    pub(crate) fn invalid(path: &Path, reason: impl Into<String>) -> Self {
        LoadError::Invalid {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// A scheduler config that cannot be used (`file`: its JSON).
    pub(crate) fn scheduler(file: &Path, e: SchedulerError) -> Self {
        match e {
            // These already say the path.
            SchedulerError::Read { path, source }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                LoadError::MissingFile {
                    path,
                    expected: "the scheduler's config".into(),
                }
            }
            SchedulerError::Read { path, source } => {
                LoadError::invalid(&path, format!("cannot read: {source}"))
            }
            SchedulerError::Parse { path, source } => {
                LoadError::invalid(&path, format!("not the scheduler's config: {source}"))
            }
            other => LoadError::invalid(file, other.to_string()),
        }
    }

    /// A model that could not be built from `files` (a tensor missing or of
    /// the wrong shape: the message names it).
    pub(crate) fn weights(files: &[PathBuf], e: candle_core::Error) -> Self {
        let path = files_path(files);
        let message = e.to_string();
        // [`CheckedWeights`] starts its messages with the file: said once.
        let prefix = format!("{}: ", path.display());
        let reason = message
            .strip_prefix(&prefix)
            .unwrap_or(&message)
            .to_string();
        LoadError::Weights { path, reason }
    }
}

/// The one file, or the folder of several shards.
fn files_path(files: &[PathBuf]) -> PathBuf {
    match files {
        [one] => one.clone(),
        [first, ..] => first.parent().map(Path::to_path_buf).unwrap_or_default(),
        [] => PathBuf::new(),
    }
}

/// Reads `path` as JSON; `what` says what the file should have been.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<T, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::MissingFile {
            path: path.to_path_buf(),
            expected: what.to_string(),
        },
        _ => LoadError::invalid(path, format!("cannot read: {e}")),
    })?;
    serde_json::from_str(&text).map_err(|e| LoadError::invalid(path, format!("not {what}: {e}")))
}

/// A VarBuilder over `files` (one component's weights), memory-mapped.
/// Every header is checked first (float dtypes, data inside the file);
/// asking for a tensor that is missing or has another shape fails naming
/// the file.
pub(crate) fn var_builder(
    component: &'static str,
    files: &[PathBuf],
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>, LoadError> {
    let backend = CheckedWeights::open(component, files)?;
    Ok(VarBuilder::from_backend(
        Box::new(backend),
        dtype,
        device.clone(),
    ))
}

/// One tensor's entry in a safetensors header.
#[derive(Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

const FLOAT_DTYPES: [&str; 3] = ["F32", "F16", "BF16"];

/// Reads a safetensors header (not the data) and checks that every tensor is
/// a float and lies inside the file; returns name → shape.
pub(crate) fn check_header(path: &Path) -> Result<HashMap<String, Vec<usize>>, LoadError> {
    let bad = |reason: String| LoadError::Weights {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| bad("not a safetensors file (shorter than its header)".into()))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > 100_000_000 || 8 + header_len > file_len {
        return Err(bad("not a safetensors file (bad header length)".into()));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| bad(format!("truncated header: {e}")))?;
    let entries: HashMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("not a safetensors header: {e}")))?;
    let data_len = file_len - 8 - header_len;
    let mut shapes = HashMap::new();
    for (name, value) in entries {
        if name == "__metadata__" {
            continue;
        }
        let entry: HeaderEntry = serde_json::from_value(value)
            .map_err(|e| bad(format!("tensor {name}: bad header entry: {e}")))?;
        if !FLOAT_DTYPES.contains(&entry.dtype.as_str()) {
            return Err(bad(format!(
                "tensor {name} has dtype {}; expected one of {}",
                entry.dtype,
                FLOAT_DTYPES.join(", ")
            )));
        }
        if entry.data_offsets.1 > data_len || entry.data_offsets.0 > entry.data_offsets.1 {
            return Err(bad(format!(
                "tensor {name} lies past the end of the file (truncated download?)"
            )));
        }
        shapes.insert(name, entry.shape);
    }
    Ok(shapes)
}

/// Memory-mapped weights whose lookups fail naming the file and the shape
/// expected, so a wrong checkpoint is reported at load time.
struct CheckedWeights {
    component: &'static str,
    files: Vec<PathBuf>,
    /// name → (index into `files`, shape).
    shapes: HashMap<String, (usize, Vec<usize>)>,
    inner: candle_core::safetensors::MmapedSafetensors,
}

impl CheckedWeights {
    fn open(component: &'static str, files: &[PathBuf]) -> Result<Self, LoadError> {
        let mut shapes = HashMap::new();
        for (i, file) in files.iter().enumerate() {
            for (name, shape) in check_header(file)? {
                shapes.insert(name, (i, shape));
            }
        }
        // Safety: the files are only read; a file changed underneath a
        // running process is outside what any mmap reader can guard against.
        let inner =
            unsafe { candle_core::safetensors::MmapedSafetensors::multi(files) }.map_err(|e| {
                LoadError::Weights {
                    path: files.first().cloned().unwrap_or_default(),
                    reason: e.to_string(),
                }
            })?;
        Ok(CheckedWeights {
            component,
            files: files.to_vec(),
            shapes,
            inner,
        })
    }

    fn files_label(&self) -> String {
        let names: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        names.join(", ")
    }
}

impl SimpleBackend for CheckedWeights {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        match self.shapes.get(name) {
            None => Err(candle_core::Error::Msg(format!(
                "{}: no tensor {name} (expected shape {:?}) for the {}",
                self.files_label(),
                s.dims(),
                self.component
            ))),
            Some((file, shape)) if shape.as_slice() != s.dims() => {
                Err(candle_core::Error::Msg(format!(
                    "{}: tensor {name} has shape {shape:?}; expected {:?}",
                    self.files[*file].display(),
                    s.dims()
                )))
            }
            Some(_) => self.inner.load(name, dev)?.to_dtype(dtype),
        }
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        if !self.shapes.contains_key(name) {
            return Err(candle_core::Error::Msg(format!(
                "{}: no tensor {name} for the {}",
                self.files_label(),
                self.component
            )));
        }
        self.inner.load(name, dev)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.shapes.contains_key(name)
    }
}
