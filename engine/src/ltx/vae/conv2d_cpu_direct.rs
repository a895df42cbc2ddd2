//! 1-D and 2-D convolutions (stride 1, zero padding, any dilation) through
//! the direct 3-D convolution's kernels. LTX-2's vocoder spends nearly all
//! of its time in 1-D convolutions (32 to 1024 channels, kernels 3 to 11,
//! dilations 1 to 5, signals of thousands of samples), where the column
//! matrix's products are shallow or thin (32 output rows ran at a tenth of
//! the FMA peak) and scaled poorly to a second thread; its audio VAE in
//! 3 × 3 convolutions over 64 mel bins or fewer, where the column matrix of
//! 256 channels over 101 × 64 is 60 MB and its product ran at half of
//! PyTorch's speed.
//!
//! The zero-padded input is flattened: each channel's padded rows one after
//! another, `pitch` values apart, so that tap `(dh, dw)` of output `p` reads
//! `p + (dh · pitch + dw) · dilation`, one line with the kernel's rows a
//! fixed distance apart (`Plan::flat_row_pitch`). The outputs are computed
//! on the same grid (a row's last `pitch - w_out` values are computed and
//! dropped: 3% of the work for 64 mel bins, none for a 1-D signal). That
//! flattened output is cut into segments of a few kernel calls each, so
//! that threads share a long signal: segment `s` is a line of the kernels'
//! `[rows][in][line]` input holding the flattened input from `s · S` on,
//! and each segment's output line is `S` values of the flattened output.

use std::mem::MaybeUninit;

use candle_core::{Device, Result, Storage, Tensor};

use super::conv3d_cpu_direct::{run_lines, Plan, Tile};
use crate::cpu_conv::Padding2d;
use crate::cpu_parallel::{fill_rows, SharedOut};

/// Outputs per segment, at most: eight calls of the AVX2 tile (four of the
/// AVX-512 one), enough for the kernels' per-line cost to vanish and short
/// enough that a signal of a few hundred samples still gives each thread
/// several segments.
const SEGMENT: usize = 192;

/// Most input channels the direct path takes. Measured on a 2-core AVX2
/// EPYC (Zen 3) and a 2-core AVX-512 one (Zen 5) at a vocoder's shapes:
/// with up to 256 input channels the direct kernels ran 1.2–4× faster
/// than the column matrix and `gemm` on Zen 3, level or faster on Zen 5
/// (the products are shallow there, and with 32 channels `gemm` ran at a
/// tenth of the FMA peak); at 512 channels over short signals `gemm`'s
/// products were faster at one thread on Zen 3 (level at two) and at both
/// on Zen 5 (the whole audio path 10–25% slower with those layers here).
const MAX_INPUT_CHANNELS: usize = 256;

/// Most values between the first and the last row of the kernel in the
/// flattened input: a pass's 16 lines then stay under 64 KiB, near L1;
/// wider images keep the column matrix.
const MAX_ROW_REACH: usize = 4 * SEGMENT;

/// The flattened geometry of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flat {
    cin: usize,
    h: usize,
    w: usize,
    kernel: (usize, usize),
    dilation: usize,
    pad: Padding2d,
    h_out: usize,
    w_out: usize,
}

impl Flat {
    /// `None` where the kernel is larger than the padded input.
    fn new(
        (cin, h, w): (usize, usize, usize),
        (kh, kw): (usize, usize),
        pad: Padding2d,
        dilation: usize,
    ) -> Option<Flat> {
        let dilation = dilation.max(1);
        let span = |size: usize, k: usize| {
            size.checked_sub(dilation * (k.max(1) - 1))
                .filter(|&n| n > 0)
        };
        Some(Flat {
            cin,
            h,
            w,
            kernel: (kh.max(1), kw.max(1)),
            dilation,
            pad,
            h_out: span(h + pad.top + pad.bottom, kh)?,
            w_out: span(w + pad.left + pad.right, kw)?,
        })
    }

    /// Values between one padded row and the next.
    fn pitch(&self) -> usize {
        self.w + self.pad.left + self.pad.right
    }

    /// Values between a kernel row's taps and the next row's.
    fn row_step(&self) -> usize {
        self.dilation * self.pitch()
    }

    /// Values a segment's line reads past its outputs.
    fn reach(&self) -> usize {
        let (kh, kw) = self.kernel;
        (kh - 1) * self.row_step() + (kw - 1) * self.dilation
    }

