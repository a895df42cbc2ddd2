//! [`CausalConv3d`]'s f32 CPU path: the padding folded into the column
//! matrix and every matmul accumulated in place into one output.
//!
//! The generic path pads the input three times (time, height, width: three
//! full copies), allocates one product per temporal tap, adds them and the
//! bias in single-threaded passes and concatenates frame chunks. Here the
//! column matrix reads the unpadded input (edge frames repeated, zeros
//! around), the output starts as the bias, and each temporal tap is one gemm
//! call with `dst += weight · columns` writing straight into its frames of
//! the output: no copy besides the columns themselves.

use std::mem::MaybeUninit;

use candle_core::{Device, Result, Storage, Tensor};

use super::conv3d::CausalConv3d;
use super::conv3d_cpu_direct::{fastest_here, Tile};
use super::conv3d_cpu_wide::WIDE_ENOUGH;

/// Most elements of one column matrix (1 GiB of f32); longer inputs go a few frames at a time.
const MAX_COLUMN_ELEMENTS: usize = 1 << 28;

/// Which of the f32 CPU paths a convolution takes: the layers take the
/// fastest, the tests each of the others.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub(super) enum CpuPath {
    /// The direct kernel where it is the fastest (lines near a multiple of
    /// a tile this CPU runs) and the kernel is more than 1×1×1, else
    /// channels-last for wide inputs, else the column matrix.
    Fastest,
    /// The direct kernel with this tile (odd kernels; the CPU must run it),
    /// else the column matrix.
    Direct(Tile),
    /// Channels-last (odd kernels), else the column matrix.
    Wide,
    /// The column matrix.
    Columns,
}

/// Padding and output geometry of one input.
#[derive(Clone, Copy)]
pub(super) struct Geometry {
    pub(super) cin: usize,
    pub(super) t: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    /// Frames repeated before the first (causal: all of them).
    pub(super) pad_t: usize,
    pub(super) pad_h: usize,
    pub(super) pad_w: usize,
    /// Height and width padded by reflection (the edge not repeated) instead of zeros.
    pub(super) reflect: bool,
    pub(super) t_out: usize,
    pub(super) h_out: usize,
    pub(super) w_out: usize,
}

impl CausalConv3d {
    /// `[b, in, t, h, w]` contiguous f32 on the CPU -> `[b, out, t', h', w']` at stride 1,
    /// height and width padded with zeros or, when `reflect`, by reflection.
    pub(super) fn forward_cpu_f32(&self, x: &Tensor, reflect: bool) -> Result<Tensor> {
        self.forward_cpu_f32_by(x, reflect, CpuPath::Fastest)
    }

