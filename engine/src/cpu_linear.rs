//! f32 linear layers on AVX2 CPUs without AVX-512: the weight packed once,
//! at load, into panels of 16 output columns (`[in][16]` each), and a
//! kernel that reads the input rows where they lie.
//!
//! `gemm` re-packs both operands on every call; its 16 × 6 kernel wants the
//! input's rows transposed into column panels, which cost 6–7% of a
//! transformer forward on a Zen 3 (and with a few dozen rows, the LTX-2
//! audio stream's, gemm ran at a fifth of the FMA peak). Here each 6 × 16
//! tile broadcasts six input values per step straight from six input
//! rows and loads two vectors of the packed panel: 12 FMAs for 8 loads,
//! the bias as the accumulators' start, no per-call copies.

/// Output columns per panel: two AVX2 vectors.
const LANES: usize = 16;
/// Input rows per tile (12 accumulators, 2 panel vectors, 1 broadcast).
const TILE_ROWS: usize = 6;
/// Depth per pass (a 32 KiB panel piece), and input rows per block (their
/// 192 KiB piece stays in L2 while every panel passes over it).
const DEPTH_BLOCK: usize = 512;
const ROW_BLOCK: usize = 96;
/// Below this many multiply-adds a product runs on the calling thread.
const PARALLEL_MACS: usize = 1 << 20;

/// A `[out, in]` weight as `out.div_ceil(16)` panels of `in × 16` values
/// (the last panel's missing columns zero).
#[derive(Debug, Clone)]
pub(crate) struct PackedWeight {
    /// Shared, so a cloned model (as with candle's tensors) copies no weights.
    panels: std::sync::Arc<[f32]>,
    in_dim: usize,
    out_dim: usize,
}

/// Whether this CPU takes the packed kernel: AVX2 and FMA, and no AVX-512
/// (whose machines keep `gemm`'s 16-lane kernels).
pub(crate) fn runs_here() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has_avx2_fma() && !std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        has!("avx2") && has!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `count` rows of `depth` values (`row_stride` apart in `values`) as
/// 16-row panels, each `depth × 16` with a panel's rows side by side; the
/// last panel's missing rows zero.
pub(crate) fn pack_panels(
    values: &[f32],
    count: usize,
    depth: usize,
    row_stride: usize,
) -> Vec<f32> {
    let mut panels = vec![0.0; count.div_ceil(LANES) * depth * LANES];
    for index in 0..count {
        let (panel, lane) = (index / LANES, index % LANES);
        let base = panel * depth * LANES + lane;
        let row = &values[index * row_stride..][..depth];
        for (step, &value) in row.iter().enumerate() {
            panels[base + step * LANES] = value;
        }
    }
    panels
}

impl PackedWeight {
    /// Packs `weight` (`[out_dim, in_dim]`, row-major). `None` on a CPU
    /// without AVX2 and FMA, where the kernel cannot run.
    pub(crate) fn new(weight: &[f32], out_dim: usize, in_dim: usize) -> Option<Self> {
        if !has_avx2_fma() || weight.len() != out_dim * in_dim {
            return None;
        }
        Some(Self {
            panels: pack_panels(weight, out_dim, in_dim, in_dim).into(),
            in_dim,
            out_dim,
        })
    }

    pub(crate) fn in_dim(&self) -> usize {
        self.in_dim
    }

    pub(crate) fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// `x · weightᵀ + bias` for `rows` rows of `x` (`rows × in_dim`,
    /// row-major): `rows × out_dim` values, row-major.
    pub(crate) fn forward(&self, x: &[f32], rows: usize, bias: Option<&[f32]>) -> Vec<f32> {
        let threads = if rows * self.out_dim * self.in_dim < PARALLEL_MACS {
            1
        } else {
            candle_core::utils::get_num_threads().max(1)
        };
        self.forward_on(threads, x, rows, bias)
    }

