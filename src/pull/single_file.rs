//! A checkpoint published as one original-layout file, made into a
//! diffusers-layout model directory the way diffusers' single-file loader
//! does it: the weights of the components the file holds converted from it
//! (LTX-Video: transformer and VAE, `reel_engine::ltx::single_file`; LTX-2:
//! transformer, connectors, video VAE, audio VAE and vocoder,
//! `reel_engine::ltx2::single_file`), everything else (model_index.json,
//! scheduler/, text_encoder/ — T5 or Gemma 3 —, tokenizer/, and every
//! converted component's config.json) from the diffusers-layout base
//! repository. LTX-2's components are checked against the base's configs
//! before anything is written.
//!
//! The directory ($HF_HOME/reel/NAME, or --to) is ours: the base's files are
//! hard-linked from the cache (symlinked across file systems), and the whole
//! directory is assembled in a sibling temporary folder and renamed into
//! place, so a conversion cut short is never taken for a model. Its
//! model_index.json records the sources (`_reel_single_file`) and names the
//! single file in `_name_or_path`, which says "distilled" for the distilled
//! checkpoints: how the LTX-Video pipeline tells them (8 steps, no CFG).
//! LTX-2's renderer runs the distilled schedule whenever engine.steps is 0,
//! whatever the checkpoint; the full model needs engine.steps set.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use reel_engine::ltx::single_file::convert_file;
use reel_engine::ltx2::single_file::{self as ltx2, WEIGHTS};
use serde_json::{json, Value};

use super::models::{self, KnownModel, SingleFileFormat, Source};
use super::{check_layout, client, download_all, list, Hub, PullError};

/// The model_index.json field that records what a directory was made from.
const RECORD: &str = "_reel_single_file";

pub(super) fn pull(model: &KnownModel, hub: &Hub, to: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let Source::SingleFile {
        repo,
        revision,
        file,
        base,
        base_revision,
        format,
    } = model.source
    else {
        return Err(anyhow!("{} is not a single-file checkpoint", model.name));
    };
    let api = client(hub)?;
    // Both listings first: a missing file is found before any download.
    let base_listing = list(&api, base, base_revision, |path| {
        models::is_needed_from_base(path, format)
    })?;
    check_layout(&base_listing.files, base, base_revision)?;
    let single_listing = list(&api, repo, revision, |path| path == file)?;
    if single_listing.files.is_empty() {
        return Err(PullError::MissingFile {
            repo: repo.into(),
            revision: revision.into(),
            file: file.into(),
        }
        .into());
    }
    let record = json!({
        "repo": repo,
        "commit": single_listing.commit,
        "file": file,
        "base": base,
        "base_commit": base_listing.commit,
        "distilled": model.name.contains("distilled"),
    });
    let target = to.unwrap_or_else(|| hub.home.join("reel").join(model.name));
    // Everything in place: someone may have deleted a file since.
    let converted: Vec<String> = format
        .converted_folders()
        .iter()
        .map(|folder| format!("{folder}/{WEIGHTS}"))
        .collect();
    let complete = recorded(&target).as_ref() == Some(&record)
        && base_listing
            .files
            .iter()
            .chain(&converted)
            .all(|path| target.join(path).is_file());
    if complete {
        eprintln!(
            "{} is already converted in {} (from {repo}@{}, base {base}@{})",
            model.name,
            target.display(),
            single_listing.commit,
            base_listing.commit
        );
        return Ok(target);
    }
    if target.exists() && recorded(&target).is_none() && !is_empty_dir(&target) {
        return Err(anyhow!(
            "{} exists and is not a model directory `reel pull` wrote; remove it or \
             choose another --to",
            target.display()
        ));
    }

    eprintln!("pulling {} (the single file {file} on {base})", model.name);
    let base_snapshot = download_all(&api, hub, &base_listing)?;
    let single_snapshot = download_all(&api, hub, &single_listing)?;

    let parent = target
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let leaf = target
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| anyhow!("{}: not a directory name", target.display()))?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let partial = parent.join(format!(".{leaf}.partial-{}", std::process::id()));
    remove_stale(parent, leaf);
    let assembled = assemble(
        &partial,
        &base_snapshot,
        &base_listing.files,
        &single_snapshot.join(file),
        base,
        file,
        repo,
        &record,
        format,
    );
    if let Err(err) = assembled {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(err);
    }
    replace(&partial, &target, leaf)?;
    Ok(target)
}

