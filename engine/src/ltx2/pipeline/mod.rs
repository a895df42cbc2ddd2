//! LTX-2's text → video + audio pipeline (diffusers' `LTX2Pipeline`): Gemma 3
//! states → connectors → the audio-video transformer denoising both streams
//! on one schedule with LTX-2's guidance → the video VAE, and the audio VAE
//! and vocoder for the soundtrack.

mod guidance;
mod latents;
mod model_dir;
mod renderer;

use candle_core::{DType, Device, Tensor};

pub use guidance::{Guidance, StreamGuidance};
pub use latents::{pack_audio, pack_video, unpack_audio, unpack_video};
pub use model_dir::{Ltx2LoadError, Ltx2Pipeline, TextEncoderPlacement};
pub use renderer::{read_latents_file, Ltx2Options, Ltx2Video};

use super::audio_vae::mel::{LogMel, N_FFT};
use super::audio_vae::LATENT_DOWNSAMPLE_FACTOR;
use super::connectors::PaddingSide;
use super::scheduler::{ltx_core_scheduler, pipeline_scheduler, Schedule};
use super::transformer::{ForwardOptions, LatentShape, Timesteps};
use crate::ltx::pipeline::frames::{cover_resize, image_to_pixels};
use crate::ltx::pipeline::PipelineError;
use crate::renderer::{Audio, CancelToken, Progress, RgbImage};
use guidance::{guide, Predictions};

/// One generation. Sizes must already fit the VAEs (see [`Ltx2Pipeline::latent_sizes`]).
#[derive(Clone, Debug)]
pub struct Generation {
    pub prompt: String,
    pub negative_prompt: String,
    pub frames: usize,
    pub fps: f64,
    pub schedule: Schedule,
    pub guidance: Guidance,
    /// Initial video noise, unpacked [1, C, F, H, W] (already in the
    /// transformer's space, as diffusers' own noise is).
    pub video_noise: Tensor,
    /// Initial audio noise, unpacked [1, C, L, M].
    pub audio_noise: Tensor,
    /// The first frame's latents [1, C, 1, H, W] (normalised, see
    /// [`Ltx2Pipeline::encode_first_frame`]): kept clean through denoising,
    /// as `LTX2ImageToVideoPipeline` keeps them.
    pub first_frame: Option<Tensor>,
    /// Audio → video: the soundtrack's latents [1, C, L, M] (normalised, see
    /// [`Ltx2Pipeline::encode_speech`]) replace the audio noise and stay as
    /// they are (timestep 0, never stepped): the picture follows the sound,
    /// as ltx-pipelines' audio-to-video freezes the audio state; the loop is
    /// then its first stage's (schedule, guidance: see [`Ltx2Pipeline::denoise`]).
    pub audio_condition: Option<Tensor>,
    pub max_prompt_tokens: usize,
}

/// The denoised latents of both streams, denormalised and unpacked.
pub struct Latents {
    /// [1, C, F, H, W]
    pub video: Tensor,
    /// [1, C, L, M]
    pub audio: Tensor,
}

/// The decoded clip.
pub struct Decoded {
    /// [1, 3, F, H, W] in -1..1.
    pub video: Tensor,
    /// [channels, samples] at [`Decoded::sample_rate`].
    pub waveform: Tensor,
    pub sample_rate: u32,
}

