//! The down, mid and up blocks of diffusers' `autoencoder_kl_ltx.py`.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::config::DownsampleType;
use super::conv3d::CausalConv3d;
use super::layers::{DecoderNoise, TimestepEmbedder, ZeroNoise};
use super::resnet::{ResnetBlock3d, ResnetContext};
use super::sampling::{Downsampler3d, Upsampler3d};

fn resnets(
    channels: usize,
    layers: usize,
    eps: f64,
    is_causal: bool,
    inject_noise: bool,
    timestep_conditioning: bool,
    vb: VarBuilder,
) -> Result<Vec<ResnetBlock3d>> {
    (0..layers)
        .map(|i| {
            ResnetBlock3d::new(
                channels,
                channels,
                eps,
                is_causal,
                inject_noise,
                timestep_conditioning,
                vb.pp(i),
            )
        })
        .collect()
}

/// Encoder resnets take neither a timestep nor noise.
fn no_context(noise: &mut ZeroNoise) -> ResnetContext<'_> {
    ResnetContext { temb: None, noise }
}

/// How an encoder block reduces its input.
#[derive(Debug, Clone)]
enum Downsampler {
    /// 0.9.0/0.9.1: a causal conv with stride 2 in every axis.
    StridedConv(CausalConv3d),
    /// 0.9.5+: space-to-depth with a residual.
    Shuffle(Downsampler3d),
}

/// `LTXVideoDownBlock3D` (0.9.0/0.9.1) and `LTXVideo095DownBlock3D` (0.9.5+).
#[derive(Debug, Clone)]
pub struct DownBlock {
    resnets: Vec<ResnetBlock3d>,
    downsampler: Option<Downsampler>,
    /// 0.9.0/0.9.1 only: a resnet that changes the width at the end of the block.
    conv_out: Option<ResnetBlock3d>,
}

impl DownBlock {
    /// `LTXVideoDownBlock3D`: resnets at the input width, a strided conv, a width-changing resnet.
    pub fn new_v090(
        in_channels: usize,
        out_channels: usize,
        layers: usize,
        eps: f64,
        downsample: bool,
        is_causal: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let resnets = resnets(
            in_channels,
            layers,
            eps,
            is_causal,
            false,
            false,
            vb.pp("resnets"),
        )?;
        let downsampler = if downsample {
            Some(Downsampler::StridedConv(CausalConv3d::new(
                in_channels,
                in_channels,
                (3, 3, 3),
                (2, 2, 2),
                is_causal,
                vb.pp("downsamplers.0"),
            )?))
        } else {
            None
        };
        let conv_out = if in_channels != out_channels {
            Some(ResnetBlock3d::new(
                in_channels,
                out_channels,
                eps,
                is_causal,
                false,
                false,
                vb.pp("conv_out"),
            )?)
        } else {
            None
        };
        Ok(Self {
            resnets,
            downsampler,
            conv_out,
        })
    }

    /// `LTXVideo095DownBlock3D`: resnets at the input width, then a downsampler to the output width.
    #[allow(clippy::too_many_arguments)]
    pub fn new_v095(
        in_channels: usize,
        out_channels: usize,
        layers: usize,
        eps: f64,
        downsample: bool,
        is_causal: bool,
        downsample_type: DownsampleType,
        vb: VarBuilder,
    ) -> Result<Self> {
        let resnets = resnets(
            in_channels,
            layers,
            eps,
            is_causal,
            false,
            false,
            vb.pp("resnets"),
        )?;
        let vb_down = vb.pp("downsamplers.0");
        let downsampler = match (downsample, downsample_type) {
            (false, _) => None,
            (true, DownsampleType::Conv) => Some(Downsampler::StridedConv(CausalConv3d::new(
                in_channels,
                in_channels,
                (3, 3, 3),
                (2, 2, 2),
                is_causal,
                vb_down,
            )?)),
            (true, kind) => Some(Downsampler::Shuffle(Downsampler3d::new(
                in_channels,
                out_channels,
                kind.stride(),
                is_causal,
                vb_down,
            )?)),
        };
        Ok(Self {
            resnets,
            downsampler,
            conv_out: None,
        })
    }
}

impl Module for DownBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut noise = ZeroNoise;
        let mut h = x.clone();
        for resnet in &self.resnets {
            h = resnet.forward(&h, &mut no_context(&mut noise))?;
        }
        h = match &self.downsampler {
            Some(Downsampler::StridedConv(conv)) => conv.forward(&h)?,
            Some(Downsampler::Shuffle(down)) => down.forward(&h)?,
            None => h,
        };
        match &self.conv_out {
            Some(resnet) => resnet.forward(&h, &mut no_context(&mut noise)),
            None => Ok(h),
        }
    }
}

