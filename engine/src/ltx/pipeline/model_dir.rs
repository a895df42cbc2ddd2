//! The diffusers-layout model directory: `model_index.json` plus one folder
//! per component, each with its config and safetensors weights (one file, or
//! shards listed by an index json).
//!
//! Everything that can be wrong with a directory is found here, at load
//! time, and reported as one [`LoadError`] naming the file and what was
//! expected: a render never starts on a directory that cannot finish it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::Deserialize;

pub use crate::ltx::load::LoadError;
use crate::ltx::load::{self, check_header, read_json};
use crate::ltx::scheduler::DISTILLED_SIGMAS;
use crate::ltx::weights;

/// Pipelines whose directories hold an LTX-Video 0.9.x checkpoint.
pub const PIPELINE_CLASSES: [&str; 3] = [
    "LTXPipeline",
    "LTXImageToVideoPipeline",
    "LTXConditionPipeline",
];

/// Which LTX-Video release a directory holds; picks the sampling defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointKind {
    /// 0.9.0: the VAE decoder takes no timestep.
    V0_9_0,
    /// 0.9.1: timestep-conditioned VAE decoder.
    V0_9_1,
    /// 0.9.5 and later (0.9.6/0.9.7/0.9.8 dev): the 0.9.5 VAE.
    V0_9_5,
    /// Guidance- and timestep-distilled (0.9.6, 0.9.7, 0.9.8 distilled): 8 steps, no CFG.
    Distilled,
}

/// Sampling settings a checkpoint is meant to be used with (diffusers'
/// LTX-Video documentation and pipeline defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingDefaults {
    pub steps: usize,
    /// Explicit sigmas (1 → 0, without the final 0) instead of the shifted
    /// linear schedule; the transformer gets `1000 · sigma`.
    pub sigmas: Option<Vec<f64>>,
    pub guidance_scale: f64,
    pub decode_timestep: f64,
    pub decode_noise_scale: f64,
    pub negative_prompt: String,
}

impl CheckpointKind {
    pub fn defaults(self) -> SamplingDefaults {
        let negative_prompt =
            "worst quality, inconsistent motion, blurry, jittery, distorted".into();
        match self {
            CheckpointKind::Distilled => SamplingDefaults {
                steps: DISTILLED_SIGMAS.len(),
                sigmas: Some(DISTILLED_SIGMAS.to_vec()),
                guidance_scale: 1.0,
                decode_timestep: 0.05,
                decode_noise_scale: 0.025,
                negative_prompt,
            },
            CheckpointKind::V0_9_0 => SamplingDefaults {
                steps: 50,
                sigmas: None,
                guidance_scale: 3.0,
                decode_timestep: 0.0,
                decode_noise_scale: 0.0,
                negative_prompt,
            },
            CheckpointKind::V0_9_1 | CheckpointKind::V0_9_5 => SamplingDefaults {
                steps: 50,
                sigmas: None,
                guidance_scale: 3.0,
                decode_timestep: 0.05,
                decode_noise_scale: 0.025,
                negative_prompt,
            },
        }
    }

    /// The names `engine.checkpoint` takes besides "auto".
    pub const NAMES: [&'static str; 4] = ["0.9.0", "0.9.1", "0.9.5", "distilled"];

    /// `engine.checkpoint`: "auto" (None: inferred from the directory) or one of [`Self::NAMES`].
    pub fn parse_setting(s: &str) -> Result<Option<Self>, String> {
        Ok(Some(match s {
            "auto" => return Ok(None),
            "0.9.0" => CheckpointKind::V0_9_0,
            "0.9.1" => CheckpointKind::V0_9_1,
            "0.9.5" => CheckpointKind::V0_9_5,
            "distilled" => CheckpointKind::Distilled,
            other => {
                return Err(format!(
                    "unknown checkpoint {other:?}; expected auto, {} (0.9.5 also stands for the 0.9.6-0.9.8 dev releases, distilled for 0.9.6-0.9.8 distilled)",
                    Self::NAMES.join(", ")
                ))
            }
        }))
    }

    /// The `engine.checkpoint` value that selects this kind.
    pub fn setting_name(self) -> &'static str {
        match self {
            CheckpointKind::V0_9_0 => "0.9.0",
            CheckpointKind::V0_9_1 => "0.9.1",
            CheckpointKind::V0_9_5 => "0.9.5",
            CheckpointKind::Distilled => "distilled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CheckpointKind::V0_9_0 => "0.9.0",
            CheckpointKind::V0_9_1 => "0.9.1",
            CheckpointKind::V0_9_5 => "0.9.5+",
            CheckpointKind::Distilled => "0.9.6+ distilled",
        }
    }
}