impl Ltx2Pipeline {
    /// Denoises both streams from the job's noise; `progress` is called once per step.
    pub fn denoise(
        &self,
        job: &Generation,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
    ) -> Result<Latents, PipelineError> {
        let total = job.schedule.steps() as u32 + 1;
        let t = self.transformer().config();
        let (_, _, frames, height, width) = job.video_noise.dims5()?;
        let (_, _, audio_frames, mel) = job.audio_noise.dims4()?;
        let (patch, patch_t) = (t.patch_size, t.patch_size_t);
        let dtype = self.dtype();

        // Audio → video is ltx-pipelines' A2VidPipelineTwoStage's first stage:
        // its audio guider has default parameters (no guidance of the frozen
        // stream, so no pass for the audio's sake alone).
        let audio_frozen = job.audio_condition.is_some();
        let guidance = Guidance {
            audio: if audio_frozen {
                StreamGuidance::OFF
            } else {
                job.guidance.audio
            },
            ..job.guidance.clone()
        };
        let g = &guidance;

        // 1. Prompt states → connector embeddings ([negative, positive] with CFG).
        let prompts: Vec<&str> = if g.cfg() {
            vec![job.negative_prompt.as_str(), job.prompt.as_str()]
        } else {
            vec![job.prompt.as_str()]
        };
        let embeds = self.encode_prompts(&prompts, job.max_prompt_tokens)?;
        let connectors = self.connectors().forward(
            &embeds.embeds.to_dtype(dtype)?,
            &embeds.mask,
            PaddingSide::Left,
        )?;
        let positive_row = |x: &Tensor| -> candle_core::Result<Tensor> {
            let rows = x.dim(0)?;
            x.narrow(0, rows - 1, 1)
        };
        if cancel.is_cancelled() {
            return Err(PipelineError::Cancelled);
        }

        // 2. Packed, normalised latents (f32 throughout, as in the reference);
        //    with a first frame, its tokens replace the noise's and stay clean.
        let mut video_noise = job.video_noise.to_dtype(DType::F32)?;
        let clean_tokens = match &job.first_frame {
            Some(first) => {
                if patch_t != 1 {
                    return Err(PipelineError::InvalidInput(
                        "a first-frame picture needs a transformer with patch_size_t 1".into(),
                    ));
                }
                let rest = video_noise.narrow(2, 1, frames - 1)?;
                video_noise = Tensor::cat(&[&first.to_dtype(DType::F32)?, &rest], 2)?;
                (height / patch) * (width / patch)
            }
            None => 0,
        };
        let mut video = pack_video(&video_noise, patch, patch_t)?;
        let audio_start = match &job.audio_condition {
            Some(condition) if condition.dims() != job.audio_noise.dims() => {
                return Err(PipelineError::InvalidInput(format!(
                    "the audio condition has shape {:?}, the clip needs {:?}",
                    condition.dims(),
                    job.audio_noise.dims()
                )))
            }
            Some(condition) => condition,
            None => &job.audio_noise,
        };
        let mut audio = pack_audio(&audio_start.to_dtype(DType::F32)?)?;
        let shape = LatentShape {
            frames,
            height,
            width,
            audio_frames,
            fps: job.fps,
        };

        // 3. One schedule for both streams, shifted by the video token count
        //    (diffusers); audio → video takes ltx-core's, shifted as for 4096.
        let scheduler = if audio_frozen {
            ltx_core_scheduler(self.scheduler_config(), &job.schedule)
        } else {
            pipeline_scheduler(self.scheduler_config(), &job.schedule, video.dim(1)?)
        }
        .map_err(|e| PipelineError::InvalidInput(e.to_string()))?;
        let timesteps = scheduler.timesteps().to_vec();
        let sigmas = scheduler.sigmas().to_vec();
        let rows = prompts.len();
        // ltx-pipelines' audio → video runs the unconditional pass with the
        // positive audio context (it drops the negative prompt's). The mask
        // stays shared: LTX-2's connectors fill padding with registers, so it
        // is all ones (ltx-core passes none).
        let batch_audio_captions = if audio_frozen && rows > 1 {
            Tensor::cat(&vec![positive_row(&connectors.audio)?; rows], 0)?
        } else {
            connectors.audio.clone()
        };
        for (i, &timestep) in timesteps.iter().enumerate() {
            if cancel.is_cancelled() {
                return Err(PipelineError::Cancelled);
            }
            let sigma = f64::from(sigmas[i]);
            let x0 = |sample: &Tensor, velocity: &Tensor| -> candle_core::Result<Tensor> {
                sample - (velocity.to_dtype(DType::F32)? * sigma)?
            };
            let forward = |v: &Tensor,
                           a: &Tensor,
                           captions: &Tensor,
                           audio_captions: &Tensor,
                           mask: &Tensor,
                           options: &ForwardOptions|
             -> candle_core::Result<(Tensor, Tensor)> {
                let (batch, tokens, _) = v.dims3()?;
                let t = Tensor::full(timestep, batch, video.device())?.to_dtype(dtype)?;
                // The first frame's tokens are clean: timestep 0 (`t · (1 − mask)`).
                let video_t = if clean_tokens > 0 {
                    let per_token: Vec<f32> = (0..tokens)
                        .map(|i| if i < clean_tokens { 0.0 } else { timestep })
                        .collect();
                    Tensor::from_vec(per_token, (1, tokens), video.device())?
                        .repeat((batch, 1))?
                        .to_dtype(dtype)?
                } else {
                    t.clone()
                };
                // A frozen soundtrack is clean: timestep 0 on every audio token.
                let audio_t = if audio_frozen {
                    Tensor::zeros((batch, a.dim(1)?), dtype, video.device())?
                } else {
                    t.clone()
                };
                let out = self.transformer().forward(
                    &v.to_dtype(dtype)?,
                    &a.to_dtype(dtype)?,
                    captions,
                    audio_captions,
                    Some(mask),
                    &Timesteps {
                        video: video_t,
                        audio: Some(audio_t),
                        sigma: Some(t),
                        audio_sigma: None,
                    },
                    &shape,
                    options,
                )?;
                Ok((x0(v, &out.video)?, x0(a, &out.audio)?))
            };
            let cross = ForwardOptions {
                use_cross_timestep: true,
                stg_video_only: audio_frozen,
                ..ForwardOptions::default()
            };
            // The main pass: both prompts batched when guiding by CFG.
            let repeat = |x: &Tensor| Tensor::cat(&vec![x.clone(); rows], 0);
            let (v_all, a_all) = forward(
                &repeat(&video)?,
                &repeat(&audio)?,
                &connectors.video,
                &batch_audio_captions,
                &connectors.mask,
                &cross,
            )?;
            let (v_pos, a_pos) = (positive_row(&v_all)?, positive_row(&a_all)?);
            let (v_neg, a_neg) = if rows > 1 {
                (Some(v_all.narrow(0, 0, 1)?), Some(a_all.narrow(0, 0, 1)?))
            } else {
                (None, None)
            };
            let (captions, audio_captions, mask) = (
                positive_row(&connectors.video)?,
                positive_row(&connectors.audio)?,
                positive_row(&connectors.mask)?,
            );
            let (mut v_stg, mut a_stg) = (None, None);
            if g.stg() {
                let options = ForwardOptions {
                    stg_blocks: g.stg_blocks.clone(),
                    ..cross.clone()
                };
                let (v, a) = forward(&video, &audio, &captions, &audio_captions, &mask, &options)?;
                (v_stg, a_stg) = (Some(v), Some(a));
            }
            let (mut v_iso, mut a_iso) = (None, None);
            if g.modality() {
                let options = ForwardOptions {
                    isolate_modalities: true,
                    ..cross.clone()
                };
                let (v, a) = forward(&video, &audio, &captions, &audio_captions, &mask, &options)?;
                (v_iso, a_iso) = (Some(v), Some(a));
            }
            let guided_video = guide(
                &Predictions {
                    positive: v_pos,
                    negative: v_neg,
                    perturbed: v_stg,
                    isolated: v_iso,
                },
                &g.video,
            )?;
            let guided_audio = guide(
                &Predictions {
                    positive: a_pos,
                    negative: a_neg,
                    perturbed: a_stg,
                    isolated: a_iso,
                },
                &g.audio,
            )?;
            // Back to velocities for the Euler step.
            let velocity = |sample: &Tensor, x0: &Tensor| (sample - x0)? / sigma;
            let video_velocity = velocity(&video, &guided_video)?;
            let audio_velocity = velocity(&audio, &guided_audio)?;
            let stepped = scheduler
                .step(i, &video_velocity, &video, None)
                .map_err(|e| PipelineError::InvalidInput(e.to_string()))?;
            video = if clean_tokens > 0 {
                let tokens = video.dim(1)?;
                Tensor::cat(
                    &[
                        &video.narrow(1, 0, clean_tokens)?,
                        &stepped.narrow(1, clean_tokens, tokens - clean_tokens)?,
                    ],
                    1,
                )?
            } else {
                stepped
            };
            if !audio_frozen {
                audio = scheduler
                    .step(i, &audio_velocity, &audio, None)
                    .map_err(|e| PipelineError::InvalidInput(e.to_string()))?;
            }
            progress(Progress {
                step: i as u32 + 1,
                total,
            });
        }

        // 4. Unpack and denormalise.
        let video = unpack_video(&video, frames, height, width, patch, patch_t)?;
        let video = self.denormalize_video(&video)?;
        let audio = self.denormalize_audio(&audio)?;
        let audio = unpack_audio(&audio, audio_frames, mel)?;
        Ok(Latents { video, audio })
    }

