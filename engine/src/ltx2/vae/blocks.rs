//! The LTX-2 video VAE's layers (diffusers' `LTX2Video*` modules) over
//! `[B, C, frames, height, width]`: the causal conv with its spatial padding
//! mode, per-channel RMS norm, ResNet blocks, space-to-depth downsamplers,
//! depth-to-space upsamplers and the down, mid and up blocks.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::config::PaddingMode;
use crate::ltx::vae::CausalConv3d;

/// `LTX2VideoCausalConv3d`: [`CausalConv3d`] (which pads height and width with
/// zeros) after a one-pixel reflection when the mode is `reflect`; the extra
/// border the zeros add is cropped, leaving exactly the reflect-padded conv.
#[derive(Debug, Clone)]
pub struct Conv3d {
    conv: CausalConv3d,
    reflect: bool,
}

impl Conv3d {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        stride: (usize, usize, usize),
        causal: bool,
        padding: PaddingMode,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            conv: CausalConv3d::new(in_channels, out_channels, (3, 3, 3), stride, causal, vb)?,
            reflect: padding == PaddingMode::Reflect,
        })
    }
}

/// Reflection by one element on both ends of `dim` (the edge not repeated).
fn reflect_pad(x: &Tensor, dim: usize) -> Result<Tensor> {
    let n = x.dim(dim)?;
    if n < 2 {
        candle_core::bail!("reflect padding needs at least 2 elements, got {n}");
    }
    Tensor::cat(
        &[x.narrow(dim, 1, 1)?, x.clone(), x.narrow(dim, n - 2, 1)?],
        dim,
    )
}

impl Module for Conv3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.reflect {
            return self.conv.forward(x);
        }
        if let Some(y) = self.conv.forward_reflect_cpu(x)? {
            return Ok(y);
        }
        let (_, _, _, h, w) = x.dims5()?;
        let padded = reflect_pad(&reflect_pad(x, 3)?, 4)?;
        self.conv.forward(&padded)?.narrow(3, 1, h)?.narrow(4, 1, w)
    }
}

/// `silu(PerChannelRMSNorm(x))` in front of every conv: each position divided
/// by its RMS over channels (eps 1e-8), then SiLU; one threaded pass on the CPU.
pub fn norm_silu(x: &Tensor) -> Result<Tensor> {
    crate::ltx::vae::norm_modulate_silu(x, 1e-8, None)
}

/// A 1×1×1 convolution (`nn.Conv3d(kernel_size=1)`) as a channel matmul.
#[derive(Debug, Clone)]
struct PointwiseConv3d {
    /// [out, in]
    weight: Tensor,
    /// [out, 1]
    bias: Tensor,
}

impl PointwiseConv3d {
    fn new(in_channels: usize, out_channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb
                .get((out_channels, in_channels, 1, 1, 1), "weight")?
                .reshape((out_channels, in_channels))?,
            bias: vb.get(out_channels, "bias")?.reshape((out_channels, 1))?,
        })
    }
}

impl Module for PointwiseConv3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, t, h, w) = x.dims5()?;
        let out = self.weight.dim(0)?;
        // (b, c, t·h·w) → (b, out, t·h·w)
        let y = self
            .weight
            .broadcast_matmul(&x.reshape((b, c, t * h * w))?)?
            .broadcast_add(&self.bias)?;
        y.reshape((b, out, t, h, w))
    }
}

/// LayerNorm over channels with affine parameters (`norm3`).
#[derive(Debug, Clone)]
struct ChannelLayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl Module for ChannelLayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // channels last for the norm, then back
        let y = x.permute((0, 2, 3, 4, 1))?.contiguous()?;
        let y = candle_nn::ops::layer_norm(&y, &self.weight, &self.bias, self.eps)?;
        y.permute((0, 4, 1, 2, 3))?.contiguous()
    }
}

/// `LTX2VideoResnetBlock3d` (no timestep conditioning, no noise injection).
#[derive(Debug, Clone)]
pub struct ResnetBlock {
    conv1: Conv3d,
    conv2: Conv3d,
    shortcut: Option<(ChannelLayerNorm, PointwiseConv3d)>,
}

impl ResnetBlock {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        eps: f64,
        causal: bool,
        padding: PaddingMode,
        vb: VarBuilder,
    ) -> Result<Self> {
        let shortcut = if in_channels != out_channels {
            let norm = vb.pp("norm3");
            Some((
                ChannelLayerNorm {
                    weight: norm.get(in_channels, "weight")?,
                    bias: norm.get(in_channels, "bias")?,
                    eps: eps as f32,
                },
                PointwiseConv3d::new(in_channels, out_channels, vb.pp("conv_shortcut"))?,
            ))
        } else {
            None
        };
        let unit = (1, 1, 1);
        Ok(Self {
            conv1: Conv3d::new(
                in_channels,
                out_channels,
                unit,
                causal,
                padding,
                vb.pp("conv1"),
            )?,
            conv2: Conv3d::new(
                out_channels,
                out_channels,
                unit,
                causal,
                padding,
                vb.pp("conv2"),
            )?,
            shortcut,
        })
    }
}

impl Module for ResnetBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&norm_silu(x)?)?;
        let h = self.conv2.forward(&norm_silu(&h)?)?;
        let input = match &self.shortcut {
            Some((norm, conv)) => conv.forward(&norm.forward(x)?)?,
            None => x.clone(),
        };
        h + input
    }
}