    /// [`Self::forward_cpu_f32`] through the path asked for, where it
    /// applies (the tests hold the paths against each other).
    pub(super) fn forward_cpu_f32_by(
        &self,
        x: &Tensor,
        reflect: bool,
        path: CpuPath,
    ) -> Result<Tensor> {
        let (kt, kh, kw) = self.kernel;
        let (batch, cin, t, h, w) = x.dims5()?;
        if reflect && (h <= kh / 2 || w <= kw / 2) {
            candle_core::bail!(
                "reflect padding needs more than {} rows and {} columns",
                kh / 2,
                kw / 2
            );
        }
        let (pad_t, pad_t_end) = if self.is_causal {
            (kt - 1, 0)
        } else {
            ((kt - 1) / 2, (kt - 1) / 2)
        };
        let g = Geometry {
            cin,
            t,
            h,
            w,
            pad_t,
            pad_h: kh / 2,
            pad_w: kw / 2,
            reflect,
            t_out: t + pad_t + pad_t_end + 1 - kt,
            h_out: h + 2 * (kh / 2) + 1 - kh,
            w_out: w + 2 * (kw / 2) + 1 - kw,
        };
        let cout = self.out_channels;
        let hw = g.h_out * g.w_out;
        let out_len = batch * cout * g.t_out * hw;

        let bias = self.bias.flatten_all()?.to_vec1::<f32>()?;
        // The weights are read in place (they are contiguous, made so at load).
        let guards: Vec<_> = self
            .weights
            .iter()
            .map(|w| w.storage_and_layout())
            .collect();
        let mut weights = Vec::with_capacity(guards.len());
        for (storage, layout) in &guards {
            let Storage::Cpu(cpu) = &**storage else {
                candle_core::bail!("conv3d: expected CPU weights");
            };
            if !layout.is_contiguous() {
                candle_core::bail!("conv3d: expected contiguous weights");
            }
            weights.push(&cpu.as_slice::<f32>()?[layout.start_offset()..]);
        }

        let (storage, layout) = x.storage_and_layout();
        let Storage::Cpu(cpu) = &*storage else {
            candle_core::bail!("expected a CPU tensor");
        };
        let src = &cpu.as_slice::<f32>()?[layout.start_offset()..][..batch * cin * t * h * w];
        let same_size = kh % 2 == 1 && kw % 2 == 1;
        let tile = match path {
            CpuPath::Fastest if kt * kh * kw > 1 => fastest_here(g.w_out),
            CpuPath::Direct(tile) => Some(tile),
            _ => None,
        };
        if let (Some(tile), true) = (tile, same_size) {
            return self.forward_cpu_f32_direct(src, batch, &g, &weights, &bias, tile);
        }
        let wide_enough = path == CpuPath::Fastest && w >= WIDE_ENOUGH;
        if (wide_enough || path == CpuPath::Wide) && same_size {
            return self.forward_cpu_f32_wide(src, batch, &g, &weights, &bias);
        }
        // The output starts as the bias, written once (no zeroing first).
        let mut out = Vec::with_capacity(out_len);
        for r in 0..batch * cout {
            out.extend(std::iter::repeat_n(bias[r % cout], g.t_out * hw));
        }
        let k = kh * kw * cin;
        let per_frame = k * hw;
        let chunk = (MAX_COLUMN_ELEMENTS / per_frame.max(1)).max(1);
        for b in 0..batch {
            let x_b = &src[b * cin * t * h * w..][..cin * t * h * w];
            let mut t0 = 0;
            while t0 < g.t_out {
                let frames = chunk.min(g.t_out - t0);
                let span = frames + kt - 1;
                let cols = columns(x_b, &g, t0, span, (kh, kw));
                let dst_offset = b * cout * g.t_out * hw + t0 * hw;
                for (dt, weight) in weights.iter().enumerate() {
                    let rhs = &cols[dt * hw..];
                    // The product reads k rows of frames * hw columns from rhs (row stride
                    // span * hw) and writes cout rows of frames * hw into out (row stride
                    // t_out * hw): check both lie inside their buffers.
                    let last_rhs = (k - 1) * span * hw + frames * hw;
                    let last_dst = dst_offset + (cout - 1) * g.t_out * hw + frames * hw;
                    if weight.len() < cout * k || rhs.len() < last_rhs || out.len() < last_dst {
                        candle_core::bail!("conv3d: buffer sizes do not match the geometry");
                    }
                    // SAFETY: the bounds above hold for every index gemm touches
                    // (row-major operands with the strides given), and `out`, `weight`
                    // and `cols` are distinct allocations.
                    unsafe {
                        crate::cpu_blas::sgemm(
                            (cout, frames * hw, k),
                            out.as_mut_ptr().add(dst_offset),
                            g.t_out * hw,
                            true,
                            crate::cpu_blas::Operand {
                                ptr: weight.as_ptr(),
                                row_stride: k,
                                col_stride: 1,
                            },
                            crate::cpu_blas::Operand {
                                ptr: rhs.as_ptr(),
                                row_stride: span * hw,
                                col_stride: 1,
                            },
                            true,
                        );
                    }
                }
                t0 += frames;
            }
        }
        drop(storage);
        drop(weights);
        drop(guards);
        Tensor::from_vec(out, (batch, cout, g.t_out, g.h_out, g.w_out), &Device::Cpu)
    }
}

