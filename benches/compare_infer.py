#!/usr/bin/env python3
"""End-to-end `baiseg-rt infer` vs a Python pipeline (onnxruntime + the OpenCV reference MEP).

    .venv/bin/python benches/compare_infer.py --bin target/release/baiseg-rt
    .venv/bin/python benches/compare_infer.py --bin target/release/baiseg-rt --model M --n 24 --rounds 3
    .venv/bin/python benches/compare_infer.py --images DIR --real --markdown out.md

Inputs: `--n` procedural scenes (`baiseg_export.data.procedural`, held-out seed `--seed`, default
424242; training uses seed 0) of `--size` px, written once into a temporary directory, or the
images of `--images DIR`; `--real` adds the images of `fixtures/images/`.

Timed in one run on the same images, each as a whole process (start-up and imports count), in
every one of `--rounds` rounds (medians reported):
- `python ORT only`: this script with `--python-worker --no-mep`: cv2 decode -> RGB -> normalise
  and pad (model metadata) -> `onnxruntime.InferenceSession.run` (CPU, intra-op threads =
  `--threads` or all cores, graph optimisation all) -> crop. The inference floor.
- `python pipeline`: the same, then `baiseg_export.reference.mep.mep` (default parameters,
  compressed RLE) and `instances.json`.
- `baiseg-rt infer`: `BIN infer MODEL DIR --out OUT --json --force [--threads N] [--batch N]`;
  its JSON summary gives `ort_seconds`, in-process `wall_seconds` and `stages`.

Reported: images/s of the process, time inside ORT (`session.run` / `ort_seconds`), the share
of the process wall time outside ORT (and, for baiseg-rt, the in-process `outside_ort_share`),
the Rust/Python speed ratio, and the agreement of the outputs per image (equal instance counts;
the "agree" rule of docs/mep.md#agreement, `baiseg_export.reference.mep.agree`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def default_model() -> Path:
    small = REPO / "models" / "baiseg_small.onnx"
    return small if small.exists() else REPO / "fixtures" / "models" / "tiny.onnx"


def list_images(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


# ------------------------------------------------------------------------------------------
# Python worker (run in its own process)
# ------------------------------------------------------------------------------------------


def python_worker(args) -> int:
    t_start = time.perf_counter()
    import cv2
    import numpy as np
    import onnxruntime as ort

    try:
        from baiseg_export.reference import mep as ref
    except ImportError:
        sys.path.insert(0, str(REPO / "python-export"))
        from baiseg_export.reference import mep as ref

    threads = args.threads or os.cpu_count() or 1
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.perf_counter()
    sess = ort.InferenceSession(str(args.model), so, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    mean = np.asarray(json.loads(meta["baiseg.mean"]), np.float32)
    std = np.asarray(json.loads(meta["baiseg.std"]), np.float32)
    div = int(meta.get("baiseg.size_divisor", "32"))
    outs = [o.name for o in sess.get_outputs()]
    t_load = time.perf_counter() - t0

    st = {"decode": 0.0, "preprocess": 0.0, "ort": 0.0, "crop": 0.0, "mep": 0.0, "write": 0.0}
    results = []
    n_inst = 0
    images = list_images(Path(args.images))
    t_loop = time.perf_counter()
    for img_id, path in enumerate(images, start=1):
        a = time.perf_counter()
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        b = time.perf_counter()
        h, w = rgb.shape[:2]
        x = (rgb.astype(np.float32) / 255.0 - mean) / std  # as baiseg_export.evaluate
        x = np.pad(x, ((0, (-h) % div), (0, (-w) % div), (0, 0)))  # 0 = mean colour
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        c = time.perf_counter()
        o = dict(zip(outs, sess.run(None, {"image": x})))
        d = time.perf_counter()
        boundary = np.ascontiguousarray(o["boundary"][0, 0, :h, :w])
        semantic = np.ascontiguousarray(o["semantic"][0, :, :h, :w]) if "semantic" in o else None
        e = time.perf_counter()
        st["decode"] += b - a
        st["preprocess"] += c - b
        st["ort"] += d - c
        st["crop"] += e - d
        if args.no_mep:
            continue
        insts = ref.mep(rgb, boundary, semantic)
        f = time.perf_counter()
        st["mep"] += f - e
        n_inst += len(insts)
        for ins in insts:
            results.append({
                "image_id": img_id, "file_name": path.name, "category_id": int(ins["category"]),
                "segmentation": ins["rle"], "bbox": [float(v) for v in ins["bbox"]],
                "area": float(ins["area"]), "score": float(ins["score"]),
            })
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.no_mep:
        a = time.perf_counter()
        with open(out / "instances.json", "w") as fh:
            json.dump(results, fh)
        st["write"] += time.perf_counter() - a
    summary = {
        "processed": len(images), "instances": n_inst, "ort_seconds": st["ort"],
        "session_load_seconds": t_load, "loop_seconds": time.perf_counter() - t_loop,
        "in_process_seconds": time.perf_counter() - t_start, "stages": st, "threads": threads,
    }
    print(json.dumps(summary))
    return 0


# ------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------


def run_proc(cmd: list[str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} exited with {p.returncode}:\n{p.stderr[-3000:]}")
    lines = [ln for ln in p.stdout.splitlines() if ln.strip().startswith("{")]
    if not lines:
        sys.exit(f"error: no JSON summary on stdout of {' '.join(cmd)}:\n{p.stdout[-2000:]}")
    return wall, json.loads(lines[-1])


def prepare_images(args, tmp: Path) -> Path:
    if args.images:
        src = Path(args.images)
        if not src.is_dir() or not list_images(src):
            sys.exit(f"error: --images {src}: no images found")
        if not args.real:
            return src
        dst = tmp / "images"
        dst.mkdir()
        for p in list_images(src):
            shutil.copy(p, dst / p.name)
    else:
        gen = tmp / "scenes"
        cmd = [sys.executable, "-m", "baiseg_export.data.procedural", "--out", str(gen),
               "--seed", str(args.seed), "--num", str(args.n), "--size", str(args.size)]
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO / "python-export") + os.pathsep + env.get("PYTHONPATH", "")
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if p.returncode != 0:
            sys.exit(f"error: procedural scene generation failed:\n{p.stderr[-2000:]}")
        dst = gen / "images"
    if args.real:
        for p in list_images(REPO / "fixtures" / "images"):
            shutil.copy(p, dst / ("real_" + p.name))
    return dst


def compare_outputs(py_json: Path, rs_json: Path, images: list[Path]) -> dict:
    import cv2

    try:
        from baiseg_export.reference import mep as ref
    except ImportError:
        sys.path.insert(0, str(REPO / "python-export"))
        from baiseg_export.reference import mep as ref

    def group(path):
        by = {}
        for r in json.loads(path.read_text()):
            by.setdefault(r["file_name"], []).append(r)
        return by

    py, rs = group(py_json), group(rs_json)
    same_count = agree = 0
    details = []
    for p in images:
        a, b = py.get(p.name, []), rs.get(p.name, [])
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        h, w = img.shape[:2]
        ok, det = ref.agree(a, b, h, w)
        same_count += len(a) == len(b)
        agree += bool(ok)
        if not ok or len(a) != len(b):
            details.append(
                f"{p.name}: python {len(a)} / rust {len(b)} instances, agree={ok} (matched "
                f"{det['matched']}, min IoU {det['min_iou']:.3f}, bad pairs {len(det['bad_pairs'])}, "
                f"unmatched {det['unmatched_a']}/{det['unmatched_b']} covering "
                f"{100 * det['unmatched_fraction']:.3f}% of the image)")
    return {"images": len(images), "same_count": same_count, "agree": agree, "details": details}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(REPO / "target" / "release" / "baiseg-rt"))
    ap.add_argument("--model", default=None, help="default: models/baiseg_small.onnx if present, else fixtures/models/tiny.onnx")
    ap.add_argument("--images", default=None, help="directory of images (default: procedural scenes)")
    ap.add_argument("--n", type=int, default=24, help="procedural scenes")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=424242, help="held-out procedural seed")
    ap.add_argument("--real", action="store_true", help="add fixtures/images/*")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0: the tools' defaults (all cores)")
    ap.add_argument("--batch", type=int, default=0, help="baiseg-rt --batch (0: its default)")
    ap.add_argument("--no-floor", action="store_true", help="skip the Python ORT-only run")
    ap.add_argument("--markdown", default=None, help="also write the tables to this file")
    ap.add_argument("--json", default=None, help="write all raw measurements to this file")
    ap.add_argument("--keep", default=None, help="keep inputs and outputs in this directory")
    # worker mode
    ap.add_argument("--python-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--no-mep", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.python_worker:
        return python_worker(args)

    model = Path(args.model) if args.model else default_model()
    if not model.is_file():
        sys.exit(f"error: model {model} not found (give --model; the default is "
                 "models/baiseg_small.onnx, else fixtures/models/tiny.onnx)")
    binary = Path(args.bin)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        sys.exit(f"error: binary {binary} not found or not executable (cargo build --release, or --bin)")

    if args.keep:
        tmp = Path(args.keep)
        tmp.mkdir(parents=True, exist_ok=True)
        cleanup = False
    else:
        tmp = Path(tempfile.mkdtemp(prefix="compare_infer_"))
        cleanup = True
    try:
        img_dir = prepare_images(args, tmp)
        images = list_images(img_dir)
        n = len(images)
        print(f"{n} images in {img_dir}; model {model}; {args.rounds} rounds", file=sys.stderr)

        me = [sys.executable, str(Path(__file__).resolve()), "--python-worker", "--model", str(model),
              "--images", str(img_dir)]
        if args.threads:
            me += ["--threads", str(args.threads)]
        rs_cmd = [str(binary), "infer", str(model), str(img_dir), "--out", str(tmp / "out_rust"),
                  "--json", "--force", "--quiet"]
        if args.threads:
            rs_cmd += ["--threads", str(args.threads)]
        if args.batch:
            rs_cmd += ["--batch", str(args.batch)]

        runs = {"floor": [], "python": [], "rust": []}
        for r in range(args.rounds):
            order = ["python", "rust", "floor"]
            order = order[r % 3:] + order[: r % 3]  # rotate so no side always runs first
            for side in order:
                if side == "floor" and args.no_floor:
                    continue
                if side == "python":
                    wall, s = run_proc(me + ["--out", str(tmp / "out_python")])
                elif side == "floor":
                    wall, s = run_proc(me + ["--out", str(tmp / "out_floor"), "--no-mep"])
                else:
                    wall, s = run_proc(rs_cmd)
                runs[side].append({"process_wall": wall, "summary": s})
                print(f"round {r + 1}: {side:7s} {wall:7.2f} s  ort {s['ort_seconds']:.2f} s", file=sys.stderr)

        cmp = compare_outputs(tmp / "out_python" / "instances.json", tmp / "out_rust" / "instances.json", images)
        md = render(runs, cmp, n, model, args)
        print(md)
        if args.markdown:
            Path(args.markdown).write_text(md + "\n")
        if args.json:
            Path(args.json).write_text(json.dumps({"runs": runs, "agreement": cmp, "images": n,
                                                   "model": str(model)}, indent=1))
    finally:
        if cleanup:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def render(runs, cmp, n, model, args) -> str:
    rows = []
    py_wall = med([x["process_wall"] for x in runs["python"]])

    def row(name, xs, extra=""):
        wall = med([x["process_wall"] for x in xs])
        ort_s = med([x["summary"]["ort_seconds"] for x in xs])
        share = med([1 - x["summary"]["ort_seconds"] / x["process_wall"] for x in xs])
        ratio = py_wall / wall if wall else float("nan")
        rows.append(f"| {name} | {n / wall:.2f} | {wall:.2f} | {ort_s:.2f} | {100 * share:.1f}% "
                    f"| {extra} | {ratio:.2f}x |")

    if runs["floor"]:
        row("Python ORT only (no MEP)", runs["floor"], "")
    row("Python pipeline (ORT + reference MEP)", runs["python"], "")
    rs = runs["rust"]
    in_share = med([x["summary"]["outside_ort_share"] for x in rs])
    in_ips = med([x["summary"]["images_per_second"] for x in rs])
    row("`baiseg-rt infer`", rs, f"{100 * in_share:.1f}% ({in_ips:.2f} img/s)")

    out = [
        f"Model `{os.path.relpath(model, REPO)}`, {n} images, median of {len(runs['python'])} rounds, "
        f"threads {'all cores' if not args.threads else args.threads}.",
        "",
        "| pipeline | images/s (process) | process wall s | inside ORT s | outside ORT (process) "
        "| outside ORT (in-process, img/s) | speed vs Python pipeline |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Outputs: {cmp['same_count']}/{cmp['images']} images with the same number of instances, "
        f"{cmp['agree']}/{cmp['images']} agree (docs/mep.md#agreement, `reference.mep.agree`).",
    ]
    if cmp["details"]:
        out += ["", *[f"- {d}" for d in cmp["details"][:10]]]

    # stage breakdowns (seconds, medians, summed over images; Rust: summed over threads)
    py_st = runs["python"][0]["summary"]["stages"].keys()
    out += ["", "Python pipeline stages (s, whole run): " + ", ".join(
        f"{k} {med([x['summary']['stages'][k] for x in runs['python']]):.2f}" for k in py_st)
        + f"; session load {med([x['summary']['session_load_seconds'] for x in runs['python']]):.2f}"
        + "; start-up, imports, JSON write "
        + f"{med([x['process_wall'] - x['summary']['loop_seconds'] - x['summary']['session_load_seconds'] for x in runs['python']]):.2f}"]
    names = sorted({s["stage"] for x in rs for s in x["summary"].get("stages", [])})
    def stage_s(x, name):
        return sum(s["seconds"] for s in x["summary"].get("stages", []) if s["stage"] == name)
    out += ["", "`baiseg-rt` stages (s, summed over threads): " + ", ".join(
        f"{k} {med([stage_s(x, k) for x in rs]):.3f}" for k in names)
        + f"; in-process wall {med([x['summary']['wall_seconds'] for x in rs]):.2f}"
        + f"; process wall {med([x['process_wall'] for x in rs]):.2f}"]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
