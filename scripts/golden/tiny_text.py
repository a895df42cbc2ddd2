"""Tiny T5 tokenizer + text encoder for LTX-Video, and reference prompt embeddings.

Run from the repository root (CPU only, no downloads; needs protobuf for
transformers' sentencepiece conversion):

    /work/golden-venv/bin/python scripts/golden/tiny_text.py

Writes engine/tests/fixtures/ltx/text/:
  tokenizer/        T5Tokenizer saved with tokenizer.json (as transformers saves it)
  tokenizer_spm/    the same tokenizer as LTX-Video's repos hold it: spiece.model,
                    tokenizer_config.json, special_tokens_map.json, no tokenizer.json
  tokenizer_v4/     the same with a tokenizer.json in transformers v4's layout
  text_encoder/     tiny random T5EncoderModel (v1.1: gated-gelu, d_model 32)
  tokens.json       prompts, max_length, and the ids/attention masks of both tokenizers
  embeds.safetensors  LTXPipeline.encode_prompt (no encoder mask) and
                    LTXConditionPipeline.encode_prompt (encoder mask) outputs

`build()` returns (tokenizer, text_encoder), seeded, for the pipeline script.
"""

import json
import os
import shutil
import sys
import tempfile

import sentencepiece as spm
import torch
from safetensors.torch import save_file
from transformers import T5Config, T5EncoderModel, T5Tokenizer

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "tests", "fixtures", "ltx", "text")

# Training text for the tiny sentencepiece model: prompts in the style of LTX-Video's.
CORPUS = """\
A woman with long brown hair walks along a beach at sunset, the waves rolling in behind her.
The camera pans slowly across a snow-covered mountain range under a pale blue sky.
A red sports car drives fast down a winding road through a dense green forest.
Close-up of a cat's face; its yellow eyes blink as it looks at the camera.
An old man in a grey coat reads a newspaper on a wooden bench in a quiet park.
Two children run through a field of tall grass, laughing, while a dog chases them.
A city street at night: neon signs glow, cars pass, and people cross the wet road.
The sun rises over the ocean and the light turns the clouds orange, pink and gold.
A chef chops vegetables quickly on a wooden board in a busy restaurant kitchen.
Rain falls on a window; drops slide down the glass as lightning flashes in the distance.
A small boat sails across a calm lake surrounded by pine trees and high cliffs.
A dancer in a white dress spins on a stage lit by a single bright spotlight.
Birds fly over a river in the early morning while fog drifts over the water.
A man plays the guitar by a campfire; sparks rise into the dark night sky.
The camera follows a cyclist riding up a steep hill in the mountains in 2024.
A robot with blue lights walks through an empty warehouse, 3 times, then stops.
Fireworks explode in bright colors above a river as a crowd watches from the bridge.
A horse gallops across a desert, kicking up sand and dust in the hot afternoon.
A young woman smiles and waves at the camera from the window of a moving train.
Leaves fall from the trees in autumn as the wind blows through the quiet village.
"""

# A few normalisation rules (code points, hex) in place of T5's nmt_nfkc, whose precompiled
# charsmap alone is 240 kB: the same Precompiled normaliser runs them.
NORMALIZATION_RULES = [
    ("2014", "2D"),  # em dash -> "-"
    ("E9", "65"),  # é -> e
    ("3000", "20"),  # ideographic space -> space
    ("FF01", "21"),  # fullwidth ! -> !
    ("FF21", "41"),  # fullwidth A -> A
    ("FF22", "42"),  # fullwidth B -> B
    ("9", "20"),  # tab -> space
    ("A", "20"),  # newline -> space
]

# The tokenizer's model_max_length as LTX-Video's tokenizer_config.json sets it.
MODEL_MAX_LENGTH = 128
MAX_LENGTH = 24

LONG_PROMPT = (
    "A very long prompt about a red sports car that drives fast down a winding road through a dense "
    "green forest while the camera follows it from above and birds fly over the trees in the morning."
)

