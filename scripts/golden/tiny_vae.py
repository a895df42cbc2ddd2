"""Tiny random-weight LTX-Video VAE (the 0.9.5+ layout of the distilled 0.9.6/0.9.8
checkpoints) and diffusers' reference outputs for the candle port.

Run from the repository root:
    /work/golden-venv/bin/python scripts/golden/tiny_vae.py

Writes engine/tests/fixtures/ltx/vae/:
    vae/                     save_pretrained of the tiny model (config.json + weights)
    decode.safetensors       latents [1,8,2,2,2], timestep, the injected noise in draw order, frames
    encode.safetensors       video [1,3,9,64,64], posterior mean/logvar, sample noise and sample;
                             the posterior of its first frame alone (image_mean/image_logvar)
    tiled_decode.safetensors latents [1,8,3,2,3], tiled (temporal + spatial) frames and their noise
    decode_091.safetensors   (with vae_091/) the 0.9.1 variant: conv down blocks, noise in 3 up blocks
    decode_090.safetensors   (with vae_090/) the 0.9.0 variant, 4 channels wide: latents [1,8,2,1,1]
                             and the encode of the top-left 32x32 of the encode video

Frames of the tiled and 0.9.1 references are stored as float16 to keep the fixtures small
(the tests allow for that rounding); everything else is float32.

The geometry is the real one (patch 4, 32x spatial, 8x temporal: 9 frames of 64x64 <->
latents [1,8,2,2,2]) with tiny channel counts. Every parameter and buffer is overwritten
with seeded random values so no path is trivially zero.
"""

import math
import os
import sys

import torch
from diffusers import AutoencoderKLLTXVideo
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "tests", "fixtures", "ltx", "vae")

# Mirrors the diffusers config of LTX-Video 0.9.5/0.9.7/0.9.8 (scripts/convert_ltx_to_diffusers.py)
# at tiny width: four LTXVideo095DownBlock3D (spatial, temporal, spatiotemporal x2), a decoder of
# three residual 2x upsamplers that halve the width, timestep conditioning. Noise injection is off
# in the real 0.9.5 config; it is switched on in some blocks here so the parity test covers it.
TINY_095 = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=8,
    block_out_channels=(8, 8, 16, 16, 16),
    down_block_types=("LTXVideo095DownBlock3D",) * 4,
    decoder_block_out_channels=(4, 8, 16),
    layers_per_block=(1, 1, 1, 1, 1),
    decoder_layers_per_block=(1, 1, 1, 2),
    spatio_temporal_scaling=(True, True, True, True),
    decoder_spatio_temporal_scaling=(True, True, True),
    decoder_inject_noise=(True, False, True, True),
    downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
    # Residual upsampling needs a width divisible by 8: off in the narrowest (last) block.
    upsample_residual=(False, True, True),
    upsample_factor=(2, 2, 2),
    timestep_conditioning=True,
    patch_size=4,
    patch_size_t=1,
    resnet_norm_eps=1e-6,
    scaling_factor=1.0,
    encoder_causal=True,
    decoder_causal=False,
    spatial_compression_ratio=32,
    temporal_compression_ratio=8,
)

# The 0.9.1 layout at tiny width: LTXVideoDownBlock3D with strided-conv downsampling and a
# conv_out resnet where the width changes, no downsampling in the last block; a decoder like
# 0.9.5's but with noise injection in the three up blocks.
TINY_091 = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=8,
    block_out_channels=(4, 4, 8, 8),
    down_block_types=("LTXVideoDownBlock3D",) * 4,
    decoder_block_out_channels=(4, 8, 16),
    layers_per_block=(1, 1, 1, 1, 1),
    decoder_layers_per_block=(1, 1, 1, 1),
    spatio_temporal_scaling=(True, True, True, False),
    decoder_spatio_temporal_scaling=(True, True, True),
    decoder_inject_noise=(True, True, True, False),
    downsample_type=("conv", "conv", "conv", "conv"),
    upsample_residual=(False, True, True),
    upsample_factor=(2, 2, 2),
    timestep_conditioning=True,
    patch_size=4,
    patch_size_t=1,
    resnet_norm_eps=1e-6,
    scaling_factor=1.0,
    encoder_causal=True,
    decoder_causal=False,
)


