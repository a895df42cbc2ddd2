//! [`CausalConv3d`]'s f32 CPU path on x86-64 with AVX2 or AVX-512: a direct
//! convolution, with no matrix product per tap.
//!
//! The product paths hand `gemm` or BLAS nine products per output frame,
//! each of depth `kw · in` only: every one packs its share of the input and
//! reads and writes the whole output frame again. Here each output value is
//! summed over all `kt · kh · kw · in` taps in registers and written once.
//! The input is copied once, padded, into rows `[t', h', in, w']` (for each
//! padded frame and line, the channels' lines one after another, so the
//! taps of one line are one contiguous run); the weights are packed once per
//! call in the order the kernel reads them. A kernel call holds a [`Tile`]
//! of output channels × pixels in registers, and for each tap loads a tile's
//! width of input pixels and broadcasts one weight per channel
//! (`conv3d_cpu_direct_avx2`, `conv3d_cpu_direct_avx512`).

use candle_core::{Device, Result, Tensor};
use rayon::prelude::*;

use super::conv3d::CausalConv3d;
use super::conv3d_cpu::{source, Geometry};
use crate::cpu_parallel::SharedOut;

/// The output channels × pixels one kernel call sums in registers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Tile {
    /// AVX2 and FMA: 4 channels × 24 pixels, 12 of the 16 ymm registers.
    Avx2,
    /// AVX-512: 8 channels × 48 pixels, 24 of the 32 zmm registers.
    Avx512Wide,
    /// AVX-512: 8 channels × 24 pixels, a zmm and a ymm register each
    /// (lines 24 wide, which 48 would double).
    Avx512Narrow,
}

impl Tile {
    #[cfg(test)]
    pub(super) const ALL: [Tile; 3] = [Tile::Avx2, Tile::Avx512Wide, Tile::Avx512Narrow];

    pub(super) fn channels(self) -> usize {
        match self {
            Tile::Avx2 => 4,
            Tile::Avx512Wide | Tile::Avx512Narrow => 8,
        }
    }

    pub(super) fn pixels(self) -> usize {
        match self {
            Tile::Avx2 | Tile::Avx512Narrow => 24,
            Tile::Avx512Wide => 48,
        }
    }

