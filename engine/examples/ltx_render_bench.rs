//! A whole LTX-Video render on the CPU, timed part by part (candle's side of
//! `scripts/bench/ltx_small.sh`): prompt encoding, each denoising step, the VAE
//! decode (whole and tiled), the conversion to 8-bit frames and the MP4 encode.
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release -p reel-engine --example ltx_render_bench -- \
//!     DIR [steps=4] [frames=25] [width=384] [height=256] [runs=3]
//! ```
//!
//! DIR is a diffusers-layout model directory (`scripts/bench/ltx_small.py make DIR`).
//! Prints one JSON object per run, then the medians. `REEL_BENCH_DEVICE=cuda`
//! runs on the first GPU in bf16 (a `--features cuda` build; scripts/gpu-check),
//! T5 on the CPU as the renderer places it there.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use reel_engine::ltx::noise;
use reel_engine::ltx::pipeline::frames::video_to_images;
use reel_engine::ltx::pipeline::{LtxOptions, LtxVideo, T5Placement};
use reel_engine::ltx::vae::{Tiling, ZeroNoise};
use reel_engine::{CancelToken, RenderRequest, Renderer};

const PROMPT: &str = "a red ball bouncing in a green park";

fn arg(n: usize, default: usize) -> Result<usize, Box<dyn std::error::Error>> {
    Ok(match std::env::args().nth(n) {
        Some(v) => v.parse()?,
        None => default,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The process's peak resident memory (`VmHWM`), in GiB; NaN where unknown.
fn peak_rss_gib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / (1024.0 * 1024.0))
}

/// Seconds to encode the clip as MP4 (the CPU build).
#[cfg(not(feature = "cuda"))]
fn encode(
    rendered: &reel_engine::Rendered,
    path: &std::path::Path,
) -> Result<f64, Box<dyn std::error::Error>> {
    let start = Instant::now();
    reel_media::encode_mp4(rendered, path, &reel_media::EncodeOptions::default())?;
    Ok(start.elapsed().as_secs_f64())
}

/// The `cuda` build does not encode (NaN): it runs on the GPU machine, which
/// has no FFmpeg libraries, and the encode is CPU work PyTorch's side does not time either.
#[cfg(feature = "cuda")]
fn encode(
    _rendered: &reel_engine::Rendered,
    _path: &std::path::Path,
) -> Result<f64, Box<dyn std::error::Error>> {
    Ok(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    reel_engine::single_cpu_pool();
    if let Some(blas) = reel_engine::cpu_blas::load_from_env().expect("REEL_BLAS_LIBRARY") {
        eprintln!("products on {}", blas.display());
    }
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: ltx_render_bench DIR [steps] [frames] [width] [height] [runs]")?,
    );
    let (steps, frames, width, height, runs) = (
        arg(2, 4)?,
        arg(3, 25)?,
        arg(4, 384)?,
        arg(5, 256)?,
        arg(6, 3)?,
    );
    let threads = candle_core::utils::get_num_threads();
    let (device, dtype) = match std::env::var("REEL_BENCH_DEVICE").as_deref() {
        Ok("cuda") => (Device::new_cuda(0)?, DType::BF16),
        Ok("cpu") | Err(_) => (Device::Cpu, DType::F32),
        Ok(other) => return Err(format!("REEL_BENCH_DEVICE={other}: expected cpu or cuda").into()),
    };

    let mut options = LtxOptions::auto();
    (options.device, options.dtype) = (device.clone(), dtype);
    options.t5_placement = T5Placement::auto(&device);
    options.steps = Some(steps);
    options.guidance_scale = Some(1.0);
    let load = Instant::now();
    let renderer = LtxVideo::load(&dir, options)?;
    let load_s = load.elapsed().as_secs_f64();
    // The parts timed alone are the renderer's own (no second copy in memory).
    let text = renderer.pipeline().text_encoder();
    let vae = renderer.pipeline().vae();

    let request = RenderRequest {
        prompt: PROMPT.into(),
        seed: 0,
        frames: frames as u32,
        width: width as u32,
        height: height as u32,
        fps: 25,
        reference_image: None,
        reference_voice: None,
        speech: None,
    };
    let shape = renderer
        .pipeline()
        .latent_shape(frames, height, width)
        .to_vec();
    let latents = noise::randn(7, shape, &device, DType::F32)?.to_dtype(dtype)?;
    // Timestep-conditioned decoders (0.9.1+) take the decode timestep.
    let timestep = vae
        .config()
        .timestep_conditioning
        .then(|| Tensor::new(&[0.05f32], &device)?.to_dtype(dtype))
        .transpose()?;
    let out_dir = tempfile::tempdir()?;
    let clip_path = out_dir.path().join("clip.mp4");

    let mut rows: Vec<[f64; 9]> = Vec::new();
    for run in 0..runs {
        // The whole render, as `reel render` does it, with a timestamp per step.
        let start = Instant::now();
        let mut marks = Vec::new();
        let rendered = renderer.render(
            &request,
            &mut |p| {
                // On stderr as it happens: a run stopped by a time limit still shows its pace.
                let at = start.elapsed().as_secs_f64();
                eprintln!("run {run}: step {}/{} at {at:.2} s", p.step, p.total);
                marks.push(at);
            },
            &CancelToken::new(),
        )?;
        let render_s = start.elapsed().as_secs_f64();
        let encode_s = encode(&rendered, &clip_path)?;
        let total_s = start.elapsed().as_secs_f64();

        // The parts on their own (synchronised, so GPU work is inside the timings).
        let t = Instant::now();
        text.encode(&[PROMPT], 128)?;
        device.synchronize()?;
        let text_s = t.elapsed().as_secs_f64();
        let step_s = if marks.len() > 2 {
            (marks[steps - 1] - marks[0]) / (steps - 1).max(1) as f64
        } else {
            f64::NAN
        };
        let t = Instant::now();
        let whole = vae.decode(&latents, timestep.as_ref(), &mut ZeroNoise)?;
        device.synchronize()?;
        let decode_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        vae.tiled_decode(
            &latents,
            timestep.as_ref(),
            &mut ZeroNoise,
            &Tiling::default(),
        )?;
        device.synchronize()?;
        let tiled_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let images = video_to_images(&whole)?;
        let frames_s = t.elapsed().as_secs_f64();
        drop((whole, images));

        let row = [
            render_s, total_s, text_s, step_s, decode_s, tiled_s, frames_s, encode_s, load_s,
        ];
        println!(
            "{}",
            serde_json::json!({
                "run": run, "threads": threads, "render_s": row[0], "render_and_encode_s": row[1],
                "text_s": row[2], "step_s": row[3], "decode_whole_s": row[4],
                "decode_tiled_s": row[5], "frames_s": row[6], "encode_s": row[7], "load_s": row[8],
            })
        );
        rows.push(row);
    }
    let col = |i: usize| median(rows.iter().map(|r| r[i]).collect());
    println!(
        "{}",
        serde_json::json!({
            "median_of": runs, "threads": threads, "engine": "candle",
            "render_s": col(0), "render_and_encode_s": col(1), "text_s": col(2),
            "step_s": col(3), "decode_whole_s": col(4), "decode_tiled_s": col(5),
            "frames_s": col(6), "encode_s": col(7), "load_s": col(8),
            "peak_rss_gib": peak_rss_gib(), "device": format!("{device:?}"),
        })
    );
    Ok(())
}
