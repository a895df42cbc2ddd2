//! Single-file LTX-2 checkpoints (the original ltx-core layout Lightricks
//! publishes: ltx-2-19b-distilled.safetensors, ltx-2-19b-dev.safetensors)
//! converted to the diffusers layout the engine loads.
//!
//! One file holds every component but Gemma, each under the prefix ltx-core's
//! loaders read it by: the transformer under `model.diffusion_model.`, the
//! text connectors inside it (`…video_embeddings_connector.`,
//! `…audio_embeddings_connector.`) with their input projection under
//! `text_embedding_projection.aggregate_embed.`, the video VAE under `vae.`,
//! the audio VAE under `audio_vae.`, the vocoder under `vocoder.`.
//!
//! The transformer's, video VAE's and audio VAE's renaming is diffusers'
//! single-file loader's (loaders/single_file_utils.py:
//! `convert_ltx2_transformer_to_diffusers`, `convert_ltx2_vae_to_diffusers`,
//! `convert_ltx2_audio_vae_to_diffusers`), step for step. diffusers' loader
//! takes the connectors and the vocoder from Lightricks/LTX-2 instead; here
//! they come from the file too, renamed as diffusers' conversion script
//! (scripts/convert_ltx2_to_diffusers.py), which made that repository, does,
//! so a checkpoint whose connectors differ from the base's keeps its own.
//!
//! diffusers 0.42.1 tells LTX-2 by `CHECKPOINT_KEY_NAMES["ltx2"]` but tests
//! LTX-Video's names first, and an LTX-2 transformer has those too
//! (`model.diffusion_model.patchify_proj.weight`): its
//! `infer_diffusers_model_type` takes an LTX-2 file for LTX-Video 0.9.7.
//! [`is_ltx2`] is the test to make first.
//!
//! Every name of the file goes to a component or is one of the statistics
//! diffusers drops; any other is an error naming it. The converted names and
//! shapes are then checked against the base's configs by building each
//! component with reel's own constructors over shapes only ([`check_shapes`]),
//! so a file that does not fit its base fails before anything is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::load::{self, LoadError};
use super::{audio_vae, connectors, transformer, vae, vocoder};
use crate::single_file::{shapes, write_renamed, PyDict, Renames, Source};

/// diffusers' `CHECKPOINT_KEY_NAMES["ltx2"]`.
pub const LTX2_MARKERS: [&str; 3] = [
    "model.diffusion_model.av_ca_a2v_gate_adaln_single.emb.timestep_embedder.linear_1.weight",
    "vae.per_channel_statistics.mean-of-means",
    "audio_vae.per_channel_statistics.mean-of-means",
];
/// Those of [`LTX2_MARKERS`] only LTX-2 has: LTX-Video files carry the
/// video VAE's statistics too.
const LTX2_ONLY_MARKERS: [&str; 2] = [LTX2_MARKERS[0], LTX2_MARKERS[2]];
/// The weights file of each component folder.
pub const WEIGHTS: &str = "diffusion_pytorch_model.safetensors";

const TRANSFORMER_PREFIX: &str = "model.diffusion_model.";
const CONNECTOR_PREFIXES: [&str; 2] =
    ["video_embeddings_connector.", "audio_embeddings_connector."];
const PROJECTION_PREFIX: &str = "text_embedding_projection.aggregate_embed.";
const VAE_PREFIX: &str = "vae.";
const AUDIO_VAE_PREFIX: &str = "audio_vae.";
const VOCODER_PREFIX: &str = "vocoder.";
/// Statistics of the original VAEs no diffusers model has
/// (`LTX_2_0_VAE_SPECIAL_KEYS_REMAP`; the audio VAE's loader ignores them).
const DROPPED_STATISTICS: [&str; 2] = [
    "per_channel_statistics.channel",
    "per_channel_statistics.mean-of-stds",
];

/// A diffusers component folder the single file fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    Transformer,
    Connectors,
    Vae,
    AudioVae,
    Vocoder,
}

impl Component {
    pub const ALL: [Component; 5] = [
        Component::Transformer,
        Component::Connectors,
        Component::Vae,
        Component::AudioVae,
        Component::Vocoder,
    ];

