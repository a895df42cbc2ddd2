"""Tiny random-weight CSM (Sesame's speech model) with its Mimi codec, and what transformers makes of it.

Run from the repository root (CPU only, no downloads):

    /work/venv/bin/python scripts/golden/csm.py

Writes engine/tests/fixtures/csm/:
  tiny/                 CsmForConditionalGeneration saved by save_pretrained (config.json with the
                        Mimi codec_config inside, generation_config.json, model.safetensors with the
                        codec under codec_model.*), a byte-level tokenizer.json with Llama 3's
                        special tokens, every parameter and buffer drawn at random
  reference.safetensors
    voice.samples       the reference clip (24 kHz mono f32, 0.8 s: 10 Mimi frames)
    voice.codes         (K, F) MimiModel.encode of the clip
    voice.decoded       MimiModel.decode of those codes (samples)
    clone.input_ids     the token ids CsmProcessor makes for the cloning prompt
                        (the reference turn, then the new line), audio placeholders included
    clone.backbone_logits   (S, vocab) CsmForConditionalGeneration's logits for every position
    clone.backbone_last_hidden  (hidden) the backbone's normed state at the last position
    clone.depth_input   (K) [0, c0, c1, ..] fed to the depth decoder with that state
    clone.depth_logits  (K-1, vocab) its logits for codebooks 1..K-1
    clone.frames        (N, K) greedy generate(do_sample=False) from the cloning prompt
    plain.input_ids, plain.frames   the same for the default voice (no reference turn)
    plain.audio         the generated frames decoded by generate(output_audio=True)
  reference.json        the texts and settings

`build()` returns the seeded random model, for the benchmark (scripts/bench/csm.py) too.
"""

import json
import math
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, decoders
from tiny_whisper import bytes_to_unicode  # noqa: E402  (GPT-2's byte table)
from transformers import (
    CsmConfig,
    CsmForConditionalGeneration,
    CsmProcessor,
    EncodecFeatureExtractor,
    MimiConfig,
    PreTrainedTokenizerFast,
)

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "tests", "fixtures", "csm")
SAMPLE_RATE = 24_000
NEW_FRAMES = 6
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|AUDIO|>", "<|audio_eos|>"]
VOICE_TEXT = "amber river"
LINE = "hello there"
LLAMA3_ROPE = {
    "rope_type": "llama3",
    "rope_theta": 500000.0,
    "factor": 32.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}


def tiny_config(hidden=64, layers=2, heads=4, kv_heads=2, depth_hidden=32, depth_layers=2, codebooks=4,
                real_codec=False):
    if real_codec:  # Mimi's own size (kyutai/mimi), 2048 codes per codebook
        codec = MimiConfig(num_quantizers=codebooks)
    else:
        codec = MimiConfig(
            hidden_size=32,
            num_filters=4,
            upsampling_ratios=[8, 6, 5, 4],  # the real strides: CsmProcessor counts frames with them
            codebook_size=64,
            codebook_dim=16,
            vector_quantization_hidden_dimension=16,
            num_quantizers=codebooks,
            upsample_groups=32,
            num_hidden_layers=2,
            intermediate_size=64,
            num_attention_heads=4,
            num_key_value_heads=4,
        )
    # The real vocab is 2051 (2048 codes + 3 unused ids); here the codebook's own
    # size, so that a random model's greedy frames stay decodable.
    vocab = codec.codebook_size
    depth = dict(
        num_codebooks=codebooks,
        backbone_hidden_size=hidden,
        vocab_size=vocab,
        hidden_size=depth_hidden,
        intermediate_size=2 * depth_hidden,
        num_hidden_layers=depth_layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=codebooks + 1,
        rope_parameters=dict(LLAMA3_ROPE),
    )
    return CsmConfig(
        num_codebooks=codebooks,
        vocab_size=vocab,
        text_vocab_size=256 + len(SPECIALS),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        pad_token_id=258,
        codebook_pad_token_id=vocab - 1,
        codebook_eos_token_id=0,
        bos_token_id=256,
        audio_token_id=258,
        audio_eos_token_id=259,
        rope_parameters=dict(LLAMA3_ROPE),
        depth_decoder_config=depth,
        codec_config=codec.to_dict(),
    )


