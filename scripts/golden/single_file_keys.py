"""Fixtures for the single-file checkpoint conversion (engine/src/ltx/single_file.rs).

Lightricks publishes the 2B distilled checkpoints (0.9.6, 0.9.8) only as one file in the
original LTX layout (`model.diffusion_model.*` transformer keys, `vae.*` VAE keys). diffusers
loads such a file with `convert_ltx_transformer_checkpoint_to_diffusers` and
`convert_ltx_vae_checkpoint_to_diffusers`; this script makes original-layout key sets by
inverting that mapping and asserts that diffusers' own functions map them back to exactly the
diffusers state-dict keys.

Run from the repository root, with tiny_transformer.py and tiny_vae.py (branches
ltx-transformer and ltx-vae) in scripts/golden/:
    /work/golden-venv/bin/python scripts/golden/single_file_keys.py

Writes engine/tests/fixtures/ltx/single_file/:
    keys.json           "real": the original-layout names and shapes of a full-size 2B
                        checkpoint (28 transformer blocks, the 0.9.5 VAE: the layout of the
                        0.9.6/0.9.8 distilled files, built on the meta device, no weights) and
                        the diffusers names diffusers converts them to, per component;
                        "tiny": for tiny.safetensors, each (original, diffusers) name pair as
                        diffusers converts it, and the tiny models' state-dict names and the
                        sum of each tensor (float16-rounded), so values are checked too.
    tiny.safetensors    the tiny transformer (tiny_transformer.build) and tiny 0.9.5 VAE
                        (tiny_vae.build) in the original single-file layout, float16.

The tiny VAE's encoder conv_out has 16 input channels, not the 2048 by which diffusers tells a
0.9.5 VAE, so for the tiny names the script hands diffusers a stand-in of that shape to pick
the 0.9.5 mapping (the Rust test picks it explicitly); the real-size set covers the detection.
"""

import json
import os
import re
import sys

import torch
from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel
from diffusers.loaders.single_file_utils import (
    convert_ltx_transformer_checkpoint_to_diffusers,
    convert_ltx_vae_checkpoint_to_diffusers,
    infer_diffusers_model_type,
)
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
from tiny_transformer import build as build_transformer  # noqa: E402
from tiny_vae import build as build_vae  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "tests", "fixtures", "ltx", "single_file")

# The 2B transformer (LTX-Video 0.9.x 2B, as diffusers configures it).
REAL_TRANSFORMER = dict(
    in_channels=128,
    out_channels=128,
    patch_size=1,
    patch_size_t=1,
    num_attention_heads=32,
    attention_head_dim=64,
    cross_attention_dim=2048,
    num_layers=28,
    caption_channels=4096,
)

# The 0.9.5 VAE (also that of the 2B 0.9.6/0.9.8 distilled files), as Lightricks/LTX-Video-0.9.5
# configures it.
REAL_VAE_095 = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=128,
    block_out_channels=(128, 256, 512, 1024, 2048),
    down_block_types=("LTXVideo095DownBlock3D",) * 4,
    decoder_block_out_channels=(256, 512, 1024),
    layers_per_block=(4, 6, 6, 2, 2),
    decoder_layers_per_block=(5, 5, 5, 5),
    spatio_temporal_scaling=(True, True, True, True),
    decoder_spatio_temporal_scaling=(True, True, True),
    decoder_inject_noise=(False, False, False, False),
    downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
    upsample_residual=(True, True, True),
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

# Original-layout statistics diffusers drops (VAE_SPECIAL_KEYS_REMAP).
DROPPED_STATISTICS = ["channel", "mean-of-stds", "mean-of-stds_over_std-of-means"]


def original_transformer_name(name: str) -> str:
    for diffusers, original in [
        ("proj_in", "patchify_proj"),
        ("time_embed", "adaln_single"),
        ("norm_q", "q_norm"),
        ("norm_k", "k_norm"),
    ]:
        name = name.replace(diffusers, original)
    return "model.diffusion_model." + name


def original_vae_095_name(name: str) -> str:
    """The inverse of diffusers' 0.9.5 VAE renaming: blocks interleaved with their samplers."""
    if name == "latents_mean":
        return "vae.per_channel_statistics.mean-of-means"
    if name == "latents_std":
        return "vae.per_channel_statistics.std-of-means"
    side, rest = name.split(".", 1)
    if side == "encoder":
        # One pass: a renamed prefix must not be renamed again.
        block = lambda m: f"down_blocks.{2 * int(m[1]) + (1 if m[2] else 0)}."  # noqa: E731
        rest = re.sub(r"^down_blocks\.(\d)\.(downsamplers\.0\.)?", block, rest)
        rest = re.sub(r"^mid_block\.", "down_blocks.8.", rest)
    else:
        block = lambda m: f"up_blocks.{2 * int(m[1]) + (1 if m[2] else 2)}."  # noqa: E731
        rest = re.sub(r"^up_blocks\.(\d)\.(upsamplers\.0\.)?", block, rest)
        rest = re.sub(r"^mid_block\.", "up_blocks.0.", rest)
        rest = re.sub(r"^time_embedder\.", "last_time_embedder.", rest)
        rest = re.sub(r"^scale_shift_table$", "last_scale_shift_table", rest)
    rest = rest.replace(".resnets.", ".res_blocks.")
    rest = rest.replace("conv_shortcut.conv.", "conv_shortcut.")
    rest = rest.replace(".norm3.", ".norm3.norm.")
    return f"vae.{side}.{rest}"


