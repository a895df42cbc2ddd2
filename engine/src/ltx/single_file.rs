//! Single-file LTX-Video checkpoints (the original LTX layout Lightricks
//! publishes, e.g. ltxv-2b-0.9.6-distilled-04-25.safetensors) converted to
//! the diffusers layout the engine loads: `transformer/` and `vae/`
//! `diffusion_pytorch_model.safetensors`.
//!
//! The renaming mirrors diffusers' single-file loader
//! (loaders/single_file_utils.py: `infer_diffusers_model_type`,
//! `convert_ltx_transformer_checkpoint_to_diffusers`,
//! `convert_ltx_vae_checkpoint_to_diffusers`) step for step: each name goes
//! through the replacement table in order, and the tables are Python dicts
//! whose `update` keeps the position of a key already there. Names are
//! visited in sorted order, as safetensors' `load_file` yields them, and the
//! converted map behaves like a Python dict, so even colliding names would
//! end as they do in diffusers.
//!
//! Tensors are copied as they are (dtype and bytes): the source is memory
//! mapped and each tensor is written straight from the map, so a 6 GB file
//! never sits in memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::single_file::{py_update, shapes, write_renamed, PyDict, Source};

/// Where the converted weights go inside the model directory.
pub const TRANSFORMER_FILE: &str = "transformer/diffusion_pytorch_model.safetensors";
pub const VAE_FILE: &str = "vae/diffusion_pytorch_model.safetensors";

/// Names by which diffusers recognises an LTX-Video single file
/// (`CHECKPOINT_KEY_NAMES["ltx-video"]`).
const LTX_MARKERS: [&str; 6] = [
    "model.diffusion_model.patchify_proj.weight",
    "model.diffusion_model.transformer_blocks.27.scale_shift_table",
    "patchify_proj.weight",
    "transformer_blocks.27.scale_shift_table",
    "vae.decoder.last_scale_shift_table",
    "vae.decoder.up_blocks.9.res_blocks.0.conv1.conv.weight",
];
const VAE_CONV_IN_BIAS: &str = "vae.encoder.conv_in.conv.bias";
/// Its input channels (2048) tell the 0.9.5+ VAE.
const VAE_CONV_OUT: &str = "vae.encoder.conv_out.conv.weight";
/// Present from 0.9.1 on: the timestep-conditioned decoder.
const VAE_TIME_EMBEDDER: &str = "vae.decoder.last_time_embedder.timestep_embedder.linear_1.weight";

/// The release diffusers infers from the file; it picks the diffusers-layout
/// repository whose configs (and text encoder) go with the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelType {
    V0_9_0,
    V0_9_1,
    /// 0.9.5, and the 2B 0.9.6/0.9.8 distilled files.
    V0_9_5,
    /// 13B (48 transformer blocks).
    V0_9_7,
}

impl ModelType {
    /// diffusers' `DIFFUSERS_DEFAULT_PIPELINE_PATHS` for this type.
    pub fn diffusers_repo(self) -> &'static str {
        match self {
            ModelType::V0_9_0 => "diffusers/LTX-Video-0.9.0",
            ModelType::V0_9_1 => "diffusers/LTX-Video-0.9.1",
            ModelType::V0_9_5 => "Lightricks/LTX-Video-0.9.5",
            ModelType::V0_9_7 => "Lightricks/LTX-Video-0.9.7-dev",
        }
    }
}

/// Which block numbering of the original VAE the renaming follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaeLayout {
    V0_9_0,
    V0_9_1,
    V0_9_5,
}

