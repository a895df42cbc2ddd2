//! The direct convolution's kernel for AVX-512 (`conv3d_cpu_direct`, tiles
//! `Avx512Wide` and `Avx512Narrow`): 8 output channels × `V` vectors of
//! pixels in registers, `V = 3` zmm (48 pixels, 24 accumulators) or `V = 2`,
//! a zmm and a ymm (24 pixels, 16 accumulators). For each tap the kernel
//! loads `V` vectors of input pixels and broadcasts eight weights: 24 FMAs
//! for 11 loads in the wide tile, against 12 for 7 in the AVX2 one, and
//! twice the lanes.

use std::arch::x86_64::*;

use super::conv3d_cpu_direct::Plan;

/// Output channels one kernel call holds.
const CHANNELS: usize = 8;
/// f32 lanes of one zmm register.
const LANES: usize = 16;

/// Lanes of vector `j` of a tile of `V` vectors: all 16, but for the
/// 24-pixel tile's second, a ymm of 8.
const fn lanes<const V: usize>(j: usize) -> usize {
    if V == 2 && j == 1 {
        8
    } else {
        LANES
    }
}

/// Output line `(t, y)` of the channels in `group`, `out` one item's
/// `[out, t_out, h_out, w_out]`, by tiles of 8 channels × `V` vectors
/// (`plan.tile.pixels()` pixels).
///
/// # Safety
///
/// The CPU has AVX-512 F and VL; `rows` is `[tp][hp][in][line]`, `packed`
/// the weights as `packed_weights` packs them for 8 channels, `bias` one
/// per channel, all sized by `plan`; `out` is valid for the item and
/// nothing else writes line `(t, y)` of the group's channels meanwhile.
#[target_feature(enable = "avx512f,avx512vl")]
#[inline(never)] // one call per line; kept apart so its code can be read
pub(super) unsafe fn line<const V: usize>(
    plan: &Plan,
    rows: &[f32],
    packed: &[f32],
    bias: &[f32],
    out: *mut f32,
    (t, y): (usize, usize),
    group: usize,
) {
    let (kt, kh, kw) = plan.kernel;
    let (cin, line) = (plan.cin, plan.line);
    let pixels: usize = (0..V).map(lanes::<V>).sum();
    let taps = kt * kh * cin * kw;
    let plane = plan.t_out * plan.h_out * plan.w_out;
    let first = out.add((t * plan.h_out + y) * plan.w_out);
    for block in plan.group_blocks(group) {
        let weights = packed.as_ptr().add(block * taps * CHANNELS);
        let channels = (plan.cout - block * CHANNELS).min(CHANNELS);
        let mut x0 = 0;
        while x0 < plan.w_out {
            // acc[V·i + j]: channel i, the j-th vector of pixels from x0
            // (a ymm's in the low half of its zmm).
            let mut acc = [_mm512_setzero_ps(); 3 * CHANNELS];
            for i in 0..channels {
                let b = _mm512_set1_ps(bias[block * CHANNELS + i]);
                acc[V * i..V * i + V].fill(b);
            }
            let mut w = weights;
            for dt in 0..kt {
                for dh in 0..kh {
                    let row = ((t + dt) * plan.hp + y + dh) * cin * line + x0;
                    let px = rows.as_ptr().add(row);
                    line_taps::<V>(&mut acc, px, w, cin, line, (kw, plan.dilation));
                    w = w.add(cin * kw * CHANNELS);
                }
            }
            // The line's last call stores only the pixels inside it: masked
            // stores leave the rest alone.
            let width = (plan.w_out - x0).min(pixels);
            for i in 0..channels {
                let dst = first.add((block * CHANNELS + i) * plane + x0);
                let mut from = 0;
                for j in 0..V {
                    let n = lanes::<V>(j).min(width.saturating_sub(from));
                    let mask = ((1u32 << n) - 1) as __mmask16;
                    _mm512_mask_storeu_ps(dst.add(from), mask, acc[V * i + j]);
                    from += lanes::<V>(j);
                }
            }
            x0 += pixels;
        }
    }
}

/// Input channels summed per pass over a 1-D segment, as the AVX2
/// kernel's `segment`: their lines (up to 1 KiB each) stay in L1 while the
/// pass goes along the segment for every block of the group.
const CHANNELS_PER_PASS: usize = 16;

