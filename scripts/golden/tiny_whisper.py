"""Tiny random-weight multilingual Whisper, and what transformers makes of a few clips.

Run from the repository root (CPU only, no downloads; needs espeak-ng and
the ffmpeg CLI for the speech clips):

    /work/venv/bin/python scripts/golden/tiny_whisper.py

Writes engine/tests/fixtures/whisper/:
  tiny/               WhisperForConditionalGeneration (d_model 32, 2+2 layers,
                      80 mel bins, init_std 0.8 so the clips decode differently) saved by save_pretrained (config.json,
                      generation_config.json, model.safetensors) and a byte-level
                      tokenizer.json with Whisper's special tokens (100 languages)
  clips.safetensors   per clip NAME: NAME.samples (16 kHz mono f32),
                      NAME.mel (80, frames) from WhisperFeatureExtractor up to the
                      last frame the audio reaches, NAME.mel_pad (80) the value of
                      every later frame,
                      NAME.encoder (1500, 32), NAME.tokens (greedy, end of text
                      included), NAME.logprobs (each token's log-probability
                      after the suppressions), NAME.language (detected token)
  clips.json          per clip: text (tokenizer decode), language code,
                      avg_logprob, and how the clip was made

Greedy tokens come from `model.generate(features, task="transcribe",
max_new_tokens=MAX_NEW_TOKENS)` with no language (so transformers detects
it), timestamps off.

`build(dims)` returns a seeded random model + generation config, for the
benchmark (scripts/bench/whisper.py) too.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "tests", "fixtures", "whisper")
MAX_NEW_TOKENS = 24

LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur "
    "hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si "
    "km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha "
    "ba jw su yue"
).split()


def bytes_to_unicode():
    """GPT-2's byte → printable character table (what ByteLevel uses)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def specials(extra_languages=LANGUAGES):
    return (
        ["<|endoftext|>", "<|startoftranscript|>"]
        + [f"<|{code}|>" for code in extra_languages]
        + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
    )


def tiny_tokenizer():
    """Byte-level BPE without merges: one token per byte (id = byte value),
    then Whisper's special tokens in Whisper's order."""
    table = bytes_to_unicode()
    vocab = {table[b]: b for b in range(256)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials()])
    return tok


def generation_config(tok, vocab_size, max_length):
    ids = {t: tok.token_to_id(t) for t in specials()}
    punctuation = [1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93]
    suppress = punctuation + [ids[t] for t in ["<|startoftranscript|>", "<|translate|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>"]]
    return GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"],
        max_length=max_length,
        is_multilingual=True,
        lang_to_id={f"<|{c}|>": ids[f"<|{c}|>"] for c in LANGUAGES},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"],
        suppress_tokens=[t for t in suppress if t < vocab_size],
        # The space byte and end of text may not start a transcript.
        begin_suppress_tokens=[32, ids["<|endoftext|>"]],
        return_timestamps=False,
    )