    /// [`Self::forward`] shared out between `threads` of rayon's pool.
    fn forward_on(&self, threads: usize, x: &[f32], rows: usize, bias: Option<&[f32]>) -> Vec<f32> {
        let (k, n) = (self.in_dim, self.out_dim);
        assert_eq!(x.len(), rows * k, "packed linear: input length");
        assert!(
            bias.is_none_or(|b| b.len() == n),
            "packed linear: bias length"
        );
        let panels = n.div_ceil(LANES);
        // The bias padded to whole panels, so every tile starts from 16 values.
        let start = bias.map(|bias| {
            let mut padded = vec![0.0f32; panels * LANES];
            padded[..n].copy_from_slice(bias);
            padded
        });
        let mut out: Vec<f32> = Vec::with_capacity(rows * n);
        if rows == 0 || n == 0 {
            return out;
        }
        let product = Product {
            x: x.as_ptr(),
            x_stride: k,
            panels: Panels {
                ptr: self.panels.as_ptr(),
                panel_stride: k * LANES,
                step: LANES,
            },
            start: start.as_ref().map(|s| s.as_ptr()),
            dst: out.as_mut_ptr(),
            dst_stride: n,
            depth: k,
            cols: n,
        };
        let task = |rows_range: (usize, usize), panel_range: (usize, usize)| {
            // SAFETY: `new` only packs where AVX2 and FMA are present; the
            // operands hold what `product` says (lengths checked above), and
            // each task writes only its rows × panels of `out`.
            unsafe { product.run(rows_range, panel_range) }
        };
        if threads <= 1 {
            task((0, rows), (0, panels));
        } else if panels >= 2 * threads {
            // Each thread its own columns; all read the same input rows.
            let per = panels.div_ceil(threads);
            rayon::scope(|scope| {
                for first in (0..panels).step_by(per) {
                    let task = &task;
                    scope.spawn(move |_| task((0, rows), (first, (first + per).min(panels))));
                }
            });
        } else {
            let per = rows.div_ceil(threads).div_ceil(TILE_ROWS) * TILE_ROWS;
            rayon::scope(|scope| {
                for first in (0..rows).step_by(per) {
                    let task = &task;
                    scope.spawn(move |_| task((first, (first + per).min(rows)), (0, panels)));
                }
            });
        }
        // SAFETY: the tasks together wrote every row of every panel's
        // columns below `n` (the first depth block stores whole tiles).
        unsafe { out.set_len(rows * n) };
        out
    }
}

/// A right-hand operand as 16-column panels: panel `p`'s 16 values for
/// depth step `d` lie at `ptr + p·panel_stride + d·step`, side by side
/// (a packed weight: `step` 16; attention's values read in place: `step`
/// their row stride).
#[derive(Clone, Copy)]
pub(crate) struct Panels {
    pub ptr: *const f32,
    pub panel_stride: usize,
    pub step: usize,
}

/// `dst = start + x · panels` over `cols` columns: `x`'s rows `x_stride`
/// apart with `depth` values each, `dst`'s rows `dst_stride` apart;
/// `start` holds 16 values per panel (a bias; zeros when `None`).
#[derive(Clone, Copy)]
pub(crate) struct Product {
    pub x: *const f32,
    pub x_stride: usize,
    pub panels: Panels,
    pub start: Option<*const f32>,
    pub dst: *mut f32,
    pub dst_stride: usize,
    pub depth: usize,
    pub cols: usize,
}

// SAFETY: read (x, panels, start) and written (dst) by disjoint rows ×
// panels from several threads, while the caller holds the buffers.
unsafe impl Send for Product {}
unsafe impl Sync for Product {}