/// A flattened plan's (`plan.flat_row_pitch`: one frame, the kernel's rows
/// `pitch` values apart along a line) output line `s` (one segment of the
/// flattened output) of the channels in `group`,
/// by tiles of 8 channels × `V` vectors, in passes of
/// [`CHANNELS_PER_PASS`] input channels, the partial sums kept in the
/// output between passes.
///
/// # Safety
///
/// As [`line`]; besides, the plan is flat (`kt = 1`, `tp = 1`, each line
/// readable for `(kh - 1) · pitch` values past its taps) and its
/// lines are whole kernel calls wide (`w_out` a multiple of the tile's
/// pixels).
#[target_feature(enable = "avx512f,avx512vl")]
#[inline(never)]
pub(super) unsafe fn segment<const V: usize>(
    plan: &Plan,
    rows: &[f32],
    packed: &[f32],
    bias: &[f32],
    out: *mut f32,
    s: usize,
    group: usize,
) {
    let (_, kh, kw) = plan.kernel;
    let pitch = plan.flat_row_pitch.unwrap_or(0);
    let (cin, line, len) = (plan.cin, plan.line, plan.w_out);
    let pixels: usize = (0..V).map(lanes::<V>).sum();
    let plane = plan.h_out * len;
    let first = out.add(s * len);
    for c0 in (0..cin).step_by(CHANNELS_PER_PASS) {
        let n = (cin - c0).min(CHANNELS_PER_PASS);
        for block in plan.group_blocks(group) {
            let weights = packed.as_ptr().add(block * kh * cin * kw * CHANNELS);
            let channels = (plan.cout - block * CHANNELS).min(CHANNELS);
            let dst = |i: usize| first.add((block * CHANNELS + i) * plane);
            let mask = |j: usize| ((1u32 << lanes::<V>(j)) - 1) as __mmask16;
            for x0 in (0..len).step_by(pixels) {
                let mut acc = [_mm512_setzero_ps(); 3 * CHANNELS];
                for i in 0..channels {
                    for j in 0..V {
                        acc[V * i + j] = if c0 == 0 {
                            _mm512_set1_ps(bias[block * CHANNELS + i])
                        } else {
                            _mm512_maskz_loadu_ps(mask(j), dst(i).add(x0 + j * LANES))
                        };
                    }
                }
                for dh in 0..kh {
                    let px = rows.as_ptr().add((s * cin + c0) * line + x0 + dh * pitch);
                    let w = weights.add((dh * cin + c0) * kw * CHANNELS);
                    line_taps::<V>(&mut acc, px, w, n, line, (kw, plan.dilation));
                }
                for i in 0..channels {
                    for j in 0..V {
                        _mm512_mask_storeu_ps(dst(i).add(x0 + j * LANES), mask(j), acc[V * i + j]);
                    }
                }
            }
        }
    }
}

/// `acc += ` one padded line's taps (`cin` channels' lines `line` apart
/// from `px`, `kw` taps `dilation` values apart) through the fastest
/// loop for the tile and kernel.
///
/// # Safety
///
/// As [`taps_any`].
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn line_taps<const V: usize>(
    acc: &mut [__m512; 24],
    px: *const f32,
    w: *const f32,
    cin: usize,
    line: usize,
    (kw, dilation): (usize, usize),
) {
    match (V, kw, dilation) {
        (3, 3, 1) => taps3_wide(acc, px, w, cin, line),
        (2, 3, 1) => taps3_narrow(acc, px, w, cin, line),
        (3, ..) => taps_any_wide(acc, px, w, cin, line, (kw, dilation)),
        _ => taps_any::<V>(acc, px, w, cin, line, (kw, dilation)),
    }
}

/// Three FMAs of one channel of the wide tile: its weight at
/// `w + $woff + $wi` broadcast into zmm27, times the input in zmm24–26.
macro_rules! channel3 {
    ($a0:literal, $a1:literal, $a2:literal, $woff:literal, $wi:literal) => {
        concat!(
            "vbroadcastss zmm27, dword ptr [{w} + ",
            $woff,
            " + ",
            $wi,
            "]\n",
            "vfmadd231ps ",
            $a0,
            ", zmm27, zmm24\n",
            "vfmadd231ps ",
            $a1,
            ", zmm27, zmm25\n",
            "vfmadd231ps ",
            $a2,
            ", zmm27, zmm26\n",
        )
    };
}

/// One shift `dw` of the wide tile: 48 input pixels from byte `$off` into
/// zmm24–26, the eight channels' weights from byte `$woff`.
macro_rules! shift_wide {
    ($off:literal, $woff:literal) => {
        concat!(
            "vmovups zmm24, [{px} + ",
            $off,
            "]\n",
            "vmovups zmm25, [{px} + ",
            $off,
            " + 64]\n",
            "vmovups zmm26, [{px} + ",
            $off,
            " + 128]\n",
            channel3!("zmm0", "zmm1", "zmm2", $woff, "0"),
            channel3!("zmm3", "zmm4", "zmm5", $woff, "4"),
            channel3!("zmm6", "zmm7", "zmm8", $woff, "8"),
            channel3!("zmm9", "zmm10", "zmm11", $woff, "12"),
            channel3!("zmm12", "zmm13", "zmm14", $woff, "16"),
            channel3!("zmm15", "zmm16", "zmm17", $woff, "20"),
            channel3!("zmm18", "zmm19", "zmm20", $woff, "24"),
            channel3!("zmm21", "zmm22", "zmm23", $woff, "28"),
        )
    };
}

