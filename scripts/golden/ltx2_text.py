"""Reference LTX-2 text conditioning: Gemma 3's stacked hidden states and the text connectors.

Run from the repository root (CPU only, no downloads):

    /work/venv/bin/python scripts/golden/ltx2_text.py

A tiny random-weight Gemma3ForConditionalGeneration (the class of LTX-2's
text_encoder; three text layers, sliding and full attention, linear rope
scaling on the full layers, grouped key/value heads) and a tiny Gemma
tokenizer (byte-fallback BPE, <bos> added, padded on the left), run through
LTX2Pipeline._get_gemma_prompt_embeds, then three LTX2TextConnectors
configurations on its output:
  connectors_2_0      LTX-2.0 layout: split rope in double precision, learnable registers
  connectors_plain    interleaved rope in single precision, no registers (padding masked)
  connectors_2_3      LTX-2.3 layout: per-modality projections, gated attention, registers

Writes engine/tests/fixtures/ltx2/text/:
  text_encoder/, tokenizer/, connectors_*/   save_pretrained folders the Rust tests load
  prompts.json                               the prompts and max_sequence_length
  reference.safetensors                      input_ids, attention_mask, prompt_embeds,
                                             <connectors>.video / .audio / .mask
"""

import json
import os
import sys
from types import SimpleNamespace

import torch
from safetensors.torch import save_file
from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig, GemmaTokenizer, SiglipVisionConfig

from diffusers.pipelines.ltx2 import LTX2Pipeline, LTX2TextConnectors

sys.path.insert(0, os.path.dirname(__file__))
from ltx2_common import contiguous, fixture_dir, randomize  # noqa: E402

OUT = fixture_dir("text")
MAX_SEQUENCE_LENGTH = 16
# Trailing/leading spaces are stripped by the pipeline; the third is cut at 16 tokens;
# the fourth is empty (only <bos>); the fifth needs byte fallback.
PROMPTS = ["a robot dancing", "  a dancing robot  ", "robot " * 20, "", "héllo ☃ bot"]

HIDDEN = 32
TEXT_LAYERS = 3


def build_tokenizer():
    """A Gemma tokenizer over a few pieces, with every byte as a fallback token."""
    special = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    vocab = {t: i for i, t in enumerate(special)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    merges = [
        ("▁", "a"), ("r", "o"), ("b", "o"), ("o", "t"), ("▁", "ro"), ("ro", "bo"), ("▁ro", "bo"),
        ("▁robo", "t"), ("▁", "d"), ("a", "n"), ("▁d", "an"), ("c", "i"), ("n", "g"), ("i", "ng"),
        ("▁dan", "c"), ("▁danc", "ing"), ("▁", "b"), ("▁b", "ot"), ("l", "l"), ("h", "é"),
    ]
    for a, b in merges:
        for piece in (a, b, a + b):
            vocab.setdefault(piece, len(vocab))
    for piece in ["e", "s", "l", "p", "k", "y", "u", "m", "w", "f", "é"]:
        vocab.setdefault(piece, len(vocab))
    return GemmaTokenizer(vocab=vocab, merges=merges, add_bos_token=True)


def build_text_encoder(vocab_size):
    torch.manual_seed(0)
    text = Gemma3TextConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        intermediate_size=48,
        num_hidden_layers=TEXT_LAYERS,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        # Not head_dim, so a scale taken from the wrong one shows.
        query_pre_attn_scalar=12,
        # Shorter than the 16 tokens, so the sliding layers' window matters.
        sliding_window=4,
        sliding_window_pattern=2,
        max_position_embeddings=64,
        rope_scaling={"rope_type": "linear", "factor": 8.0},
        rope_theta=1e6,
        rope_local_base_freq=1e4,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    vision = SiglipVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=8, patch_size=4
    )
    config = Gemma3Config(
        text_config=text.to_dict(),
        vision_config=vision.to_dict(),
        mm_tokens_per_image=4,
        image_token_index=vocab_size - 1,
        boi_token_index=vocab_size - 3,
        eoi_token_index=vocab_size - 2,
    )
    return randomize(Gemma3ForConditionalGeneration(config), seed=1).eval()


