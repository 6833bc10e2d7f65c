#!/usr/bin/env python3
"""Reference Boundary-IoU stats for every segm fixture, from faster-coco-eval.

For each `fixtures/coco/*/reference_stats*.json` case whose iouType is `segm`, evaluates the same
results file with `COCOeval_faster(gt, dt, iouType="boundary")` (dilation ratio 0.02, the
default) and writes the 12 stats next to it as `reference_boundary*.json` (same suffix), which
`tests/eval/boundary.rs` compares with ours (to 1e-6).

Pin: faster-coco-eval==1.8.0 (docs/evaluation.md#boundary-iou). Run with the project venv:

    pip install faster-coco-eval==1.8.0
    python benches/gen_boundary_refs.py            # rewrites the files
    python benches/gen_boundary_refs.py --check    # fails if a file would change
"""
import argparse
import glob
import io
import json
import os
import sys
from contextlib import redirect_stdout

import faster_coco_eval
from faster_coco_eval import COCO, COCOeval_faster

PIN = "1.8.0"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "coco")


def boundary_stats(gt_path, dt_path):
    with redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(dt_path)
        ev = COCOeval_faster(gt, dt, iouType="boundary", print_function=print)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(x) for x in ev.stats[:12]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args()
    if faster_coco_eval.__version__ != PIN:
        sys.exit(f"need faster-coco-eval=={PIN}, found {faster_coco_eval.__version__}")
    changed = []
    for ref in sorted(glob.glob(os.path.join(ROOT, "*", "reference_stats*.json"))):
        src = json.load(open(ref))
        out = {
            "gt": src["gt"],
            "note": "faster-coco-eval COCOeval_faster(iouType='boundary', boundary_dilation_ratio=0.02)"
            " on the segm cases of " + os.path.basename(ref) + "; made by benches/gen_boundary_refs.py",
            "versions": {"faster_coco_eval": faster_coco_eval.__version__},
        }
        for key, case in src.items():
            if not isinstance(case, dict) or case.get("iouType") != "segm":
                continue
            stats = boundary_stats(os.path.join(ROOT, src["gt"]), os.path.join(ROOT, case["results"]))
            out[key] = {"iouType": "boundary", "results": case["results"], "faster_coco_eval": stats}
        if len(out) == 3:
            continue
        dst = ref.replace("reference_stats", "reference_boundary")
        text = json.dumps(out, indent=1) + "\n"
        old = open(dst).read() if os.path.exists(dst) else None
        if old != text:
            changed.append(dst)
            if not args.check:
                with open(dst, "w") as f:
                    f.write(text)
        print(os.path.relpath(dst, ROOT), {k: v["faster_coco_eval"][0] for k, v in out.items() if isinstance(v, dict) and "iouType" in v})
    if args.check and changed:
        sys.exit(f"out of date: {changed}")


if __name__ == "__main__":
    main()
