//! The generation itself: embeddings, the starting latents, the denoising
//! loop and the decode.

use candle_core::{DType, Device, Tensor};

use super::frames::{cover_resize, image_to_pixels};
use super::{Generation, LtxPipeline, PipelineError};
use crate::ltx::noise;
use crate::ltx::scheduler::{ltx_pipeline_sigmas, TimestepSpec};
use crate::ltx::transformer::{
    denormalize_latents, normalize_latents, pack_latents, unpack_latents, LatentGrid,
    VideoPositions,
};
use crate::ltx::vae::DecoderNoise;
use crate::renderer::{CancelToken, Progress};

pub(super) fn generate(
    p: &LtxPipeline,
    job: &Generation,
    progress: &mut dyn FnMut(Progress),
    cancel: &CancelToken,
) -> Result<Tensor, PipelineError> {
    let shape = p.latent_shape(job.frames, job.height, job.width);
    let [_, _, lf, lh, lw] = shape;
    if job.latents.dims() != shape {
        return Err(PipelineError::InvalidInput(format!(
            "initial latents have shape {:?}; a {}x{} video of {} frames needs {shape:?}",
            job.latents.dims(),
            job.width,
            job.height,
            job.frames
        )));
    }
    let cfg = job.guidance_scale > 1.0;
    let total = (job_steps(job) + 1) as u32;
    let mut step_done = |step: u32| progress(Progress { step, total });

    // Text: [negative; positive] when guiding, as diffusers batches them.
    let (embeds, mask) = {
        let mut prompts = vec![job.prompt.as_str()];
        if cfg {
            prompts.insert(0, job.negative_prompt.as_str());
        }
        let out = p
            .text_encoder
            .encode(&prompts, job.max_prompt_tokens)
            .map_err(|e| PipelineError::Prompt(e.to_string()))?;
        // Cast where T5 ran (the CPU under T5Placement::Cpu), then moved: half the bytes cross.
        (
            out.embeds.to_dtype(p.dtype)?.to_device(&p.device)?,
            out.mask,
        )
    };

    // Starting latents (f32, unpacked) and the per-frame condition strength.
    let noise = job.latents.to_device(&p.device)?.to_dtype(DType::F32)?;
    let (latents, strength) = match &job.condition {
        Some(cond) if cond.strength > 0.0 => {
            let strength = cond.strength.min(1.0);
            let first = encode_image(p, &cond.image, job.width, job.height)?; // (1, c, 1, h, w)
            let head = noise.narrow(2, 0, 1)?;
            let head = (&head + ((first - &head)? * strength)?)?; // lerp(noise, image, strength)
            let latents = Tensor::cat(&[head, noise.narrow(2, 1, lf - 1)?], 2)?;
            (latents, strength)
        }
        _ => (noise, 0.0),
    };
    // Patches are 1×1×1 in every LTX-Video 0.9.x (checked at load).
    let mut latents = pack_latents(&latents, 1, 1)?; // (1, n, c)
    let tokens_per_frame = lh * lw;
    let n = lf * tokens_per_frame;
    // Condition strength per token: the first latent frame's tokens only.
    let token_strength: Vec<f32> = (0..n)
        .map(|i| {
            if i < tokens_per_frame {
                strength as f32
            } else {
                0.0
            }
        })
        .collect();
    let token_strength = Tensor::from_vec(token_strength, (1, n), &p.device)?;

    let (timesteps, sigmas) = schedule(p, job, n)?;
    let positions = VideoPositions::Grid(LatentGrid {
        num_frames: lf,
        height: lh,
        width: lw,
        rope_interpolation_scale: [
            p.dir.temporal_compression as f64 / f64::from(job.fps),
            p.dir.spatial_compression as f64,
            p.dir.spatial_compression as f64,
        ],
    });
    let batch = if cfg { 2 } else { 1 };
    let (embeds, mask) = (embeds, mask.to_device(&p.device)?);
    for (i, &t) in timesteps.iter().enumerate() {
        if cancel.is_cancelled() {
            return Err(PipelineError::Cancelled);
        }
        // Conditioned tokens are further along: min(t, (1 − strength) · 1000).
        let token_t = token_strength
            .affine(-1000.0, 1000.0)?
            .clamp(0f32, t as f32)?; // (1, n)
        let model_in = latents.to_dtype(p.dtype)?;
        let model_in = Tensor::cat(&vec![model_in; batch], 0)?;
        // One timestep per sample unless some tokens are conditioned.
        let timestep = if strength > 0.0 {
            Tensor::cat(&vec![token_t.clone(); batch], 0)?
        } else {
            Tensor::full(t as f32, batch, &p.device)?
        };
        let velocity = p
            .transformer
            .forward(&model_in, &embeds, &timestep, Some(&mask), &positions)?
            .to_dtype(DType::F32)?;
        let velocity = if cfg {
            let uncond = velocity.get(0)?.unsqueeze(0)?;
            let text = velocity.get(1)?.unsqueeze(0)?;
            (&uncond + ((text - &uncond)? * job.guidance_scale)?)?
        } else {
            velocity
        };
        latents = euler_step(&latents, &velocity, &token_t, i, t, &sigmas)?;
        step_done((i + 1) as u32);
    }
    if cancel.is_cancelled() {
        return Err(PipelineError::Cancelled);
    }

    // Decode: denormalise, mix in the decode noise, VAE (whole when it fits
    // the memory budget, as diffusers decodes by default; tiled otherwise).
    let latents = unpack_latents(&latents, lf, lh, lw, 1, 1)?;
    let latents = denormalize_latents(
        &latents,
        p.vae.latents_mean(),
        p.vae.latents_std(),
        p.vae.scaling_factor(),
    )?;
    let (latents, timestep) = if p.dir.timestep_conditioning {
        let s = job.decode_noise_scale;
        let noise = job
            .decode_noise
            .to_device(&p.device)?
            .to_dtype(DType::F32)?;
        let mixed = ((latents * (1.0 - s))? + (noise * s)?)?;
        let t = Tensor::new(&[job.decode_timestep as f32], &p.device)?.to_dtype(p.dtype)?;
        (mixed, Some(t))
    } else {
        (latents, None)
    };
    let latents = latents.to_dtype(p.dtype)?;
    let mut injected = SeededNoise::new(job.decoder_noise_seed);
    let video = p.vae.planned_decode(
        &latents,
        timestep.as_ref(),
        &mut injected,
        p.vae_tiling,
        p.decode_budget(),
    )?;
    step_done(total);
    Ok(video)
}

