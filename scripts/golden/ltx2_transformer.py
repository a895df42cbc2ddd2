"""Reference LTX-2 audio-video transformer (LTX2VideoTransformer3DModel) forwards.

Run from the repository root (CPU only, no downloads):

    /work/venv/bin/python scripts/golden/ltx2_transformer.py

Tiny random-weight configurations (two layers each):
  transformer              LTX-2.0: split rope in double precision, caption projections
  transformer_2_3          LTX-2.3: gated attention, cross-attention modulation with the
                           prompt AdaLN, no caption projection, perturbable self-attention (STG)
  transformer_interleaved  interleaved rope in single precision, spatial patch 2

Cases (each writes <config>.<case>.video / .audio outputs):
  plain       one timestep per sample, padded captions, legacy cross timestep
  per_token   image-to-video timesteps (first latent frame at 0) with audio at the
              step's timestep, use_cross_timestep (LTX-2.3's behaviour), another fps
  isolated    modality isolation: no audio-to-video or video-to-audio attention
  stg         spatio-temporal guidance at block 1 (transformer_2_3 only)

Writes engine/tests/fixtures/ltx2/transformer/<config>/ (save_pretrained) and
reference.safetensors with the inputs (<config>.<input>) and outputs.
"""

import json
import os
import sys

import torch
from safetensors.torch import save_file

from diffusers import LTX2VideoTransformer3DModel

sys.path.insert(0, os.path.dirname(__file__))
from ltx2_common import contiguous, fixture_dir, randomize  # noqa: E402

OUT = fixture_dir("transformer")

# The text connectors' output width (Gemma's hidden size in the text fixture).
CAPTION = 32
BASE = dict(
    in_channels=8,
    out_channels=8,
    patch_size=1,
    patch_size_t=1,
    num_attention_heads=2,
    attention_head_dim=8,
    cross_attention_dim=16,
    # The tiny video VAE: 8x in time, 16x in space.
    vae_scale_factors=(8, 16, 16),
    # The tiny audio VAE's packed latents: 2 channels x 4 latent mel bins.
    audio_in_channels=8,
    audio_out_channels=8,
    audio_num_attention_heads=2,
    audio_attention_head_dim=4,
    audio_cross_attention_dim=8,
    num_layers=2,
    caption_channels=CAPTION,
    rope_type="split",
    rope_double_precision=True,
)
CONFIGS = {
    "transformer": dict(BASE),
    "transformer_2_3": dict(
        BASE,
        gated_attn=True,
        audio_gated_attn=True,
        cross_attn_mod=True,
        audio_cross_attn_mod=True,
        use_prompt_embeddings=False,
        # Without caption projections the connectors' widths are the blocks' widths.
        caption_channels=16,
        perturbed_attn=True,
    ),
    "transformer_interleaved": dict(
        BASE,
        patch_size=2,
        in_channels=32,
        out_channels=32,
        rope_type="interleaved",
        rope_double_precision=False,
        audio_in_channels=12,
        audio_out_channels=12,
    ),
}

# Latent grid (frames, height, width before patching) and audio latent frames.
GRID = (3, 2, 4)
AUDIO_FRAMES = 5
TEXT_LEN = 6


def inputs(name, cfg, g):
    p, pt = cfg["patch_size"], cfg["patch_size_t"]
    frames, height, width = GRID
    tokens = (frames // pt) * (height // p) * (width // p)
    width_caption = cfg["caption_channels"]
    audio_caption = cfg["caption_channels"] if cfg.get("use_prompt_embeddings", True) else cfg["audio_cross_attention_dim"]
    mask = torch.ones(2, TEXT_LEN)
    mask[1, :2] = 0  # left padding on the second sample
    return dict(
        hidden_states=torch.randn(2, tokens, cfg["in_channels"], generator=g),
        audio_hidden_states=torch.randn(2, AUDIO_FRAMES, cfg["audio_in_channels"], generator=g),
        encoder_hidden_states=torch.randn(2, TEXT_LEN, width_caption, generator=g),
        audio_encoder_hidden_states=torch.randn(2, TEXT_LEN, audio_caption, generator=g),
        encoder_attention_mask=mask,
        timestep=torch.tensor([950.0, 421.875]),
        audio_timestep=torch.tensor([600.0, 90.0]),
    ), tokens


@torch.no_grad()
def run(model, x, tokens, case, fps):
    frames, height, width = GRID
    kwargs = dict(
        hidden_states=x["hidden_states"],
        audio_hidden_states=x["audio_hidden_states"],
        encoder_hidden_states=x["encoder_hidden_states"],
        audio_encoder_hidden_states=x["audio_encoder_hidden_states"],
        encoder_attention_mask=x["encoder_attention_mask"],
        audio_encoder_attention_mask=x["encoder_attention_mask"],
        # Latent sizes before patching, as the pipelines pass them.
        num_frames=frames,
        height=height,
        width=width,
        fps=fps,
        audio_num_frames=AUDIO_FRAMES,
        return_dict=False,
    )
    t = x["timestep"]
    if case == "per_token":
        # The image-to-video pipeline: t · (1 − conditioning mask), the first latent frame clean.
        per_frame = tokens // (frames // model.config.patch_size_t)
        keep = torch.ones(2, tokens)
        keep[:, :per_frame] = 0
        kwargs.update(
            timestep=t[:, None] * keep,
            audio_timestep=x["audio_timestep"],
            sigma=t,
            audio_sigma=x["audio_timestep"],
            use_cross_timestep=True,
        )
    else:
        kwargs.update(timestep=t, sigma=t, use_cross_timestep=False)
    if case == "isolated":
        kwargs["isolate_modalities"] = True
    if case == "stg":
        kwargs["spatio_temporal_guidance_blocks"] = [1]
    return model(**kwargs)


def main():
    reference, manifest = {}, {}
    g = torch.Generator().manual_seed(5)
    for i, (name, cfg) in enumerate(CONFIGS.items()):
        torch.manual_seed(0)
        model = randomize(LTX2VideoTransformer3DModel(**cfg), seed=50 + i).eval()
        model.save_pretrained(os.path.join(OUT, name))
        x, tokens = inputs(name, cfg, g)
        for key, value in x.items():
            reference[f"{name}.{key}"] = value
        cases = ["plain", "per_token", "isolated"] + (["stg"] if cfg.get("perturbed_attn") else [])
        for case in cases:
            fps = 24.0 if case != "per_token" else 25.0
            video, audio = run(model, x, tokens, case, fps)
            reference[f"{name}.{case}.video"] = video
            reference[f"{name}.{case}.audio"] = audio
        manifest[name] = dict(cases=cases, grid=list(GRID), audio_frames=AUDIO_FRAMES)
        print(name, "video", tuple(video.shape), "audio", tuple(audio.shape), cases)
    save_file(contiguous(reference), os.path.join(OUT, "reference.safetensors"))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    sys.exit(main())
