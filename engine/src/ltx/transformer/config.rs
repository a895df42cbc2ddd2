//! `transformer/config.json`: diffusers' `LTXVideoTransformer3DModel` config,
//! with diffusers' defaults for absent keys.

use std::path::Path;

use serde::Deserialize;

use crate::ltx::load::{read_json, LoadError};

/// The transformer's hyper-parameters, as diffusers writes them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    #[serde(default = "default_channels")]
    pub in_channels: usize,
    /// `null` in the file means "same as `in_channels`".
    #[serde(default = "default_out_channels")]
    pub out_channels: Option<usize>,
    #[serde(default = "one")]
    pub patch_size: usize,
    #[serde(default = "one")]
    pub patch_size_t: usize,
    #[serde(default = "default_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "default_head_dim")]
    pub attention_head_dim: usize,
    #[serde(default = "default_cross_attention_dim")]
    pub cross_attention_dim: usize,
    #[serde(default = "default_layers")]
    pub num_layers: usize,
    #[serde(default = "default_activation")]
    pub activation_fn: String,
    #[serde(default = "default_qk_norm")]
    pub qk_norm: String,
    #[serde(default)]
    pub norm_elementwise_affine: bool,
    #[serde(default = "default_norm_eps")]
    pub norm_eps: f64,
    #[serde(default = "default_caption_channels")]
    pub caption_channels: usize,
    #[serde(default = "yes")]
    pub attention_bias: bool,
    #[serde(default = "yes")]
    pub attention_out_bias: bool,
}

fn default_channels() -> usize {
    128
}
fn default_out_channels() -> Option<usize> {
    Some(128)
}
fn one() -> usize {
    1
}
fn default_heads() -> usize {
    32
}
fn default_head_dim() -> usize {
    64
}
fn default_cross_attention_dim() -> usize {
    2048
}
fn default_layers() -> usize {
    28
}
fn default_activation() -> String {
    "gelu-approximate".into()
}
fn default_qk_norm() -> String {
    "rms_norm_across_heads".into()
}
fn default_norm_eps() -> f64 {
    1e-6
}
fn default_caption_channels() -> usize {
    4096
}
fn yes() -> bool {
    true
}

impl Default for Config {
    /// LTX-Video 2B (0.9.x), which is also diffusers' default.
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a serde default")
    }
}

impl Config {
    /// Reads and checks a diffusers `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        let what = "an LTX-Video transformer config";
        let value: serde_json::Value = read_json(path, what)?;
        let config: Config = serde_json::from_value(value.clone())
            .map_err(|e| LoadError::invalid(path, format!("not {what}: {e}")))?;
        if let Some(class) = value.get("_class_name").and_then(|c| c.as_str()) {
            if class != "LTXVideoTransformer3DModel" {
                return Err(LoadError::invalid(
                    path,
                    format!("unsupported setting: _class_name {class:?}, expected \"LTXVideoTransformer3DModel\""),
                ));
            }
        }
        config
            .check()
            .map_err(|what| LoadError::invalid(path, format!("unsupported setting: {what}")))?;
        Ok(config)
    }

    /// The width of the token stream: heads × head size.
    pub fn inner_dim(&self) -> usize {
        self.num_attention_heads * self.attention_head_dim
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels.unwrap_or(self.in_channels)
    }

    /// The settings this port implements (those of every LTX-Video 0.9.x checkpoint).
    pub fn check(&self) -> Result<(), String> {
        if self.qk_norm != "rms_norm_across_heads" {
            return Err(format!(
                "qk_norm {:?} (only \"rms_norm_across_heads\")",
                self.qk_norm
            ));
        }
        if self.activation_fn != "gelu-approximate" {
            return Err(format!(
                "activation_fn {:?} (only \"gelu-approximate\")",
                self.activation_fn
            ));
        }
        if self.norm_elementwise_affine {
            return Err("norm_elementwise_affine true (only false)".into());
        }
        let inner = self.inner_dim();
        // The caption projection outputs `inner_dim` channels, which cross-attention reads.
        if self.cross_attention_dim != inner {
            return Err(format!(
                "cross_attention_dim {} differs from num_attention_heads × attention_head_dim = {inner}",
                self.cross_attention_dim
            ));
        }
        // Rotary pairs are (2i, 2i+1) over the whole inner dimension.
        if inner == 0 || !inner.is_multiple_of(2) {
            return Err(format!("inner dimension {inner} must be even and non-zero"));
        }
        if self.in_channels == 0
            || self.out_channels() == 0
            || self.patch_size == 0
            || self.patch_size_t == 0
        {
            return Err("channel counts and patch sizes must be non-zero".into());
        }
        Ok(())
    }
}
