//! The AdaLN steps around each block's attention and feed-forward, each one
//! pass over the tokens for f32 on the CPU, on rayon's threads:
//! `rms_norm(x) · (1 + scale) + shift` (in candle a norm and three
//! broadcast ops, which ran on the calling thread while rayon's waited) and
//! the gated residual `x + y · gate` (two ops). `shift`, `scale` and `gate`
//! are `[B, 1 or N, dim]` views into the block's modulation, read in place.

use candle_core::{DType, Device, Layout, Result, Storage, Tensor, D};

use crate::cpu_parallel::fill_rows;

/// `rms_norm(x) · (1 + scale) + shift`, the norm without a learned weight.
pub(crate) fn norm_modulate(
    x: &Tensor,
    eps: f64,
    shift: &Tensor,
    scale: &Tensor,
) -> Result<Tensor> {
    if !fits(x, &[shift, scale])? {
        let normed = super::block::rms_norm(x, eps)?;
        return normed.broadcast_mul(&(scale + 1.0)?)?.broadcast_add(shift);
    }
    let eps = eps as f32;
    per_row(x, &[shift, scale], |_, x_row, vectors, out| {
        let (shift, scale) = (vectors[0], vectors[1]);
        let mean_square = x_row.iter().map(|v| v * v).sum::<f32>() / x_row.len() as f32;
        let inverse_rms = 1.0 / (mean_square + eps).sqrt();
        for (((o, &v), &sh), &sc) in out.iter_mut().zip(x_row).zip(shift).zip(scale) {
            o.write(v * inverse_rms * (1.0 + sc) + sh);
        }
    })
}

/// `x + y · gate`.
pub(crate) fn gated_residual(x: &Tensor, y: &Tensor, gate: &Tensor) -> Result<Tensor> {
    if !fits(x, &[gate])? || !fits(y, &[gate])? || x.dims() != y.dims() {
        return x + y.broadcast_mul(gate)?;
    }
    let (y_storage, y_layout) = y.storage_and_layout();
    let Storage::Cpu(y_cpu) = &*y_storage else {
        candle_core::bail!("expected a CPU tensor");
    };
    let y_values = &y_cpu.as_slice::<f32>()?[y_layout.start_offset()..];
    let dim = x.dim(D::Minus1)?;
    let result = per_row(x, &[gate], |r, x_row, vectors, out| {
        let y_row = &y_values[r * dim..(r + 1) * dim];
        for (((o, &a), &b), &g) in out.iter_mut().zip(x_row).zip(y_row).zip(vectors[0]) {
            o.write(a + b * g);
        }
    });
    drop(y_storage);
    result
}

/// Contiguous f32 `x` on the CPU, `[B, N, dim]`, with `[B, 1 or N, dim]`
/// vectors whose last dimension is contiguous.
fn fits(x: &Tensor, vectors: &[&Tensor]) -> Result<bool> {
    let f32_cpu = |t: &Tensor| matches!(t.device(), Device::Cpu) && t.dtype() == DType::F32;
    if !f32_cpu(x) || !x.is_contiguous() || x.rank() != 3 {
        return Ok(false);
    }
    let (b, n, dim) = x.dims3()?;
    Ok(vectors.iter().all(|v| {
        f32_cpu(v)
            && v.rank() == 3
            && v.dim(0).ok() == Some(b)
            && matches!(v.dim(1).ok(), Some(t) if t == 1 || t == n)
            && v.dim(2).ok() == Some(dim)
            && v.layout().stride()[2] == 1
    }))
}

