//! Latents between the VAEs' layout and the transformer's token sequences,
//! as `LTX2Pipeline._pack_latents` / `_pack_audio_latents` lay them out.

use candle_core::{Result, Tensor};

/// [B, C, F, H, W] → [B, F/pt · H/p · W/p, C · pt · p · p].
pub fn pack_video(latents: &Tensor, patch: usize, patch_t: usize) -> Result<Tensor> {
    let (b, c, f, h, w) = latents.dims5()?;
    let (ft, hp, wp) = (f / patch_t, h / patch, w / patch);
    latents
        .reshape(vec![b, c, ft, patch_t, hp, patch, wp, patch])?
        .permute(vec![0, 2, 4, 6, 1, 3, 5, 7])?
        .reshape((b, ft * hp * wp, c * patch_t * patch * patch))
}

/// The inverse of [`pack_video`] for a latent grid of `frames`×`height`×`width`.
pub fn unpack_video(
    packed: &Tensor,
    frames: usize,
    height: usize,
    width: usize,
    patch: usize,
    patch_t: usize,
) -> Result<Tensor> {
    let b = packed.dim(0)?;
    let (ft, hp, wp) = (frames / patch_t, height / patch, width / patch);
    let c = packed.dim(2)? / (patch_t * patch * patch);
    packed
        .reshape(vec![b, ft, hp, wp, c, patch_t, patch, patch])?
        .permute(vec![0, 4, 1, 5, 2, 6, 3, 7])?
        .reshape((b, c, frames, height, width))
}

/// [B, C, L, M] → [B, L, C · M] (every mel bin of a latent frame is one token).
pub fn pack_audio(latents: &Tensor) -> Result<Tensor> {
    let (b, c, l, m) = latents.dims4()?;
    latents.transpose(1, 2)?.reshape((b, l, c * m))
}

/// The inverse of [`pack_audio`].
pub fn unpack_audio(packed: &Tensor, frames: usize, mel: usize) -> Result<Tensor> {
    let (b, l, width) = packed.dims3()?;
    if l != frames {
        candle_core::bail!("{l} audio tokens for {frames} latent frames");
    }
    packed
        .reshape((b, l, width / mel, mel))?
        .transpose(1, 2)?
        .contiguous()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn packing_round_trips_with_patches() {
        let x = Tensor::arange(0f32, 2.0 * 3.0 * 2.0 * 4.0 * 6.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 2, 6, 4, 6))
            .unwrap();
        for (p, pt) in [(1, 1), (2, 1), (2, 2)] {
            let packed = pack_video(&x, p, pt).unwrap();
            assert_eq!(packed.dims(), &[1, 6 / pt * 4 / p * 6 / p, 2 * pt * p * p]);
            let back = unpack_video(&packed, 6, 4, 6, p, pt).unwrap();
            let diff = (back - &x).unwrap().abs().unwrap().sum_all().unwrap();
            assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
        }
        // Patch 1: token = (f, h, w) in order, channels last.
        let packed = pack_video(&x, 1, 1).unwrap();
        let token = packed
            .get(0)
            .unwrap()
            .get(7)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(token, vec![7.0, 7.0 + 144.0]);
        let a = Tensor::arange(0u32, 24, &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .reshape((1, 2, 3, 4))
            .unwrap();
        let packed = pack_audio(&a).unwrap();
        assert_eq!(packed.dims(), &[1, 3, 8]);
        let back = unpack_audio(&packed, 3, 4).unwrap();
        assert_eq!(
            back.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }
}
