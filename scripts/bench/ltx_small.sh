#!/usr/bin/env bash
# LTX-Video at a small-but-real shape, candle and PyTorch side by side in one
# run: for each thread count, PyTorch then candle, RUNS renders each, part by
# part (see scripts/bench/ltx_small.py and engine/examples/ltx_render_bench.rs).
#
#   scripts/bench/ltx_small.sh [PYTHON] [DIR] [THREADS...]
#
# PYTHON needs torch, diffusers, transformers (default /work/venv/bin/python);
# DIR is made on first use. STEPS (4) and RUNS (3) from the environment.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${1:-/work/venv/bin/python}
DIR=${2:-/tmp/reel-ltx-small}
shift $(( $# > 2 ? 2 : $# ))
THREADS=${*:-1 2}
STEPS=${STEPS:-4}
RUNS=${RUNS:-3}
[ -f "$DIR/model_index.json" ] || "$PYTHON" scripts/bench/ltx_small.py make "$DIR"
cargo build --release -p reel-engine --example ltx_render_bench
BIN=${CARGO_TARGET_DIR:-target}/release/examples/ltx_render_bench
for n in $THREADS; do
    echo "== $n thread(s), $STEPS steps, 384x256, 25 frames, median of $RUNS =="
    THREADS=$n "$PYTHON" scripts/bench/ltx_small.py run "$DIR" "$STEPS" "$RUNS" | tail -1
    RAYON_NUM_THREADS=$n "$BIN" "$DIR" "$STEPS" 25 384 256 "$RUNS" | tail -1
done