    /// Outputs on the flattened grid, up to the last one kept.
    fn flat_outputs(&self) -> usize {
        (self.h_out - 1) * self.pitch() + self.w_out
    }
}

/// How one flattened output is cut: the tile, its segments and their length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segments {
    tile: Tile,
    count: usize,
    len: usize,
}

/// The tile this CPU runs best, if any: the wide AVX-512 one on AVX-512
/// CPUs (in the segments' channel passes it ran the vocoder's convolutions
/// at 80% of Zen 5's peak), else the AVX2 one.
fn tile_here() -> Option<Tile> {
    [Tile::Avx512Wide, Tile::Avx2]
        .into_iter()
        .find(|tile| tile.runs_here())
}

/// `tile`'s cut of `n` flattened outputs (whether or not it runs here):
/// segments of equal length, rounded up to whole kernel calls (the last
/// segment's extra outputs are computed and dropped).
fn segments_of(tile: Tile, n: usize) -> Segments {
    let count = n.div_ceil(SEGMENT).max(1);
    Segments {
        tile,
        count,
        len: tile.rounded(n.div_ceil(count)),
    }
}

/// `[b, in, h, w]` ⊛ `[out, in, kh, kw]` (+ bias) with the zeros of `pad`
/// around and taps `dilation` apart in both directions, on the direct
/// kernels; `None` where they do not apply (no tile runs here, not f32 on
/// the CPU, more than [`MAX_INPUT_CHANNELS`], images wider than [`MAX_ROW_REACH`] allows, and 1 × 1 kernels, whose products
/// need no column matrix and ran faster on `gemm` on Zen 5: 147–176
/// GFLOP/s against 120), for the caller's other path.
pub(crate) fn conv2d_direct(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    pad: Padding2d,
    dilation: usize,
) -> Result<Option<Tensor>> {
    if !crate::cpu_conv::fits(x, weight, bias) {
        return Ok(None);
    }
    let (_, cin, h, w) = x.dims4()?;
    let (_, cin_w, kh, kw) = weight.dims4()?;
    if cin != cin_w {
        candle_core::bail!("conv: input has {cin} channels, the weight {cin_w}");
    }
    let Some(flat) = Flat::new((cin, h, w), (kh, kw), pad, dilation) else {
        candle_core::bail!("conv: the kernel is larger than the padded input");
    };
    let one_by_one = flat.kernel == (1, 1);
    let row_reach = (flat.kernel.0 - 1) * flat.row_step();
    if one_by_one || cin > MAX_INPUT_CHANNELS || row_reach > MAX_ROW_REACH {
        return Ok(None);
    }
    let Some(tile) = tile_here() else {
        return Ok(None);
    };
    let cut = segments_of(tile, flat.flat_outputs());
    convolve(x, weight, bias, &flat, cut).map(Some)
}