/// `kernel(row, x_row, vector_rows, out_row)` for every token, on rayon's threads.
fn per_row(
    x: &Tensor,
    vectors: &[&Tensor],
    kernel: impl Fn(usize, &[f32], &[&[f32]], &mut [std::mem::MaybeUninit<f32>]) + Sync,
) -> Result<Tensor> {
    let (b, n, dim) = x.dims3()?;
    let (x_storage, x_layout) = x.storage_and_layout();
    let Storage::Cpu(x_cpu) = &*x_storage else {
        candle_core::bail!("expected a CPU tensor");
    };
    let x_values = &x_cpu.as_slice::<f32>()?[x_layout.start_offset()..][..b * n * dim];
    let guards: Vec<_> = vectors.iter().map(|v| v.storage_and_layout()).collect();
    let mut views = Vec::with_capacity(vectors.len());
    for (storage, layout) in &guards {
        let Storage::Cpu(cpu) = &**storage else {
            candle_core::bail!("expected a CPU tensor");
        };
        views.push(RowVectors::new(cpu.as_slice::<f32>()?, layout, n));
    }
    // SAFETY: the kernels write every value of each row they are given.
    let out = unsafe {
        fill_rows(b * n, dim, |first_row, block| {
            let mut rows: Vec<&[f32]> = Vec::with_capacity(views.len());
            for (i, out) in block.chunks_mut(dim).enumerate() {
                let r = first_row + i;
                rows.clear();
                rows.extend(views.iter().map(|v| v.row(r, dim)));
                kernel(r, &x_values[r * dim..(r + 1) * dim], &rows, out);
            }
        })
    };
    drop((x_storage, guards));
    Tensor::from_vec(out, (b, n, dim), &Device::Cpu)
}

/// A `[B, T, dim]` view read in place, T being 1 (one vector per sample)
/// or the token count.
struct RowVectors<'a> {
    values: &'a [f32],
    start: usize,
    sample_stride: usize,
    token_stride: usize,
    tokens: usize,
}

impl<'a> RowVectors<'a> {
    fn new(values: &'a [f32], layout: &Layout, tokens: usize) -> Self {
        let stride = layout.stride();
        let per_token = layout.dims()[1] != 1;
        Self {
            values,
            start: layout.start_offset(),
            sample_stride: stride[0],
            token_stride: if per_token { stride[1] } else { 0 },
            tokens,
        }
    }

    /// The vector for row `r` of `[B, N, dim]`.
    fn row(&self, r: usize, dim: usize) -> &'a [f32] {
        let at =
            self.start + r / self.tokens * self.sample_stride + r % self.tokens * self.token_stride;
        &self.values[at..at + dim]
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    use crate::test_support::max_abs_diff;

    /// Both kernels against the same sums in f64 with candle's ops, with one vector per sample and one per token, read as views
    /// into a `[B, T, 6, dim]` modulation as the block does: within 1e-5.
    #[test]
    fn match_candle() {
        let dev = Device::Cpu;
        let (b, n, dim) = (2, 300, 96);
        let x = Tensor::randn(0f32, 2.0, (b, n, dim), &dev).unwrap();
        let y = Tensor::randn(0f32, 1.0, (b, n, dim), &dev).unwrap();
        let f64 = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
        for t in [1, n] {
            let ada = Tensor::randn(0f32, 1.0, (b, t, 6, dim), &dev).unwrap();
            let chunk = |i| ada.narrow(2, i, 1).unwrap().squeeze(2).unwrap();
            let (shift, scale, gate) = (chunk(0), chunk(1), chunk(2));
            let ours = super::norm_modulate(&x, 1e-6, &shift, &scale).unwrap();
            let x64 = f64(&x);
            let rms = x64
                .sqr()
                .unwrap()
                .mean_keepdim(2)
                .unwrap()
                .affine(1.0, 1e-6)
                .unwrap()
                .sqrt()
                .unwrap();
            let normed = x64.broadcast_div(&rms).unwrap();
            let theirs = normed
                .broadcast_mul(&(f64(&scale) + 1.0).unwrap())
                .unwrap()
                .broadcast_add(&f64(&shift))
                .unwrap();
            let error = max_abs_diff(&ours, &theirs.to_dtype(DType::F32).unwrap());
            assert!(error <= 1e-5, "norm_modulate, T = {t}: {error}");
            let ours = super::gated_residual(&x, &y, &gate).unwrap();
            let theirs = (f64(&x) + f64(&y).broadcast_mul(&f64(&gate)).unwrap()).unwrap();
            let error = max_abs_diff(&ours, &theirs.to_dtype(DType::F32).unwrap());
            assert!(error <= 1e-5, "gated_residual, T = {t}: {error}");
        }
    }
}