    /// Latents → video in -1..1 and the waveform.
    pub fn decode(&self, latents: &Latents) -> Result<Decoded, PipelineError> {
        let dtype = self.dtype();
        let video = self.vae().planned_decode(
            &latents.video.to_dtype(dtype)?,
            self.vae_tiling(),
            self.decode_budget(),
        )?;
        let mel = self.audio_vae().decode(&latents.audio.to_dtype(dtype)?)?;
        let waveform = self.vocoder().forward(&mel)?.get(0)?.to_dtype(DType::F32)?;
        Ok(Decoded {
            video,
            waveform,
            sample_rate: self.vocoder().sample_rate(),
        })
    }

    /// Everything: denoise, then decode (the last progress step).
    pub fn generate(
        &self,
        job: &Generation,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
    ) -> Result<Decoded, PipelineError> {
        let latents = self.denoise(job, progress, cancel)?;
        if cancel.is_cancelled() {
            return Err(PipelineError::Cancelled);
        }
        let decoded = self.decode(&latents)?;
        let total = job.schedule.steps() as u32 + 1;
        progress(Progress { step: total, total });
        Ok(decoded)
    }

    /// A picture as the first frame's latents: scaled to cover the clip and
    /// centre-cropped, encoded (the posterior's mean) and normalised.
    pub fn encode_first_frame(
        &self,
        image: &RgbImage,
        width: usize,
        height: usize,
    ) -> Result<Tensor, PipelineError> {
        let image = cover_resize(image, width as u32, height as u32);
        let pixels = image_to_pixels(&image, &self.device().clone(), self.dtype())?;
        let latents = self.vae().encode(&pixels)?.to_dtype(DType::F32)?;
        Ok(self.normalize_video(&latents)?)
    }

