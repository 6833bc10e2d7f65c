#!/usr/bin/env bash
# The main job on a fresh machine: build baiseg-rt, install ONNX Runtime locally, and segment the
# sample images with the shipped default model. Results go to out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_tools
ensure_ort
echo "==> building baiseg-rt (release)"
cargo build --release --locked
echo "==> baiseg-rt infer models/baiseg_small.onnx fixtures/samples/images"
./target/release/baiseg-rt infer models/baiseg_small.onnx fixtures/samples/images --out out/demo --save overlay,labels "$@"
echo "==> results: out/demo/instances.json (COCO results), overlays in out/demo/overlays/"
