#!/usr/bin/env bash
# The GPU check of issue 11, as one script (run from the repository root on a CUDA machine with
# torch + timm; nothing is downloaded). About 8 minutes on one H100/H200-class GPU:
#   1. the `paper` config at 416 px, batch 16, bf16, 50 iterations on procedural scenes:
#      iterations/s, peak memory, data-wait share (from OUT/log.jsonl);
#   2. the `small` config on procedural scenes for ~5 minutes, exported, evaluated on held-out
#      scenes against the shipped models/baiseg_small.onnx.
# Everything lands in ${OUT:-gpu_check}/ (summary.json, logs, the new ONNX model).
# CPU smoke run: DEVICE=cpu AMP=off PAPER_CROP=64 PAPER_BATCH=2 PAPER_ITERS=2 SMALL_MINUTES=0.1 EVAL_NUM=2 bash ...
set -euo pipefail
OUT=${OUT:-gpu_check}
DEVICE=${DEVICE:-cuda}
AMP=${AMP:-bf16}
WORKERS=${WORKERS:-8}
PAPER_CROP=${PAPER_CROP:-416}
PAPER_BATCH=${PAPER_BATCH:-16}
PAPER_ITERS=${PAPER_ITERS:-50}
SMALL_MINUTES=${SMALL_MINUTES:-5}
EVAL_NUM=${EVAL_NUM:-50}
PY=${PYTHON:-python}
export PYTHONPATH="$(pwd)/python-export${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee "$OUT/env.txt"

# 1. paper config throughput (log every 10 iterations; the first window includes warm-up)
$PY -m baiseg_export.train --config paper --data procedural --procedural-size "$PAPER_CROP" \
    --crop "$PAPER_CROP" --batch "$PAPER_BATCH" --iters "$PAPER_ITERS" --log-every 10 \
    --device "$DEVICE" --amp "$AMP" --workers "$WORKERS" --out "$OUT/paper" --fresh --no-progress \
    --save-every 100000 --no-tensorboard 2>&1 | tail -3

# 2. small config, ~5 minutes, export, evaluate against the shipped model
$PY -m baiseg_export.train --config small --data procedural --iters 100000 --max-minutes "$SMALL_MINUTES" \
    --device "$DEVICE" --amp "$AMP" --workers "$WORKERS" --log-every 50 --save-every 1000 \
    --out "$OUT/small" --fresh --no-progress --no-tensorboard 2>&1 | tail -3
$PY -m baiseg_export.export "$OUT/small/last.pt" --out "$OUT/baiseg_small_gpu.onnx" 2>&1 | tail -2
$PY -m baiseg_export.data.procedural --out "$OUT/heldout" --seed 1000 --num "$EVAL_NUM" --size 256
$PY -m baiseg_export.evaluate --model "$OUT/baiseg_small_gpu.onnx" --data "$OUT/heldout" --json "$OUT/eval_new.json" | tail -2
$PY -m baiseg_export.evaluate --model models/baiseg_small.onnx --data "$OUT/heldout" --json "$OUT/eval_shipped.json" | tail -2

$PY - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
log = [json.loads(l) for l in open(os.path.join(out, "paper", "log.jsonl"))]
steady = [r for r in log if r["it"] > 10] or log
small = [json.loads(l) for l in open(os.path.join(out, "small", "log.jsonl"))]
s = {
    "paper_images_per_s": sum(r["images_per_s"] for r in steady) / len(steady),
    "paper_iterations_per_s": sum(r["images_per_s"] / r["global_batch"] for r in steady) / len(steady),
    "paper_data_wait_share": sum(r["data_wait_share"] for r in steady) / len(steady),
    "paper_max_memory_gib": max(r.get("max_memory_gib", 0) for r in log),
    "small_iterations": small[-1]["it"],
    "eval_new": {k: json.load(open(os.path.join(out, "eval_new.json")))[k] for k in ("segm_AP", "segm_AP50")},
    "eval_shipped": {k: json.load(open(os.path.join(out, "eval_shipped.json")))[k] for k in ("segm_AP", "segm_AP50")},
}
json.dump(s, open(os.path.join(out, "summary.json"), "w"), indent=1)
print(json.dumps(s, indent=1))
PY