impl Product {
    /// Rows `[r0, r1)` of the output in panels `[p0, p1)`, depth block by
    /// depth block (the first starts from `start`, later ones from what is
    /// stored).
    ///
    /// # Safety
    ///
    /// AVX2 and FMA present; every value the fields address is readable
    /// (`x`: `r1` rows; the panels: 16 values per step, even in a last
    /// panel narrower than 16 columns) or writable (`dst`: `r1` rows of
    /// `cols` values), `dst` overlaps nothing read, and no other thread
    /// touches these rows × panels of `dst`.
    pub(crate) unsafe fn run(&self, (r0, r1): (usize, usize), (p0, p1): (usize, usize)) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller's contract.
        unsafe {
            self.run_avx2((r0, r1), (p0, p1))
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!(
            "the packed kernel runs on x86-64 CPUs with AVX2 only ({r0}..{r1}, {p0}..{p1})"
        )
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, (r0, r1): (usize, usize), (p0, p1): (usize, usize)) {
        let k = self.depth;
        for depth in (0..k.max(1)).step_by(DEPTH_BLOCK) {
            let kc = DEPTH_BLOCK.min(k - depth);
            for block in (r0..r1).step_by(ROW_BLOCK) {
                let block_end = (block + ROW_BLOCK).min(r1);
                for panel in p0..p1 {
                    let cols = LANES.min(self.cols - panel * LANES);
                    // SAFETY (all pointers below): inside the operands by
                    // the caller's contract.
                    let panel_ptr = unsafe {
                        self.panels
                            .ptr
                            .add(panel * self.panels.panel_stride + depth * self.panels.step)
                    };
                    let start = match (depth, self.start) {
                        (0, Some(start)) => Start::From(unsafe { start.add(panel * LANES) }),
                        (0, None) => Start::Zero,
                        _ => Start::Stored,
                    };
                    let mut row = block;
                    while row < block_end {
                        let count = TILE_ROWS.min(block_end - row);
                        let tile = Tile {
                            x: unsafe { self.x.add(row * self.x_stride + depth) },
                            x_stride: self.x_stride,
                            panel: panel_ptr,
                            step: self.panels.step,
                            depth: kc,
                            start,
                        };
                        let dst = unsafe { self.dst.add(row * self.dst_stride + panel * LANES) };
                        unsafe { tile.run_to(count, dst, self.dst_stride, cols) };
                        row += count;
                    }
                }
            }
        }
    }
}

/// Where a tile's accumulators start.
#[derive(Clone, Copy)]
enum Start {
    /// 16 values, the same for every row (the bias).
    From(*const f32),
    Zero,
    /// The output's stored values (a later depth block).
    Stored,
}

/// One tile's operands: up to six input rows from `x`, one panel piece of
/// `depth` steps (`step` values apart), and where the accumulators start.
struct Tile {
    x: *const f32,
    x_stride: usize,
    panel: *const f32,
    step: usize,
    depth: usize,
    start: Start,
}

