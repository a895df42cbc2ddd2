//! [`CausalConv3d`]'s f32 CPU path for wide inputs: no column matrix at all.
//!
//! The input is copied once, padded, into channels-last order
//! `[t', h', w', in]`. There the `kw · in` values one output pixel reads
//! from one input row lie next to each other, and the next pixel's start
//! `in` values further on: for each temporal and vertical tap, one frame's
//! products are a single `gemm` reading that buffer in place (columns
//! `in` apart), accumulated into a buffer as wide as the padded rows. The
//! two padding columns of each row come out as discarded values; then one
//! pass crops them and adds the bias. Against the column-matrix path this
//! drops its nine-fold copy of the input and the strided reads `gemm` made
//! of it, for 2·pad/w extra products: used from `WIDE_ENOUGH` columns on.

use std::mem::MaybeUninit;

use candle_core::{Device, Result, Tensor};
use rayon::prelude::*;

use super::conv3d::CausalConv3d;
use super::conv3d_cpu::{source, Geometry};
use crate::cpu_blas::{sgemm, Operand};
use crate::cpu_parallel::SharedOut;

/// Narrowest input (columns) taken by this path: at 32 the discarded
/// padding columns are 6% of the products, fewer the wider the input.
pub(super) const WIDE_ENOUGH: usize = 32;

impl CausalConv3d {
    /// Same contract as `forward_cpu_f32`, for one geometry already checked there.
    pub(super) fn forward_cpu_f32_wide(
        &self,
        x: &[f32],
        batch: usize,
        g: &Geometry,
        weights: &[&[f32]],
        bias: &[f32],
    ) -> Result<Tensor> {
        let (kt, kh, kw) = self.kernel;
        let cout = self.out_channels;
        let (tp, hp, wp) = (g.t_out + kt - 1, g.h + 2 * g.pad_h, g.w + 2 * g.pad_w);
        if g.h_out != g.h || g.w_out != g.w || hp != g.h_out + kh - 1 || wp != g.w_out + kw - 1 {
            candle_core::bail!("conv3d: the wide path needs odd kernels with same padding");
        }
        let threads = candle_core::utils::get_num_threads().max(1);
        let k = kw * g.cin;
        let row_len = g.h * wp; // one output frame, padded columns included
        let mut out = Vec::new();
        for b in 0..batch {
            let x_b = &x[b * g.cin * g.t * g.h * g.w..][..g.cin * g.t * g.h * g.w];
            let padded = channels_last(x_b, g, (tp, hp, wp));
            let mut wide: Vec<f32> = Vec::with_capacity(cout * g.t_out * row_len);
            let dst = SharedOut::new(wide.spare_capacity_mut().as_mut_ptr().cast::<f32>());
            // Output frame t's products: for each temporal and vertical tap,
            // output pixel n = y·wp + x reads, for k = dw·in + c,
            // padded[t + dt][y + dh][x + dw][c] = rhs[n·in + k].
            let frame = |t: usize, split: bool| {
                for (dt, weight) in weights.iter().enumerate() {
                    for dh in 0..kh {
                        let lhs = &weight[dh * k..];
                        let rhs = &padded[((t + dt) * hp + dh) * wp * g.cin..];
                        let first = dt == 0 && dh == 0;
                        // SAFETY: lhs and rhs hold every index read (checked
                        // below, for the last frame and taps); dst has
                        // capacity for cout rows of t_out · row_len, of which
                        // this writes frame t's row_len per row, and only
                        // this frame's task does; the first product of a frame
                        // writes it without reading it, the others accumulate.
                        unsafe {
                            sgemm(
                                (cout, row_len, k),
                                dst.get().add(t * row_len),
                                g.t_out * row_len,
                                !first,
                                Operand {
                                    ptr: lhs.as_ptr(),
                                    row_stride: kh * k,
                                    col_stride: 1,
                                },
                                Operand {
                                    ptr: rhs.as_ptr(),
                                    row_stride: 1,
                                    col_stride: g.cin,
                                },
                                split,
                            );
                        }
                    }
                }
            };
            let last_lhs = (kh - 1) * k + (cout - 1) * kh * k + k;
            let last_rhs =
                ((g.t_out - 1 + kt - 1) * hp + kh - 1) * wp * g.cin + (row_len - 1) * g.cin + k;
            if weights.iter().any(|w| w.len() < last_lhs) || padded.len() < last_rhs {
                candle_core::bail!("conv3d: buffer sizes do not match the geometry");
            }
            // Frames in parallel, each product on one thread: one hand-over
            // per layer rather than one per product. With fewer frames than
            // threads, the products are split instead.
            if threads > 1 && g.t_out >= threads {
                (0..g.t_out).into_par_iter().for_each(|t| frame(t, false));
            } else {
                (0..g.t_out).for_each(|t| frame(t, true));
            }
            // SAFETY: every frame t of every row was written by its first product.
            unsafe { wide.set_len(cout * g.t_out * row_len) };
            crop_and_add_bias(&wide, wp, g, bias, threads, &mut out);
        }
        Tensor::from_vec(out, (batch, cout, g.t_out, g.h, g.w), &Device::Cpu)
    }
}