# The 0.9.0 layout at 4 channels: no timestep conditioning or noise, width-changing conv_in
# resnets in the up blocks, plain (non-residual) upsamplers, a last block without scaling.
TINY_090 = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=8,
    block_out_channels=(4, 4, 8, 8),
    down_block_types=("LTXVideoDownBlock3D",) * 4,
    decoder_block_out_channels=(4, 4, 8, 8),
    layers_per_block=(1, 1, 1, 1, 1),
    decoder_layers_per_block=(1, 1, 1, 1, 1),
    spatio_temporal_scaling=(True, True, True, False),
    decoder_spatio_temporal_scaling=(True, True, True, False),
    decoder_inject_noise=(False, False, False, False, False),
    downsample_type=("conv", "conv", "conv", "conv"),
    upsample_residual=(False, False, False, False),
    upsample_factor=(1, 1, 1, 1),
    timestep_conditioning=False,
    patch_size=4,
    patch_size_t=1,
    resnet_norm_eps=1e-6,
    scaling_factor=1.0,
    encoder_causal=True,
    decoder_causal=False,
)


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Overwrites every parameter and buffer so activations stay O(1) and nothing is zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith("timestep_scale_multiplier"):
                p.copy_(torch.tensor(1000.0) * (0.5 + torch.rand((), generator=g)))
            elif name.endswith("latents_std"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif p.dim() >= 2 and "scale_shift_table" not in name:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif "per_channel_scale" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def build(config: dict | None = None, seed: int = 0) -> AutoencoderKLLTXVideo:
    """The seeded tiny VAE (0.9.5 layout unless another config is given), in eval mode."""
    vae = AutoencoderKLLTXVideo(**(config or TINY_095))
    randomize(vae, seed)
    return vae.eval()


def decode_recording_noise(vae, z, temb):
    """Decodes and returns (frames, the noise tensors the decoder drew, in draw order)."""
    drawn = []
    real_randn = torch.randn

    def recording_randn(*args, **kwargs):
        t = real_randn(*args, **kwargs)
        drawn.append(t.clone())
        return t

    torch.randn = recording_randn
    try:
        frames = vae.decode(z, temb).sample
    finally:
        torch.randn = real_randn
    return frames, drawn


def noise_entries(drawn):
    return {f"noise_{i:03}": t.contiguous() for i, t in enumerate(drawn)}


def main():
    torch.manual_seed(1234)
    g = torch.Generator().manual_seed(42)

    vae = build()
    vae.save_pretrained(os.path.join(OUT, "vae"))

    with torch.no_grad():
        # Decode of a [1,8,2,2,2] latent with a timestep, noise injection on.
        z = torch.randn((1, 8, 2, 2, 2), generator=g)
        timestep = torch.tensor([0.05])
        frames, drawn = decode_recording_noise(vae, z, timestep)
        assert frames.shape == (1, 3, 9, 64, 64), frames.shape
        save_file(
            {"latents": z, "timestep": timestep, "frames": frames.contiguous(), **noise_entries(drawn)},
            os.path.join(OUT, "decode.safetensors"),
        )

        # Encode of a [1,3,9,64,64] video in -1..1: the posterior and a sample with given noise.
        video = torch.rand((1, 3, 9, 64, 64), generator=g) * 2 - 1
        posterior = vae.encode(video).latent_dist
        sample_seed = 7
        sample = posterior.sample(generator=torch.Generator().manual_seed(sample_seed))
        sample_noise = torch.randn(posterior.mean.shape, generator=torch.Generator().manual_seed(sample_seed))
        # A single image (the video's first frame), as the image-to-video pipelines encode it.
        image_posterior = vae.encode(video[:, :, :1]).latent_dist
        save_file(
            {
                "image_mean": image_posterior.mean.contiguous(),
                "image_logvar": image_posterior.logvar.contiguous(),
                "video": video,
                "mean": posterior.mean.contiguous(),
                "logvar": posterior.logvar.contiguous(),
                "sample_noise": sample_noise,
                "sample": sample.contiguous(),
            },
            os.path.join(OUT, "encode.safetensors"),
        )

        # Tiled decode: tiles of 64x64 pixels every 32, 16 frames every 8, so latents [1,8,3,2,3]
        # make three temporal tiles of two spatial rows and three columns each.
        z3 = torch.randn((1, 8, 3, 2, 3), generator=g)
        timestep3 = torch.tensor([0.3])
        vae.enable_tiling(
            tile_sample_min_height=64,
            tile_sample_min_width=64,
            tile_sample_min_num_frames=16,
            tile_sample_stride_height=32,
            tile_sample_stride_width=32,
            tile_sample_stride_num_frames=8,
        )
        vae.use_framewise_decoding = True
        tiled, drawn3 = decode_recording_noise(vae, z3, timestep3)
        assert tiled.shape == (1, 3, 17, 64, 96), tiled.shape
        vae.use_tiling = False
        vae.use_framewise_decoding = False
        save_file(
            {"latents": z3, "timestep": timestep3, "frames": tiled.half().contiguous(), **noise_entries(drawn3)},
            os.path.join(OUT, "tiled_decode.safetensors"),
        )

        # The 0.9.1 variant: decode with noise injection, and encode of the same video as above.
        vae091 = build(TINY_091, seed=1)
        vae091.save_pretrained(os.path.join(OUT, "vae_091"))
        frames091, drawn091 = decode_recording_noise(vae091, z, timestep)
        assert frames091.shape == (1, 3, 9, 64, 64), frames091.shape
        posterior091 = vae091.encode(video).latent_dist
        save_file(
            {
                "latents": z,
                "timestep": timestep,
                "frames": frames091.half().contiguous(),
                "mean": posterior091.mean.contiguous(),
                "logvar": posterior091.logvar.contiguous(),
                **noise_entries(drawn091),
            },
            os.path.join(OUT, "decode_091.safetensors"),
        )

        # The 0.9.0 variant on a 32x32 crop: decode without a timestep, and encode.
        vae090 = build(TINY_090, seed=2)
        vae090.save_pretrained(os.path.join(OUT, "vae_090"))
        z090 = torch.randn((1, 8, 2, 1, 1), generator=g)
        frames090 = vae090.decode(z090).sample
        assert frames090.shape == (1, 3, 9, 32, 32), frames090.shape
        posterior090 = vae090.encode(video[:, :, :, :32, :32]).latent_dist
        save_file(
            {
                "latents": z090,
                "frames": frames090.contiguous(),
                "mean": posterior090.mean.contiguous(),
                "logvar": posterior090.logvar.contiguous(),
            },
            os.path.join(OUT, "decode_090.safetensors"),
        )
    print("wrote", os.path.abspath(OUT))


if __name__ == "__main__":
    sys.exit(main())
