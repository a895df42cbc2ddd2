"""The VAE decode's 3D convolutions one shape at a time, PyTorch beside candle.

  python scripts/bench/conv3d_shapes.py record DIR SHAPES.json   # shapes of one decode of DIR's VAE
  THREADS=2 python scripts/bench/conv3d_shapes.py compare SHAPES.json BIN [RUNS]

`record` decodes the latent of a 384x256, 25-frame render with the VAE of a
pipeline made by scripts/bench/ltx_small.py and writes every Conv3d call's
geometry (channels, kernel, output frames, height, width, padding mode) with
how often it occurs. `compare` times each shape with torch's conv3d (the
input already padded in time, as diffusers' LTXVideoCausalConv3d passes it)
and with candle's CausalConv3d in BIN (engine/examples/conv3d_bench.rs, on
RAYON_NUM_THREADS=THREADS), median of RUNS, and prints both, their ratio,
candle's GFLOP/s and the totals weighted by the counts.
"""
import json
import os
import statistics
import subprocess
import sys
import time

import torch

FRAMES, HEIGHT, WIDTH = 25, 256, 384


def record(model_dir, out):
    from diffusers import AutoencoderKLLTXVideo
    vae = AutoencoderKLLTXVideo.from_pretrained(os.path.join(model_dir, "vae")).eval()
    seen = {}
    forward = torch.nn.Conv3d.forward

    def recording(self, x):
        y = forward(self, x)
        kt, kh, kw = self.kernel_size
        key = (self.in_channels, self.out_channels, kt, kh, kw, y.shape[2], y.shape[3], y.shape[4],
               self.padding_mode)
        seen[key] = seen.get(key, 0) + 1
        return y

    torch.nn.Conv3d.forward = recording
    t = (FRAMES - 1) // vae.temporal_compression_ratio + 1
    h, w = HEIGHT // vae.spatial_compression_ratio, WIDTH // vae.spatial_compression_ratio
    z = torch.randn(1, vae.config.latent_channels, t, h, w)
    with torch.no_grad():
        vae.decode(z, return_dict=False)
    shapes = [dict(cin=k[0], cout=k[1], kernel=list(k[2:5]), t=k[5], h=k[6], w=k[7], reflect=k[8] == "reflect",
                   count=n) for k, n in seen.items()]
    with open(out, "w") as f:
        json.dump(shapes, f, indent=1)
    print(f"{len(shapes)} shapes, {sum(s['count'] for s in shapes)} convolutions -> {out}")


def flops(s):
    kt, kh, kw = s["kernel"]
    return 2 * s["cin"] * s["cout"] * kt * kh * kw * s["t"] * s["h"] * s["w"]


def torch_seconds(s, runs):
    kt, kh, kw = s["kernel"]
    conv = torch.nn.Conv3d(s["cin"], s["cout"], (kt, kh, kw), padding=(0, kh // 2, kw // 2),
                           padding_mode="reflect" if s["reflect"] else "zeros").eval()
    x = torch.randn(1, s["cin"], s["t"] + kt - 1, s["h"], s["w"])
    with torch.no_grad():
        conv(x)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            conv(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(shapes_file, binary, runs):
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    shapes = json.load(open(shapes_file))
    env = dict(os.environ, RAYON_NUM_THREADS=os.environ.get("THREADS", "1"))
    out = subprocess.run([binary, shapes_file, str(runs)], env=env, check=True, capture_output=True, text=True)
    candle = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"threads {torch.get_num_threads()}, median of {runs}")
    print("| in → out | kernel | t×h×w | count | PyTorch | candle | candle ÷ PyTorch | candle GFLOP/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    total_torch = total_candle = 0.0
    for s, c in zip(shapes, candle):
        p = torch_seconds(s, runs)
        total_torch += s["count"] * p
        total_candle += s["count"] * c
        kernel = "×".join(map(str, s["kernel"]))
        print(f"| {s['cin']} → {s['cout']} | {kernel} | {s['t']}×{s['h']}×{s['w']} | {s['count']} | "
              f"{p * 1e3:.1f} ms | {c * 1e3:.1f} ms | {c / p:.2f} | {flops(s) / c / 1e9:.0f} |")
    print(f"| all, weighted by count | | | | {total_torch:.3f} s | {total_candle:.3f} s | "
          f"{total_candle / total_torch:.2f} | |")


if __name__ == "__main__":
    if sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3])
    else:
        compare(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 5)
