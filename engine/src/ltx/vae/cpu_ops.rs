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
/// modulation when `modulation` is `None`. `x` is `[b, c, t, h, w]` (or
/// any `[b, c, ...]` without the modulation); shift and scale are
/// `[b, c, 1, 1, 1]`.
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

/// `h + r` with `r`'s channels tiled to `h`'s count (torch's `repeat`
/// along the channels, as the residual upsampler adds its shortcut; the
/// same count for a resnet's residual). One threaded pass for contiguous
/// f32 on the CPU, where candle's repeat and add ran on the calling thread.
pub fn add_tiled_channels(h: &Tensor, r: &Tensor) -> Result<Tensor> {
    let (c, cr) = (h.dim(1)?, r.dim(1)?);
    let same_shape_but_channels = h.rank() == r.rank()
        && h.dims()
            .iter()
            .zip(r.dims())
            .enumerate()
            .all(|(i, (a, b))| i == 1 || a == b);
    if cr == 0 || c % cr != 0 || !same_shape_but_channels {
        candle_core::bail!("cannot add {:?} to {:?}", r.dims(), h.dims());
    }
    let fits = |t: &Tensor| {
        matches!(t.device(), Device::Cpu) && t.dtype() == DType::F32 && t.is_contiguous()
    };
    if !fits(h) || !fits(r) {
        let mut repeats = vec![1; h.rank()];
        repeats[1] = c / cr;
        return h + r.repeat(repeats)?;
    }
    let b = h.dim(0)?;
    let plane: usize = h.dims()[2..].iter().product();
    let (h_storage, h_layout) = h.storage_and_layout();
    let (r_storage, r_layout) = r.storage_and_layout();
    let (Storage::Cpu(h_cpu), Storage::Cpu(r_cpu)) = (&*h_storage, &*r_storage) else {
        candle_core::bail!("expected CPU tensors");
    };
    let h_values = &h_cpu.as_slice::<f32>()?[h_layout.start_offset()..][..b * c * plane];
    let r_values = &r_cpu.as_slice::<f32>()?[r_layout.start_offset()..][..b * cr * plane];
    // SAFETY: each row (one channel's plane) is written whole below.
    let out = unsafe {
        crate::cpu_parallel::fill_rows(b * c, plane, |first, block| {
            for (i, out) in block.chunks_mut(plane.max(1)).enumerate() {
                let row = first + i;
                let (bi, ci) = (row / c, row % c);
                let h_row = &h_values[row * plane..][..plane];
                let r_row = &r_values[(bi * cr + ci % cr) * plane..][..plane];
                for ((o, &a), &b) in out.iter_mut().zip(h_row).zip(r_row) {
                    o.write(a + b);
                }
            }
        })
    };
    drop((h_storage, r_storage));
    Tensor::from_vec(out, h.dims(), &Device::Cpu)
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
    let (inv, shift, scale) = (&inv, &shift, &scale);
    // SAFETY: every value of each row is written below.
    let out = unsafe {
        crate::cpu_parallel::fill_rows(b * c, n, |first, piece| {
            for (j, row_out) in piece.chunks_mut(n.max(1)).enumerate() {
                let r = first + j;
                let bi = r / c;
                let row = &src[r * n..(r + 1) * n];
                let inv = &inv[bi * n..(bi + 1) * n];
                let mul = scale.as_ref().map_or(1.0, |s| 1.0 + s[r]);
                let add = shift.as_ref().map_or(0.0, |s| s[r]);
                for ((o, &v), &i) in row_out.iter_mut().zip(row).zip(inv) {
                    let y = v * i * mul + add;
                    o.write(y / (1.0 + exp(-y)));
                }
            }
        })
    };
    drop(storage);
    Tensor::from_vec(out, dims, &Device::Cpu)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use crate::test_support::max_abs_diff;

    /// Against candle's repeat and add: the same channel count, a shortcut
    /// tiled four times, batches of two; a shortcut that does not tile is an
    /// error.
    #[test]
    fn add_tiled_channels_matches_repeat_and_add() {
        let dev = Device::Cpu;
        for (c, cr) in [(6, 6), (8, 2)] {
            let h = Tensor::randn(0f32, 1.0, (2, c, 3, 5, 70), &dev).unwrap();
            let r = Tensor::randn(0f32, 1.0, (2, cr, 3, 5, 70), &dev).unwrap();
            let ours = super::add_tiled_channels(&h, &r).unwrap();
            let theirs = (&h + r.repeat((1, c / cr, 1, 1, 1)).unwrap()).unwrap();
            assert_eq!(max_abs_diff(&ours, &theirs), 0.0, "{c} from {cr}");
        }
        let h = Tensor::zeros((1, 6, 1, 2, 2), candle_core::DType::F32, &dev).unwrap();
        let r = Tensor::zeros((1, 4, 1, 2, 2), candle_core::DType::F32, &dev).unwrap();
        assert!(super::add_tiled_channels(&h, &r).is_err());
    }
}
