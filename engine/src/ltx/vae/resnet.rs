//! `LTXVideoResnetBlock3d`: two (norm, [timestep modulation], SiLU, conv, [noise]) stages
//! and a shortcut that is a LayerNorm + 1x1x1 conv when the width changes.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::conv3d::CausalConv3d;
use super::cpu_ops::norm_modulate_silu;
use super::layers::{ChannelLayerNorm, DecoderNoise};

/// The epsilon of the RMS norms inside the resnets and at the encoder/decoder outputs.
pub(crate) const PIXEL_NORM_EPS: f64 = 1e-8;

#[derive(Debug, Clone)]
pub struct ResnetBlock3d {
    conv1: CausalConv3d,
    conv2: CausalConv3d,
    shortcut: Option<(ChannelLayerNorm, CausalConv3d)>,
    /// Per-channel scales of the noise added after conv1 and conv2 (`[c, 1, 1]` each).
    noise_scales: Option<(Tensor, Tensor)>,
    /// `[4, c]`: added to the block's timestep embedding, giving shift1, scale1, shift2, scale2.
    scale_shift_table: Option<Tensor>,
    channels: usize,
}

/// What a resnet needs besides its input: the block's timestep embedding `[b, 4 * c, 1, 1, 1]`
/// (timestep-conditioned decoders) and the noise source (decoders with noise injection).
pub struct ResnetContext<'a> {
    pub temb: Option<&'a Tensor>,
    pub noise: &'a mut dyn DecoderNoise,
}

impl ResnetBlock3d {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        eps: f64,
        is_causal: bool,
        inject_noise: bool,
        timestep_conditioning: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let k3 = (3, 3, 3);
        let conv1 = CausalConv3d::new(
            in_channels,
            out_channels,
            k3,
            (1, 1, 1),
            is_causal,
            vb.pp("conv1"),
        )?;
        let conv2 = CausalConv3d::new(
            out_channels,
            out_channels,
            k3,
            (1, 1, 1),
            is_causal,
            vb.pp("conv2"),
        )?;
        let shortcut = if in_channels != out_channels {
            Some((
                ChannelLayerNorm::new(in_channels, eps, vb.pp("norm3"))?,
                CausalConv3d::new(
                    in_channels,
                    out_channels,
                    (1, 1, 1),
                    (1, 1, 1),
                    is_causal,
                    vb.pp("conv_shortcut"),
                )?,
            ))
        } else {
            None
        };
        let noise_scales = if inject_noise {
            Some((
                vb.get((in_channels, 1, 1), "per_channel_scale1")?,
                vb.get((in_channels, 1, 1), "per_channel_scale2")?,
            ))
        } else {
            None
        };
        let scale_shift_table = if timestep_conditioning {
            Some(vb.get((4, in_channels), "scale_shift_table")?)
        } else {
            None
        };
        Ok(Self {
            conv1,
            conv2,
            shortcut,
            noise_scales,
            scale_shift_table,
            channels: in_channels,
        })
    }

    pub fn forward(&self, x: &Tensor, ctx: &mut ResnetContext) -> Result<Tensor> {
        let modulation = match (&self.scale_shift_table, ctx.temb) {
            (Some(table), Some(temb)) => {
                let b = temb.dim(0)?;
                // (b, 4c, 1, 1, 1) -> (b, 4, c, 1, 1, 1), plus the table's (1, 4, c, 1, 1, 1)
                let temb = temb.reshape((b, 4, self.channels, 1, 1, 1))?;
                let table = table
                    .reshape((1, 4, self.channels, 1, 1, 1))?
                    .to_dtype(temb.dtype())?;
                let m = temb.broadcast_add(&table)?;
                let part = |i: usize| m.narrow(1, i, 1)?.squeeze(1);
                Some([part(0)?, part(1)?, part(2)?, part(3)?])
            }
            (Some(_), None) => {
                candle_core::bail!("this VAE decoder is timestep-conditioned: pass a timestep")
            }
            _ => None,
        };

        let m = modulation.as_ref();
        let h = norm_modulate_silu(x, PIXEL_NORM_EPS, m.map(|m| (&m[0], &m[1])))?;
        let mut h = self.conv1.forward(&h)?;
        if let Some((scale1, _)) = &self.noise_scales {
            h = add_spatial_noise(&h, scale1, ctx.noise)?;
        }
        let h = norm_modulate_silu(&h, PIXEL_NORM_EPS, m.map(|m| (&m[2], &m[3])))?;
        let mut h = self.conv2.forward(&h)?;
        if let Some((_, scale2)) = &self.noise_scales {
            h = add_spatial_noise(&h, scale2, ctx.noise)?;
        }
        let residual = match &self.shortcut {
            Some((norm, conv)) => conv.forward(&norm.forward(x)?)?,
            None => x.clone(),
        };
        super::cpu_ops::add_tiled_channels(&h, &residual)
    }
}

/// Adds one `[h, w]` noise field, scaled per channel, to every batch item and frame.
fn add_spatial_noise(x: &Tensor, scale: &Tensor, noise: &mut dyn DecoderNoise) -> Result<Tensor> {
    let (_, c, _, h, w) = x.dims5()?;
    let field = noise.spatial_noise(h, w, x.device())?.to_dtype(x.dtype())?;
    // (c, 1, 1) * (1, h, w) -> (1, c, 1, h, w)
    let scaled = scale
        .to_dtype(x.dtype())?
        .broadcast_mul(&field.unsqueeze(0)?)?
        .reshape((1, c, 1, h, w))?;
    x.broadcast_add(&scaled)
}
