//! The VAE's 3D convolutions one shape at a time, candle side: reads the
//! shapes `scripts/bench/conv3d_shapes.py record` wrote, times
//! `CausalConv3d::forward` (random weights, non-causal as in the decoder) on
//! each, and prints one JSON line of median seconds in the file's order.
//!
//! ```text
//! THREADS=2 python scripts/bench/conv3d_shapes.py compare SHAPES.json target/release/examples/conv3d_bench 5
//! ```

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use reel_engine::ltx::vae::CausalConv3d;

#[derive(serde::Deserialize)]
struct Shape {
    cin: usize,
    cout: usize,
    kernel: (usize, usize, usize),
    t: usize,
    h: usize,
    w: usize,
    reflect: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    reel_engine::single_cpu_pool();
    if let Some(blas) = reel_engine::cpu_blas::load_from_env()? {
        eprintln!("products on {}", blas.display());
    }
    reel_engine::keep_freed_memory();
    reel_engine::flush_denormals();
    let mut args = std::env::args().skip(1);
    let file = args
        .next()
        .ok_or("usage: conv3d_bench SHAPES.json [RUNS]")?;
    let runs: usize = args.next().map_or(Ok(5), |r| r.parse())?;
    let shapes: Vec<Shape> = serde_json::from_slice(&std::fs::read(&file)?)?;
    let device = Device::Cpu;
    let mut medians = Vec::with_capacity(shapes.len());
    for s in &shapes {
        let (kt, kh, kw) = s.kernel;
        let tensors = HashMap::from([
            (
                "conv.weight".to_string(),
                Tensor::randn(0f32, 0.05, (s.cout, s.cin, kt, kh, kw), &device)?,
            ),
            (
                "conv.bias".to_string(),
                Tensor::randn(0f32, 0.05, s.cout, &device)?,
            ),
        ]);
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let conv = CausalConv3d::new(s.cin, s.cout, s.kernel, (1, 1, 1), false, vb)?;
        let x = Tensor::randn(0f32, 1.0, (1, s.cin, s.t, s.h, s.w), &device)?;
        let forward = |x: &Tensor| -> candle_core::Result<Tensor> {
            if s.reflect {
                conv.forward_reflect_cpu(x)?
                    .ok_or_else(|| candle_core::Error::Msg("no reflect path".into()))
            } else {
                conv.forward(x)
            }
        };
        forward(&x)?;
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            let y = forward(&x)?;
            times.push(start.elapsed().as_secs_f64());
            drop(y);
        }
        times.sort_by(f64::total_cmp);
        medians.push(times[times.len() / 2]);
    }
    println!("{}", serde_json::to_string(&medians)?);
    Ok(())
}
