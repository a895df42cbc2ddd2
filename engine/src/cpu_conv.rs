//! 1-D and 2-D convolutions (stride 1, zero padding, any dilation) on the
//! CPU in f32: one column matrix and one `gemm` into an output that starts
//! as the bias.
//!
//! candle's CPU conv1d builds `[length, in · k]` columns, multiplies and then
//! transposes the whole output back to `[out, length]` in a strided copy;
//! its conv2d converts the input to channels-last and re-flattens the weight
//! on every call, and the callers' asymmetric (causal) padding costs two
//! more padded copies. Here the columns are `[in · kh · kw, h' · w']` rows,
//! each a shifted copy of one input plane (contiguous runs), ordered like the
//! weight's own `[out, in, kh, kw]` layout, so the weight is used in place
//! and the product comes out in `[out, h', w']` order.
//! Other devices, dtypes and strides keep candle's convolutions. On x86-64
//! with AVX2 the 1-D and 2-D convolutions of up to 256 input channels (and
//! kernels larger than 1 × 1) take the direct kernels instead
//! (`ltx::vae::conv2d_direct`; a 1-D signal is an image one row high).

use std::mem::MaybeUninit;

use candle_core::{DType, Device, Result, Storage, Tensor};
use candle_nn::{Conv1d, Conv2d, Module};

use crate::cpu_parallel::fill_rows;

/// Most elements of one column matrix (1 GiB of f32); larger inputs use candle's path.
const MAX_COLUMN_ELEMENTS: usize = 1 << 28;

/// Zero padding on each side of the two spatial axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding2d {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

/// `conv` applied to `[b, in, l]` with its configured padding and dilation:
/// the direct kernels where the CPU runs them, else the column matrix.
pub fn conv1d(conv: &Conv1d, x: &Tensor) -> Result<Tensor> {
    let cfg = conv.config();
    let fast = cfg.stride == 1 && cfg.groups == 1 && fits(x, conv.weight(), conv.bias());
    if !fast {
        return conv.forward(x);
    }
    let (b, cin, l) = x.dims3()?;
    let pad = Padding2d {
        left: cfg.padding,
        right: cfg.padding,
        ..Padding2d::default()
    };
    let weight = conv.weight().unsqueeze(2)?;
    let y = conv2d_cpu(
        &x.reshape((b, cin, 1, l))?,
        &weight,
        conv.bias(),
        pad,
        cfg.dilation,
    )?;
    match y {
        Some(y) => y.squeeze(2),
        None => conv.forward(x),
    }
}

/// `conv` (configured without padding) applied to `[b, in, h, w]` padded
/// with zeros by `pad`: the direct kernels where the CPU runs them, else the
/// column matrix.
pub fn conv2d(conv: &Conv2d, x: &Tensor, pad: Padding2d) -> Result<Tensor> {
    let cfg = conv.config();
    let fast = cfg.stride == 1
        && cfg.groups == 1
        && cfg.padding == 0
        && fits(x, conv.weight(), conv.bias());
    if fast {
        if let Some(y) = conv2d_cpu(x, conv.weight(), conv.bias(), pad, cfg.dilation)? {
            return Ok(y);
        }
    }
    let padded = x
        .pad_with_zeros(2, pad.top, pad.bottom)?
        .pad_with_zeros(3, pad.left, pad.right)?;
    conv.forward(&padded)
}

/// `[b, in, h, w]` ⊛ `[out, in, kh, kw]` (+ bias) at stride 1, f32 on the
/// CPU: the direct kernels where they apply, else the column matrix;
/// `None` when neither does (the caller falls back to candle).
fn conv2d_cpu(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    pad: Padding2d,
    dilation: usize,
) -> Result<Option<Tensor>> {
    match crate::ltx::vae::conv2d_direct(x, weight, bias, pad, dilation)? {
        Some(y) => Ok(Some(y)),
        None => conv2d_f32(x, weight, bias, pad, dilation),
    }
}