/// [`conv2d_direct`] past its checks, on the kernel of `cut.tile`, which
/// must run here.
fn convolve(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    flat: &Flat,
    cut: Segments,
) -> Result<Tensor> {
    let (batch, cin, h, w) = x.dims4()?;
    let (cout, cin_w, kh, kw) = weight.dims4()?;
    let fits = (cin, h, w) == (flat.cin, flat.h, flat.w)
        && (cin_w, kh, kw) == (cin, flat.kernel.0, flat.kernel.1)
        && cut.count * cut.len >= flat.flat_outputs()
        && cut.tile.runs_here();
    if !fits {
        candle_core::bail!("conv: the weight, the input or the CPU does not fit the plan");
    }
    let bias = match bias {
        Some(bias) => bias.flatten_all()?.to_vec1::<f32>()?,
        None => vec![0.0; cout],
    };
    let weight = weight.contiguous()?;
    let (w_storage, w_layout) = weight.storage_and_layout();
    let Storage::Cpu(w_cpu) = &*w_storage else {
        candle_core::bail!("conv: expected a CPU weight");
    };
    let weight_values =
        &w_cpu.as_slice::<f32>()?[w_layout.start_offset()..][..cout * cin * kh * kw];
    let packed = packed_weights(weight_values, (cout, cin, kh, kw), cut.tile.channels());
    drop(w_storage);
    let plan = Plan {
        tile: cut.tile,
        kernel: (1, kh, kw),
        cin,
        cout,
        tp: 1,
        hp: cut.count,
        line: (cut.len + flat.reach()).next_multiple_of(16),
        dilation: flat.dilation,
        flat_row_pitch: Some(flat.row_step()),
        t_out: 1,
        h_out: cut.count,
        w_out: cut.len,
    };
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("conv: expected a CPU input");
    };
    let src = &cpu.as_slice::<f32>()?[layout.start_offset()..][..batch * cin * h * w];
    let per_item = cout * cut.count * cut.len;
    let mut out: Vec<f32> = Vec::with_capacity(batch * per_item);
    let dst = SharedOut::new(out.spare_capacity_mut().as_mut_ptr().cast::<f32>());
    for b in 0..batch {
        let rows = segment_rows(&src[b * cin * h * w..][..cin * h * w], flat, &plan);
        // SAFETY: the tile runs here (checked above); `rows` is
        // `[count][in][line]`, each line holding `reach` values past its
        // segment, and `packed` the weights packed for the tile, as `plan`
        // says; item b's `per_item` values are reserved in `out` and
        // written by these calls alone.
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
    let (h_out, w_out) = (flat.h_out, flat.w_out);
    if h_out == 1 && cut.count * cut.len == w_out {
        return Tensor::from_vec(out, (batch, cout, 1, w_out), &Device::Cpu);
    }
    // The kept outputs: `w_out` of each row, rows `pitch` apart.
    let pitch = flat.pitch();
    let per_channel = cut.count * cut.len;
    let fill = |first: usize, block: &mut [MaybeUninit<f32>]| {
        for (i, row) in block.chunks_mut(w_out).enumerate() {
            let (channel, y) = ((first + i) / h_out, (first + i) % h_out);
            let from = &out[channel * per_channel + y * pitch..][..w_out];
            for (d, &v) in row.iter_mut().zip(from) {
                d.write(v);
            }
        }
    };
    // SAFETY: `fill` writes every value of each row it is given.
    let kept = unsafe { fill_rows(batch * cout * h_out, w_out, fill) };
    Tensor::from_vec(kept, (batch, cout, h_out, w_out), &Device::Cpu)
}

/// `[out, in, kh, kw]` in the kernels' order (as the 3-D path's
/// `packed_weights` orders them for a `1 × kh × kw` kernel):
/// `[out / n][kh][in][kw][n]` for `n` channels a tile, zeros past the last
/// output channel. Straight from the weight's own layout, a block of
/// channels per task: packed on every call, this is a few percent of a
/// short signal's convolution (a vocoder's first layers).
fn packed_weights(
    weight: &[f32],
    (cout, cin, kh, kw): (usize, usize, usize, usize),
    n: usize,
) -> Vec<f32> {
    let fill = |first: usize, blocks: &mut [MaybeUninit<f32>]| {
        for (b, packed) in blocks.chunks_mut(kh * cin * kw * n).enumerate() {
            let block = first + b;
            for (tap, values) in packed.chunks_mut(n).enumerate() {
                let (dh, c, dw) = (tap / (cin * kw), tap / kw % cin, tap % kw);
                let at = (c * kh + dh) * kw + dw;
                for (i, v) in values.iter_mut().enumerate() {
                    let o = block * n + i;
                    v.write(if o < cout {
                        weight[o * cin * kh * kw + at]
                    } else {
                        0.0
                    });
                }
            }
        }
    };
    // SAFETY: `fill` writes every value of each block it is given.
    unsafe { fill_rows(cout.div_ceil(n), kh * cin * kw * n, fill) }
}

