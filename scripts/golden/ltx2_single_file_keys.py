"""Fixtures for the LTX-2 single-file checkpoint conversion (engine/src/ltx2/single_file.rs).

Lightricks publishes LTX-2 as single files in the original ltx-core layout
(ltx-2-19b-distilled.safetensors, ltx-2-19b-dev.safetensors): one file holds every component
but Gemma, each under its own prefix, as ltx-core's loaders read them:
    model.diffusion_model.*                        the audio-video transformer
    model.diffusion_model.{video,audio}_embeddings_connector.*   the text connectors
    text_embedding_projection.aggregate_embed.*    the connectors' input projection
    vae.*                                          the video VAE
    audio_vae.*                                    the audio VAE
    vocoder.*                                      the vocoder
diffusers 0.42.1 converts the transformer, video VAE and audio VAE with its single-file
functions (`convert_ltx2_transformer_to_diffusers`, `convert_ltx2_vae_to_diffusers`,
`convert_ltx2_audio_vae_to_diffusers`; it drops the connector names from the transformer) and
takes the connectors and vocoder from Lightricks/LTX-2; the connectors' and vocoder's renaming
is that of diffusers' scripts/convert_ltx2_to_diffusers.py (restated below as
CONNECTOR_RENAMES / VOCODER_RENAMES), which made the diffusers-layout repository.

This script makes original-layout names by inverting those mappings and asserts that
diffusers' functions (and the script's tables) map them back to exactly the diffusers
state-dict names, and that the converted dicts load strictly into the models.

Run from the repository root, after the ltx2_* component scripts (CPU, no downloads):
    /work/venv/bin/python scripts/golden/ltx2_single_file_keys.py

Writes engine/tests/fixtures/ltx2/single_file/:
    keys.json          "real": the original-layout names and shapes of the full-size LTX-2 19B
                       checkpoint (diffusers' default configs, which are LTX-2 2.0's: 48 blocks,
                       3840-wide Gemma features; built on the meta device, no weights) and, per
                       component folder, the diffusers names and shapes it converts to;
                       "tiny": per component, each (original, diffusers) name pair, and the
                       original names no component keeps.
    tiny.safetensors   the committed tiny 2.0 components (transformer/transformer, vae/vae,
                       audio/audio_vae, audio/vocoder, text/connectors_2_0) in the original
                       layout, float32, values unchanged: converted back they are the
                       diffusers-layout fixtures bit for bit.
"""

import json
import os
import re
import sys

import torch
from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel
from diffusers.loaders.single_file_utils import (
    CHECKPOINT_KEY_NAMES,
    convert_ltx2_audio_vae_to_diffusers,
    convert_ltx2_transformer_to_diffusers,
    convert_ltx2_vae_to_diffusers,
    infer_diffusers_model_type,
)
from diffusers.pipelines.ltx2 import LTX2TextConnectors
from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
from ltx2_common import FIXTURES, fixture_dir  # noqa: E402

OUT = fixture_dir("single_file")

# Component folder -> (diffusers class, committed tiny fixture folder).
COMPONENTS = {
    "transformer": (LTX2VideoTransformer3DModel, "transformer/transformer"),
    "connectors": (LTX2TextConnectors, "text/connectors_2_0"),
    "vae": (AutoencoderKLLTX2Video, "vae/vae"),
    "audio_vae": (AutoencoderKLLTX2Audio, "audio/audio_vae"),
    "vocoder": (LTX2Vocoder, "audio/vocoder"),
}

# LTX-2 2.0's settings where diffusers' defaults are another release's (names do not depend on
# them, but the meta models are then the 19B's).
REAL_CONFIGS = {
    "transformer": dict(rope_type="split"),
    "connectors": dict(rope_type="split"),
    "vae": dict(decoder_causal=False),
    "audio_vae": dict(),
    "vocoder": dict(),
}

TRANSFORMER = "model.diffusion_model."
CONNECTOR_PREFIXES = ("video_embeddings_connector.", "audio_embeddings_connector.")
PROJECTION = "text_embedding_projection.aggregate_embed."
# scripts/convert_ltx2_to_diffusers.py's LTX_2_0_TEXT_ENCODER_RENAME_DICT, applied after the
# transformer prefix is cut, and its text_embedding_projection -> text_proj_in.
CONNECTOR_RENAMES = [
    ("video_embeddings_connector", "video_connector"),
    ("audio_embeddings_connector", "audio_connector"),
    ("transformer_1d_blocks", "transformer_blocks"),
    ("q_norm", "norm_q"),
    ("k_norm", "norm_k"),
]
# Its LTX_2_0_VOCODER_RENAME_DICT, applied after the "vocoder." prefix is cut.
VOCODER_RENAMES = [("ups", "upsamplers"), ("resblocks", "resnets"), ("conv_pre", "conv_in"), ("conv_post", "conv_out")]

