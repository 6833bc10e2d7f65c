#!/usr/bin/env python3
"""End-to-end MEP timings: OpenCV-Python reference vs a scikit-image pipeline vs `baiseg-rt mep`.

    .venv/bin/python benches/compare_mep.py --bin target/release/baiseg-rt
    .venv/bin/python benches/compare_mep.py --sizes 512 --repeat 1        # quick look
    .venv/bin/python benches/compare_mep.py --no-rust                      # Python sides only

Inputs come from the seeded generator `baiseg_export.reference.mep_inputs.synthetic` (network-like
boundary and semantic maps over touching textured blobs): for each size a batch of `--batch`
images (seeds `--seed`..`--seed+batch-1`), written in the fixture layout (`image.png`,
`boundary.npy`, `semantic.npy`) to a temporary directory. Sizes (H x W / objects):
512x512/25, 1024x1024/100, 1024x2048/200 (2048 wide, 1024 high).

Timed in one run, per image, median over the batch and `--repeat` rounds:
- `ref-cv2`: `baiseg_export.reference.mep.run_mep` (numpy/scipy/OpenCV, `cv2.setNumThreads(1)`),
  per stage (nms, seeds = dilate+EDT+threshold, label, watershed, refine incl. RLE) and total.
- `skimage`: the same stages with scikit-image (`segmentation.watershed` on a Sobel gradient,
  `measure.label`, `morphology.closing`), numpy NMS and scipy EDT. NOT exact: a different
  watershed (priority on gradient magnitude, not on OpenCV's colour differences); it shows what a
  typical Python implementation costs.
- `baiseg-rt`: the whole process `baiseg-rt --threads N mep --cases DIR --out DIR` on the batch,
  for N = 1 and N = all cores (wall time / batch, so it includes process start, PNG/NPY decoding
  and writing the outputs); with `--timing-json` the binary's in-process MEP time is shown too.
  If the binary has no batch mode, it is run once per image (startup counted 8 times; noted).
  Where `labels.png` can be found in the output, it is compared with the reference label map.

Everything degrades with a message: a missing binary or a failing subcommand leaves the Python
columns and says why.
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

import cv2
import numpy as np

try:
    from baiseg_export.reference import mep as ref
    from baiseg_export.reference import mep_inputs as mi
except ImportError:  # run from a checkout without the editable install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python-export"))
    from baiseg_export.reference import mep as ref
    from baiseg_export.reference import mep_inputs as mi

SIZES = {  # name -> (H, W, objects)
    "512": (512, 512, 25),
    "1024": (1024, 1024, 100),
    "2048x1024": (1024, 2048, 200),
}
STAGES = ["nms", "seeds", "label", "watershed", "refine", "total"]


# ------------------------------------------------------------------------------------------
# scikit-image pipeline (not exact)
# ------------------------------------------------------------------------------------------


def skimage_mep(image, boundary, semantic, p=ref.DEFAULT_PARAMS):
    """The MEP with scikit-image stages. Returns (n_instances, timings)."""
    import scipy.ndimage as ndi
    from skimage import filters, measure, morphology, segmentation

    t = {}
    t0 = time.perf_counter()
    thin = ref.nms_thin(boundary, p["nms_radius"], p["nms_margin"], p["edge_threshold"])
    t1 = time.perf_counter()
    t["nms"] = t1 - t0
    dilated = morphology.dilation(thin, morphology.footprint_rectangle((3, 3)))
    for _ in range(p["dilate_iterations"] - 1):
        dilated = morphology.dilation(dilated, morphology.footprint_rectangle((3, 3)))
    dist = ndi.distance_transform_edt(~dilated) if dilated.any() else np.full(thin.shape, np.inf)
    seeds = dist > p["seed_distance"]
    t2 = time.perf_counter()
    t["seeds"] = t2 - t1
    markers = measure.label(seeds, connectivity=2)
    t3 = time.perf_counter()
    t["label"] = t3 - t2
    grad = np.max([filters.sobel(image[..., c].astype(np.float32)) for c in range(3)], axis=0)
    ws = segmentation.watershed(grad, markers)
    t4 = time.perf_counter()
    t["watershed"] = t4 - t3
    cls = np.argmax(semantic, axis=0)
    fg = cls != 0
    fp = ref.ellipse_kernel(p["closing_kernel"]).astype(bool)
    pad = 2 * (p["closing_kernel"] // 2)
    h, w = ws.shape
    n = 0
    from pycocotools import mask as mask_utils

    buf = np.zeros((h, w), np.uint8, order="F")
    for rp in measure.regionprops(ws):
        y0, x0, y1, x1 = rp.bbox
        y0, x0, y1, x1 = max(y0 - pad, 0), max(x0 - pad, 0), min(y1 + pad, h), min(x1 + pad, w)
        m = morphology.closing(ws[y0:y1, x0:x1] == rp.label, fp) & fg[y0:y1, x0:x1]
        if not m.any():
            continue
        c = int(np.bincount(cls[y0:y1, x0:x1][m]).argmax())
        _ = float(semantic[c, y0:y1, x0:x1][m].mean())
        buf[y0:y1, x0:x1] = m
        mask_utils.encode(buf)
        buf[y0:y1, x0:x1] = 0
        n += 1
    t5 = time.perf_counter()
    t["refine"] = t5 - t4
    t["total"] = t5 - t0
    return n, t


# ------------------------------------------------------------------------------------------
# baiseg-rt
# ------------------------------------------------------------------------------------------


def _run(cmd, timeout=900):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - t0, r


def _first_line(r) -> str:
    msg = (r.stderr or r.stdout or "").strip().splitlines()
    return msg[-1][:160] if msg else f"exit code {r.returncode}"


def probe_binary(binary: Path) -> dict:
    """What the binary supports, from `mep --help`."""
    info = {"ok": False, "batch": False, "timing_json": False, "why": ""}
    if not binary.exists():
        info["why"] = f"{binary} not found (build it: cargo build --release)"
        return info
    try:
        _, r = _run([str(binary), "mep", "--help"], timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        info["why"] = f"cannot run {binary}: {e}"
        return info
    if r.returncode != 0:
        info["why"] = f"`mep --help` failed: {_first_line(r)}"
        return info
    text = r.stdout + r.stderr
    info["ok"] = True
    info["batch"] = "--cases" in text
    info["timing_json"] = "--timing-json" in text
    info["single"] = "--image" in text
    if not info["batch"] and not info["single"]:
        info["ok"] = False
        info["why"] = "`mep --help` shows neither --cases nor --image"
    return info


def _timing(path: Path, n_images: int) -> dict | None:
    """In-process MEP seconds per image from the binary's ``--timing-json``.

    baiseg-rt's layout: ``{"mep_ms": sum over images, "mep_wall_ms": wall of the MEP phases
    (parallel in batch mode), "stages_ms": {stage: ms summed over images}, ...}``. Returns
    ``{"wall": mep_wall_ms / n, "sum": mep_ms / n, "stages": {our stage: s / n}}`` (the Rust
    ``dilate`` + ``distance`` make our ``seeds``; ``validate`` only counts in ``total``). Other
    layouts: a list of ``{"name", "total_s"|"total_ms"|...}`` or a mapping name -> seconds, with
    stages named ``mep`` or ``mep::*``.
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("mep_ms"), (int, float)):
        sm = {k: float(v) / 1e3 / n_images for k, v in (data.get("stages_ms") or {}).items()
              if isinstance(v, (int, float))}
        stages = {
            "nms": sm.get("nms"),
            "seeds": (sm["dilate"] + sm["distance"]) if "dilate" in sm and "distance" in sm else None,
            "label": sm.get("label"),
            "watershed": sm.get("watershed"),
            "refine": sm.get("refine"),
            "total": float(data["mep_ms"]) / 1e3 / n_images,
        }
        wall = data.get("mep_wall_ms")
        return {"wall": float(wall) / 1e3 / n_images if isinstance(wall, (int, float)) else None,
                "sum": stages["total"], "stages": stages}

    def secs(v):
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, dict):
            for k, scale in (("total_s", 1), ("seconds", 1), ("total_ms", 1e-3), ("ms", 1e-3),
                             ("total_ns", 1e-9), ("total", 1)):
                if k in v and isinstance(v[k], (int, float)):
                    return float(v[k]) * scale
        return None

    items = {}
    if isinstance(data, dict):
        for key in ("spans", "timings", "stages"):
            if isinstance(data.get(key), (list, dict)):
                data = data[key]
                break
    if isinstance(data, list):
        for e in data:
            if isinstance(e, dict) and "name" in e and secs(e) is not None:
                items[str(e["name"])] = secs(e)
    elif isinstance(data, dict):
        for k, v in data.items():
            if secs(v) is not None:
                items[str(k)] = secs(v)
    total = items.get("mep")
    if total is None:
        parts = [v for k, v in items.items() if k.startswith("mep::")]
        total = sum(parts) if parts else None
    if total is None:
        return None
    return {"wall": total / n_images, "sum": total / n_images, "stages": None}


