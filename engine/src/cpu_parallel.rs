//! Work shared out between candle's threads, for the hand-written CPU kernels.

use std::mem::MaybeUninit;

/// Below this many elements a buffer is filled on the calling thread only
/// (spawning would cost more than it saves).
const PARALLEL_ELEMENTS: usize = 1 << 16;

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
    let per_thread = rows.div_ceil(threads);
    for_each_chunk(spare, per_thread * row_len, |k, block| {
        fill(k * per_thread, block)
    });
    // SAFETY: the caller's `fill` initialised every block, and the blocks
    // cover the first `len` elements.
    unsafe { out.set_len(len) };
    out
}

/// `work(k, chunk)` for each `chunk_len`-long chunk of `values`, on rayon's
/// pool (the threads `gemm` runs on, so a render keeps one set of busy
/// threads), or on the calling thread when there is only one chunk.
pub(crate) fn for_each_chunk<T: Send>(
    values: &mut [T],
    chunk_len: usize,
    work: impl Fn(usize, &mut [T]) + Sync,
) {
    let chunk_len = chunk_len.max(1);
    if values.len() <= chunk_len {
        if !values.is_empty() {
            work(0, values);
        }
        return;
    }
    let work = &work;
    rayon::scope(|scope| {
        for (k, chunk) in values.chunks_mut(chunk_len).enumerate() {
            scope.spawn(move |_| work(k, chunk));
        }
    });
}

/// An output several of rayon's threads write through, each its own part
/// (rows, columns or heads) that no other thread touches.
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(*mut f32);

impl SharedOut {
    pub(crate) fn new(ptr: *mut f32) -> Self {
        Self(ptr)
    }

    /// By value, so a closure captures the whole `SharedOut`, not its field.
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: the writes through it are disjoint (each user's contract).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}
