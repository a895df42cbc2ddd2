//! The 0.9.1+ resamplers: a conv followed by depth-to-space (up) or space-to-depth
//! (down), with a parameter-free residual made by the same shuffle.

use std::mem::MaybeUninit;

use candle_core::{DType, Device, Module, Result, Storage, Tensor};
use candle_nn::VarBuilder;

use super::conv3d::CausalConv3d;

/// `[b, c, t*st, h*sh, w*sw]` -> `[b, c*st*sh*sw, t, h, w]`, sub-positions outermost
/// after the channel (diffusers' `LTXVideoDownsampler3d` shuffle).
fn space_to_depth(x: &Tensor, (st, sh, sw): (usize, usize, usize)) -> Result<Tensor> {
    let (b, c, t, h, w) = x.dims5()?;
    let (t2, h2, w2) = (t / st, h / sh, w / sw);
    // (b, c, t2, st, h2, sh, w2, sw) -> (b, c, st, sh, sw, t2, h2, w2)
    x.reshape(vec![b, c, t2, st, h2, sh, w2, sw])?
        .permute(vec![0, 1, 3, 5, 7, 2, 4, 6])?
        .reshape((b, c * st * sh * sw, t2, h2, w2))
}

/// `[b, c*st*sh*sw, t, h, w]` -> `[b, c, t*st, h*sh, w*sw]` (the inverse of [`space_to_depth`]).
fn depth_to_space(x: &Tensor, (st, sh, sw): (usize, usize, usize)) -> Result<Tensor> {
    let (b, cs, t, h, w) = x.dims5()?;
    let c = cs / (st * sh * sw);
    // (b, c, st, sh, sw, t, h, w) -> (b, c, t, st, h, sh, w, sw)
    x.reshape(vec![b, c, st, sh, sw, t, h, w])?
        .permute(vec![0, 1, 5, 2, 6, 3, 7, 4])?
        .reshape((b, c, t * st, h * sh, w * sw))
}

/// [`depth_to_space`] then dropping the first `skip` frames, as one threaded pass
/// for contiguous f32 on the CPU (candle's 8-D permute copies element by element
/// on one thread); `None` elsewhere.
fn depth_to_space_cpu(
    x: &Tensor,
    (st, sh, sw): (usize, usize, usize),
    skip: usize,
) -> Result<Option<Tensor>> {
    if !x.device().is_cpu() || x.dtype() != DType::F32 || !x.is_contiguous() {
        return Ok(None);
    }
    let (b, cs, t, h, w) = x.dims5()?;
    let c = cs / (st * sh * sw);
    let (t_out, h_out, w_out) = ((t * st).saturating_sub(skip), h * sh, w * sw);
    let (storage, layout) = x.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        return Ok(None);
    };
    let src = &cpu.as_slice::<f32>()?[layout.start_offset()..][..b * cs * t * h * w];
    let plane = h_out * w_out;
    let planes = b * c * t_out;
    // Output plane (bi, ci, tt) row yy, column xx reads channel ((ci·st + i)·sh + k)·sw + j
    // of input frame t, row y, column x, where tt + skip = t·st + i, yy = y·sh + k, xx = x·sw + j.
    let fill = |first: usize, block: &mut [MaybeUninit<f32>]| {
        for (n, out_plane) in block.chunks_mut(plane).enumerate() {
            let p = first + n;
            let (bi, rest) = (p / (c * t_out), p % (c * t_out));
            let (ci, tt) = (rest / t_out, rest % t_out);
            let (ti, i) = ((tt + skip) / st, (tt + skip) % st);
            for (yy, out_row) in out_plane.chunks_mut(w_out).enumerate() {
                let (y, k) = (yy / sh, yy % sh);
                for j in 0..sw {
                    let ch = ((ci * st + i) * sh + k) * sw + j;
                    let row = &src[(((bi * cs + ch) * t + ti) * h + y) * w..][..w];
                    for (x, &v) in row.iter().enumerate() {
                        out_row[x * sw + j].write(v);
                    }
                }
            }
        }
    };
    // SAFETY: for every output row, the loops over j and x write each of
    // its w_out = w · sw values.
    let out = unsafe { crate::cpu_parallel::fill_rows(planes, plane, fill) };
    drop(storage);
    Ok(Some(Tensor::from_vec(
        out,
        (b, c, t_out, h_out, w_out),
        &Device::Cpu,
    )?))
}