def run_rust(binary, info, cases_dir, names, threads, out_root, repeat):
    """Median seconds per image of the whole process over `repeat` rounds (+1 warm-up)."""
    walls, inproc, stage_runs = [], [], []
    note = ""
    for rnd in range(repeat + 1):
        out = out_root / f"t{threads}_r{rnd}"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        tj = out / "timing.json"
        if info["batch"]:
            cmd = [str(binary), "--threads", str(threads), "mep", "--cases", str(cases_dir),
                   "--out", str(out)]
            if info["timing_json"]:
                cmd += ["--timing-json", str(tj)]
            wall, r = _run(cmd)
            if r.returncode != 0:
                return None, None, f"batch run failed: {_first_line(r)}", None
        else:
            note = "per-image processes (no --cases)"
            wall = 0.0
            for n in names:
                d = cases_dir / n
                cmd = [str(binary), "--threads", str(threads), "mep", "--image", str(d / "image.png"),
                       "--boundary", str(d / "boundary.npy"), "--semantic", str(d / "semantic.npy"),
                       "--out", str(out / n)]
                w, r = _run(cmd)
                if r.returncode != 0:
                    return None, None, f"run failed: {_first_line(r)}", None
                wall += w
        if rnd == 0:
            continue  # warm-up
        walls.append(wall / len(names))
        t = _timing(tj, len(names)) if info["timing_json"] else None
        if t is not None and t["wall"] is not None:
            inproc.append(t["wall"])
        if t is not None and t["stages"]:
            stage_runs.append(t["stages"])
    stages = None
    if stage_runs:
        stages = {k: (statistics.median([r[k] for r in stage_runs])
                      if all(r.get(k) is not None for r in stage_runs) else None) for k in STAGES}
    return (statistics.median(walls), (statistics.median(inproc) if inproc else None), note,
            stages)


