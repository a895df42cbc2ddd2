//! The LTX-Video pipeline: prompt → T5 embeddings → denoising loop over the
//! packed latents → VAE decode → frames. Text-to-video follows diffusers'
//! `LTXPipeline`; the first-frame image condition follows
//! `LTXImageToVideoPipeline` (strength 1) and `LTXConditionPipeline`'s rule
//! for other strengths (lerped start, per-token timesteps, conditioned
//! tokens kept).

mod denoise;
pub mod frames;
pub mod model_dir;
mod renderer;

use std::path::Path;

use candle_core::{DType, Device, Tensor};

pub use model_dir::{CheckpointKind, LoadError, ModelDir, SamplingDefaults};
pub use renderer::{
    read_noise_file, round_request, round_request_for, LtxOptions, LtxVideo, RoundedRequest,
};

use super::scheduler::FlowMatchEulerScheduler;
use super::text_encoder::TextEncoder;
use super::transformer::Transformer;
use super::vae::{self, AutoencoderKl, VaeTiling};
use crate::renderer::{CancelToken, Progress, RenderError, RgbImage};

/// diffusers' default `max_sequence_length` for LTX-Video prompts.
pub const MAX_PROMPT_TOKENS: usize = 128;

/// Why a generation stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    InvalidInput(String),
    #[error("the prompt could not be encoded: {0}")]
    Prompt(String),
    #[error("{0}")]
    Model(#[from] candle_core::Error),
}

impl From<PipelineError> for RenderError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Cancelled => RenderError::Cancelled,
            PipelineError::InvalidInput(m) => RenderError::InvalidRequest(m),
            PipelineError::Prompt(m) => RenderError::Failed(m),
            PipelineError::Model(e) => RenderError::from_model_error(e.to_string()),
        }
    }
}

/// A reference image for the first frame.
#[derive(Clone, Debug)]
pub struct ImageCondition {
    pub image: RgbImage,
    /// 1: the first latent frame is the image, kept as is; 0: ignored.
    pub strength: f64,
}

/// One generation. Sizes must already be multiples of the VAE's
/// compression (32 pixels, 8n+1 frames): see [`round_request`].
#[derive(Clone, Debug)]
pub struct Generation {
    pub prompt: String,
    pub negative_prompt: String,
    pub width: usize,
    pub height: usize,
    pub frames: usize,
    pub fps: u32,
    /// Steps of the shifted linear schedule (diffusers' `LTXPipeline`)...
    pub steps: usize,
    /// ...unless explicit sigmas are given (the distilled checkpoints').
    pub sigmas: Option<Vec<f64>>,
    /// Classifier-free guidance when > 1.
    pub guidance_scale: f64,
    pub decode_timestep: f64,
    pub decode_noise_scale: f64,
    /// Initial noise, unpacked: [1, C, latent frames, latent height, latent width].
    pub latents: Tensor,
    /// Noise mixed into the latents before a timestep-conditioned decode
    /// (same shape as `latents`).
    pub decode_noise: Tensor,
    /// Seeds the decoder's own noise injection (0.9.1 decoders).
    pub decoder_noise_seed: u64,
    pub condition: Option<ImageCondition>,
    pub max_prompt_tokens: usize,
}

/// Where T5 lives (the memory plan in docs/architecture.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum T5Placement {
    /// On the pipeline's device, in its dtype (the CPU; tests).
    WithModel,
    /// In host memory, in f32, whatever the pipeline's device: T5 XXL's
    /// 9.5 GB of bf16 weights would not fit beside the 2B transformer in the
    /// 12 GiB GPU plan, and it runs once per job. Only the embeddings (about
    /// 1 MB per prompt in bf16) cross to the device.
    Cpu,
}

impl T5Placement {
    /// [`T5Placement::Cpu`] when the model is on a GPU, else [`T5Placement::WithModel`].
    pub fn auto(device: &Device) -> Self {
        if device.is_cpu() {
            T5Placement::WithModel
        } else {
            T5Placement::Cpu
        }
    }
}

/// The loaded model: every component of one model directory, on one device
/// (T5 on the CPU where [`T5Placement::Cpu`] says so).
pub struct LtxPipeline {
    pub dir: ModelDir,
    text_encoder: TextEncoder,
    t5_placement: T5Placement,
    transformer: Transformer,
    vae: AutoencoderKl,
    /// The scheduler as configured, before any schedule is set.
    scheduler: FlowMatchEulerScheduler,
    device: Device,
    dtype: DType,
    /// Whole or tiled VAE decode, and the memory a whole decode may take
    /// (`None`: [`LtxPipeline::decode_budget`]'s default for the device).
    vae_tiling: VaeTiling,
    decode_budget: Option<u64>,
}

/// The decode's memory budget on a GPU when none is configured: what is left of
/// the 12 GiB plan once the 2B transformer's bf16 weights (about 4 GiB) are in.
pub const GPU_DECODE_BUDGET: u64 = 8 << 30;

