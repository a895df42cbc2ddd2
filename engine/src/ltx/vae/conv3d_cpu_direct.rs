//! [`CausalConv3d`]'s f32 CPU path on x86-64 with AVX2 and FMA: a direct
//! convolution, with no matrix product per tap.
//!
//! The product paths hand `gemm` or BLAS nine products per output frame,
//! each of depth `kw · in` only: every one packs its share of the input and
//! reads and writes the whole output frame again. Here each output value is
//! summed over all `kt · kh · kw · in` taps in registers and written once.
//! The input is copied once, padded, into rows `[t', h', in, w']` (for each
//! padded frame and line, the channels' lines one after another, so the
//! taps of one line are one contiguous run); the weights are packed once per
//! call in the order the kernel reads them. The kernel holds 4 output
//! channels × 24 pixels (12 registers of 8), and for each tap loads three
//! vectors of input pixels and broadcasts four weights: 12 FMAs for 7
//! loads, all 16 registers.

use candle_core::{Device, Result, Tensor};
use rayon::prelude::*;

use super::conv3d::CausalConv3d;
use super::conv3d_cpu::{source, Geometry};
use crate::cpu_parallel::SharedOut;

/// Output channels one kernel call holds.
const CHANNELS: usize = 4;
/// f32 lanes of one AVX2 register.
const LANES: usize = 8;
/// Pixels along a line one kernel call computes: three registers.
const PIXELS: usize = 3 * LANES;

/// Whether this CPU can run the direct kernel (AVX2 and FMA).
pub(super) fn runs_here() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the direct kernel is the fastest path for output lines `w_out`
/// wide here. Not on AVX-512 machines, where `gemm`'s 16-lane kernels have
/// twice this kernel's peak; and not where rounding the lines up to whole
/// kernel calls adds more than 15% of work (e.g. 12 wide: twice the work),
/// about what the direct kernel gains over the products (92% of the FMA
/// peak against 78% on an AVX2 EPYC).
pub(super) fn fastest_here(w_out: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let rounded = w_out.div_ceil(PIXELS) * PIXELS;
        runs_here()
            && !std::arch::is_x86_feature_detected!("avx512f")
            && rounded * 100 <= w_out * 115
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = w_out;
        false
    }
}

/// The weights (per temporal tap `[out, kh · kw · in]`, columns
/// `(dh · kw + dw) · in + c`) in the kernel's order,
/// `[out / 4][kt][kh][in][kw][4]`, the output channels past the last zero.
/// Packed per call rather than kept: a copy is 1–2% of a layer's time, and
/// a second copy of every weight would stay in memory for good.
fn packed_weights(
    weights: &[&[f32]],
    cout: usize,
    cin: usize,
    (kh, kw): (usize, usize),
) -> Vec<f32> {
    let kt = weights.len();
    let blocks = cout.div_ceil(CHANNELS);
    let mut packed = Vec::with_capacity(blocks * kt * kh * cin * kw * CHANNELS);
    for block in 0..blocks {
        for weight in weights {
            for dh in 0..kh {
                for c in 0..cin {
                    for dw in 0..kw {
                        for i in 0..CHANNELS {
                            let o = block * CHANNELS + i;
                            packed.push(if o < cout {
                                weight[o * kh * kw * cin + (dh * kw + dw) * cin + c]
                            } else {
                                0.0
                            });
                        }
                    }
                }
            }
        }
    }
    packed
}

/// Sizes the kernel works with.
#[derive(Clone, Copy)]
struct Plan {
    kernel: (usize, usize, usize),
    cin: usize,
    cout: usize,
    /// Padded frames and lines of the input.
    tp: usize,
    hp: usize,
    /// One padded input line: the output's width rounded up to whole
    /// kernel calls, plus the kernel's width less one.
    line: usize,
    t_out: usize,
    h_out: usize,
    w_out: usize,
}

/// Weights of one group of channel blocks: a quarter of a 512 KiB L2 (the
/// smallest of the CPUs measured), so a group's weights and the input lines
/// a task reads stay in the core's cache.
const GROUP_BYTES: usize = 128 << 10;

impl Plan {
    /// Blocks of `CHANNELS` output channels.
    fn blocks(&self) -> usize {
        self.cout.div_ceil(CHANNELS)
    }

    /// Blocks in one group: as many as fit `GROUP_BYTES`, at least one.
    fn blocks_per_group(&self) -> usize {
        let (kt, kh, kw) = self.kernel;
        let block_bytes = kt * kh * kw * self.cin * CHANNELS * 4;
        (GROUP_BYTES / block_bytes.max(1)).clamp(1, self.blocks().max(1))
    }

    fn groups(&self) -> usize {
        self.blocks().div_ceil(self.blocks_per_group())
    }
}

