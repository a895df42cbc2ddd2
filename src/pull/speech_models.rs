//! `reel pull whisper-base` (-small, -large-v3-turbo): OpenAI's
//! multilingual Whisper checkpoints as transformers publishes them on the
//! hub (openai/whisper-*: config.json, generation_config.json,
//! model.safetensors, tokenizer.json), into the Hugging Face cache. The
//! printed snapshot directory goes into perception.whisper_model_dir.
//!
//! Revisions are branch names, as for the video models (see `models`): the
//! commit actually downloaded is the snapshot directory's name.

use std::path::PathBuf;

use super::{client, download_all, list, Hub, PullError};

pub struct WhisperCheckpoint {
    pub name: &'static str,
    pub about: &'static str,
    pub repo: &'static str,
    pub revision: &'static str,
}

pub const CHECKPOINTS: &[WhisperCheckpoint] = &[
    WhisperCheckpoint {
        name: "whisper-base",
        about: "speech to text, 74M parameters, 99 languages (~290 MB)",
        repo: "openai/whisper-base",
        revision: "main",
    },
    WhisperCheckpoint {
        name: "whisper-small",
        about: "speech to text, 244M parameters, more accurate (~970 MB)",
        repo: "openai/whisper-small",
        revision: "main",
    },
    WhisperCheckpoint {
        name: "whisper-large-v3-turbo",
        about: "speech to text, 809M parameters, 128 mel bins (~1.6 GB)",
        repo: "openai/whisper-large-v3-turbo",
        revision: "main",
    },
];

/// What the speech model loads; the first three must be there.
const REQUIRED: &[&str] = &["config.json", "model.safetensors", "tokenizer.json"];
const OPTIONAL: &[&str] = &["generation_config.json"];

pub fn find(name: &str) -> Option<&'static WhisperCheckpoint> {
    CHECKPOINTS.iter().find(|c| c.name == name)
}

pub fn describe() -> String {
    CHECKPOINTS
        .iter()
        .map(|c| {
            format!(
                "  {:<31} {} (into perception.whisper_model_dir)",
                c.name, c.about
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn is_needed(path: &str) -> bool {
    REQUIRED.contains(&path) || OPTIONAL.contains(&path)
}

pub fn pull(checkpoint: &WhisperCheckpoint, hub: &Hub) -> anyhow::Result<PathBuf> {
    let api = client(hub)?;
    let listing = list(&api, checkpoint.repo, checkpoint.revision, is_needed)?;
    if let Some(missing) = REQUIRED
        .iter()
        .find(|f| !listing.files.iter().any(|p| p == *f))
    {
        return Err(PullError::MissingFile {
            repo: checkpoint.repo.into(),
            revision: checkpoint.revision.into(),
            file: (*missing).into(),
        }
        .into());
    }
    eprintln!("pulling {}", checkpoint.name);
    download_all(&api, hub, &listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_transformers_files_are_taken() {
        for path in [
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "tokenizer.json",
        ] {
            assert!(is_needed(path), "{path}");
        }
        for path in [
            "pytorch_model.bin",
            "tf_model.h5",
            "flax_model.msgpack",
            "README.md",
            "vocab.json",
            "onnx/encoder_model.onnx",
        ] {
            assert!(!is_needed(path), "{path}");
        }
        assert!(find("whisper-base").is_some() && find("whisper-tiny").is_none());
    }
}
