//! Denormal floats flushed to zero on the threads that render on the CPU.
//!
//! Random-weight and real models alike produce values below f32's normal
//! range (softmax weights of far-off tokens, for one). On Intel cores every
//! multiply that reads or writes such a value takes a microcode assist of
//! a hundred cycles or more: measured on a Xeon with AVX-512, the LTX-Video
//! transformer step ran 2.8× slower than with them flushed (0.34 s against
//! 0.12 s; AMD's cores showed no such cost). PyTorch's CPU kernels do not
//! pay it either. Values this small carry no weight in any sum the models
//! make, so the flags are set for the render's threads: the calling thread
//! (threads it spawns inherit its floating-point environment) and every
//! thread of rayon's global pool, where `gemm` and candle run their work.

use std::sync::Once;

static POOL: Once = Once::new();

/// Sets flush-to-zero and denormals-are-zero on this thread and, once per
/// process, on every thread of rayon's global pool. Cheap enough to call
/// at the start of every render.
pub fn flush_denormals() {
    flush_on_this_thread();
    POOL.call_once(|| {
        rayon::broadcast(|_| flush_on_this_thread());
    });
}

#[cfg(target_arch = "x86_64")]
fn flush_on_this_thread() {
    /// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) flags.
    const FTZ_DAZ: u32 = 0x8040;
    // SAFETY: reading and writing MXCSR is defined on every x86-64 CPU; only
    // the two flags change, not the rounding mode or the exception masks.
    #[allow(deprecated)] // the intrinsics' replacement is inline asm
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | FTZ_DAZ);
    }
}

/// Other architectures keep their default (ARM cores handle denormals
/// without the x86 assists).
#[cfg(not(target_arch = "x86_64"))]
fn flush_on_this_thread() {}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The smallest normal f32 halved: a denormal input and result.
    fn denormal_product() -> f32 {
        std::hint::black_box(f32::MIN_POSITIVE) * std::hint::black_box(0.5)
    }

    #[test]
    fn denormals_become_zero_here_in_spawned_threads_and_in_the_pool() {
        // A thread of its own, so no other test's thread changes mode.
        std::thread::spawn(|| {
            assert!(denormal_product() > 0.0, "denormals are kept by default");
            flush_denormals();
            assert_eq!(denormal_product(), 0.0);
            let spawned = std::thread::spawn(denormal_product).join().unwrap();
            assert_eq!(spawned, 0.0, "a thread spawned after inherits the flags");
            let in_pool = rayon::broadcast(|_| denormal_product());
            assert!(in_pool.iter().all(|&v| v == 0.0), "{in_pool:?}");
            // Normal values are untouched.
            assert_eq!(std::hint::black_box(1.5f32) * 2.0, 3.0);
        })
        .join()
        .unwrap();
    }
}
