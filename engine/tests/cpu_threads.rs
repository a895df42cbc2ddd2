//! `single_cpu_pool`: candle's element-wise ops start no thread pool of
//! their own beside rayon's. One test in its own process, because the
//! setting is read once per process.

use candle_core::{Device, Tensor};

/// Names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task is readable on Linux")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

#[test]
fn large_element_wise_ops_start_no_barrier_pool() -> candle_core::Result<()> {
    // Two threads, as a 2-core machine gets by default; without the call
    // candle would start one "candle-bp" worker for the second.
    std::env::set_var("RAYON_NUM_THREADS", "2");
    reel_engine::single_cpu_pool();
    assert_eq!(std::env::var("CANDLE_NUM_THREADS").as_deref(), Ok("1"));

    // Large enough (256 Ki values) for candle's parallel element-wise path.
    let a = Tensor::arange(0f32, (1 << 18) as f32, &Device::Cpu)?;
    let sum = ((&a + &a)? * 0.5)?;
    assert_eq!(sum.to_vec1::<f32>()?, a.to_vec1::<f32>()?);

    let names = thread_names();
    assert!(
        !names.iter().any(|name| name.starts_with("candle-bp")),
        "threads: {names:?}"
    );
    Ok(())
}
