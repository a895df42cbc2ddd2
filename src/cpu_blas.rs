//! Which library the engine's CPU matrix products run on: `engine.cpu_blas`.
//!
//! "auto" takes Intel's MKL on Intel CPUs where `reel pull mkl` put it (in
//! the cache directory) and the built-in `gemm` otherwise; "builtin" always
//! `gemm`; anything else is the path of a CBLAS library (LP64), which must
//! load. See `reel_engine::cpu_blas` for why, and docs/benchmarks.md for
//! MKL against `gemm` on Intel and AMD CPUs.

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
        CpuBlas::Auto if !auto_takes_mkl(cpu_vendor().as_deref()) => {
            tracing::info!(
                "CPU matrix products on the built-in gemm: on this CPU (not Intel's) \
                 it is faster than MKL; engine.cpu_blas set to MKL's path uses MKL anyway"
            );
            return Ok(None);
        }
        CpuBlas::Auto => match default_mkl_library() {
            Ok(path) if path.is_file() => path,
            _ => {
                tracing::info!(
                    "CPU matrix products on the built-in gemm; `reel pull mkl` installs \
                     Intel's MKL, which is faster on Intel's CPUs"
                );
                return Ok(None);
            }
        },
    };
    load_path(&path)?;
    Ok(Some(path))
}

/// Whether "auto" runs the products on MKL on a CPU of `vendor` (cpuid's
/// vendor string): on Intel's only. On an AMD Zen 4 MKL's products made a
/// transformer step 15–25% slower than `gemm`'s AVX-512 kernels, where on
/// Intel's Sapphire Rapids they made the render faster (docs/benchmarks.md).
pub fn auto_takes_mkl(vendor: Option<&str>) -> bool {
    vendor == Some("GenuineIntel")
}

/// This CPU's vendor string (`vendor_id` in /proc/cpuinfo), where known.
pub fn cpu_vendor() -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    vendor_in(&cpuinfo).map(str::to_owned)
}

/// The first `vendor_id` in a /proc/cpuinfo text.
fn vendor_in(cpuinfo: &str) -> Option<&str> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "vendor_id").then(|| value.trim())
    })
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
    fn auto_takes_mkl_on_intel_cpus_only() {
        let amd = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n";
        let intel = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n";
        assert_eq!(vendor_in(amd), Some("AuthenticAMD"));
        assert_eq!(vendor_in(intel), Some("GenuineIntel"));
        assert_eq!(vendor_in("processor\t: 0\n"), None);
        assert!(auto_takes_mkl(vendor_in(intel)));
        assert!(!auto_takes_mkl(vendor_in(amd)));
        assert!(!auto_takes_mkl(None));
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
