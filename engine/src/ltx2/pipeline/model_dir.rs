//! An LTX-2 model directory (diffusers' layout: `text_encoder/`, `tokenizer/`,
//! `connectors/`, `transformer/`, `vae/`, `audio_vae/`, `vocoder/`,
//! `scheduler/`), loaded and checked: a missing component or one that does
//! not fit the others is one error naming the folder or file at fault.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

use super::super::audio_vae::{AudioAutoencoder, LATENT_DOWNSAMPLE_FACTOR};
use super::super::connectors::TextConnectors;
use super::super::load::LoadError;
use super::super::text_encoder::{PromptEmbeds, TextEncoder, TextEncoderError};
use super::super::transformer::Transformer;
use super::super::vae::VideoAutoencoder;
use super::super::vocoder::AnyVocoder;
use crate::ltx::pipeline::PipelineError;
use crate::ltx::scheduler::{FlowMatchEulerScheduler, SchedulerConfig, SchedulerError};
use crate::ltx::vae::VaeTiling;

/// Where Gemma 3 lives between prompts (the memory plan in docs/architecture.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoderPlacement {
    /// Loaded once, kept beside the transformer (small models, the CPU).
    Resident,
    /// Loaded (memory-mapped) for each job's prompts and released before the
    /// transformer denoises, so the two never share the device's memory.
    PerJob,
}

