#!/usr/bin/env python3
"""Whole-process timing of COCO evaluators on the same generated data, with agreement checks.

    python benches/compare_eval.py --sizes 500 5000 [--bin target/release/baiseg-rt] [--repeat 1]
        [--baseline-bin OLD/baiseg-rt] [--iou-types segm bbox boundary]

For each size, generates (or reuses) benches/gen_coco.py data under --data-dir, then runs, each as
a separate process and each including JSON loading: pycocotools, faster-coco-eval, hotcoco (the
ones importable from this Python) and `baiseg-rt eval`, for segm and bbox. Reports wall time,
peak RSS (ru_maxrss of a fresh child), the ratio to baiseg-rt, and the largest absolute stat
difference against pycocotools (baiseg-rt must be 0: bit-identical).

`--baseline-bin` adds a second baiseg-rt binary (tool `baiseg-rt-baseline`, e.g. a build of the
previous commit) timed in the same run, for before/after ratios under the same load.
`boundary` (Boundary IoU) has no pycocotools/hotcoco counterpart: it runs faster-coco-eval
(pin faster-coco-eval==1.8.0, iouType="boundary") and baiseg-rt, and baiseg-rt must agree with
faster-coco-eval to 1e-6.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PY_TOOLS = {
    "pycocotools": """
import json, sys, contextlib, io
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
gt_path, dt_path, iou, out = sys.argv[1:5]
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(gt_path); dt = gt.loadRes(dt_path)
    E = COCOeval(gt, dt, iou); E.evaluate(); E.accumulate(); E.summarize()
json.dump([float(x) for x in E.stats], open(out, "w"))
""",
    "faster-coco-eval": """
import json, sys, contextlib, io
from faster_coco_eval import COCO, COCOeval_faster
gt_path, dt_path, iou, out = sys.argv[1:5]
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(gt_path); dt = gt.loadRes(dt_path)
    E = COCOeval_faster(gt, dt, iou); E.evaluate(); E.accumulate(); E.summarize()
json.dump([float(x) for x in E.stats[:12]], open(out, "w"))
""",
    "hotcoco": """
import json, sys, contextlib, io
from hotcoco import COCO, COCOeval
gt_path, dt_path, iou, out = sys.argv[1:5]
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(gt_path); dt = gt.loadRes(dt_path)
    E = COCOeval(gt, dt, iou); E.evaluate(); E.accumulate(); E.summarize()
json.dump([float(x) for x in E.stats[:12]], open(out, "w"))
""",
}

MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.perf_counter() - t
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.returncode, wall, u.ru_maxrss, u.ru_utime + u.ru_stime)
"""


def measure(cmd):
    """Runs cmd in a fresh wrapper so ru_maxrss is this command's peak (KiB on Linux)."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, check=True)
    rc, wall, rss, cpu = out.stdout.split()
    if int(rc) != 0:
        raise RuntimeError(f"{cmd[0]} failed with {rc}")
    return float(wall), int(rss) / 1024.0, float(cpu)


def importable(mod):
    return subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True).returncode == 0


def version(dist):
    try:
        from importlib.metadata import version as v
        return v(dist)
    except Exception:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "baiseg-rt"))
    ap.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "baiseg_eval_bench"))
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per tool except pycocotools (run once); the fastest is kept")
    ap.add_argument("--baseline-bin", default=None, help="a second baiseg-rt to time beside --bin")
    ap.add_argument("--tools", nargs="+", default=["pycocotools", "faster-coco-eval", "hotcoco", "baiseg-rt"])
    ap.add_argument("--iou-types", nargs="+", default=["segm", "bbox"])
    a = ap.parse_args()
    mods = {"pycocotools": "pycocotools", "faster-coco-eval": "faster_coco_eval", "hotcoco": "hotcoco"}
    tools = [t for t in a.tools if t == "baiseg-rt" or importable(mods[t])]
    if a.baseline_bin:
        tools.append("baiseg-rt-baseline")
    bins = {"baiseg-rt": a.bin, "baiseg-rt-baseline": a.baseline_bin}
    print("versions:", {t: version(t) for t in tools if not t.startswith("baiseg-rt")}, "cores:", os.cpu_count())
    rows = []
    for n in a.sizes:
        d = os.path.join(a.data_dir, f"coco{n}")
        if not os.path.exists(os.path.join(d, "dt_bbox.json")):
            subprocess.run([sys.executable, os.path.join(HERE, "gen_coco.py"), "--images", str(n), "--seed", "0",
                            "--out", d], check=True)
        gt = os.path.join(d, "gt.json")
        for iou in a.iou_types:
            dt = os.path.join(d, f"dt_{'segm' if iou == 'boundary' else iou}.json")
            res = {}
            for tool in tools:
                if iou == "boundary" and tool not in ("faster-coco-eval", "baiseg-rt"):
                    continue
                out = os.path.join(d, f"stats_{tool}_{iou}.json")
                if tool.startswith("baiseg-rt"):
                    cmd = [bins[tool], "eval", "--coco", gt, "--results", dt, "--iou-type", iou, "--json", out, "-q"]
                else:
                    cmd = [sys.executable, "-c", PY_TOOLS[tool], gt, dt, iou, out]
                best = None
                for _ in range(1 if tool == "pycocotools" else a.repeat):
                    wall, rss, cpu = measure(cmd)
                    if best is None or wall < best[0]:
                        best = (wall, rss, cpu)
                stats = json.load(open(out))
                if tool.startswith("baiseg-rt"):
                    stats = stats["stats"]
                res[tool] = (best[0], best[1], best[2], stats)
                print(f"  {n} {iou} {tool}: {best[0]:.2f} s, {best[2]:.2f} s CPU, {best[1]:.0f} MiB", flush=True)
            ref = res.get("faster-coco-eval" if iou == "boundary" else "pycocotools")
            ours = res.get("baiseg-rt")
            for tool, (wall, rss, cpu, stats) in res.items():
                diff = max(abs(x - y) for x, y in zip(stats, ref[3])) if ref else float("nan")
                ratio = wall / ours[0] if ours else float("nan")
                rows.append((n, iou, tool, wall, cpu, rss, ratio, diff))
    print()
    print("| images | iou | tool | wall (s) | CPU user+sys (s) | peak RSS (MiB) | wall / baiseg-rt "
          "| max abs diff vs pycocotools (boundary: vs faster-coco-eval) |")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for n, iou, tool, wall, cpu, rss, ratio, diff in rows:
        print(f"| {n} | {iou} | {tool} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {ratio:.2f}x | {diff:.1e} |")
    bad = [r for r in rows if r[2] == "baiseg-rt" and r[7] == r[7] and r[7] > (1e-6 if r[1] == "boundary" else 0.0)]
    if bad:
        print("baiseg-rt disagrees with pycocotools:", bad)
        sys.exit(1)


if __name__ == "__main__":
    main()