/// `asm!` on the wide tile's registers: the 24 accumulators `$acc` in
/// zmm0–23 and zmm24–27 (three input vectors and the broadcast weight)
/// clobbered, then the template and the loop's own operands.
macro_rules! wide_tile_asm {
    ($acc:ident, [$($template:tt)*], $($operands:tt)*) => {
        std::arch::asm!(
            $($template)*
            inout("zmm0") $acc[0],
            inout("zmm1") $acc[1],
            inout("zmm2") $acc[2],
            inout("zmm3") $acc[3],
            inout("zmm4") $acc[4],
            inout("zmm5") $acc[5],
            inout("zmm6") $acc[6],
            inout("zmm7") $acc[7],
            inout("zmm8") $acc[8],
            inout("zmm9") $acc[9],
            inout("zmm10") $acc[10],
            inout("zmm11") $acc[11],
            inout("zmm12") $acc[12],
            inout("zmm13") $acc[13],
            inout("zmm14") $acc[14],
            inout("zmm15") $acc[15],
            inout("zmm16") $acc[16],
            inout("zmm17") $acc[17],
            inout("zmm18") $acc[18],
            inout("zmm19") $acc[19],
            inout("zmm20") $acc[20],
            inout("zmm21") $acc[21],
            inout("zmm22") $acc[22],
            inout("zmm23") $acc[23],
            out("zmm24") _,
            out("zmm25") _,
            out("zmm26") _,
            out("zmm27") _,
            $($operands)*
        )
    };
}

/// `acc += ` one padded line's taps for a kernel 3 wide, tile 8 × 48: for
/// each of `cin` channels (lines `line` apart from `px`), three shifts of
/// 48 pixels times eight weights. In assembly, as the AVX2 kernel, and on
/// registers named in the code: 24 accumulators (zmm0–23), three input
/// vectors and the broadcast weight, 28 of the 32 registers, which
/// the compiler's allocation does not promise (unoptimised builds fail to
/// allocate them at all).
///
/// # Safety
///
/// AVX-512 F; `px` readable for `cin` lines of 50 values, `w` for
/// `cin · 3 · 8` weights.
#[target_feature(enable = "avx512f")]
unsafe fn taps3_wide(
    acc: &mut [__m512; 24],
    px: *const f32,
    w: *const f32,
    cin: usize,
    line: usize,
) {
    if cin == 0 {
        return;
    }
    wide_tile_asm!(
        acc,
        [
            "2:",
            shift_wide!("0", "0"),
            shift_wide!("4", "32"),
            shift_wide!("8", "64"),
            "add {w}, 96",
            "add {px}, {stride}",
            "dec {n}",
            "jnz 2b",
        ],
        px = inout(reg) px => _,
        w = inout(reg) w => _,
        n = inout(reg) cin => _,
        stride = in(reg) line * 4,
        options(nostack, readonly),
    );
}

/// [`taps3_wide`] for any kernel width and tap spacing (`dilation`
/// values between taps): the same 24 FMAs per tap, `kw` taps a channel.
///
/// # Safety
///
/// AVX-512 F; `px` readable for `cin` lines of `48 + (kw - 1) · dilation`
/// values, `w` for `cin · kw · 8` weights.
#[target_feature(enable = "avx512f")]
unsafe fn taps_any_wide(
    acc: &mut [__m512; 24],
    px: *const f32,
    w: *const f32,
    cin: usize,
    line: usize,
    (kw, dilation): (usize, usize),
) {
    if cin == 0 || kw == 0 {
        return;
    }
    wide_tile_asm!(
        acc,
        [
            "2:",
            "mov {px}, {start}",
            "mov {k}, {kw}",
            "3:",
            shift_wide!("0", "0"),
            "add {w}, 32",
            "add {px}, {spacing}",
            "dec {k}",
            "jnz 3b",
            "add {start}, {stride}",
            "dec {n}",
            "jnz 2b",
        ],
        start = inout(reg) px => _,
        px = out(reg) _,
        w = inout(reg) w => _,
        k = out(reg) _,
        n = inout(reg) cin => _,
        kw = in(reg) kw,
        spacing = in(reg) dilation * 4,
        stride = in(reg) line * 4,
        options(nostack, readonly),
    );
}