#[derive(Debug, thiserror::Error)]
pub enum SingleFileError {
    #[error("{path}: not a readable safetensors file: {source}")]
    Open {
        path: PathBuf,
        source: candle_core::Error,
    },
    #[error(
        "{path}: not an LTX-Video single-file checkpoint: none of the names diffusers \
         recognises it by ({}) is in it (its first names: {found})",
        LTX_MARKERS.join(", ")
    )]
    NotLtx { path: PathBuf, found: String },
    /// LTX-2 files carry LTX-Video's marker names too (diffusers 0.42.1
    /// mistakes them for 0.9.7); told apart before those are tested.
    #[error("{path}: an LTX-2 checkpoint, not LTX-Video (pull it as an ltx-2 model)")]
    IsLtx2 { path: PathBuf },
    #[error("{path}: the checkpoint has no {what} (expected {expected})")]
    Missing {
        path: PathBuf,
        what: &'static str,
        expected: String,
    },
    #[error("{path}: {name} has shape {shape:?}, expected a 5-d convolution weight")]
    BadShape {
        path: PathBuf,
        name: String,
        shape: Vec<usize>,
    },
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

pub use crate::single_file::Renames;
/// What a conversion made of a file's names.
#[derive(Debug, Clone)]
pub struct Plan {
    pub model_type: ModelType,
    pub vae_layout: VaeLayout,
    pub transformer: Renames,
    pub vae: Renames,
    /// Original names neither component keeps (the VAE's unused statistics,
    /// names with "vae" but not "vae.").
    pub dropped: Vec<String>,
}

/// `infer_diffusers_model_type`'s LTX branch, from the names and shapes.
pub fn model_type(
    path: &Path,
    shapes: &BTreeMap<String, Vec<usize>>,
) -> Result<ModelType, SingleFileError> {
    if crate::ltx2::single_file::is_ltx2(shapes) {
        return Err(SingleFileError::IsLtx2 {
            path: path.to_path_buf(),
        });
    }
    if !LTX_MARKERS.iter().any(|name| shapes.contains_key(*name)) {
        let found = shapes
            .keys()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        return Err(SingleFileError::NotLtx {
            path: path.to_path_buf(),
            found: if found.is_empty() {
                "none".into()
            } else {
                found
            },
        });
    }
    let has_vae = shapes.contains_key(VAE_CONV_IN_BIAS);
    Ok(
        if shapes
            .keys()
            .any(|name| name.ends_with("transformer_blocks.47.scale_shift_table"))
        {
            ModelType::V0_9_7
        } else if has_vae && conv_out_inputs(path, shapes)? == 2048 {
            ModelType::V0_9_5
        } else if shapes.contains_key(VAE_TIME_EMBEDDER) {
            ModelType::V0_9_1
        } else {
            ModelType::V0_9_0
        },
    )
}

/// The VAE variant `convert_ltx_vae_checkpoint_to_diffusers` picks.
pub fn vae_layout(
    path: &Path,
    shapes: &BTreeMap<String, Vec<usize>>,
) -> Result<VaeLayout, SingleFileError> {
    Ok(if conv_out_inputs(path, shapes)? == 2048 {
        VaeLayout::V0_9_5
    } else if shapes.contains_key(VAE_TIME_EMBEDDER) {
        VaeLayout::V0_9_1
    } else {
        VaeLayout::V0_9_0
    })
}

fn conv_out_inputs(
    path: &Path,
    shapes: &BTreeMap<String, Vec<usize>>,
) -> Result<usize, SingleFileError> {
    let shape = shapes
        .get(VAE_CONV_OUT)
        .ok_or_else(|| SingleFileError::Missing {
            path: path.to_path_buf(),
            what: "VAE weights",
            expected: VAE_CONV_OUT.into(),
        })?;
    match shape.as_slice() {
        [_, inputs, _, _, _] => Ok(*inputs),
        _ => Err(SingleFileError::BadShape {
            path: path.to_path_buf(),
            name: VAE_CONV_OUT.into(),
            shape: shape.clone(),
        }),
    }
}