impl CausalConv3d {
    /// Same contract as `forward_cpu_f32`, for one geometry already checked
    /// there; `None` where this CPU cannot run it.
    pub(super) fn forward_cpu_f32_direct(
        &self,
        x: &[f32],
        batch: usize,
        g: &Geometry,
        weights: &[&[f32]],
        bias: &[f32],
    ) -> Result<Option<Tensor>> {
        if !runs_here() {
            return Ok(None);
        }
        let (kt, kh, kw) = self.kernel;
        let cout = self.out_channels;
        let plan = Plan {
            kernel: self.kernel,
            cin: g.cin,
            cout,
            tp: g.t_out + kt - 1,
            hp: g.h_out + kh - 1,
            line: g.w_out.div_ceil(PIXELS) * PIXELS + kw - 1,
            t_out: g.t_out,
            h_out: g.h_out,
            w_out: g.w_out,
        };
        if weights.len() != kt
            || weights.iter().any(|w| w.len() < cout * kh * kw * g.cin)
            || bias.len() != cout
            || g.h + 2 * g.pad_h != plan.hp
            || g.w + 2 * g.pad_w != g.w_out + kw - 1
        {
            candle_core::bail!("conv3d: buffer sizes do not match the geometry");
        }
        let packed = &packed_weights(weights, cout, g.cin, (kh, kw));
        let per_item = cout * g.t_out * g.h_out * g.w_out;
        let mut out: Vec<f32> = Vec::with_capacity(batch * per_item);
        let dst = SharedOut::new(out.spare_capacity_mut().as_mut_ptr().cast::<f32>());
        for b in 0..batch {
            let rows = padded_rows(&x[b * g.cin * g.t * g.h * g.w..], g, &plan);
            let item = SharedOut::new(dst.get().wrapping_add(b * per_item));
            // Tasks by group of output channels first, then by line: each
            // thread keeps its groups' weights in its cache while it goes
            // down the lines (the input lines are shared and read in order).
            let lines = g.t_out * g.h_out;
            (0..plan.groups() * lines).into_par_iter().for_each(|task| {
                let (group, line) = (task / lines, task % lines);
                let (t, y) = (line / g.h_out, line % g.h_out);
                // SAFETY: `runs_here()` said AVX2 and FMA are there; `rows`
                // is `[tp][hp][in][line]` and `packed` holds every block's
                // taps (sizes from `plan`, checked above); this task alone
                // writes output line (t, y) of its group's channels, inside item b.
                unsafe { kernel::line(&plan, &rows, packed, bias, item.get(), (t, y), group) };
            });
        }
        // SAFETY: every line of every channel of every item was written above.
        unsafe { out.set_len(batch * per_item) };
        let shape = (batch, cout, g.t_out, g.h_out, g.w_out);
        Tensor::from_vec(out, shape, &Device::Cpu).map(Some)
    }
}

/// `[in, t, h, w]` → `[t', h', in, line]`: frames repeated at the edges in
/// time, zeros (or reflection) around in height and width, zeros from the
/// padded width to `line`.
fn padded_rows(x: &[f32], g: &Geometry, plan: &Plan) -> Vec<f32> {
    let (cin, line) = (g.cin, plan.line);
    let padded_width = g.w + 2 * g.pad_w;
    let sources: Vec<Option<usize>> = (0..line)
        .map(|xp| {
            (xp < padded_width)
                .then(|| source(xp, g.pad_w, g.w, g.reflect))
                .flatten()
        })
        .collect();
    let fill = |first_row: usize, block: &mut [std::mem::MaybeUninit<f32>]| {
        for (i, dst) in block.chunks_mut(cin * line).enumerate() {
            let r = first_row + i;
            let (tp, yp) = (r / plan.hp, r % plan.hp);
            let frame = tp.saturating_sub(g.pad_t).min(g.t - 1);
            let Some(sy) = source(yp, g.pad_h, g.h, g.reflect) else {
                dst.fill(std::mem::MaybeUninit::new(0.0));
                continue;
            };
            for (c, dst) in dst.chunks_mut(line).enumerate() {
                let src = &x[((c * g.t + frame) * g.h + sy) * g.w..][..g.w];
                for (d, s) in dst.iter_mut().zip(&sources) {
                    d.write(s.map_or(0.0, |sx| src[sx]));
                }
            }
        }
    };
    // SAFETY: every row is filled: zeros, or each channel's line in full.
    unsafe { crate::cpu_parallel::fill_rows(plan.tp * plan.hp, cin * line, fill) }
}

