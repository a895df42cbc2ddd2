//! The checkpoints `reel pull` knows: name → Hugging Face repository.
//!
//! Where this came from (public pages read in November 2026; the build
//! machine has no network, so nothing here was fetched to check it):
//! - Lightricks' "LTX-Video models" collection on huggingface.co lists every
//!   official release. The diffusers-layout repositories (model_index.json,
//!   scheduler/, text_encoder/, tokenizer/, transformer/, vae/) among them are
//!   Lightricks/LTX-Video-0.9.1, -0.9.5, -0.9.7-dev, -0.9.7-distilled and
//!   -0.9.8-13B-distilled. diffusers' own single-file loader maps 0.9.1, 0.9.5
//!   and 0.9.7 to those repositories (loaders/single_file_utils.py).
//! - The 2B distilled checkpoints 0.9.6 and 0.9.8 are published only as single
//!   `.safetensors` files in Lightricks/LTX-Video (original LTX layout, no T5,
//!   no tokenizer): ltxv-2b-0.9.6-distilled-04-25.safetensors and
//!   ltxv-2b-0.9.8-distilled.safetensors (Lightricks/LTX-Video's README, "2B
//!   from 13B Distilled model"). No diffusers-layout repository of either was
//!   found, official or converted. diffusers loads such a file on the
//!   diffusers-layout repository of the release it infers from the weights
//!   (a 2048-input VAE encoder conv_out: 0.9.5), and so does `reel pull`:
//!   the base's configs, scheduler, text encoder and tokenizer, and the
//!   single file converted into transformer/ and vae/ weights.
//!
//! - LTX-2 (Lightricks/LTX-2) is both a diffusers-layout repository and, in
//!   the same repository, single files in ltx-core's original layout
//!   (ltx-2-19b-distilled.safetensors, ltx-2-19b-dev.safetensors; their
//!   fp8 variants are not taken: the engine loads floats). diffusers 0.42.1
//!   maps every LTX-2 single file to Lightricks/LTX-2 ("ltx2-dev"), and
//!   `reel pull` takes Gemma 3, the tokenizer, the scheduler and the configs
//!   from there. It knows no single-file layout for LTX-2.3 (per-modality
//!   text projections, the vocoder with bandwidth extension), so the 2.3
//!   files are not offered; `ltx-2.3` is its diffusers-layout repository.
//!
//! Revisions are branch names: no commit id could be confirmed offline. The
//! commit actually downloaded is the snapshot directory's name.

/// Where a checkpoint's weights are published.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// A diffusers-layout repository: what the engine loads.
    Diffusers {
        repo: &'static str,
        revision: &'static str,
    },
    /// Only a single-file checkpoint in the original LTX layout: converted
    /// into a model directory on the diffusers-layout `base`.
    SingleFile {
        repo: &'static str,
        revision: &'static str,
        file: &'static str,
        /// The diffusers-layout repository diffusers' single-file loader
        /// takes the configs and the other components from.
        base: &'static str,
        base_revision: &'static str,
        format: SingleFileFormat,
    },
}

/// Which original layout a single file is in, and so which converter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SingleFileFormat {
    /// LTX-Video's: transformer and VAE (`reel_engine::ltx::single_file`).
    LtxVideo,
    /// LTX-2's (ltx-core): transformer, connectors, video VAE, audio VAE and
    /// vocoder (`reel_engine::ltx2::single_file`).
    Ltx2,
}

