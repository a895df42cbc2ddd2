//! diffusers' `LTX2VideoTransformerBlock`: per stream, AdaLN-modulated
//! self-attention, cross-attention to that stream's text, then the
//! audio-to-video and video-to-audio attentions (each stream's queries
//! against the other's keys, both sides modulated, gated), then the
//! AdaLN-modulated feed-forward.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::Config;
use crate::ltx::transformer::{gated_residual, norm_modulate};
use crate::ltx2::layers::{rms_norm, Attention, AttentionSpec, FeedForward, Perturbation};
use crate::ltx2::rope::RopeTables;

/// Splits `temb` [B, T, k·dim] plus `table` [k, dim] into k tensors [B, T, dim].
fn mod_params(table: &Tensor, temb: &Tensor) -> Result<Vec<Tensor>> {
    let (k, dim) = table.dims2()?;
    let (b, t, _) = temb.dims3()?;
    let values = temb
        .reshape((b, t, k, dim))?
        .broadcast_add(&table.unsqueeze(0)?.unsqueeze(0)?.to_dtype(temb.dtype())?)?;
    (0..k).map(|i| values.narrow(2, i, 1)?.squeeze(2)).collect()
}

/// `x · (1 + scale) + shift`, broadcasting [B, T, dim] over the tokens.
fn modulate(x: &Tensor, shift: &Tensor, scale: &Tensor) -> Result<Tensor> {
    x.broadcast_mul(&(scale + 1.0)?)?.broadcast_add(shift)
}

/// Everything a block reads besides the two streams.
pub struct BlockInputs<'a> {
    pub captions: &'a Tensor,
    pub audio_captions: &'a Tensor,
    /// [B, T, 6 or 9 · dim] and the audio one.
    pub temb: &'a Tensor,
    pub temb_audio: &'a Tensor,
    /// [B, T, 4 · dim]: a2v scale, shift, v2a scale, shift (video side), and audio's.
    pub temb_ca_scale_shift: &'a Tensor,
    pub temb_ca_audio_scale_shift: &'a Tensor,
    /// [B, T, dim]: the a2v gate, and audio's v2a gate.
    pub temb_ca_gate: &'a Tensor,
    pub temb_ca_audio_gate: &'a Tensor,
    /// [B, T, 2 · dim] (LTX-2.3's prompt AdaLN), when the model has it.
    pub temb_prompt: Option<&'a Tensor>,
    pub temb_prompt_audio: Option<&'a Tensor>,
    pub video_rope: &'a RopeTables,
    pub audio_rope: &'a RopeTables,
    pub ca_video_rope: &'a RopeTables,
    pub ca_audio_rope: &'a RopeTables,
    /// Additive [B, 1, 1, L].
    pub caption_bias: Option<&'a Tensor>,
    pub audio_caption_bias: Option<&'a Tensor>,
    /// Cross-modal attention on (off for modality isolation).
    pub cross_modal: bool,
    /// STG at this block.
    pub perturbation: Option<&'a Perturbation>,
    /// STG skips the video self-attention only (see `ForwardOptions::stg_video_only`).
    pub stg_video_only: bool,
}

#[derive(Debug, Clone)]
pub struct TransformerBlock {
    attn1: Attention,
    audio_attn1: Attention,
    attn2: Attention,
    audio_attn2: Attention,
    audio_to_video_attn: Attention,
    video_to_audio_attn: Attention,
    ff: FeedForward,
    audio_ff: FeedForward,
    scale_shift_table: Tensor,
    audio_scale_shift_table: Tensor,
    prompt_scale_shift_table: Option<Tensor>,
    audio_prompt_scale_shift_table: Option<Tensor>,
    video_a2v_cross_attn_scale_shift_table: Tensor,
    audio_a2v_cross_attn_scale_shift_table: Tensor,
    video_cross_attn_adaln: bool,
    audio_cross_attn_adaln: bool,
    perturbed_attn: bool,
    eps: f64,
}