PROMPTS = [
    "A woman walks along the beach at sunset.",
    "Close-up: a cat's eyes blink -- twice, slowly!",
    "In 2024, 3 robots walked 1,250 metres (fast).",
    "Café crème, naïve façade — ünïcödé and 日本語 text.",
    "   extra   spaces\tand a tab\nand a newline   ",
    "trailing space ",
    LONG_PROMPT,
    "ＡＢ！ fullwidth letters",
    "",
    "<extra_id_0> sentinel and </s> eos written in the text",
]

CONFIG = dict(
    d_model=32,
    d_kv=8,
    num_heads=4,
    num_layers=2,
    d_ff=64,
    feed_forward_proj="gated-gelu",
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    dropout_rate=0.0,
    layer_norm_epsilon=1e-6,
    is_encoder_decoder=False,
    use_cache=False,
    tie_word_embeddings=False,
)


def train_spm(workdir):
    corpus = os.path.join(workdir, "corpus.txt")
    with open(corpus, "w") as f:
        f.write(CORPUS)
    rules = os.path.join(workdir, "rules.tsv")
    with open(rules, "w") as f:
        f.write("".join(f"{src}\t{dst}\n" for src, dst in NORMALIZATION_RULES))
    prefix = os.path.join(workdir, "spiece")
    # T5's layout: <pad> 0, </s> 1, <unk> 2, no <s>.
    spm.SentencePieceTrainer.train(
        input=corpus,
        model_prefix=prefix,
        model_type="unigram",
        vocab_size=180,
        character_coverage=1.0,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        normalization_rule_tsv=rules,
        num_threads=1,
        seed_sentencepiece_size=10000,
        minloglevel=2,
    )
    return prefix + ".model"