#[cfg(not(target_arch = "x86_64"))]
mod kernel {
    /// Never called: `runs_here()` is false off x86-64.
    pub(super) unsafe fn line(
        _: &super::Plan,
        _: &[f32],
        _: &[f32],
        _: &[f32],
        _: *mut f32,
        _: (usize, usize),
        _: usize,
    ) {
    }
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use std::arch::x86_64::*;

    use super::{Plan, CHANNELS, LANES, PIXELS};

    /// Output line `(t, y)` of the channels in `group`: `out` is one item's
    /// `[out, t_out, h_out, w_out]`.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2 and FMA; `rows` is `[tp][hp][in][line]`, `packed`
    /// the weights as `packed_weights` packs them, `bias` one per channel,
    /// all sized by `plan`; `out` is valid for the item and nothing else
    /// writes line `(t, y)` of the group's channels meanwhile.
    #[target_feature(enable = "avx2,fma")]
    #[inline(never)] // one call per line; kept apart so its code can be read
    pub(super) unsafe fn line(
        plan: &Plan,
        rows: &[f32],
        packed: &[f32],
        bias: &[f32],
        out: *mut f32,
        (t, y): (usize, usize),
        group: usize,
    ) {
        let (kt, kh, kw) = plan.kernel;
        let (cin, line) = (plan.cin, plan.line);
        let taps = kt * kh * cin * kw;
        let plane = plan.t_out * plan.h_out * plan.w_out;
        let first = out.add((t * plan.h_out + y) * plan.w_out);
        let per_group = plan.blocks_per_group();
        let blocks = group * per_group..((group + 1) * per_group).min(plan.blocks());
        for block in blocks {
            let weights = packed.as_ptr().add(block * taps * CHANNELS);
            let channels = (plan.cout - block * CHANNELS).min(CHANNELS);
            let mut start = [0f32; CHANNELS];
            start[..channels].copy_from_slice(&bias[block * CHANNELS..][..channels]);
            let mut x0 = 0;
            while x0 < plan.w_out {
                // acc[3i + j]: channel i, pixels x0 + 8j .. x0 + 8j + 8.
                let mut acc = [_mm256_setzero_ps(); 3 * CHANNELS];
                for (i, &b) in start.iter().enumerate() {
                    acc[3 * i..3 * i + 3].fill(_mm256_set1_ps(b));
                }
                let mut w = weights;
                for dt in 0..kt {
                    for dh in 0..kh {
                        let row = ((t + dt) * plan.hp + y + dh) * cin * line + x0;
                        let px = rows.as_ptr().add(row);
                        if kw == 3 {
                            taps3(&mut acc, px, w, cin, line);
                        } else {
                            taps_any(&mut acc, px, w, cin, line, kw);
                        }
                        w = w.add(cin * kw * CHANNELS);
                    }
                }
                let width = (plan.w_out - x0).min(PIXELS);
                for i in 0..channels {
                    let dst = first.add((block * CHANNELS + i) * plane + x0);
                    let mut tail = [0f32; PIXELS];
                    let to = if width == PIXELS {
                        dst
                    } else {
                        tail.as_mut_ptr()
                    };
                    for j in 0..3 {
                        _mm256_storeu_ps(to.add(j * LANES), acc[3 * i + j]);
                    }
                    if width < PIXELS {
                        std::ptr::copy_nonoverlapping(tail.as_ptr(), dst, width);
                    }
                }
                x0 += PIXELS;
            }
        }
    }

