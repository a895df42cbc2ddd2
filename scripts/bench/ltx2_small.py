"""LTX-2's components at LTX-2's real widths, timed with diffusers/PyTorch:
the PyTorch half of scripts/bench/ltx2_small.sh (candle's half is
engine/examples/ltx2_bench.rs, reading the same directory).

    python scripts/bench/ltx2_small.py make DIR [layers=2]
    THREADS=2 python scripts/bench/ltx2_small.py run DIR [frames=25] [width=384] [height=256] [runs=3]

`make` writes random weights (diffusers' own initialisation, seeded) for the
transformer (LTX-2 19B's configuration with `layers` blocks instead of 48), the
video VAE, the audio VAE and the vocoder, all at their default (LTX-2) configs.
`run` times, on the same inputs candle gets (seeded noise saved as DIR/inputs.safetensors):
  step    one transformer forward (both streams; 1024 caption tokens, no CFG)
  decode  the video VAE decode of the clip's latents, whole
  audio   the audio VAE decode and the vocoder
and prints one JSON object per run, then the medians. PARTS (default
"step,decode,audio") limits both commands to some parts: `make` then writes
only their weights (the transformer's config always, for the input shapes).
"""

import json
import os
import statistics
import sys
import time

import torch
from safetensors.torch import load_file, save_file

from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel
from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

CAPTION_TOKENS = 1024
FPS = 24.0


def wanted(part):
    return part in os.environ.get("PARTS", "step,decode,audio").split(",")


def make(root, layers):
    torch.manual_seed(0)
    os.makedirs(root, exist_ok=True)
    if wanted("step"):
        LTX2VideoTransformer3DModel(num_layers=layers).save_pretrained(os.path.join(root, "transformer"))
    else:
        with torch.device("meta"):
            LTX2VideoTransformer3DModel(num_layers=layers).save_config(os.path.join(root, "transformer"))
    if wanted("decode"):
        AutoencoderKLLTX2Video().save_pretrained(os.path.join(root, "vae"))
    if wanted("audio"):
        AutoencoderKLLTX2Audio().save_pretrained(os.path.join(root, "audio_vae"))
        LTX2Vocoder().save_pretrained(os.path.join(root, "vocoder"))
    else:
        # `inputs` sizes the audio latents from this config.
        with torch.device("meta"):
            AutoencoderKLLTX2Audio().save_config(os.path.join(root, "audio_vae"))


def shapes(root, frames, width, height):
    t = json.load(open(os.path.join(root, "transformer", "config.json")))
    a = json.load(open(os.path.join(root, "audio_vae", "config.json")))
    latent_frames = (frames - 1) // 8 + 1
    video = (1, t["in_channels"], latent_frames, height // 32, width // 32)
    per_second = a["sample_rate"] / a["mel_hop_length"] / 4
    audio = (1, a["latent_channels"], round(frames / FPS * per_second), a["mel_bins"] // 4)
    return t, video, audio


def inputs(root, frames, width, height):
    """The same seeded inputs for both sides, made once per shape."""
    path = os.path.join(root, f"inputs-{frames}x{width}x{height}.safetensors")
    if not os.path.exists(path):
        t, video, audio = shapes(root, frames, width, height)
        g = torch.Generator().manual_seed(1)
        save_file(
            {
                "video": torch.randn(video, generator=g),
                "audio": torch.randn(audio, generator=g),
                "captions": torch.randn((1, CAPTION_TOKENS, t["caption_channels"]), generator=g),
            },
            path,
        )
    return load_file(path)


@torch.no_grad()
def run(root, frames, width, height, runs):
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    x = inputs(root, frames, width, height)
    if wanted("step"):
        transformer = LTX2VideoTransformer3DModel.from_pretrained(os.path.join(root, "transformer")).eval()
    if wanted("decode"):
        vae = AutoencoderKLLTX2Video.from_pretrained(os.path.join(root, "vae")).eval()
    if wanted("audio"):
        audio_vae = AutoencoderKLLTX2Audio.from_pretrained(os.path.join(root, "audio_vae")).eval()
        vocoder = LTX2Vocoder.from_pretrained(os.path.join(root, "vocoder")).eval()
    _, c, f, h, w = x["video"].shape
    _, ac, al, am = x["audio"].shape
    hidden = x["video"].permute(0, 2, 3, 4, 1).reshape(1, f * h * w, c)
    audio_hidden = x["audio"].transpose(1, 2).reshape(1, al, ac * am)
    mask = torch.ones((1, CAPTION_TOKENS))
    t = torch.tensor([500.0])
    results = []
    for _ in range(runs):
        start = time.perf_counter()
        if wanted("step"):
            transformer(
                hidden_states=hidden,
                audio_hidden_states=audio_hidden,
                encoder_hidden_states=x["captions"],
                audio_encoder_hidden_states=x["captions"],
                timestep=t,
                sigma=t,
                encoder_attention_mask=mask,
                audio_encoder_attention_mask=mask,
                num_frames=f,
                height=h,
                width=w,
                fps=FPS,
                audio_num_frames=al,
                return_dict=False,
            )
        step = time.perf_counter() - start
        start = time.perf_counter()
        if wanted("decode"):
            vae.decode(x["video"], return_dict=False)
        decode = time.perf_counter() - start
        start = time.perf_counter()
        if wanted("audio"):
            vocoder(audio_vae.decode(x["audio"], return_dict=False)[0])
        audio = time.perf_counter() - start
        result = {"impl": "pytorch", "threads": torch.get_num_threads(), "step_s": step, "decode_s": decode, "audio_s": audio}
        print(json.dumps(result))
        results.append(result)
    print(json.dumps({"impl": "pytorch", "threads": torch.get_num_threads(), "median": True,
                      **{k: statistics.median(r[k] for r in results) for k in ("step_s", "decode_s", "audio_s")}}))


if __name__ == "__main__":
    command, root = sys.argv[1], sys.argv[2]
    rest = [int(v) for v in sys.argv[3:]]
    if command == "make":
        make(root, *(rest or [2]))
    elif command == "inputs":
        inputs(root, *rest)
    else:
        run(root, *(rest + [25, 384, 256, 3][len(rest):]))
