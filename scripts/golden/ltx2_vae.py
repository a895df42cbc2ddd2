"""Reference LTX-2 video VAE (AutoencoderKLLTX2Video): encode and decode.

Run from the repository root (CPU only, no downloads):

    /work/venv/bin/python scripts/golden/ltx2_vae.py

Tiny random-weight configurations with LTX-2's layout:
  vae         LTX-2.0's block pattern scaled down: patch 2, down blocks spatial /
              temporal / spatiotemporal / spatiotemporal (16x spatial, 8x temporal),
              residual spatiotemporal upsamplers with factor 2, causal encoder with
              zero padding, non-causal decoder with reflect padding
  vae_causal  both causal, zero padding everywhere, other down- and upsampler orders,
              a block without downsampling, upsamplers of each kind, patch 1

Writes engine/tests/fixtures/ltx2/vae/<name>/ (save_pretrained) and
reference.safetensors: <name>.video (input, -1..1), <name>.posterior (encoder output),
<name>.latents (the mean), <name>.decoded.
"""

import os
import sys

import torch
from safetensors.torch import save_file

from diffusers import AutoencoderKLLTX2Video

sys.path.insert(0, os.path.dirname(__file__))
from ltx2_common import contiguous, fixture_dir, randomize  # noqa: E402

OUT = fixture_dir("vae")

CONFIGS = {
    "vae": dict(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 16, 16),
        decoder_block_out_channels=(4, 8, 16),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_type=("spatiotemporal", "spatiotemporal", "spatiotemporal"),
        # The innermost level plain: a residual needs channels divisible by 8 there.
        upsample_residual=(False, True, True),
        upsample_factor=(2, 2, 2),
        timestep_conditioning=False,
        patch_size=2,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
        encoder_spatial_padding_mode="zeros",
        decoder_spatial_padding_mode="reflect",
        # What the blocks do (diffusers' default formula would say 32 and 16),
        # given explicitly as LTX-2's config does; the pipeline reads them.
        spatial_compression_ratio=16,
        temporal_compression_ratio=8,
    ),
    "vae_causal": dict(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(8, 8, 16, 16),
        decoder_block_out_channels=(4, 8, 16),
        layers_per_block=(1, 2, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 2, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        downsample_type=("temporal", "spatial", "spatiotemporal", "spatial"),
        upsample_type=("spatial", "temporal", "spatiotemporal"),
        upsample_residual=(False, True, False),
        upsample_factor=(2, 2, 2),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=True,
        encoder_spatial_padding_mode="zeros",
        decoder_spatial_padding_mode="zeros",
    ),
}

# (frames, height, width) of the input video: 8n + 1 frames for the 8x temporal layout.
SHAPES = {"vae": (9, 32, 32), "vae_causal": (9, 16, 8)}


def build(name, seed):
    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video(**CONFIGS[name])
    randomize(vae, seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    vae.latents_mean.copy_(torch.randn(vae.latents_mean.shape, generator=g) * 0.3)
    vae.latents_std.copy_(torch.rand(vae.latents_std.shape, generator=g) + 0.5)
    return vae.eval()


@torch.no_grad()
def main():
    reference = {}
    g = torch.Generator().manual_seed(3)
    for i, name in enumerate(CONFIGS):
        vae = build(name, seed=40 + i)
        vae.save_pretrained(os.path.join(OUT, name))
        frames, height, width = SHAPES[name]
        video = torch.rand(1, 3, frames, height, width, generator=g) * 2 - 1
        posterior = vae.encoder(video)
        latents = vae.encode(video).latent_dist.mode()
        decoded = vae.decode(latents).sample
        reference[f"{name}.video"] = video
        reference[f"{name}.posterior"] = posterior
        reference[f"{name}.latents"] = latents
        reference[f"{name}.decoded"] = decoded
        print(name, tuple(video.shape), "->", tuple(latents.shape), "->", tuple(decoded.shape))
    save_file(contiguous(reference), os.path.join(OUT, "reference.safetensors"))
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    sys.exit(main())