/// Space-to-depth: [B, C, T·st, H·sh, W·sw] → [B, C·st·sh·sw, T, H, W], channel-major.
fn space_to_depth(x: &Tensor, (st, sh, sw): (usize, usize, usize)) -> Result<Tensor> {
    let (b, c, t, h, w) = x.dims5()?;
    let (t2, h2, w2) = (t / st, h / sh, w / sw);
    // (b, c, t', st, h', sh, w', sw) → (b, c, st, sh, sw, t', h', w')
    x.reshape((b * c, t2, st, h2, sh, w2 * sw))?
        .reshape((b * c * t2, st, h2, sh, w2, sw))?
        .permute((0, 1, 3, 5, 2, 4))? // (b·c·t', st, sh, sw, h', w')
        .contiguous()?
        .reshape((b, c, t2, st * sh * sw, h2 * w2))?
        .permute((0, 1, 3, 2, 4))? // (b, c, st·sh·sw, t', h'·w')
        .contiguous()?
        .reshape((b, c * st * sh * sw, t2, h2, w2))
}

/// Depth-to-space, the inverse: [B, C·st·sh·sw, T, H, W] → [B, C, T·st, H·sh, W·sw].
fn depth_to_space(x: &Tensor, (st, sh, sw): (usize, usize, usize)) -> Result<Tensor> {
    let (b, cp, t, h, w) = x.dims5()?;
    let c = cp / (st * sh * sw);
    // (b, c, st, sh, sw, t, h, w) → (b, c, t, st, h, sh, w, sw)
    x.reshape((b * c, st * sh * sw, t, h * w))?
        .permute((0, 2, 1, 3))? // (b·c, t, st·sh·sw, h·w)
        .contiguous()?
        .reshape((b * c * t, st, sh, sw, h, w))?
        .permute((0, 1, 4, 2, 5, 3))? // (b·c·t, st, h, sh, w, sw)
        .contiguous()?
        .reshape((b, c, t * st, h * sh, w * sw))
}

/// `LTX2VideoDownsampler3d`: space-to-depth of a conv's output plus the
/// group-averaged space-to-depth of the input.
#[derive(Debug, Clone)]
pub struct Downsampler {
    conv: Conv3d,
    stride: (usize, usize, usize),
    group_size: usize,
}

impl Downsampler {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        stride: (usize, usize, usize),
        causal: bool,
        padding: PaddingMode,
        vb: VarBuilder,
    ) -> Result<Self> {
        let factor = stride.0 * stride.1 * stride.2;
        if !(in_channels * factor).is_multiple_of(out_channels)
            || !out_channels.is_multiple_of(factor)
        {
            candle_core::bail!(
                "downsampler from {in_channels} to {out_channels} channels by {stride:?} does not divide evenly"
            );
        }
        Ok(Self {
            conv: Conv3d::new(
                in_channels,
                out_channels / factor,
                (1, 1, 1),
                causal,
                padding,
                vb.pp("conv"),
            )?,
            stride,
            group_size: in_channels * factor / out_channels,
        })
    }
}

impl Module for Downsampler {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // The first frame repeated so that time divides by the stride.
        let x = if self.stride.0 > 1 {
            Tensor::cat(&[x.narrow(2, 0, self.stride.0 - 1)?, x.clone()], 2)?
        } else {
            x.clone()
        };
        let residual = space_to_depth(&x, self.stride)?;
        let (b, c, t, h, w) = residual.dims5()?;
        let residual = residual
            .reshape((b, c / self.group_size, self.group_size, t, h, w))?
            .mean(2)?;
        let y = space_to_depth(&self.conv.forward(&x)?, self.stride)?;
        y + residual
    }
}

/// `LTX2VideoUpsampler3d`: a conv, depth-to-space, the first frames dropped;
/// optionally plus the input itself depth-to-spaced and repeated over channels.
#[derive(Debug, Clone)]
pub struct Upsampler {
    conv: Conv3d,
    stride: (usize, usize, usize),
    residual: bool,
    upscale_factor: usize,
}

impl Upsampler {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        in_channels: usize,
        stride: (usize, usize, usize),
        residual: bool,
        upscale_factor: usize,
        causal: bool,
        padding: PaddingMode,
        vb: VarBuilder,
    ) -> Result<Self> {
        let factor = stride.0 * stride.1 * stride.2;
        Ok(Self {
            conv: Conv3d::new(
                in_channels,
                in_channels * factor / upscale_factor,
                (1, 1, 1),
                causal,
                padding,
                vb.pp("conv"),
            )?,
            stride,
            residual,
            upscale_factor,
        })
    }
}

impl Module for Upsampler {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let factor = self.stride.0 * self.stride.1 * self.stride.2;
        let drop_frames = |y: Tensor| -> Result<Tensor> {
            let t = y.dim(2)?;
            y.narrow(2, self.stride.0 - 1, t - (self.stride.0 - 1))
        };
        let residual = if self.residual {
            let spread = depth_to_space(x, self.stride)?;
            let repeats = factor / self.upscale_factor;
            let spread = if repeats > 1 {
                Tensor::cat(&vec![spread; repeats], 1)?
            } else {
                spread
            };
            Some(drop_frames(spread)?)
        } else {
            None
        };
        let y = drop_frames(depth_to_space(&self.conv.forward(x)?, self.stride)?)?;
        match residual {
            Some(r) => y + r,
            None => Ok(y),
        }
    }
}
