//! What every clip this process makes goes through between the renderer
//! and storage: the visible label, an encode sized for the platform it is
//! bound for, and signed C2PA content credentials.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use reel_media::{encode_within, watermark_clip, EncodeOptions, EncodedClip, Rendered};
use reel_provenance::{ClipFacts, ClipSigner};
use serde::{Deserialize, Serialize};

use crate::config::{Config, ConfigError};
use crate::secrets::Secrets;

/// Discord's upload limit when an interaction did not say (10 MiB).
pub const DISCORD_DEFAULT_LIMIT: u64 = 10 * 1024 * 1024;
/// Longest label drawn, in characters.
const MAX_LABEL_CHARS: usize = 60;

/// `[provenance]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceConfig {
    pub watermark: bool,
    pub label: String,
    pub show_requester: bool,
    pub sign: bool,
}

impl ProvenanceConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let chars = self.label.chars().count();
        if self.watermark && (self.label.trim().is_empty() || chars > MAX_LABEL_CHARS) {
            return Err(ConfigError::Invalid {
                key: "provenance.label",
                value: format!("{:?}", self.label),
                allowed: format!(
                    "must be 1 to {MAX_LABEL_CHARS} characters while provenance.watermark is on"
                ),
            });
        }
        Ok(())
    }
}

/// The job-specific part of finishing a clip.
#[derive(Debug, Clone)]
pub struct ClipJob {
    /// The clip's title in its manifest, e.g. "reel-42.mp4".
    pub title: String,
    /// Upload budget in bytes of where the clip goes; `None`: no limit.
    pub budget: Option<u64>,
    /// Shown in the label when `provenance.show_requester` is on.
    pub requester: Option<String>,
    pub cameo_ids: Vec<String>,
}

/// What finishing made.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    pub encoded: EncodedClip,
    /// Bytes of the final (signed) file.
    pub bytes: u64,
    /// Encodes made: more than 1 when the first came out over the budget.
    pub encodes: u32,
    pub fits: bool,
    pub signed: bool,
}

/// Shared by all workers of a process (and `reel render`).
pub struct ClipFinisher {
    label: Option<String>,
    show_requester: bool,
    signer: Option<Arc<ClipSigner>>,
    encode: EncodeOptions,
    model: String,
    checkpoint: String,
    telegram_limit: u64,
}

impl std::fmt::Debug for ClipFinisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipFinisher")
            .field("label", &self.label)
            .field("signed", &self.signer.is_some())
            .field("model", &self.model)
            .finish()
    }
}

impl ClipFinisher {
    /// From config: loads and tests the signing key and certificate when
    /// signing is on, so a missing or bad one stops the start, not a clip.
    /// `model` is the loaded renderer's name.
    pub fn from_config(config: &Config, model: &str) -> anyhow::Result<Self> {
        Ok(Self::new(config, model, load_clip_signer(config)?))
    }

    /// With a signer already loaded by [`load_clip_signer`] (`None`: signing
    /// is off), so a process loads and tests its key once.
    pub fn new(config: &Config, model: &str, signer: Option<Arc<ClipSigner>>) -> Self {
        let p = &config.provenance;
        if !p.watermark {
            tracing::warn!("provenance.watermark = false: clips carry no visible AI label");
        }
        ClipFinisher {
            label: p.watermark.then(|| p.label.clone()),
            show_requester: p.show_requester,
            signer,
            encode: EncodeOptions {
                crf: config.render.crf,
                preset: config.render.x264_preset.clone(),
                comment: (model == "testsrc")
                    .then(|| "reel testsrc: test pattern, not a model".to_string()),
                ..EncodeOptions::default()
            },
            model: model.to_string(),
            checkpoint: checkpoint_name(config, model),
            telegram_limit: config.telegram.max_upload_mb.saturating_mul(1_000_000),
        }
    }

    /// The upload budget of a job's platform: Discord's is the interaction's
    /// `attachment_size_limit` (in the reply handle), else 10 MiB;
    /// Telegram's is `telegram.max_upload_mb`; the terminal has none.
    pub fn budget_for(&self, platform: &str, reply_handle: &str) -> Option<u64> {
        match platform {
            "discord" => Some(
                serde_json::from_str::<serde_json::Value>(reply_handle)
                    .ok()
                    .and_then(|handle| handle.get("attachment_limit")?.as_u64())
                    .filter(|limit| *limit > 0)
                    .unwrap_or(DISCORD_DEFAULT_LIMIT),
            ),
            "telegram" => Some(self.telegram_limit),
            _ => None,
        }
    }

    /// The label drawn on a job's clip, `None` with the watermark off.
    pub fn label_for(&self, requester: Option<&str>) -> Option<String> {
        let label = self.label.as_ref()?;
        Some(match requester.filter(|_| self.show_requester) {
            Some(name) if !name.trim().is_empty() => format!("{label} · {}", name.trim()),
            _ => label.clone(),
        })
    }

