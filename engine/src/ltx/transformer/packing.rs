//! The pipeline's latent helpers (diffusers' `LTXPipeline._pack_latents`,
//! `_unpack_latents`, `_normalize_latents`, `_denormalize_latents`): video
//! latents ⇄ the transformer's token sequence, and the VAE's per-channel
//! latent statistics.

use candle_core::{Result, Tensor};

/// [B, C, F, H, W] → [B, F/pt · H/p · W/p, C · pt · p · p]: one token per
/// patch, tokens in (frame, row, column) order.
pub fn pack_latents(latents: &Tensor, patch_size: usize, patch_size_t: usize) -> Result<Tensor> {
    let (b, c, f, h, w) = latents.dims5()?;
    let (p, pt) = (patch_size, patch_size_t);
    if p == 0 || pt == 0 || f % pt != 0 || h % p != 0 || w % p != 0 {
        candle_core::bail!(
            "latents {:?} do not divide into {pt}×{p}×{p} patches",
            latents.shape()
        );
    }
    let (f, h, w) = (f / pt, h / p, w / p);
    latents
        .reshape(vec![b, c, f, pt, h, p, w, p])? // (b, c, f, pt, h, p, w, p)
        .permute(vec![0, 2, 4, 6, 1, 3, 5, 7])? // (b, f, h, w, c, pt, p, p)
        .reshape((b, f * h * w, c * pt * p * p))
}

/// The inverse of [`pack_latents`]: [B, N, C · pt · p · p] → [B, C, F·pt, H·p, W·p],
/// with `num_frames`, `height`, `width` counted in patches.
pub fn unpack_latents(
    tokens: &Tensor,
    num_frames: usize,
    height: usize,
    width: usize,
    patch_size: usize,
    patch_size_t: usize,
) -> Result<Tensor> {
    let (b, n, features) = tokens.dims3()?;
    let (p, pt) = (patch_size, patch_size_t);
    let patch_volume = pt * p * p;
    if n != num_frames * height * width || patch_volume == 0 || features % patch_volume != 0 {
        candle_core::bail!(
            "tokens {:?} do not unpack into {num_frames}×{height}×{width} patches of {pt}×{p}×{p}",
            tokens.shape()
        );
    }
    let c = features / patch_volume;
    tokens
        .reshape(vec![b, num_frames, height, width, c, pt, p, p])? // (b, f, h, w, c, pt, p, p)
        .permute(vec![0, 4, 1, 5, 2, 6, 3, 7])? // (b, c, f, pt, h, p, w, p)
        .reshape((b, c, num_frames * pt, height * p, width * p))
}

/// `(latents − mean) · scaling_factor / std`, per channel of [B, C, F, H, W];
/// `mean` and `std` are [C] (the VAE config's `latents_mean` / `latents_std`).
pub fn normalize_latents(
    latents: &Tensor,
    mean: &Tensor,
    std: &Tensor,
    scaling_factor: f64,
) -> Result<Tensor> {
    let (mean, std) = channel_stats(latents, mean, std)?;
    (latents.broadcast_sub(&mean)? * scaling_factor)?.broadcast_div(&std)
}

/// The inverse of [`normalize_latents`]: `latents · std / scaling_factor + mean`.
pub fn denormalize_latents(
    latents: &Tensor,
    mean: &Tensor,
    std: &Tensor,
    scaling_factor: f64,
) -> Result<Tensor> {
    let (mean, std) = channel_stats(latents, mean, std)?;
    (latents.broadcast_mul(&std)? / scaling_factor)?.broadcast_add(&mean)
}

/// `mean` and `std` as [1, C, 1, 1, 1] in the latents' dtype and device.
fn channel_stats(latents: &Tensor, mean: &Tensor, std: &Tensor) -> Result<(Tensor, Tensor)> {
    let c = latents.dim(1)?;
    let shape = (1, c, 1, 1, 1);
    let prepare = |t: &Tensor| {
        t.to_device(latents.device())?
            .to_dtype(latents.dtype())?
            .reshape(shape)
    };
    Ok((prepare(mean)?, prepare(std)?))
}
