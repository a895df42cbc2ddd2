//! [`Ltx2Video`]: the LTX-2 pipeline behind the [`Renderer`] interface; the
//! clip's soundtrack is the model's own audio, fitted to the video's length.

use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor};

use super::{
    pack_audio, unpack_audio, Generation, Guidance, Ltx2LoadError, Ltx2Pipeline,
    TextEncoderPlacement,
};
use crate::ltx::noise::{self, NoiseError};
use crate::ltx::pipeline::frames::video_to_images;
use crate::ltx::pipeline::round_request_for;
use crate::ltx::vae::VaeTiling;
use crate::ltx2::scheduler::{Schedule, DISTILLED_SIGMAS};
use crate::ltx2::text_encoder::DEFAULT_MAX_LEN;
use crate::renderer::{
    Audio, CancelToken, Progress, RenderError, RenderRequest, Rendered, Renderer,
};

/// The first-frame picture's compression for Gemma 3 generations of LTX-2
/// (diffusers' `DEFAULT_IMAGE_CRF`).
pub const IMAGE_CRF: u8 = 33;

/// Mixed into the seed for the audio noise, so it is not the video's.
const AUDIO_NOISE_STREAM: u64 = 0x6175_6469_6f00_0001;

/// Settings beyond the request, fixed per process.
#[derive(Clone, Debug)]
pub struct Ltx2Options {
    pub device: Device,
    pub dtype: DType,
    pub placement: TextEncoderPlacement,
    /// `None`: the distilled checkpoints' 8 sigmas without guidance; a step
    /// count: the full model's schedule with `LTX2Pipeline`'s guidance.
    pub steps: Option<usize>,
    /// Overrides the video stream's CFG scale of the full model's guidance.
    pub guidance_scale: Option<f64>,
    /// Start from these latents (`reel render --latents/--audio-latents`),
    /// unpacked and in the VAEs' space, as diffusers takes them.
    pub video_latents: Option<Tensor>,
    pub audio_latents: Option<Tensor>,
    pub negative_prompt: String,
    /// The length prompts are padded to; the connectors' registers fill the
    /// padding, so it changes the result: diffusers' default, 1024, unless a
    /// fixture was made with another.
    pub max_prompt_tokens: usize,
    /// H.264 CRF a first-frame picture is compressed with before encoding
    /// (0: not at all): 33, what LTX-2.0–2.3 were trained with.
    pub image_crf: u8,
    /// Audio → video (`reel render --speech`): this track, at the audio
    /// VAE's rate, is the clip's soundtrack and the picture follows it.
    pub speech: Option<Audio>,
    /// `engine.vae_tiling` and the bytes a whole video decode may take, as
    /// for LTX-Video (`None`: half the available memory on the CPU).
    pub vae_tiling: VaeTiling,
    pub decode_budget: Option<u64>,
}

impl Ltx2Options {
    /// CPU f32 with Gemma resident, or the first CUDA GPU in bf16 with Gemma
    /// loaded per job (the memory plan).
    pub fn auto() -> Self {
        let device = Device::cuda_if_available(0).unwrap_or(Device::Cpu);
        let cuda = device.is_cuda();
        Ltx2Options {
            device,
            dtype: if cuda { DType::BF16 } else { DType::F32 },
            placement: if cuda {
                TextEncoderPlacement::PerJob
            } else {
                TextEncoderPlacement::Resident
            },
            steps: None,
            guidance_scale: None,
            video_latents: None,
            audio_latents: None,
            negative_prompt: String::new(),
            max_prompt_tokens: DEFAULT_MAX_LEN,
            image_crf: IMAGE_CRF,
            speech: None,
            vae_tiling: VaeTiling::Auto,
            decode_budget: None,
        }
    }
}

pub struct Ltx2Video {
    pipeline: Ltx2Pipeline,
    options: Ltx2Options,
    /// One render at a time (as LTX-Video): workers queue here.
    turn: Mutex<()>,
}