def _rust_instances(out_dir: Path, names) -> dict:
    """name -> list of COCO result records from the binary's instances.json (either one file
    per case folder, or one file for the batch whose records carry ``file_name``)."""
    found = {}
    for n in names:
        p = out_dir / n / "instances.json"
        if p.exists():
            found[n] = json.loads(p.read_text())
    top = out_dir / "instances.json"
    if not found and top.exists():
        recs = json.loads(top.read_text())
        for r in recs if isinstance(recs, list) else []:
            fn = Path(str(r.get("file_name", "")))
            key = fn.parent.name if fn.parent.name in names else fn.stem
            found.setdefault(key, []).append(r)
        for n in names:
            found.setdefault(n, [])
    return found


def check_outputs(out_dir: Path, names, expected: dict, ref_instances: dict, h, w) -> str:
    """Exact label maps (labels.png) and the "agree" rule of docs/mep.md#agreement (instances.json) vs the reference."""
    same = found = 0
    for n in names:
        cands = [out_dir / n / "labels.png", out_dir / f"{n}.png", out_dir / "labels" / f"{n}.png"]
        p = next((c for c in cands if c.exists()), None)
        if p is None:
            continue
        found += 1
        got = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        same += int(got is not None and got.shape == expected[n].shape
                    and np.array_equal(got.astype(np.int64), expected[n].astype(np.int64)))
    parts = [f"labels.png {same}/{len(names)} identical" if found else "labels.png not found"]
    rust = _rust_instances(out_dir, names)
    if rust:
        ok = sum(int(ref.agree(ref_instances[n], rust.get(n, []), h, w)[0]) for n in names)
        parts.append(f"agree {ok}/{len(names)}")
    else:
        parts.append("instances.json not found")
    return ", ".join(parts)


# ------------------------------------------------------------------------------------------