/// Embeds the (scaled) timestep for one block: `[b]` -> `[b, dim, 1, 1, 1]`.
fn block_temb(
    embedder: &Option<TimestepEmbedder>,
    temb: Option<&Tensor>,
    x: &Tensor,
) -> Result<Option<Tensor>> {
    match (embedder, temb) {
        (Some(embedder), Some(t)) => {
            let e = embedder.forward(&t.flatten_all()?, x.dtype())?;
            let (b, dim) = e.dims2()?;
            if b != x.dim(0)? {
                candle_core::bail!("{b} timesteps for a batch of {}", x.dim(0)?);
            }
            Ok(Some(e.reshape((b, dim, 1, 1, 1))?))
        }
        (Some(_), None) => {
            candle_core::bail!("this VAE decoder is timestep-conditioned: pass a timestep")
        }
        (None, _) => Ok(None),
    }
}

/// `LTXVideoMidBlock3d`: resnets at one width, timestep-conditioned in 0.9.1+ decoders.
#[derive(Debug, Clone)]
pub struct MidBlock {
    time_embedder: Option<TimestepEmbedder>,
    resnets: Vec<ResnetBlock3d>,
}

impl MidBlock {
    pub fn new(
        channels: usize,
        layers: usize,
        eps: f64,
        is_causal: bool,
        inject_noise: bool,
        timestep_conditioning: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let time_embedder = if timestep_conditioning {
            Some(TimestepEmbedder::new(channels * 4, vb.pp("time_embedder"))?)
        } else {
            None
        };
        let resnets = resnets(
            channels,
            layers,
            eps,
            is_causal,
            inject_noise,
            timestep_conditioning,
            vb.pp("resnets"),
        )?;
        Ok(Self {
            time_embedder,
            resnets,
        })
    }

    /// `temb` is the decoder's scaled timestep `[b]` (None in the encoder).
    pub fn forward(
        &self,
        x: &Tensor,
        temb: Option<&Tensor>,
        noise: &mut dyn DecoderNoise,
    ) -> Result<Tensor> {
        let temb = block_temb(&self.time_embedder, temb, x)?;
        let mut ctx = ResnetContext {
            temb: temb.as_ref(),
            noise,
        };
        let mut h = x.clone();
        for resnet in &self.resnets {
            h = resnet.forward(&h, &mut ctx)?;
        }
        Ok(h)
    }
}

/// `LTXVideoUpBlock3d`: [a width-changing resnet], [an upsampler], resnets.
#[derive(Debug, Clone)]
pub struct UpBlock {
    time_embedder: Option<TimestepEmbedder>,
    conv_in: Option<ResnetBlock3d>,
    upsampler: Option<Upsampler3d>,
    resnets: Vec<ResnetBlock3d>,
}

/// The per-block settings of [`UpBlock::new`] (diffusers' keyword arguments).
#[derive(Debug, Clone, Copy)]
pub struct UpBlockConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub layers: usize,
    pub eps: f64,
    pub upsample: bool,
    pub is_causal: bool,
    pub inject_noise: bool,
    pub timestep_conditioning: bool,
    pub upsample_residual: bool,
    pub upscale_factor: usize,
}

impl UpBlock {
    pub fn new(c: &UpBlockConfig, vb: VarBuilder) -> Result<Self> {
        let time_embedder = if c.timestep_conditioning {
            Some(TimestepEmbedder::new(
                c.in_channels * 4,
                vb.pp("time_embedder"),
            )?)
        } else {
            None
        };
        let conv_in = if c.in_channels != c.out_channels {
            Some(ResnetBlock3d::new(
                c.in_channels,
                c.out_channels,
                c.eps,
                c.is_causal,
                c.inject_noise,
                c.timestep_conditioning,
                vb.pp("conv_in"),
            )?)
        } else {
            None
        };
        let upsampler = if c.upsample {
            Some(Upsampler3d::new(
                c.out_channels * c.upscale_factor,
                (2, 2, 2),
                c.is_causal,
                c.upsample_residual,
                c.upscale_factor,
                vb.pp("upsamplers.0"),
            )?)
        } else {
            None
        };
        let resnets = resnets(
            c.out_channels,
            c.layers,
            c.eps,
            c.is_causal,
            c.inject_noise,
            c.timestep_conditioning,
            vb.pp("resnets"),
        )?;
        Ok(Self {
            time_embedder,
            conv_in,
            upsampler,
            resnets,
        })
    }

    pub fn forward(
        &self,
        x: &Tensor,
        temb: Option<&Tensor>,
        noise: &mut dyn DecoderNoise,
    ) -> Result<Tensor> {
        let mut h = x.clone();
        if let Some(conv_in) = &self.conv_in {
            // As in diffusers, conv_in sees the raw timestep, not this block's embedding (and
            // no released config has both a width change here and timestep conditioning).
            let mut ctx = ResnetContext {
                temb,
                noise: &mut *noise,
            };
            h = conv_in.forward(&h, &mut ctx)?;
        }
        let temb = block_temb(&self.time_embedder, temb, &h)?;
        if let Some(upsampler) = &self.upsampler {
            h = upsampler.forward(&h)?;
        }
        let mut ctx = ResnetContext {
            temb: temb.as_ref(),
            noise,
        };
        for resnet in &self.resnets {
            h = resnet.forward(&h, &mut ctx)?;
        }
        Ok(h)
    }
}