/// Bytes a whole VAE decode may take on `device` (both LTX pipelines): the
/// configured budget, else half the available memory on the CPU or
/// [`GPU_DECODE_BUDGET`] on a GPU.
pub fn decode_budget_on(device: &Device, configured: Option<u64>) -> u64 {
    configured.unwrap_or_else(|| {
        if device.is_cpu() {
            vae::cpu_memory_budget()
        } else {
            GPU_DECODE_BUDGET
        }
    })
}

impl LtxPipeline {
    /// Checks and loads a model directory (weights memory-mapped, converted
    /// to `dtype`). Every problem is a [`LoadError`] naming the file.
    pub fn load(root: &Path, device: &Device, dtype: DType) -> Result<Self, LoadError> {
        Self::load_as(root, device, dtype, None, T5Placement::WithModel)
    }

    /// [`LtxPipeline::load`] with the checkpoint kind given (`engine.checkpoint`)
    /// instead of inferred (a kind the directory's VAE contradicts is an
    /// error) and T5 where `t5_placement` says.
    pub fn load_as(
        root: &Path,
        device: &Device,
        dtype: DType,
        checkpoint: Option<CheckpointKind>,
        t5_placement: T5Placement,
    ) -> Result<Self, LoadError> {
        // The directory as a whole first (every file, configs consistent,
        // weight headers), then each component through its own loader: the
        // same code, and the same errors, as loading that component alone.
        let dir = ModelDir::open_as(root, checkpoint)?;
        let text_encoder = match t5_placement {
            T5Placement::WithModel => TextEncoder::load(root, device, dtype)?,
            T5Placement::Cpu => TextEncoder::load(root, &Device::Cpu, DType::F32)?,
        };
        let transformer = Transformer::load(&dir.component_dir("transformer"), dtype, device)?;
        let vae = AutoencoderKl::load(&dir.component_dir("vae"), dtype, device)?;
        let scheduler_dir = root.join("scheduler");
        let scheduler = FlowMatchEulerScheduler::load(&scheduler_dir)
            .map_err(|e| LoadError::scheduler(&scheduler_dir.join("scheduler_config.json"), e))?;
        Ok(LtxPipeline {
            dir,
            text_encoder,
            t5_placement,
            transformer,
            vae,
            scheduler,
            device: device.clone(),
            dtype,
            vae_tiling: VaeTiling::default(),
            decode_budget: None,
        })
    }

    /// Sets how the VAE decodes (whole or tiled) and, optionally, the bytes a
    /// whole decode may take before `Auto` tiles.
    pub fn with_vae_tiling(mut self, mode: VaeTiling, budget_bytes: Option<u64>) -> Self {
        self.vae_tiling = mode;
        self.decode_budget = budget_bytes;
        self
    }

    pub fn vae_tiling(&self) -> VaeTiling {
        self.vae_tiling
    }

    /// Bytes a whole decode may take: the configured budget, else half the
    /// available memory on the CPU or [`GPU_DECODE_BUDGET`] on a GPU.
    pub fn decode_budget(&self) -> u64 {
        decode_budget_on(&self.device, self.decode_budget)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn t5_placement(&self) -> T5Placement {
        self.t5_placement
    }

    /// T5 as loaded (on the CPU in f32 under [`T5Placement::Cpu`]).
    pub fn text_encoder(&self) -> &TextEncoder {
        &self.text_encoder
    }

    pub fn vae(&self) -> &AutoencoderKl {
        &self.vae
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The sampling defaults of this checkpoint.
    pub fn defaults(&self) -> SamplingDefaults {
        self.dir.kind.defaults()
    }

    /// Latent shape [1, C, F, H, W] for a video of the given size.
    pub fn latent_shape(&self, frames: usize, height: usize, width: usize) -> [usize; 5] {
        let d = &self.dir;
        [
            1,
            d.latent_channels,
            (frames - 1) / d.temporal_compression + 1,
            height / d.spatial_compression,
            width / d.spatial_compression,
        ]
    }

    /// Runs one generation; returns frames [F, H, W, 3] in 0..1 (f32, CPU).
    /// Calls `progress` after each denoising step and once for the decode,
    /// and stops between them when `cancel` is set.
    pub fn generate(
        &self,
        job: &Generation,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
    ) -> Result<Tensor, PipelineError> {
        let video = self.generate_video(job, progress, cancel)?;
        Ok(frames::video_to_unit_frames(&video)?.to_device(&Device::Cpu)?)
    }

    /// [`LtxPipeline::generate`] up to the VAE's output: [1, 3, F, H, W] in
    /// -1..1, on the pipeline's device and in its dtype (for
    /// [`frames::video_to_images`], which converts a frame at a time).
    pub fn generate_video(
        &self,
        job: &Generation,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
    ) -> Result<Tensor, PipelineError> {
        denoise::generate(self, job, progress, cancel)
    }
}