    /// Its folder in the model directory.
    pub fn folder(self) -> &'static str {
        match self {
            Component::Transformer => "transformer",
            Component::Connectors => "connectors",
            Component::Vae => "vae",
            Component::AudioVae => "audio_vae",
            Component::Vocoder => "vocoder",
        }
    }

    /// Where its converted weights go inside the model directory.
    pub fn weights_file(self) -> String {
        format!("{}/{WEIGHTS}", self.folder())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SingleFileError {
    #[error("{path}: not a readable safetensors file: {source}")]
    Open {
        path: PathBuf,
        source: candle_core::Error,
    },
    #[error(
        "{path}: not an LTX-2 single-file checkpoint: none of the names only LTX-2 \
         has ({}) is in it (its first names: {found})",
        LTX2_ONLY_MARKERS.join(", ")
    )]
    NotLtx2 { path: PathBuf, found: String },
    #[error("{path}: the checkpoint has no {} weights", .component.folder())]
    Missing { path: PathBuf, component: Component },
    #[error(
        "{path}: {count} names belong to no LTX-2 component (a newer or other model?): {names}"
    )]
    Unknown {
        path: PathBuf,
        count: usize,
        names: String,
    },
    #[error("{path}: does not fit {config}: {reason}")]
    Shapes {
        path: PathBuf,
        config: PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Config(#[from] LoadError),
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// What a conversion makes of a file's names.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Each component's renaming, in [`Component::ALL`]'s order.
    pub components: Vec<(Component, Renames)>,
    /// Original names no component keeps (the statistics diffusers drops).
    pub dropped: Vec<String>,
}

impl Plan {
    pub fn renames(&self, component: Component) -> &Renames {
        &self
            .components
            .iter()
            .find(|(c, _)| *c == component)
            .expect("every component is planned")
            .1
    }
}

/// Whether the file's names are LTX-2's: its audio-video transformer's or
/// audio VAE's marker (diffusers' third marker, the video VAE's statistics,
/// is in LTX-Video files too; diffusers gets away with it by testing
/// LTX-Video first, which is what takes LTX-2 files for LTX-Video).
pub fn is_ltx2<V>(shapes: &BTreeMap<String, V>) -> bool {
    LTX2_ONLY_MARKERS
        .iter()
        .any(|name| shapes.contains_key(*name))
}

/// The renaming of every name in `shapes`: an error for a file that is not
/// LTX-2, lacks a component, or has names no component takes.
pub fn plan(path: &Path, shapes: &BTreeMap<String, Vec<usize>>) -> Result<Plan, SingleFileError> {
    if !is_ltx2(shapes) {
        let found = shapes.keys().take(5).cloned().collect::<Vec<_>>();
        return Err(SingleFileError::NotLtx2 {
            path: path.to_path_buf(),
            found: if found.is_empty() {
                "none".into()
            } else {
                found.join(", ")
            },
        });
    }
    // BTreeMap order is byte order: the sorted order of Python's str keys.
    let names: Vec<&str> = shapes.keys().map(String::as_str).collect();
    let components = vec![
        (Component::Transformer, transformer_renames(&names)),
        (Component::Connectors, connector_renames(&names)),
        (Component::Vae, vae_renames(&names)),
        (Component::AudioVae, audio_vae_renames(&names)),
        (Component::Vocoder, vocoder_renames(&names)),
    ];
    for (component, renames) in &components {
        if renames.is_empty() {
            return Err(SingleFileError::Missing {
                path: path.to_path_buf(),
                component: *component,
            });
        }
    }
    let kept: BTreeSet<&str> = components
        .iter()
        .flat_map(|(_, renames)| renames.iter().map(|(original, _)| original.as_str()))
        .collect();
    let (dropped, unknown): (Vec<&str>, Vec<&str>) = names
        .iter()
        .filter(|name| !kept.contains(*name))
        .partition(|name| {
            (name.starts_with(VAE_PREFIX) || name.starts_with(AUDIO_VAE_PREFIX))
                && DROPPED_STATISTICS.iter().any(|s| name.contains(s))
        });
    if !unknown.is_empty() {
        const SHOWN: usize = 10;
        let mut listed = unknown
            .iter()
            .take(SHOWN)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if unknown.len() > SHOWN {
            listed.push_str(", …");
        }
        return Err(SingleFileError::Unknown {
            path: path.to_path_buf(),
            count: unknown.len(),
            names: listed,
        });
    }
    Ok(Plan {
        components,
        dropped: dropped.into_iter().map(str::to_string).collect(),
    })
}

fn is_connector(name: &str) -> bool {
    name.strip_prefix(TRANSFORMER_PREFIX)
        .is_some_and(|rest| CONNECTOR_PREFIXES.iter().any(|p| rest.starts_with(p)))
}

/// `convert_ltx2_transformer_to_diffusers` on the transformer's names
/// (sorted). diffusers runs it on the whole file and its model loader keeps
/// the names the model has; no other prefix survives into those, so the
/// transformer's prefix selects the same names.
pub fn transformer_renames(names: &[&str]) -> Renames {
    const RENAMES: [(&str, &str); 11] = [
        ("model.diffusion_model.", ""),
        ("patchify_proj", "proj_in"),
        ("audio_patchify_proj", "audio_proj_in"),
        (
            "av_ca_video_scale_shift_adaln_single",
            "av_cross_attn_video_scale_shift",
        ),
        (
            "av_ca_a2v_gate_adaln_single",
            "av_cross_attn_video_a2v_gate",
        ),
        (
            "av_ca_audio_scale_shift_adaln_single",
            "av_cross_attn_audio_scale_shift",
        ),
        (
            "av_ca_v2a_gate_adaln_single",
            "av_cross_attn_audio_v2a_gate",
        ),
        (
            "scale_shift_table_a2v_ca_video",
            "video_a2v_cross_attn_scale_shift_table",
        ),
        (
            "scale_shift_table_a2v_ca_audio",
            "audio_a2v_cross_attn_scale_shift_table",
        ),
        ("q_norm", "norm_q"),
        ("k_norm", "norm_k"),
    ];
    let mut dict = PyDict::from_names(names.iter().filter(|n| n.starts_with(TRANSFORMER_PREFIX)));
    dict.rename_all(&RENAMES);
    // LTX_2_0_TRANSFORMER_SPECIAL_KEYS_REMAP, its handlers in its order.
    for key in dict.keys() {
        if key.contains("video_embeddings_connector") || key.contains("audio_embeddings_connector")
        {
            dict.pop(&key);
            continue;
        }
        if key.contains("adaln_single") && (key.contains(".weight") || key.contains(".bias")) {
            for (from, to) in [
                ("adaln_single.", "time_embed."),
                ("audio_adaln_single.", "audio_time_embed."),
            ] {
                if key.starts_with(from) {
                    if let Some(original) = dict.pop(&key) {
                        dict.insert(key.replace(from, to), original);
                    }
                }
            }
        }
    }
    dict.into_renames()
}

/// The connectors' names as diffusers' conversion script renames them
/// (`get_text_encoder_keys_from_combined_ckpt`, then
/// `LTX_2_0_TEXT_ENCODER_RENAME_DICT`): the projection becomes
/// `text_proj_in`, each connector loses the transformer's prefix.
pub fn connector_renames(names: &[&str]) -> Renames {
    const RENAMES: [(&str, &str); 5] = [
        ("video_embeddings_connector", "video_connector"),
        ("audio_embeddings_connector", "audio_connector"),
        ("transformer_1d_blocks", "transformer_blocks"),
        ("q_norm", "norm_q"),
        ("k_norm", "norm_k"),
    ];
    let projection = names.iter().filter_map(|name| {
        name.strip_prefix(PROJECTION_PREFIX)
            .map(|rest| (format!("text_proj_in.{rest}"), name.to_string()))
    });
    let connectors = names.iter().filter(|name| is_connector(name)).map(|name| {
        (
            name[TRANSFORMER_PREFIX.len()..].to_string(),
            name.to_string(),
        )
    });
    let mut dict = PyDict::from_pairs(projection);
    let mut renamed = PyDict::from_pairs(connectors);
    renamed.rename_all(&RENAMES);
    for (original, name) in renamed.into_renames() {
        dict.insert(name, original);
    }
    dict.into_renames()
}

/// `convert_ltx2_vae_to_diffusers` on the video VAE's names (sorted).
pub fn vae_renames(names: &[&str]) -> Renames {
    const RENAMES: [(&str, &str); 20] = [
        ("vae.", ""),
        ("down_blocks.0", "down_blocks.0"),
        ("down_blocks.1", "down_blocks.0.downsamplers.0"),
        ("down_blocks.2", "down_blocks.1"),
        ("down_blocks.3", "down_blocks.1.downsamplers.0"),
        ("down_blocks.4", "down_blocks.2"),
        ("down_blocks.5", "down_blocks.2.downsamplers.0"),
        ("down_blocks.6", "down_blocks.3"),
        ("down_blocks.7", "down_blocks.3.downsamplers.0"),
        ("down_blocks.8", "mid_block"),
        ("up_blocks.0", "mid_block"),
        ("up_blocks.1", "up_blocks.0.upsamplers.0"),
        ("up_blocks.2", "up_blocks.0"),
        ("up_blocks.3", "up_blocks.1.upsamplers.0"),
        ("up_blocks.4", "up_blocks.1"),
        ("up_blocks.5", "up_blocks.2.upsamplers.0"),
        ("up_blocks.6", "up_blocks.2"),
        ("res_blocks", "resnets"),
        ("per_channel_statistics.mean-of-means", "latents_mean"),
        ("per_channel_statistics.std-of-means", "latents_std"),
    ];
    autoencoder_renames(names, VAE_PREFIX, &RENAMES)
}

/// `convert_ltx2_audio_vae_to_diffusers` on the audio VAE's names (sorted);
/// statistics its model lacks are left to [`plan`]'s dropped names, as
/// diffusers' loader leaves them unused.
pub fn audio_vae_renames(names: &[&str]) -> Renames {
    const RENAMES: [(&str, &str); 3] = [
        ("audio_vae.", ""),
        ("per_channel_statistics.mean-of-means", "latents_mean"),
        ("per_channel_statistics.std-of-means", "latents_std"),
    ];
    autoencoder_renames(names, AUDIO_VAE_PREFIX, &RENAMES)
}

/// Both VAEs' conversion: the names under `prefix`, renamed by `renames`,
/// less the statistics diffusers drops.
fn autoencoder_renames(names: &[&str], prefix: &str, renames: &[(&str, &str)]) -> Renames {
    let mut dict = PyDict::from_names(names.iter().filter(|n| n.starts_with(prefix)));
    dict.rename_all(renames);
    for key in dict.keys() {
        if DROPPED_STATISTICS.iter().any(|s| key.contains(s)) {
            dict.pop(&key);
        }
    }
    dict.into_renames()
}

/// The vocoder's names as diffusers' conversion script renames them
/// (`LTX_2_0_VOCODER_RENAME_DICT` after the prefix is cut).
pub fn vocoder_renames(names: &[&str]) -> Renames {
    const RENAMES: [(&str, &str); 4] = [
        ("ups", "upsamplers"),
        ("resblocks", "resnets"),
        ("conv_pre", "conv_in"),
        ("conv_post", "conv_out"),
    ];
    let mut dict = PyDict::from_pairs(names.iter().filter_map(|name| {
        name.strip_prefix(VOCODER_PREFIX)
            .map(|rest| (rest.to_string(), name.to_string()))
    }));
    dict.rename_all(&RENAMES);
    dict.into_renames()
}

/// A `VarBuilder` backend over names and shapes only: each weight a model
/// asks for is checked against the converted shapes and handed out as a
/// zero broadcast to its shape (no memory), and the names asked for are
/// recorded, so a 19B model can be "built" to check a file against its
/// config.
struct ShapeBackend {
    shapes: BTreeMap<String, Vec<usize>>,
    /// Shared with [`check_shapes`], which reads it once the model is built.
    asked: Arc<Mutex<BTreeSet<String>>>,
}

impl ShapeBackend {
    fn tensor(shape: &[usize], dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        Tensor::zeros((), dtype, dev)?.broadcast_as(shape)
    }

    fn record(&self, name: &str) {
        if let Ok(mut asked) = self.asked.lock() {
            asked.insert(name.to_string());
        }
    }
}

impl SimpleBackend for ShapeBackend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.record(name);
        let found = self
            .shapes
            .get(name)
            .ok_or_else(|| candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            })?;
        if found.as_slice() != s.dims() {
            return Err(candle_core::Error::UnexpectedShape {
                msg: format!("shape mismatch for {name}"),
                expected: s,
                got: found.clone().into(),
            });
        }
        Self::tensor(found, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.record(name);
        let found = self
            .shapes
            .get(name)
            .ok_or_else(|| candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            })?;
        Self::tensor(found, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.shapes.contains_key(name)
    }
}