/// Writes the whole model directory into `dir`.
#[allow(clippy::too_many_arguments)]
fn assemble(
    dir: &Path,
    base_snapshot: &Path,
    base_files: &[String],
    single: &Path,
    base: &str,
    file: &str,
    repo: &str,
    record: &Value,
    format: SingleFileFormat,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    eprintln!("converting {file} into {}", dir.display());
    match format {
        SingleFileFormat::LtxVideo => convert_ltx_video(single, dir, file, base)?,
        SingleFileFormat::Ltx2 => convert_ltx2(single, dir, file, base_snapshot)?,
    }
    for path in base_files.iter().filter(|path| *path != "model_index.json") {
        let destination = dir.join(path);
        if let Some(folder) = destination.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create {}", folder.display()))?;
        }
        link(&base_snapshot.join(path), &destination)?;
    }
    let index_path = base_snapshot.join("model_index.json");
    let mut index: Value = serde_json::from_slice(
        &std::fs::read(&index_path)
            .with_context(|| format!("cannot read {}", index_path.display()))?,
    )
    .with_context(|| format!("{}: not JSON", index_path.display()))?;
    let Some(fields) = index.as_object_mut() else {
        return Err(anyhow!("{}: not a JSON object", index_path.display()));
    };
    // Underscored fields are no components to diffusers.
    fields.insert("_name_or_path".into(), json!(format!("{repo}/{file}")));
    fields.insert(RECORD.into(), record.clone());
    let text = serde_json::to_string_pretty(&index).context("model_index.json")?;
    std::fs::write(dir.join("model_index.json"), text + "\n")
        .with_context(|| format!("cannot write {}", dir.join("model_index.json").display()))
}

fn convert_ltx_video(single: &Path, dir: &Path, file: &str, base: &str) -> anyhow::Result<()> {
    let converted = convert_file(single, dir).with_context(|| format!("converting {file}"))?;
    let inferred = converted.plan.model_type.diffusers_repo();
    if inferred != base {
        return Err(anyhow!(
            "{file}: diffusers would load it on {inferred} (from its weights), not on \
             {base}; its configs would not fit"
        ));
    }
    eprintln!(
        "  {} transformer and {} VAE tensors; {} left out as diffusers leaves them ({})",
        converted.plan.transformer.len(),
        converted.plan.vae.len(),
        converted.plan.dropped.len(),
        converted.plan.dropped.join(", ")
    );
    Ok(())
}

/// Every component checked against the base's config before anything is
/// written (a file that does not fit its base fails here, naming the weight).
fn convert_ltx2(single: &Path, dir: &Path, file: &str, base_snapshot: &Path) -> anyhow::Result<()> {
    let converted = ltx2::convert_file(single, dir, Some(base_snapshot))
        .with_context(|| format!("converting {file}"))?;
    let counts = converted
        .plan
        .components
        .iter()
        .map(|(component, renames)| format!("{} {}", renames.len(), component.folder()))
        .collect::<Vec<_>>();
    eprintln!(
        "  tensors: {}; {} left out as diffusers leaves them ({})",
        counts.join(", "),
        converted.plan.dropped.len(),
        converted.plan.dropped.join(", ")
    );
    for (component, unused) in &converted.unused {
        if !unused.is_empty() {
            eprintln!(
                "  warning: {}/ has {} weights reel's model does not use: {}",
                component.folder(),
                unused.len(),
                unused.join(", ")
            );
        }
    }
    Ok(())
}

/// A hard link to the cache's blob (which a cache clean-up then leaves
/// alone), or a symbolic link where the two are on different file systems.
fn link(cached: &Path, destination: &Path) -> anyhow::Result<()> {
    let blob = std::fs::canonicalize(cached)
        .with_context(|| format!("cannot follow {}", cached.display()))?;
    if std::fs::hard_link(&blob, destination).is_ok() {
        return Ok(());
    }
    #[cfg(unix)]
    let linked = std::os::unix::fs::symlink(&blob, destination);
    #[cfg(not(unix))]
    let linked = std::fs::copy(&blob, destination).map(|_| ());
    linked.with_context(|| {
        format!(
            "cannot link {} to {}",
            destination.display(),
            blob.display()
        )
    })
}

/// The sources recorded in a directory's model_index.json, if `reel pull`
/// wrote it.
fn recorded(dir: &Path) -> Option<Value> {
    let text = std::fs::read(dir.join("model_index.json")).ok()?;
    let index: Value = serde_json::from_slice(&text).ok()?;
    index.get(RECORD).cloned()
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

/// Folders earlier runs left half done (killed mid-conversion); not those
/// of a run still going (Linux: its /proc entry).
fn remove_stale(parent: &Path, leaf: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let pid = name
            .strip_prefix(&format!(".{leaf}.partial-"))
            .or_else(|| name.strip_prefix(&format!(".{leaf}.old-")));
        let Some(pid) = pid else {
            continue;
        };
        let running =
            pid != std::process::id().to_string() && Path::new("/proc").join(pid).exists();
        if !running {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Puts the finished `partial` at `target`, moving an older conversion
/// aside first (a rename cannot replace a non-empty folder).
fn replace(partial: &Path, target: &Path, leaf: &str) -> anyhow::Result<()> {
    let old = partial.with_file_name(format!(".{leaf}.old-{}", std::process::id()));
    let had_old = target.exists();
    if had_old {
        std::fs::rename(target, &old)
            .with_context(|| format!("cannot move the older {} aside", target.display()))?;
    }
    std::fs::rename(partial, target).with_context(|| {
        format!(
            "cannot rename {} to {}",
            partial.display(),
            target.display()
        )
    })?;
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}
