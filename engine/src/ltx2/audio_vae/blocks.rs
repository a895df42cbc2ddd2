//! The audio VAE's layers over mel spectrograms `[B, C, time, mel]`:
//! diffusers' `LTX2AudioCausalConv2d`, pixel norm, ResNet and attention
//! blocks, and the strided-conv downsampler and nearest-neighbour upsampler,
//! each padding or trimming the causal axis as the reference does.

use candle_core::{Module, Result, Tensor};
use candle_nn::{conv2d, Conv2d, Conv2dConfig, VarBuilder};
use serde::Deserialize;

use crate::cpu_conv::{self, Padding2d};

/// Which axis is causal (`causality_axis`): time is the spectrogram's height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CausalityAxis {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "height")]
    Height,
    #[serde(rename = "width")]
    Width,
    #[serde(rename = "width-compatibility")]
    WidthCompatibility,
}

/// Pads (left, right, top, bottom) of the width (mel) and height (time) axes.
fn pad(x: &Tensor, (left, right, top, bottom): (usize, usize, usize, usize)) -> Result<Tensor> {
    x.pad_with_zeros(2, top, bottom)?
        .pad_with_zeros(3, left, right)
}

/// `LTX2AudioCausalConv2d`: zero padding all on one side of the causal axis.
#[derive(Debug, Clone)]
pub struct CausalConv2d {
    conv: Conv2d,
    padding: (usize, usize, usize, usize),
}

impl CausalConv2d {
    /// `vb` is the module's prefix; the weights live under `conv` as in diffusers.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        axis: CausalityAxis,
        vb: VarBuilder,
    ) -> Result<Self> {
        let p = kernel - 1;
        let padding = match axis {
            CausalityAxis::None => (p / 2, p - p / 2, p / 2, p - p / 2),
            CausalityAxis::Width | CausalityAxis::WidthCompatibility => (p, 0, p / 2, p - p / 2),
            CausalityAxis::Height => (p / 2, p - p / 2, p, 0),
        };
        Ok(Self {
            conv: conv2d(
                in_channels,
                out_channels,
                kernel,
                Conv2dConfig::default(),
                vb.pp("conv"),
            )?,
            padding,
        })
    }
}

impl Module for CausalConv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (left, right, top, bottom) = self.padding;
        let padding = Padding2d {
            top,
            bottom,
            left,
            right,
        };
        cpu_conv::conv2d(&self.conv, x, padding)
    }
}

/// `LTX2AudioPixelNorm(dim=1)`'s epsilon.
const PIXEL_NORM_EPS: f64 = 1e-6;

/// `LTX2AudioPixelNorm(dim=1)`: each position divided by its RMS over channels.
pub fn pixel_norm(x: &Tensor) -> Result<Tensor> {
    let rms = (x.sqr()?.mean_keepdim(1)? + PIXEL_NORM_EPS)?.sqrt()?;
    x.broadcast_div(&rms)
}

/// `silu(pixel_norm(x))`, in front of every conv of a block: one threaded
/// pass on the CPU (the video VAE's), where candle's ops were six passes
/// on one thread.
pub fn pixel_norm_silu(x: &Tensor) -> Result<Tensor> {
    crate::ltx::vae::norm_modulate_silu(x, PIXEL_NORM_EPS, None)
}

/// `LTX2AudioResnetBlock` (pixel norm, no timestep embedding).
#[derive(Debug, Clone)]
pub struct ResnetBlock {
    conv1: CausalConv2d,
    conv2: CausalConv2d,
    nin_shortcut: Option<CausalConv2d>,
}

impl ResnetBlock {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        axis: CausalityAxis,
        vb: VarBuilder,
    ) -> Result<Self> {
        let nin_shortcut = (in_channels != out_channels)
            .then(|| CausalConv2d::new(in_channels, out_channels, 1, axis, vb.pp("nin_shortcut")))
            .transpose()?;
        Ok(Self {
            conv1: CausalConv2d::new(in_channels, out_channels, 3, axis, vb.pp("conv1"))?,
            conv2: CausalConv2d::new(out_channels, out_channels, 3, axis, vb.pp("conv2"))?,
            nin_shortcut,
        })
    }
}

impl Module for ResnetBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&pixel_norm_silu(x)?)?;
        let h = self.conv2.forward(&pixel_norm_silu(&h)?)?;
        let shortcut = match &self.nin_shortcut {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        shortcut + h
    }
}

/// `LTX2AudioAttnBlock`: single-head attention over all positions, residual.
#[derive(Debug, Clone)]
pub struct AttnBlock {
    q: Conv2d,
    k: Conv2d,
    v: Conv2d,
    proj_out: Conv2d,
}

impl AttnBlock {
    pub fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        let conv = |name| conv2d(channels, channels, 1, Conv2dConfig::default(), vb.pp(name));
        Ok(Self {
            q: conv("q")?,
            k: conv("k")?,
            v: conv("v")?,
            proj_out: conv("proj_out")?,
        })
    }
}

impl Module for AttnBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let normed = pixel_norm(x)?;
        // (b, h·w, c) queries, (b, c, h·w) keys and values
        let q = self
            .q
            .forward(&normed)?
            .reshape((b, c, h * w))?
            .transpose(1, 2)?
            .contiguous()?;
        let k = self.k.forward(&normed)?.reshape((b, c, h * w))?;
        let v = self.v.forward(&normed)?.reshape((b, c, h * w))?;
        let scores = (q.matmul(&k)? * (c as f64).powf(-0.5))?;
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        // (b, c, h·w) = v · weightsᵀ
        let out = v
            .matmul(&weights.transpose(1, 2)?.contiguous()?)?
            .reshape((b, c, h, w))?;
        x + self.proj_out.forward(&out)?
    }
}

/// `LTX2AudioDownsample` with its conv: pad the causal side, 3×3 conv, stride 2.
#[derive(Debug, Clone)]
pub struct Downsample {
    conv: Conv2d,
    padding: (usize, usize, usize, usize),
}

impl Downsample {
    pub fn new(channels: usize, axis: CausalityAxis, vb: VarBuilder) -> Result<Self> {
        let padding = match axis {
            CausalityAxis::None => (0, 1, 0, 1),
            CausalityAxis::Width => (2, 0, 0, 1),
            CausalityAxis::Height => (0, 1, 2, 0),
            CausalityAxis::WidthCompatibility => (1, 0, 0, 1),
        };
        let cfg = Conv2dConfig {
            stride: 2,
            ..Default::default()
        };
        Ok(Self {
            conv: conv2d(channels, channels, 3, cfg, vb.pp("conv"))?,
            padding,
        })
    }
}

impl Module for Downsample {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.conv.forward(&pad(x, self.padding)?)
    }
}

/// `LTX2AudioUpsample` with its conv: nearest 2×, causal conv, the first
/// row (or column) on the causal axis dropped.
#[derive(Debug, Clone)]
pub struct Upsample {
    conv: CausalConv2d,
    axis: CausalityAxis,
}

impl Upsample {
    pub fn new(channels: usize, axis: CausalityAxis, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv: CausalConv2d::new(channels, channels, 3, axis, vb.pp("conv"))?,
            axis,
        })
    }
}

impl Module for Upsample {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let x = self.conv.forward(&x.upsample_nearest2d(2 * h, 2 * w)?)?;
        match self.axis {
            CausalityAxis::Height => x.narrow(2, 1, 2 * h - 1),
            CausalityAxis::Width => x.narrow(3, 1, 2 * w - 1),
            CausalityAxis::None | CausalityAxis::WidthCompatibility => Ok(x),
        }
    }
}
