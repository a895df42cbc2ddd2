//! The direct convolution's kernel for AVX2 and FMA
//! (`conv3d_cpu_direct`, tile `Avx2`): 4 output channels × 24 pixels in 12
//! registers of 8; for each tap three vectors of input pixels are loaded and
//! four weights broadcast: 12 FMAs for 7 loads, all 16 registers.

use std::arch::x86_64::*;

use super::conv3d_cpu_direct::Plan;

/// Output channels one kernel call holds.
const CHANNELS: usize = 4;
/// f32 lanes of one AVX2 register.
const LANES: usize = 8;
/// Pixels along a line one kernel call computes: three registers.
const PIXELS: usize = 3 * LANES;

/// Output line `(t, y)` of the channels in `group`: `out` is one item's
/// `[out, t_out, h_out, w_out]`.
///
/// # Safety
///
/// The CPU has AVX2 and FMA; `rows` is `[tp][hp][in][line]`, `packed`
/// the weights as `packed_weights` packs them, `bias` one per channel,
/// all sized by `plan`; `out` is valid for the item and nothing else
/// writes line `(t, y)` of the group's channels meanwhile.
#[target_feature(enable = "avx2,fma")]
#[inline(never)] // one call per line; kept apart so its code can be read
pub(super) unsafe fn line(
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
    let taps = kt * kh * cin * kw;
    let plane = plan.t_out * plan.h_out * plan.w_out;
    let first = out.add((t * plan.h_out + y) * plan.w_out);
    for block in plan.group_blocks(group) {
        let weights = packed.as_ptr().add(block * taps * CHANNELS);
        let channels = (plan.cout - block * CHANNELS).min(CHANNELS);
        let mut start = [0f32; CHANNELS];
        start[..channels].copy_from_slice(&bias[block * CHANNELS..][..channels]);
        let mut x0 = 0;
        while x0 < plan.w_out {
            // acc[3i + j]: channel i, pixels x0 + 8j .. x0 + 8j + 8.
            let mut acc = [_mm256_setzero_ps(); 3 * CHANNELS];
            for (i, &b) in start.iter().enumerate() {
                acc[3 * i..3 * i + 3].fill(_mm256_set1_ps(b));
            }
            let mut w = weights;
            for dt in 0..kt {
                for dh in 0..kh {
                    let row = ((t + dt) * plan.hp + y + dh) * cin * line + x0;
                    let px = rows.as_ptr().add(row);
                    if kw == 3 && plan.dilation == 1 {
                        taps3(&mut acc, px, w, cin, line);
                    } else {
                        taps_any(&mut acc, px, w, cin, line, kw, plan.dilation);
                    }
                    w = w.add(cin * kw * CHANNELS);
                }
            }
            let width = (plan.w_out - x0).min(PIXELS);
            for i in 0..channels {
                let dst = first.add((block * CHANNELS + i) * plane + x0);
                let mut tail = [0f32; PIXELS];
                let to = if width == PIXELS {
                    dst
                } else {
                    tail.as_mut_ptr()
                };
                for j in 0..3 {
                    _mm256_storeu_ps(to.add(j * LANES), acc[3 * i + j]);
                }
                if width < PIXELS {
                    std::ptr::copy_nonoverlapping(tail.as_ptr(), dst, width);
                }
            }
            x0 += PIXELS;
        }
    }
}

/// Input channels summed per pass over a 1-D segment: their lines (up to
/// 1 KiB each) stay in a 32 KiB L1 cache while the pass goes along the
/// segment for every block of output channels of the group. Summing all
/// input channels per 24 pixels of one block at once (as [`line`] does)
/// reads every input line again for each block of four output channels.
const CHANNELS_PER_PASS: usize = 16;

