//! `reel pull mkl`: Intel's oneMKL from the Python Package Index, for the
//! engine's CPU matrix products (`engine.cpu_blas`, see
//! `reel_engine::cpu_blas`). This fetches that exact release of the `mkl`
//! wheel, checks its SHA-256 against the one pinned here, and copies out
//! only what single-threaded `sgemm` needs: the dynamic library the engine
//! opens, MKL's core and sequential layers, and the kernels for each CPU
//! generation (MKL picks one at run time). 440 MiB of the wheel's 690.
//!
//! MKL ships under the Intel Simplified Software License (in the wheel);
//! reel downloads it from PyPI and does not redistribute it.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use reel::cpu_blas::MKL_LIBRARY;

use super::pypi::{self, PinnedFile};

pub const VERSION: &str = "2026.2.1";
const RELEASE: PinnedFile = PinnedFile {
    package: "mkl",
    file: "mkl-2026.2.1-py2.py3-none-manylinux_2_28_x86_64.whl",
    sha256: "76322a3abf512594ab7b4e82cb72df91e4e5d195498769aa8b292373c1ddd6d1",
    max_bytes: 320 << 20,
};
/// Where the libraries sit inside the wheel.
const LIBRARIES_IN_WHEEL: &str = "mkl-2026.2.1.data/data/lib/";
/// What sequential `cblas_sgemm` opens: the entry library, MKL's core,
/// threading and interface layers, and the kernel library per CPU
/// generation (generic, SSE4.2, AVX2, AVX-512, AVX10).
const LIBRARIES: [&str; 9] = [
    MKL_LIBRARY,
    "libmkl_core.so.3",
    "libmkl_sequential.so.3",
    "libmkl_intel_lp64.so.3",
    "libmkl_def.so.3",
    "libmkl_mc3.so.3",
    "libmkl_avx2.so.3",
    "libmkl_avx512.so.3",
    "libmkl_avx10.so.3",
];
/// No library kept is larger (the AVX-512 kernels are 81 MiB).
const MAX_LIBRARY_BYTES: u64 = 160 << 20;
/// Written beside the libraries: the release they came from.
const SOURCE_FILE: &str = "source.json";

/// Installs the libraries into `to`; returns the library to open.
pub fn pull(index_url: &str, to: &Path) -> anyhow::Result<PathBuf> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        bail!(
            "MKL's wheels are for x86-64 Linux; on this machine keep engine.cpu_blas = \"builtin\""
        );
    }
    if is_current(to) {
        eprintln!("mkl: {} already holds MKL {VERSION}", to.display());
        return Ok(to.join(MKL_LIBRARY));
    }
    let wheel = pypi::cached(index_url, &RELEASE)?;
    pypi::install_staged(to, |staging| extract(&wheel, staging))?;
    Ok(to.join(MKL_LIBRARY))
}

/// Whether `dir` holds every library of the pinned release.
fn is_current(dir: &Path) -> bool {
    let pinned = fs::read_to_string(dir.join(SOURCE_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|v| v.get("wheel_sha256").and_then(|s| s.as_str()) == Some(RELEASE.sha256));
    pinned && LIBRARIES.iter().all(|name| dir.join(name).is_file())
}

fn extract(wheel: &Path, into: &Path) -> anyhow::Result<()> {
    let file = fs::File::open(wheel).with_context(|| format!("cannot open {}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(file).context("the MKL wheel is not a zip archive")?;
    for name in LIBRARIES {
        let path = format!("{LIBRARIES_IN_WHEEL}{name}");
        let entry = archive
            .by_name(&path)
            .map_err(|_| anyhow!("{} holds no {path}", RELEASE.file))?;
        if entry.size() > MAX_LIBRARY_BYTES {
            bail!(
                "{path} in {} is larger than {MAX_LIBRARY_BYTES} bytes",
                RELEASE.file
            );
        }
        let target = into.join(name);
        let mut out = fs::File::create(&target)
            .with_context(|| format!("cannot write {}", target.display()))?;
        let copied = std::io::copy(&mut entry.take(MAX_LIBRARY_BYTES), &mut out)
            .with_context(|| format!("cannot extract {path}"))?;
        if copied == 0 {
            bail!("{path} in {} is empty", RELEASE.file);
        }
    }
    let source = serde_json::json!({
        "package": RELEASE.package,
        "version": VERSION,
        "wheel": RELEASE.file,
        "wheel_sha256": RELEASE.sha256,
        "licence": "Intel Simplified Software License (see the wheel's licensing files)",
        "libraries": LIBRARIES,
    });
    fs::write(
        into.join(SOURCE_FILE),
        serde_json::to_string_pretty(&source)? + "\n",
    )?;
    Ok(())
}