# Original-layout statistics diffusers drops (LTX_2_0_VAE_SPECIAL_KEYS_REMAP).
DROPPED_STATISTICS = ["channel", "mean-of-stds", "mean-of-stds_over_std-of-means"]


def original_transformer_name(name):
    for diffusers, original in [
        ("video_a2v_cross_attn_scale_shift_table", "scale_shift_table_a2v_ca_video"),
        ("audio_a2v_cross_attn_scale_shift_table", "scale_shift_table_a2v_ca_audio"),
        ("av_cross_attn_video_scale_shift", "av_ca_video_scale_shift_adaln_single"),
        ("av_cross_attn_video_a2v_gate", "av_ca_a2v_gate_adaln_single"),
        ("av_cross_attn_audio_scale_shift", "av_ca_audio_scale_shift_adaln_single"),
        ("av_cross_attn_audio_v2a_gate", "av_ca_v2a_gate_adaln_single"),
        ("norm_q", "q_norm"),
        ("norm_k", "k_norm"),
        ("proj_in", "patchify_proj"),
    ]:
        name = name.replace(diffusers, original)
    name = re.sub(r"^time_embed\.", "adaln_single.", name)
    name = re.sub(r"^audio_time_embed\.", "audio_adaln_single.", name)
    return TRANSFORMER + name


def original_connector_name(name):
    if name.startswith("text_proj_in."):
        return PROJECTION + name[len("text_proj_in.") :]
    name = re.sub(r"^video_connector\.", "video_embeddings_connector.", name)
    name = re.sub(r"^audio_connector\.", "audio_embeddings_connector.", name)
    name = name.replace(".transformer_blocks.", ".transformer_1d_blocks.")
    return TRANSFORMER + name.replace("norm_q", "q_norm").replace("norm_k", "k_norm")


def original_vae_name(name):
    """The inverse of LTX_2_0_VIDEO_VAE_RENAME_DICT: blocks interleaved with their samplers."""
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
    return f"vae.{side}.{rest.replace('.resnets.', '.res_blocks.')}"


def original_audio_vae_name(name):
    name = {"latents_mean": "per_channel_statistics.mean-of-means", "latents_std": "per_channel_statistics.std-of-means"}.get(name, name)
    return "audio_vae." + name


def original_vocoder_name(name):
    for diffusers, original in [("upsamplers", "ups"), ("resnets", "resblocks"), ("conv_in", "conv_pre"), ("conv_out", "conv_post")]:
        name = name.replace(diffusers, original)
    return "vocoder." + name


INVERSES = {
    "transformer": original_transformer_name,
    "connectors": original_connector_name,
    "vae": original_vae_name,
    "audio_vae": original_audio_vae_name,
    "vocoder": original_vocoder_name,
}


def original_layout(state_dicts):
    """An original-layout checkpoint dict, in the sorted order safetensors loads it."""
    original = {}
    for folder, sd in state_dicts.items():
        original.update({INVERSES[folder](k): v for k, v in sd.items()})
    like = state_dicts["vae"]["latents_mean"]
    for stat in DROPPED_STATISTICS:
        original[f"vae.per_channel_statistics.{stat}"] = torch.zeros_like(like)
    assert len(original) == sum(map(len, state_dicts.values())) + len(DROPPED_STATISTICS), "names collide"
    return dict(sorted(original.items()))


def rename(name, table):
    for a, b in table:
        name = name.replace(a, b)
    return name


