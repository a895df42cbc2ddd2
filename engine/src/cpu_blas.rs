//! Single-precision matrix products on the CPU, all through [`sgemm`].
//!
//! They run on the `gemm` crate (candle's own backend) unless a CBLAS
//! library was loaded at start-up ([`load`]; `reel pull mkl` fetches Intel's
//! MKL from PyPI). Then they run on its `cblas_sgemm`, PyTorch's own CPU
//! backend: alone, at the model's product shapes, `gemm` measured 10–20%
//! slower than MKL on an Intel VM; in a whole render the difference was
//! smaller, mostly in the VAE decode (docs/benchmarks.md).
//!
//! The library runs on one thread (MKL's sequential layer, OpenBLAS set to
//! one thread): a product is split here between rayon's threads, so a
//! render keeps one pool of threads (see `cpu_threads`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::{DType, Device, Storage, Tensor};

/// Below this many multiply-adds a product stays on the calling thread.
const PARALLEL_WORK: usize = 1 << 18;

#[derive(Debug, thiserror::Error)]
pub enum BlasError {
    #[error("cannot load the BLAS library {path}: {source}")]
    Open {
        path: PathBuf,
        source: libloading::Error,
    },
    #[error("{path} has no cblas_sgemm: it is not a CBLAS library")]
    NoSgemm { path: PathBuf },
    #[error("{path} refused to run sequentially (MKL_Set_Threading_Layer answered {answer})")]
    Threading { path: PathBuf, answer: i32 },
    #[error(
        "{path} computed a wrong product ({got:?} for [19, 22, 43, 50]): is it a 64-bit-integer \
         (ILP64) build? reel calls the LP64 interface"
    )]
    WrongProduct { path: PathBuf, got: [f32; 4] },
    #[error("{loaded} is loaded already; a process loads one BLAS library")]
    AlreadyLoaded { loaded: PathBuf },
}

/// `gemm` on every thread candle uses (rayon's pool), or on this one alone.
fn gemm_parallelism() -> gemm::Parallelism {
    match candle_core::utils::get_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        threads => gemm::Parallelism::Rayon(threads),
    }
}

/// `cblas_sgemm` with 32-bit integers (the LP64 interface).
type CblasSgemm = unsafe extern "C" fn(
    layout: i32,
    trans_a: i32,
    trans_b: i32,
    m: i32,
    n: i32,
    k: i32,
    alpha: f32,
    a: *const f32,
    lda: i32,
    b: *const f32,
    ldb: i32,
    beta: f32,
    c: *mut f32,
    ldc: i32,
);

const ROW_MAJOR: i32 = 101;
const NO_TRANS: i32 = 111;
const TRANS: i32 = 112;
/// `MKL_THREADING_SEQUENTIAL` in MKL's `MKL_Set_Threading_Layer`.
const MKL_THREADING_SEQUENTIAL: i32 = 1;

struct Blas {
    path: PathBuf,
    sgemm: CblasSgemm,
    /// Kept loaded for the life of the process (`sgemm` points into it).
    _library: libloading::Library,
}

static BLAS: OnceLock<Blas> = OnceLock::new();

