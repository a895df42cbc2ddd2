"""Golden fixtures for the LTX-Video transformer (engine/src/ltx/transformer/).

Builds a tiny random-weight diffusers ``LTXVideoTransformer3DModel`` (2 layers,
2 heads of 16, in/out 8 channels, caption channels 32), saves it with
``save_pretrained`` and writes reference inputs/outputs as safetensors:

    /work/golden-venv/bin/python scripts/golden/tiny_transformer.py

Output: engine/tests/fixtures/ltx/transformer/
    transformer/                 config.json + diffusion_pytorch_model.safetensors
    forward_scalar.safetensors   B=2, one timestep per sample, padded text mask
    forward_per_token.safetensors  per-token timesteps (image-to-video: frame 0 at t=0)
    forward_video_coords.safetensors  explicit video_coords (condition pipeline)
    packing.safetensors          _pack_latents/_unpack_latents, patch 1 and 2
    normalize.safetensors        _normalize_latents/_denormalize_latents

Other scripts reuse the model: ``from tiny_transformer import build``.
"""

import os
import sys

import torch
from diffusers import LTXVideoTransformer3DModel
from diffusers.pipelines.ltx.pipeline_ltx import LTXPipeline
from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXConditionPipeline
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "engine", "tests", "fixtures", "ltx", "transformer")

TINY_CONFIG = dict(
    in_channels=8,
    out_channels=8,
    patch_size=1,
    patch_size_t=1,
    num_attention_heads=2,
    attention_head_dim=16,
    cross_attention_dim=32,
    num_layers=2,
    caption_channels=32,
)


