//! Times one LTX-Video transformer forward in candle on the CPU, on the model
//! and inputs `scripts/bench/transformer_torch.py` wrote (run that first):
//!
//!     RAYON_NUM_THREADS=2 cargo run --release -p reel-engine \
//!         --example ltx_transformer_bench -- /tmp/reel-bench/transformer [reps]
//!
//! Also prints the largest difference from PyTorch's output.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use reel_engine::ltx::transformer::{LatentGrid, Transformer, VideoPositions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    reel_engine::single_cpu_pool();
    if let Some(blas) = reel_engine::cpu_blas::load_from_env().expect("REEL_BLAS_LIBRARY") {
        eprintln!("products on {}", blas.display());
    }
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/tmp/reel-bench/transformer".into()),
    );
    let reps: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(5);

    let device = Device::Cpu;
    // As the renderers do on the CPU.
    reel_engine::keep_freed_memory();
    reel_engine::flush_denormals();
    let model = Transformer::load(&dir.join("transformer"), DType::F32, &device)?;
    let inputs = candle_core::safetensors::load(dir.join("inputs.safetensors"), &device)?;
    let input = |name: &str| {
        inputs
            .get(name)
            .ok_or_else(|| format!("inputs.safetensors has no {name}"))
    };
    let geometry = input("geometry")?.to_vec1::<f32>()?;
    let scale = input("rope_interpolation_scale")?.to_vec1::<f32>()?;
    let scale: [f32; 3] = scale
        .try_into()
        .map_err(|_| "rope_interpolation_scale has 3 values")?;
    let positions = VideoPositions::Grid(LatentGrid {
        num_frames: geometry[0] as usize,
        height: geometry[1] as usize,
        width: geometry[2] as usize,
        rope_interpolation_scale: scale.map(f64::from),
    });
    let forward = || -> candle_core::Result<Tensor> {
        model.forward(
            input("hidden_states").map_err(candle_core::Error::msg)?,
            input("encoder_hidden_states").map_err(candle_core::Error::msg)?,
            input("timestep").map_err(candle_core::Error::msg)?,
            Some(input("encoder_attention_mask").map_err(candle_core::Error::msg)?),
            &positions,
        )
    };

    let output = forward()?; // warm-up
    let mut times = Vec::with_capacity(reps);
    let cpu_start = process_cpu_seconds();
    for _ in 0..reps {
        let start = Instant::now();
        forward()?;
        times.push(start.elapsed().as_secs_f64());
    }
    let cpu_per_forward = match (cpu_start, process_cpu_seconds()) {
        (Some(start), Some(end)) => format!("{:.0} ms", (end - start) / reps as f64 * 1e3),
        _ => "unknown".into(),
    };
    times.sort_by(f64::total_cmp);
    let error = (output - input("output")?)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar::<f32>()?;
    println!(
        "candle threads={} forward: min {:.1} ms, median {:.1} ms over {reps}, cpu time {cpu_per_forward} per forward; max abs diff from pytorch {error:.2e}",
        candle_core::utils::get_num_threads(),
        times[0] * 1e3,
        times[times.len() / 2] * 1e3,
    );
    Ok(())
}

/// User + system time of the whole process, all threads (Linux: /proc/self/stat,
/// in USER_HZ = 100 ticks a second). On a shared machine this is steadier than wall time.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name start at field 3 (state).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