/// Loads a CBLAS library (MKL's `libmkl_rt.so`, or OpenBLAS) for every
/// product that follows, once per process, and checks one product on it.
pub fn load(path: &Path) -> Result<(), BlasError> {
    if let Some(blas) = BLAS.get() {
        if blas.path == path {
            return Ok(());
        }
        return Err(BlasError::AlreadyLoaded {
            loaded: blas.path.clone(),
        });
    }
    let open = |source| BlasError::Open {
        path: path.to_path_buf(),
        source,
    };
    // SAFETY: loading runs the library's initialisers; MKL and OpenBLAS
    // only set up their dispatch tables there.
    let library = unsafe { libloading::Library::new(path) }.map_err(open)?;
    // SAFETY: the symbols are looked up with the C signatures MKL and
    // OpenBLAS declare for them.
    let sgemm = unsafe {
        if let Ok(set_layer) =
            library.get::<unsafe extern "C" fn(i32) -> i32>(b"MKL_Set_Threading_Layer\0")
        {
            let answer = set_layer(MKL_THREADING_SEQUENTIAL);
            if answer < 0 {
                return Err(BlasError::Threading {
                    path: path.to_path_buf(),
                    answer,
                });
            }
        }
        if let Ok(set_threads) =
            library.get::<unsafe extern "C" fn(i32)>(b"openblas_set_num_threads\0")
        {
            set_threads(1);
        }
        *library
            .get::<CblasSgemm>(b"cblas_sgemm\0")
            .map_err(|_| BlasError::NoSgemm {
                path: path.to_path_buf(),
            })?
    };
    let (a, b, mut c) = ([1f32, 2., 3., 4.], [5f32, 6., 7., 8.], [0f32; 4]);
    // SAFETY: 2 × 2 row-major operands of 4 values each.
    unsafe {
        sgemm(
            ROW_MAJOR,
            NO_TRANS,
            NO_TRANS,
            2,
            2,
            2,
            1.0,
            a.as_ptr(),
            2,
            b.as_ptr(),
            2,
            0.0,
            c.as_mut_ptr(),
            2,
        )
    };
    if c != [19., 22., 43., 50.] {
        return Err(BlasError::WrongProduct {
            path: path.to_path_buf(),
            got: c,
        });
    }
    let blas = Blas {
        path: path.to_path_buf(),
        sgemm,
        _library: library,
    };
    if BLAS.set(blas).is_err() {
        // Another thread loaded one meanwhile: the same library is fine.
        return match BLAS.get() {
            Some(blas) if blas.path == path => Ok(()),
            Some(blas) => Err(BlasError::AlreadyLoaded {
                loaded: blas.path.clone(),
            }),
            None => Ok(()),
        };
    }
    tracing::info!(library = %path.display(), "CPU matrix products on the loaded BLAS library");
    Ok(())
}

/// The variable the benchmarks and tools read a library's path from.
pub const BLAS_LIBRARY_VAR: &str = "REEL_BLAS_LIBRARY";

/// For benchmarks and tools: loads the library [`BLAS_LIBRARY_VAR`] names,
/// if it is set (else the products stay on `gemm`).
pub fn load_from_env() -> Result<Option<&'static Path>, BlasError> {
    match std::env::var_os(BLAS_LIBRARY_VAR).filter(|v| !v.is_empty()) {
        Some(path) => load(Path::new(&path)).map(|()| loaded()),
        None => Ok(None),
    }
}

/// The BLAS library the products run on, if one was loaded.
pub fn loaded() -> Option<&'static Path> {
    BLAS.get().map(|blas| blas.path.as_path())
}

