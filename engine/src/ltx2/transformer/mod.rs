//! LTX-2's audio-video transformer (diffusers' `LTX2VideoTransformer3DModel`):
//! packed video latents and packed audio latents in, each stream's
//! flow-matching velocity out. The streams attend to their own tokens, to
//! their text, and to each other, conditioned on the timestep per stream
//! (AdaLN-single), with rotary positions in seconds and pixels (video) and
//! seconds (audio) so that the two line up in time.

mod block;
mod config;

use std::path::Path;

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::linear::{linear, Linear};

use super::layers::{layer_norm, AdaLayerNormSingle, Perturbation, TextProjection};
use super::load::{self, LoadError, DIFFUSERS_WEIGHTS};
use super::rope::{rope_tables, RopeSpec, RopeTables};
use block::{BlockInputs, TransformerBlock};
pub use config::Config;

/// The bias diffusers gives masked caption tokens.
const MASKED_BIAS: f64 = -10000.0;

/// The latent grid before patching, and the playback rate of the video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatentShape {
    pub frames: usize,
    pub height: usize,
    pub width: usize,
    /// Latent audio frames.
    pub audio_frames: usize,
    /// Frames per second the video positions are measured in.
    pub fps: f64,
}

/// Guidance variants of one forward.
#[derive(Debug, Clone, Default)]
pub struct ForwardOptions {
    /// Modality isolation: no audio-to-video or video-to-audio attention.
    pub isolate_modalities: bool,
    /// Blocks whose self-attention STG perturbs (every sample).
    pub stg_blocks: Vec<usize>,
    /// STG as ltx-core's `SKIP_VIDEO_SELF_ATTN` alone (its audio-to-video
    /// pipeline, where the audio guider has no STG): only the video
    /// self-attention is skipped, in any model (ltx-core has no
    /// `perturbed_attn` switch). Off: diffusers' STG, both streams, in models
    /// built with `perturbed_attn`.
    pub stg_video_only: bool,
    /// Cross-modal modulation from the other stream's sigma (LTX-2.3's
    /// behaviour) rather than the stream's own timestep (LTX-2.0's).
    pub use_cross_timestep: bool,
}

/// The timesteps of one forward, each in 0..1000.
#[derive(Debug, Clone)]
pub struct Timesteps {
    /// [B] or [B, N video tokens].
    pub video: Tensor,
    /// [B] or [B, N audio tokens]; the video one when `None`.
    pub audio: Option<Tensor>,
    /// [B]: the step's timestep, for LTX-2.3's prompt AdaLN and the cross timestep.
    pub sigma: Option<Tensor>,
    pub audio_sigma: Option<Tensor>,
}

/// Both streams' outputs.
#[derive(Debug, Clone)]
pub struct AvOutput {
    pub video: Tensor,
    pub audio: Tensor,
}

#[derive(Debug, Clone)]
pub struct Transformer {
    proj_in: Linear,
    audio_proj_in: Linear,
    caption_projection: Option<TextProjection>,
    audio_caption_projection: Option<TextProjection>,
    time_embed: AdaLayerNormSingle,
    audio_time_embed: AdaLayerNormSingle,
    av_cross_attn_video_scale_shift: AdaLayerNormSingle,
    av_cross_attn_audio_scale_shift: AdaLayerNormSingle,
    av_cross_attn_video_a2v_gate: AdaLayerNormSingle,
    av_cross_attn_audio_v2a_gate: AdaLayerNormSingle,
    prompt_adaln: Option<(AdaLayerNormSingle, AdaLayerNormSingle)>,
    scale_shift_table: Tensor,
    audio_scale_shift_table: Tensor,
    transformer_blocks: Vec<TransformerBlock>,
    proj_out: Linear,
    audio_proj_out: Linear,
    config: Config,
}