/// A flattened plan's (`plan.flat_row_pitch`: one frame, the kernel's rows
/// `pitch` values apart along a line) output line `s` (one segment of the
/// flattened output) of the channels in `group`,
/// in passes of [`CHANNELS_PER_PASS`] input channels, the partial sums
/// kept in the output between passes.
///
/// # Safety
///
/// As [`line`]; besides, the plan is flat (`kt = 1`, `tp = 1`, each line
/// readable for `(kh - 1) · pitch` values past its taps) and its
/// lines are whole kernel calls wide (`w_out` a multiple of 24).
#[target_feature(enable = "avx2,fma")]
#[inline(never)]
pub(super) unsafe fn segment(
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
    let plane = plan.h_out * len;
    let first = out.add(s * len);
    for c0 in (0..cin).step_by(CHANNELS_PER_PASS) {
        let n = (cin - c0).min(CHANNELS_PER_PASS);
        for block in plan.group_blocks(group) {
            let weights = packed.as_ptr().add(block * kh * cin * kw * CHANNELS);
            let channels = (plan.cout - block * CHANNELS).min(CHANNELS);
            let dst = |i: usize| first.add((block * CHANNELS + i) * plane);
            for x0 in (0..len).step_by(PIXELS) {
                let mut acc = [_mm256_setzero_ps(); 3 * CHANNELS];
                for i in 0..channels {
                    for j in 0..3 {
                        acc[3 * i + j] = if c0 == 0 {
                            _mm256_set1_ps(bias[block * CHANNELS + i])
                        } else {
                            _mm256_loadu_ps(dst(i).add(x0 + j * LANES))
                        };
                    }
                }
                for dh in 0..kh {
                    let px = rows.as_ptr().add((s * cin + c0) * line + x0 + dh * pitch);
                    let w = weights.add((dh * cin + c0) * kw * CHANNELS);
                    taps_any(&mut acc, px, w, n, line, kw, plan.dilation);
                }
                for i in 0..channels {
                    for j in 0..3 {
                        _mm256_storeu_ps(dst(i).add(x0 + j * LANES), acc[3 * i + j]);
                    }
                }
            }
        }
    }
}

/// One tap of 24 pixels for four channels, as `asm!` text: three vectors
/// of input from byte `$off` past `{px}`, each of four weights from byte
/// `$woff` past `{w}` broadcast and multiplied into the 12 accumulators.
macro_rules! shift {
    ($off:literal, $woff:literal) => {
        concat!(
            "vmovups {v0}, [{px} + ",
            $off,
            "]\n",
            "vmovups {v1}, [{px} + ",
            $off,
            " + 32]\n",
            "vmovups {v2}, [{px} + ",
            $off,
            " + 64]\n",
            "vbroadcastss {b}, dword ptr [{w} + ",
            $woff,
            "]\n",
            "vfmadd231ps {a0}, {b}, {v0}\n",
            "vfmadd231ps {a1}, {b}, {v1}\n",
            "vfmadd231ps {a2}, {b}, {v2}\n",
            "vbroadcastss {b}, dword ptr [{w} + ",
            $woff,
            " + 4]\n",
            "vfmadd231ps {a3}, {b}, {v0}\n",
            "vfmadd231ps {a4}, {b}, {v1}\n",
            "vfmadd231ps {a5}, {b}, {v2}\n",
            "vbroadcastss {b}, dword ptr [{w} + ",
            $woff,
            " + 8]\n",
            "vfmadd231ps {a6}, {b}, {v0}\n",
            "vfmadd231ps {a7}, {b}, {v1}\n",
            "vfmadd231ps {a8}, {b}, {v2}\n",
            "vbroadcastss {b}, dword ptr [{w} + ",
            $woff,
            " + 12]\n",
            "vfmadd231ps {a9}, {b}, {v0}\n",
            "vfmadd231ps {a10}, {b}, {v1}\n",
            "vfmadd231ps {a11}, {b}, {v2}\n",
        )
    };
}

