//! Small pieces shared by the encoder and decoder: channel norms, the timestep
//! embedder of the timestep-conditioned decoder, and where injected noise comes from.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

/// RMS norm over the channel axis (dim 1) without weights, as diffusers' `RMSNorm(eps=1e-8,
/// elementwise_affine=False)` applied to `movedim(1, -1)`.
pub fn rms_norm_channels(x: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let xf = x.to_dtype(DType::F32)?;
    let inv = (xf.sqr()?.mean_keepdim(1)? + eps)?.sqrt()?.recip()?;
    xf.broadcast_mul(&inv)?.to_dtype(dtype)
}

/// LayerNorm with weight and bias over the channel axis (dim 1) of `[b, c, t, h, w]`.
#[derive(Debug, Clone)]
pub struct ChannelLayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl ChannelLayerNorm {
    pub fn new(channels: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let weight = vb
            .get(channels, "weight")?
            .reshape((1, channels, 1, 1, 1))?;
        let bias = vb.get(channels, "bias")?.reshape((1, channels, 1, 1, 1))?;
        Ok(Self { weight, bias, eps })
    }
}

impl Module for ChannelLayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(1)?;
        let centered = x.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(1)?;
        let normed = centered.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

/// diffusers' `PixArtAlphaCombinedTimestepSizeEmbeddings(dim, 0)` without size conditions:
/// a 256-wide sinusoidal projection (cos first) and `linear_1 -> SiLU -> linear_2`.
#[derive(Debug, Clone)]
pub struct TimestepEmbedder {
    linear_1: Linear,
    linear_2: Linear,
}

/// Width of the sinusoidal timestep projection (diffusers' `Timesteps(num_channels=256)`).
const TIMESTEP_PROJ_DIM: usize = 256;

impl TimestepEmbedder {
    /// `vb` is the `time_embedder` prefix.
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("timestep_embedder");
        Ok(Self {
            linear_1: candle_nn::linear(TIMESTEP_PROJ_DIM, dim, vb.pp("linear_1"))?,
            linear_2: candle_nn::linear(dim, dim, vb.pp("linear_2"))?,
        })
    }

    /// `[b]` timesteps -> `[b, dim]`.
    pub fn forward(&self, timesteps: &Tensor, dtype: DType) -> Result<Tensor> {
        let proj = sinusoidal_projection(timesteps, TIMESTEP_PROJ_DIM)?.to_dtype(dtype)?;
        self.linear_2
            .forward(&self.linear_1.forward(&proj)?.silu()?)
    }
}

/// diffusers' `get_timestep_embedding(t, dim, flip_sin_to_cos=True, downscale_freq_shift=0)`.
fn sinusoidal_projection(timesteps: &Tensor, dim: usize) -> Result<Tensor> {
    let half = dim / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10000f64.ln()) * i as f64 / half as f64).exp() as f32)
        .collect();
    let freqs = Tensor::new(freqs.as_slice(), timesteps.device())?.unsqueeze(0)?;
    let args = timesteps
        .to_dtype(DType::F32)?
        .unsqueeze(1)?
        .broadcast_mul(&freqs)?;
    Tensor::cat(&[args.cos()?, args.sin()?], 1)
}

/// Where the decoder's injected noise comes from. Each resnet with noise injection draws
/// one standard-normal `[height, width]` field after each of its two convs, in module
/// order (diffusers: `torch.randn(spatial_shape)`); the same field is used for every
/// batch item, frame and channel (scaled per channel).
pub trait DecoderNoise {
    fn spatial_noise(&mut self, height: usize, width: usize, device: &Device) -> Result<Tensor>;
}

/// No noise: zeros, for models without injection or for deterministic decodes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZeroNoise;

impl DecoderNoise for ZeroNoise {
    fn spatial_noise(&mut self, height: usize, width: usize, device: &Device) -> Result<Tensor> {
        Tensor::zeros((height, width), DType::F32, device)
    }
}

/// Noise fields given in advance, used in order (e.g. the ones diffusers drew).
#[derive(Debug, Clone)]
pub struct NoiseSequence {
    fields: std::collections::VecDeque<Tensor>,
}

impl NoiseSequence {
    pub fn new(fields: Vec<Tensor>) -> Self {
        Self {
            fields: fields.into(),
        }
    }

    /// Fields not used yet.
    pub fn remaining(&self) -> usize {
        self.fields.len()
    }
}

impl DecoderNoise for NoiseSequence {
    fn spatial_noise(&mut self, height: usize, width: usize, device: &Device) -> Result<Tensor> {
        let field = self
            .fields
            .pop_front()
            .ok_or_else(|| candle_core::Error::Msg("the decoder noise sequence ran out".into()))?;
        if field.dims() != [height, width] {
            candle_core::bail!(
                "decoder noise field is {:?}, the decoder needs [{height}, {width}]",
                field.dims()
            );
        }
        field.to_device(device)
    }
}

/// Any closure `(height, width, device) -> [height, width] tensor`, e.g. over a seeded RNG.
impl<F> DecoderNoise for F
where
    F: FnMut(usize, usize, &Device) -> Result<Tensor>,
{
    fn spatial_noise(&mut self, height: usize, width: usize, device: &Device) -> Result<Tensor> {
        self(height, width, device)
    }
}