def convert(original):
    """diffusers' conversion of `original` -> {folder: state dict}, as from_single_file (each
    model's loader keeps the names its model has) plus the conversion script's connectors and
    vocoder."""
    out = {
        "transformer": convert_ltx2_transformer_to_diffusers(dict(original)),
        "vae": convert_ltx2_vae_to_diffusers(dict(original)),
        "audio_vae": convert_ltx2_audio_vae_to_diffusers(dict(original)),
    }
    # from_single_file drops the names the model lacks; here: each component's prefix.
    out["transformer"] = {k: v for k, v in out["transformer"].items() if not re.match(r"^(vae|audio_vae|vocoder|text_embedding_projection)\.", k)}
    out["vae"] = {k: v for k, v in out["vae"].items() if not re.match(r"^(model|audio_|vocoder|text_embedding)", k)}
    out["audio_vae"] = {k: v for k, v in out["audio_vae"].items() if k.split(".")[0] in ("encoder", "decoder", "latents_mean", "latents_std")}
    connectors = {}
    for name, tensor in original.items():
        if name.startswith(PROJECTION):
            connectors["text_proj_in." + name[len(PROJECTION) :]] = tensor
        elif name.startswith(TRANSFORMER) and name[len(TRANSFORMER) :].startswith(CONNECTOR_PREFIXES):
            connectors[rename(name[len(TRANSFORMER) :], CONNECTOR_RENAMES)] = tensor
    out["connectors"] = connectors
    out["vocoder"] = {rename(k[len("vocoder.") :], VOCODER_RENAMES): v for k, v in original.items() if k.startswith("vocoder.")}
    return out


def check(converted, state_dicts):
    for folder, sd in state_dicts.items():
        got = converted[folder]
        assert sorted(got) == sorted(sd), (folder, sorted(set(got) ^ set(sd))[:10])
        for name, tensor in got.items():
            assert tensor.shape == sd[name].shape, (folder, name)


def real_keys():
    models = {}
    with torch.device("meta"):
        for folder, (cls, _) in COMPONENTS.items():
            models[folder] = cls(**REAL_CONFIGS[folder])
    sds = {folder: m.state_dict() for folder, m in models.items()}
    original = original_layout(sds)
    # The LTX-2 markers diffusers knows it by are there, but infer_diffusers_model_type tests
    # LTX-Video's first, and every LTX-2 transformer has LTX-Video's markers too
    # (model.diffusion_model.patchify_proj.weight; at full size blocks 27 and 47): diffusers
    # 0.42.1 takes the file for LTX-Video 0.9.7. reel tests LTX-2's markers first.
    assert any(key in original for key in CHECKPOINT_KEY_NAMES["ltx2"])
    inferred = infer_diffusers_model_type(original)
    assert inferred == "ltx-video-0.9.7", inferred
    converted = convert(original)
    check(converted, sds)
    return {
        "diffusers_infers": inferred,
        "original": [[name, list(t.shape)] for name, t in original.items()],
        "components": {folder: [[name, list(t.shape)] for name, t in sorted(sd.items())] for folder, sd in converted.items()},
        # Each model's config.json as save_pretrained writes it: reel's constructors are built
        # from these over the shapes above.
        "configs": {folder: json.loads(m.to_json_string()) for folder, m in models.items()},
    }


def tiny_keys_and_file():
    sds, models = {}, {}
    for folder, (cls, fixture) in COMPONENTS.items():
        models[folder] = cls.from_pretrained(os.path.join(FIXTURES, fixture)).eval()
        sds[folder] = {k: v.detach().float().contiguous() for k, v in models[folder].state_dict().items()}
    original = original_layout(sds)
    assert any(key in original for key in CHECKPOINT_KEY_NAMES["ltx2"])
    converted = convert(original)
    check(converted, sds)
    for folder, model in models.items():
        model.load_state_dict(converted[folder], strict=True)
        for name, tensor in converted[folder].items():
            assert torch.equal(tensor, sds[folder][name]), (folder, name)
    by_id = {id(t): name for name, t in original.items()}
    kept = {id(t) for sd in converted.values() for t in sd.values()}
    save_file(original, os.path.join(OUT, "tiny.safetensors"), metadata={"format": "pt"})
    return {
        "pairs": {folder: [[by_id[id(t)], name] for name, t in sorted(sd.items())] for folder, sd in converted.items()},
        "dropped": sorted(name for name, t in original.items() if id(t) not in kept),
        "fixtures": {folder: fixture for folder, (_, fixture) in COMPONENTS.items()},
    }


def main():
    keys = {"real": real_keys(), "tiny": tiny_keys_and_file()}
    with open(os.path.join(OUT, "keys.json"), "w") as f:
        json.dump(keys, f, indent=0)
        f.write("\n")
    print("real:", len(keys["real"]["original"]), {k: len(v) for k, v in keys["real"]["components"].items()})
    print("tiny:", {k: len(v) for k, v in keys["tiny"]["pairs"].items()}, "dropped", keys["tiny"]["dropped"])
    for name in ["keys.json", "tiny.safetensors"]:
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")


if __name__ == "__main__":
    main()
