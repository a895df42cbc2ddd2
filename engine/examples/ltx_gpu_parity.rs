//! The tiny pipeline fixtures (engine/tests/fixtures/ltx/pipeline) rendered in
//! bf16 on the first GPU (CPU when there is none) against diffusers' f32
//! frames: the parity check scripts/gpu-check runs, where no test binary can.
//! Fails when the mean absolute error passes 0.02, the bf16 tolerance of
//! `bf16_weights_run_the_same_pipeline`.
//!
//! ```text
//! cargo run --release -p reel-engine --example ltx_gpu_parity -- engine/tests/fixtures/ltx/pipeline
//! ```

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use reel_engine::ltx::pipeline::{Generation, LtxPipeline, MAX_PROMPT_TOKENS};
use reel_engine::CancelToken;

const MEAN_TOLERANCE: f32 = 0.02;

type Error = Box<dyn std::error::Error>;

fn generation(
    tensors: &HashMap<String, Tensor>,
    meta: &HashMap<String, String>,
) -> Result<Generation, Error> {
    let get = |k: &str| meta.get(k).cloned().ok_or(format!("fixture lacks {k}"));
    let tensor = |k: &str| -> Result<Tensor, Error> {
        Ok(tensors
            .get(k)
            .ok_or(format!("fixture lacks {k}"))?
            .to_dtype(DType::F32)?)
    };
    Ok(Generation {
        prompt: get("prompt")?,
        negative_prompt: get("negative_prompt")?,
        width: get("width")?.parse()?,
        height: get("height")?.parse()?,
        frames: get("frames")?.parse()?,
        fps: get("fps")?.parse()?,
        steps: get("steps")?.parse()?,
        sigmas: None,
        guidance_scale: get("guidance_scale")?.parse()?,
        decode_timestep: get("decode_timestep")?.parse()?,
        decode_noise_scale: get("decode_noise_scale")?.parse()?,
        latents: tensor("latents")?,
        decode_noise: tensor("decode_noise")?,
        decoder_noise_seed: 0,
        condition: None,
        max_prompt_tokens: MAX_PROMPT_TOKENS,
    })
}

fn main() -> Result<(), Error> {
    let fixtures = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: ltx_gpu_parity engine/tests/fixtures/ltx/pipeline")?,
    );
    let device = Device::cuda_if_available(0)?;
    let pipeline = LtxPipeline::load(&fixtures.join("tiny"), &device, DType::BF16)?;
    let mut failed = false;
    for name in ["t2v.safetensors", "t2v_long.safetensors"] {
        let path = fixtures.join(name);
        let bytes = std::fs::read(&path)?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)?;
        let meta = header.metadata().clone().unwrap_or_default();
        let job = generation(&tensors, &meta)?;
        let frames = pipeline.generate(&job, &mut |_| {}, &CancelToken::new())?;
        let expected = tensors["frames"].to_dtype(DType::F32)?;
        let diff = (frames - &expected)?.abs()?;
        let mean: f32 = diff.mean_all()?.to_scalar()?;
        let max: f32 = diff.flatten_all()?.max(0)?.to_scalar()?;
        let ok = mean <= MEAN_TOLERANCE;
        failed |= !ok;
        println!(
            "{name} on {device:?} in bf16: mean abs error {mean:.2e} (tolerance {MEAN_TOLERANCE}), max {max:.2e}: {}",
            if ok { "ok" } else { "FAILED" }
        );
    }
    if failed {
        return Err("bf16 parity failed".into());
    }
    Ok(())
}
