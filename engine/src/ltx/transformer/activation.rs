//! The tanh-approximated GELU of the feed-forward and caption projection.
//!
//! On the CPU in f32 it runs as `x · sigmoid(2z)` (equal to
//! `x/2 · (1 + tanh z)`) split over threads: candle's element-wise `gelu` is
//! single-threaded and libm's `tanhf` made it a sixth of a forward's time.

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor};

const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;

/// `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
pub fn gelu_tanh(x: &Tensor) -> Result<Tensor> {
    if matches!(x.device(), Device::Cpu) && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1_no_bwd(&GeluTanhCpu)
    } else {
        // candle's `gelu` is this tanh approximation (`gelu_erf` is the exact one).
        x.gelu()
    }
}

struct GeluTanhCpu;

impl CustomOp1 for GeluTanhCpu {
    fn name(&self) -> &'static str {
        "gelu-tanh-cpu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("gelu-tanh-cpu takes f32");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("gelu-tanh-cpu takes a contiguous tensor");
        };
        let src = &data[start..end];
        let mut dst = vec![0f32; src.len()];
        let threads = candle_core::utils::get_num_threads().max(1);
        // Below this, spawning threads costs more than it saves.
        let chunk = src.len().div_ceil(threads).max(1 << 14);
        std::thread::scope(|scope| {
            for (src, dst) in src.chunks(chunk).zip(dst.chunks_mut(chunk)) {
                scope.spawn(move || {
                    for (out, &x) in dst.iter_mut().zip(src) {
                        let z = SQRT_TWO_OVER_PI * (x + 0.044715 * x * x * x);
                        *out = x / (1.0 + (-2.0 * z).exp());
                    }
                });
            }
        });
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}
