//! `candle_nn::Linear` with the CPU's weight stored transposed, `[in, out]`.
//!
//! candle multiplies by `weightᵀ` as a strided view of the `[out, in]`
//! weight, and `gemm` then gathers that view into its panels on every call:
//! with a few hundred tokens (or the audio stream's few dozen) against a
//! 4096-wide weight, that gathering costs about as much as the products
//! (measured: 1.5× faster with a row-major `[in, out]` operand at 384 rows,
//! 4–7× at 26 rows). So on the CPU the weight is transposed once at load.
//! On AVX2 CPUs without AVX-512 it is packed instead, for
//! [`crate::cpu_linear`]'s kernel, which also spares the input's re-packing.
//! Other devices keep candle's layer (their matmuls take the transpose as is).

use candle_core::{DType, Device, Module, Result, Storage, Tensor};
use candle_nn::VarBuilder;

use crate::cpu_linear::PackedWeight;

#[derive(Debug, Clone)]
pub enum Linear {
    /// `[in, out]`, contiguous; bias `[out]`.
    Cpu {
        weight_t: Tensor,
        bias: Option<Tensor>,
    },
    /// f32 on AVX2 CPUs without AVX-512 (and no BLAS library loaded): the
    /// weight in [`PackedWeight`]'s panels, the only copy kept.
    Packed {
        weight: PackedWeight,
        bias: Option<Vec<f32>>,
    },
    Other(candle_nn::Linear),
}

impl Linear {
    /// From a `[out, in]` weight, as `candle_nn::Linear::new`. Only a
    /// contiguous weight (one loaded from a file) is transposed: a broadcast
    /// stand-in (the single-file conversion checks shapes with those, at 19B
    /// size) would otherwise be materialised.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
        let f32_cpu = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
        if f32_cpu(&weight)
            && weight.is_contiguous()
            && bias.as_ref().is_none_or(f32_cpu)
            && crate::cpu_linear::runs_here()
            && crate::cpu_blas::loaded().is_none()
        {
            let (out_dim, in_dim) = weight.dims2()?;
            let bias_values = bias.as_ref().map(|b| b.to_vec1::<f32>()).transpose()?;
            if let Some(values) = bias_values.as_ref().filter(|b| b.len() != out_dim) {
                candle_core::bail!("linear: {} biases for {out_dim} outputs", values.len());
            }
            let packed = {
                let (storage, layout) = weight.storage_and_layout();
                let Storage::Cpu(cpu) = &*storage else {
                    candle_core::bail!("linear: expected a CPU tensor");
                };
                let values = &cpu.as_slice::<f32>()?[layout.start_offset()..][..out_dim * in_dim];
                PackedWeight::new(values, out_dim, in_dim)
            };
            if let Some(packed) = packed {
                return Ok(Self::Packed {
                    weight: packed,
                    bias: bias_values,
                });
            }
        }
        if weight.device().is_cpu() && weight.is_contiguous() {
            Ok(Self::Cpu {
                weight_t: weight.t()?.contiguous()?,
                bias,
            })
        } else {
            Ok(Self::Other(candle_nn::Linear::new(weight, bias)))
        }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (weight_t, bias) = match self {
            Self::Other(linear) => return linear.forward(x),
            Self::Packed { weight, bias } => return forward_packed(x, weight, bias.as_deref()),
            Self::Cpu { weight_t, bias } => (weight_t, bias),
        };
        if let Some(y) = forward_f32_cpu(x, weight_t, bias.as_ref())? {
            return Ok(y);
        }
        let dims = x.dims();
        let y = match dims.len() {
            0 | 1 => candle_core::bail!("linear: expected at least 2 dimensions, got {dims:?}"),
            2 => x.matmul(weight_t)?,
            n => {
                // Rows of every leading dimension in one product.
                let rows: usize = dims[..n - 1].iter().product();
                let mut out_dims = dims.to_vec();
                out_dims[n - 1] = weight_t.dim(1)?;
                x.reshape((rows, dims[n - 1]))?
                    .matmul(weight_t)?
                    .reshape(out_dims)?
            }
        };
        match bias {
            Some(bias) => y.broadcast_add(bias),
            None => Ok(y),
        }
    }
}

/// The packed kernel on `x`'s rows (a strided `x` is copied first).
fn forward_packed(x: &Tensor, weight: &PackedWeight, bias: Option<&[f32]>) -> Result<Tensor> {
    let dims = x.dims();
    if dims.len() < 2 || x.dtype() != DType::F32 || !x.device().is_cpu() {
        candle_core::bail!(
            "linear: expected f32 CPU input of at least 2 dimensions, got {:?} {dims:?}",
            x.dtype()
        );
    }
    let k = dims[dims.len() - 1];
    if k != weight.in_dim() {
        candle_core::bail!("linear: input width {k}, weight takes {}", weight.in_dim());
    }
    let rows: usize = dims[..dims.len() - 1].iter().product();
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("linear: expected a CPU tensor");
    };
    let values = &cpu.as_slice::<f32>()?[layout.start_offset()..][..rows * k];
    let out = weight.forward(values, rows, bias);
    drop(storage);
    let mut out_dims = dims.to_vec();
    out_dims[dims.len() - 1] = weight.out_dim();
    Tensor::from_vec(out, out_dims, &Device::Cpu)
}

