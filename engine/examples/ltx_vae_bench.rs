//! VAE decode speed, candle side: loads the VAE and latent written by
//! `scripts/bench/vae_torch.py`, times `decode` on CPU, checks the frames against
//! PyTorch's and prints both timings.
//!
//! ```text
//! /work/golden-venv/bin/python scripts/bench/vae_torch.py --out /tmp/ltx-vae-bench --threads 2
//! RAYON_NUM_THREADS=2 cargo run --release -p reel-engine --example ltx_vae_bench -- /tmp/ltx-vae-bench
//! ```

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device};
use reel_engine::ltx::vae::{AutoencoderKl, ZeroNoise};

const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    reel_engine::single_cpu_pool();
    if let Some(blas) = reel_engine::cpu_blas::load_from_env().expect("REEL_BLAS_LIBRARY") {
        eprintln!("products on {}", blas.display());
    }
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: ltx_vae_bench DIR (written by scripts/bench/vae_torch.py)")?,
    );
    let device = Device::Cpu;
    // As the renderers do on the CPU.
    reel_engine::keep_freed_memory();
    reel_engine::flush_denormals();
    let vae = AutoencoderKl::load(&dir.join("vae"), DType::F32, &device)?;
    let tensors = candle_core::safetensors::load(dir.join("decode.safetensors"), &device)?;
    let get = |name: &str| {
        tensors
            .get(name)
            .ok_or(format!("decode.safetensors lacks {name}"))
    };
    let (z, timestep, expected) = (get("latents")?, get("timestep")?, get("frames")?);

    let mut frames = vae.decode(z, Some(timestep), &mut ZeroNoise)?; // warm-up
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        frames = vae.decode(z, Some(timestep), &mut ZeroNoise)?;
        times.push(start.elapsed().as_secs_f64());
    }
    let err: f32 = (&frames - expected)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar()?;
    times.sort_by(f64::total_cmp);
    let median = times[RUNS / 2];

    let torch: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("torch.json"))?)?;
    let torch_median = torch["median_s"]
        .as_f64()
        .ok_or("torch.json lacks median_s")?;
    println!(
        "decode {:?} -> {:?}: candle median {median:.3} s (min {:.3}), PyTorch median {torch_median:.3} s \
         (min {:.3}, {} threads); candle/PyTorch {:.2}; max abs difference {err:.2e}",
        z.dims(),
        frames.dims(),
        times[0],
        torch["min_s"].as_f64().unwrap_or(f64::NAN),
        torch["threads"],
        median / torch_median,
    );
    println!("candle threads: {}", candle_core::utils::get_num_threads());
    Ok(())
}