def randomize_(model: torch.nn.Module, seed: int) -> None:
    """Overwrite every parameter (diffusers zero-inits some) so no path is trivially zero.

    Linear weights get std 1/sqrt(fan_in) so activations stay O(1); norm weights
    stay near 1; biases and scale/shift tables are small but non-zero.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            noise = torch.randn(param.shape, generator=gen, dtype=torch.float32)
            if name.endswith("scale_shift_table"):
                value = 0.3 * noise
            elif "norm" in name and name.endswith("weight"):
                value = 1.0 + 0.2 * noise
            elif name.endswith("bias"):
                value = 0.1 * noise
            elif param.ndim == 2:
                value = noise / param.shape[1] ** 0.5
            else:
                value = 0.2 * noise
            param.copy_(value)


def build(seed: int = 0, **overrides) -> LTXVideoTransformer3DModel:
    """The tiny transformer with seeded random float32 weights (eval mode)."""
    config = dict(TINY_CONFIG, **overrides)
    torch.manual_seed(seed)
    model = LTXVideoTransformer3DModel(**config).eval()
    randomize_(model, seed)
    return model


def text_inputs(gen: torch.Generator, batch: int, length: int, channels: int):
    """Caption states and a mask whose later samples have padding at the end (as T5 gives)."""
    states = torch.randn(batch, length, channels, generator=gen)
    mask = torch.ones(batch, length, dtype=torch.int64)
    for b in range(1, batch):
        mask[b, length - 2 * b :] = 0
    return states, mask


def forward_fixtures(model, gen):
    c_in = model.config.in_channels
    text_dim = model.config.caption_channels
    frames, height, width = 3, 2, 4
    tokens = frames * height * width
    # image-to-video's rope_interpolation_scale: (temporal compression / frame rate, 32, 32)
    rope_scale = (8 / 25.0, 32.0, 32.0)
    out = {}

    # A timestep per sample; sample 1 has a padded caption.
    hidden = torch.randn(2, tokens, c_in, generator=gen)
    text, mask = text_inputs(gen, 2, 6, text_dim)
    timestep = torch.tensor([973.25, 121.5])
    with torch.no_grad():
        result = model(hidden, text, timestep, mask, frames, height, width, rope_scale, return_dict=False)[0]
    out["forward_scalar"] = dict(
        hidden_states=hidden,
        encoder_hidden_states=text,
        encoder_attention_mask=mask.float(),
        timestep=timestep,
        geometry=torch.tensor([frames, height, width], dtype=torch.float32),
        rope_interpolation_scale=torch.tensor(rope_scale, dtype=torch.float32),
        output=result,
    )

    # Per-token timesteps as LTXImageToVideoPipeline builds them: t * (1 - conditioning_mask),
    # the first latent frame being the (clean) image condition.
    hidden = torch.randn(2, tokens, c_in, generator=gen)
    text, mask = text_inputs(gen, 2, 5, text_dim)
    conditioning_mask = torch.zeros(2, 1, frames, height, width)
    conditioning_mask[:, :, 0] = 1.0
    conditioning_mask = LTXPipeline._pack_latents(conditioning_mask).squeeze(-1)  # [B, N]
    t = torch.tensor([850.0, 402.75])
    timestep = t.unsqueeze(-1) * (1 - conditioning_mask)
    with torch.no_grad():
        result = model(hidden, text, timestep, mask, frames, height, width, rope_scale, return_dict=False)[0]
    out["forward_per_token"] = dict(
        hidden_states=hidden,
        encoder_hidden_states=text,
        encoder_attention_mask=mask.float(),
        timestep=timestep,
        geometry=torch.tensor([frames, height, width], dtype=torch.float32),
        rope_interpolation_scale=torch.tensor(rope_scale, dtype=torch.float32),
        output=result,
    )

    # Explicit video_coords as LTXConditionPipeline builds them (pixel-space coordinates,
    # the frame axis divided by the frame rate), per-token timesteps with the conditioned
    # first frame at t=0.
    frame_rate = 25.0
    coords = LTXConditionPipeline._prepare_video_ids(2, frames, height, width)
    coords = LTXConditionPipeline._scale_video_ids(coords, scale_factor=32, scale_factor_t=8, frame_index=0)
    coords = coords.float()
    coords[:, 0] = coords[:, 0] * (1.0 / frame_rate)
    hidden = torch.randn(2, tokens, c_in, generator=gen)
    text, mask = text_inputs(gen, 2, 4, text_dim)
    timestep = torch.tensor([[500.0], [37.5]]).expand(2, tokens).clone()
    timestep[:, : height * width] = 0.0
    with torch.no_grad():
        result = model(hidden, text, timestep, mask, video_coords=coords, return_dict=False)[0]
    out["forward_video_coords"] = dict(
        hidden_states=hidden,
        encoder_hidden_states=text,
        encoder_attention_mask=mask.float(),
        timestep=timestep,
        video_coords=coords,
        output=result,
    )
    return out


def packing_fixtures(gen):
    out = {}
    # Patch 1 (LTX-Video's transformer) and patch 2 / temporal 2 (the helpers' general case).
    for name, shape, p, pt in [("p1", (2, 8, 2, 3, 4), 1, 1), ("p2", (1, 3, 4, 4, 6), 2, 2)]:
        latents = torch.randn(*shape, generator=gen)
        packed = LTXPipeline._pack_latents(latents, p, pt)
        _, _, f, h, w = shape
        unpacked = LTXPipeline._unpack_latents(packed, f // pt, h // p, w // p, p, pt)
        assert torch.equal(unpacked, latents)
        out[f"{name}_latents"] = latents
        out[f"{name}_packed"] = packed
        out[f"{name}_patch"] = torch.tensor([p, pt], dtype=torch.float32)
    return out


def normalize_fixtures(gen):
    latents = torch.randn(2, 8, 2, 2, 2, generator=gen)
    mean = 0.3 * torch.randn(8, generator=gen)
    std = 0.5 + torch.rand(8, generator=gen)
    scaling_factor = 0.75
    normalized = LTXPipeline._normalize_latents(latents, mean, std, scaling_factor)
    denormalized = LTXPipeline._denormalize_latents(latents, mean, std, scaling_factor)
    return dict(
        latents=latents,
        latents_mean=mean,
        latents_std=std,
        scaling_factor=torch.tensor([scaling_factor]),
        normalized=normalized,
        denormalized=denormalized,
    )


def main():
    os.makedirs(OUT, exist_ok=True)
    model = build(seed=0)
    model.save_pretrained(os.path.join(OUT, "transformer"), safe_serialization=True)
    gen = torch.Generator().manual_seed(1234)
    fixtures = forward_fixtures(model, gen)
    fixtures["packing"] = packing_fixtures(gen)
    fixtures["normalize"] = normalize_fixtures(gen)
    for name, tensors in fixtures.items():
        save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, f"{name}.safetensors"))
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