/// `lhs · rhs`, `[.., m, k] · [.., k, n]` with the same leading
/// dimensions, as `Tensor::matmul`; for f32 on the CPU in any strides
/// through [`sgemm`] (so on the loaded BLAS library when there is one).
pub fn matmul(lhs: &Tensor, rhs: &Tensor) -> candle_core::Result<Tensor> {
    let f32_cpu = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
    if !f32_cpu(lhs) || !f32_cpu(rhs) {
        return lhs.matmul(rhs);
    }
    let (l_dims, r_dims) = (lhs.dims(), rhs.dims());
    let rank = l_dims.len();
    if rank < 2
        || r_dims.len() != rank
        || l_dims[..rank - 2] != r_dims[..rank - 2]
        || l_dims[rank - 1] != r_dims[rank - 2]
    {
        candle_core::bail!("matmul: cannot multiply {l_dims:?} by {r_dims:?}");
    }
    let (m, k, n) = (l_dims[rank - 2], l_dims[rank - 1], r_dims[rank - 1]);
    let batch_dims = &l_dims[..rank - 2];
    let batches: usize = batch_dims.iter().product();
    let (l_storage, l_layout) = lhs.storage_and_layout();
    let (r_storage, r_layout) = rhs.storage_and_layout();
    let (Storage::Cpu(l_cpu), Storage::Cpu(r_cpu)) = (&*l_storage, &*r_storage) else {
        candle_core::bail!("matmul: expected CPU tensors");
    };
    let (l_values, r_values) = (l_cpu.as_slice::<f32>()?, r_cpu.as_slice::<f32>()?);
    let (l_strides, r_strides) = (l_layout.stride(), r_layout.stride());
    // The last element each operand's strides reach must lie in its storage.
    let reach = |dims: &[usize], strides: &[usize], start: usize| {
        start
            + dims
                .iter()
                .zip(strides)
                .map(|(d, s)| d.saturating_sub(1) * s)
                .sum::<usize>()
    };
    if m * k > 0 && reach(l_dims, l_strides, l_layout.start_offset()) >= l_values.len()
        || k * n > 0 && reach(r_dims, r_strides, r_layout.start_offset()) >= r_values.len()
    {
        candle_core::bail!("matmul: a layout reaches past its storage");
    }
    let mut out: Vec<f32> = Vec::with_capacity(batches * m * n);
    let dst = out.spare_capacity_mut().as_mut_ptr().cast::<f32>();
    for batch in 0..batches {
        // The batch's offset in each operand, from its index in every leading dimension.
        let (mut l_offset, mut r_offset, mut rest) =
            (l_layout.start_offset(), r_layout.start_offset(), batch);
        for axis in (0..rank - 2).rev() {
            let index = rest % batch_dims[axis];
            rest /= batch_dims[axis];
            l_offset += index * l_strides[axis];
            r_offset += index * r_strides[axis];
        }
        // SAFETY: the strides stay inside each storage (checked above), and
        // out has room for every batch's m × n values, written once here.
        unsafe {
            sgemm(
                (m, n, k),
                dst.add(batch * m * n),
                n,
                false,
                Operand {
                    ptr: l_values.as_ptr().add(l_offset),
                    row_stride: l_strides[rank - 2],
                    col_stride: l_strides[rank - 1],
                },
                Operand {
                    ptr: r_values.as_ptr().add(r_offset),
                    row_stride: r_strides[rank - 2],
                    col_stride: r_strides[rank - 1],
                },
                true,
            );
        }
    }
    // SAFETY: every batch's values were written above.
    unsafe { out.set_len(batches * m * n) };
    drop((l_storage, r_storage));
    let mut dims = l_dims.to_vec();
    dims[rank - 1] = n;
    Tensor::from_vec(out, dims, &Device::Cpu)
}

/// One operand of [`sgemm`]: its first element and the distance (in
/// values) from one row, and one column, to the next.
#[derive(Clone, Copy)]
pub(crate) struct Operand {
    pub ptr: *const f32,
    pub row_stride: usize,
    pub col_stride: usize,
}
// SAFETY: only read, by the threads of one product, while the caller holds it.
unsafe impl Send for Operand {}
unsafe impl Sync for Operand {}

/// `dst = (dst if accumulate, else 0) + lhs · rhs`, with `lhs` m × k,
/// `rhs` k × n and `dst` m × n (rows `dst_row_stride` apart, columns
/// adjacent). With `accumulate` false `dst` is only written. `split`: shared
/// between rayon's threads when large enough, else on the calling thread
/// (for callers that run many products in parallel themselves).
///
/// # Safety
///
/// Every element the strides address must be readable (`lhs`, `rhs`) or
/// writable (`dst`, which must not overlap the operands).
pub(crate) unsafe fn sgemm(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_row_stride: usize,
    accumulate: bool,
    lhs: Operand,
    rhs: Operand,
    split: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                // SAFETY: row `row` of dst, n values (the caller's contract).
                unsafe { std::ptr::write_bytes(dst.add(row * dst_row_stride), 0, n) };
            }
        }
        return;
    }
    if let Some(blas) = BLAS.get() {
        if let Some(plan) = BlasPlan::new((m, n, k), dst_row_stride, lhs, rhs) {
            // SAFETY: the caller's contract, with the plan's layouts.
            unsafe { plan.run(blas.sgemm, dst, accumulate, lhs, rhs, split) };
            return;
        }
    }
    // SAFETY: the caller's contract is `gemm::gemm`'s.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row_stride as isize,
            accumulate,
            lhs.ptr,
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.ptr,
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            if split {
                gemm_parallelism()
            } else {
                gemm::Parallelism::None
            },
        )
    }
}

