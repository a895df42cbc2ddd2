#!/usr/bin/env bash
# LTX-2's components at LTX-2's real widths (2 of the 19B transformer's 48
# blocks; the real video VAE, audio VAE and vocoder), candle and PyTorch side
# by side in one run: for each thread count, PyTorch then candle, RUNS each
# (see scripts/bench/ltx2_small.py and engine/examples/ltx2_bench.rs).
#
#   scripts/bench/ltx2_small.sh [PYTHON] [DIR] [THREADS...]
#
# PYTHON needs torch and diffusers (default /work/venv/bin/python); DIR (about
# 9 GB) is made on first use. FRAMES (25), WIDTH (384), HEIGHT (256) and RUNS
# (3) from the environment.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${1:-/work/venv/bin/python}
DIR=${2:-/tmp/reel-ltx2-small}
shift $(( $# > 2 ? 2 : $# ))
THREADS=${*:-1 2}
FRAMES=${FRAMES:-25}
WIDTH=${WIDTH:-384}
HEIGHT=${HEIGHT:-256}
RUNS=${RUNS:-3}
[ -f "$DIR/transformer/config.json" ] || "$PYTHON" scripts/bench/ltx2_small.py make "$DIR"
"$PYTHON" scripts/bench/ltx2_small.py inputs "$DIR" "$FRAMES" "$WIDTH" "$HEIGHT"
cargo build --release -p reel-engine --example ltx2_bench
BIN=${CARGO_TARGET_DIR:-target}/release/examples/ltx2_bench
for n in $THREADS; do
    echo "== $n thread(s), ${WIDTH}x${HEIGHT}, $FRAMES frames, median of $RUNS =="
    THREADS=$n "$PYTHON" scripts/bench/ltx2_small.py run "$DIR" "$FRAMES" "$WIDTH" "$HEIGHT" "$RUNS" | tail -1
    RAYON_NUM_THREADS=$n "$BIN" "$DIR" "$FRAMES" "$WIDTH" "$HEIGHT" "$RUNS" | tail -1
done