#[derive(Deserialize)]
struct ClassName {
    #[serde(rename = "_class_name")]
    class_name: Option<String>,
}

/// Builds `component` from `config_dir/config.json` over the converted
/// `shapes` (diffusers names): every weight it needs must be there with
/// its shape. Returns the converted names the model did not ask for
/// (reported, not fatal: diffusers' loader leaves such names unused too).
pub fn check_shapes(
    component: Component,
    config_dir: &Path,
    shapes: BTreeMap<String, Vec<usize>>,
) -> Result<Vec<String>, SingleFileError> {
    let names: Vec<String> = shapes.keys().cloned().collect();
    let asked = Arc::new(Mutex::new(BTreeSet::new()));
    let backend = ShapeBackend {
        shapes,
        asked: asked.clone(),
    };
    let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, Device::Cpu);
    let built: candle_core::Result<()> = match component {
        Component::Transformer => {
            let cfg: transformer::Config =
                load::read_config(config_dir, "LTX2VideoTransformer3DModel")?;
            cfg.check().map_err(|reason| {
                load::invalid_config(config_dir, "LTX2VideoTransformer3DModel", reason)
            })?;
            transformer::Transformer::new(&cfg, vb).map(drop)
        }
        Component::Connectors => {
            let cfg: connectors::Config = load::read_config(config_dir, "LTX2TextConnectors")?;
            connectors::TextConnectors::new(&cfg, vb).map(drop)
        }
        Component::Vae => {
            let cfg: vae::Config = load::read_config(config_dir, "AutoencoderKLLTX2Video")?;
            vae::VideoAutoencoder::new(&cfg, vb).map(drop)
        }
        Component::AudioVae => {
            let cfg: audio_vae::Config = load::read_config(config_dir, "AutoencoderKLLTX2Audio")?;
            audio_vae::AudioAutoencoder::new(&cfg, vb).map(drop)
        }
        Component::Vocoder => {
            let class: ClassName = load::read_config(config_dir, "vocoder")?;
            if class.class_name.as_deref() == Some("LTX2VocoderWithBWE") {
                let cfg: vocoder::BweConfig = load::read_config(config_dir, "LTX2VocoderWithBWE")?;
                vocoder::VocoderWithBwe::new(&cfg, vb).map(drop)
            } else {
                let cfg: vocoder::Config = load::read_config(config_dir, "LTX2Vocoder")?;
                vocoder::Vocoder::new(&cfg, vb).map(drop)
            }
        }
    };
    built.map_err(|e| SingleFileError::Shapes {
        path: config_dir.join(WEIGHTS),
        config: config_dir.join("config.json"),
        reason: e.to_string(),
    })?;
    let asked = asked.lock().map(|a| a.clone()).unwrap_or_default();
    Ok(names
        .into_iter()
        .filter(|name| !asked.contains(name))
        .collect())
}

