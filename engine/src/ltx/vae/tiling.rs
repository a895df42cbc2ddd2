//! Decoding in overlapping tiles (diffusers' `_decode` with `enable_tiling()` and
//! `use_framewise_decoding`): temporal tiles of latent frames, each decoded in spatial
//! tiles, neighbours blended linearly over the overlap, so memory is bounded by one tile.

use candle_core::{Result, Tensor};

use super::layers::DecoderNoise;
use super::AutoencoderKl;

/// Tile sizes and strides in output pixels/frames (diffusers' `tile_sample_*`), and which
/// kinds of tiling are on. The overlap of two tiles is `min - stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    /// Tile in height and width (diffusers' `use_tiling`).
    pub spatial: bool,
    /// Tile in time (diffusers' `use_framewise_decoding`).
    pub temporal: bool,
    pub tile_sample_min_height: usize,
    pub tile_sample_min_width: usize,
    pub tile_sample_min_num_frames: usize,
    pub tile_sample_stride_height: usize,
    pub tile_sample_stride_width: usize,
    pub tile_sample_stride_num_frames: usize,
}

impl Default for Tiling {
    /// diffusers' defaults (512x512 tiles every 448 pixels, 16 frames every 8), both kinds on.
    fn default() -> Self {
        Self {
            spatial: true,
            temporal: true,
            tile_sample_min_height: 512,
            tile_sample_min_width: 512,
            tile_sample_min_num_frames: 16,
            tile_sample_stride_height: 448,
            tile_sample_stride_width: 448,
            tile_sample_stride_num_frames: 8,
        }
    }
}

/// Where a tile's first `extent` entries along `dim` fade in over the end of `prev`:
/// `b[i] = prev[-extent + i] * (1 - i / extent) + b[i] * (i / extent)` (diffusers' `blend_*`).
fn blend(prev: &Tensor, tile: &Tensor, dim: usize, extent: usize) -> Result<Tensor> {
    let extent = extent.min(prev.dim(dim)?).min(tile.dim(dim)?);
    if extent == 0 {
        return Ok(tile.clone());
    }
    let len = tile.dim(dim)?;
    let mut shape = vec![1usize; tile.rank()];
    shape[dim] = extent;
    let ramp: Vec<f32> = (0..extent).map(|i| i as f32 / extent as f32).collect();
    let ramp = Tensor::from_vec(ramp, shape, tile.device())?.to_dtype(tile.dtype())?;
    let prev_tail = prev.narrow(dim, prev.dim(dim)? - extent, extent)?;
    let head = tile.narrow(dim, 0, extent)?;
    // prev * (1 - r) + head * r == prev + (head - prev) * r
    let blended = (&prev_tail + (head - &prev_tail)?.broadcast_mul(&ramp)?)?;
    if extent == len {
        return Ok(blended);
    }
    Tensor::cat(&[&blended, &tile.narrow(dim, extent, len - extent)?], dim)
}

fn narrow_to(x: &Tensor, dim: usize, len: usize) -> Result<Tensor> {
    x.narrow(dim, 0, len.min(x.dim(dim)?))
}

impl AutoencoderKl {
    /// [`AutoencoderKl::decode`] in tiles: temporal tiles when `tiling.temporal` and the
    /// latents have more frames than a tile, spatial tiles when `tiling.spatial` and they
    /// are larger than a tile, else one plain decode. Noise is drawn tile by tile, in
    /// the order diffusers decodes them.
    pub fn tiled_decode(
        &self,
        z: &Tensor,
        timestep: Option<&Tensor>,
        noise: &mut dyn DecoderNoise,
        tiling: &Tiling,
    ) -> Result<Tensor> {
        let ratios = (
            self.spatial_compression_ratio(),
            self.temporal_compression_ratio(),
        );
        tiled_decode(z, ratios, tiling, &mut |tile| {
            self.decode(tile, timestep, noise)
        })
    }
}

/// Decodes `z` with `decode` in tiles as diffusers' LTX VAEs do (LTX-Video's and
/// LTX-2's share the scheme): temporal tiles when `tiling.temporal` and the latents
/// have more frames than a tile, spatial tiles when `tiling.spatial` and they are
/// larger than a tile, else one plain decode. `ratios` are the VAE's (spatial,
/// temporal) compression; tiles are decoded in diffusers' order.
pub fn tiled_decode(
    z: &Tensor,
    ratios: (usize, usize),
    tiling: &Tiling,
    decode: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let (_, _, frames, height, width) = z.dims5()?;
    let (s, t) = ratios;
    if tiling.temporal && frames > tiling.tile_sample_min_num_frames / t {
        return temporal_tiled_decode(z, ratios, tiling, decode);
    }
    if tiling.spatial
        && (width > tiling.tile_sample_min_width / s || height > tiling.tile_sample_min_height / s)
    {
        return spatial_tiled_decode(z, s, tiling, decode);
    }
    decode(z)
}

