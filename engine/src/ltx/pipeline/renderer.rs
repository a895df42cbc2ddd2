//! [`LtxVideo`]: the pipeline behind the [`Renderer`] interface. Loaded once
//! per process; every job shares it (it is `Sync`: weights are read-only).

use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor};

use super::frames::video_to_images;
use super::{
    CheckpointKind, Generation, ImageCondition, LoadError, LtxPipeline, T5Placement,
    MAX_PROMPT_TOKENS,
};
use crate::ltx::noise;
use crate::ltx::vae::VaeTiling;
use crate::renderer::{
    Audio, CancelToken, Progress, RenderError, RenderRequest, Rendered, Renderer,
};

/// The silent track's rate (LTX-Video makes no sound).
const SILENCE_RATE: u32 = 48_000;
/// Mixed into the seed for the decode noise, so it is not the initial noise.
const DECODE_NOISE_STREAM: u64 = 0x6465_636f_6465_0001;
const DECODER_NOISE_STREAM: u64 = 0x6465_636f_6465_0002;

/// Settings beyond the request, fixed per process.
#[derive(Clone, Debug)]
pub struct LtxOptions {
    pub device: Device,
    pub dtype: DType,
    /// The reference image's strength as the first-frame condition (0..1).
    pub condition_strength: f64,
    /// Overrides of the checkpoint's defaults.
    pub steps: Option<usize>,
    pub guidance_scale: Option<f64>,
    /// Start every render from these latents (`reel render --latents`)
    /// instead of the seed's noise; optionally with the decode noise too.
    pub latents: Option<Tensor>,
    pub decode_noise: Option<Tensor>,
    /// `engine.checkpoint`: the release, or `None` to infer it from the directory.
    pub checkpoint: Option<CheckpointKind>,
    /// `engine.vae_tiling`, and the bytes a whole decode may take
    /// (`None`: half the available memory on the CPU; see [`LtxPipeline::decode_budget`]).
    pub vae_tiling: VaeTiling,
    pub decode_budget: Option<u64>,
    /// Where T5 runs: with the model on the CPU, on the CPU in f32 beside a GPU.
    pub t5_placement: T5Placement,
}

impl LtxOptions {
    /// CPU f32, or the first CUDA GPU in bf16 when built with `cuda` (T5 then
    /// on the CPU: the memory plan).
    pub fn auto() -> Self {
        let device = Device::cuda_if_available(0).unwrap_or(Device::Cpu);
        let dtype = if device.is_cuda() {
            DType::BF16
        } else {
            DType::F32
        };
        LtxOptions {
            dtype,
            condition_strength: 1.0,
            steps: None,
            guidance_scale: None,
            latents: None,
            decode_noise: None,
            checkpoint: None,
            vae_tiling: VaeTiling::Auto,
            decode_budget: None,
            t5_placement: T5Placement::auto(&device),
            device,
        }
    }
}

pub struct LtxVideo {
    pipeline: LtxPipeline,
    options: LtxOptions,
    /// One render at a time: workers sharing the model queue here rather
    /// than splitting the GPU (or the CPU cores) between them.
    turn: Mutex<()>,
}

/// A request's size made to fit the model, with notes saying what changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundedRequest {
    pub frames: u32,
    pub width: u32,
    pub height: u32,
    pub notes: Vec<String>,
}

/// Frame counts to the nearest 8n+1 (`temporal` = 8) and sides to the
/// nearest multiple of 32 (`spatial`), at least one latent each.
pub fn round_request(
    frames: u32,
    width: u32,
    height: u32,
    spatial: u32,
    temporal: u32,
) -> RoundedRequest {
    round_request_for("LTX-Video", frames, width, height, spatial, temporal)
}

/// [`round_request`] with the model's name in the notes.
pub fn round_request_for(
    model: &str,
    frames: u32,
    width: u32,
    height: u32,
    spatial: u32,
    temporal: u32,
) -> RoundedRequest {
    let (spatial, temporal) = (spatial.max(1), temporal.max(1));
    let side = |v: u32| ((v + spatial / 2) / spatial).max(1) * spatial;
    let rounded = RoundedRequest {
        frames: (frames.saturating_sub(1) + temporal / 2) / temporal * temporal + 1,
        width: side(width),
        height: side(height),
        notes: Vec::new(),
    };
    let mut notes = Vec::new();
    if rounded.frames != frames {
        notes.push(format!(
            "{frames} frames rounded to {} ({model} makes {temporal}n+1 frames)",
            rounded.frames
        ));
    }
    if (rounded.width, rounded.height) != (width, height) {
        notes.push(format!(
            "size {width}x{height} rounded to {}x{} ({model} needs multiples of {spatial})",
            rounded.width, rounded.height
        ));
    }
    RoundedRequest { notes, ..rounded }
}