impl Transformer {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.check().map_err(candle_core::Error::msg)?;
        let dim = cfg.inner_dim();
        let audio_dim = cfg.audio_inner_dim();
        let video_params = if cfg.cross_attn_mod { 9 } else { 6 };
        let audio_params = if cfg.audio_cross_attn_mod { 9 } else { 6 };
        let (caption_projection, audio_caption_projection) = if cfg.use_prompt_embeddings {
            (
                Some(TextProjection::new(
                    cfg.caption_channels,
                    dim,
                    vb.pp("caption_projection"),
                )?),
                Some(TextProjection::new(
                    cfg.caption_channels,
                    audio_dim,
                    vb.pp("audio_caption_projection"),
                )?),
            )
        } else {
            (None, None)
        };
        let prompt_adaln = (cfg.prompt_modulation() && cfg.use_prompt_adaln_single)
            .then(|| -> Result<_> {
                Ok((
                    AdaLayerNormSingle::new(dim, 2, vb.pp("prompt_adaln"))?,
                    AdaLayerNormSingle::new(audio_dim, 2, vb.pp("audio_prompt_adaln"))?,
                ))
            })
            .transpose()?;
        let transformer_blocks = (0..cfg.num_layers)
            .map(|i| TransformerBlock::new(cfg, vb.pp("transformer_blocks").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            proj_in: linear(cfg.in_channels, dim, vb.pp("proj_in"))?,
            audio_proj_in: linear(cfg.audio_in_channels, audio_dim, vb.pp("audio_proj_in"))?,
            caption_projection,
            audio_caption_projection,
            time_embed: AdaLayerNormSingle::new(dim, video_params, vb.pp("time_embed"))?,
            audio_time_embed: AdaLayerNormSingle::new(
                audio_dim,
                audio_params,
                vb.pp("audio_time_embed"),
            )?,
            av_cross_attn_video_scale_shift: AdaLayerNormSingle::new(
                dim,
                4,
                vb.pp("av_cross_attn_video_scale_shift"),
            )?,
            av_cross_attn_audio_scale_shift: AdaLayerNormSingle::new(
                audio_dim,
                4,
                vb.pp("av_cross_attn_audio_scale_shift"),
            )?,
            av_cross_attn_video_a2v_gate: AdaLayerNormSingle::new(
                dim,
                1,
                vb.pp("av_cross_attn_video_a2v_gate"),
            )?,
            av_cross_attn_audio_v2a_gate: AdaLayerNormSingle::new(
                audio_dim,
                1,
                vb.pp("av_cross_attn_audio_v2a_gate"),
            )?,
            prompt_adaln,
            scale_shift_table: vb.get((2, dim), "scale_shift_table")?,
            audio_scale_shift_table: vb.get((2, audio_dim), "audio_scale_shift_table")?,
            transformer_blocks,
            proj_out: linear(dim, cfg.out_channels(), vb.pp("proj_out"))?,
            audio_proj_out: linear(audio_dim, cfg.audio_out_channels(), vb.pp("audio_proj_out"))?,
            config: cfg.clone(),
        })
    }

    /// Loads a diffusers `transformer/` folder (one file or shards).
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> std::result::Result<Self, LoadError> {
        let config: Config = load::read_config(dir, "LTX2VideoTransformer3DModel")?;
        config
            .check()
            .map_err(|reason| load::invalid_config(dir, "LTX2VideoTransformer3DModel", reason))?;
        let vb = load::var_builder(dir, DIFFUSERS_WEIGHTS, dtype, device)?;
        load::build(dir, || Self::new(&config, vb))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Video token positions as fractions of the base sizes: patch
    /// boundaries in pixels (the first frame causal), time in seconds.
    fn video_fractions(
        &self,
        shape: &LatentShape,
        time_only: bool,
        max_frames: f32,
    ) -> Vec<Vec<f32>> {
        let cfg = &self.config;
        let [scale_t, scale_h, scale_w] = cfg.vae_scale_factors.map(|s| s as f32);
        let (pt, p) = (cfg.patch_size_t as f32, cfg.patch_size as f32);
        let causal = cfg.causal_offset as f32;
        let fps = shape.fps as f32;
        let mut out = Vec::new();
        for f in (0..shape.frames).step_by(cfg.patch_size_t) {
            // Pixel frames of the patch, shifted so the first latent frame is frame 0, in seconds.
            let start = ((f as f32 * scale_t + causal - scale_t).max(0.0)) / fps;
            let end = (((f as f32 + pt) * scale_t + causal - scale_t).max(0.0)) / fps;
            let t = ((start + end) / 2.0) / max_frames;
            for y in (0..shape.height).step_by(cfg.patch_size) {
                for x in (0..shape.width).step_by(cfg.patch_size) {
                    if time_only {
                        out.push(vec![t]);
                        continue;
                    }
                    let ys = ((y as f32 * scale_h) + ((y as f32 + p) * scale_h)) / 2.0;
                    let xs = ((x as f32 * scale_w) + ((x as f32 + p) * scale_w)) / 2.0;
                    out.push(vec![
                        t,
                        ys / cfg.base_height as f32,
                        xs / cfg.base_width as f32,
                    ]);
                }
            }
        }
        out
    }

    /// Audio token positions: each latent frame's span of spectrogram frames in seconds.
    fn audio_fractions(&self, frames: usize, max_frames: f32) -> Vec<Vec<f32>> {
        let cfg = &self.config;
        let scale = cfg.audio_scale_factor as f32;
        let causal = cfg.causal_offset as f32;
        let (hop, rate) = (cfg.audio_hop_length as f32, cfg.audio_sampling_rate as f32);
        let seconds = |mel: f32| (mel + causal - scale).max(0.0) * hop / rate;
        (0..frames)
            .step_by(cfg.audio_patch_size_t)
            .map(|f| {
                let start = seconds(f as f32 * scale);
                let end = seconds((f as f32 + cfg.audio_patch_size_t as f32) * scale);
                vec![((start + end) / 2.0) / max_frames]
            })
            .collect()
    }

    fn rope(
        &self,
        dim: usize,
        heads: usize,
        fractions: Vec<Vec<f32>>,
        batch: usize,
        device: &Device,
    ) -> Result<RopeTables> {
        let spec = RopeSpec {
            dim,
            heads,
            theta: self.config.rope_theta,
            double_precision: self.config.rope_double_precision,
            rope_type: self.config.rope_type,
        };
        rope_tables(&spec, &vec![fractions; batch], device)
    }

    /// One denoising evaluation.
    ///
    /// - `video`: [B, N, in_channels] packed latents; `audio`: [B, A, audio_in_channels].
    /// - `captions`/`audio_captions`: the connectors' [B, L, width] embeddings;
    ///   `caption_mask`: [B, L], 1 for tokens attended to.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        video: &Tensor,
        audio: &Tensor,
        captions: &Tensor,
        audio_captions: &Tensor,
        caption_mask: Option<&Tensor>,
        timesteps: &Timesteps,
        shape: &LatentShape,
        options: &ForwardOptions,
    ) -> Result<AvOutput> {
        let cfg = &self.config;
        let (batch, tokens, _) = video.dims3()?;
        let audio_tokens = audio.dim(1)?;
        let dtype = video.dtype();
        let device = video.device();
        let dim = cfg.inner_dim();
        let audio_dim = cfg.audio_inner_dim();

        // 1. Rotary tables.
        let video_fractions = self.video_fractions(shape, false, cfg.pos_embed_max_pos as f32);
        if video_fractions.len() != tokens {
            candle_core::bail!(
                "the latent grid {shape:?} has {} tokens, the video latents {tokens}",
                video_fractions.len()
            );
        }
        let audio_fractions =
            self.audio_fractions(shape.audio_frames, cfg.audio_pos_embed_max_pos as f32);
        if audio_fractions.len() != audio_tokens {
            candle_core::bail!(
                "{} audio latent frames make {} tokens, the audio latents {audio_tokens}",
                shape.audio_frames,
                audio_fractions.len()
            );
        }
        let cross_max = cfg.pos_embed_max_pos.max(cfg.audio_pos_embed_max_pos) as f32;
        let video_rope = self.rope(dim, cfg.num_attention_heads, video_fractions, batch, device)?;
        let audio_rope = self.rope(
            audio_dim,
            cfg.audio_num_attention_heads,
            audio_fractions,
            batch,
            device,
        )?;
        let ca_video_rope = self.rope(
            cfg.audio_cross_attention_dim,
            cfg.num_attention_heads,
            self.video_fractions(shape, true, cross_max),
            batch,
            device,
        )?;
        let ca_audio_rope = self.rope(
            cfg.audio_cross_attention_dim,
            cfg.audio_num_attention_heads,
            self.audio_fractions(shape.audio_frames, cross_max),
            batch,
            device,
        )?;

        // 2. Inputs to the blocks' widths; masks as additive biases.
        let x = self.proj_in.forward(video)?;
        let a = self.audio_proj_in.forward(audio)?;
        let caption_bias = caption_mask
            .map(|mask| -> Result<Tensor> {
                let keep = mask.to_dtype(dtype)?;
                ((keep.ones_like()? - keep)? * MASKED_BIAS)?.reshape((batch, 1, 1, mask.dim(1)?))
            })
            .transpose()?;

        // 3. Timestep embeddings and modulation, one row per sample or token.
        let per_batch = |t: Tensor, width: usize| -> Result<Tensor> {
            let n = t.dim(0)? / batch;
            t.reshape((batch, n, width))
        };
        let t_video = timesteps.video.flatten_all()?;
        let t_audio = match &timesteps.audio {
            Some(t) => t.flatten_all()?,
            None => t_video.clone(),
        };
        let sigma = timesteps
            .sigma
            .as_ref()
            .map(|s| s.flatten_all())
            .transpose()?;
        let audio_sigma = match &timesteps.audio_sigma {
            Some(s) => Some(s.flatten_all()?),
            None => sigma.clone(),
        };
        let (temb, embedded) = self.time_embed.forward(&t_video, dtype)?;
        let temb = per_batch(temb, dim * if cfg.cross_attn_mod { 9 } else { 6 })?;
        let embedded = per_batch(embedded, dim)?;
        let (temb_audio, audio_embedded) = self.audio_time_embed.forward(&t_audio, dtype)?;
        let temb_audio = per_batch(
            temb_audio,
            audio_dim * if cfg.audio_cross_attn_mod { 9 } else { 6 },
        )?;
        let audio_embedded = per_batch(audio_embedded, audio_dim)?;
        let need_sigma = |s: &Option<Tensor>| {
            s.clone()
                .ok_or_else(|| candle_core::Error::msg("this model needs the step's sigma"))
        };
        let (temb_prompt, temb_prompt_audio) = match &self.prompt_adaln {
            Some((video_adaln, audio_adaln)) => {
                let (v, _) = video_adaln.forward(&need_sigma(&sigma)?, dtype)?;
                let (a, _) = audio_adaln.forward(&need_sigma(&audio_sigma)?, dtype)?;
                (
                    Some(per_batch(v, 2 * dim)?),
                    Some(per_batch(a, 2 * audio_dim)?),
                )
            }
            None => (None, None),
        };
        let gate_factor = cfg.cross_attn_timestep_scale_multiplier / cfg.timestep_scale_multiplier;
        let video_ca_t = if options.use_cross_timestep {
            need_sigma(&audio_sigma)?
        } else {
            t_video.clone()
        };
        let audio_ca_t = if options.use_cross_timestep {
            need_sigma(&sigma)?
        } else {
            t_audio.clone()
        };
        let (ca_scale_shift, _) = self
            .av_cross_attn_video_scale_shift
            .forward(&video_ca_t, dtype)?;
        let (ca_gate, _) = self
            .av_cross_attn_video_a2v_gate
            .forward(&(&video_ca_t * gate_factor)?, dtype)?;
        let (ca_audio_scale_shift, _) = self
            .av_cross_attn_audio_scale_shift
            .forward(&audio_ca_t, dtype)?;
        let (ca_audio_gate, _) = self
            .av_cross_attn_audio_v2a_gate
            .forward(&(&audio_ca_t * gate_factor)?, dtype)?;
        let ca_scale_shift = per_batch(ca_scale_shift, 4 * dim)?;
        let ca_gate = per_batch(ca_gate, dim)?;
        let ca_audio_scale_shift = per_batch(ca_audio_scale_shift, 4 * audio_dim)?;
        let ca_audio_gate = per_batch(ca_audio_gate, audio_dim)?;

        // 4. Text to the streams' widths (LTX-2.0).
        let captions = match &self.caption_projection {
            Some(p) => p.forward(captions)?,
            None => captions.clone(),
        };
        let audio_captions = match &self.audio_caption_projection {
            Some(p) => p.forward(audio_captions)?,
            None => audio_captions.clone(),
        };

        // 5. The blocks.
        let perturb_all = Perturbation::All;
        let mut x = x;
        let mut a = a;
        for (i, block) in self.transformer_blocks.iter().enumerate() {
            let inputs = BlockInputs {
                captions: &captions,
                audio_captions: &audio_captions,
                temb: &temb,
                temb_audio: &temb_audio,
                temb_ca_scale_shift: &ca_scale_shift,
                temb_ca_audio_scale_shift: &ca_audio_scale_shift,
                temb_ca_gate: &ca_gate,
                temb_ca_audio_gate: &ca_audio_gate,
                temb_prompt: temb_prompt.as_ref(),
                temb_prompt_audio: temb_prompt_audio.as_ref(),
                video_rope: &video_rope,
                audio_rope: &audio_rope,
                ca_video_rope: &ca_video_rope,
                ca_audio_rope: &ca_audio_rope,
                caption_bias: caption_bias.as_ref(),
                audio_caption_bias: caption_bias.as_ref(),
                cross_modal: !options.isolate_modalities,
                perturbation: options.stg_blocks.contains(&i).then_some(&perturb_all),
                stg_video_only: options.stg_video_only,
            };
            (x, a) = block.forward(&x, &a, &inputs)?;
        }

        // 6. Output norms, modulated by the embedded timestep.
        let out =
            |x: &Tensor, table: &Tensor, embedded: &Tensor, proj: &Linear| -> Result<Tensor> {
                // (b, t, 2, dim): shift, scale
                let values = embedded.unsqueeze(2)?.broadcast_add(
                    &table
                        .unsqueeze(0)?
                        .unsqueeze(0)?
                        .to_dtype(embedded.dtype())?,
                )?;
                let shift = values.narrow(2, 0, 1)?.squeeze(2)?;
                let scale = values.narrow(2, 1, 1)?.squeeze(2)?;
                let normed = layer_norm(x, 1e-6)?;
                proj.forward(
                    &normed
                        .broadcast_mul(&(scale + 1.0)?)?
                        .broadcast_add(&shift)?,
                )
            };
        Ok(AvOutput {
            video: out(&x, &self.scale_shift_table, &embedded, &self.proj_out)?,
            audio: out(
                &a,
                &self.audio_scale_shift_table,
                &audio_embedded,
                &self.audio_proj_out,
            )?,
        })
    }
}