    /// `acc += ` one padded line's taps for a kernel 3 wide: for each of
    /// `cin` channels (lines `line` apart from `px`), three shifts of 24
    /// pixels times four weights. Written out in assembly: the 12
    /// accumulators, three input vectors and the broadcast weight fill the
    /// 16 registers exactly, and the compiler's allocation spilled there.
    ///
    /// # Safety
    ///
    /// AVX2 and FMA; `px` readable for `cin` lines of 26 values, `w` for
    /// `cin · 3 · 4` weights.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn taps3(
        acc: &mut [__m256; 12],
        px: *const f32,
        w: *const f32,
        cin: usize,
        line: usize,
    ) {
        if cin == 0 {
            return;
        }
        macro_rules! shift {
            ($off:literal, $woff:literal) => {
                concat!(
                    "vmovups {v0}, [{px} + ",
                    $off,
                    "]\n",
                    "vmovups {v1}, [{px} + ",
                    $off,
                    " + 32]\n",
                    "vmovups {v2}, [{px} + ",
                    $off,
                    " + 64]\n",
                    "vbroadcastss {b}, dword ptr [{w} + ",
                    $woff,
                    "]\n",
                    "vfmadd231ps {a0}, {b}, {v0}\n",
                    "vfmadd231ps {a1}, {b}, {v1}\n",
                    "vfmadd231ps {a2}, {b}, {v2}\n",
                    "vbroadcastss {b}, dword ptr [{w} + ",
                    $woff,
                    " + 4]\n",
                    "vfmadd231ps {a3}, {b}, {v0}\n",
                    "vfmadd231ps {a4}, {b}, {v1}\n",
                    "vfmadd231ps {a5}, {b}, {v2}\n",
                    "vbroadcastss {b}, dword ptr [{w} + ",
                    $woff,
                    " + 8]\n",
                    "vfmadd231ps {a6}, {b}, {v0}\n",
                    "vfmadd231ps {a7}, {b}, {v1}\n",
                    "vfmadd231ps {a8}, {b}, {v2}\n",
                    "vbroadcastss {b}, dword ptr [{w} + ",
                    $woff,
                    " + 12]\n",
                    "vfmadd231ps {a9}, {b}, {v0}\n",
                    "vfmadd231ps {a10}, {b}, {v1}\n",
                    "vfmadd231ps {a11}, {b}, {v2}\n",
                )
            };
        }
        std::arch::asm!(
            "2:",
            shift!("0", "0"),
            shift!("4", "16"),
            shift!("8", "32"),
            "add {w}, 48",
            "add {px}, {stride}",
            "dec {n}",
            "jnz 2b",
            a0 = inout(ymm_reg) acc[0],
            a1 = inout(ymm_reg) acc[1],
            a2 = inout(ymm_reg) acc[2],
            a3 = inout(ymm_reg) acc[3],
            a4 = inout(ymm_reg) acc[4],
            a5 = inout(ymm_reg) acc[5],
            a6 = inout(ymm_reg) acc[6],
            a7 = inout(ymm_reg) acc[7],
            a8 = inout(ymm_reg) acc[8],
            a9 = inout(ymm_reg) acc[9],
            a10 = inout(ymm_reg) acc[10],
            a11 = inout(ymm_reg) acc[11],
            v0 = out(ymm_reg) _,
            v1 = out(ymm_reg) _,
            v2 = out(ymm_reg) _,
            b = out(ymm_reg) _,
            px = inout(reg) px => _,
            w = inout(reg) w => _,
            n = inout(reg) cin => _,
            stride = in(reg) line * 4,
            options(nostack, readonly),
        );
    }

    /// [`taps3`] for any kernel width, in intrinsics.
    ///
    /// # Safety
    ///
    /// AVX2 and FMA; `px` readable for `cin` lines of `24 + kw - 1` values,
    /// `w` for `cin · kw · 4` weights.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn taps_any(
        acc: &mut [__m256; 12],
        mut px: *const f32,
        mut w: *const f32,
        cin: usize,
        line: usize,
        kw: usize,
    ) {
        for _ in 0..cin {
            for dw in 0..kw {
                let p = px.add(dw);
                let v = [
                    _mm256_loadu_ps(p),
                    _mm256_loadu_ps(p.add(LANES)),
                    _mm256_loadu_ps(p.add(2 * LANES)),
                ];
                for i in 0..CHANNELS {
                    let wi = _mm256_broadcast_ss(&*w.add(i));
                    for j in 0..3 {
                        acc[3 * i + j] = _mm256_fmadd_ps(wi, v[j], acc[3 * i + j]);
                    }
                }
                w = w.add(CHANNELS);
            }
            px = px.add(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv3d_cpu::{path_tests, CpuPath};

    /// The direct kernel gives the column-matrix path's output for causal,
    /// symmetric and reflect padding, batches, output channels that are not
    /// a multiple of the kernel's 4, widths that are not a multiple of its
    /// 24 pixels (the tail stored apart), 1×1×1 and 3×5×5 kernels (the
    /// kernel in intrinsics rather than assembly), channels in more than one
    /// group.
    #[test]
    fn the_direct_kernel_matches_the_column_matrix() {
        #[cfg(target_arch = "x86_64")]
        assert!(
            super::runs_here(),
            "this test runs the AVX2 kernel: the CPU has no AVX2 and FMA"
        );
        path_tests::assert_matches_columns(
            CpuPath::Direct,
            &[
                (3, 5, (3, 3, 3), true, false, 2, 4, 6, 33),
                (4, 2, (3, 3, 3), false, false, 1, 3, 5, 7),
                (2, 3, (3, 3, 3), true, true, 1, 5, 4, 24),
                (5, 4, (1, 1, 1), true, false, 1, 2, 3, 50),
                (3, 9, (3, 5, 5), false, true, 2, 2, 7, 49),
                (16, 8, (3, 3, 3), false, false, 1, 3, 4, 96),
                (6, 7, (1, 3, 3), true, true, 1, 4, 3, 3),
                // 3 blocks of 55 KiB of weights: two groups.
                (128, 10, (3, 3, 3), false, false, 1, 2, 3, 26),
            ],
        );
    }
}