impl LtxVideo {
    /// Loads `model_dir` (checked first: a bad directory is one clear error).
    pub fn load(model_dir: &Path, options: LtxOptions) -> Result<Self, LoadError> {
        if options.device.is_cpu() {
            crate::keep_freed_memory();
            crate::flush_denormals();
        }
        let pipeline = LtxPipeline::load_as(
            model_dir,
            &options.device,
            options.dtype,
            options.checkpoint,
            options.t5_placement,
        )?
        .with_vae_tiling(options.vae_tiling, options.decode_budget);
        tracing::info!(
            dir = %model_dir.display(),
            checkpoint = pipeline.dir.kind.label(),
            device = ?options.device,
            dtype = ?options.dtype,
            t5 = ?options.t5_placement,
            vae_tiling = %options.vae_tiling,
            "LTX-Video loaded"
        );
        Ok(LtxVideo {
            pipeline,
            options,
            turn: Mutex::new(()),
        })
    }

    pub fn pipeline(&self) -> &LtxPipeline {
        &self.pipeline
    }

    fn generation(
        &self,
        req: &RenderRequest,
        size: &RoundedRequest,
    ) -> Result<Generation, RenderError> {
        let p = &self.pipeline;
        let defaults = p.defaults();
        let shape = p.latent_shape(
            size.frames as usize,
            size.height as usize,
            size.width as usize,
        );
        let failed = |e: candle_core::Error| RenderError::from_model_error(e.to_string());
        let latents = match &self.options.latents {
            Some(latents) if latents.dims() != shape => {
                return Err(RenderError::InvalidRequest(format!(
                    "the given latents have shape {:?}; this video ({} frames of {}x{}) needs {shape:?}",
                    latents.dims(),
                    size.frames,
                    size.width,
                    size.height
                )))
            }
            Some(latents) => latents.clone(),
            None => noise::randn(req.seed, shape.to_vec(), &p.device().clone(), DType::F32)
                .map_err(failed)?,
        };
        let decode_noise = match &self.options.decode_noise {
            Some(n) if n.dims() == shape => n.clone(),
            _ => noise::randn(
                req.seed ^ DECODE_NOISE_STREAM,
                shape.to_vec(),
                p.device(),
                DType::F32,
            )
            .map_err(failed)?,
        };
        // Overriding the step count drops a distilled schedule's fixed sigmas.
        let (steps, sigmas) = match self.options.steps {
            Some(steps) => (steps, None),
            None => (defaults.steps, defaults.sigmas),
        };
        Ok(Generation {
            prompt: req.prompt.clone(),
            negative_prompt: defaults.negative_prompt,
            width: size.width as usize,
            height: size.height as usize,
            frames: size.frames as usize,
            fps: req.fps,
            steps,
            sigmas,
            guidance_scale: self
                .options
                .guidance_scale
                .unwrap_or(defaults.guidance_scale),
            decode_timestep: defaults.decode_timestep,
            decode_noise_scale: defaults.decode_noise_scale,
            latents,
            decode_noise,
            decoder_noise_seed: req.seed ^ DECODER_NOISE_STREAM,
            condition: req.reference_image.as_ref().map(|image| ImageCondition {
                image: image.clone(),
                strength: self.options.condition_strength,
            }),
            max_prompt_tokens: MAX_PROMPT_TOKENS,
        })
    }
}

impl Renderer for LtxVideo {
    fn name(&self) -> &str {
        "ltx-video"
    }

    fn render(
        &self,
        req: &RenderRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
    ) -> Result<Rendered, RenderError> {
        req.validate()?;
        if self.options.device.is_cpu() {
            // This thread may not be the one that loaded the model.
            crate::flush_denormals();
        }
        let d = &self.pipeline.dir;
        let size = round_request(
            req.frames,
            req.width,
            req.height,
            d.spatial_compression as u32,
            d.temporal_compression as u32,
        );
        for note in &size.notes {
            tracing::info!(note = %note, "request adjusted");
        }
        let job = self.generation(req, &size)?;
        // A poisoned lock only means another render panicked; the model is read-only.
        let _turn = self
            .turn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cancel.is_cancelled() {
            return Err(RenderError::Cancelled);
        }
        let video = self.pipeline.generate_video(&job, progress, cancel)?;
        let frames = video_to_images(&video).map_err(|e| RenderError::Failed(e.to_string()))?;
        drop(video);
        let samples = size.frames as usize * SILENCE_RATE as usize / req.fps.max(1) as usize;
        Ok(Rendered {
            width: size.width,
            height: size.height,
            fps: req.fps,
            frames,
            audio: Audio {
                sample_rate: SILENCE_RATE,
                channels: 1,
                samples: vec![0.0; samples],
            },
            notes: size.notes,
        })
    }
}

/// `reel render --latents FILE`: the initial latents (the `latents` tensor,
/// or the file's only one) and, when the file has it, `decode_noise`.
pub fn read_noise_file(path: &Path) -> Result<(Tensor, Option<Tensor>), noise::NoiseError> {
    let latents = noise::load_latents(path)?;
    let decode_noise = candle_core::safetensors::load(path, &Device::Cpu)
        .ok()
        .and_then(|mut all| all.remove("decode_noise"));
    Ok((latents, decode_noise))
}