/// `acc += ` one padded line's taps for a kernel 3 wide: for each of
/// `cin` channels (lines `line` apart from `px`), three shifts of 24
/// pixels times four weights. Written out in assembly: the 12
/// accumulators, three input vectors and the broadcast weight fill the
/// 16 registers exactly, and the compiler's allocation spilled there.
///
/// # Safety
///
/// AVX2 and FMA; `px` readable for `cin` lines of 26 values, `w` for
/// `cin · 3 · 4` weights.
#[target_feature(enable = "avx2,fma")]
unsafe fn taps3(acc: &mut [__m256; 12], px: *const f32, w: *const f32, cin: usize, line: usize) {
    if cin == 0 {
        return;
    }
    std::arch::asm!(
        "2:",
        shift!("0", "0"),
        shift!("4", "16"),
        shift!("8", "32"),
        "add {w}, 48",
        "add {px}, {stride}",
        "dec {n}",
        "jnz 2b",
        a0 = inout(ymm_reg) acc[0],
        a1 = inout(ymm_reg) acc[1],
        a2 = inout(ymm_reg) acc[2],
        a3 = inout(ymm_reg) acc[3],
        a4 = inout(ymm_reg) acc[4],
        a5 = inout(ymm_reg) acc[5],
        a6 = inout(ymm_reg) acc[6],
        a7 = inout(ymm_reg) acc[7],
        a8 = inout(ymm_reg) acc[8],
        a9 = inout(ymm_reg) acc[9],
        a10 = inout(ymm_reg) acc[10],
        a11 = inout(ymm_reg) acc[11],
        v0 = out(ymm_reg) _,
        v1 = out(ymm_reg) _,
        v2 = out(ymm_reg) _,
        b = out(ymm_reg) _,
        px = inout(reg) px => _,
        w = inout(reg) w => _,
        n = inout(reg) cin => _,
        stride = in(reg) line * 4,
        options(nostack, readonly),
    );
}

/// [`taps3`] for any kernel width and tap spacing (`dilation` values
/// between taps): for each of `cin` channels, `kw` taps of 24 pixels times
/// four weights. In assembly for the same reason as `taps3`; the taps are
/// a loop inside the channels' loop, so one body serves every width.
///
/// # Safety
///
/// AVX2 and FMA; `px` readable for `cin` lines of
/// `24 + (kw - 1) · dilation` values, `w` for `cin · kw · 4` weights.
#[target_feature(enable = "avx2,fma")]
unsafe fn taps_any(
    acc: &mut [__m256; 12],
    px: *const f32,
    w: *const f32,
    cin: usize,
    line: usize,
    kw: usize,
    dilation: usize,
) {
    if cin == 0 || kw == 0 {
        return;
    }
    std::arch::asm!(
        "2:",
        "mov {px}, {start}",
        "mov {k}, {kw}",
        "3:",
        shift!("0", "0"),
        "add {w}, 16",
        "add {px}, {spacing}",
        "dec {k}",
        "jnz 3b",
        "add {start}, {stride}",
        "dec {n}",
        "jnz 2b",
        a0 = inout(ymm_reg) acc[0],
        a1 = inout(ymm_reg) acc[1],
        a2 = inout(ymm_reg) acc[2],
        a3 = inout(ymm_reg) acc[3],
        a4 = inout(ymm_reg) acc[4],
        a5 = inout(ymm_reg) acc[5],
        a6 = inout(ymm_reg) acc[6],
        a7 = inout(ymm_reg) acc[7],
        a8 = inout(ymm_reg) acc[8],
        a9 = inout(ymm_reg) acc[9],
        a10 = inout(ymm_reg) acc[10],
        a11 = inout(ymm_reg) acc[11],
        v0 = out(ymm_reg) _,
        v1 = out(ymm_reg) _,
        v2 = out(ymm_reg) _,
        b = out(ymm_reg) _,
        start = inout(reg) px => _,
        px = out(reg) _,
        w = inout(reg) w => _,
        k = out(reg) _,
        kw = in(reg) kw,
        n = inout(reg) cin => _,
        stride = in(reg) line * 4,
        spacing = in(reg) dilation * 4,
        options(nostack, readonly),
    );
}