def write_spm_tokenizer(directory):
    """The tokenizer folder as LTX-Video's repos hold it: spiece.model and configs, no tokenizer.json."""
    os.makedirs(directory, exist_ok=True)
    workdir = tempfile.mkdtemp()
    try:
        from sentencepiece import sentencepiece_model_pb2

        proto = sentencepiece_model_pb2.ModelProto()
        with open(train_spm(workdir), "rb") as f:
            proto.ParseFromString(f.read())
        # The trainer records its temporary paths: drop them so reruns give the same bytes.
        del proto.trainer_spec.input[:]
        proto.trainer_spec.ClearField("model_prefix")
        with open(os.path.join(directory, "spiece.model"), "wb") as f:
            f.write(proto.SerializeToString())
    finally:
        shutil.rmtree(workdir)
    extra = [f"<extra_id_{i}>" for i in range(100)]
    config = {
        "additional_special_tokens": extra,
        "clean_up_tokenization_spaces": True,
        "eos_token": "</s>",
        "extra_ids": 100,
        "legacy": True,
        "model_max_length": MODEL_MAX_LENGTH,
        "pad_token": "<pad>",
        "sp_model_kwargs": {},
        "tokenizer_class": "T5Tokenizer",
        "unk_token": "<unk>",
    }
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    special = {"additional_special_tokens": extra, "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    with open(os.path.join(directory, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)


def write_v4_style_tokenizer_json(src, directory):
    """tokenizer.json as transformers v4's converter wrote it (normaliser Precompiled + Replace
    of runs of spaces, a bare Metaspace pre-tokenizer). transformers v5 rebuilds its own pipeline
    from such a file; the Rust loader must do the same."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(src, "tokenizer.json")) as f:
        tok = json.load(f)
    precompiled = tok["normalizer"]
    tok["normalizer"] = {
        "type": "Sequence",
        "normalizers": [precompiled, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}],
    }
    tok["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    with open(os.path.join(directory, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False)
    shutil.copy(os.path.join(src, "tokenizer_config.json"), directory)


def build():
    """(tokenizer, text_encoder): the tiny T5 tokenizer and a seeded random T5 encoder."""
    workdir = tempfile.mkdtemp()
    try:
        write_spm_tokenizer(workdir)
        tokenizer = T5Tokenizer.from_pretrained(workdir)
    finally:
        shutil.rmtree(workdir)

    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tokenizer), **CONFIG)
    model = T5EncoderModel(config).eval()
    # Every parameter random (no zero or identity init), sized so activations stay O(1).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif "shared" in name or "embed_tokens" in name:
                p.copy_(torch.randn_like(p))
            elif "relative_attention_bias" in name:
                p.copy_(0.5 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / p.shape[1] ** 0.5)
    return tokenizer, model


class _Prompts:
    """The pieces of an LTX pipeline that encode_prompt uses."""

    def __init__(self, cls, tokenizer, text_encoder):
        self.cls, self.tokenizer, self.text_encoder = cls, tokenizer, text_encoder
        self._execution_device = torch.device("cpu")

    def encode(self, prompts, negative, max_length):
        def get(**kw):
            return self.cls._get_t5_prompt_embeds(self, **kw)

        self._get_t5_prompt_embeds = lambda **kw: get(**kw)
        return self.cls.encode_prompt(
            self,
            prompts,
            negative_prompt=negative,
            do_classifier_free_guidance=negative is not None,
            max_sequence_length=max_length,
            dtype=torch.float32,
        )


def main():
    from diffusers.pipelines.ltx.pipeline_ltx import LTXPipeline
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXConditionPipeline

    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    tokenizer, text_encoder = build()
    tok_dir = os.path.join(OUT, "tokenizer")
    tokenizer.save_pretrained(tok_dir)
    spm_dir = os.path.join(OUT, "tokenizer_spm")
    write_spm_tokenizer(spm_dir)
    write_v4_style_tokenizer_json(tok_dir, os.path.join(OUT, "tokenizer_v4"))
    text_encoder.save_pretrained(os.path.join(OUT, "text_encoder"))

    tokens = {"prompts": PROMPTS, "cases": []}
    for name in ["tokenizer", "tokenizer_spm", "tokenizer_v4"]:
        tok = T5Tokenizer.from_pretrained(os.path.join(OUT, name))
        for max_length in [MAX_LENGTH, MODEL_MAX_LENGTH]:
            padded = tok(PROMPTS, padding="max_length", max_length=max_length, truncation=True, add_special_tokens=True)
            tokens["cases"].append(
                {
                    "tokenizer": name,
                    "vocab_size": len(tok),
                    "max_length": max_length,
                    "input_ids": padded.input_ids,
                    "attention_mask": padded.attention_mask,
                    "untruncated_ids": [tok(p).input_ids for p in PROMPTS],
                }
            )
    a, b, c = (case["untruncated_ids"] for case in tokens["cases"][::2])
    assert a == b == c, "the tokenizer folders disagree"
    with open(os.path.join(OUT, "tokens.json"), "w") as f:
        json.dump(tokens, f, indent=1, ensure_ascii=False)

    # Reference embeddings, with the tokenizer and encoder read back from disk.
    tok = T5Tokenizer.from_pretrained(tok_dir)
    enc = T5EncoderModel.from_pretrained(os.path.join(OUT, "text_encoder")).eval()
    out = {}
    prompts = PROMPTS[:3]
    negative = ["worst quality, blurry", "", "jittery, distorted"]
    with torch.no_grad():
        for tag, cls in [("ltx", LTXPipeline), ("condition", LTXConditionPipeline)]:
            pe, pm, ne, nm = _Prompts(cls, tok, enc).encode(prompts, negative, MAX_LENGTH)
            out[f"{tag}.prompt_embeds"] = pe
            out[f"{tag}.prompt_mask"] = pm.to(torch.int64)
            out[f"{tag}.negative_embeds"] = ne
            out[f"{tag}.negative_mask"] = nm.to(torch.int64)
            # The default max_sequence_length (128), one prompt.
            pe, pm, _, _ = _Prompts(cls, tok, enc).encode([LONG_PROMPT], None, 128)
            out[f"{tag}.long_embeds"] = pe
            out[f"{tag}.long_mask"] = pm.to(torch.int64)
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(OUT, "embeds.safetensors"))
    with open(os.path.join(OUT, "negative.json"), "w") as f:
        json.dump({"prompts": prompts, "negative": negative, "long": LONG_PROMPT}, f, indent=1)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    sys.exit(main())