impl Ltx2Video {
    pub fn load(model_dir: &Path, options: Ltx2Options) -> Result<Self, Ltx2LoadError> {
        if options.device.is_cpu() {
            crate::keep_freed_memory();
            crate::flush_denormals();
        }
        let pipeline =
            Ltx2Pipeline::load(model_dir, &options.device, options.dtype, options.placement)?
                .with_vae_tiling(options.vae_tiling, options.decode_budget);
        tracing::info!(
            dir = %model_dir.display(),
            device = ?options.device,
            dtype = ?options.dtype,
            text_encoder = ?options.placement,
            vae_tiling = %options.vae_tiling,
            "LTX-2 loaded"
        );
        Ok(Ltx2Video {
            pipeline,
            options,
            turn: Mutex::new(()),
        })
    }

    pub fn pipeline(&self) -> &Ltx2Pipeline {
        &self.pipeline
    }

    fn generation(
        &self,
        req: &RenderRequest,
        frames: usize,
        width: usize,
        height: usize,
    ) -> Result<Generation, RenderError> {
        let p = &self.pipeline;
        let fps = f64::from(req.fps.max(1));
        let (video_shape, audio_shape) = p.noise_shapes(frames, width, height, fps);
        let failed = |e: candle_core::Error| RenderError::from_model_error(e.to_string());
        let video_noise = match &self.options.video_latents {
            Some(given) if given.dims() != video_shape => {
                return Err(RenderError::InvalidRequest(format!(
                    "the given video latents have shape {:?}; this clip ({frames} frames of {width}x{height}) needs {video_shape:?}",
                    given.dims()
                )))
            }
            // Given latents are in the VAE's space, as diffusers normalises them.
            Some(given) => p
                .normalize_video(&given.to_device(p.device())?.to_dtype(DType::F32)?)
                .map_err(failed)?,
            None => noise::randn(req.seed, video_shape.to_vec(), p.device(), DType::F32)
                .map_err(failed)?,
        };
        let audio_noise = match &self.options.audio_latents {
            Some(given) if given.dims() != audio_shape => {
                return Err(RenderError::InvalidRequest(format!(
                    "the given audio latents have shape {:?}; this clip ({frames} frames at {fps} fps) needs {audio_shape:?}",
                    given.dims()
                )))
            }
            Some(given) => {
                let packed = pack_audio(&given.to_device(p.device())?.to_dtype(DType::F32)?)
                    .and_then(|packed| p.normalize_audio(&packed))
                    .map_err(failed)?;
                unpack_audio(&packed, audio_shape[2], audio_shape[3]).map_err(failed)?
            }
            None => noise::randn(
                req.seed ^ AUDIO_NOISE_STREAM,
                audio_shape.to_vec(),
                p.device(),
                DType::F32,
            )
            .map_err(failed)?,
        };
        let (schedule, guidance) = match self.options.steps {
            None => (Schedule::Sigmas(DISTILLED_SIGMAS.to_vec()), Guidance::off()),
            Some(steps) => {
                let mut guidance = Guidance::full_model(p.transformer().config().num_layers);
                if let Some(scale) = self.options.guidance_scale {
                    guidance.video.cfg = scale;
                }
                (Schedule::Steps(steps), guidance)
            }
        };
        Ok(Generation {
            prompt: req.prompt.clone(),
            negative_prompt: self.options.negative_prompt.clone(),
            frames,
            fps,
            schedule,
            guidance,
            video_noise,
            audio_noise,
            first_frame: None,
            audio_condition: None,
            max_prompt_tokens: self.options.max_prompt_tokens,
        })
    }
}