def original_layout(transformer_sd: dict, vae_sd: dict, stat_shape) -> dict:
    """An original-layout checkpoint dict, in the sorted order safetensors loads it."""
    original = {original_transformer_name(k): v for k, v in transformer_sd.items()}
    original.update({original_vae_095_name(k): v for k, v in vae_sd.items()})
    for stat in DROPPED_STATISTICS:
        original[f"vae.per_channel_statistics.{stat}"] = torch.zeros(stat_shape, device=vae_sd["latents_mean"].device)
    assert len(original) == len(transformer_sd) + len(vae_sd) + len(DROPPED_STATISTICS), "names collide"
    return dict(sorted(original.items()))


def convert(original: dict, conv_out_stand_in=None):
    """diffusers' conversion of `original` → (transformer dict, VAE dict), as from_single_file."""
    checkpoint = dict(original)
    real_conv_out = checkpoint["vae.encoder.conv_out.conv.weight"]
    if conv_out_stand_in is not None:
        checkpoint["vae.encoder.conv_out.conv.weight"] = conv_out_stand_in
    transformer = convert_ltx_transformer_checkpoint_to_diffusers(checkpoint)
    vae = convert_ltx_vae_checkpoint_to_diffusers(checkpoint)
    if conv_out_stand_in is not None:
        vae["encoder.conv_out.conv.weight"] = real_conv_out
    return transformer, vae


def real_keys() -> dict:
    with torch.device("meta"):
        transformer = LTXVideoTransformer3DModel(**REAL_TRANSFORMER)
        vae = AutoencoderKLLTXVideo(**REAL_VAE_095)
    t_sd, v_sd = transformer.state_dict(), vae.state_dict()
    original = original_layout(t_sd, v_sd, v_sd["latents_mean"].shape)
    assert original["vae.encoder.conv_out.conv.weight"].shape[1] == 2048
    assert infer_diffusers_model_type(original) == "ltx-video-0.9.5", infer_diffusers_model_type(original)
    t_conv, v_conv = convert(original)
    assert sorted(t_conv) == sorted(t_sd), sorted(set(t_conv) ^ set(t_sd))
    assert sorted(v_conv) == sorted(v_sd), sorted(set(v_conv) ^ set(v_sd))
    for name, tensor in list(t_conv.items()) + list(v_conv.items()):
        expected = t_sd.get(name, v_sd.get(name))
        assert tensor.shape == expected.shape, name
    return {
        "model_type": "ltx-video-0.9.5",
        "original": [[name, list(tensor.shape)] for name, tensor in original.items()],
        "transformer": sorted(t_conv),
        "vae": sorted(v_conv),
    }


def tiny_keys_and_file() -> dict:
    transformer, vae = build_transformer(), build_vae()
    half = lambda sd: {k: v.detach().to(torch.float16).contiguous() for k, v in sd.items()}  # noqa: E731
    t_sd, v_sd = half(transformer.state_dict()), half(vae.state_dict())
    original = original_layout(t_sd, v_sd, v_sd["latents_mean"].shape)
    conv_out = original["vae.encoder.conv_out.conv.weight"]
    stand_in = torch.empty(conv_out.shape[0], 2048, *conv_out.shape[2:], device="meta")
    t_conv, v_conv = convert(original, stand_in)
    assert sorted(t_conv) == sorted(t_sd), sorted(set(t_conv) ^ set(t_sd))
    assert sorted(v_conv) == sorted(v_sd), sorted(set(v_conv) ^ set(v_sd))
    # The converted dicts load strictly into the tiny models and carry their (f16) values.
    for model, converted, sd in [(transformer, t_conv, t_sd), (vae, v_conv, v_sd)]:
        model.load_state_dict({k: v.float() for k, v in converted.items()}, strict=True)
        for name, tensor in converted.items():
            assert torch.equal(tensor, sd[name]), name
    by_id = {id(tensor): name for name, tensor in original.items()}
    pairs = lambda conv: [[by_id[id(t)], name] for name, t in sorted(conv.items())]  # noqa: E731
    save_file(original, os.path.join(OUT, "tiny.safetensors"), metadata={"format": "pt"})
    return {
        "transformer_pairs": pairs(t_conv),
        "vae_pairs": pairs(v_conv),
        "dropped": sorted(set(original) - {by_id[id(t)] for t in list(t_conv.values()) + list(v_conv.values())}),
        "sums": {name: float(t.double().sum()) for name, t in sorted({**t_sd, **v_sd}.items())},
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    keys = {"real": real_keys(), "tiny": tiny_keys_and_file()}
    with open(os.path.join(OUT, "keys.json"), "w") as f:
        json.dump(keys, f, indent=0)
        f.write("\n")
    print({k: len(v) for k, v in keys["real"].items() if isinstance(v, list)})
    print({k: len(v) for k, v in keys["tiny"].items()})
    print("tiny.safetensors:", os.path.getsize(os.path.join(OUT, "tiny.safetensors")), "bytes")


if __name__ == "__main__":
    main()