def sinusoids(length, channels):
    log_increment = np.log(10000) / (channels // 2 - 1)
    inv = torch.exp(-log_increment * torch.arange(channels // 2))
    scaled = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([scaled.sin(), scaled.cos()], dim=1)


def build(d_model=32, layers=2, heads=4, n_mels=80, vocab_size=None, max_target_positions=64, init_std=0.8, seed=0):
    """A seeded random multilingual Whisper. `vocab_size` None: the tiny
    tokenizer's (364); larger vocabularies (whisper-base's 51865) get
    the special tokens at the tiny tokenizer's ids, which is all decoding needs."""
    tok = tiny_tokenizer()
    vocab_size = vocab_size or tok.get_vocab_size()
    config = WhisperConfig(
        vocab_size=vocab_size,
        num_mel_bins=n_mels,
        encoder_layers=layers,
        encoder_attention_heads=heads,
        decoder_layers=layers,
        decoder_attention_heads=heads,
        d_model=d_model,
        encoder_ffn_dim=4 * d_model,
        decoder_ffn_dim=4 * d_model,
        max_source_positions=1500,
        max_target_positions=max_target_positions,
        activation_function="gelu",
        init_std=init_std,
        decoder_start_token_id=tok.token_to_id("<|startoftranscript|>"),
        pad_token_id=tok.token_to_id("<|endoftext|>"),
        bos_token_id=tok.token_to_id("<|endoftext|>"),
        eos_token_id=tok.token_to_id("<|endoftext|>"),
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    # Whisper's encoder positions are fixed sinusoids; candle computes them.
    pos = model.model.encoder.embed_positions.weight
    expected = sinusoids(pos.shape[0], pos.shape[1])
    if not torch.allclose(pos, expected, atol=1e-5):
        with torch.no_grad():
            pos.copy_(expected)
    model.generation_config = generation_config(tok, vocab_size, max_target_positions)
    return model, tok


def speak(text, voice, path):
    """espeak-ng → 16 kHz mono f32 via the ffmpeg CLI."""
    wav = path + ".22k.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "190", "-w", wav, text], check=True)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", wav, "-ac", "1", "-ar", "16000", "-f", "f32le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


def tones(seconds=1.5, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    # 440 Hz, then 660 Hz, with 10 ms fades.
    wave = np.where(t < seconds / 2, np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)) * 0.3
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)
    return (wave * fade).astype(np.float32)


def clips(workdir):
    return {
        "english": (speak("The quick brown fox jumps over the lazy dog.", "en", os.path.join(workdir, "en")), "espeak-ng -v en"),
        "german": (speak("Guten Morgen, wie geht es dir heute?", "de", os.path.join(workdir, "de")), "espeak-ng -v de"),
        "tones": (tones(), "440 Hz then 660 Hz, 1.5 s"),
    }


def run(model, tok, samples, max_new_tokens=MAX_NEW_TOKENS):
    fe = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
    features = fe(samples, sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        encoder = model.model.encoder(features).last_hidden_state
        language = int(model.detect_language(features)[0])
        out = model.generate(
            features,
            task="transcribe",
            max_new_tokens=max_new_tokens,
            return_dict_in_generate=True,
            output_scores=True,
        )
    steps = len(out.scores)
    tokens = out.sequences[0, -steps:]
    logprobs = torch.stack(
        [torch.log_softmax(score[0].double(), dim=-1)[token] for score, token in zip(out.scores, tokens)]
    )
    return features[0], encoder[0], language, tokens, logprobs, out.sequences[0]


def main():
    model, tok = build()
    tiny = os.path.join(OUT, "tiny")
    os.makedirs(tiny, exist_ok=True)
    model.save_pretrained(tiny, safe_serialization=True)
    tok.save(os.path.join(tiny, "tokenizer.json"))
    eot = tok.token_to_id("<|endoftext|>")
    tensors, meta = {}, {}
    with tempfile.TemporaryDirectory() as workdir:
        made = clips(workdir)
    for name, (samples, how) in made.items():
        features, encoder, language, tokens, logprobs, sequence = run(model, tok, samples)
        prompt = sequence[: len(sequence) - len(tokens)].tolist()
        assert prompt[1] == language, (prompt, language)
        tensors[f"{name}.samples"] = torch.from_numpy(samples)
        # Frames past the audio are all the padding's value: keep the rest.
        pad = features[:, -1:]
        live = int((features != pad).any(dim=0).nonzero().max()) + 1
        assert torch.equal(features[:, live:], pad.expand(-1, features.shape[1] - live))
        tensors[f"{name}.mel"] = features[:, :live].contiguous()
        tensors[f"{name}.mel_pad"] = pad[:, 0].contiguous()
        tensors[f"{name}.encoder"] = encoder.contiguous()
        tensors[f"{name}.tokens"] = tokens.to(torch.int64).contiguous()
        tensors[f"{name}.logprobs"] = logprobs.contiguous()
        tensors[f"{name}.language"] = torch.tensor([language], dtype=torch.int64)
        words = [t for t in tokens.tolist() if t < eot]
        meta[name] = {
            "made_with": how,
            "seconds": len(samples) / 16000,
            "prompt": prompt,
            "text": tok.decode(words, skip_special_tokens=True).strip(),
            "language": tok.id_to_token(language)[2:-2],
            "avg_logprob": float(logprobs.mean()),
        }
        print(name, meta[name])
    save_file(tensors, os.path.join(OUT, "clips.safetensors"))
    with open(os.path.join(OUT, "clips.json"), "w") as f:
        json.dump({"max_new_tokens": MAX_NEW_TOKENS, "clips": meta}, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
