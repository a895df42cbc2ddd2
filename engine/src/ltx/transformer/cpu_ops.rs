//! The two element-wise hot spots of a CPU forward, as f32 kernels split over
//! threads: the tanh-approximated GELU and the attention softmax.
//!
//! candle's versions call libm's `tanhf`/`expf` one value at a time (and its
//! GELU is single-threaded); together they were a fifth of a forward. Here
//! `exp` is a polynomial the compiler vectorises (Cephes' `expf`, about 1 ulp
//! apart), and both work in place: a fresh 16 MiB output per call cost as
//! much again in page faults. Other devices and dtypes use candle's ops.

use candle_core::{CpuStorage, DType, Device, InplaceOp1, Layout, Result, Tensor};

/// `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`, consuming `x`: on
/// the CPU path its storage is overwritten, so `x` must not share it with
/// another tensor (a fresh layer output does not).
pub fn gelu_tanh(x: Tensor) -> Result<Tensor> {
    if is_cpu_f32(&x) && x.is_contiguous() {
        x.inplace_op1(&GeluTanhCpu)?;
        Ok(x)
    } else {
        // candle's `gelu` is this tanh approximation (`gelu_erf` is the exact one).
        x.gelu()
    }
}

/// Softmax over the last dimension, consuming `x` like [`gelu_tanh`].
pub fn softmax_last_dim(x: Tensor) -> Result<Tensor> {
    if is_cpu_f32(&x) && x.is_contiguous() {
        x.inplace_op1(&SoftmaxCpu)?;
        Ok(x)
    } else {
        candle_nn::ops::softmax_last_dim(&x)
    }
}

fn is_cpu_f32(x: &Tensor) -> bool {
    matches!(x.device(), Device::Cpu) && x.dtype() == DType::F32
}

/// Runs `kernel` in place on the tensor's f32 values, in pieces of whole
/// multiples of `unit` values on up to candle's thread count.
fn parallel_in_place(
    storage: &mut CpuStorage,
    layout: &Layout,
    unit: usize,
    kernel: impl Fn(&mut [f32]) + Sync,
) -> Result<()> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("expected f32 values");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("expected a contiguous tensor");
    };
    let values = &mut data[start..end];
    let unit = unit.max(1);
    let threads = candle_core::utils::get_num_threads().max(1);
    // At least 16 Ki values per thread: below that, spawning costs more than it saves.
    let per_thread = (values.len() / unit)
        .div_ceil(threads)
        .max((1 << 14) / unit)
        .max(1)
        * unit;
    crate::cpu_parallel::for_each_chunk(values, per_thread, |_, piece| kernel(piece));
    Ok(())
}

struct GeluTanhCpu;

impl InplaceOp1 for GeluTanhCpu {
    fn name(&self) -> &'static str {
        "gelu-tanh-f32"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
        parallel_in_place(storage, layout, 1, |values| {
            map_in_place(values, |x| {
                // (1 + tanh z) / 2 = sigmoid(2z)
                let z = SQRT_TWO_OVER_PI * (x + 0.044715 * x * x * x);
                x / (1.0 + exp(-2.0 * z))
            })
        })
    }
}

/// `f` on every value, in place, in AVX2's eight lanes where the CPU has
/// them (the crate is built for baseline x86-64, whose SSE2 has four).
#[inline(always)]
fn map_in_place(values: &mut [f32], f: impl Fn(f32) -> f32) {
    #[inline(always)]
    fn each(values: &mut [f32], f: impl Fn(f32) -> f32) {
        for v in values.iter_mut() {
            *v = f(*v);
        }
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn each_avx2(values: &mut [f32], f: impl Fn(f32) -> f32) {
            each(values, f)
        }
        // SAFETY: the CPU has AVX2 and FMA.
        return unsafe { each_avx2(values, f) };
    }
    each(values, f)
}

/// Whether the CPU has AVX2 and FMA (checked once, then a cached flag).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

struct SoftmaxCpu;

impl InplaceOp1 for SoftmaxCpu {
    fn name(&self) -> &'static str {
        "softmax-last-dim-f32"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let row = layout.shape().dims().last().copied().unwrap_or(1).max(1);
        parallel_in_place(storage, layout, row, |values| {
            values.chunks_mut(row).for_each(softmax_row)
        })
    }
}

/// One row's softmax, in place (in AVX2's lanes where the CPU has them,
/// as [`map_in_place`]; the same operations in the same order either way).
pub(super) fn softmax_row(row: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn softmax_row_avx2(row: &mut [f32]) {
            softmax_row_any(row)
        }
        // SAFETY: the CPU has AVX2 and FMA.
        return unsafe { softmax_row_avx2(row) };
    }
    softmax_row_any(row)
}

#[inline(always)]
fn softmax_row_any(row: &mut [f32]) {
    let max = lanes_reduce(row, f32::NEG_INFINITY, f32::max);
    for v in row.iter_mut() {
        *v = exp(*v - max);
    }
    let inverse_sum = 1.0 / lanes_reduce(row, 0.0, |a, b| a + b);
    for v in row.iter_mut() {
        *v *= inverse_sum;
    }
}

/// A reduction in eight independent lanes, so the compiler can vectorise it.
#[inline(always)]
fn lanes_reduce(values: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [init; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = op(*lane, v);
        }
    }
    let tail = chunks.remainder().iter().fold(init, |a, &v| op(a, v));
    lanes.into_iter().fold(tail, &op)
}

/// `eˣ` (Cephes `expf`: range reduction by ln 2, degree-5 polynomial),
/// written with plain arithmetic and bit casts so loops over it vectorise.
/// Inputs are clamped to [−87, 88], where the result stays a normal f32.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n · LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 · 2²³ rounds to an integer, which lands in the low mantissa bits.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let n_bits = shifted.to_bits() as i32 - ROUNDER.to_bits() as i32;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n_bits + 127) << 23) as u32)
}

#[cfg(test)]
mod tests {
    use super::exp;

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let mut worst = 0f32;
        for i in -87_000..88_000 {
            let x = i as f32 * 1e-3 + 0.000_37;
            let expected = x.exp();
            worst = worst.max((exp(x) - expected).abs() / expected);
        }
        assert!(worst < 2.5e-7, "relative error {worst}");
    }
}