/// The renaming of every name in `shapes`; `vae_layout` None detects it as
/// diffusers does. Errors on a file that is no LTX-Video checkpoint or lacks
/// the transformer or VAE.
pub fn plan(
    path: &Path,
    shapes: &BTreeMap<String, Vec<usize>>,
    vae_layout: Option<VaeLayout>,
) -> Result<Plan, SingleFileError> {
    let model_type = model_type(path, shapes)?;
    let vae_layout = match vae_layout {
        Some(layout) => layout,
        None => self::vae_layout(path, shapes)?,
    };
    // BTreeMap order is byte order: the sorted order of Python's str keys.
    let names: Vec<&str> = shapes.keys().map(String::as_str).collect();
    let transformer = transformer_renames(&names);
    if transformer.is_empty() {
        return Err(SingleFileError::Missing {
            path: path.to_path_buf(),
            what: "transformer weights",
            expected: "names without \"vae\" (model.diffusion_model.*)".into(),
        });
    }
    let vae = vae_renames(&names, vae_layout);
    if vae.is_empty() {
        return Err(SingleFileError::Missing {
            path: path.to_path_buf(),
            what: "VAE weights",
            expected: "vae.* names".into(),
        });
    }
    let kept: std::collections::HashSet<&str> = transformer
        .iter()
        .chain(&vae)
        .map(|(original, _)| original.as_str())
        .collect();
    let dropped = names
        .iter()
        .filter(|name| !kept.contains(*name))
        .map(|name| name.to_string())
        .collect();
    Ok(Plan {
        model_type,
        vae_layout,
        transformer,
        vae,
        dropped,
    })
}

/// `convert_ltx_transformer_checkpoint_to_diffusers` on names (sorted).
pub fn transformer_renames(names: &[&str]) -> Renames {
    const RENAMES: [(&str, &str); 5] = [
        ("model.diffusion_model.", ""),
        ("patchify_proj", "proj_in"),
        ("adaln_single", "time_embed"),
        ("q_norm", "norm_q"),
        ("k_norm", "norm_k"),
    ];
    let mut dict = PyDict::from_names(names.iter().filter(|name| !name.contains("vae")));
    dict.rename_all(&RENAMES);
    dict.into_renames()
}

