//! Whether a decode runs whole or in tiles (`engine.vae_tiling`).
//!
//! Tiling changes the frames: every tile after the first is decoded without the frames
//! before it and blended in, which diffusers does only when asked
//! (`enable_tiling()`). So the default, [`VaeTiling::Auto`], decodes whole whenever the
//! estimated peak of a whole decode fits the memory budget, and tiles only when it must.

use std::fmt;
use std::str::FromStr;

use candle_core::{Result, Tensor};

use super::config::Config;
use super::layers::DecoderNoise;
use super::tiling::Tiling;
use super::AutoencoderKl;

/// `engine.vae_tiling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VaeTiling {
    /// Whole when the decode fits the memory budget, tiled otherwise.
    #[default]
    Auto,
    /// Always diffusers' tiled decode (temporal and spatial tiles where larger than one).
    On,
    /// Always whole, whatever the size.
    Off,
}

impl VaeTiling {
    pub const NAMES: [&'static str; 3] = ["auto", "on", "off"];

    /// Whether to tile a decode whose whole-decode peak is `peak_bytes`.
    pub fn tiles(self, peak_bytes: u64, budget_bytes: u64) -> bool {
        match self {
            VaeTiling::Auto => peak_bytes > budget_bytes,
            VaeTiling::On => true,
            VaeTiling::Off => false,
        }
    }
}

impl fmt::Display for VaeTiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VaeTiling::Auto => "auto",
            VaeTiling::On => "on",
            VaeTiling::Off => "off",
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown VAE tiling {0:?}; expected one of auto, on, off")]
pub struct UnknownTiling(pub String);

impl FromStr for VaeTiling {
    type Err = UnknownTiling;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "auto" => Ok(VaeTiling::Auto),
            "on" => Ok(VaeTiling::On),
            "off" => Ok(VaeTiling::Off),
            other => Err(UnknownTiling(other.to_string())),
        }
    }
}

/// Most elements one conv's column matrix holds (the conv splits longer inputs by frames).
const COLUMN_CAP_ELEMENTS: u64 = 1 << 28;

impl Config {
    /// Estimated peak bytes of one whole decode of latents `[1, c, frames, height, width]`
    /// in a dtype of `dtype_bytes`: the largest activation of the decoder five times over
    /// (a resnet holds its input, the normalised copy, the conv output and the sum; the
    /// upsampler's shuffle copies once more) plus the largest conv column matrix (nine
    /// spatial taps of its input, capped by the conv's frame chunking). An estimate to
    /// choose whole or tiled by, not a measurement.
    pub fn decode_peak_bytes(
        &self,
        frames: usize,
        height: usize,
        width: usize,
        dtype_bytes: usize,
    ) -> u64 {
        let channels: Vec<usize> = self
            .decoder_block_out_channels
            .iter()
            .rev()
            .copied()
            .collect();
        let scaling: Vec<bool> = self
            .decoder_spatio_temporal_scaling
            .iter()
            .rev()
            .copied()
            .collect();
        let factor: Vec<usize> = self.upsample_factor.iter().rev().copied().collect();
        let (mut f, mut h, mut w) = (frames as u64, height as u64, width as u64);
        let mut width_now = *channels.first().unwrap_or(&1) as u64;
        let mut largest = (self.latent_channels as u64).max(width_now) * f * h * w;
        let mut largest_conv_input = largest;
        for (i, &out) in channels.iter().enumerate() {
            let out = (out / factor.get(i).copied().unwrap_or(1).max(1)) as u64;
            let volume = f * h * w;
            largest = largest.max(width_now.max(out) * volume);
            largest_conv_input = largest_conv_input.max(width_now.max(out) * volume);
            if scaling.get(i).copied().unwrap_or(false) {
                // The upsampler's conv makes 8 × out channels at this size; depth-to-space
                // doubles time (less the dropped first frame), height and width.
                largest = largest.max(out * 8 * volume);
                f = 2 * f - 1;
                h *= 2;
                w *= 2;
            }
            largest = largest.max(out * f * h * w);
            largest_conv_input = largest_conv_input.max(out * f * h * w);
            width_now = out;
        }
        let columns = (9 * largest_conv_input).min(COLUMN_CAP_ELEMENTS);
        (5 * largest + columns) * dtype_bytes as u64
    }
}

impl AutoencoderKl {
    /// Decodes whole, or in diffusers' default tiles when `mode` says so or (auto) when
    /// the estimated peak of a whole decode is over `budget_bytes`.
    pub fn planned_decode(
        &self,
        z: &Tensor,
        timestep: Option<&Tensor>,
        noise: &mut dyn DecoderNoise,
        mode: VaeTiling,
        budget_bytes: u64,
    ) -> Result<Tensor> {
        let (batch, _, frames, height, width) = z.dims5()?;
        let peak = self
            .config()
            .decode_peak_bytes(frames, height, width, z.dtype().size_in_bytes())
            .saturating_mul(batch as u64);
        let tiled = mode.tiles(peak, budget_bytes);
        tracing::debug!(%mode, peak_mib = peak >> 20, budget_mib = budget_bytes >> 20, tiled, "VAE decode");
        if tiled {
            self.tiled_decode(z, timestep, noise, &Tiling::default())
        } else {
            self.decode(z, timestep, noise)
        }
    }
}

/// Bytes the decode may take on the CPU when no budget is configured: half of what the
/// system reports available (`MemAvailable`), or 4 GiB where that cannot be read.
pub fn cpu_memory_budget() -> u64 {
    const FALLBACK: u64 = 4 << 30;
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or(FALLBACK, |kib| kib * 1024 / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for name in VaeTiling::NAMES {
            assert_eq!(name.parse::<VaeTiling>().unwrap().to_string(), name);
        }
        let err = "sometimes".parse::<VaeTiling>().unwrap_err();
        assert!(err.to_string().contains("auto, on, off"), "{err}");
    }

    #[test]
    fn auto_tiles_only_past_the_budget() {
        assert!(!VaeTiling::Auto.tiles(10, 10));
        assert!(VaeTiling::Auto.tiles(11, 10));
        assert!(VaeTiling::On.tiles(0, 10));
        assert!(!VaeTiling::Off.tiles(u64::MAX, 10));
    }

    #[test]
    fn the_estimate_grows_with_the_clip() {
        let cfg = Config::default();
        let small = cfg.decode_peak_bytes(4, 8, 12, 4);
        let large = cfg.decode_peak_bytes(16, 16, 24, 4);
        assert!(large > 4 * small, "{small} -> {large}");
        // The final activation alone: 128 channels × 121 frames × 512 × 768 / 16 (patch 4).
        assert!(large > 128 * 121 * 128 * 192 * 4);
    }
}