/// The converted names and shapes of one component.
pub fn converted_shapes(
    renames: &Renames,
    shapes: &BTreeMap<String, Vec<usize>>,
) -> BTreeMap<String, Vec<usize>> {
    renames
        .iter()
        .filter_map(|(original, name)| shapes.get(original).map(|s| (name.clone(), s.clone())))
        .collect()
}

/// What [`convert_file`] wrote.
#[derive(Debug, Clone)]
pub struct Converted {
    pub plan: Plan,
    /// Each component's weights file.
    pub files: Vec<(Component, PathBuf)>,
    /// Converted names a component's model did not ask for, per component
    /// (only when configs were given).
    pub unused: Vec<(Component, Vec<String>)>,
}

/// Converts the single file `source` into `model_dir`/<component>/[`WEIGHTS`]
/// for every [`Component`]. With `configs`, a directory holding each
/// component's diffusers `config.json` in its folder (the base
/// repository's), every component is first checked against its config
/// ([`check_shapes`]) and nothing is written when one does not fit.
pub fn convert_file(
    source: &Path,
    model_dir: &Path,
    configs: Option<&Path>,
) -> Result<Converted, SingleFileError> {
    let file = Source::open(source).map_err(|source_err| SingleFileError::Open {
        path: source.to_path_buf(),
        source: source_err,
    })?;
    let views = file.views();
    let shapes = shapes(&views);
    let plan = plan(source, &shapes)?;
    let mut unused = Vec::new();
    if let Some(configs) = configs {
        for (component, renames) in &plan.components {
            let left = check_shapes(
                *component,
                &configs.join(component.folder()),
                converted_shapes(renames, &shapes),
            )
            .map_err(|e| match e {
                SingleFileError::Shapes { config, reason, .. } => SingleFileError::Shapes {
                    path: source.to_path_buf(),
                    config,
                    reason,
                },
                other => other,
            })?;
            unused.push((*component, left));
        }
    }
    let mut files = Vec::new();
    for (component, renames) in &plan.components {
        let target = model_dir.join(component.weights_file());
        let written =
            write_renamed(&views, renames, &target).map_err(|message| SingleFileError::Write {
                path: target,
                message,
            })?;
        files.push((*component, written));
    }
    Ok(Converted {
        plan,
        files,
        unused,
    })
}
