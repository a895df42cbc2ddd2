//! Helpers for the unit tests.

use candle_core::Tensor;

/// The largest absolute difference between two f32 tensors of one shape.
pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>())
        .expect("two f32 tensors of one shape")
}
