#!/usr/bin/env bash
# Text-to-speech real-time factor on the CPU: candle (reel) and transformers
# on the same CPU, the same random-weight CSM models, the same line, one after
# the other. Models: the tiny parity model and a mid-size one (backbone 512
# wide, 6 layers; depth decoder 256 wide, 4 layers; 32 codebooks; Mimi at its
# real size) made by scripts/golden/csm.py's build(). Greedy, FRAMES frames
# (random weights never end a line), then the codec's decode; both sides print
# their first frame (they must agree).
#   scripts/bench/csm.sh PYTHON [THREADS] [FRAMES]
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:?usage: csm.sh PYTHON [THREADS] [FRAMES]}
threads=${2:-2}
frames=${3:-25}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" - "$work" <<'PY'
import sys
sys.path.insert(0, "scripts/golden")
import csm
model = csm.build(hidden=512, layers=6, heads=8, kv_heads=2, depth_hidden=256, depth_layers=4,
                  codebooks=32, real_codec=True)
model.save_pretrained(f"{sys.argv[1]}/mid")
csm.tiny_tokenizer().save(f"{sys.argv[1]}/mid/tokenizer.json")
PY
cargo build --release -q -p reel-engine --example csm_bench
for model in engine/tests/fixtures/csm/tiny "$work/mid"; do
  RAYON_NUM_THREADS=$threads \
    "${CARGO_TARGET_DIR:-target}/release/examples/csm_bench" "$model" "$frames"
  OMP_NUM_THREADS=$threads "$python" scripts/bench/csm_torch.py "$model" "$frames"
done
