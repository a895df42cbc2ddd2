//! What the LTX-Video parity tests share: where each component's fixtures
//! are (made by scripts/golden/, see its README) and the error measure.
// Each test binary uses part of this.
#![allow(dead_code)]

use std::path::PathBuf;

use candle_core::{DType, Tensor};

/// `engine/tests/fixtures/ltx/<component>`.
pub fn fixture_dir(component: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ltx")
        .join(component)
}

/// The largest absolute difference, measured in f32; the shapes must match.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let a = a.to_dtype(DType::F32).unwrap();
    let b = b.to_dtype(DType::F32).unwrap();
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}
