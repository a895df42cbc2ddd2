//! Which library the engine's CPU matrix products run on: `engine.cpu_blas`.
//!
//! "auto" takes Intel's MKL where `reel pull mkl` put it (in the cache
//! directory) and the built-in `gemm` otherwise; "builtin" always `gemm`;
//! anything else is the path of a CBLAS library (LP64), which must load.
//! See `reel_engine::cpu_blas` for why.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;

/// Where `reel pull mkl` installs under the cache directory, and the library
/// there the engine opens (MKL's single dynamic library, which opens the
/// rest beside it).
pub const MKL_DIR: &str = "mkl";
pub const MKL_LIBRARY: &str = "libmkl_rt.so.3";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuBlas {
    Auto,
    Builtin,
    Library(PathBuf),
}

impl FromStr for CpuBlas {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "auto" => Ok(Self::Auto),
            "builtin" => Ok(Self::Builtin),
            "" => Err("expected \"auto\", \"builtin\" or the path of a CBLAS library".into()),
            path => Ok(Self::Library(PathBuf::from(path))),
        }
    }
}

/// MKL where `reel pull mkl` installs it by default.
pub fn default_mkl_library() -> anyhow::Result<PathBuf> {
    Ok(crate::cache::cache_dir()?.join(MKL_DIR).join(MKL_LIBRARY))
}

/// Loads the library `setting` names for the CPU products; returns it, or
/// `None` where the products stay on `gemm`.
pub fn load(setting: &CpuBlas) -> anyhow::Result<Option<PathBuf>> {
    let path = match setting {
        CpuBlas::Builtin => return Ok(None),
        CpuBlas::Library(path) => path.clone(),
        CpuBlas::Auto => match default_mkl_library() {
            Ok(path) if path.is_file() => path,
            _ => {
                tracing::info!(
                    "CPU matrix products on the built-in gemm; `reel pull mkl` installs \
                     Intel's MKL, which is faster on most CPUs"
                );
                return Ok(None);
            }
        },
    };
    load_path(&path)?;
    Ok(Some(path))
}

fn load_path(path: &Path) -> anyhow::Result<()> {
    reel_engine::cpu_blas::load(path).with_context(|| {
        format!(
            "engine.cpu_blas: {} (\"builtin\" runs without it; `reel pull mkl` installs MKL)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse() {
        assert_eq!("auto".parse(), Ok(CpuBlas::Auto));
        assert_eq!("builtin".parse(), Ok(CpuBlas::Builtin));
        assert_eq!(
            "/opt/mkl/libmkl_rt.so.3".parse(),
            Ok(CpuBlas::Library("/opt/mkl/libmkl_rt.so.3".into()))
        );
        assert!("".parse::<CpuBlas>().is_err());
    }

    #[test]
    fn a_library_that_cannot_load_stops_with_the_setting_named() {
        let error = load(&CpuBlas::Library("/nonexistent/libmkl_rt.so.3".into()))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("engine.cpu_blas") && error.contains("/nonexistent/libmkl_rt.so.3"),
            "{error}"
        );
        assert_eq!(load(&CpuBlas::Builtin).unwrap(), None);
    }
}
