"""VAE decode speed, PyTorch/diffusers side: builds a small-but-not-tiny LTX-Video VAE
(0.9.5 layout, decoder widths 32/64/128, two resnets per block, timestep-conditioned)
with seeded random weights, saves it and a latent [1,8,3,8,8] for the candle side, and
times diffusers' decode (output [1,3,17,256,256]) on CPU with a fixed thread count.

Run from the repository root (candle side second, same thread count):
    /work/golden-venv/bin/python scripts/bench/vae_torch.py --out /tmp/ltx-vae-bench --threads 2
    RAYON_NUM_THREADS=2 cargo run --release -p reel-engine --example ltx_vae_bench -- /tmp/ltx-vae-bench
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "golden"))
from tiny_vae import TINY_095, build  # noqa: E402

BENCH_095 = dict(
    TINY_095,
    block_out_channels=(32, 32, 64, 64, 64),
    decoder_block_out_channels=(32, 64, 128),
    decoder_layers_per_block=(2, 2, 2, 2),
    decoder_inject_noise=(False, False, False, False),
    upsample_residual=(True, True, True),
)
LATENT_SHAPE = (1, 8, 3, 8, 8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    vae = build(BENCH_095, seed=3)
    vae.save_pretrained(os.path.join(args.out, "vae"))
    z = torch.randn(LATENT_SHAPE, generator=torch.Generator().manual_seed(5))
    timestep = torch.tensor([0.05])

    times = []
    with torch.inference_mode():
        frames = vae.decode(z, timestep).sample  # warm-up
        for _ in range(args.runs):
            start = time.perf_counter()
            frames = vae.decode(z, timestep).sample
            times.append(time.perf_counter() - start)
    save_file(
        {"latents": z, "timestep": timestep, "frames": frames.contiguous()},
        os.path.join(args.out, "decode.safetensors"),
    )
    report = {
        "impl": "pytorch",
        "torch": torch.__version__,
        "threads": args.threads,
        "latents": list(LATENT_SHAPE),
        "frames": list(frames.shape),
        "runs_s": times,
        "median_s": statistics.median(times),
        "min_s": min(times),
    }
    with open(os.path.join(args.out, "torch.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