    /// Whether this CPU has the instructions the tile's kernel uses.
    pub(super) fn runs_here(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            match self {
                Tile::Avx2 => has!("avx2") && has!("fma"),
                Tile::Avx512Wide | Tile::Avx512Narrow => has!("avx512f") && has!("avx512vl"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// `w_out` rounded up to whole kernel calls.
    pub(super) fn rounded(self, w_out: usize) -> usize {
        w_out.div_ceil(self.pixels()) * self.pixels()
    }
}

/// The tile of the fastest direct kernel for output lines `w_out` wide
/// here, or `None` where a product path is faster. AVX-512 machines take
/// their 8-channel tiles (the 4 × 24 AVX2 tile would run at half of their
/// peak where the FMA units are 512 bits wide); the width that wastes less
/// of the line wins. No tile where rounding the lines up to whole kernel
/// calls adds more than 15% of work (e.g. 12 wide: twice the work), about
/// what the direct kernel gains over the products (92% of the FMA peak
/// against 78% on an AVX2 EPYC).
pub(super) fn fastest_here(w_out: usize) -> Option<Tile> {
    let tiles: &[Tile] = if Tile::Avx512Wide.runs_here() {
        &[Tile::Avx512Wide, Tile::Avx512Narrow]
    } else {
        &[Tile::Avx2]
    };
    let best = tiles
        .iter()
        .copied()
        .filter(|tile| tile.runs_here())
        .min_by_key(|tile| tile.rounded(w_out))?;
    (best.rounded(w_out) * 100 <= w_out * 115).then_some(best)
}

/// The weights (per temporal tap `[out, kh · kw · in]`, columns
/// `(dh · kw + dw) · in + c`) in the kernel's order,
/// `[out / n][kt][kh][in][kw][n]` for `n` channels a tile, the output
/// channels past the last zero. Packed per call rather than kept: a copy is
/// 1–2% of a layer's time, and a second copy of every weight would stay in
/// memory for good.
fn packed_weights(
    weights: &[&[f32]],
    cout: usize,
    cin: usize,
    (kh, kw): (usize, usize),
    channels: usize,
) -> Vec<f32> {
    let kt = weights.len();
    let blocks = cout.div_ceil(channels);
    let mut packed = Vec::with_capacity(blocks * kt * kh * cin * kw * channels);
    for block in 0..blocks {
        for weight in weights {
            for dh in 0..kh {
                for c in 0..cin {
                    for dw in 0..kw {
                        for i in 0..channels {
                            let o = block * channels + i;
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
pub(super) struct Plan {
    pub(super) tile: Tile,
    pub(super) kernel: (usize, usize, usize),
    pub(super) cin: usize,
    pub(super) cout: usize,
    /// Padded frames and lines of the input.
    pub(super) tp: usize,
    pub(super) hp: usize,
    /// One padded input line: the output's width rounded up to whole
    /// kernel calls, plus the kernel's width less one, rounded up to 16
    /// values so that every channel's line starts on a 64-byte cache line.
    pub(super) line: usize,
    /// Values between a tap and the next along a line (a dilated 1-D
    /// convolution's spacing; 1 for the 3-D convolutions).
    pub(super) dilation: usize,
    /// `Some(pitch)` for the flattened 1-D and 2-D plans
    /// (`conv2d_cpu_direct`): the kernel's rows are `pitch` values apart
    /// along one line, and the kernels' `segment` sums the input channels in
    /// passes, the partial sums kept in the output. `None` for 3-D plans.
    pub(super) flat_row_pitch: Option<usize>,
    pub(super) t_out: usize,
    pub(super) h_out: usize,
    pub(super) w_out: usize,
}

/// Weights of one group of channel blocks: a quarter of a 512 KiB L2 (the
/// smallest of the CPUs measured), so a group's weights and the input lines
/// a task reads stay in the core's cache. With channel passes, the partial
/// sums of one group's line instead (each pass's weights are small).
const GROUP_BYTES: usize = 128 << 10;

impl Plan {
    /// Blocks of one tile's output channels.
    fn blocks(&self) -> usize {
        self.cout.div_ceil(self.tile.channels())
    }

    /// Blocks in one group: as many as fit `GROUP_BYTES`, at least one.
    fn blocks_per_group(&self) -> usize {
        let (kt, kh, kw) = self.kernel;
        let block_bytes = if self.flat_row_pitch.is_some() {
            self.tile.channels() * self.w_out * 4
        } else {
            kt * kh * kw * self.cin * self.tile.channels() * 4
        };
        (GROUP_BYTES / block_bytes.max(1)).clamp(1, self.blocks().max(1))
    }

    fn groups(&self) -> usize {
        self.blocks().div_ceil(self.blocks_per_group())
    }

    /// The blocks of channels in `group`.
    pub(super) fn group_blocks(&self, group: usize) -> std::ops::Range<usize> {
        let per_group = self.blocks_per_group();
        group * per_group..((group + 1) * per_group).min(self.blocks())
    }
}

impl CausalConv3d {
    /// Same contract as `forward_cpu_f32`, for one geometry already checked
    /// there, through the kernel of `tile` (which must run here).
    pub(super) fn forward_cpu_f32_direct(
        &self,
        x: &[f32],
        batch: usize,
        g: &Geometry,
        weights: &[&[f32]],
        bias: &[f32],
        tile: Tile,
    ) -> Result<Tensor> {
        if !tile.runs_here() {
            candle_core::bail!("conv3d: this CPU cannot run the {tile:?} kernel");
        }
        let (kt, kh, kw) = self.kernel;
        let cout = self.out_channels;
        let plan = Plan {
            tile,
            kernel: self.kernel,
            cin: g.cin,
            cout,
            tp: g.t_out + kt - 1,
            hp: g.h_out + kh - 1,
            line: (tile.rounded(g.w_out) + kw - 1).next_multiple_of(16),
            dilation: 1,
            flat_row_pitch: None,
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
        let packed = &packed_weights(weights, cout, g.cin, (kh, kw), tile.channels());
        let per_item = cout * g.t_out * g.h_out * g.w_out;
        let mut out: Vec<f32> = Vec::with_capacity(batch * per_item);
        let dst = SharedOut::new(out.spare_capacity_mut().as_mut_ptr().cast::<f32>());
        for b in 0..batch {
            let rows = padded_rows(&x[b * g.cin * g.t * g.h * g.w..], g, &plan);
            let item = SharedOut::new(dst.get().wrapping_add(b * per_item));
            // SAFETY: the tile runs here (checked above), `rows` and
            // `packed` are laid out and sized by `plan` (the sizes checked
            // above), and item b's `per_item` values are reserved in `out`.
            unsafe { run_lines(&plan, &rows, packed, bias, item) };
        }
        // SAFETY: every line of every channel of every item was written above.
        unsafe { out.set_len(batch * per_item) };
        let shape = (batch, cout, g.t_out, g.h_out, g.w_out);
        Tensor::from_vec(out, shape, &Device::Cpu)
    }
}

/// Every output line of one batch item, `[out, t_out, h_out, w_out]` at
/// `item`, on rayon's threads.
///
/// # Safety
///
/// `plan.tile` runs here; `rows` is `[tp][hp][in][line]`, `packed` the
/// weights as [`packed_weights`] packs them for the tile, `bias` one per
/// output channel, all sized by `plan`; `item` is valid for writes of the
/// whole output and nothing else touches it meanwhile.
pub(super) unsafe fn run_lines(
    plan: &Plan,
    rows: &[f32],
    packed: &[f32],
    bias: &[f32],
    item: SharedOut,
) {
    // Tasks by group of output channels first, then by line: each thread
    // keeps its groups' weights in its cache while it goes down the lines
    // (the input lines are shared and read in order).
    let lines = plan.t_out * plan.h_out;
    (0..plan.groups() * lines).into_par_iter().for_each(|task| {
        let (group, line) = (task / lines, task % lines);
        let at = (line / plan.h_out, line % plan.h_out);
        // SAFETY: as the caller promised; this task alone writes output
        // line `at` of its group's channels.
        unsafe { line_kernel(plan, rows, packed, bias, item.get(), at, group) };
    });
}

/// Output line `at` of the channels in `group` through `plan.tile`'s kernel.
///
/// # Safety
///
/// As the kernels' `line`: the CPU runs the tile; `rows`, `packed`, `bias`
/// and `out` sized by `plan`; nothing else writes the line meanwhile.
unsafe fn line_kernel(
    plan: &Plan,
    rows: &[f32],
    packed: &[f32],
    bias: &[f32],
    out: *mut f32,
    at: (usize, usize),
    group: usize,
) {
    #[cfg(target_arch = "x86_64")]
    {
        use super::{conv3d_cpu_direct_avx2 as avx2, conv3d_cpu_direct_avx512 as avx512};
        match plan.tile {
            Tile::Avx2 if plan.flat_row_pitch.is_some() => {
                avx2::segment(plan, rows, packed, bias, out, at.1, group)
            }
            Tile::Avx2 => avx2::line(plan, rows, packed, bias, out, at, group),
            Tile::Avx512Wide if plan.flat_row_pitch.is_some() => {
                avx512::segment::<3>(plan, rows, packed, bias, out, at.1, group)
            }
            Tile::Avx512Wide => avx512::line::<3>(plan, rows, packed, bias, out, at, group),
            Tile::Avx512Narrow if plan.flat_row_pitch.is_some() => {
                avx512::segment::<2>(plan, rows, packed, bias, out, at.1, group)
            }
            Tile::Avx512Narrow => avx512::line::<2>(plan, rows, packed, bias, out, at, group),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // Never reached: no tile runs off x86-64.
        let _ = (plan, rows, packed, bias, out, at, group);
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

#[cfg(test)]
mod tests {
    use super::super::conv3d_cpu::{path_tests, CpuPath};
    use super::Tile;

    /// Each tile's kernel this CPU runs gives the column-matrix path's
    /// output for causal, symmetric and reflect padding, batches, output
    /// channels that are not a multiple of the tile's, widths that are not
    /// a multiple of its pixels (the last call's pixels partly stored),
    /// 1×1×1 and 3×5×5 kernels (the kernel in intrinsics rather than
    /// assembly), channels in more than one group.
    #[test]
    fn the_direct_kernels_match_the_column_matrix() {
        #[cfg(target_arch = "x86_64")]
        assert!(
            Tile::Avx2.runs_here(),
            "this test runs the AVX2 kernel: the CPU has no AVX2 and FMA"
        );
        let tiles: Vec<Tile> = Tile::ALL.into_iter().filter(|t| t.runs_here()).collect();
        eprintln!("kernels run here: {tiles:?}");
        for tile in tiles {
            path_tests::assert_matches_columns(
                CpuPath::Direct(tile),
                &[
                    (3, 5, (3, 3, 3), true, false, 2, 4, 6, 33),
                    (4, 2, (3, 3, 3), false, false, 1, 3, 5, 7),
                    (2, 3, (3, 3, 3), true, true, 1, 5, 4, 24),
                    (5, 4, (1, 1, 1), true, false, 1, 2, 3, 50),
                    (3, 9, (3, 5, 5), false, true, 2, 2, 7, 49),
                    (16, 8, (3, 3, 3), false, false, 1, 3, 4, 96),
                    (6, 7, (1, 3, 3), true, true, 1, 4, 3, 3),
                    (5, 17, (3, 3, 3), false, false, 1, 2, 3, 40),
                    // Blocks of 55 KiB of weights for 4 channels a tile,
                    // 110 KiB for 8: two groups, then three.
                    (128, 10, (3, 3, 3), false, false, 1, 2, 3, 26),
                    (128, 20, (3, 3, 3), false, false, 1, 2, 3, 50),
                ],
            );
        }
    }

    /// The fastest tile for a width: none where rounding wastes over 15%,
    /// the AVX-512 tile that wastes less where the CPU has them.
    #[test]
    fn the_fastest_tile_wastes_little_of_the_line() {
        use super::fastest_here;
        assert_eq!(fastest_here(12), None);
        if Tile::Avx512Wide.runs_here() {
            assert_eq!(fastest_here(96), Some(Tile::Avx512Wide));
            assert_eq!(fastest_here(24), Some(Tile::Avx512Narrow));
            assert_eq!(fastest_here(72), Some(Tile::Avx512Narrow));
        } else if Tile::Avx2.runs_here() {
            assert_eq!(fastest_here(96), Some(Tile::Avx2));
            assert_eq!(fastest_here(24), Some(Tile::Avx2));
        }
    }
}
