//! A 1-D convolution (stride 1, zero padding, any dilation) through the
//! direct 3-D convolution's kernels: LTX-2's vocoder spends nearly all of
//! its time in such convolutions (32 to 1024 channels, kernels 3 to 11,
//! dilations 1 to 5, signals of thousands of samples), where the column
//! matrix's products are shallow or thin (32 output rows ran at a tenth of
//! the FMA peak) and scaled poorly to a second thread.
//!
//! The signal is cut into segments of a few kernel calls each, so that
//! threads share a long signal (one line alone would be one task): segment
//! `s` is a line of the kernels' `[rows][in][line]` input holding the padded
//! signal from `s · S` on, the taps `dilation` values apart
//! (`Plan::dilation`), and each segment's output line is `S` samples of the
//! signal's output.

use candle_core::{DType, Device, Result, Storage, Tensor};

use super::conv3d_cpu_direct::{run_lines, Plan, Tile};
use crate::cpu_parallel::{fill_rows, SharedOut};

/// Outputs per segment, at most: eight calls of the AVX2 tile, enough for
/// the kernels' per-line cost to vanish and short enough that a signal of a
/// few hundred samples still gives each thread several segments.
const SEGMENT: usize = 192;

/// Most input channels the direct path takes. Measured on a 2-core AVX2
/// EPYC (Zen 3) at a vocoder's shapes: with up to 256 input channels the
/// direct kernels ran 1.2–4× faster than the column matrix and `gemm` at
/// one and two threads (the products are shallow there, and with 32
/// channels `gemm` ran at a tenth of the FMA peak); at 512 channels over
/// short signals `gemm`'s products were level at two threads and faster
/// at one.
const MAX_INPUT_CHANNELS: usize = 256;

/// How one signal is cut: the tile, its segments and their length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segments {
    tile: Tile,
    count: usize,
    len: usize,
}

/// How to cut `t_out` outputs: segments of equal length, rounded up to
/// whole kernel calls (the last segment's extra outputs are computed and
/// dropped). `None` where the AVX2 tile does not run, and on AVX-512 CPUs:
/// the AVX2 tile would run at half their peak there and their own tiles
/// were not measured against `gemm`'s AVX-512 products on these shapes.
fn segments(t_out: usize) -> Option<Segments> {
    if !Tile::Avx2.runs_here() || Tile::Avx512Wide.runs_here() {
        return None;
    }
    Some(avx2_segments(t_out))
}

/// The AVX2 tile's cut of `t_out` outputs (whether or not it is taken).
fn avx2_segments(t_out: usize) -> Segments {
    let tile = Tile::Avx2;
    let count = t_out.div_ceil(SEGMENT).max(1);
    Segments {
        tile,
        count,
        len: tile.rounded(t_out.div_ceil(count)),
    }
}

/// `[b, in, t]` ⊛ `[out, in, k]` (+ bias) with `padding` zeros each side and
/// taps `dilation` apart, on the direct kernels; `None` where they do not
/// apply (no tile runs here, not f32 on the CPU, more than
/// [`MAX_INPUT_CHANNELS`]), for the caller's other path.
pub(crate) fn conv1d_direct(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
    dilation: usize,
) -> Result<Option<Tensor>> {
    let f32_cpu = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
    if !f32_cpu(x) || !f32_cpu(weight) || !bias.is_none_or(f32_cpu) {
        return Ok(None);
    }
    let (_, cin, t) = x.dims3()?;
    let (_, cin_w, k) = weight.dims3()?;
    if cin != cin_w {
        candle_core::bail!("conv1d: input has {cin} channels, the weight {cin_w}");
    }
    if cin > MAX_INPUT_CHANNELS {
        return Ok(None);
    }
    let Some(t_out) = output_length(t, k, padding, dilation) else {
        candle_core::bail!("conv1d: the kernel is larger than the padded input");
    };
    let Some(cut) = segments(t_out) else {
        return Ok(None);
    };
    convolve(x, weight, bias, (padding, dilation), cut).map(Some)
}

/// Outputs of a signal `t` long, or `None` where the kernel does not fit.
fn output_length(t: usize, k: usize, padding: usize, dilation: usize) -> Option<usize> {
    let reach = dilation.max(1) * (k.max(1) - 1);
    (t + 2 * padding).checked_sub(reach).filter(|&n| n > 0)
}

