#!/usr/bin/env bash
# Byte-identity check for refactors: run a fixed set of infer / mep / eval commands on the
# repository's fixtures with the given baiseg-rt binary, and write OUTDIR/SHA256SUMS (one line per
# output file, plus the exit status of every command). Compare two binaries with
#   bash scripts/golden.sh OLD_BIN OUT_A && bash scripts/golden.sh NEW_BIN OUT_B &&
#   diff OUT_A/SHA256SUMS OUT_B/SHA256SUMS
# Volatile parts (wall-clock times in summaries and timing files) are not hashed: the summaries are
# not written to files, and `--timing-json` is not used.
set -uo pipefail
BIN=$(realpath "${1:?usage: golden.sh BINARY OUTDIR}")
OUT=${2:?usage: golden.sh BINARY OUTDIR}
cd "$(dirname "$0")/.."
. scripts/lib.sh
if [ -z "${ORT_DYLIB_PATH:-}" ]; then
  ORT_DYLIB_PATH=$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* .ort/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -1)
  export ORT_DYLIB_PATH
fi
rm -rf "$OUT"; mkdir -p "$OUT"
M=models/baiseg_small.onnx
IMGS=fixtures/samples/images
STATUS="$OUT/status.txt"
run() { # name, command...
  local name=$1; shift
  "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr"
  echo "$name rc=$?" >>"$STATUS"
}
run infer_all      "$BIN" infer $M $IMGS --out "$OUT/infer_all" --save all --threads 2 -q
run infer_batch    "$BIN" infer $M $IMGS --out "$OUT/infer_batch" --batch 3 --threads 2 -q
run infer_polygon  "$BIN" infer $M $IMGS --out "$OUT/infer_polygon" --mask-format polygon --threads 2 -q
run infer_improved "$BIN" infer $M $IMGS --out "$OUT/infer_improved" --mep improved --save labels --threads 2 -q
run infer_tile     "$BIN" infer $M $IMGS --out "$OUT/infer_tile" --tile 128 --tile-overlap 32 --batch 2 --save labels --threads 2 -q
run infer_coco     "$BIN" infer $M $IMGS --out "$OUT/infer_coco" --coco fixtures/samples/annotations.json --threads 2 -q
run infer_semdir   "$BIN" infer $M $IMGS --out "$OUT/infer_semdir" --semantic-dir fixtures/samples/semantic --threads 2 -q
run infer_shard0   "$BIN" infer $M $IMGS --out "$OUT/shard0" --shard 0/2 --threads 2 -q
run infer_shard1   "$BIN" infer $M $IMGS --out "$OUT/shard1" --shard 1/2 --threads 2 -q
run merge          "$BIN" merge "$OUT/shard0" "$OUT/shard1" --out "$OUT/merged" -q
run infer_resume   "$BIN" infer $M $IMGS --out "$OUT/infer_coco" --coco fixtures/samples/annotations.json --threads 2 -q
run mep_cases      "$BIN" mep --cases fixtures/mep --out "$OUT/mep_cases" --save overlay,stages --threads 2 -q
run mep_improved   "$BIN" mep --cases fixtures/mep --out "$OUT/mep_improved" --mep improved --threads 2 -q
run eval_onepass   "$BIN" eval --coco fixtures/samples/annotations.json --model $M --images $IMGS --json "$OUT/eval_onepass.json" --threads 2 -q
run eval_results   "$BIN" eval --coco fixtures/samples/annotations.json --results "$OUT/infer_coco/instances.json" --json "$OUT/eval_results.json" --tide "$OUT/tide.json" --confusion "$OUT/confusion.json" --threads 2 -q
for d in fixtures/coco/coco_val2014_100; do
  gt=$(ls $d/instances_*100.json | head -1)
  for t in segm bbox; do
    dt=$d/instances_val2014_fake${t}100_results.json
    run eval_${t}     "$BIN" eval --coco "$gt" --results "$dt" --iou-type $t --json "$OUT/eval_$t.json" --threads 2 -q
    run eval_${t}_voc "$BIN" eval --coco "$gt" --results "$dt" --iou-type $t --protocol voc-chainercv --json "$OUT/eval_${t}_voc.json" --threads 2 -q
  done
  run eval_boundary "$BIN" eval --coco "$gt" --results $d/instances_val2014_fakesegm100_results.json --iou-type boundary --json "$OUT/eval_boundary.json" --plot "$OUT/plots" --threads 2 -q
done
# Hash everything but the captured stderr (log lines may carry times) and the status file (appended last).
( cd "$OUT" && find . -type f ! -name '*.stderr' ! -name status.txt ! -name SHA256SUMS -print0 | sort -z | xargs -0 sha256sum ) >"$OUT/SHA256SUMS"
cat "$STATUS" >>"$OUT/SHA256SUMS"
echo "golden: $(grep -c . "$OUT/SHA256SUMS") lines in $OUT/SHA256SUMS"
