//! `LTXVideoCausalConv3d`: a 3D convolution, which candle lacks, as im2col + matmuls.
//!
//! Time is padded by repeating the edge frames (all on the left when causal, split
//! evenly otherwise), height and width with zeros, as diffusers does. The kernel's
//! spatial taps are gathered into a `[kh * kw * in, frames * h * w]` column matrix over
//! the padded frames; each temporal tap `dt` is then one matmul of its weight slice
//! `[out, kh * kw * in]` with the columns of frames `dt..dt + t` (a contiguous column
//! range), summed. That copies the input `kh * kw` times rather than `kt * kh * kw`
//! times, and the output comes out in `[out, t, h, w]` order with no transpose. Long
//! videos are done a few frames at a time so the column matrix stays bounded.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

/// Most elements of one column matrix (1 GiB in f32); larger inputs are split by frames.
const MAX_COLUMN_ELEMENTS: usize = 1 << 28;

#[derive(Debug, Clone)]
pub struct CausalConv3d {
    /// One `[out, kh * kw * in]` matrix per temporal tap, rows ordered like the columns.
    pub(super) weights: Vec<Tensor>,
    pub(super) bias: Tensor,
    pub(super) kernel: (usize, usize, usize),
    pub(super) stride: (usize, usize, usize),
    pub(super) in_channels: usize,
    pub(super) out_channels: usize,
    pub(super) is_causal: bool,
}

impl CausalConv3d {
    /// `vb` is the module's own prefix; the weights live under `vb.pp("conv")` as in diffusers.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize, usize),
        stride: (usize, usize, usize),
        is_causal: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let vb = vb.pp("conv");
        let (kt, kh, kw) = kernel;
        let weight = vb.get((out_channels, in_channels, kt, kh, kw), "weight")?;
        // (out, in, kt, kh, kw) -> (kt, out, kh, kw, in)
        let weight = weight.permute((2, 0, 3, 4, 1))?;
        let weights = (0..kt)
            .map(|dt| {
                weight
                    .get(dt)?
                    .reshape((out_channels, kh * kw * in_channels))?
                    .contiguous()
            })
            .collect::<Result<Vec<_>>>()?;
        let bias = vb.get(out_channels, "bias")?.reshape((out_channels, 1))?;
        Ok(Self {
            weights,
            bias,
            kernel,
            stride,
            in_channels,
            out_channels,
            is_causal,
        })
    }

    /// Output frames `t0..t0 + frames`: `x` is `[in, t_pad, h_pad, w_pad]` (already padded).
    fn conv_frames(
        &self,
        x: &Tensor,
        t0: usize,
        frames: usize,
        h: usize,
        w: usize,
    ) -> Result<Tensor> {
        let (kt, kh, kw) = self.kernel;
        let span = frames + kt - 1;
        let window = x.narrow(1, t0, span)?;
        let cols = if kh * kw == 1 {
            window.contiguous()?
        } else {
            let mut taps = Vec::with_capacity(kh * kw);
            for dh in 0..kh {
                for dw in 0..kw {
                    taps.push(window.narrow(2, dh, h)?.narrow(3, dw, w)?.unsqueeze(0)?);
                }
            }
            // (kh * kw, in, span, h, w): concatenating on dim 0 is one strided copy per tap.
            Tensor::cat(&taps, 0)?
        };
        let cols = cols.reshape((kh * kw * self.in_channels, span * h * w))?;
        let mut y: Option<Tensor> = None;
        for (dt, weight) in self.weights.iter().enumerate() {
            let shifted = cols.narrow(1, dt * h * w, frames * h * w)?;
            // The CPU matmul takes a row stride; other backends want contiguous operands.
            let shifted = if shifted.device().is_cpu() {
                shifted
            } else {
                shifted.contiguous()?
            };
            let term = weight.matmul(&shifted)?;
            y = Some(match y {
                Some(acc) => (acc + term)?,
                None => term,
            });
        }
        let y = y.ok_or_else(|| candle_core::Error::Msg("conv3d with no temporal taps".into()))?;
        y.broadcast_add(&self.bias)?
            .reshape((self.out_channels, frames, h, w))
    }
}

impl CausalConv3d {
    /// The convolution with height and width padded by reflection instead of
    /// zeros, where the CPU f32 path applies (stride 1); `None` elsewhere, for
    /// the caller to pad and crop itself.
    pub fn forward_reflect_cpu(&self, x: &Tensor) -> Result<Option<Tensor>> {
        let fits = x.device().is_cpu()
            && x.dtype() == DType::F32
            && self.bias.dtype() == DType::F32
            && x.is_contiguous()
            && self.stride == (1, 1, 1)
            && x.dim(2)? > 0;
        if !fits {
            return Ok(None);
        }
        self.forward_cpu_f32(x, true).map(Some)
    }
}

/// Keeps indices 0, step, 2 step, ... of `dim` (a strided conv is a stride-1 conv subsampled).
fn subsample(x: &Tensor, dim: usize, step: usize) -> Result<Tensor> {
    if step == 1 {
        return Ok(x.clone());
    }
    let len = x.dim(dim)?;
    let ids: Vec<u32> = (0..len as u32).step_by(step).collect();
    let ids = Tensor::new(ids.as_slice(), x.device())?;
    x.index_select(&ids, dim)
}

impl Module for CausalConv3d {
    /// `[b, in, t, h, w]` -> `[b, out, t', h', w']`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (kt, kh, kw) = self.kernel;
        if x.device().is_cpu()
            && x.dtype() == DType::F32
            && self.bias.dtype() == DType::F32
            && x.is_contiguous()
            && x.dim(2)? > 0
        {
            let y = self.forward_cpu_f32(x, false)?;
            let (st, sh, sw) = self.stride;
            return subsample(&subsample(&subsample(&y, 2, st)?, 3, sh)?, 4, sw);
        }
        let x = if self.is_causal {
            x.pad_with_same(2, kt - 1, 0)?
        } else {
            x.pad_with_same(2, (kt - 1) / 2, (kt - 1) / 2)?
        };
        let x = x
            .pad_with_zeros(3, kh / 2, kh / 2)?
            .pad_with_zeros(4, kw / 2, kw / 2)?;
        let (batch, _, t_pad, h_pad, w_pad) = x.dims5()?;
        let (t_out, h_out, w_out) = (t_pad + 1 - kt, h_pad + 1 - kh, w_pad + 1 - kw);
        let per_frame = kh * kw * self.in_channels * h_out * w_out;
        let chunk = (MAX_COLUMN_ELEMENTS / per_frame.max(1)).max(1);
        let mut items = Vec::with_capacity(batch);
        for b in 0..batch {
            let xb = x.get(b)?;
            let mut blocks = Vec::new();
            let mut t0 = 0;
            while t0 < t_out {
                let frames = chunk.min(t_out - t0);
                blocks.push(self.conv_frames(&xb, t0, frames, h_out, w_out)?);
                t0 += frames;
            }
            items.push(Tensor::cat(&blocks, 1)?);
        }
        let y = Tensor::stack(&items, 0)?;
        let (st, sh, sw) = self.stride;
        let y = subsample(&y, 2, st)?;
        let y = subsample(&y, 3, sh)?;
        subsample(&y, 4, sw)
    }
}