/// `LTXVideoDownsampler3d`: conv to `out / stride` channels, space-to-depth, plus the
/// input's space-to-depth averaged over groups of channels down to `out`.
#[derive(Debug, Clone)]
pub struct Downsampler3d {
    conv: CausalConv3d,
    stride: (usize, usize, usize),
    group_size: usize,
}

impl Downsampler3d {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        stride: (usize, usize, usize),
        is_causal: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let volume = stride.0 * stride.1 * stride.2;
        if !out_channels.is_multiple_of(volume)
            || !(in_channels * volume).is_multiple_of(out_channels)
        {
            candle_core::bail!(
                "downsampler from {in_channels} to {out_channels} channels with stride {stride:?}: widths do not divide"
            );
        }
        let conv = CausalConv3d::new(
            in_channels,
            out_channels / volume,
            (3, 3, 3),
            (1, 1, 1),
            is_causal,
            vb.pp("conv"),
        )?;
        Ok(Self {
            conv,
            stride,
            group_size: in_channels * volume / out_channels,
        })
    }
}

impl Module for Downsampler3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let st = self.stride.0;
        // Repeat the first st - 1 frames in front so the frame count divides by st.
        let x = Tensor::cat(&[&x.narrow(2, 0, st - 1)?, x], 2)?;
        let residual = space_to_depth(&x, self.stride)?;
        let (b, cs, t, h, w) = residual.dims5()?;
        // Mean over consecutive groups of group_size channels.
        let residual = residual
            .reshape(vec![b, cs / self.group_size, self.group_size, t, h, w])?
            .mean(2)?;
        space_to_depth(&self.conv.forward(&x)?, self.stride)? + residual
    }
}

/// `LTXVideoUpsampler3d`: conv to `in * 8 / upscale_factor` channels, depth-to-space by 2
/// in time, height and width, dropping the first `st - 1` frames; optionally plus the
/// input's depth-to-space tiled over channels.
#[derive(Debug, Clone)]
pub struct Upsampler3d {
    conv: CausalConv3d,
    stride: (usize, usize, usize),
    residual: bool,
}

impl Upsampler3d {
    pub fn new(
        in_channels: usize,
        stride: (usize, usize, usize),
        is_causal: bool,
        residual: bool,
        upscale_factor: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let volume = stride.0 * stride.1 * stride.2;
        if residual
            && (!in_channels.is_multiple_of(volume) || !volume.is_multiple_of(upscale_factor))
        {
            candle_core::bail!(
                "residual upsampler of {in_channels} channels needs a width divisible by {volume}"
            );
        }
        let conv = CausalConv3d::new(
            in_channels,
            in_channels * volume / upscale_factor,
            (3, 3, 3),
            (1, 1, 1),
            is_causal,
            vb.pp("conv"),
        )?;
        Ok(Self {
            conv,
            stride,
            residual,
        })
    }
}

impl Module for Upsampler3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let drop = self.stride.0 - 1;
        let shuffle = |x: &Tensor| -> Result<Tensor> {
            if let Some(y) = depth_to_space_cpu(x, self.stride, drop)? {
                return Ok(y);
            }
            let y = depth_to_space(x, self.stride)?;
            y.narrow(2, drop, y.dim(2)? - drop)
        };
        let h = shuffle(&self.conv.forward(x)?)?;
        if !self.residual {
            return Ok(h);
        }
        // torch's repeat tiles whole copies of the shortcut along the channels.
        super::cpu_ops::add_tiled_channels(&h, &shuffle(x)?)
    }
}