impl TransformerBlock {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.inner_dim();
        let audio_dim = cfg.audio_inner_dim();
        let spec = |query_dim, context_dim, heads, head_dim, gated| AttentionSpec {
            query_dim,
            context_dim,
            heads,
            head_dim,
            bias: cfg.attention_bias,
            out_bias: cfg.attention_out_bias,
            gated,
            norm_eps: 1e-6,
        };
        let (h, d) = (cfg.num_attention_heads, cfg.attention_head_dim);
        let (ah, ad) = (cfg.audio_num_attention_heads, cfg.audio_attention_head_dim);
        let (vg, ag) = (cfg.gated_attn, cfg.audio_gated_attn);
        let video_params = if cfg.cross_attn_mod { 9 } else { 6 };
        let audio_params = if cfg.audio_cross_attn_mod { 9 } else { 6 };
        let prompt_tables = cfg.prompt_modulation();
        Ok(Self {
            attn1: Attention::new(spec(dim, dim, h, d, vg), vb.pp("attn1"))?,
            audio_attn1: Attention::new(
                spec(audio_dim, audio_dim, ah, ad, ag),
                vb.pp("audio_attn1"),
            )?,
            attn2: Attention::new(spec(dim, cfg.cross_attention_dim, h, d, vg), vb.pp("attn2"))?,
            audio_attn2: Attention::new(
                spec(audio_dim, cfg.audio_cross_attention_dim, ah, ad, ag),
                vb.pp("audio_attn2"),
            )?,
            audio_to_video_attn: Attention::new(
                spec(dim, audio_dim, ah, ad, vg),
                vb.pp("audio_to_video_attn"),
            )?,
            video_to_audio_attn: Attention::new(
                spec(audio_dim, dim, ah, ad, ag),
                vb.pp("video_to_audio_attn"),
            )?,
            ff: FeedForward::new(dim, cfg.ff_bias, vb.pp("ff"))?,
            audio_ff: FeedForward::new(audio_dim, cfg.audio_ff_bias, vb.pp("audio_ff"))?,
            scale_shift_table: vb.get((video_params, dim), "scale_shift_table")?,
            audio_scale_shift_table: vb
                .get((audio_params, audio_dim), "audio_scale_shift_table")?,
            prompt_scale_shift_table: prompt_tables
                .then(|| vb.get((2, dim), "prompt_scale_shift_table"))
                .transpose()?,
            audio_prompt_scale_shift_table: prompt_tables
                .then(|| vb.get((2, audio_dim), "audio_prompt_scale_shift_table"))
                .transpose()?,
            video_a2v_cross_attn_scale_shift_table: vb
                .get((5, dim), "video_a2v_cross_attn_scale_shift_table")?,
            audio_a2v_cross_attn_scale_shift_table: vb
                .get((5, audio_dim), "audio_a2v_cross_attn_scale_shift_table")?,
            video_cross_attn_adaln: cfg.cross_attn_mod,
            audio_cross_attn_adaln: cfg.audio_cross_attn_mod,
            perturbed_attn: cfg.perturbed_attn,
            eps: cfg.norm_eps,
        })
    }

    /// The text keys/values after LTX-2.3's prompt modulation (or as given).
    fn modulated_captions(
        table: Option<&Tensor>,
        temb: Option<&Tensor>,
        captions: &Tensor,
    ) -> Result<Tensor> {
        let Some(table) = table else {
            return Ok(captions.clone());
        };
        let (shift, scale) = match temb {
            Some(temb) => {
                let p = mod_params(table, temb)?;
                (p[0].clone(), p[1].clone())
            }
            // Without the prompt AdaLN only the static table modulates.
            None => {
                let table = table.to_dtype(captions.dtype())?;
                (
                    table.narrow(0, 0, 1)?.unsqueeze(0)?,
                    table.narrow(0, 1, 1)?.unsqueeze(0)?,
                )
            }
        };
        modulate(captions, &shift, &scale)
    }

    /// Returns the updated (video, audio) streams.
    pub fn forward(
        &self,
        x: &Tensor,
        audio: &Tensor,
        inp: &BlockInputs,
    ) -> Result<(Tensor, Tensor)> {
        let eps = self.eps;
        let video_p = mod_params(&self.scale_shift_table, inp.temb)?;
        let audio_p = mod_params(&self.audio_scale_shift_table, inp.temb_audio)?;
        let (video_perturbation, audio_perturbation) =
            match (self.perturbed_attn, inp.stg_video_only) {
                (_, true) => (inp.perturbation, None),
                (true, false) => (inp.perturbation, inp.perturbation),
                (false, false) => (None, None),
            };

        // 1. Self-attention, each stream.
        let normed = norm_modulate(x, eps, &video_p[0], &video_p[1])?;
        let attended = self.attn1.forward(
            &normed,
            None,
            Some(inp.video_rope),
            None,
            None,
            video_perturbation,
        )?;
        let x = gated_residual(x, &attended, &video_p[2])?;
        let normed = norm_modulate(audio, eps, &audio_p[0], &audio_p[1])?;
        let attended = self.audio_attn1.forward(
            &normed,
            None,
            Some(inp.audio_rope),
            None,
            None,
            audio_perturbation,
        )?;
        let audio = gated_residual(audio, &attended, &audio_p[2])?;

        // 2. Cross-attention to the text.
        let mut normed = rms_norm(&x, eps)?;
        if self.video_cross_attn_adaln {
            normed = modulate(&normed, &video_p[6], &video_p[7])?;
        }
        let captions = Self::modulated_captions(
            self.prompt_scale_shift_table.as_ref(),
            inp.temb_prompt,
            inp.captions,
        )?;
        let mut attended =
            self.attn2
                .forward(&normed, Some(&captions), None, None, inp.caption_bias, None)?;
        if self.video_cross_attn_adaln {
            attended = attended.broadcast_mul(&video_p[8])?;
        }
        let mut x = (x + attended)?;

        let mut normed = rms_norm(&audio, eps)?;
        if self.audio_cross_attn_adaln {
            normed = modulate(&normed, &audio_p[6], &audio_p[7])?;
        }
        let audio_captions = Self::modulated_captions(
            self.audio_prompt_scale_shift_table.as_ref(),
            inp.temb_prompt_audio,
            inp.audio_captions,
        )?;
        let mut attended = self.audio_attn2.forward(
            &normed,
            Some(&audio_captions),
            None,
            None,
            inp.audio_caption_bias,
            None,
        )?;
        if self.audio_cross_attn_adaln {
            attended = attended.broadcast_mul(&audio_p[8])?;
        }
        let mut audio = (audio + attended)?;

        // 3. Audio-to-video and video-to-audio attention.
        if inp.cross_modal {
            let normed_video = rms_norm(&x, eps)?;
            let normed_audio = rms_norm(&audio, eps)?;
            let video_ca = mod_params(
                &self
                    .video_a2v_cross_attn_scale_shift_table
                    .narrow(0, 0, 4)?,
                inp.temb_ca_scale_shift,
            )?;
            let a2v_gate = mod_params(
                &self
                    .video_a2v_cross_attn_scale_shift_table
                    .narrow(0, 4, 1)?,
                inp.temb_ca_gate,
            )?
            .remove(0);
            let audio_ca = mod_params(
                &self
                    .audio_a2v_cross_attn_scale_shift_table
                    .narrow(0, 0, 4)?,
                inp.temb_ca_audio_scale_shift,
            )?;
            let v2a_gate = mod_params(
                &self
                    .audio_a2v_cross_attn_scale_shift_table
                    .narrow(0, 4, 1)?,
                inp.temb_ca_audio_gate,
            )?
            .remove(0);
            // Each set is (a2v scale, a2v shift, v2a scale, v2a shift).
            let queries = modulate(&normed_video, &video_ca[1], &video_ca[0])?;
            let keys = modulate(&normed_audio, &audio_ca[1], &audio_ca[0])?;
            let a2v = self.audio_to_video_attn.forward(
                &queries,
                Some(&keys),
                Some(inp.ca_video_rope),
                Some(inp.ca_audio_rope),
                None,
                None,
            )?;
            x = (x + a2v.broadcast_mul(&a2v_gate)?)?;

            let keys = modulate(&normed_video, &video_ca[3], &video_ca[2])?;
            let queries = modulate(&normed_audio, &audio_ca[3], &audio_ca[2])?;
            let v2a = self.video_to_audio_attn.forward(
                &queries,
                Some(&keys),
                Some(inp.ca_audio_rope),
                Some(inp.ca_video_rope),
                None,
                None,
            )?;
            audio = (audio + v2a.broadcast_mul(&v2a_gate)?)?;
        }

        // 4. Feed-forward.
        let normed = norm_modulate(&x, eps, &video_p[3], &video_p[4])?;
        let x = gated_residual(&x, &self.ff.forward(&normed)?, &video_p[5])?;
        let normed = norm_modulate(&audio, eps, &audio_p[3], &audio_p[4])?;
        let audio = gated_residual(&audio, &self.audio_ff.forward(&normed)?, &audio_p[5])?;
        Ok((x, audio))
    }
}
