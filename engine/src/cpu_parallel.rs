//! Work shared out between candle's threads, for the hand-written CPU kernels.

use std::mem::MaybeUninit;

/// Below this many elements a buffer is filled on the calling thread only
/// (spawning would cost more than it saves).
const PARALLEL_ELEMENTS: usize = 1 << 16;

/// `gemm` on every thread candle uses (rayon's pool), or on this one alone.
pub(crate) fn gemm_parallelism() -> gemm::Parallelism {
    match candle_core::utils::get_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        threads => gemm::Parallelism::Rayon(threads),
    }
}

/// A buffer of `rows` rows of `row_len` values, never zeroed first: each
/// thread is handed a block of whole rows, `fill(first_row, block)`.
///
/// # Safety
///
/// `fill` must initialise every element of each block it is given.
pub(crate) unsafe fn fill_rows(
    rows: usize,
    row_len: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let len = rows * row_len;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let spare = &mut out.spare_capacity_mut()[..len];
    let threads = if len < PARALLEL_ELEMENTS {
        1
    } else {
        candle_core::utils::get_num_threads().clamp(1, rows.max(1))
    };
    if threads == 1 {
        fill(0, spare);
    } else {
        let per_thread = rows.div_ceil(threads);
        let fill = &fill;
        std::thread::scope(|scope| {
            for (k, block) in spare.chunks_mut(per_thread * row_len).enumerate() {
                scope.spawn(move || fill(k * per_thread, block));
            }
        });
    }
    // SAFETY: the caller's `fill` initialised every block, and the blocks
    // cover the first `len` elements.
    unsafe { out.set_len(len) };
    out
}