#[derive(Deserialize)]
struct ModelIndex {
    #[serde(rename = "_class_name")]
    class_name: String,
    #[serde(rename = "_diffusers_version")]
    diffusers_version: String,
    #[serde(rename = "_name_or_path", default)]
    name_or_path: Option<String>,
}

/// The few VAE config fields that tell the releases apart and fix the
/// compression; the VAE itself parses the whole file.
#[derive(Deserialize)]
struct VaeShape {
    #[serde(rename = "_class_name")]
    class_name: String,
    latent_channels: usize,
    patch_size: usize,
    #[serde(default = "one")]
    patch_size_t: usize,
    spatio_temporal_scaling: Vec<bool>,
    #[serde(default)]
    down_block_types: Vec<String>,
    #[serde(default)]
    timestep_conditioning: bool,
    #[serde(default)]
    spatial_compression_ratio: Option<usize>,
    #[serde(default)]
    temporal_compression_ratio: Option<usize>,
}

fn one() -> usize {
    1
}

#[derive(Deserialize)]
struct TransformerShape {
    #[serde(rename = "_class_name")]
    class_name: String,
    in_channels: usize,
    caption_channels: usize,
    #[serde(default = "one")]
    patch_size: usize,
    #[serde(default = "one")]
    patch_size_t: usize,
}

#[derive(Deserialize)]
struct TextEncoderShape {
    d_model: usize,
}

/// A checked model directory: every file present, configs readable and
/// consistent, weights of float dtypes. Components load from it.
#[derive(Clone, Debug)]
pub struct ModelDir {
    pub root: PathBuf,
    pub kind: CheckpointKind,
    pub pipeline_class: String,
    /// Pixels per latent along height/width (32) and frames per latent frame (8).
    pub spatial_compression: usize,
    pub temporal_compression: usize,
    pub latent_channels: usize,
    /// Whether the VAE decoder takes a timestep (0.9.1+).
    pub timestep_conditioning: bool,
    weights: HashMap<&'static str, Vec<PathBuf>>,
}

/// Components and the base name of their weight files.
const COMPONENTS: [(&str, &str); 3] = [
    ("transformer", "diffusion_pytorch_model"),
    ("vae", "diffusion_pytorch_model"),
    ("text_encoder", "model"),
];

impl ModelDir {
    /// Checks `root` without reading any weights (headers only); the
    /// checkpoint kind is inferred.
    pub fn open(root: &Path) -> Result<Self, LoadError> {
        Self::open_as(root, None)
    }

