"""Tiled decode fixture for the LTX-2 video VAE (engine/tests/ltx2_vae.rs).

Loads the tiny VAE ltx2_vae.py saved (engine/tests/fixtures/ltx2/vae/vae), turns on
diffusers' tiling with tiles small enough for it (spatial and framewise), and decodes
random latents larger than one tile in every direction, whole and tiled.

Run from the repository root after ltx2_vae.py:
    .venv-golden/bin/python scripts/golden/ltx2_vae_tiled.py

Writes engine/tests/fixtures/ltx2/vae/tiled.safetensors: latents, decoded_tiled
(it differs from the whole decode by about 3: the test checks that too), and the
tile settings as a tensor
[min_height, min_width, min_frames, stride_height, stride_width, stride_frames].
"""

import os
import sys

import torch
from diffusers import AutoencoderKLLTX2Video
from safetensors.torch import save_file

DIR = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "tests", "fixtures", "ltx2", "vae")

# In pixels/frames, as diffusers' enable_tiling takes them: three latents per tile every
# two (one of overlap; every tile at least two wide, as the reflect padding needs);
# 16-frame tiles every 8 frames (two latent frames, one of overlap).
TILES = dict(
    tile_sample_min_height=48,
    tile_sample_min_width=48,
    tile_sample_min_num_frames=16,
    tile_sample_stride_height=32,
    tile_sample_stride_width=32,
    tile_sample_stride_num_frames=8,
)


@torch.no_grad()
def main():
    vae = AutoencoderKLLTX2Video.from_pretrained(os.path.join(DIR, "vae")).eval()
    assert vae.spatial_compression_ratio == 16 and vae.temporal_compression_ratio == 8
    g = torch.Generator().manual_seed(11)
    # 3 latent frames (17 frames), 4 x 6 latents (64 x 96 pixels).
    latents = torch.randn(1, vae.config.latent_channels, 3, 4, 6, generator=g)
    whole = vae.decode(latents).sample
    vae.enable_tiling(**TILES)
    vae.use_framewise_decoding = True
    tiled = vae.decode(latents).sample
    print("latents", tuple(latents.shape), "->", tuple(tiled.shape),
          "tiled vs whole max diff", (tiled - whole).abs().max().item())
    settings = torch.tensor([float(TILES[k]) for k in (
        "tile_sample_min_height", "tile_sample_min_width", "tile_sample_min_num_frames",
        "tile_sample_stride_height", "tile_sample_stride_width", "tile_sample_stride_num_frames")])
    save_file(
        {"latents": latents.contiguous(), "decoded_tiled": tiled.contiguous(), "tiles": settings},
        os.path.join(DIR, "tiled.safetensors"),
    )
    print("wrote", os.path.normpath(os.path.join(DIR, "tiled.safetensors")))


if __name__ == "__main__":
    sys.exit(main())
