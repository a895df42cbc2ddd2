//! Conditioning embeddings: diffusers' `AdaLayerNormSingle` (timestep →
//! modulation) and `PixArtAlphaTextProjection` (T5 states → token width).

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::linear::{linear, Linear};

use super::cpu_ops::gelu_tanh;

/// Channels of the sinusoidal timestep features (`Timesteps(num_channels=256)`).
const TIMESTEP_CHANNELS: usize = 256;

/// Sinusoidal features of `timesteps` ([n] → [n, 256], f32), as diffusers'
/// `get_timestep_embedding(flip_sin_to_cos=True, downscale_freq_shift=0)`.
///
/// Computed on the host in f32 with torch's operation order: timesteps reach
/// 1000, so one rounding step in `t × frequency` already moves the phase by 6e-5.
pub fn timestep_features(timesteps: &Tensor) -> Result<Tensor> {
    let timesteps = timesteps.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let half = TIMESTEP_CHANNELS / 2;
    let log_period = -(10000f64.ln() as f32);
    let frequencies: Vec<f32> = (0..half)
        .map(|i| ((log_period * i as f32) / half as f32).exp())
        .collect();
    let mut features = Vec::with_capacity(timesteps.len() * TIMESTEP_CHANNELS);
    for &t in &timesteps {
        // flip_sin_to_cos: cosines first.
        features.extend(frequencies.iter().map(|&f| (t * f).cos()));
        features.extend(frequencies.iter().map(|&f| (t * f).sin()));
    }
    Tensor::from_vec(features, (timesteps.len(), TIMESTEP_CHANNELS), &Device::Cpu)
}

/// `PixArtAlphaCombinedTimestepSizeEmbeddings.timestep_embedder`: linear, SiLU, linear.
#[derive(Debug, Clone)]
struct TimestepEmbedding {
    linear_1: Linear,
    linear_2: Linear,
}

impl TimestepEmbedding {
    fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            linear_1: linear(TIMESTEP_CHANNELS, dim, vb.pp("linear_1"))?,
            linear_2: linear(dim, dim, vb.pp("linear_2"))?,
        })
    }

    fn forward(&self, features: &Tensor) -> Result<Tensor> {
        self.linear_2
            .forward(&self.linear_1.forward(features)?.silu()?)
    }
}

/// `AdaLayerNormSingle`: a timestep becomes the blocks' six modulation
/// vectors (`modulation`, [n, 6·dim]) and the embedding the output norm uses
/// (`embedded`, [n, dim]).
#[derive(Debug, Clone)]
pub struct AdaLayerNormSingle {
    timestep_embedder: TimestepEmbedding,
    linear: Linear,
}

/// What [`AdaLayerNormSingle::forward`] returns.
pub struct TimestepConditioning {
    /// [n, 6·dim]: shift, scale, gate for attention, then for the feed-forward.
    pub modulation: Tensor,
    /// [n, dim]: before the final SiLU + linear; shifts and scales the output norm.
    pub embedded: Tensor,
}

impl AdaLayerNormSingle {
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            timestep_embedder: TimestepEmbedding::new(dim, vb.pp("emb").pp("timestep_embedder"))?,
            linear: linear(dim, 6 * dim, vb.pp("linear"))?,
        })
    }

    /// `timesteps`: [n], any float dtype, on any device.
    pub fn forward(&self, timesteps: &Tensor, dtype: DType) -> Result<TimestepConditioning> {
        let features = timestep_features(timesteps)?
            .to_device(timesteps.device())?
            .to_dtype(dtype)?;
        let embedded = self.timestep_embedder.forward(&features)?;
        let modulation = self.linear.forward(&embedded.silu()?)?;
        Ok(TimestepConditioning {
            modulation,
            embedded,
        })
    }
}

/// `PixArtAlphaTextProjection`: caption states to the token width
/// (linear, tanh-approximated GELU, linear).
#[derive(Debug, Clone)]
pub struct CaptionProjection {
    linear_1: Linear,
    linear_2: Linear,
}

impl CaptionProjection {
    pub fn new(caption_channels: usize, dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            linear_1: linear(caption_channels, dim, vb.pp("linear_1"))?,
            linear_2: linear(dim, dim, vb.pp("linear_2"))?,
        })
    }
}

impl Module for CaptionProjection {
    fn forward(&self, captions: &Tensor) -> Result<Tensor> {
        self.linear_2
            .forward(&gelu_tanh(self.linear_1.forward(captions)?)?)
    }
}
