//! Keeps memory the CPU engine frees for its next buffers.
//!
//! A render allocates and frees buffers of tens to hundreds of MB per layer
//! (convolution columns and outputs, attention scores). glibc serves each
//! from a fresh `mmap` and gives it back with `munmap` on free, so the next
//! layer's buffer is faulted in again page by page: measured on the LTX-Video
//! decode, a third of the time went to the kernel's page-fault and unmap
//! paths. With `mmap` off and no trimming, freed blocks stay in the heap and
//! are reused; the process keeps its peak (the next job needs it again).

use std::sync::Once;

static KEEP_FREED: Once = Once::new();

/// Tells glibc's allocator to reuse freed memory instead of returning it to
/// the system. Called when a CPU renderer loads; once per process.
pub fn keep_freed_memory() {
    KEEP_FREED.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: mallopt only changes allocator parameters; both are
            // valid options and values for glibc.
            let (mmap_off, no_trim) = unsafe {
                (
                    libc::mallopt(libc::M_MMAP_MAX, 0),
                    libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX),
                )
            };
            if mmap_off != 1 || no_trim != 1 {
                tracing::warn!("glibc refused the allocator settings; CPU renders run slower");
            }
        }
    });
}