/// The column matrix `[kh * kw * in, span * h_out * w_out]` for output frames from
/// `t0`: row `(dh * kw + dw) * in + c` holds input channel `c` shifted by
/// `(dh, dw)`, read from the unpadded input `[in, t, h, w]` (frame indices
/// clamped to the edges, as the replicate padding in time; zeros outside in
/// height and width). Every element is written exactly once, so the buffer
/// is not zeroed first: that memset was 5% of a decode.
fn columns(x: &[f32], g: &Geometry, t0: usize, span: usize, (kh, kw): (usize, usize)) -> Vec<f32> {
    let (rows, row_len) = (kh * kw * g.cin, span * g.h_out * g.w_out);
    let fill = |first_row: usize, block: &mut [MaybeUninit<f32>]| {
        for (i, row) in block.chunks_mut(row_len).enumerate() {
            let r = first_row + i;
            let (tap, ci) = (r / g.cin, r % g.cin);
            let (dh, dw) = (tap / kw, tap % kw);
            // Output x reads input column x + dw - pad_w: the valid x range.
            let x_lo = g.pad_w.saturating_sub(dw).min(g.w_out);
            let x_hi = (g.w + g.pad_w).saturating_sub(dw).min(g.w_out).max(x_lo);
            for s in 0..span {
                // Padded frame t0 + s is input frame t0 + s - pad_t, clamped to the edges.
                let frame = (t0 + s).saturating_sub(g.pad_t).min(g.t - 1);
                let plane = &x[(ci * g.t + frame) * g.h * g.w..][..g.h * g.w];
                for y in 0..g.h_out {
                    let to = (s * g.h_out + y) * g.w_out;
                    let out = &mut row[to..to + g.w_out];
                    let Some(sy) = source(y + dh, g.pad_h, g.h, g.reflect) else {
                        out.fill(MaybeUninit::new(0.0)); // a zero row
                        continue;
                    };
                    let line = &plane[sy * g.w..][..g.w];
                    if x_lo < x_hi {
                        let from = x_lo + dw - g.pad_w;
                        for (o, &v) in out[x_lo..x_hi].iter_mut().zip(&line[from..]) {
                            o.write(v);
                        }
                    }
                    // The few columns left and right of the copied run.
                    for xo in (0..x_lo).chain(x_hi..g.w_out) {
                        let v = source(xo + dw, g.pad_w, g.w, g.reflect).map_or(0.0, |sx| line[sx]);
                        out[xo].write(v);
                    }
                }
            }
        }
    };
    // SAFETY: `fill` writes every element: each row's span * h_out lines,
    // each line either filled or written at 0..x_lo, x_lo..x_hi and x_hi..w_out.
    unsafe { crate::cpu_parallel::fill_rows(rows, row_len, fill) }
}

/// The input index that padded index `padded` reads on an axis of `len` with
/// `pad` in front: `None` for a zero, the mirrored index when reflecting.
pub(super) fn source(padded: usize, pad: usize, len: usize, reflect: bool) -> Option<usize> {
    let i = padded as isize - pad as isize;
    let last = len as isize - 1;
    if (0..=last).contains(&i) {
        return Some(i as usize);
    }
    if !reflect {
        return None;
    }
    let mirrored = if i < 0 { -i } else { 2 * last - i };
    (0..=last).contains(&mirrored).then_some(mirrored as usize)
}

/// What the tests of each path share: a random layer, and the check that a
/// path gives the column-matrix path's output.
#[cfg(test)]
pub(super) mod path_tests {
    use std::collections::HashMap;

    use candle_core::{DType, Device, Tensor};
    use candle_nn::VarBuilder;

    use super::super::conv3d::CausalConv3d;
    use super::CpuPath;
    use crate::test_support::max_abs_diff;

    /// In and out channels, kernel, causal, reflect, then the input's batch,
    /// frames, height and width.
    pub(in super::super) type Case = (
        usize,
        usize,
        (usize, usize, usize),
        bool,
        bool,
        usize,
        usize,
        usize,
        usize,
    );

    fn random_conv(
        cin: usize,
        cout: usize,
        kernel: (usize, usize, usize),
        causal: bool,
    ) -> CausalConv3d {
        let (kt, kh, kw) = kernel;
        let dev = Device::Cpu;
        let tensors = HashMap::from([
            (
                "conv.weight".to_string(),
                Tensor::randn(0f32, 0.2, (cout, cin, kt, kh, kw), &dev).unwrap(),
            ),
            (
                "conv.bias".to_string(),
                Tensor::randn(0f32, 1.0, cout, &dev).unwrap(),
            ),
        ]);
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
        CausalConv3d::new(cin, cout, kernel, (1, 1, 1), causal, vb).unwrap()
    }

    /// `path` gives the column matrix's output for each case, to 1e-5 of the
    /// output's largest value (f32 sums in another order).
    pub(in super::super) fn assert_matches_columns(path: CpuPath, cases: &[Case]) {
        for &(cin, cout, kernel, causal, reflect, batch, t, h, w) in cases {
            let conv = random_conv(cin, cout, kernel, causal);
            let x = Tensor::randn(0f32, 1.0, (batch, cin, t, h, w), &Device::Cpu).unwrap();
            let columns = conv
                .forward_cpu_f32_by(&x, reflect, CpuPath::Columns)
                .unwrap();
            let by_path = conv.forward_cpu_f32_by(&x, reflect, path).unwrap();
            assert_eq!(by_path.dims(), columns.dims());
            let scale = max_abs_diff(&columns, &columns.zeros_like().unwrap());
            let err = max_abs_diff(&by_path, &columns);
            assert!(
                err <= 1e-5 * scale,
                "{path:?} {kernel:?} causal {causal} reflect {reflect}: {err}"
            );
        }
    }
}