    /// [`ModelDir::open`] with the checkpoint kind given (`engine.checkpoint`),
    /// checked against the VAE's config, or inferred when `None`.
    pub fn open_as(root: &Path, checkpoint: Option<CheckpointKind>) -> Result<Self, LoadError> {
        if !root.is_dir() {
            return Err(LoadError::MissingDir(root.to_path_buf()));
        }
        let index_path = root.join("model_index.json");
        let index: ModelIndex = read_json(&index_path, "the pipeline's model_index.json")?;
        if !PIPELINE_CLASSES.contains(&index.class_name.as_str()) {
            return Err(LoadError::UnknownCheckpoint {
                path: index_path,
                found: format!("_class_name {:?}", index.class_name),
                expected: format!("one of {}", PIPELINE_CLASSES.join(", ")),
            });
        }
        if index.diffusers_version.trim().is_empty() {
            return Err(LoadError::invalid(
                &index_path,
                "_diffusers_version is empty",
            ));
        }
        for dir in ["scheduler", "tokenizer"] {
            if !root.join(dir).is_dir() {
                return Err(LoadError::MissingFile {
                    path: root.join(dir),
                    expected: format!("the {dir} folder"),
                });
            }
        }
        let scheduler = root.join("scheduler").join("scheduler_config.json");
        let _: serde_json::Value = read_json(&scheduler, "the scheduler's config")?;
        let tokenizer = root.join("tokenizer");
        let has_tokenizer = ["tokenizer.json", "spiece.model"]
            .iter()
            .any(|f| tokenizer.join(f).is_file());
        if !has_tokenizer {
            return Err(LoadError::MissingFile {
                path: tokenizer.join("tokenizer.json"),
                expected: "the T5 tokenizer (tokenizer.json or spiece.model)".into(),
            });
        }

        let vae_path = root.join("vae").join("config.json");
        let vae: VaeShape = read_json(&vae_path, "the VAE's config")?;
        if vae.class_name != "AutoencoderKLLTXVideo" {
            return Err(LoadError::UnknownCheckpoint {
                path: vae_path,
                found: format!("_class_name {:?}", vae.class_name),
                expected: "AutoencoderKLLTXVideo".into(),
            });
        }
        let transformer_path = root.join("transformer").join("config.json");
        let transformer: TransformerShape =
            read_json(&transformer_path, "the transformer's config")?;
        if transformer.class_name != "LTXVideoTransformer3DModel" {
            return Err(LoadError::UnknownCheckpoint {
                path: transformer_path,
                found: format!("_class_name {:?}", transformer.class_name),
                expected: "LTXVideoTransformer3DModel".into(),
            });
        }
        if (transformer.patch_size, transformer.patch_size_t) != (1, 1) {
            return Err(LoadError::UnknownCheckpoint {
                path: transformer_path,
                found: format!(
                    "patch_size {} and patch_size_t {}",
                    transformer.patch_size, transformer.patch_size_t
                ),
                expected: "1 and 1, as in every LTX-Video 0.9.x".into(),
            });
        }
        let text_path = root.join("text_encoder").join("config.json");
        let text: TextEncoderShape = read_json(&text_path, "the T5 encoder's config")?;
        if transformer.in_channels != vae.latent_channels {
            return Err(LoadError::invalid(
                &transformer_path,
                format!(
                    "in_channels = {} but vae/config.json has latent_channels = {}; expected them equal",
                    transformer.in_channels, vae.latent_channels
                ),
            ));
        }
        if transformer.caption_channels != text.d_model {
            return Err(LoadError::invalid(
                &transformer_path,
                format!(
                    "caption_channels = {} but text_encoder/config.json has d_model = {}; expected them equal",
                    transformer.caption_channels, text.d_model
                ),
            ));
        }
        let kind = match checkpoint {
            Some(kind) => check_kind(kind, &vae, &vae_path)?,
            None => checkpoint_kind(root, &index, &vae, &vae_path)?,
        };

        let mut weights = HashMap::new();
        for (component, base) in COMPONENTS {
            let files = weights::weight_files(&root.join(component), base)?;
            for file in &files {
                check_header(file)?;
            }
            weights.insert(component, files);
        }
        let scaled = vae.spatio_temporal_scaling.iter().filter(|s| **s).count() as u32;
        Ok(ModelDir {
            root: root.to_path_buf(),
            kind,
            pipeline_class: index.class_name,
            spatial_compression: vae
                .spatial_compression_ratio
                .unwrap_or(vae.patch_size * 2usize.pow(scaled)),
            temporal_compression: vae
                .temporal_compression_ratio
                .unwrap_or(vae.patch_size_t * 2usize.pow(scaled)),
            latent_channels: vae.latent_channels,
            timestep_conditioning: vae.timestep_conditioning,
            weights,
        })
    }

    /// `transformer`, `vae` or `text_encoder`.
    pub fn component_dir(&self, component: &str) -> PathBuf {
        self.root.join(component)
    }

    /// The weight files of a component (one, or every shard).
    pub fn weight_files(&self, component: &str) -> &[PathBuf] {
        self.weights
            .get(component)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// A VarBuilder over a component's weights, memory-mapped. Asking it for
    /// a tensor that is missing or has another shape fails naming the file.
    pub fn var_builder(
        &self,
        component: &'static str,
        dtype: DType,
        device: &Device,
    ) -> Result<VarBuilder<'static>, LoadError> {
        load::var_builder(component, self.weight_files(component), dtype, device)
    }

