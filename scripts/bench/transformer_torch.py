"""Times one LTX-Video transformer forward in PyTorch/diffusers on the CPU, and
writes the random-weight model and inputs for the candle side to time the same.

    /work/golden-venv/bin/python scripts/bench/transformer_torch.py --threads 2
    RAYON_NUM_THREADS=2 cargo run --release -p reel-engine --example ltx_transformer_bench -- /tmp/reel-bench/transformer

Config: 4 layers, 8 heads of 64 (width 512), 128 latent channels, 1024 video
tokens (4 × 16 × 16 latents), 128 caption tokens of T5-XXL width 4096, batch 1
(the distilled checkpoints run without classifier-free guidance).
"""

import argparse
import os
import statistics
import sys
import time

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden"))
from tiny_transformer import build  # noqa: E402

BENCH_CONFIG = dict(
    in_channels=128,
    out_channels=128,
    num_attention_heads=8,
    attention_head_dim=64,
    cross_attention_dim=512,
    num_layers=4,
    caption_channels=4096,
)
FRAMES, HEIGHT, WIDTH = 4, 16, 16
TEXT_TOKENS = 128


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/reel-bench/transformer")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--latents", type=int, nargs=3, metavar=("FRAMES", "HEIGHT", "WIDTH"),
                        default=[FRAMES, HEIGHT, WIDTH],
                        help="latent grid (4 8 12: the 384 tokens of a 384x256, 25-frame clip)")
    args = parser.parse_args()
    frames, height, width = args.latents
    torch.set_num_threads(args.threads)

    model = build(seed=0, **BENCH_CONFIG)
    model.save_pretrained(os.path.join(args.out, "transformer"), safe_serialization=True)

    gen = torch.Generator().manual_seed(7)
    tokens = frames * height * width
    hidden = torch.randn(1, tokens, BENCH_CONFIG["in_channels"], generator=gen)
    text = torch.randn(1, TEXT_TOKENS, BENCH_CONFIG["caption_channels"], generator=gen)
    mask = torch.ones(1, TEXT_TOKENS)
    mask[:, 100:] = 0.0
    timestep = torch.tensor([700.0])
    rope_scale = (8 / 25.0, 32.0, 32.0)

    def forward():
        with torch.no_grad():
            return model(hidden, text, timestep, mask, frames, height, width, rope_scale, return_dict=False)[0]

    output = forward()  # warm-up
    times = []
    cpu_start = time.process_time()
    for _ in range(args.reps):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    cpu_per_forward = (time.process_time() - cpu_start) / args.reps
    save_file(
        dict(
            hidden_states=hidden,
            encoder_hidden_states=text,
            encoder_attention_mask=mask,
            timestep=timestep,
            geometry=torch.tensor([frames, height, width], dtype=torch.float32),
            rope_interpolation_scale=torch.tensor(rope_scale, dtype=torch.float32),
            output=output.contiguous(),
        ),
        os.path.join(args.out, "inputs.safetensors"),
    )
    print(
        f"pytorch {torch.__version__} threads={torch.get_num_threads()} forward: "
        f"min {min(times) * 1e3:.1f} ms, median {statistics.median(times) * 1e3:.1f} ms over {args.reps}, "
        f"cpu time {cpu_per_forward * 1e3:.0f} ms per forward"
    )


if __name__ == "__main__":
    main()