def write_case(d: Path, case: dict) -> None:
    d.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(d / "image.png"), cv2.cvtColor(case["image"], cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_PNG_COMPRESSION, 1])
    np.save(d / "boundary.npy", case["boundary"])
    np.save(d / "semantic.npy", case["semantic"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", type=Path, default=Path("target/release/baiseg-rt"))
    ap.add_argument("--no-rust", action="store_true", help="time only the Python pipelines")
    ap.add_argument("--no-skimage", action="store_true")
    ap.add_argument("--sizes", nargs="*", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3, help="rounds (median); Rust adds a warm-up")
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="the 'all cores' run")
    ap.add_argument("--keep", type=Path, help="keep inputs/outputs here instead of a temp dir")
    ap.add_argument("--json", type=Path, help="write all medians here")
    args = ap.parse_args(argv)

    cv2.setNumThreads(1)
    info = {"ok": False, "why": "--no-rust"} if args.no_rust else probe_binary(args.bin)
    if not info["ok"]:
        print(f"baiseg-rt: skipped ({info['why']})")
    thread_counts = sorted({1, max(1, args.threads)})
    work = args.keep or Path(tempfile.mkdtemp(prefix="compare_mep_"))
    results = []
    try:
        for size in args.sizes:
            h, w, n_obj = SIZES[size]
            cases_dir = work / f"in_{size}"
            names, expected, ref_instances = [], {}, {}
            row = {"size": f"{w}x{h}", "objects": n_obj, "batch": args.batch}
            ref_t = {s: [] for s in STAGES}
            ski_t = {s: [] for s in STAGES}
            n_inst = []
            cases = []
            for i in range(args.batch):
                c = mi.synthetic(args.seed + i, h, w, n_obj, args.classes)
                name = f"img{i:02d}"
                names.append(name)
                cases.append(c)
                if info["ok"]:
                    write_case(cases_dir / name, c)
            for _ in range(args.repeat):
                for name, c in zip(names, cases):
                    r = ref.run_mep(c["image"], c["boundary"], c["semantic"])
                    for s in STAGES:
                        ref_t[s].append(r.timings[s])
                    n_inst.append(len(r.instances))
                    expected[name] = ref.paint_labels(r.instances, h, w)
                    ref_instances[name] = r.instances
                    if not args.no_skimage:
                        _, tk = skimage_mep(c["image"], c["boundary"], c["semantic"])
                        for s in STAGES:
                            ski_t[s].append(tk[s])
            row["instances"] = statistics.median(n_inst)
            row["ref"] = {s: statistics.median(v) for s, v in ref_t.items()}
            row["skimage"] = {s: statistics.median(v) for s, v in ski_t.items()} if ski_t["total"] else None
            row["rust"] = {}
            if info["ok"]:
                for th in thread_counts:
                    wall, inproc, note, stages = run_rust(args.bin, info, cases_dir, names, th,
                                                          work / f"out_{size}", args.repeat)
                    entry = {"wall": wall, "inproc": inproc, "note": note, "stages": stages}
                    if wall is not None:
                        entry["labels"] = check_outputs(work / f"out_{size}" / f"t{th}_r1", names,
                                                        expected, ref_instances, h, w)
                    row["rust"][th] = entry
                    if wall is None:
                        print(f"baiseg-rt --threads {th} on {size}: {note}")
            results.append(row)
            if info["ok"] and not args.keep:
                shutil.rmtree(cases_dir, ignore_errors=True)
                shutil.rmtree(work / f"out_{size}", ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print_tables(results, thread_counts, args)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "binary": str(args.bin),
                                         "probe": info}, indent=1, default=str) + "\n")
    return 0


def _ms(x):
    return "n/a" if x is None else f"{1e3 * x:8.1f}"


def print_tables(results, thread_counts, args) -> None:
    print()
    print(f"MEP per-image medians in ms (batch {args.batch}, {args.repeat} rounds; "
          f"python stages single-threaded, cv2.setNumThreads(1))")
    print()
    hdr = "| size | impl | " + " | ".join(STAGES) + " |"
    print(hdr)
    print("|" + "---|" * (len(STAGES) + 2))
    for row in results:
        for impl in ("ref", "skimage"):
            t = row.get(impl)
            if t:
                name = "ref-cv2 (exact)" if impl == "ref" else "skimage (not exact)"
                print(f"| {row['size']} | {name} | " + " | ".join(_ms(t[s]).strip() for s in STAGES) + " |")
        for th, e in sorted(row["rust"].items()):
            if e.get("stages"):
                print(f"| {row['size']} | baiseg-rt {th}t (in-process, summed over threads) | "
                      + " | ".join(_ms(e["stages"][s]).strip() for s in STAGES) + " |")
    print()
    cols = ["size", "instances", "ref-cv2 ms", "skimage ms"]
    for th in thread_counts:
        cols += [f"rust {th}t ms (process)", f"rust {th}t ms (in-process)", f"ref/rust {th}t"]
    cols += ["rust output vs ref"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in results:
        refms = row["ref"]["total"]
        cells = [row["size"] + f"/{row['objects']}", f"{row['instances']:.0f}", _ms(refms).strip(),
                 _ms(row["skimage"]["total"]).strip() if row["skimage"] else "n/a"]
        check = ""
        for th in thread_counts:
            e = row["rust"].get(th)
            if not e or e["wall"] is None:
                cells += ["n/a", "n/a", "n/a"]
                continue
            cells += [_ms(e["wall"]).strip() + (f" ({e['note']})" if e["note"] else ""),
                      _ms(e["inproc"]).strip(), f"{refms / e['wall']:.1f}x"]
            check = check or e.get("labels", "")
        cells.append(check or "n/a")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