/// The decoder's noise injection (0.9.1's decoder has it), drawn from the
/// project's seeded generator: one stream per field, in draw order.
struct SeededNoise {
    seed: u64,
    drawn: u64,
}

impl SeededNoise {
    fn new(seed: u64) -> Self {
        SeededNoise { seed, drawn: 0 }
    }
}

impl DecoderNoise for SeededNoise {
    fn spatial_noise(
        &mut self,
        height: usize,
        width: usize,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        self.drawn += 1;
        let stream = self
            .seed
            .wrapping_add(self.drawn.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        noise::randn(stream, (height, width), device, DType::F32)
    }
}

fn job_steps(job: &Generation) -> usize {
    job.sigmas.as_ref().map_or(job.steps, Vec::len)
}

/// The timesteps (0..1000) and the sigmas with a trailing 0. Explicit
/// sigmas (the distilled checkpoints') are used as they are, as Lightricks'
/// own pipeline does; otherwise diffusers' `LTXPipeline` schedule:
/// `linspace(1, 1/steps)` shifted by the resolution-dependent `mu`.
fn schedule(
    p: &LtxPipeline,
    job: &Generation,
    tokens: usize,
) -> Result<(Vec<f64>, Vec<f64>), PipelineError> {
    if let Some(sigmas) = &job.sigmas {
        let timesteps = sigmas.iter().map(|s| s * 1000.0).collect();
        let mut sigmas = sigmas.clone();
        sigmas.push(0.0);
        return Ok((timesteps, sigmas));
    }
    if job.steps == 0 {
        return Err(PipelineError::InvalidInput(
            "at least one step is needed".into(),
        ));
    }
    let mut scheduler = p.scheduler.clone();
    let mu = scheduler.config().mu(tokens);
    scheduler
        .set_timesteps(
            TimestepSpec::Sigmas(&ltx_pipeline_sigmas(job.steps)),
            Some(mu),
        )
        .map_err(|e| PipelineError::InvalidInput(e.to_string()))?;
    let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    Ok((widen(scheduler.timesteps()), widen(scheduler.sigmas())))
}

/// One flow-matching Euler step, `x + v · (σ_next − σ)`, with diffusers'
/// per-token rule for partly conditioned tokens (`LTXConditionPipeline`):
/// such a token moves from its own sigma to the next lower one of the
/// schedule, and a token not above the step's sigma (the kept condition)
/// stays. Unconditioned tokens take the plain step `i` → `i + 1`.
fn euler_step(
    latents: &Tensor,
    velocity: &Tensor,
    token_t: &Tensor,
    step: usize,
    t: f64,
    sigmas: &[f64],
) -> candle_core::Result<Tensor> {
    let plain =
        sigmas.get(step + 1).copied().unwrap_or(0.0) - sigmas.get(step).copied().unwrap_or(0.0);
    let token_t: Vec<f32> = token_t.flatten_all()?.to_vec1()?;
    let dt: Vec<f32> = token_t
        .iter()
        .map(|&own_t| {
            if f64::from(own_t) >= t as f32 as f64 {
                return plain as f32;
            }
            let current = f64::from(own_t) / 1000.0;
            if t / 1000.0 - 1e-6 >= current {
                return 0.0;
            }
            let next = sigmas
                .iter()
                .copied()
                .filter(|&s| s < current - 1e-6)
                .fold(0.0, f64::max);
            (next - current) as f32
        })
        .collect();
    let dt = Tensor::from_vec(dt, (1, token_t.len(), 1), latents.device())?;
    latents + velocity.broadcast_mul(&dt)?
}

/// The reference image resized/cropped to the video, VAE-encoded (posterior
/// mean) and normalised: the first latent frame, (1, c, 1, h, w) f32.
fn encode_image(
    p: &LtxPipeline,
    image: &crate::renderer::RgbImage,
    width: usize,
    height: usize,
) -> Result<Tensor, PipelineError> {
    let image = cover_resize(image, width as u32, height as u32);
    let pixels = image_to_pixels(&image, &p.device, p.dtype)?;
    let latent = p.vae.encode(&pixels)?.mode().to_dtype(DType::F32)?;
    // diffusers normalises the condition without the scaling factor.
    Ok(normalize_latents(
        &latent,
        p.vae.latents_mean(),
        p.vae.latents_std(),
        1.0,
    )?)
}