/// `convert_ltx_vae_checkpoint_to_diffusers` on names (sorted), with the
/// layout it detected (or was told).
pub fn vae_renames(names: &[&str], layout: VaeLayout) -> Renames {
    let mut renames: Vec<(&str, &str)> = vec![
        ("vae.", ""),
        ("up_blocks.0", "mid_block"),
        ("up_blocks.1", "up_blocks.0"),
        ("up_blocks.2", "up_blocks.1.upsamplers.0"),
        ("up_blocks.3", "up_blocks.1"),
        ("up_blocks.4", "up_blocks.2.conv_in"),
        ("up_blocks.5", "up_blocks.2.upsamplers.0"),
        ("up_blocks.6", "up_blocks.2"),
        ("up_blocks.7", "up_blocks.3.conv_in"),
        ("up_blocks.8", "up_blocks.3.upsamplers.0"),
        ("up_blocks.9", "up_blocks.3"),
        ("down_blocks.0", "down_blocks.0"),
        ("down_blocks.1", "down_blocks.0.downsamplers.0"),
        ("down_blocks.2", "down_blocks.0.conv_out"),
        ("down_blocks.3", "down_blocks.1"),
        ("down_blocks.4", "down_blocks.1.downsamplers.0"),
        ("down_blocks.5", "down_blocks.1.conv_out"),
        ("down_blocks.6", "down_blocks.2"),
        ("down_blocks.7", "down_blocks.2.downsamplers.0"),
        ("down_blocks.8", "down_blocks.3"),
        ("down_blocks.9", "mid_block"),
        ("conv_shortcut", "conv_shortcut.conv"),
        ("res_blocks", "resnets"),
        ("norm3.norm", "norm3"),
        ("per_channel_statistics.mean-of-means", "latents_mean"),
        ("per_channel_statistics.std-of-means", "latents_std"),
    ];
    const DECODER_091: [(&str, &str); 9] = [
        ("up_blocks.0", "mid_block"),
        ("up_blocks.1", "up_blocks.0.upsamplers.0"),
        ("up_blocks.2", "up_blocks.0"),
        ("up_blocks.3", "up_blocks.1.upsamplers.0"),
        ("up_blocks.4", "up_blocks.1"),
        ("up_blocks.5", "up_blocks.2.upsamplers.0"),
        ("up_blocks.6", "up_blocks.2"),
        ("up_blocks.7", "up_blocks.3.upsamplers.0"),
        ("up_blocks.8", "up_blocks.3"),
    ];
    const TIME: [(&str, &str); 2] = [
        ("last_time_embedder", "time_embedder"),
        ("last_scale_shift_table", "scale_shift_table"),
    ];
    const ENCODER_095: [(&str, &str); 9] = [
        ("down_blocks.0", "down_blocks.0"),
        ("down_blocks.1", "down_blocks.0.downsamplers.0"),
        ("down_blocks.2", "down_blocks.1"),
        ("down_blocks.3", "down_blocks.1.downsamplers.0"),
        ("down_blocks.4", "down_blocks.2"),
        ("down_blocks.5", "down_blocks.2.downsamplers.0"),
        ("down_blocks.6", "down_blocks.3"),
        ("down_blocks.7", "down_blocks.3.downsamplers.0"),
        ("down_blocks.8", "mid_block"),
    ];
    // VAE_095_RENAME_DICT is the 0.9.1 decoder table, the 0.9.5 encoder
    // table and the time names, in that order.
    match layout {
        VaeLayout::V0_9_0 => {}
        VaeLayout::V0_9_1 => py_update(&mut renames, DECODER_091.iter().chain(&TIME)),
        VaeLayout::V0_9_5 => py_update(
            &mut renames,
            DECODER_091.iter().chain(&ENCODER_095).chain(&TIME),
        ),
    }
    const REMOVED: [&str; 3] = [
        "per_channel_statistics.channel",
        "per_channel_statistics.mean-of-means",
        "per_channel_statistics.mean-of-stds",
    ];
    let mut dict = PyDict::from_names(names.iter().filter(|name| name.contains("vae.")));
    dict.rename_all(&renames);
    for key in dict.keys() {
        if REMOVED.iter().any(|special| key.contains(special)) {
            dict.pop(&key);
        }
    }
    dict.into_renames()
}

/// What [`convert_file`] wrote.
#[derive(Debug, Clone)]
pub struct Converted {
    pub plan: Plan,
    pub transformer: PathBuf,
    pub vae: PathBuf,
}

/// Converts the single file `source` into `model_dir`/[`TRANSFORMER_FILE`]
/// and `model_dir`/[`VAE_FILE`] (folders created), the VAE layout detected
/// as diffusers does.
pub fn convert_file(source: &Path, model_dir: &Path) -> Result<Converted, SingleFileError> {
    convert_file_as(source, model_dir, None)
}

/// [`convert_file`] with the VAE layout given rather than detected.
pub fn convert_file_as(
    source: &Path,
    model_dir: &Path,
    vae_layout: Option<VaeLayout>,
) -> Result<Converted, SingleFileError> {
    let file = Source::open(source).map_err(|source_err| SingleFileError::Open {
        path: source.to_path_buf(),
        source: source_err,
    })?;
    let views = file.views();
    let plan = plan(source, &shapes(&views), vae_layout)?;
    let write = |renames: &Renames, relative: &str| -> Result<PathBuf, SingleFileError> {
        let target = model_dir.join(relative);
        write_renamed(&views, renames, &target).map_err(|message| SingleFileError::Write {
            path: target.clone(),
            message,
        })
    };
    let transformer = write(&plan.transformer, TRANSFORMER_FILE)?;
    let vae = write(&plan.vae, VAE_FILE)?;
    Ok(Converted {
        plan,
        transformer,
        vae,
    })
}
