#!/usr/bin/env bash
# Face detect + landmarks + embed per image: candle (reel) and dlib (its
# Python bindings) on the same CPU, the same images, one after the other.
# Needs the converted models (scripts/setup-face-models), the package's
# .dat files for dlib, and a Python with dlib (see scripts/golden/faces_reference.py).
#   scripts/bench/faces.sh PYTHON DAT_DIR [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:?usage: faces.sh PYTHON DAT_DIR [THREADS]}
dat_dir=${2:?usage: faces.sh PYTHON DAT_DIR [THREADS]}
threads=${3:-2}
models=${REEL_TEST_FACE_MODELS:-${REEL_CACHE_DIR:-$HOME/.cache/reel}/face-models}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fixtures=engine/tests/fixtures/faces/images
# A realistic video-note frame size and a large photo, made from the fixtures.
"$python" - "$fixtures" "$work" <<'PY'
import sys
from PIL import Image
src, out = sys.argv[1], sys.argv[2]
a = Image.open(f"{src}/astronaut.png").convert("RGB")
a.resize((1280, 1280), Image.BILINEAR).save(f"{out}/astronaut_1280.png")
PY
images=("$fixtures/astronaut.png" "$fixtures/grace_hopper.png" "$work/astronaut_1280.png")
cargo build --release -q -p reel-engine --example faces_bench
RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads \
  "${CARGO_TARGET_DIR:-target}/release/examples/faces_bench" "$models" "${images[@]}"
OMP_NUM_THREADS=$threads "$python" scripts/bench/faces_dlib.py "$dat_dir" "${images[@]}"