impl Renderer for Ltx2Video {
    fn name(&self) -> &str {
        "ltx-2"
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
        let (spatial, temporal) = self.pipeline.compression();
        let size = round_request_for(
            "LTX-2",
            req.frames,
            req.width,
            req.height,
            spatial as u32,
            temporal as u32,
        );
        let mut job = self.generation(
            req,
            size.frames as usize,
            size.width as usize,
            size.height as usize,
        )?;
        let _turn = self
            .turn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cancel.is_cancelled() {
            return Err(RenderError::Cancelled);
        }
        // A picture (the chat's attachment or a cameo's face) is the first frame.
        if let Some(image) = &req.reference_image {
            let compressed = reel_media::h264_round_trip(image, self.options.image_crf)
                .map_err(|e| RenderError::Failed(format!("compressing the first frame: {e}")))?;
            job.first_frame = Some(self.pipeline.encode_first_frame(
                &compressed,
                size.width as usize,
                size.height as usize,
            )?);
        }
        // This clip's line (the worker's `say:`) before the process's own.
        let speech = req.speech.as_ref().or(self.options.speech.as_ref());
        if let Some(speech) = speech {
            check_speech(speech, size.frames, req.fps)?;
            let audio_frames = job.audio_noise.dim(2)?;
            job.audio_condition = Some(self.pipeline.encode_speech(speech, audio_frames)?);
        }
        let decoded = self.pipeline.generate(&job, progress, cancel)?;
        let frames = video_to_images(&decoded.video)?;
        // Audio → video keeps the given track itself (as ltx-pipelines does),
        // not its trip through the audio VAE and vocoder.
        let audio = match speech {
            Some(speech) => fitted_track(speech, size.frames, req.fps),
            None => fitted_audio(&decoded.waveform, decoded.sample_rate, size.frames, req.fps)?,
        };
        Ok(Rendered {
            width: size.width,
            height: size.height,
            fps: req.fps,
            frames,
            audio,
            notes: size.notes,
        })
    }
}

/// The vocoder's waveform [channels, samples], interleaved and cut or padded
/// with silence to exactly the video's duration (the audio VAE's causal
/// decode comes out a few milliseconds short of it).
pub fn fitted_audio(
    waveform: &Tensor,
    sample_rate: u32,
    frames: u32,
    fps: u32,
) -> candle_core::Result<Audio> {
    let (channels, samples) = waveform.dims2()?;
    let planar = waveform.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let target = (u64::from(frames) * u64::from(sample_rate) / u64::from(fps.max(1))) as usize;
    let mut interleaved = vec![0f32; target * channels];
    for (i, frame) in interleaved.chunks_mut(channels).enumerate().take(samples) {
        for (c, value) in frame.iter_mut().enumerate() {
            *value = planar[c][i];
        }
    }
    Ok(Audio {
        sample_rate,
        channels: channels as u16,
        samples: interleaved,
    })
}

/// A speech track must not be silent and must fit the clip (one frame of slack).
fn check_speech(speech: &Audio, frames: u32, fps: u32) -> Result<(), RenderError> {
    let rate = f64::from(speech.sample_rate.max(1));
    let seconds = speech.frames() as f64 / rate;
    let clip = f64::from(frames) / f64::from(fps.max(1));
    if seconds > clip + 1.0 / f64::from(fps.max(1)) {
        return Err(RenderError::InvalidRequest(format!(
            "the speech is {seconds:.2} s long, the clip {clip:.2} s: make the clip longer or the speech shorter"
        )));
    }
    let peak = speech.samples.iter().fold(0f32, |m, v| m.max(v.abs()));
    if peak < 1e-3 {
        return Err(RenderError::InvalidRequest(
            "the speech is silent (peak below -60 dBFS)".into(),
        ));
    }
    Ok(())
}

/// `audio` cut or padded with silence to `frames / fps` seconds.
fn fitted_track(audio: &Audio, frames: u32, fps: u32) -> Audio {
    let channels = usize::from(audio.channels.max(1));
    let target =
        (u64::from(frames) * u64::from(audio.sample_rate) / u64::from(fps.max(1))) as usize;
    let mut samples = audio.samples.clone();
    samples.resize(target * channels, 0.0);
    Audio {
        sample_rate: audio.sample_rate,
        channels: audio.channels.max(1),
        samples,
    }
}

/// `reel render --latents FILE [--audio-latents FILE]`: the video latents
/// (`latents` or the file's only tensor) and the audio latents (`audio_latents`
/// in the same file, or the only tensor of the second file).
pub fn read_latents_file(
    video: &Path,
    audio: Option<&Path>,
) -> Result<(Tensor, Option<Tensor>), NoiseError> {
    let latents = noise::load_latents(video)?;
    let audio = match audio {
        Some(path) => Some(noise::load_latents(path)?),
        None => candle_core::safetensors::load(video, &Device::Cpu)
            .ok()
            .and_then(|mut all| all.remove("audio_latents")),
    };
    Ok((latents, audio))
}