/// `[out, t', h, wp]` → `[out, t', h, w]` plus each channel's bias, appended
/// to `out`; the channels shared out between the threads.
fn crop_and_add_bias(
    wide: &[f32],
    wp: usize,
    g: &Geometry,
    bias: &[f32],
    threads: usize,
    out: &mut Vec<f32>,
) {
    let (plane_in, plane_out) = (g.t_out * g.h * wp, g.t_out * g.h * g.w);
    let channels = bias.len();
    let start = out.len();
    out.reserve(channels * plane_out);
    let spare = &mut out.spare_capacity_mut()[..channels * plane_out];
    let per_thread = channels.div_ceil(threads.clamp(1, channels.max(1)));
    crate::cpu_parallel::for_each_chunk(spare, per_thread * plane_out, |k, block| {
        for (j, dst) in block.chunks_mut(plane_out).enumerate() {
            let o = k * per_thread + j;
            let src = &wide[o * plane_in..(o + 1) * plane_in];
            for (d, line) in dst.chunks_mut(g.w).zip(src.chunks_exact(wp)) {
                for (d, &v) in d.iter_mut().zip(&line[..g.w]) {
                    d.write(v + bias[o]);
                }
            }
        }
    });
    // SAFETY: each channel's plane_out values were written above.
    unsafe { out.set_len(start + channels * plane_out) };
}

/// `[in, t, h, w]` → padded `[t', h', w', in]`: frames repeated at the edges
/// in time, zeros (or reflection) around in height and width, plus one row of
/// zeros at the end (the last row's discarded columns read into it).
fn channels_last(x: &[f32], g: &Geometry, (tp, hp, wp): (usize, usize, usize)) -> Vec<f32> {
    let cin = g.cin;
    let rows = tp * hp;
    // Where each padded column reads from: the same for every row.
    let sources: Vec<Option<usize>> = (0..wp)
        .map(|xp| source(xp, g.pad_w, g.w, g.reflect))
        .collect();
    let edges: Vec<usize> = (0..g.pad_w).chain(g.pad_w + g.w..wp).collect();
    let fill = |first_row: usize, block: &mut [MaybeUninit<f32>]| {
        for (i, dst) in block.chunks_mut(wp * cin).enumerate() {
            let r = first_row + i;
            let (ti, yp) = (r / hp, r % hp);
            let frame = ti.saturating_sub(g.pad_t).min(g.t - 1);
            let sy = if r < rows {
                source(yp, g.pad_h, g.h, g.reflect)
            } else {
                None // the trailing row
            };
            let Some(sy) = sy else {
                dst.fill(MaybeUninit::new(0.0));
                continue;
            };
            for &xp in &edges {
                if sources[xp].is_none() {
                    dst[xp * cin..(xp + 1) * cin].fill(MaybeUninit::new(0.0));
                }
            }
            // Channel by channel: one input row read in order, written `cin` apart
            // (the row's wp · cin values stay in cache while it fills).
            for c in 0..cin {
                let line = &x[((c * g.t + frame) * g.h + sy) * g.w..][..g.w];
                let inner = dst[g.pad_w * cin + c..].iter_mut().step_by(cin);
                for (d, &v) in inner.zip(line) {
                    d.write(v);
                }
                for &xp in &edges {
                    if let Some(sx) = sources[xp] {
                        dst[xp * cin + c].write(line[sx]);
                    }
                }
            }
        }
    };
    // SAFETY: every row is filled: zeros, or each pixel's cin values (zero
    // columns above, the rest channel by channel).
    unsafe { crate::cpu_parallel::fill_rows(rows + 1, wp * cin, fill) }
}

#[cfg(test)]
mod tests {
    use super::super::conv3d_cpu::{path_tests, CpuPath};

    /// The channels-last path gives the column-matrix path's output for
    /// causal, symmetric and reflect padding, batches, and 1×1 kernels.
    #[test]
    fn the_wide_path_matches_the_column_matrix() {
        path_tests::assert_matches_columns(
            CpuPath::Wide,
            &[
                (3, 5, (3, 3, 3), true, false, 2, 4, 6, 33),
                (4, 2, (3, 3, 3), false, false, 1, 3, 5, 40),
                (2, 3, (3, 3, 3), true, true, 1, 5, 4, 32),
                (5, 4, (1, 1, 1), true, false, 1, 2, 3, 34),
                (3, 2, (3, 5, 5), false, true, 2, 2, 7, 36),
            ],
        );
    }
}
