//! [`super::attention`]'s f32 CPU path: one task per sample, head and block
//! of queries on rayon's pool, reading q, k and v where the projections
//! left them (`[B, N, H, d]`, rows `H·d` apart). Nothing is transposed or
//! copied: `q·kᵀ` goes into a score buffer, the softmax takes the `1/√d`
//! scale and the mask on the way, and `P·v` is written straight into its
//! head's columns of the `[B, Nq, H, d]` output. The plain path made four
//! strided copies per call and ran them, the scaling and the concatenation
//! on one thread while rayon's threads waited.

use candle_core::{DType, Device, Result, Storage, Tensor};
use rayon::prelude::*;

use super::cpu_ops::softmax_row;
use crate::cpu_blas::{sgemm, Operand};
use crate::cpu_linear::{pack_panels, Panels, Product};

/// Score entries one task holds at once (1 MiB of f32).
const SCORES_PER_TASK: usize = 1 << 18;

/// `None` unless q, k and v are contiguous f32 on the CPU (and the mask, if
/// any, f32): the caller's path takes those.
pub(super) fn attention_f32(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let fits = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous();
    if !fits(q)
        || !fits(k)
        || !fits(v)
        || mask.is_some_and(|m| !m.device().is_cpu() || m.dtype() != DType::F32)
    {
        return Ok(None);
    }
    let (b, nq, h, d) = q.dims4()?;
    let nk = k.dim(1)?;
    if k.dims() != [b, nk, h, d] || v.dims() != [b, nk, h, d] {
        candle_core::bail!(
            "attention: k {:?} and v {:?} do not match q {:?}",
            k.dims(),
            v.dims(),
            q.dims()
        );
    }
    if b * nq * h * d == 0 {
        return Tensor::zeros((b, nq, h, d), DType::F32, &Device::Cpu).map(Some);
    }
    // The mask read through broadcast strides: [B, H, Nq, Nk] without copying.
    let mask = mask.map(|m| m.broadcast_as((b, h, nq, nk))).transpose()?;
    let scale = 1.0 / (d as f32).sqrt();
    let block = (SCORES_PER_TASK / nk.max(1)).clamp(1, nq);
    let blocks = nq.div_ceil(block);

    let (q_storage, q_layout) = q.storage_and_layout();
    let (k_storage, k_layout) = k.storage_and_layout();
    let (v_storage, v_layout) = v.storage_and_layout();
    let (Storage::Cpu(q_cpu), Storage::Cpu(k_cpu), Storage::Cpu(v_cpu)) =
        (&*q_storage, &*k_storage, &*v_storage)
    else {
        candle_core::bail!("attention: expected CPU tensors");
    };
    let q_values = &q_cpu.as_slice::<f32>()?[q_layout.start_offset()..][..b * nq * h * d];
    let k_values = &k_cpu.as_slice::<f32>()?[k_layout.start_offset()..][..b * nk * h * d];
    let v_values = &v_cpu.as_slice::<f32>()?[v_layout.start_offset()..][..b * nk * h * d];
    let mask_guard = mask.as_ref().map(|m| m.storage_and_layout());
    let mask_view = match &mask_guard {
        Some((storage, layout)) => {
            let Storage::Cpu(cpu) = &**storage else {
                candle_core::bail!("attention: expected a CPU mask");
            };
            Some(MaskView {
                values: cpu.as_slice::<f32>()?,
                start: layout.start_offset(),
                strides: [
                    layout.stride()[0],
                    layout.stride()[1],
                    layout.stride()[2],
                    layout.stride()[3],
                ],
            })
        }
        None => None,
    };

    let mut out: Vec<f32> = Vec::with_capacity(b * nq * h * d);
    let dst =
        crate::cpu_parallel::SharedOut::new(out.spare_capacity_mut().as_mut_ptr().cast::<f32>());
    let tasks = b * h * blocks;
    // Few tasks (one head, one sample): the products are split instead.
    let split = tasks < candle_core::utils::get_num_threads();
    let row = h * d;
    // AVX2 CPUs without AVX-512 take the linear layers' broadcast kernel
    // (`cpu_linear`): `gemm` re-packed q, the scores and v on every call.
    // Heads of whole 16-value panels only (v is read in place).
    let packed = crate::cpu_linear::runs_here() && d.is_multiple_of(16) && !split;
    (0..tasks).into_par_iter().for_each(|task| {
        let (sample, head, first) = (
            task / (h * blocks),
            task / blocks % h,
            task % blocks * block,
        );
        let len = block.min(nq - first);
        let mut scores: Vec<f32> = Vec::with_capacity(len * nk);
        let q_at = ((sample * nq + first) * h + head) * d;
        let kv_at = (sample * nk * h + head) * d;
        if packed {
            // This head's keys as panels of 16 (their d values down each).
            let keys = pack_panels(&k_values[kv_at..], nk, d, row);
            let product = Product {
                x: q_values[q_at..].as_ptr(),
                x_stride: row,
                panels: Panels {
                    ptr: keys.as_ptr(),
                    panel_stride: d * 16,
                    step: 16,
                },
                start: None,
                dst: scores.as_mut_ptr(),
                dst_stride: nk,
                depth: d,
                cols: nk,
            };
            // SAFETY: `packed` only where the kernel runs; q rows `first..first
            // + len` of this head and the packed keys hold what `product`
            // reads, and the scores have room for len × nk values.
            unsafe {
                product.run((0, len), (0, nk.div_ceil(16)));
                scores.set_len(len * nk);
            }
        } else {
            // SAFETY: q rows `first..first + len` of this head (row stride
            // h·d, d values each) and all nk rows of k lie inside their
            // slices; the scores buffer has room for len × nk values.
            unsafe {
                sgemm(
                    (len, nk, d),
                    scores.as_mut_ptr(),
                    nk,
                    false,
                    Operand {
                        ptr: q_values[q_at..].as_ptr(),
                        row_stride: row,
                        col_stride: 1,
                    },
                    Operand {
                        ptr: k_values[kv_at..].as_ptr(),
                        row_stride: 1,
                        col_stride: row,
                    },
                    split,
                );
                scores.set_len(len * nk);
            }
        }
        for (i, scores) in scores.chunks_exact_mut(nk).enumerate() {
            match &mask_view {
                Some(mask) => {
                    let at = mask.start
                        + sample * mask.strides[0]
                        + head * mask.strides[1]
                        + (first + i) * mask.strides[2];
                    for (j, s) in scores.iter_mut().enumerate() {
                        *s = *s * scale + mask.values[at + j * mask.strides[3]];
                    }
                }
                None => scores.iter_mut().for_each(|s| *s *= scale),
            }
            softmax_row(scores);
        }
        if packed {
            let product = Product {
                x: scores.as_ptr(),
                x_stride: nk,
                // v in place: a head's d columns are d / 16 whole panels.
                panels: Panels {
                    ptr: v_values[kv_at..].as_ptr(),
                    panel_stride: 16,
                    step: row,
                },
                start: None,
                dst: dst.get().wrapping_add(q_at),
                dst_stride: row,
                depth: nk,
                cols: d,
            };
            // SAFETY: the scores are len × nk; v's nk rows of this head lie
            // in its slice, 16 values per panel and step inside the head's d
            // columns; this task alone writes rows first..first + len of this
            // head's d columns in out (row stride h·d).
            unsafe { product.run((0, len), (0, d / 16)) };
            return;
        }
        // SAFETY: the scores are len × nk, v's nk rows of this head lie in
        // its slice, and this task alone writes rows first..first + len of
        // this head's d columns in out (row stride h·d).
        unsafe {
            sgemm(
                (len, d, nk),
                dst.get().add(q_at),
                row,
                false,
                Operand {
                    ptr: scores.as_ptr(),
                    row_stride: nk,
                    col_stride: 1,
                },
                Operand {
                    ptr: v_values[kv_at..].as_ptr(),
                    row_stride: row,
                    col_stride: 1,
                },
                split,
            );
        }
    });
    // SAFETY: the tasks cover every sample, head and query row once.
    unsafe { out.set_len(b * nq * h * d) };
    drop((q_storage, k_storage, v_storage, mask_guard));
    Tensor::from_vec(out, (b, nq, h, d), &Device::Cpu).map(Some)
}