/// Whether input, weight and bias are all f32 on the CPU.
pub(crate) fn fits(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> bool {
    let f32_cpu = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
    f32_cpu(x) && f32_cpu(weight) && bias.is_none_or(f32_cpu)
}

/// Geometry of one 2-D convolution.
#[derive(Clone, Copy)]
struct Geometry {
    cin: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    dilation: usize,
    pad: Padding2d,
    h_out: usize,
    w_out: usize,
}

/// `[b, in, h, w]` ⊛ `[out, in, kh, kw]` (+ bias) at stride 1; `None` when the
/// columns would be too large (the caller falls back to candle).
fn conv2d_f32(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    pad: Padding2d,
    dilation: usize,
) -> Result<Option<Tensor>> {
    let (batch, cin, h, w) = x.dims4()?;
    let (cout, cin_w, kh, kw) = weight.dims4()?;
    if cin != cin_w {
        candle_core::bail!("conv2d: input has {cin} channels, the weight {cin_w}");
    }
    let span = |size: usize, before: usize, after: usize, k: usize| {
        (size + before + after).checked_sub(dilation * (k - 1))
    };
    let (Some(h_out), Some(w_out)) = (
        span(h, pad.top, pad.bottom, kh),
        span(w, pad.left, pad.right, kw),
    ) else {
        candle_core::bail!("conv2d: the kernel is larger than the padded input");
    };
    let g = Geometry {
        cin,
        h,
        w,
        kh,
        kw,
        dilation,
        pad,
        h_out,
        w_out,
    };
    let (k, n) = (cin * kh * kw, h_out * w_out);
    if k * n > MAX_COLUMN_ELEMENTS || n == 0 {
        return Ok(None);
    }
    let x = x.contiguous()?;
    let weight = weight.contiguous()?;

    // The output starts as the bias (or zeros), written once.
    let bias = match bias {
        Some(bias) => bias.flatten_all()?.to_vec1::<f32>()?,
        None => vec![0.0; cout],
    };
    let mut out = Vec::with_capacity(batch * cout * n);
    for r in 0..batch * cout {
        out.extend(std::iter::repeat_n(bias[r % cout], n));
    }
    let (w_storage, w_layout) = weight.storage_and_layout();
    let Storage::Cpu(w_cpu) = &*w_storage else {
        candle_core::bail!("conv2d: expected a CPU weight");
    };
    let weight_data = &w_cpu.as_slice::<f32>()?[w_layout.start_offset()..][..cout * k];
    let (x_storage, x_layout) = x.storage_and_layout();
    let Storage::Cpu(x_cpu) = &*x_storage else {
        candle_core::bail!("conv2d: expected a CPU input");
    };
    let src = &x_cpu.as_slice::<f32>()?[x_layout.start_offset()..][..batch * cin * h * w];
    for b in 0..batch {
        let cols = columns(&src[b * cin * h * w..][..cin * h * w], &g);
        let dst = &mut out[b * cout * n..][..cout * n];
        // SAFETY: row-major operands: the weight is cout × k (row stride k), the
        // columns k × n (row stride n), dst cout × n (row stride n); all three
        // slices have exactly those lengths and are distinct allocations.
        unsafe {
            crate::cpu_blas::sgemm(
                (cout, n, k),
                dst.as_mut_ptr(),
                n,
                true,
                crate::cpu_blas::Operand {
                    ptr: weight_data.as_ptr(),
                    row_stride: k,
                    col_stride: 1,
                },
                crate::cpu_blas::Operand {
                    ptr: cols.as_ptr(),
                    row_stride: n,
                    col_stride: 1,
                },
                true,
            );
        }
    }
    drop(x_storage);
    drop(w_storage);
    Tensor::from_vec(out, (batch, cout, h_out, w_out), &Device::Cpu).map(Some)
}

/// The columns `[in · kh · kw, h' · w']`: row `(c · kh + dh) · kw + dw` holds
/// plane `c` shifted by `(dh, dw) · dilation` (zeros where that reads padding).
fn columns(x: &[f32], g: &Geometry) -> Vec<f32> {
    let (rows, row_len) = (g.cin * g.kh * g.kw, g.h_out * g.w_out);
    // Zeroed row by row inside the (threaded) fill, while the row is in
    // cache: zeroing the whole buffer up front was a single-threaded pass.
    let fill = |first_row: usize, block: &mut [MaybeUninit<f32>]| {
        for (i, row) in block.chunks_mut(row_len).enumerate() {
            row.fill(MaybeUninit::new(0.0));
            // SAFETY: every element was just initialised.
            let row = unsafe { &mut *(row as *mut [MaybeUninit<f32>] as *mut [f32]) };
            let r = first_row + i;
            let (c, tap) = (r / (g.kh * g.kw), r % (g.kh * g.kw));
            let (dy, dx) = ((tap / g.kw) * g.dilation, (tap % g.kw) * g.dilation);
            let plane = &x[c * g.h * g.w..][..g.h * g.w];
            // Output column j reads input column j + dx - left: the valid j range.
            let x_lo = g.pad.left.saturating_sub(dx).min(g.w_out);
            let x_hi = (g.w + g.pad.left).saturating_sub(dx).min(g.w_out);
            if x_lo >= x_hi {
                continue; // a zero row
            }
            for y in 0..g.h_out {
                let sy = y + dy;
                if sy < g.pad.top || sy >= g.h + g.pad.top {
                    continue;
                }
                let from = (sy - g.pad.top) * g.w + x_lo + dx - g.pad.left;
                let to = y * g.w_out;
                row[to + x_lo..to + x_hi].copy_from_slice(&plane[from..from + x_hi - x_lo]);
            }
        }
    };
    // SAFETY: `fill` zeroes every row before writing into it.
    unsafe { fill_rows(rows, row_len, fill) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::max_abs_diff;
    use candle_nn::{Conv1dConfig, Conv2dConfig};

    fn random(shape: &[usize], seed: u64) -> Tensor {
        // A small LCG: reproducible values in [-1, 1) without a generator crate.
        let n: usize = shape.iter().product();
        let mut state = seed;
        let values: Vec<f32> = (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect();
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn conv1d_matches_candle_with_padding_and_dilation() {
        for (cin, cout, k, padding, dilation, l) in [
            (3, 5, 3, 1, 1, 17),
            (4, 2, 7, 9, 3, 40),
            (6, 6, 11, 25, 5, 64),
            (2, 3, 5, 0, 1, 9),
            // More input channels than the direct kernels take: the columns.
            (300, 3, 5, 4, 2, 30),
        ] {
            let cfg = Conv1dConfig {
                padding,
                dilation,
                ..Default::default()
            };
            let conv = Conv1d::new(random(&[cout, cin, k], 1), Some(random(&[cout], 2)), cfg);
            let x = random(&[2, cin, l], 3);
            let ours = conv1d(&conv, &x).unwrap();
            let reference = conv.forward(&x).unwrap();
            // Same products summed in another order: f32 rounding only.
            assert!(
                max_abs_diff(&ours, &reference) < 1e-4,
                "{cin} {cout} {k} {padding} {dilation}"
            );
        }
    }

    #[test]
    fn conv2d_matches_candle_on_the_padded_input() {
        for (pad, k) in [
            (
                Padding2d {
                    top: 2,
                    bottom: 0,
                    left: 1,
                    right: 1,
                },
                3,
            ),
            (
                Padding2d {
                    top: 1,
                    bottom: 1,
                    left: 2,
                    right: 0,
                },
                3,
            ),
            (Padding2d::default(), 1),
            (
                Padding2d {
                    top: 0,
                    bottom: 3,
                    left: 0,
                    right: 0,
                },
                2,
            ),
        ] {
            let conv = Conv2d::new(
                random(&[4, 3, k, k], 4),
                Some(random(&[4], 5)),
                Conv2dConfig::default(),
            );
            let x = random(&[2, 3, 6, 5], 6);
            let padded = x
                .pad_with_zeros(2, pad.top, pad.bottom)
                .unwrap()
                .pad_with_zeros(3, pad.left, pad.right)
                .unwrap();
            let reference = conv.forward(&padded).unwrap();
            let ours = conv2d(&conv, &x, pad).unwrap();
            assert!(max_abs_diff(&ours, &reference) < 1e-4, "{pad:?}");
        }
    }

    #[test]
    fn conv1d_without_bias_and_too_short_input() {
        let conv = Conv1d::new(random(&[2, 2, 5], 7), None, Conv1dConfig::default());
        let x = random(&[1, 2, 8], 8);
        assert!(max_abs_diff(&conv1d(&conv, &x).unwrap(), &conv.forward(&x).unwrap()) < 1e-4);
        // Shorter than the kernel: an error, not a panic.
        assert!(conv1d(&conv, &random(&[1, 2, 3], 9)).is_err());
    }
}