#[cfg(target_arch = "x86_64")]
impl Tile {
    /// `count` rows into `dst` (rows `dst_stride` apart); a panel with
    /// fewer than 16 columns goes through a scratch tile.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_to(&self, count: usize, dst: *mut f32, dst_stride: usize, cols: usize) {
        if cols == LANES {
            // SAFETY: the caller's contract.
            unsafe { self.dispatch(count, dst, dst_stride) };
            return;
        }
        let mut scratch = [0.0f32; TILE_ROWS * LANES];
        if matches!(self.start, Start::Stored) {
            for row in 0..count {
                // SAFETY: `cols` stored values of this row.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        dst.add(row * dst_stride),
                        scratch[row * LANES..].as_mut_ptr(),
                        cols,
                    )
                };
            }
        }
        // SAFETY: the scratch holds six full rows.
        unsafe { self.dispatch(count, scratch.as_mut_ptr(), LANES) };
        for row in 0..count {
            // SAFETY: `cols` values of this row of `dst`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    scratch[row * LANES..].as_ptr(),
                    dst.add(row * dst_stride),
                    cols,
                )
            };
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dispatch(&self, count: usize, dst: *mut f32, dst_stride: usize) {
        // SAFETY: the caller's contract, for `count` rows.
        unsafe {
            match count {
                6 => self.rows::<6>(dst, dst_stride),
                5 => self.rows::<5>(dst, dst_stride),
                4 => self.rows::<4>(dst, dst_stride),
                3 => self.rows::<3>(dst, dst_stride),
                2 => self.rows::<2>(dst, dst_stride),
                _ => self.rows::<1>(dst, dst_stride),
            }
        }
    }

    /// The kernel: `R` rows × 16 columns in 2·R accumulators.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows<const R: usize>(&self, dst: *mut f32, dst_stride: usize) {
        use std::arch::x86_64::*;
        // SAFETY (loads and stores): inside the operands by the caller's contract.
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        match self.start {
            Start::From(values) => {
                let (low, high) =
                    unsafe { (_mm256_loadu_ps(values), _mm256_loadu_ps(values.add(8))) };
                acc = [[low, high]; R];
            }
            Start::Zero => {}
            Start::Stored => {
                for (row, acc) in acc.iter_mut().enumerate() {
                    let at = unsafe { dst.add(row * dst_stride) };
                    *acc = unsafe { [_mm256_loadu_ps(at), _mm256_loadu_ps(at.add(8))] };
                }
            }
        }
        // One base pointer per input row, so each broadcast is base + step.
        let x: [*const f32; R] =
            std::array::from_fn(|row| unsafe { self.x.add(row * self.x_stride) });
        let step = |acc: &mut [[__m256; 2]; R], panel: *const f32, at: usize| unsafe {
            let (low, high) = (_mm256_loadu_ps(panel), _mm256_loadu_ps(panel.add(8)));
            for (row, acc) in acc.iter_mut().enumerate() {
                let value = _mm256_broadcast_ss(&*x[row].add(at));
                acc[0] = _mm256_fmadd_ps(value, low, acc[0]);
                acc[1] = _mm256_fmadd_ps(value, high, acc[1]);
            }
        };
        let stride = self.step;
        let mut panel = self.panel;
        let mut at = 0;
        // Four steps per turn of the loop: fewer loop and pointer updates
        // between the FMAs.
        while at + 4 <= self.depth {
            step(&mut acc, panel, at);
            step(&mut acc, unsafe { panel.add(stride) }, at + 1);
            step(&mut acc, unsafe { panel.add(2 * stride) }, at + 2);
            step(&mut acc, unsafe { panel.add(3 * stride) }, at + 3);
            panel = unsafe { panel.add(4 * stride) };
            at += 4;
        }
        while at < self.depth {
            step(&mut acc, panel, at);
            panel = unsafe { panel.add(stride) };
            at += 1;
        }
        for (row, acc) in acc.iter().enumerate() {
            unsafe {
                let at = dst.add(row * dst_stride);
                _mm256_storeu_ps(at, acc[0]);
                _mm256_storeu_ps(at.add(8), acc[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain f64 sums, the reference.
    fn reference(
        x: &[f32],
        weight: &[f32],
        bias: Option<&[f32]>,
        rows: usize,
        n: usize,
        k: usize,
    ) -> Vec<f32> {
        let mut out = vec![0.0; rows * n];
        for r in 0..rows {
            for j in 0..n {
                let mut sum = bias.map_or(0.0, |b| b[j] as f64);
                for d in 0..k {
                    sum += x[r * k + d] as f64 * weight[j * k + d] as f64;
                }
                out[r * n + j] = sum as f32;
            }
        }
        out
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32
                    / (1 << 24) as f32
                    - 0.5
            })
            .collect()
    }

    /// Every tile height (1–6 rows), partial panels, depths across blocks,
    /// with and without a bias, one thread and two. Fails on an x86-64
    /// without AVX2 (no kernel to test).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_packed_kernel_matches_plain_sums() {
        for &(rows, n, k) in &[
            (1, 1, 1),
            (5, 16, 3),
            (7, 17, 9),
            (13, 40, 515),
            (26, 33, 1100),
            (97, 48, 64),
            (200, 130, 40),
            (3, 5, 0),
        ] {
            let x = values(rows * k, 1);
            let weight = values(n * k, 2);
            let bias = values(n, 3);
            let packed = PackedWeight::new(&weight, n, k).expect("AVX2 and FMA on this CPU");
            // Three threads: by columns where there are 6+ panels, else by rows.
            for threads in [1, 3] {
                for with_bias in [true, false] {
                    let b = with_bias.then_some(bias.as_slice());
                    let ours = packed.forward_on(threads, &x, rows, b);
                    let want = reference(&x, &weight, b, rows, n, k);
                    let worst = ours
                        .iter()
                        .zip(&want)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0f32, f32::max);
                    assert!(
                        worst <= 1e-5 * (k as f32).sqrt().max(1.0),
                        "{rows}×{n}×{k} bias {with_bias} threads {threads}: {worst}"
                    );
                }
            }
        }
    }
}