/// A `[B, H, Nq, Nk]` mask as its storage and (broadcast) strides.
struct MaskView<'a> {
    values: &'a [f32],
    start: usize,
    strides: [usize; 4],
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    use crate::test_support::max_abs_diff;

    /// Against the plain path in f64 (which this path does not take): within
    /// 1e-5 of outputs around 1, with no mask, a per-sample key mask, a full
    /// mask and a 2-D one, several blocks of queries, and one head alone.
    #[test]
    fn matches_the_plain_path() {
        let dev = Device::Cpu;
        // Heads of 16, 32 and 64 values with several tasks take the packed
        // kernel on AVX2 CPUs without AVX-512: key counts not a multiple of
        // 16, query blocks of 262 (1000 keys).
        for (b, nq, nk, h, d) in [
            (2, 5, 7, 3, 4),
            (1, 500, 600, 2, 8),
            (1, 9, 9, 1, 16),
            (1, 50, 37, 3, 32),
            (2, 300, 1000, 2, 16),
            (1, 13, 21, 2, 64),
        ] {
            let q = Tensor::randn(0f32, 1.0, (b, nq, h, d), &dev).unwrap();
            let k = Tensor::randn(0f32, 1.0, (b, nk, h, d), &dev).unwrap();
            let v = Tensor::randn(0f32, 1.0, (b, nk, h, d), &dev).unwrap();
            let keys = Tensor::randn(0f32, 3.0, (b, 1, 1, nk), &dev).unwrap();
            let full = Tensor::randn(0f32, 3.0, (b, h, nq, nk), &dev).unwrap();
            let plane = Tensor::randn(0f32, 3.0, (nq, nk), &dev).unwrap();
            for mask in [None, Some(&keys), Some(&full), Some(&plane)] {
                let ours = super::attention_f32(&q, &k, &v, mask).unwrap().unwrap();
                let f64 = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
                let mask64 = mask.map(f64);
                let plain =
                    super::super::attention(&f64(&q), &f64(&k), &f64(&v), mask64.as_ref()).unwrap();
                let error = max_abs_diff(&ours, &plain.to_dtype(DType::F32).unwrap());
                assert!(
                    error <= 1e-5,
                    "{:?} mask {:?}: {error}",
                    (b, nq, nk, h, d),
                    mask.map(|m| m.dims().to_vec())
                );
            }
        }
        // Other dtypes are left to the plain path.
        let q = Tensor::zeros((1, 2, 1, 4), DType::F64, &dev).unwrap();
        assert!(super::attention_f32(&q, &q, &q, None).unwrap().is_none());
    }
}