#[derive(Debug, thiserror::Error)]
pub enum Ltx2LoadError {
    #[error("{0} is not an LTX-2 model directory (no such directory)")]
    NotADirectory(PathBuf),
    #[error(transparent)]
    Component(#[from] LoadError),
    #[error(transparent)]
    TextEncoder(#[from] TextEncoderError),
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// Two components that do not fit together; the message names both folders.
    #[error("{0}")]
    Mismatch(String),
}

/// Every component of one model directory, on one device.
pub struct Ltx2Pipeline {
    root: PathBuf,
    text_encoder: Option<TextEncoder>,
    placement: TextEncoderPlacement,
    connectors: TextConnectors,
    transformer: Transformer,
    vae: VideoAutoencoder,
    audio_vae: AudioAutoencoder,
    vocoder: AnyVocoder,
    scheduler: SchedulerConfig,
    device: Device,
    dtype: DType,
    /// `engine.vae_tiling` and the bytes a whole decode may take (`None`: as
    /// LTX-Video, half the available memory on the CPU, a fixed budget on a GPU).
    vae_tiling: VaeTiling,
    decode_budget: Option<u64>,
}

impl Ltx2Pipeline {
    pub fn load(
        root: &Path,
        device: &Device,
        dtype: DType,
        placement: TextEncoderPlacement,
    ) -> Result<Self, Ltx2LoadError> {
        if !root.is_dir() {
            return Err(Ltx2LoadError::NotADirectory(root.to_path_buf()));
        }
        let dir = |name: &str| root.join(name);
        let scheduler = FlowMatchEulerScheduler::load(&dir("scheduler"))?
            .config()
            .clone();
        let text_encoder = match placement {
            TextEncoderPlacement::Resident => Some(TextEncoder::load(
                &dir("text_encoder"),
                &dir("tokenizer"),
                dtype,
                device,
            )?),
            // Checked now (config and tokenizer) so a bad directory fails at start.
            TextEncoderPlacement::PerJob => {
                drop(TextEncoder::load(
                    &dir("text_encoder"),
                    &dir("tokenizer"),
                    dtype,
                    &Device::Cpu,
                )?);
                None
            }
        };
        let pipeline = Ltx2Pipeline {
            connectors: TextConnectors::load(&dir("connectors"), dtype, device)?,
            transformer: Transformer::load(&dir("transformer"), dtype, device)?,
            vae: VideoAutoencoder::load(&dir("vae"), dtype, device)?,
            audio_vae: AudioAutoencoder::load(&dir("audio_vae"), dtype, device)?,
            vocoder: AnyVocoder::load(&dir("vocoder"), dtype, device)?,
            root: root.to_path_buf(),
            text_encoder,
            placement,
            scheduler,
            device: device.clone(),
            dtype,
            vae_tiling: VaeTiling::Auto,
            decode_budget: None,
        };
        pipeline.check_fit()?;
        Ok(pipeline)
    }

    pub fn with_vae_tiling(mut self, mode: VaeTiling, budget_bytes: Option<u64>) -> Self {
        self.vae_tiling = mode;
        self.decode_budget = budget_bytes;
        self
    }

    pub fn vae_tiling(&self) -> VaeTiling {
        self.vae_tiling
    }

    /// Bytes a whole video decode may take: the configured budget, else half
    /// the available memory on the CPU or LTX-Video's GPU budget on a GPU.
    pub fn decode_budget(&self) -> u64 {
        crate::ltx::pipeline::decode_budget_on(&self.device, self.decode_budget)
    }

    /// The widths each component hands the next.
    fn check_fit(&self) -> Result<(), Ltx2LoadError> {
        let t = self.transformer.config();
        let v = self.vae.config();
        let a = self.audio_vae.config();
        let mel_bins = a.mel_bins.unwrap_or(64);
        let mut problems = Vec::new();
        let video_width = v.latent_channels * t.patch_size * t.patch_size * t.patch_size_t;
        if t.in_channels != video_width {
            problems.push(format!(
                "transformer/ takes {} video channels; vae/ makes {} latent channels ({video_width} per token)",
                t.in_channels, v.latent_channels
            ));
        }
        let audio_width = a.latent_channels * (mel_bins / LATENT_DOWNSAMPLE_FACTOR);
        if t.audio_in_channels != audio_width {
            problems.push(format!(
                "transformer/ takes {} audio channels; audio_vae/ makes {audio_width} per token",
                t.audio_in_channels
            ));
        }
        let c = self.connectors.config();
        if c.caption_channels != t.caption_channels {
            problems.push(format!(
                "connectors/ give {} caption channels; transformer/ takes {}",
                c.caption_channels, t.caption_channels
            ));
        }
        let vocoder_in = self.vocoder_in_channels();
        if vocoder_in != a.output_channels * mel_bins {
            problems.push(format!(
                "vocoder/ takes {vocoder_in} channels; audio_vae/ makes {} ({} x {mel_bins} mel bins)",
                a.output_channels * mel_bins,
                a.output_channels
            ));
        }
        if v.timestep_conditioning {
            problems
                .push("vae/ is timestep-conditioned, which LTX-2's pipelines do not use".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Ltx2LoadError::Mismatch(format!(
                "{}: {}",
                self.root.display(),
                problems.join("; ")
            )))
        }
    }

    fn vocoder_in_channels(&self) -> usize {
        match &self.vocoder {
            AnyVocoder::Plain(v) => v.config().in_channels,
            AnyVocoder::WithBwe(v) => v.config().in_channels,
        }
    }

    /// Gemma 3's stacked states for `prompts`, loading it first when it is not resident.
    pub fn encode_prompts(
        &self,
        prompts: &[&str],
        max_tokens: usize,
    ) -> Result<PromptEmbeds, PipelineError> {
        let prompt_error = |e: TextEncoderError| PipelineError::Prompt(e.to_string());
        match &self.text_encoder {
            Some(encoder) => encoder.encode(prompts, max_tokens).map_err(prompt_error),
            None => {
                let encoder = TextEncoder::load(
                    &self.root.join("text_encoder"),
                    &self.root.join("tokenizer"),
                    self.dtype,
                    &self.device,
                )
                .map_err(prompt_error)?;
                let embeds = encoder.encode(prompts, max_tokens).map_err(prompt_error)?;
                drop(encoder);
                Ok(embeds)
            }
        }
    }

    /// Tokens of `prompt` (without padding), for the length check before queueing.
    pub fn count_prompt_tokens(&self, prompt: &str) -> Result<usize, PipelineError> {
        let count = |encoder: &TextEncoder| {
            encoder
                .tokenizer()
                .count_tokens(prompt)
                .map_err(|e| PipelineError::Prompt(e.to_string()))
        };
        match &self.text_encoder {
            Some(encoder) => count(encoder),
            None => {
                let tokenizer =
                    super::super::text_encoder::GemmaTokenizer::load(&self.root.join("tokenizer"))
                        .map_err(|e| PipelineError::Prompt(e.to_string()))?;
                tokenizer
                    .count_tokens(prompt)
                    .map_err(|e| PipelineError::Prompt(e.to_string()))
            }
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn placement(&self) -> TextEncoderPlacement {
        self.placement
    }

    pub fn connectors(&self) -> &TextConnectors {
        &self.connectors
    }

    pub fn transformer(&self) -> &Transformer {
        &self.transformer
    }

    pub fn vae(&self) -> &VideoAutoencoder {
        &self.vae
    }

    pub fn audio_vae(&self) -> &AudioAutoencoder {
        &self.audio_vae
    }

    pub fn vocoder(&self) -> &AnyVocoder {
        &self.vocoder
    }

    pub fn scheduler_config(&self) -> SchedulerConfig {
        self.scheduler.clone()
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Pixels per latent side and frames per latent frame (after the first).
    pub fn compression(&self) -> (usize, usize) {
        let v = self.vae.config();
        (
            v.spatial_compression_ratio(),
            v.temporal_compression_ratio(),
        )
    }

    /// The noise shapes of a `frames`-frame clip of `width`×`height` at `fps`:
    /// video [1, C, F, H, W] and audio [1, C, L, M], L as `LTX2Pipeline`
    /// rounds the clip's duration in audio latent frames.
    pub fn noise_shapes(
        &self,
        frames: usize,
        width: usize,
        height: usize,
        fps: f64,
    ) -> ([usize; 5], [usize; 4]) {
        let (spatial, temporal) = self.compression();
        let v = self.vae.config();
        let a = self.audio_vae.config();
        let video = [
            1,
            v.latent_channels,
            frames.saturating_sub(1) / temporal + 1,
            height / spatial,
            width / spatial,
        ];
        let seconds = frames as f64 / fps;
        let audio_frames = (seconds * a.latents_per_second()).round().max(1.0) as usize;
        let mel = a.mel_bins.unwrap_or(64) / LATENT_DOWNSAMPLE_FACTOR;
        (video, [1, a.latent_channels, audio_frames, mel])
    }
}