    /// A speech track (mono or one channel per audio-VAE input channel, at
    /// the audio VAE's rate) as the audio latents of a clip with
    /// `audio_frames` latent frames: padded with silence or cut to the clip's
    /// length, turned into the VAE's log-mel spectrogram, encoded (the mean)
    /// and normalised.
    pub fn encode_speech(
        &self,
        speech: &Audio,
        audio_frames: usize,
    ) -> Result<Tensor, PipelineError> {
        let cfg = self.audio_vae().config();
        if speech.sample_rate != cfg.sample_rate {
            return Err(PipelineError::InvalidInput(format!(
                "the speech is at {} Hz; the audio VAE takes {} Hz",
                speech.sample_rate, cfg.sample_rate
            )));
        }
        let channels = usize::from(speech.channels.max(1));
        let frames = speech.frames();
        let deinterleaved: Vec<Vec<f32>> = (0..channels)
            .map(|c| {
                (0..frames)
                    .map(|i| speech.samples[i * channels + c])
                    .collect()
            })
            .collect();
        let inputs = cfg.in_channels;
        let signals: Vec<Vec<f32>> = match (channels, inputs) {
            (c, i) if c == i => deinterleaved,
            (1, i) => vec![deinterleaved[0].clone(); i],
            (c, i) => {
                return Err(PipelineError::InvalidInput(format!(
                    "the speech has {c} channels; the audio VAE takes 1 or {i}"
                )))
            }
        };
        // Enough samples for `audio_frames` latent frames (4 mel frames each, causal).
        let hop = cfg.mel_hop_length;
        let needed = (audio_frames.max(1) - 1) * LATENT_DOWNSAMPLE_FACTOR * hop + hop;
        let signals: Vec<Vec<f32>> = signals
            .into_iter()
            .map(|mut s| {
                s.resize(needed.max(N_FFT), 0.0);
                s
            })
            .collect();
        let front = LogMel::new(
            cfg.sample_rate as usize,
            N_FFT,
            hop,
            cfg.mel_bins.unwrap_or(64),
        )?;
        let mel = front
            .spectrogram(&signals, self.device())?
            .to_dtype(self.dtype())?;
        let latents = self.audio_vae().encode(&mel)?.to_dtype(DType::F32)?;
        let available = latents.dim(2)?;
        if available < audio_frames {
            return Err(PipelineError::InvalidInput(format!(
                "the speech makes {available} audio latent frames, the clip needs {audio_frames}"
            )));
        }
        let latents = latents.narrow(2, 0, audio_frames)?;
        let mel_bins = latents.dim(3)?;
        let packed = self.normalize_audio(&pack_audio(&latents)?)?;
        Ok(unpack_audio(&packed, audio_frames, mel_bins)?)
    }

