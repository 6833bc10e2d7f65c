#!/usr/bin/env bash
# Builds the baiseg_rt wheel (maturin), installs it into the project venv and runs the Python
# tests (Model/MEP/Evaluator/RLE parity with the CLI and pycocotools, and the Ray pipeline on a
# local 2-worker cluster). Called by scripts/test.sh; usable alone:
#   bash bindings/python/test.sh            # everything
#   bash bindings/python/test.sh --no-lint  # skip cargo fmt/clippy of the bindings crate
#   PYTHON=/path/to/python bash bindings/python/test.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
MATURIN_PIN="maturin==1.16.0"
RAY_PIN="ray[data]==2.52.1"
LINT=1
[[ "${1:-}" == "--no-lint" ]] && LINT=0

if [[ ! -x "$PY" ]]; then
  echo "bindings/python/test.sh: no Python at $PY (run scripts/test.sh first, or set PYTHON)" >&2
  exit 1
fi

echo "== bindings: pins ($MATURIN_PIN, $RAY_PIN; pytest, pycocotools, pillow, onnxruntime from the venv)"
"$PY" -m pip install -q "$MATURIN_PIN" "$RAY_PIN" pytest pycocotools pillow onnxruntime

if [[ $LINT == 1 ]]; then
  echo "== bindings: cargo fmt --check, clippy"
  (cd "$HERE" && cargo fmt --check && PYO3_PYTHON="$PY" cargo clippy --release --locked -- -D warnings)
fi

echo "== bindings: CLI (target/release/baiseg-rt) for parity checks"
if [[ -z "${BAISEG_RT_BIN:-}" ]]; then
  (cd "$ROOT" && cargo build --release --locked --bin baiseg-rt)
  export BAISEG_RT_BIN="$ROOT/target/release/baiseg-rt"
fi

echo "== bindings: maturin build --release"
WHEELS="$(mktemp -d)"
trap 'rm -rf "$WHEELS"' EXIT
(cd "$HERE" && "$PY" -m maturin build --release --locked -i "$PY" -o "$WHEELS" -q)
"$PY" -m pip install -q --force-reinstall --no-deps "$WHEELS"/baiseg_rt-*.whl

echo "== bindings: pytest"
cd "$HERE/tests"
# The CLI finds ONNX Runtime in the venv like the wheel does.
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$("$PY" -c 'import baiseg_rt, os; print(os.environ.get("ORT_DYLIB_PATH", ""))')}"
RAY_DISABLE_USAGE_STATS=1 RAY_USAGE_STATS_ENABLED=0 timeout 900 "$PY" -m pytest -q -p no:cacheprovider .
