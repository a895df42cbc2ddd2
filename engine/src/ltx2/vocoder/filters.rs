//! The vocoders' 1-D signal pieces: anti-aliased resampling by a depthwise
//! low-pass filter (BigVGAN's Kaiser-sinc `UpSample1d`/`DownSample1d`, and
//! the bandwidth extender's Hann-sinc resampler), and the Snake activation.

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;

/// One filter applied to every channel: `x` [B, C, T] runs as [B·C, 1, T].
fn depthwise<F>(x: &Tensor, f: F) -> Result<Tensor>
where
    F: Fn(&Tensor) -> Result<Tensor>,
{
    let (b, c, t) = x.dims3()?;
    let y = f(&x.reshape((b * c, 1, t))?)?;
    let t_out = y.dim(2)?;
    y.reshape((b, c, t_out))
}

/// `UpSample1d`: replicate padding, a transposed conv with the low-pass
/// filter at stride `ratio` (×`ratio` for the lost energy), edges trimmed.
#[derive(Debug, Clone)]
pub struct UpSample1d {
    /// [1, 1, K]
    filter: Tensor,
    ratio: usize,
    pad: usize,
    pad_left: usize,
    pad_right: usize,
}

impl UpSample1d {
    /// The Kaiser-sinc variant, its filter read from the checkpoint (`filter`).
    pub fn kaiser(ratio: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        let pad = kernel / ratio - 1;
        Ok(Self {
            filter: vb.get((1, 1, kernel), "filter")?,
            ratio,
            pad,
            pad_left: pad * ratio + (kernel - ratio) / 2,
            pad_right: pad * ratio + (kernel - ratio).div_ceil(2),
        })
    }

    /// The Hann-sinc variant the bandwidth extender resamples with (not
    /// stored in checkpoints: computed as torch does, in f32).
    pub fn hann(ratio: usize, dtype: DType, device: &candle_core::Device) -> Result<Self> {
        const ROLLOFF: f32 = 0.99;
        const LOWPASS_WIDTH: f32 = 6.0;
        let width = (LOWPASS_WIDTH / ROLLOFF).ceil() as usize;
        let kernel = 2 * width * ratio + 1;
        let pi = std::f32::consts::PI;
        let taps: Vec<f32> = (0..kernel)
            .map(|i| {
                let t = (i as f32 / ratio as f32 - width as f32) * ROLLOFF;
                let clamped = t.clamp(-LOWPASS_WIDTH, LOWPASS_WIDTH);
                let window = (clamped * pi / LOWPASS_WIDTH / 2.0).cos().powi(2);
                let sinc = if t == 0.0 {
                    1.0
                } else {
                    (pi * t).sin() / (pi * t)
                };
                sinc * window * ROLLOFF / ratio as f32
            })
            .collect();
        Ok(Self {
            filter: Tensor::from_vec(taps, (1, 1, kernel), device)?.to_dtype(dtype)?,
            ratio,
            pad: width,
            pad_left: 2 * width * ratio,
            pad_right: kernel - ratio,
        })
    }

    /// [B, C, T] → [B, C, T · ratio].
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let filter = self.filter.to_dtype(x.dtype())?;
        depthwise(x, |x| {
            let x = x.pad_with_same(2, self.pad, self.pad)?;
            let y = (x.conv_transpose1d(&filter, 0, 0, self.ratio, 1, 1)? * self.ratio as f64)?;
            let len = y.dim(2)?;
            y.narrow(2, self.pad_left, len - self.pad_left - self.pad_right)
        })
    }
}

/// `DownSample1d`: replicate padding, the low-pass filter at stride `ratio`.
#[derive(Debug, Clone)]
pub struct DownSample1d {
    filter: Tensor,
    ratio: usize,
    pad_left: usize,
    pad_right: usize,
}

impl DownSample1d {
    pub fn kaiser(ratio: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            filter: vb.get((1, 1, kernel), "filter")?,
            ratio,
            pad_left: kernel / 2 + kernel % 2 - 1,
            pad_right: kernel / 2,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let filter = self.filter.to_dtype(x.dtype())?;
        depthwise(x, |x| {
            x.pad_with_same(2, self.pad_left, self.pad_right)?
                .conv1d(&filter, 0, self.ratio, 1, 1)
        })
    }
}

/// `SnakeBeta` (log-scale parameters): `x + sin²(x·eᵅ) / (e^β + 1e-9)`,
/// with `β = α` for plain Snake.
#[derive(Debug, Clone)]
pub struct Snake {
    /// [1, C, 1], exponentiated.
    alpha: Tensor,
    /// [1, C, 1]: `1 / (amplitude + 1e-9)`.
    inverse_amplitude: Tensor,
}

impl Snake {
    pub fn new(channels: usize, use_beta: bool, vb: VarBuilder) -> Result<Self> {
        let alpha = vb.get(channels, "alpha")?.exp()?;
        let amplitude = if use_beta {
            vb.get(channels, "beta")?.exp()?
        } else {
            alpha.clone()
        };
        let inverse_amplitude = (amplitude + 1e-9)?.recip()?;
        Ok(Self {
            alpha: alpha.reshape((1, channels, 1))?,
            inverse_amplitude: inverse_amplitude.reshape((1, channels, 1))?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let waves = x.broadcast_mul(&self.alpha)?.sin()?.sqr()?;
        x + waves.broadcast_mul(&self.inverse_amplitude)?
    }
}