/// How a product maps onto row-major `cblas_sgemm` calls: each operand
/// as stored or transposed, and the depth `k` cut into pieces no wider
/// than an operand's leading dimension. (The VAE's channels-last conv reads
/// its input with overlapping rows, `in` values apart for `kw · in` values;
/// BLAS refuses a leading dimension below the row's length, so that
/// product becomes `kw` products of depth `in`.)
struct BlasPlan {
    m: usize,
    n: usize,
    k: usize,
    piece: usize,
    trans_lhs: bool,
    trans_rhs: bool,
    lda: usize,
    ldb: usize,
    ldc: usize,
}

impl BlasPlan {
    /// `None` where BLAS cannot take the layout (or the sizes overflow its
    /// 32-bit integers): `gemm` does those.
    fn new(
        (m, n, k): (usize, usize, usize),
        ldc: usize,
        lhs: Operand,
        rhs: Operand,
    ) -> Option<Self> {
        if k == 0 || (ldc < n && m > 1) {
            return None;
        }
        // lhs, m × k: rows of k adjacent values, or (transposed) columns of m.
        let (trans_lhs, lda, lhs_piece) = if lhs.col_stride == 1 && lhs.row_stride >= 1 {
            (
                false,
                lhs.row_stride,
                if m == 1 { k } else { lhs.row_stride.min(k) },
            )
        } else if lhs.row_stride == 1 && (lhs.col_stride >= m || k == 1) {
            (true, lhs.col_stride.max(m), k)
        } else {
            return None;
        };
        // rhs, k × n: rows of n adjacent values, or (transposed) columns of k.
        let (trans_rhs, ldb, rhs_piece) = if rhs.col_stride == 1 && (rhs.row_stride >= n || k == 1)
        {
            (false, rhs.row_stride.max(n), k)
        } else if rhs.row_stride == 1 && rhs.col_stride >= 1 {
            (
                true,
                rhs.col_stride,
                if n == 1 { k } else { rhs.col_stride.min(k) },
            )
        } else {
            return None;
        };
        let piece = lhs_piece.min(rhs_piece);
        let plan = Self {
            m,
            n,
            k,
            piece,
            trans_lhs,
            trans_rhs,
            // A single row or column may have any stride; BLAS wants the
            // leading dimension at least as long as the row it reads (the
            // transposed lhs and the plain rhs have theirs from above).
            lda: if trans_lhs { lda } else { lda.max(piece) },
            ldb: if trans_rhs { ldb.max(piece) } else { ldb },
            ldc: ldc.max(n),
        };
        let fits = |v: usize| i32::try_from(v).is_ok();
        [m, n, k, plan.lda, plan.ldb, plan.ldc]
            .into_iter()
            .all(fits)
            .then_some(plan)
    }