/// [`conv1d_direct`] past its checks, on the kernel of `cut.tile`, which
/// must run here.
fn convolve(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    (padding, dilation): (usize, usize),
    cut: Segments,
) -> Result<Tensor> {
    let (batch, cin, t) = x.dims3()?;
    let (cout, cin_w, k) = weight.dims3()?;
    let reach = dilation.max(1) * (k.max(1) - 1);
    let fits = cin == cin_w && cut.tile.runs_here();
    let (Some(t_out), true) = (output_length(t, k, padding, dilation), fits) else {
        candle_core::bail!("conv1d: the weight, the signal or the CPU does not fit the plan");
    };
    let bias = match bias {
        Some(bias) => bias.flatten_all()?.to_vec1::<f32>()?,
        None => vec![0.0; cout],
    };
    let weight = weight.contiguous()?;
    let (w_storage, w_layout) = weight.storage_and_layout();
    let Storage::Cpu(w_cpu) = &*w_storage else {
        candle_core::bail!("conv1d: expected a CPU weight");
    };
    let weight_values = &w_cpu.as_slice::<f32>()?[w_layout.start_offset()..][..cout * cin * k];
    let packed = packed_weights(weight_values, (cout, cin, k), cut.tile.channels());
    drop(w_storage);
    let plan = Plan {
        tile: cut.tile,
        kernel: (1, 1, k),
        cin,
        cout,
        tp: 1,
        hp: cut.count,
        line: (cut.len + reach).next_multiple_of(16),
        dilation: dilation.max(1),
        channel_passes: true,
        t_out: 1,
        h_out: cut.count,
        w_out: cut.len,
    };
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("conv1d: expected a CPU input");
    };
    let src = &cpu.as_slice::<f32>()?[layout.start_offset()..][..batch * cin * t];
    let per_item = cout * cut.count * cut.len;
    let mut out: Vec<f32> = Vec::with_capacity(batch * per_item);
    let dst = SharedOut::new(out.spare_capacity_mut().as_mut_ptr().cast::<f32>());
    for b in 0..batch {
        let rows = segment_rows(&src[b * cin * t..][..cin * t], t, padding, &plan);
        // SAFETY: the tile runs here (checked above); `rows` is
        // `[count][in][line]` and `packed` the weights packed for the tile,
        // as `plan` says; item b's `per_item` values are reserved in `out`
        // and written by these calls alone.
        unsafe {
            run_lines(
                &plan,
                &rows,
                &packed,
                &bias,
                SharedOut::new(dst.get().add(b * per_item)),
            )
        };
    }
    drop(storage);
    // SAFETY: every segment of every channel of every item was written.
    unsafe { out.set_len(batch * per_item) };
    let y = Tensor::from_vec(out, (batch, cout, cut.count * cut.len), &Device::Cpu)?;
    if cut.count * cut.len == t_out {
        return Ok(y);
    }
    y.narrow(2, 0, t_out)?.contiguous()
}

/// `[out, in, k]` in the kernels' order (as the 3-D path's
/// `packed_weights` orders them for a `1 × 1 × k` kernel):
/// `[out / n][in][k][n]` for `n` channels a tile, zeros past the last
/// output channel. Straight from the weight's own layout, a block of
/// channels per task: packed on every call, this is a few percent of a
/// short signal's convolution (a vocoder's first layers).
fn packed_weights(weight: &[f32], (cout, cin, k): (usize, usize, usize), n: usize) -> Vec<f32> {
    let fill = |first: usize, blocks: &mut [std::mem::MaybeUninit<f32>]| {
        for (b, packed) in blocks.chunks_mut(cin * k * n).enumerate() {
            let block = first + b;
            for (tap, values) in packed.chunks_mut(n).enumerate() {
                for (i, v) in values.iter_mut().enumerate() {
                    let o = block * n + i;
                    v.write(if o < cout {
                        weight[o * cin * k + tap]
                    } else {
                        0.0
                    });
                }
            }
        }
    };
    // SAFETY: `fill` writes every value of each block it is given.
    unsafe { fill_rows(cout.div_ceil(n), cin * k * n, fill) }
}