/// `[in, h, w]` → `[count][in][line]`: segment `s`'s line of channel `c` is
/// the flattened zero-padded input from `s · len` on (zeros past its end).
fn segment_rows(x: &[f32], flat: &Flat, plan: &Plan) -> Vec<f32> {
    let (cin, line, len) = (plan.cin, plan.line, plan.w_out);
    let (h, w, pitch, pad) = (flat.h, flat.w, flat.pitch(), flat.pad);
    let fill = |first: usize, block: &mut [MaybeUninit<f32>]| {
        for (i, segment) in block.chunks_mut(cin * line).enumerate() {
            let start = (first + i) * len;
            for (c, dst) in segment.chunks_mut(line).enumerate() {
                let plane = &x[c * h * w..][..h * w];
                // A run of one padded row at a time: its zeros, then the
                // input row's values from the left padding on.
                let mut j = 0;
                while j < line {
                    let (r, u) = ((start + j) / pitch, (start + j) % pitch);
                    let run = (pitch - u).min(line - j);
                    let dst = &mut dst[j..j + run];
                    match r.checked_sub(pad.top).filter(|&y| y < h) {
                        None => dst.fill(MaybeUninit::new(0.0)),
                        Some(y) => {
                            // Padded columns u.. of row y: zeros left of
                            // `pad.left`, the input up to `pad.left + w`.
                            let lo = pad.left.saturating_sub(u).min(run);
                            let hi = (pad.left + w).saturating_sub(u).clamp(lo, run);
                            let row = &plane[y * w..][..w];
                            let from = &row[(u + lo).saturating_sub(pad.left).min(w)..];
                            let (before, rest) = dst.split_at_mut(lo);
                            let (inside, after) = rest.split_at_mut(hi - lo);
                            before.fill(MaybeUninit::new(0.0));
                            for (d, &v) in inside.iter_mut().zip(from) {
                                d.write(v);
                            }
                            after.fill(MaybeUninit::new(0.0));
                        }
                    }
                    j += run;
                }
            }
        }
    };
    // SAFETY: `fill` writes every value of each segment it is given.
    unsafe { fill_rows(plan.hp, cin * line, fill) }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, Module};

    use super::*;
    use crate::test_support::max_abs_diff;

    /// The tiles whose kernels this CPU runs; an x86-64 without AVX2 fails.
    fn tiles_here() -> Vec<Tile> {
        #[cfg(target_arch = "x86_64")]
        assert!(
            Tile::Avx2.runs_here(),
            "this test runs the AVX2 kernel: the CPU has no AVX2 and FMA"
        );
        Tile::ALL.into_iter().filter(|t| t.runs_here()).collect()
    }

    /// [`conv2d_direct`] on `[b, in, t]` ⊛ `[out, in, k]`, a signal as an
    /// image one row high with `padding` zeros each side, as
    /// `cpu_conv::conv1d` calls it.
    fn conv1d_direct(
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        padding: usize,
        dilation: usize,
    ) -> Result<Option<Tensor>> {
        let (b, cin, t) = x.dims3()?;
        let (cout, cin_w, k) = weight.dims3()?;
        let pad = Padding2d {
            left: padding,
            right: padding,
            ..Padding2d::default()
        };
        let y = conv2d_direct(
            &x.reshape((b, cin, 1, t))?,
            &weight.reshape((cout, cin_w, 1, k))?,
            bias,
            pad,
            dilation,
        )?;
        y.map(|y| y.squeeze(2)).transpose()
    }

    /// `x` ⊛ `weight` through `tile`'s kernel, whether or not it is the
    /// one [`conv2d_direct`] would take.
    fn on_tile(
        tile: Tile,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        pad: Padding2d,
        dilation: usize,
    ) -> Tensor {
        let (_, cin, h, w) = x.dims4().unwrap();
        let (_, _, kh, kw) = weight.dims4().unwrap();
        let flat = Flat::new((cin, h, w), (kh, kw), pad, dilation).unwrap();
        let cut = segments_of(tile, flat.flat_outputs());
        convolve(x, weight, bias, &flat, cut).unwrap()
    }

    /// Against candle's own conv1d, on every tile this CPU runs: kernels 1
    /// to 11, dilations 1 to 5, "same" and no padding, output channels
    /// that are not a multiple of a tile's, signals shorter than a tile,
    /// longer than a segment and not a multiple of either, batches of two,
    /// no bias.
    #[test]
    fn the_direct_conv1d_matches_candle() {
        let dev = Device::Cpu;
        let tiles = tiles_here();
        for (cin, cout, k, dilation, padding, t, batch, with_bias) in [
            (3, 5, 3, 1, 1, 17, 1, true),
            (8, 4, 7, 3, 9, 400, 2, true),
            (6, 9, 11, 5, 25, 611, 1, true),
            (16, 2, 7, 1, 3, 101, 1, false),
            (5, 7, 1, 1, 0, 50, 2, true),
            (4, 3, 3, 2, 0, 9, 1, true),
            // More input channels than a pass, a kernel 3 wide in assembly.
            (40, 17, 3, 1, 1, 250, 1, true),
            // More padding than a segment's line: whole lines of zeros.
            (2, 3, 3, 1, 300, 20, 1, true),
        ] {
            let weight = Tensor::randn(0f32, 1.0, (cout, cin, k), &dev).unwrap();
            let bias = Tensor::randn(0f32, 1.0, cout, &dev).unwrap();
            let bias = with_bias.then_some(&bias);
            let config = Conv1dConfig {
                padding,
                dilation,
                ..Default::default()
            };
            let conv = Conv1d::new(weight.clone(), bias.cloned(), config);
            let x = Tensor::randn(0f32, 1.0, (batch, cin, t), &dev).unwrap();
            let want = conv.forward(&x).unwrap();
            let case = format!("{cin} {cout} {k} {dilation} {t}");
            let taken = conv1d_direct(&x, &weight, bias, padding, dilation).unwrap();
            // Kernels 1 wide are left to the products.
            assert_eq!(taken.is_some(), k > 1, "{case}");
            let pad = Padding2d {
                left: padding,
                right: padding,
                ..Padding2d::default()
            };
            let (x, weight) = (x.unsqueeze(2).unwrap(), weight.unsqueeze(2).unwrap());
            let on_tiles = tiles.iter().map(|&tile| {
                let got = on_tile(tile, &x, &weight, bias, pad, dilation);
                (format!("{tile:?}"), got.squeeze(2).unwrap())
            });
            let taken = taken.map(|got| ("taken".to_string(), got));
            for (name, got) in taken.into_iter().chain(on_tiles) {
                assert_eq!(got.dims(), want.dims(), "{case} {name}");
                // The same products summed in another order: f32 rounding only.
                let diff = max_abs_diff(&got, &want);
                assert!(diff < 1e-4, "{case} {name}: {diff}");
            }
        }
    }

    /// Against candle's conv2d over the input padded beforehand, on every
    /// tile this CPU runs: the audio VAE's causal padding (two rows on top,
    /// none below), symmetric and uneven padding, no padding, 1 × 1, 3 × 3,
    /// 3 × 5 and 5 × 3 kernels, dilation 2, widths of 64 mel bins and fewer
    /// and one wider than a segment, more input channels than a pass.
    #[test]
    fn the_direct_conv2d_matches_candle() {
        let dev = Device::Cpu;
        let tiles = tiles_here();
        let pad = |top, bottom, left, right| Padding2d {
            top,
            bottom,
            left,
            right,
        };
        for (cin, cout, (kh, kw), dilation, p, (h, w), batch) in [
            (5, 9, (3, 3), 1, pad(2, 0, 1, 1), (13, 64), 2),
            (20, 8, (3, 3), 1, pad(2, 0, 1, 1), (9, 16), 1),
            (3, 4, (1, 1), 1, pad(0, 0, 0, 0), (7, 33), 1),
            (4, 5, (3, 5), 1, pad(1, 3, 0, 2), (6, 9), 2),
            (2, 3, (5, 3), 2, pad(4, 4, 2, 2), (10, 11), 1),
            (3, 2, (3, 3), 1, pad(0, 0, 0, 0), (4, 250), 1),
            (6, 7, (3, 3), 1, pad(2, 0, 1, 1), (1, 5), 1),
        ] {
            let weight = Tensor::randn(0f32, 1.0, (cout, cin, kh, kw), &dev).unwrap();
            let bias = Tensor::randn(0f32, 1.0, cout, &dev).unwrap();
            let x = Tensor::randn(0f32, 1.0, (batch, cin, h, w), &dev).unwrap();
            let config = Conv2dConfig {
                dilation,
                ..Default::default()
            };
            let conv = Conv2d::new(weight.clone(), Some(bias.clone()), config);
            let padded = x
                .pad_with_zeros(2, p.top, p.bottom)
                .and_then(|x| x.pad_with_zeros(3, p.left, p.right))
                .unwrap();
            let want = conv.forward(&padded).unwrap();
            let case = format!("{cin} {cout} {kh}x{kw} d{dilation} {p:?} {h}x{w}");
            let taken = conv2d_direct(&x, &weight, Some(&bias), p, dilation).unwrap();
            assert_eq!(taken.is_some(), kh * kw > 1, "{case}");
            let taken = taken.map(|got| ("taken".to_string(), got));
            let on_tiles = tiles.iter().map(|&tile| {
                let got = on_tile(tile, &x, &weight, Some(&bias), p, dilation);
                (format!("{tile:?}"), got)
            });
            for (name, got) in taken.into_iter().chain(on_tiles) {
                assert_eq!(got.dims(), want.dims(), "{case} {name}");
                let diff = max_abs_diff(&got, &want);
                assert!(diff < 1e-4, "{case} {name}: {diff}");
            }
        }
    }

    /// A kernel wider than the padded signal is an error, not a panic.
    #[test]
    fn a_kernel_wider_than_the_signal_is_an_error() {
        let dev = Device::Cpu;
        let weight = Tensor::zeros((2, 2, 5), DType::F32, &dev).unwrap();
        let x = Tensor::zeros((1, 2, 3), DType::F32, &dev).unwrap();
        assert!(conv1d_direct(&x, &weight, None, 0, 1).is_err());
        let weight = Tensor::zeros((2, 2, 4, 1), DType::F32, &dev).unwrap();
        let x = Tensor::zeros((1, 2, 2, 3), DType::F32, &dev).unwrap();
        let pad = Padding2d {
            top: 1,
            ..Padding2d::default()
        };
        assert!(conv2d_direct(&x, &weight, None, pad, 1).is_err());
    }

    /// Over `MAX_INPUT_CHANNELS`, or with the kernel's rows further apart
    /// than `MAX_ROW_REACH`, the caller's column matrix takes over.
    #[test]
    fn many_input_channels_and_wide_images_are_left_to_the_products() {
        let dev = Device::Cpu;
        let cin = MAX_INPUT_CHANNELS + 1;
        let weight = Tensor::zeros((2, cin, 3), DType::F32, &dev).unwrap();
        let x = Tensor::zeros((1, cin, 40), DType::F32, &dev).unwrap();
        assert!(conv1d_direct(&x, &weight, None, 1, 1).unwrap().is_none());
        let wide = MAX_ROW_REACH / 2 + 1;
        let weight = Tensor::zeros((2, 3, 3, 3), DType::F32, &dev).unwrap();
        let x = Tensor::zeros((1, 3, 4, wide), DType::F32, &dev).unwrap();
        let none = Padding2d::default();
        assert!(conv2d_direct(&x, &weight, None, none, 1).unwrap().is_none());
        let x = Tensor::zeros((1, 3, 4, wide - 2), DType::F32, &dev).unwrap();
        assert_eq!(
            conv2d_direct(&x, &weight, None, none, 1).unwrap().is_some(),
            tile_here().is_some()
        );
    }

    /// Segments hold at most `SEGMENT` outputs, cover the flattened output,
    /// and waste less than one tile's pixels per segment, for each tile.
    #[test]
    fn segments_cover_the_output_with_little_waste() {
        for tile in Tile::ALL {
            for n in [1, 23, 24, 101, 192, 193, 606, 6462, 24240] {
                let cut = segments_of(tile, n);
                assert!(cut.count * cut.len >= n, "{n}: {cut:?}");
                assert!(cut.len <= SEGMENT.max(tile.pixels()), "{n}: {cut:?}");
                assert!(cut.count * (cut.len - tile.pixels()) < n, "{n}: {cut:?}");
            }
        }
    }

    /// The flattened grid: rows `pitch` apart, outputs up to the last kept
    /// one, the kernel's rows a dilated pitch apart.
    #[test]
    fn the_flat_geometry_follows_the_padding() {
        let pad = Padding2d {
            top: 2,
            bottom: 0,
            left: 1,
            right: 1,
        };
        let flat = Flat::new((8, 101, 64), (3, 3), pad, 1).unwrap();
        assert_eq!((flat.h_out, flat.w_out, flat.pitch()), (101, 64, 66));
        assert_eq!(flat.flat_outputs(), 100 * 66 + 64);
        assert_eq!(flat.reach(), 2 * 66 + 2);
        let flat = Flat::new(
            (8, 1, 606),
            (1, 11),
            Padding2d {
                left: 25,
                right: 25,
                ..Padding2d::default()
            },
            5,
        );
        let flat = flat.unwrap();
        assert_eq!((flat.h_out, flat.w_out, flat.flat_outputs()), (1, 606, 606));
        assert_eq!(flat.reach(), 50);
    }
}