/// Two FMAs of one channel of the narrow tile: its weight at
/// `w + $woff + $wi` broadcast into zmm18, times the zmm16 and the ymm17
/// of input pixels.
macro_rules! channel2 {
    ($a0:literal, $a1:literal, $woff:literal, $wi:literal) => {
        concat!(
            "vbroadcastss zmm18, dword ptr [{w} + ",
            $woff,
            " + ",
            $wi,
            "]\n",
            "vfmadd231ps ",
            $a0,
            ", zmm18, zmm16\n",
            "vfmadd231ps ",
            $a1,
            ", ymm18, ymm17\n",
        )
    };
}

/// One shift `dw` of the narrow tile: 24 input pixels from byte `$off`
/// into zmm16 and ymm17, the eight channels' weights from byte `$woff`.
macro_rules! shift_narrow {
    ($off:literal, $woff:literal) => {
        concat!(
            "vmovups zmm16, [{px} + ",
            $off,
            "]\n",
            "vmovups ymm17, [{px} + ",
            $off,
            " + 64]\n",
            channel2!("zmm0", "ymm1", $woff, "0"),
            channel2!("zmm2", "ymm3", $woff, "4"),
            channel2!("zmm4", "ymm5", $woff, "8"),
            channel2!("zmm6", "ymm7", $woff, "12"),
            channel2!("zmm8", "ymm9", $woff, "16"),
            channel2!("zmm10", "ymm11", $woff, "20"),
            channel2!("zmm12", "ymm13", $woff, "24"),
            channel2!("zmm14", "ymm15", $woff, "28"),
        )
    };
}

/// [`taps3_wide`] for the 8 × 24 tile: `acc[2i]` a zmm of 16 pixels,
/// `acc[2i + 1]` a ymm of 8 (the low half of its zmm; VL encodes the ymm
/// forms of registers 16–31).
///
/// # Safety
///
/// AVX-512 F and VL; `px` readable for `cin` lines of 26 values, `w` for
/// `cin · 3 · 8` weights.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn taps3_narrow(
    acc: &mut [__m512; 24],
    px: *const f32,
    w: *const f32,
    cin: usize,
    line: usize,
) {
    if cin == 0 {
        return;
    }
    std::arch::asm!(
        "2:",
        shift_narrow!("0", "0"),
        shift_narrow!("4", "32"),
        shift_narrow!("8", "64"),
        "add {w}, 96",
        "add {px}, {stride}",
        "dec {n}",
        "jnz 2b",
        inout("zmm0") acc[0],
        inout("zmm1") acc[1],
        inout("zmm2") acc[2],
        inout("zmm3") acc[3],
        inout("zmm4") acc[4],
        inout("zmm5") acc[5],
        inout("zmm6") acc[6],
        inout("zmm7") acc[7],
        inout("zmm8") acc[8],
        inout("zmm9") acc[9],
        inout("zmm10") acc[10],
        inout("zmm11") acc[11],
        inout("zmm12") acc[12],
        inout("zmm13") acc[13],
        inout("zmm14") acc[14],
        inout("zmm15") acc[15],
        out("zmm16") _,
        out("zmm17") _,
        out("zmm18") _,
        px = inout(reg) px => _,
        w = inout(reg) w => _,
        n = inout(reg) cin => _,
        stride = in(reg) line * 4,
        options(nostack, readonly),
    );
}

/// The taps of one padded line for any kernel width and tap spacing
/// (`dilation` values between taps) and either tile, in intrinsics (the
/// narrow tile's ymm loaded as the low half of a zmm).
///
/// # Safety
///
/// AVX-512 F; `px` readable for `cin` lines of
/// `pixels + (kw - 1) · dilation` values, `w` for `cin · kw · 8` weights.
#[target_feature(enable = "avx512f")]
unsafe fn taps_any<const V: usize>(
    acc: &mut [__m512; 24],
    mut px: *const f32,
    mut w: *const f32,
    cin: usize,
    line: usize,
    (kw, dilation): (usize, usize),
) {
    for _ in 0..cin {
        for dw in 0..kw {
            let p = px.add(dw * dilation);
            let mut v = [_mm512_setzero_ps(); 3];
            for (j, v) in v.iter_mut().enumerate().take(V) {
                let mask = ((1u32 << lanes::<V>(j)) - 1) as __mmask16;
                *v = _mm512_maskz_loadu_ps(mask, p.add(j * LANES));
            }
            for i in 0..CHANNELS {
                let wi = _mm512_set1_ps(*w.add(i));
                for j in 0..V {
                    acc[V * i + j] = _mm512_fmadd_ps(wi, v[j], acc[V * i + j]);
                }
            }
            w = w.add(CHANNELS);
        }
        px = px.add(line);
    }
}