    /// Reads a component's config.json into `T`.
    pub fn config<T: serde::de::DeserializeOwned>(&self, component: &str) -> Result<T, LoadError> {
        read_json(
            &self.component_dir(component).join("config.json"),
            "the component's config",
        )
    }
}

/// A kind set in config, refused when the VAE's config says another release.
fn check_kind(
    kind: CheckpointKind,
    vae: &VaeShape,
    vae_path: &Path,
) -> Result<CheckpointKind, LoadError> {
    let v095 = vae
        .down_block_types
        .iter()
        .any(|b| b == "LTXVideo095DownBlock3D");
    let tc = vae.timestep_conditioning;
    let (fits, expected) = match kind {
        CheckpointKind::V0_9_0 => (
            !v095 && !tc,
            "a 0.9.0 VAE: LTXVideoDownBlock3D blocks and timestep_conditioning = false",
        ),
        CheckpointKind::V0_9_1 => (
            !v095 && tc,
            "a 0.9.1 VAE: LTXVideoDownBlock3D blocks and timestep_conditioning = true",
        ),
        CheckpointKind::V0_9_5 => (v095, "a 0.9.5+ VAE: LTXVideo095DownBlock3D blocks"),
        CheckpointKind::Distilled => (tc, "a distilled (0.9.6+) VAE: timestep_conditioning = true"),
    };
    if fits {
        return Ok(kind);
    }
    Err(LoadError::UnknownCheckpoint {
        path: vae_path.to_path_buf(),
        found: format!(
            "engine.checkpoint = {:?}, but this VAE has {} blocks and timestep_conditioning = {tc}",
            kind.setting_name(),
            if v095 { "0.9.5+" } else { "0.9.0/0.9.1" }
        ),
        expected: expected.into(),
    })
}

fn checkpoint_kind(
    root: &Path,
    index: &ModelIndex,
    vae: &VaeShape,
    vae_path: &Path,
) -> Result<CheckpointKind, LoadError> {
    const KNOWN_BLOCKS: [&str; 2] = ["LTXVideoDownBlock3D", "LTXVideo095DownBlock3D"];
    if let Some(block) = vae
        .down_block_types
        .iter()
        .find(|b| !KNOWN_BLOCKS.contains(&b.as_str()))
    {
        return Err(LoadError::UnknownCheckpoint {
            path: vae_path.to_path_buf(),
            found: format!("down block {block:?}"),
            expected: format!("LTX-Video 0.9.x VAE blocks ({})", KNOWN_BLOCKS.join(", ")),
        });
    }
    // Nothing in the configs tells a distilled checkpoint from its dev
    // sibling: the path does (a Hugging Face cache snapshot sits under
    // `models--Lightricks--LTX-Video-0.9.7-distilled/snapshots/<commit>`), or
    // the hub name in model_index.json.
    let named = |s: &str| s.to_ascii_lowercase().contains("distilled");
    let in_path = |p: &Path| {
        p.components()
            .rev()
            .take(3)
            .any(|c| c.as_os_str().to_str().is_some_and(named))
    };
    let distilled = in_path(root)
        || std::fs::canonicalize(root).is_ok_and(|p| in_path(&p))
        || index.name_or_path.as_deref().is_some_and(named);
    let v095 = vae
        .down_block_types
        .iter()
        .any(|b| b == "LTXVideo095DownBlock3D");
    Ok(match (distilled, v095, vae.timestep_conditioning) {
        (true, _, true) => CheckpointKind::Distilled,
        (true, _, false) => {
            return Err(LoadError::UnknownCheckpoint {
                path: vae_path.to_path_buf(),
                found: "a distilled checkpoint whose VAE takes no timestep".into(),
                expected: "timestep_conditioning = true (0.9.6+ distilled)".into(),
            })
        }
        (false, true, _) => CheckpointKind::V0_9_5,
        (false, false, true) => CheckpointKind::V0_9_1,
        (false, false, false) => CheckpointKind::V0_9_0,
    })
}