    /// Labels `rendered`, encodes it within the job's budget and signs it
    /// into `out`. Blocking (FFmpeg, hashing): run it off the async threads.
    pub fn finish(
        &self,
        rendered: &mut Rendered,
        job: &ClipJob,
        out: &Path,
    ) -> anyhow::Result<Finished> {
        if let Some(label) = self.label_for(job.requester.as_deref()) {
            watermark_clip(rendered, &label);
        }
        let Some(signer) = &self.signer else {
            let fitted = encode_within(rendered, out, &self.encode, job.budget)?;
            return Ok(Finished {
                encoded: fitted.clip,
                bytes: fitted.clip.bytes,
                encodes: fitted.encodes,
                fits: fitted.fits,
                signed: false,
            });
        };
        let unsigned = unsigned_path(out);
        let fitted = encode_within(rendered, &unsigned, &self.encode, job.budget)?;
        let facts = ClipFacts {
            title: job.title.clone(),
            model: self.model.clone(),
            checkpoint: self.checkpoint.clone(),
            cameo_ids: job.cameo_ids.clone(),
        };
        let signed = signer.sign_created(&unsigned, out, &facts);
        if let Err(error) = std::fs::remove_file(&unsigned) {
            tracing::warn!(path = %unsigned.display(), %error, "cannot remove the unsigned encode");
        }
        signed.context("signing the clip's content credentials")?;
        let bytes = std::fs::metadata(out)
            .with_context(|| format!("reading back {}", out.display()))?
            .len();
        Ok(Finished {
            encoded: fitted.clip,
            bytes,
            encodes: fitted.encodes,
            fits: job.budget.is_none_or(|budget| bytes <= budget),
            signed: true,
        })
    }
}

/// Re-encodes made to fit a chat upload limit are signed with the clip
/// they came from as ingredient; without this installed (signing off) they
/// go out as FFmpeg made them.
struct SignReencodes(Arc<ClipSigner>);

impl reel_bots::core::fit::ReencodeSigner for SignReencodes {
    fn sign_reencoded(
        &self,
        original: &Path,
        reencoded: &Path,
        output: &Path,
    ) -> Result<(), String> {
        self.0
            .sign_reencoded(
                original,
                reencoded,
                output,
                "re-encoded smaller to fit a chat platform's upload limit",
            )
            .map_err(|error| error.to_string())
    }
}

/// Where chat adapters post clips: sign every re-encode they make with
/// `signer` (from [`load_clip_signer`]; `None`: signing is off).
pub fn install_reencode_signing(signer: Option<Arc<ClipSigner>>) {
    if let Some(signer) = signer {
        reel_bots::core::fit::sign_reencodes_with(Arc::new(SignReencodes(signer)));
    }
}

/// The process's signer, loaded and test-signed, when `provenance.sign` is
/// on; `None` (with a warning) when the operator turned signing off.
pub fn load_clip_signer(config: &Config) -> anyhow::Result<Option<Arc<ClipSigner>>> {
    if config.provenance.sign {
        Ok(Some(Arc::new(load_signer(config)?)))
    } else {
        tracing::warn!("provenance.sign = false: clips go out WITHOUT content credentials (C2PA)");
        Ok(None)
    }
}

fn unsigned_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".unsigned.mp4");
    out.with_file_name(name)
}

/// The key (REEL_SIGNING_KEY or secrets.signing_key_file) and certificate
/// (secrets.signing_cert_file), loaded and test-signed.
fn load_signer(config: &Config) -> anyhow::Result<ClipSigner> {
    const HOW: &str = "run `reel keygen` and name its files in [secrets] \
        (signing_key_file or REEL_SIGNING_KEY, signing_cert_file), or turn signing off \
        with provenance.sign = false";
    let secrets = Secrets::load(&config.secrets)?;
    let Some(key) = secrets.signing_key else {
        bail!("provenance.sign is on but there is no signing key: {HOW}");
    };
    let cert_file = &config.secrets.signing_cert_file;
    if cert_file.as_os_str().is_empty() {
        bail!("provenance.sign is on but secrets.signing_cert_file is not set: {HOW}");
    }
    let cert = std::fs::read(cert_file).with_context(|| {
        format!(
            "secrets.signing_cert_file: cannot read {}",
            cert_file.display()
        )
    })?;
    // The secret is stored trimmed; PEM wants its final newline back.
    let key_pem = format!("{}\n", key.expose());
    ClipSigner::from_pem(&cert, key_pem.as_bytes()).with_context(|| {
        format!(
            "C2PA signing key and certificate ({}) are not usable",
            cert_file.display()
        )
    })
}

/// What the manifest says the weights were: the Hugging Face repository
/// and snapshot when the model directory is in the hub cache, else the
/// directory's name (never the whole local path).
fn checkpoint_name(config: &Config, model: &str) -> String {
    if model == "testsrc" {
        return "built-in test pattern (no weights)".into();
    }
    let dir = &config.engine.model_dir;
    let parts: Vec<String> = dir
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(at) = parts.iter().position(|p| p.starts_with("models--")) {
        let repo = parts[at]
            .trim_start_matches("models--")
            .replacen("--", "/", 1);
        return match (parts.get(at + 1), parts.get(at + 2)) {
            (Some(snapshots), Some(revision)) if snapshots == "snapshots" => {
                format!("{repo}@{revision}")
            }
            _ => repo,
        };
    }
    dir.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| model.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        toml::from_str(crate::config::DEFAULTS).expect("defaults parse")
    }

    #[test]
    fn the_checkpoint_names_the_hub_repository_and_snapshot_not_the_path() {
        let mut config = config();
        config.engine.model_dir =
            "/home/op/.cache/huggingface/hub/models--Lightricks--LTX-Video/snapshots/abc123".into();
        assert_eq!(
            checkpoint_name(&config, "ltx-video"),
            "Lightricks/LTX-Video@abc123"
        );
        config.engine.model_dir = "/srv/models/ltxv-2b".into();
        assert_eq!(checkpoint_name(&config, "ltx-video"), "ltxv-2b");
    }

    #[test]
    fn a_too_long_or_empty_label_is_refused_while_the_watermark_is_on() {
        let mut p = config().provenance;
        assert!(p.validate().is_ok());
        p.label = " ".into();
        assert!(p.validate().is_err());
        p.label = "x".repeat(61);
        assert!(p.validate().is_err());
        p.watermark = false;
        assert!(p.validate().is_ok());
    }
}