impl SingleFileFormat {
    /// The folders whose weights come from the single file; their configs,
    /// and every other component, come from the base.
    pub fn converted_folders(self) -> &'static [&'static str] {
        match self {
            SingleFileFormat::LtxVideo => &["transformer", "vae"],
            SingleFileFormat::Ltx2 => &["transformer", "connectors", "vae", "audio_vae", "vocoder"],
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct KnownModel {
    /// What `reel pull` takes.
    pub name: &'static str,
    /// One line for the list of known names.
    pub about: &'static str,
    pub source: Source,
}

pub const MODELS: &[KnownModel] = &[
    KnownModel {
        name: "ltx-video-0.9.6-distilled",
        about: "2B, distilled (8 steps, no CFG); converted from its single file",
        source: Source::SingleFile {
            repo: "Lightricks/LTX-Video",
            revision: "main",
            file: "ltxv-2b-0.9.6-distilled-04-25.safetensors",
            base: "Lightricks/LTX-Video-0.9.5",
            base_revision: "main",
            format: SingleFileFormat::LtxVideo,
        },
    },
    KnownModel {
        name: "ltx-video-0.9.8-distilled",
        about: "2B, distilled from the 13B (8 steps, no CFG); converted from its single file",
        source: Source::SingleFile {
            repo: "Lightricks/LTX-Video",
            revision: "main",
            file: "ltxv-2b-0.9.8-distilled.safetensors",
            base: "Lightricks/LTX-Video-0.9.5",
            base_revision: "main",
            format: SingleFileFormat::LtxVideo,
        },
    },
    KnownModel {
        name: "ltx-video-0.9.1",
        about: "2B, 50 steps with CFG; timestep-conditioned VAE",
        source: Source::Diffusers {
            repo: "Lightricks/LTX-Video-0.9.1",
            revision: "main",
        },
    },
    KnownModel {
        name: "ltx-video-0.9.5",
        about: "2B, 40-50 steps with CFG",
        source: Source::Diffusers {
            repo: "Lightricks/LTX-Video-0.9.5",
            revision: "main",
        },
    },
    KnownModel {
        name: "ltx-video-0.9.7-distilled",
        about: "13B, distilled (8 steps, no CFG)",
        source: Source::Diffusers {
            repo: "Lightricks/LTX-Video-0.9.7-distilled",
            revision: "main",
        },
    },
    KnownModel {
        name: "ltx-2-19b-distilled",
        about: "LTX-2 19B with sound, distilled (8 steps, no CFG); converted from its single file",
        source: Source::SingleFile {
            repo: "Lightricks/LTX-2",
            revision: "main",
            file: "ltx-2-19b-distilled.safetensors",
            base: "Lightricks/LTX-2",
            base_revision: "main",
            format: SingleFileFormat::Ltx2,
        },
    },
    KnownModel {
        name: "ltx-2-19b-dev",
        about: "LTX-2 19B with sound, full model (set engine.steps: guided); from its single file",
        source: Source::SingleFile {
            repo: "Lightricks/LTX-2",
            revision: "main",
            file: "ltx-2-19b-dev.safetensors",
            base: "Lightricks/LTX-2",
            base_revision: "main",
            format: SingleFileFormat::Ltx2,
        },
    },
    KnownModel {
        name: "ltx-2",
        about: "LTX-2 19B with sound, full model (set engine.steps: guided)",
        source: Source::Diffusers {
            repo: "Lightricks/LTX-2",
            revision: "main",
        },
    },
    KnownModel {
        name: "ltx-2.3",
        about: "LTX-2.3 22B with sound, full model (set engine.steps: guided)",
        source: Source::Diffusers {
            repo: "Lightricks/LTX-2.3",
            revision: "main",
        },
    },
    KnownModel {
        name: "ltx-video-0.9.8-13b-distilled",
        about: "13B, distilled (8 steps, no CFG)",
        source: Source::Diffusers {
            repo: "Lightricks/LTX-Video-0.9.8-13B-distilled",
            revision: "main",
        },
    },
];

/// The pipeline's component folders the engine reads, beside model_index.json.
pub const COMPONENTS: &[&str] = &[
    "scheduler",
    "text_encoder",
    "tokenizer",
    "transformer",
    "vae",
];

/// LTX-2's folders beside those: a repository with one must have them all.
pub const LTX2_COMPONENTS: &[&str] = &["connectors", "audio_vae", "vocoder"];

/// Whether a file of the repository is part of what the engine loads:
/// model_index.json and the components' configs, weights and tokenizer files,
/// not the README, media, or other formats and precisions of the same weights.
pub fn is_needed(path: &str) -> bool {
    if path == "model_index.json" {
        return true;
    }
    let Some((folder, rest)) = path.split_once('/') else {
        return false;
    };
    if !(COMPONENTS.contains(&folder) || LTX2_COMPONENTS.contains(&folder)) || rest.is_empty() {
        return false;
    }
    let kept = [".json", ".safetensors", ".model", ".txt"];
    // diffusers' `variant` copies (fp16, bf16) duplicate the full-precision weights.
    let variant = [".fp16.", ".bf16.", ".fp16-", ".bf16-"];
    kept.iter().any(|ext| rest.ends_with(ext)) && !variant.iter().any(|v| rest.contains(v))
}

/// What a single-file checkpoint takes from its base: everything but the
/// weights of the folders the single file fills (`format`'s), whose
/// configs it keeps.
pub fn is_needed_from_base(path: &str, format: SingleFileFormat) -> bool {
    is_needed(path)
        && !format.converted_folders().iter().any(|folder| {
            path.strip_prefix(folder)
                .is_some_and(|rest| rest.starts_with('/') && rest != "/config.json")
        })
}

pub fn find(name: &str) -> Option<&'static KnownModel> {
    MODELS.iter().find(|model| model.name == name)
}

/// The known names that `keep` selects, one per line with what each is.
pub fn describe(keep: impl Fn(&KnownModel) -> bool) -> String {
    MODELS
        .iter()
        .filter(|model| keep(model))
        .map(|model| format!("  {:<31} {}", model.name, model.about))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needed_files_are_the_pipeline_components_only() {
        for path in [
            "model_index.json",
            "scheduler/scheduler_config.json",
            "text_encoder/model-00001-of-00004.safetensors",
            "text_encoder/model.safetensors.index.json",
            "tokenizer/spiece.model",
            "transformer/diffusion_pytorch_model.safetensors",
            "audio_vae/config.json",
            "vocoder/diffusion_pytorch_model.safetensors",
            "connectors/diffusion_pytorch_model.safetensors",
        ] {
            assert!(is_needed(path), "{path}");
        }
        for path in [
            "README.md",
            ".gitattributes",
            "media/trailer.gif",
            "ltxv-2b-0.9.6-distilled-04-25.safetensors",
            "transformer/diffusion_pytorch_model.bin",
            "vae/diffusion_pytorch_model.fp16.safetensors",
            "unet/config.json",
        ] {
            assert!(!is_needed(path), "{path}");
        }
    }

    #[test]
    fn a_single_file_takes_all_but_the_converted_weights_from_its_base() {
        for path in [
            "model_index.json",
            "scheduler/scheduler_config.json",
            "text_encoder/model-00001-of-00004.safetensors",
            "tokenizer/spiece.model",
            "transformer/config.json",
            "vae/config.json",
        ] {
            assert!(
                is_needed_from_base(path, SingleFileFormat::LtxVideo),
                "{path}"
            );
        }
        for path in [
            "transformer/diffusion_pytorch_model.safetensors",
            "transformer/diffusion_pytorch_model.safetensors.index.json",
            "vae/diffusion_pytorch_model.safetensors",
            "README.md",
        ] {
            assert!(
                !is_needed_from_base(path, SingleFileFormat::LtxVideo),
                "{path}"
            );
        }
    }

    #[test]
    fn an_ltx2_single_file_takes_gemma_tokenizer_scheduler_and_configs_from_its_base() {
        let ltx2 = SingleFileFormat::Ltx2;
        for path in [
            "model_index.json",
            "scheduler/scheduler_config.json",
            "text_encoder/model-00001-of-00005.safetensors",
            "tokenizer/tokenizer.model",
            "transformer/config.json",
            "connectors/config.json",
            "audio_vae/config.json",
            "vocoder/config.json",
        ] {
            assert!(is_needed_from_base(path, ltx2), "{path}");
        }
        for path in [
            "transformer/diffusion_pytorch_model-00001-of-00008.safetensors",
            "transformer/diffusion_pytorch_model.safetensors.index.json",
            "connectors/diffusion_pytorch_model.safetensors",
            "audio_vae/diffusion_pytorch_model.safetensors",
            "vocoder/diffusion_pytorch_model.safetensors",
            "vae/diffusion_pytorch_model.safetensors",
        ] {
            assert!(!is_needed_from_base(path, ltx2), "{path}");
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, model) in MODELS.iter().enumerate() {
            assert!(MODELS[i + 1..].iter().all(|other| other.name != model.name));
        }
    }
}