/// `[in, t]` → `[count][in][line]`: segment `s`'s line of channel `c` is the
/// zero-padded signal from `s · len` on (zeros past its end).
fn segment_rows(x: &[f32], t: usize, padding: usize, plan: &Plan) -> Vec<f32> {
    let (cin, line, len) = (plan.cin, plan.line, plan.w_out);
    let fill = |first: usize, block: &mut [std::mem::MaybeUninit<f32>]| {
        for (i, segment) in block.chunks_mut(cin * line).enumerate() {
            let start = (first + i) * len; // in the padded signal
                                           // Values j of the line read the signal at start + j - padding:
                                           // inside it for j in lo..hi, zeros elsewhere.
            let lo = padding.saturating_sub(start).min(line);
            let hi = (padding + t).saturating_sub(start).clamp(lo, line);
            for (c, dst) in segment.chunks_mut(line).enumerate() {
                let from = &x[c * t + (start + lo).saturating_sub(padding).min(t)..][..hi - lo];
                let (before, rest) = dst.split_at_mut(lo);
                let (inside, after) = rest.split_at_mut(hi - lo);
                before.fill(std::mem::MaybeUninit::new(0.0));
                for (d, &v) in inside.iter_mut().zip(from) {
                    d.write(v);
                }
                after.fill(std::mem::MaybeUninit::new(0.0));
            }
        }
    };
    // SAFETY: `fill` writes every value of each segment it is given.
    unsafe { fill_rows(plan.hp, cin * line, fill) }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};
    use candle_nn::{Conv1d, Conv1dConfig, Module};

    use super::*;
    use crate::test_support::max_abs_diff;

    /// Against candle's own conv1d: kernels 1 to 11, dilations 1 to 5,
    /// "same" and no padding, output channels that are not a multiple of a
    /// tile's, signals shorter than a tile, longer than a segment and not a
    /// multiple of either, batches of two, no bias.
    #[test]
    fn the_direct_conv1d_matches_candle() {
        #[cfg(target_arch = "x86_64")]
        assert!(
            Tile::Avx2.runs_here(),
            "this test runs the AVX2 kernel: the CPU has no AVX2 and FMA"
        );
        // AVX-512 CPUs keep the products for 1-D convolutions; the kernel
        // is still checked there, called with the AVX2 plan directly.
        let avx512 = Tile::Avx512Wide.runs_here();
        let dev = Device::Cpu;
        for (cin, cout, k, dilation, padding, t, batch, with_bias) in [
            (3, 5, 3, 1, 1, 17, 1, true),
            (8, 4, 7, 3, 9, 400, 2, true),
            (6, 9, 11, 5, 25, 611, 1, true),
            (16, 2, 7, 1, 3, 101, 1, false),
            (5, 7, 1, 1, 0, 50, 2, true),
            (4, 3, 3, 2, 0, 9, 1, true),
            // More padding than a segment's line: whole lines of zeros.
            (2, 3, 3, 1, 300, 20, 1, true),
        ] {
            let weight = Tensor::randn(0f32, 1.0, (cout, cin, k), &dev).unwrap();
            let bias = Tensor::randn(0f32, 1.0, cout, &dev).unwrap();
            let conv = Conv1d::new(
                weight.clone(),
                with_bias.then(|| bias.clone()),
                Conv1dConfig {
                    padding,
                    dilation,
                    ..Default::default()
                },
            );
            let x = Tensor::randn(0f32, 1.0, (batch, cin, t), &dev).unwrap();
            let want = conv.forward(&x).unwrap();
            let got = if avx512 {
                let cut = avx2_segments(output_length(t, k, padding, dilation).unwrap());
                let bias = with_bias.then_some(&bias);
                convolve(&x, &weight, bias, (padding, dilation), cut).unwrap()
            } else {
                conv1d_direct(&x, &weight, with_bias.then_some(&bias), padding, dilation)
                    .unwrap()
                    .expect("the AVX2 tile runs here")
            };
            assert_eq!(got.dims(), want.dims(), "{cin} {cout} {k} {dilation} {t}");
            // The same products summed in another order: f32 rounding only.
            let diff = max_abs_diff(&got, &want);
            assert!(diff < 1e-4, "{cin} {cout} {k} {dilation} {t}: {diff}");
        }
    }

    /// A kernel wider than the padded signal is an error, not a panic.
    #[test]
    fn a_kernel_wider_than_the_signal_is_an_error() {
        let dev = Device::Cpu;
        let weight = Tensor::zeros((2, 2, 5), DType::F32, &dev).unwrap();
        let x = Tensor::zeros((1, 2, 3), DType::F32, &dev).unwrap();
        assert!(conv1d_direct(&x, &weight, None, 0, 1).is_err());
    }

    /// Over `MAX_INPUT_CHANNELS` the caller's column matrix takes over.
    #[test]
    fn many_input_channels_are_left_to_the_products() {
        let dev = Device::Cpu;
        let cin = MAX_INPUT_CHANNELS + 1;
        let weight = Tensor::zeros((2, cin, 3), DType::F32, &dev).unwrap();
        let x = Tensor::zeros((1, cin, 40), DType::F32, &dev).unwrap();
        assert!(conv1d_direct(&x, &weight, None, 1, 1).unwrap().is_none());
    }

    /// Segments hold at most `SEGMENT` outputs, cover the signal, and waste
    /// less than one tile's pixels per segment.
    #[test]
    fn segments_cover_the_signal_with_little_waste() {
        for t_out in [1, 23, 24, 101, 192, 193, 606, 24240] {
            let cut = avx2_segments(t_out);
            assert!(cut.count * cut.len >= t_out, "{t_out}: {cut:?}");
            assert!(
                cut.len <= SEGMENT.max(cut.tile.pixels()),
                "{t_out}: {cut:?}"
            );
            assert!(
                cut.count * (cut.len - cut.tile.pixels()) < t_out,
                "{t_out}: {cut:?}"
            );
        }
    }
}