def randomize(model, seed):
    """Every parameter and buffer random (no zero gate or unit norm hides a wrong path).
    Matrices N(0, 1/fan_in); vectors N(0, 0.2); the codebooks' usage counts positive."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            elif name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
        for name, b in sorted(model.named_buffers()):
            if name.endswith("cluster_usage"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
            elif name.endswith("embed_sum"):
                b.copy_(torch.randn(b.shape, generator=g))
    return model


def build(seed=0, **sizes):
    torch.manual_seed(seed)
    model = CsmForConditionalGeneration(tiny_config(**sizes)).eval()
    randomize(model, seed)
    # The tied codebook embeddings must stay one tensor after randomising.
    model.tie_weights()
    model.generation_config.do_sample = True
    model.generation_config.temperature = 0.9
    model.generation_config.top_k = 50
    model.depth_decoder.generation_config.do_sample = True
    model.depth_decoder.generation_config.temperature = 0.9
    model.depth_decoder.generation_config.top_k = 50
    return model


def tiny_tokenizer():
    """Byte-level BPE without merges (one token per byte, id = byte value), then
    Llama 3's special tokens as CSM uses them, ids 256.."""
    table = bytes_to_unicode()
    tok = Tokenizer(models.BPE(vocab={table[b]: b for b in range(256)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    return tok


def processor(tok):
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        pad_token="<|AUDIO|>",
    )
    fe = EncodecFeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0)
    return CsmProcessor(feature_extractor=fe, tokenizer=fast)


def turn(speaker, text, audio):
    """CSM's chat template for one turn (sesame/csm-1b's chat_template.jinja)."""
    s = f"<|begin_of_text|>[{speaker}]{text}<|end_of_text|>"
    return s + "<|AUDIO|><|audio_eos|>" if audio else s


def voice_clip(seconds=0.8):
    """A voiced sound: a 140 Hz harmonic series under a syllable-rate envelope, a little noise."""
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 140 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 4 * t)) * np.minimum(1, 8 * t) * np.minimum(1, 8 * (seconds - t))
    return (0.3 * voiced * envelope + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    model = build()
    tok = tiny_tokenizer()
    proc = processor(tok)
    tiny = os.path.join(OUT, "tiny")
    model.save_pretrained(tiny)
    tok.save(os.path.join(tiny, "tokenizer.json"))

    out = {}
    voice = voice_clip()
    out["voice.samples"] = torch.from_numpy(voice)
    with torch.no_grad():
        codes = model.codec_model.encode(torch.from_numpy(voice)[None, None]).audio_codes[0]
        out["voice.codes"] = codes.to(torch.int64)
        out["voice.decoded"] = model.codec_model.decode(codes[None]).audio_values[0, 0]

        clone_text = turn(0, VOICE_TEXT, True) + turn(0, LINE, False)
        inputs = proc(text=[clone_text], audio=[voice])
        out["clone.input_ids"] = inputs["input_ids"][0]
        out["clone.backbone_logits"] = model(**inputs).logits[0]
        # The normed state at the last position: what generate hands the depth decoder.
        merged = model._merge_input_ids_with_input_values(
            input_ids=inputs["input_ids"], input_values=inputs["input_values"],
            input_values_cutoffs=inputs["input_values_cutoffs"])
        last = model.backbone_model(inputs_embeds=merged["inputs_embeds"]).last_hidden_state[0, -1]
        out["clone.backbone_last_hidden"] = last
        depth_input = torch.cat([torch.zeros(1, dtype=torch.long), codes[:, 0][:-1]])
        out["clone.depth_input"] = depth_input
        depth = model.depth_decoder(input_ids=depth_input[None], backbone_last_hidden_state=last[None])
        out["clone.depth_logits"] = depth.logits[0]

        frames = model.generate(**inputs, do_sample=False, depth_decoder_do_sample=False, max_new_tokens=NEW_FRAMES)
        out["clone.frames"] = frames[0].to(torch.int64)

        plain = proc(text=[turn(0, LINE, False)])
        out["plain.input_ids"] = plain["input_ids"][0]
        gen = model.generate(
            input_ids=plain["input_ids"], do_sample=False, depth_decoder_do_sample=False,
            max_new_tokens=NEW_FRAMES, output_audio=True,
        )
        out["plain.audio"] = gen[0].reshape(-1)
        plain_frames = model.generate(
            input_ids=plain["input_ids"], do_sample=False, depth_decoder_do_sample=False, max_new_tokens=NEW_FRAMES)
        out["plain.frames"] = plain_frames[0].to(torch.int64)

    tensors = {k: (v.detach().float() if v.is_floating_point() else v).contiguous() for k, v in out.items()}
    save_file(tensors, os.path.join(OUT, "reference.safetensors"))
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump({"voice_text": VOICE_TEXT, "line": LINE, "speaker": 0, "new_frames": NEW_FRAMES,
                   "clone_prompt": clone_text, "sample_rate": SAMPLE_RATE}, f, indent=1)
    for k, v in tensors.items():
        print(k, tuple(v.shape), v.dtype)


if __name__ == "__main__":
    sys.exit(main())
