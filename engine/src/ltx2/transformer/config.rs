//! `transformer/config.json` of a diffusers `LTX2VideoTransformer3DModel`.

use serde::Deserialize;

use crate::ltx2::rope::RopeType;

/// The fields of diffusers' `LTX2VideoTransformer3DModel` config, with its defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    pub in_channels: usize,
    pub out_channels: Option<usize>,
    pub patch_size: usize,
    pub patch_size_t: usize,
    pub num_attention_heads: usize,
    pub attention_head_dim: usize,
    pub cross_attention_dim: usize,
    pub vae_scale_factors: [usize; 3],
    pub pos_embed_max_pos: usize,
    pub base_height: usize,
    pub base_width: usize,
    pub gated_attn: bool,
    pub cross_attn_mod: bool,
    pub audio_in_channels: usize,
    pub audio_out_channels: Option<usize>,
    pub audio_patch_size: usize,
    pub audio_patch_size_t: usize,
    pub audio_num_attention_heads: usize,
    pub audio_attention_head_dim: usize,
    pub audio_cross_attention_dim: usize,
    pub audio_scale_factor: usize,
    pub audio_pos_embed_max_pos: usize,
    pub audio_sampling_rate: usize,
    pub audio_hop_length: usize,
    pub audio_gated_attn: bool,
    pub audio_cross_attn_mod: bool,
    pub num_layers: usize,
    pub activation_fn: String,
    pub qk_norm: String,
    pub norm_elementwise_affine: bool,
    pub norm_eps: f64,
    pub caption_channels: usize,
    pub attention_bias: bool,
    pub attention_out_bias: bool,
    pub rope_theta: f64,
    pub rope_double_precision: bool,
    pub causal_offset: usize,
    pub timestep_scale_multiplier: f64,
    pub cross_attn_timestep_scale_multiplier: f64,
    pub rope_type: RopeType,
    pub use_prompt_embeddings: bool,
    pub perturbed_attn: bool,
    pub ff_bias: bool,
    pub audio_ff_bias: bool,
    pub use_prompt_adaln_single: bool,
    pub use_keyframes_abs_pos_embedding: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            in_channels: 128,
            out_channels: Some(128),
            patch_size: 1,
            patch_size_t: 1,
            num_attention_heads: 32,
            attention_head_dim: 128,
            cross_attention_dim: 4096,
            vae_scale_factors: [8, 32, 32],
            pos_embed_max_pos: 20,
            base_height: 2048,
            base_width: 2048,
            gated_attn: false,
            cross_attn_mod: false,
            audio_in_channels: 128,
            audio_out_channels: Some(128),
            audio_patch_size: 1,
            audio_patch_size_t: 1,
            audio_num_attention_heads: 32,
            audio_attention_head_dim: 64,
            audio_cross_attention_dim: 2048,
            audio_scale_factor: 4,
            audio_pos_embed_max_pos: 20,
            audio_sampling_rate: 16000,
            audio_hop_length: 160,
            audio_gated_attn: false,
            audio_cross_attn_mod: false,
            num_layers: 48,
            activation_fn: "gelu-approximate".into(),
            qk_norm: "rms_norm_across_heads".into(),
            norm_elementwise_affine: false,
            norm_eps: 1e-6,
            caption_channels: 3840,
            attention_bias: true,
            attention_out_bias: true,
            rope_theta: 10000.0,
            rope_double_precision: true,
            causal_offset: 1,
            timestep_scale_multiplier: 1000.0,
            cross_attn_timestep_scale_multiplier: 1000.0,
            rope_type: RopeType::Interleaved,
            use_prompt_embeddings: true,
            perturbed_attn: false,
            ff_bias: true,
            audio_ff_bias: true,
            use_prompt_adaln_single: true,
            use_keyframes_abs_pos_embedding: false,
        }
    }
}

impl Config {
    pub fn inner_dim(&self) -> usize {
        self.num_attention_heads * self.attention_head_dim
    }

    pub fn audio_inner_dim(&self) -> usize {
        self.audio_num_attention_heads * self.audio_attention_head_dim
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels.unwrap_or(self.in_channels)
    }

    pub fn audio_out_channels(&self) -> usize {
        self.audio_out_channels.unwrap_or(self.audio_in_channels)
    }

    /// `cross_attn_mod` or `audio_cross_attn_mod` (LTX-2.3's prompt modulation).
    pub fn prompt_modulation(&self) -> bool {
        self.cross_attn_mod || self.audio_cross_attn_mod
    }

    /// Checks what this implementation supports; the reason names the field.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.qk_norm != "rms_norm_across_heads" {
            return Err(format!("qk_norm {:?} is not supported", self.qk_norm));
        }
        if self.activation_fn != "gelu-approximate" {
            return Err(format!(
                "activation_fn {:?} is not supported",
                self.activation_fn
            ));
        }
        if self.norm_elementwise_affine {
            return Err("norm_elementwise_affine is not supported (LTX-2 has none)".into());
        }
        if self.use_keyframes_abs_pos_embedding {
            return Err(
                "use_keyframes_abs_pos_embedding (LTX-2.5 keyframes) is not supported".into(),
            );
        }
        if self.patch_size == 0 || self.patch_size_t == 0 || self.audio_patch_size_t == 0 {
            return Err("patch sizes must be positive".into());
        }
        if self.use_prompt_embeddings
            && (self.cross_attention_dim != self.inner_dim()
                || self.audio_cross_attention_dim != self.audio_inner_dim())
        {
            return Err(format!(
                "with caption projections the cross-attention widths ({}, {}) must be the inner widths ({}, {})",
                self.cross_attention_dim,
                self.audio_cross_attention_dim,
                self.inner_dim(),
                self.audio_inner_dim()
            ));
        }
        if self.num_layers == 0 {
            return Err("num_layers must be at least 1".into());
        }
        Ok(())
    }
}