/// diffusers' `tiled_decode`: a grid of overlapping tiles, each blended with the
/// (already blended) one above and to its left, cropped to the stride and joined.
fn spatial_tiled_decode(
    z: &Tensor,
    s: usize,
    tiling: &Tiling,
    decode: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let (_, _, _, height, width) = z.dims5()?;
    let (min_h, min_w) = (
        tiling.tile_sample_min_height / s,
        tiling.tile_sample_min_width / s,
    );
    let (stride_h, stride_w) = (
        tiling.tile_sample_stride_height / s,
        tiling.tile_sample_stride_width / s,
    );
    if stride_h == 0 || stride_w == 0 {
        candle_core::bail!("tile strides must be at least one latent ({s} pixels)");
    }
    let blend_h = tiling
        .tile_sample_min_height
        .saturating_sub(tiling.tile_sample_stride_height);
    let blend_w = tiling
        .tile_sample_min_width
        .saturating_sub(tiling.tile_sample_stride_width);

    let mut rows: Vec<Vec<Tensor>> = Vec::new();
    for i in (0..height).step_by(stride_h) {
        let mut row = Vec::new();
        for j in (0..width).step_by(stride_w) {
            let tile = z
                .narrow(3, i, min_h.min(height - i))?
                .narrow(4, j, min_w.min(width - j))?;
            row.push(decode(&tile)?);
        }
        rows.push(row);
    }

    let mut joined_rows = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let mut cropped = Vec::with_capacity(rows[i].len());
        for j in 0..rows[i].len() {
            let mut tile = rows[i][j].clone();
            if i > 0 {
                tile = blend(&rows[i - 1][j], &tile, 3, blend_h)?;
            }
            if j > 0 {
                tile = blend(&rows[i][j - 1], &tile, 4, blend_w)?;
            }
            // Later tiles blend with this one as blended, as diffusers' in-place update does.
            rows[i][j] = tile.clone();
            let tile = narrow_to(&tile, 3, tiling.tile_sample_stride_height)?;
            cropped.push(narrow_to(&tile, 4, tiling.tile_sample_stride_width)?);
        }
        joined_rows.push(Tensor::cat(&cropped, 4)?);
    }
    let out = Tensor::cat(&joined_rows, 3)?;
    let out = narrow_to(&out, 3, height * s)?;
    narrow_to(&out, 4, width * s)
}

/// diffusers' `_temporal_tiled_decode`: tiles of `min + 1` latent frames every `stride`,
/// each (but the first) losing its last decoded frame and fading in over the previous.
fn temporal_tiled_decode(
    z: &Tensor,
    (s, t): (usize, usize),
    tiling: &Tiling,
    decode: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let (_, _, frames, height, width) = z.dims5()?;
    let sample_frames = (frames - 1) * t + 1;
    let min_f = tiling.tile_sample_min_num_frames / t;
    let stride_f = tiling.tile_sample_stride_num_frames / t;
    if stride_f == 0 {
        candle_core::bail!(
            "the temporal tile stride must be at least one latent frame ({t} frames)"
        );
    }
    let blend_f = tiling
        .tile_sample_min_num_frames
        .saturating_sub(tiling.tile_sample_stride_num_frames);
    let (min_h, min_w) = (
        tiling.tile_sample_min_height / s,
        tiling.tile_sample_min_width / s,
    );

    let mut tiles = Vec::new();
    for i in (0..frames).step_by(stride_f) {
        let tile = z.narrow(2, i, (min_f + 1).min(frames - i))?;
        let decoded = if tiling.spatial && (width > min_w || height > min_h) {
            spatial_tiled_decode(&tile, s, tiling, decode)?
        } else {
            decode(&tile)?
        };
        let decoded = if i > 0 {
            decoded.narrow(2, 0, decoded.dim(2)? - 1)?
        } else {
            decoded
        };
        tiles.push(decoded);
    }

    let mut kept = Vec::with_capacity(tiles.len());
    for i in 0..tiles.len() {
        if i == 0 {
            kept.push(narrow_to(
                &tiles[0],
                2,
                tiling.tile_sample_stride_num_frames + 1,
            )?);
            continue;
        }
        let tile = blend(&tiles[i - 1], &tiles[i], 2, blend_f)?;
        tiles[i] = tile.clone();
        let tile = narrow_to(&tile, 2, tiling.tile_sample_stride_num_frames)?;
        if tile.dim(2)? > 0 {
            kept.push(tile);
        }
    }
    narrow_to(&Tensor::cat(&kept, 2)?, 2, sample_frames)
}
