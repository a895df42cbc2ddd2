//! The speech models `reel pull` knows, both in transformers' layout on
//! the hub (config.json, generation_config.json, model.safetensors,
//! tokenizer.json), into the Hugging Face cache:
//! - `whisper-base` (-small, -large-v3-turbo): OpenAI's multilingual
//!   Whisper, speech to text, for perception.whisper_model_dir;
//! - `csm-1b`: Sesame's CSM-1B, text to speech in a cloned voice, for
//!   voice.model_dir. Its model.safetensors holds the Mimi codec too
//!   (`codec_model.*`, as `CsmForConditionalGeneration` saves it) and
//!   tokenizer.json is Llama 3.2's, so those three files are the whole
//!   model. The repository is gated (Llama 3.2's terms, see
//!   docs/architecture.md "Voice"): accept them on the hub, then pull with
//!   HF_TOKEN.
//!
//! Revisions are branch names, as for the video models (see `models`): the
//! commit actually downloaded is the snapshot directory's name.

use std::path::PathBuf;

use super::{client, download_all, list, Hub, PullError};

pub struct SpeechCheckpoint {
    pub name: &'static str,
    pub about: &'static str,
    pub repo: &'static str,
    pub revision: &'static str,
    /// The config.toml section and key the directory goes into.
    pub section: &'static str,
    pub key: &'static str,
}

const WHISPER: (&str, &str) = ("perception", "whisper_model_dir");

pub const CHECKPOINTS: &[SpeechCheckpoint] = &[
    SpeechCheckpoint {
        name: "whisper-base",
        about: "speech to text, 74M parameters, 99 languages (~290 MB)",
        repo: "openai/whisper-base",
        revision: "main",
        section: WHISPER.0,
        key: WHISPER.1,
    },
    SpeechCheckpoint {
        name: "whisper-small",
        about: "speech to text, 244M parameters, more accurate (~970 MB)",
        repo: "openai/whisper-small",
        revision: "main",
        section: WHISPER.0,
        key: WHISPER.1,
    },
    SpeechCheckpoint {
        name: "whisper-large-v3-turbo",
        about: "speech to text, 809M parameters, 128 mel bins (~1.6 GB)",
        repo: "openai/whisper-large-v3-turbo",
        revision: "main",
        section: WHISPER.0,
        key: WHISPER.1,
    },
    SpeechCheckpoint {
        name: "csm-1b",
        about: "text to speech in a cloned voice: CSM-1B + Mimi codec + Llama 3.2 tokenizer, \
                gated (several GB)",
        repo: "sesame/csm-1b",
        revision: "main",
        section: "voice",
        key: "model_dir",
    },
];

/// What the speech models load; the first three must be there.
const REQUIRED: &[&str] = &["config.json", "model.safetensors", "tokenizer.json"];
const OPTIONAL: &[&str] = &["generation_config.json"];

pub fn find(name: &str) -> Option<&'static SpeechCheckpoint> {
    CHECKPOINTS.iter().find(|c| c.name == name)
}

pub fn describe() -> String {
    CHECKPOINTS
        .iter()
        .map(|c| {
            format!(
                "  {:<31} {} (into {}.{})",
                c.name, c.about, c.section, c.key
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn is_needed(path: &str) -> bool {
    REQUIRED.contains(&path) || OPTIONAL.contains(&path)
}

pub fn pull(checkpoint: &SpeechCheckpoint, hub: &Hub) -> anyhow::Result<PathBuf> {
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
        let csm = find("csm-1b").unwrap();
        assert_eq!(
            (csm.repo, csm.section, csm.key),
            ("sesame/csm-1b", "voice", "model_dir")
        );
        // CSM's original checkpoint and the processor's extras are not needed.
        for path in ["ckpt.pt", "preprocessor_config.json", "chat_template.jinja"] {
            assert!(!is_needed(path), "{path}");
        }
    }
}
