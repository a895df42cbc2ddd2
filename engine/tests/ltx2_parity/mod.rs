//! What the LTX-2 parity tests share: where each component's fixtures are
//! (made by scripts/golden/ltx2_*.py, see its README), loading the reference
//! tensors, and the error measure.
// Each test binary uses part of this.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};

/// `engine/tests/fixtures/ltx2/<component>`.
pub fn fixture_dir(component: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ltx2")
        .join(component)
}

/// `<component>/reference.safetensors`, every tensor on the CPU.
pub fn reference(component: &str) -> HashMap<String, Tensor> {
    let path = fixture_dir(component).join("reference.safetensors");
    candle_core::safetensors::load(&path, &Device::Cpu).unwrap_or_else(|e| {
        panic!(
            "fixture {} (run scripts/golden/ltx2_{component}.py): {e}",
            path.display()
        )
    })
}

/// A named reference tensor.
pub fn get(reference: &HashMap<String, Tensor>, name: &str) -> Tensor {
    reference
        .get(name)
        .unwrap_or_else(|| panic!("reference tensor {name} missing"))
        .clone()
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

/// The largest absolute value, to state errors relative to the signal.
pub fn max_abs(a: &Tensor) -> f32 {
    a.to_dtype(DType::F32)
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
