//! One pool of CPU threads for a render, not two.
//!
//! candle 0.11 runs large element-wise ops (adds, products, affine maps) on
//! its own "barrier pool": one extra thread per core beyond the caller,
//! sized by `CANDLE_NUM_THREADS` (else `RAYON_NUM_THREADS`, else the cores).
//! The matrix products, which are most of a render, run on rayon's pool
//! instead. With both, a two-thread render on two cores keeps four threads
//! runnable: after every op the idle pool's threads are still spinning or
//! being woken while the other pool works, and a transformer step spends a
//! fifth of its time handing work between them. Measured on a 2-vCPU AMD
//! EPYC VM (docs/benchmarks.md): LTX-Video's step at 384 tokens 0.26–0.27 s
//! with the barrier pool, 0.19–0.20 s without it; the whole VAE decode
//! 4.5–5.5 s against 4.2–4.4 s. The element-wise ops then run on the calling
//! thread while rayon's threads (the same count as before) do the products
//! and reel's own kernels.

/// The variable candle sizes its barrier pool by, once, at its first use.
const CANDLE_NUM_THREADS: &str = "CANDLE_NUM_THREADS";

/// Keeps candle's element-wise ops on the calling thread (no barrier pool)
/// unless `CANDLE_NUM_THREADS` is set already, in which case that choice
/// stands. Call it first thing in `main`, before any thread is started:
/// it sets an environment variable, which is only sound while the process
/// has one thread.
pub fn single_cpu_pool() {
    if std::env::var_os(CANDLE_NUM_THREADS).is_none() {
        std::env::set_var(CANDLE_NUM_THREADS, "1");
    }
}
