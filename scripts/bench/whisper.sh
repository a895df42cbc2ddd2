#!/usr/bin/env bash
# Speech-to-text real-time factor on the CPU: candle (reel) and transformers
# on the same CPU, the same random-weight models and the same clip, one
# after the other. Models: the tiny parity model and a whisper-base-shaped
# one (d_model 512, 6+6 layers, 8 heads, 51865 tokens) made by
# scripts/golden/tiny_whisper.py's build(). The clip: the fixtures' English
# and German espeak-ng speech, 4.5 s. Random weights rarely stop early, so
# both sides write MAX_NEW_TOKENS tokens (printed; they must agree).
#   scripts/bench/whisper.sh PYTHON [THREADS] [MAX_NEW_TOKENS]
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:?usage: whisper.sh PYTHON [THREADS] [MAX_NEW_TOKENS]}
threads=${2:-2}
max_new=${3:-32}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" - "$work" <<'PY'
import os, sys
sys.path.insert(0, "scripts/golden")
import numpy as np
from safetensors.numpy import load_file
import tiny_whisper
out = sys.argv[1]
clips = load_file("engine/tests/fixtures/whisper/clips.safetensors")
np.concatenate([clips["english.samples"], clips["german.samples"]]).astype("<f4").tofile(f"{out}/clip.f32")
model, tok = tiny_whisper.build(d_model=512, layers=6, heads=8, vocab_size=51865, max_target_positions=448, init_std=0.02)
model.save_pretrained(f"{out}/base-shaped")
tok.save(f"{out}/base-shaped/tokenizer.json")
PY
cargo build --release -q -p reel-engine --example whisper_bench
for model in engine/tests/fixtures/whisper/tiny "$work/base-shaped"; do
  RAYON_NUM_THREADS=$threads \
    "${CARGO_TARGET_DIR:-target}/release/examples/whisper_bench" "$model" "$work/clip.f32" "$max_new"
  OMP_NUM_THREADS=$threads "$python" scripts/bench/whisper_torch.py "$model" "$work/clip.f32" "$max_new"
done