/// `x · weight_t + bias` for contiguous f32 on the CPU as one product that
/// starts from the bias rows: candle's separate broadcast add of the bias
/// was a single-threaded pass over the whole output after every product,
/// a quarter of a two-thread transformer step at 384 tokens. `None` for
/// other inputs.
fn forward_f32_cpu(x: &Tensor, weight_t: &Tensor, bias: Option<&Tensor>) -> Result<Option<Tensor>> {
    let f32_cpu = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous();
    if !f32_cpu(x) || !f32_cpu(weight_t) || bias.is_some_and(|b| !f32_cpu(b)) || x.rank() < 2 {
        return Ok(None);
    }
    let dims = x.dims();
    let k = dims[dims.len() - 1];
    let rows: usize = dims[..dims.len() - 1].iter().product();
    let (k_w, n) = weight_t.dims2()?;
    if k_w != k {
        candle_core::bail!("linear: input width {k}, weight takes {k_w}");
    }
    let mut out: Vec<f32> = match bias {
        Some(bias) => {
            let bias = bias.to_vec1::<f32>()?;
            if bias.len() != n {
                candle_core::bail!("linear: {} biases for {n} outputs", bias.len());
            }
            let mut out = Vec::with_capacity(rows * n);
            for _ in 0..rows {
                out.extend_from_slice(&bias);
            }
            out
        }
        None => vec![0.0; rows * n],
    };
    let (x_storage, x_layout) = x.storage_and_layout();
    let (w_storage, w_layout) = weight_t.storage_and_layout();
    let (Storage::Cpu(x_cpu), Storage::Cpu(w_cpu)) = (&*x_storage, &*w_storage) else {
        candle_core::bail!("linear: expected CPU tensors");
    };
    let lhs = &x_cpu.as_slice::<f32>()?[x_layout.start_offset()..][..rows * k];
    let rhs = &w_cpu.as_slice::<f32>()?[w_layout.start_offset()..][..k * n];
    let operand = |values: &[f32], row_stride| crate::cpu_blas::Operand {
        ptr: values.as_ptr(),
        row_stride,
        col_stride: 1,
    };
    // SAFETY: lhs holds rows × k, rhs k × n and out rows × n, all row-major
    // (lengths taken above), in distinct allocations.
    unsafe {
        crate::cpu_blas::sgemm(
            (rows, n, k),
            out.as_mut_ptr(),
            n,
            true,
            operand(lhs, k),
            operand(rhs, n),
            true,
        );
    }
    drop((x_storage, w_storage));
    let mut out_dims = dims.to_vec();
    out_dims[dims.len() - 1] = n;
    Tensor::from_vec(out, out_dims, &Device::Cpu).map(Some)
}

/// As `candle_nn::linear_b`: weight `[out, in]` under `vb`, bias when `bias`.
pub fn linear_b(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get((out_dim, in_dim), "weight")?;
    let bias = if bias {
        Some(vb.get(out_dim, "bias")?)
    } else {
        None
    };
    Linear::new(weight, bias)
}

/// As `candle_nn::linear`: with a bias.
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    linear_b(in_dim, out_dim, true, vb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn matches_candle_linear_for_2_3_and_4_dimensions() -> Result<()> {
        let dev = Device::Cpu;
        let weight = Tensor::randn(0f32, 1.0, (5, 7), &dev)?;
        let bias = Tensor::randn(0f32, 1.0, 5, &dev)?;
        let ours = Linear::new(weight.clone(), Some(bias.clone()))?;
        let theirs = candle_nn::Linear::new(weight, Some(bias));
        for shape in [vec![3, 7], vec![2, 3, 7], vec![2, 2, 3, 7]] {
            let x = Tensor::randn(0f32, 1.0, shape.as_slice(), &dev)?;
            let diff = (ours.forward(&x)? - theirs.forward(&x)?)?
                .abs()?
                .flatten_all()?
                .max(0)?
                .to_dtype(DType::F32)?
                .to_scalar::<f32>()?;
            assert!(diff < 1e-5, "{shape:?}: {diff}");
        }
        // A non-contiguous input (a transposed view) gives the same as on its contiguous copy.
        let x = Tensor::randn(0f32, 1.0, (2, 7, 3), &dev)?.transpose(1, 2)?;
        let diff = (ours.forward(&x)? - theirs.forward(&x.contiguous()?)?)?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f32>()?;
        assert!(diff < 1e-5);
        Ok(())
    }
}