    /// Video latents from the VAE's space to the transformer's.
    pub fn normalize_video(&self, latents: &Tensor) -> candle_core::Result<Tensor> {
        let (mean, std) = self.video_statistics(latents.device())?;
        latents.broadcast_sub(&mean)?.broadcast_div(&std)
    }

    fn denormalize_video(&self, latents: &Tensor) -> candle_core::Result<Tensor> {
        let (mean, std) = self.video_statistics(latents.device())?;
        latents.broadcast_mul(&std)?.broadcast_add(&mean)
    }

    /// Per-channel statistics as [1, C, 1, 1, 1] f32 (the scaling factor folded into std).
    fn video_statistics(&self, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
        let vae = self.vae();
        let view = |t: &Tensor| -> candle_core::Result<Tensor> {
            let c = t.dim(0)?;
            t.to_dtype(DType::F32)?
                .to_device(device)?
                .reshape((1, c, 1, 1, 1))
        };
        let std = (view(vae.latents_std())? / vae.config().scaling_factor)?;
        Ok((view(vae.latents_mean())?, std))
    }

    /// Packed audio latents [B, L, C·M] from the VAE's space to the transformer's.
    pub fn normalize_audio(&self, packed: &Tensor) -> candle_core::Result<Tensor> {
        let (mean, std) = self.audio_statistics(packed.device())?;
        packed.broadcast_sub(&mean)?.broadcast_div(&std)
    }

    fn denormalize_audio(&self, packed: &Tensor) -> candle_core::Result<Tensor> {
        let (mean, std) = self.audio_statistics(packed.device())?;
        packed.broadcast_mul(&std)?.broadcast_add(&mean)
    }

    fn audio_statistics(&self, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
        let a = self.audio_vae();
        let f = |t: &Tensor| t.to_dtype(DType::F32)?.to_device(device);
        Ok((f(a.latents_mean())?, f(a.latents_std())?))
    }
}