    /// Splits the product between rayon's threads by its longer side.
    unsafe fn run(
        &self,
        sgemm: CblasSgemm,
        dst: *mut f32,
        accumulate: bool,
        lhs: Operand,
        rhs: Operand,
        split: bool,
    ) {
        let threads = candle_core::utils::get_num_threads().max(1);
        let (m, n) = (self.m, self.n);
        let split_rows = m >= n;
        let side = if split_rows { m } else { n };
        let parts = if !split || self.m * self.n * self.k < PARALLEL_WORK {
            1
        } else {
            threads.min(side)
        };
        // Column blocks a multiple of 16 wide (one AVX-512 vector).
        let align = if split_rows { 1 } else { 16 };
        let block = side.div_ceil(parts).next_multiple_of(align);
        let dst = crate::cpu_parallel::SharedOut::new(dst);
        let part = |start: usize| {
            let len = block.min(side - start);
            let (rows, cols) = if split_rows {
                (start..start + len, 0..n)
            } else {
                (0..m, start..start + len)
            };
            // SAFETY: a block of the caller's product, on disjoint rows or
            // columns of dst.
            unsafe { self.run_block(sgemm, dst.get(), accumulate, lhs, rhs, rows, cols) };
        };
        if parts <= 1 {
            return part(0);
        }
        let part = &part;
        rayon::scope(|scope| {
            for start in (0..side).step_by(block) {
                scope.spawn(move |_| part(start));
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    unsafe fn run_block(
        &self,
        sgemm: CblasSgemm,
        dst: *mut f32,
        accumulate: bool,
        lhs: Operand,
        rhs: Operand,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) {
        let trans = |t| if t { TRANS } else { NO_TRANS };
        for depth in (0..self.k).step_by(self.piece) {
            let width = self.piece.min(self.k - depth);
            let beta = if accumulate || depth > 0 { 1.0 } else { 0.0 };
            // SAFETY: offsets of elements inside the caller's operands.
            unsafe {
                let a = lhs
                    .ptr
                    .add(rows.start * lhs.row_stride + depth * lhs.col_stride);
                let b = rhs
                    .ptr
                    .add(depth * rhs.row_stride + cols.start * rhs.col_stride);
                let c = dst.add(rows.start * self.ldc + cols.start);
                sgemm(
                    ROW_MAJOR,
                    trans(self.trans_lhs),
                    trans(self.trans_rhs),
                    rows.len() as i32,
                    cols.len() as i32,
                    width as i32,
                    1.0,
                    a,
                    self.lda as i32,
                    b,
                    self.ldb as i32,
                    beta,
                    c,
                    self.ldc as i32,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operand(row_stride: usize, col_stride: usize) -> Operand {
        Operand {
            ptr: std::ptr::null(),
            row_stride,
            col_stride,
        }
    }

    #[test]
    fn a_missing_library_or_one_without_sgemm_is_refused_and_nothing_is_loaded() {
        let missing = Path::new("/nonexistent/libmkl_rt.so.3");
        let error = load(missing).unwrap_err();
        assert!(matches!(error, BlasError::Open { .. }), "{error}");
        assert!(error.to_string().contains("/nonexistent/libmkl_rt.so.3"));
        let error = load(Path::new("libm.so.6")).unwrap_err();
        assert!(matches!(error, BlasError::NoSgemm { .. }), "{error}");
        assert!(loaded().is_none());
    }

    #[test]
    fn plans_follow_the_operands_layouts() {
        // Row-major operands with padded rows: as stored, depth whole.
        let plan = BlasPlan::new((4, 6, 5), 8, operand(7, 1), operand(9, 1)).unwrap();
        assert_eq!(
            (plan.trans_lhs, plan.trans_rhs, plan.piece),
            (false, false, 5)
        );
        assert_eq!((plan.lda, plan.ldb, plan.ldc), (7, 9, 8));
        // Transposed views: columns adjacent in memory become BLAS's rows.
        let plan = BlasPlan::new((4, 6, 5), 6, operand(1, 4), operand(1, 5)).unwrap();
        assert_eq!(
            (plan.trans_lhs, plan.trans_rhs, plan.piece),
            (true, true, 5)
        );
        assert_eq!((plan.lda, plan.ldb), (4, 5));
        // The channels-last conv: rhs columns `in` = 3 apart over a depth
        // of kw · in = 9 are three products of depth 3.
        let plan = BlasPlan::new((2, 40, 9), 40, operand(27, 1), operand(1, 3)).unwrap();
        assert_eq!((plan.trans_rhs, plan.piece, plan.ldb), (true, 3, 3));
        // Rows overlapping along m, broadcast operands and a dst narrower
        // than its rows are left to `gemm`.
        assert!(BlasPlan::new((4, 6, 5), 6, operand(1, 2), operand(6, 1)).is_none());
        assert!(BlasPlan::new((4, 6, 5), 6, operand(0, 1), operand(6, 1)).is_none());
        assert!(BlasPlan::new((4, 6, 5), 5, operand(5, 1), operand(6, 1)).is_none());
    }
}
