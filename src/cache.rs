//! Where reel keeps what it downloads and can fetch again.

use std::path::PathBuf;

use anyhow::anyhow;

/// REEL_CACHE_DIR, else XDG_CACHE_HOME/reel, else ~/.cache/reel.
pub fn cache_dir() -> anyhow::Result<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("REEL_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|p| p.join("reel")))
        .or_else(|| var("HOME").map(|p| p.join(".cache/reel")))
        .ok_or_else(|| anyhow!("no cache directory: set REEL_CACHE_DIR (or HOME)"))
}
