//! The VAE's element-wise hot spot as one threaded f32 pass on the CPU: the
//! channel RMS norm, the optional timestep modulation and the SiLU in front
//! of every conv of a resnet.
//!
//! Done with candle's ops that is about eight full-size passes on one
//! thread (square, a strided mean over channels, add, sqrt, recip, multiply,
//! modulate, SiLU with libm's `expf`); here it is two reads and one write,
//! split over threads. Other devices and dtypes use candle's ops.

use candle_core::{DType, Device, Result, Storage, Tensor};

use super::layers::rms_norm_channels;
use crate::ltx::transformer::cpu_ops::exp;

/// `silu(rms_norm_channels(x) * (1 + scale) + shift)`, or without the
/// modulation when `modulation` is `None`. `x` is `[b, c, t, h, w]`; shift
/// and scale are `[b, c, 1, 1, 1]`.
pub fn norm_modulate_silu(
    x: &Tensor,
    eps: f64,
    modulation: Option<(&Tensor, &Tensor)>,
) -> Result<Tensor> {
    if matches!(x.device(), Device::Cpu) && x.dtype() == DType::F32 && x.is_contiguous() {
        return cpu(x, eps, modulation);
    }
    let mut h = rms_norm_channels(x, eps)?;
    if let Some((shift, scale)) = modulation {
        h = h.broadcast_mul(&(scale + 1.0)?)?.broadcast_add(shift)?;
    }
    h.silu()
}

/// `[b, c]` per-channel values of a `[b, c, 1, 1, 1]` tensor, as f32 on the host.
fn per_channel(t: &Tensor, b: usize, c: usize) -> Result<Vec<f32>> {
    let t = t.to_dtype(DType::F32)?;
    let t = if t.dim(0)? == b {
        t
    } else {
        t.broadcast_as((b, c, 1, 1, 1))?.contiguous()?
    };
    t.reshape((b, c))?.flatten_all()?.to_vec1()
}

/// Positions per unit of work in the sum over channels.
const POSITIONS: usize = 1024;

fn cpu(x: &Tensor, eps: f64, modulation: Option<(&Tensor, &Tensor)>) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (b, c) = (dims[0], dims[1]);
    let n: usize = dims[2..].iter().product();
    let (shift, scale) = match modulation {
        Some((shift, scale)) => (
            Some(per_channel(shift, b, c)?),
            Some(per_channel(scale, b, c)?),
        ),
        None => (None, None),
    };
    let (storage, layout) = x.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("expected a CPU tensor");
    };
    let src = &cpu.as_slice::<f32>()?[layout.start_offset()..layout.start_offset() + b * c * n];
    let threads = candle_core::utils::get_num_threads().max(1);

    // 1 / rms per (batch, position): each thread a run of whole position blocks.
    let mut inv = vec![0f32; b * n];
    let blocks = (b * n).div_ceil(POSITIONS);
    let per_thread = blocks.div_ceil(threads).max(1) * POSITIONS;
    let channels = c as f32;
    crate::cpu_parallel::for_each_chunk(&mut inv, per_thread, |k, piece| {
        for (j, block) in piece.chunks_mut(POSITIONS).enumerate() {
            let first = k * per_thread + j * POSITIONS;
            // A block may cross into the next batch item: split it there.
            let mut done = 0;
            while done < block.len() {
                let at = first + done;
                let (bi, p) = (at / n, at % n);
                let len = (block.len() - done).min(n - p);
                let sums = &mut block[done..done + len];
                sums.fill(0.0);
                for ci in 0..c {
                    let row = &src[(bi * c + ci) * n + p..][..len];
                    for (s, &v) in sums.iter_mut().zip(row) {
                        *s += v * v;
                    }
                }
                for s in sums.iter_mut() {
                    *s = 1.0 / (*s / channels + eps as f32).sqrt();
                }
                done += len;
            }
        }
    });

    // Then each (batch, channel) row: normalise, modulate, SiLU.
    let mut out = vec![0f32; b * c * n];
    let rows_per_thread = (b * c).div_ceil(threads).max(1);
    let (inv, shift, scale) = (&inv, &shift, &scale);
    crate::cpu_parallel::for_each_chunk(&mut out, rows_per_thread * n, |k, piece| {
        for (j, row_out) in piece.chunks_mut(n).enumerate() {
            let r = k * rows_per_thread + j;
            let bi = r / c;
            let row = &src[r * n..(r + 1) * n];
            let inv = &inv[bi * n..(bi + 1) * n];
            let mul = scale.as_ref().map_or(1.0, |s| 1.0 + s[r]);
            let add = shift.as_ref().map_or(0.0, |s| s[r]);
            for ((o, &v), &i) in row_out.iter_mut().zip(row).zip(inv) {
                let y = v * i * mul + add;
                *o = y / (1.0 + exp(-y));
            }
        }
    });
    drop(storage);
    Tensor::from_vec(out, dims, &Device::Cpu)
}