CONNECTORS = {
    "connectors_2_0": dict(
        video_connector_num_learnable_registers=4,
        audio_connector_num_learnable_registers=4,
        rope_type="split",
        rope_double_precision=True,
    ),
    "connectors_plain": dict(
        video_connector_num_learnable_registers=None,
        audio_connector_num_learnable_registers=None,
        rope_type="interleaved",
        rope_double_precision=False,
    ),
    "connectors_2_3": dict(
        video_connector_num_learnable_registers=8,
        audio_connector_num_learnable_registers=8,
        rope_type="split",
        rope_double_precision=True,
        per_modality_projections=True,
        video_hidden_dim=48,
        audio_hidden_dim=24,
        video_gated_attn=True,
        audio_gated_attn=True,
        proj_bias=True,
    ),
}


def build_connectors(name, seed):
    overrides = CONNECTORS[name]
    # The connector blocks run at their own width; with per-modality projections it is
    # video_hidden_dim / audio_hidden_dim, otherwise the caption width.
    video_width = overrides.get("video_hidden_dim", HIDDEN) if overrides.get("per_modality_projections") else HIDDEN
    audio_width = overrides.get("audio_hidden_dim", HIDDEN) if overrides.get("per_modality_projections") else HIDDEN
    torch.manual_seed(0)
    connectors = LTX2TextConnectors(
        caption_channels=HIDDEN,
        text_proj_in_factor=TEXT_LAYERS + 1,
        video_connector_num_attention_heads=4,
        video_connector_attention_head_dim=video_width // 4,
        video_connector_num_layers=2,
        audio_connector_num_attention_heads=2,
        audio_connector_attention_head_dim=audio_width // 2,
        audio_connector_num_layers=1,
        connector_rope_base_seq_len=32,
        rope_theta=10000.0,
        causal_temporal_positioning=False,
        **overrides,
    )
    return randomize(connectors, seed=seed).eval()


@torch.no_grad()
def main():
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(os.path.join(OUT, "tokenizer"))
    text_encoder = build_text_encoder(len(tokenizer))
    text_encoder.save_pretrained(os.path.join(OUT, "text_encoder"))

    # The pipeline's own encoding path, on a stand-in holding the two components it reads.
    host = SimpleNamespace(tokenizer=tokenizer, text_encoder=text_encoder, _execution_device=torch.device("cpu"))
    prompt_embeds, mask = LTX2Pipeline._get_gemma_prompt_embeds(
        host, PROMPTS, max_sequence_length=MAX_SEQUENCE_LENGTH, device=torch.device("cpu"), dtype=torch.float32
    )
    ids = tokenizer(
        [p.strip() for p in PROMPTS],
        padding="max_length",
        max_length=MAX_SEQUENCE_LENGTH,
        truncation=True,
        add_special_tokens=True,
        return_tensors="pt",
    ).input_ids
    reference = {"input_ids": ids, "attention_mask": mask, "prompt_embeds": prompt_embeds}

    for i, name in enumerate(CONNECTORS):
        connectors = build_connectors(name, seed=10 + i)
        connectors.save_pretrained(os.path.join(OUT, name))
        video, audio, out_mask = connectors(prompt_embeds, mask, padding_side="left")
        reference[f"{name}.video"] = video
        reference[f"{name}.audio"] = audio
        reference[f"{name}.mask"] = out_mask

    save_file(contiguous(reference), os.path.join(OUT, "reference.safetensors"))
    with open(os.path.join(OUT, "prompts.json"), "w") as f:
        json.dump({"prompts": PROMPTS, "max_sequence_length": MAX_SEQUENCE_LENGTH}, f, indent=1, ensure_ascii=False)
    print("wrote", os.path.normpath(OUT), "prompt_embeds", tuple(prompt_embeds.shape), "ids", ids.tolist())


if __name__ == "__main__":
    sys.exit(main())
