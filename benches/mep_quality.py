#!/usr/bin/env python3
"""MEP quality: segm AP of `--mep paper` vs `--mep improved` (docs/mep-improved.md).

    cargo build --release
    .venv/bin/python benches/mep_quality.py --bin target/release/baiseg-rt
    .venv/bin/python benches/mep_quality.py --quick          # no parameter study, no timing

Sets (real photos; the ground-truth class map is the semantic input, as `--labels`):
- `coco`: the 10 COCO val2017 photos of `clarifai_val2017_10` (77 instances, 1 crowd),
- `voc`: the 3 PASCAL VOC2012 photos of `labelme_voc_3` (12 instances),
- `nuclei`: the DSB2018 nuclei image of `stardist_dsb2018_1` (512x512, 125 nuclei),
found under `--coco-root` (default: `../shared/fixtures/coco` or `../../shared/fixtures/coco`
relative to the repository; the annotation files are also committed under `fixtures/coco/`).
For each image the GT instance map is painted largest first (small objects stay on top) and
two boundary maps are made from it:
- `perfect`: the instance contours, 1 on every pixel with an 8-neighbour of another instance id
  (both sides, background included), 0 elsewhere;
- `degraded`: [`degrade`], seeded per image (`--seed` + index): uneven strength (smooth noise,
  clipped to [0.15, 1], about 40 % of contour pixels below 0.5), gaps (discs of radius 2-4 erased
  on the contour, 0.8 per instance), spurious strokes inside objects (0.5 per instance, strength
  0.2-0.7), spurious texture edges (0.3 x the image's normalised Sobel magnitude), Gaussian blur
  (sigma 1.5, peak normalised) and noise (0.06 |N(0, 1)|).
Both modes run through the release binary (`baiseg-rt mep --cases DIR --labels ...`), and
pycocotools 2.0.x COCOeval gives segm AP (stats[0]) per set, with maxDets (1, 10, 1000): the
nuclei image has 125 objects, and the default 100 would cap even a perfect answer at AP 0.8.

Model sets: held-out procedural scenes (`python -m baiseg_export.data.procedural --out DIR --seed
1000 --num 50 --size 256`, made if `--scenes` does not exist), `baiseg-rt infer
models/baiseg_small.onnx` with each mode, once with the model's own semantic branch and once
with the GT class maps (`--semantic-dir`).

Then a parameter study of the paper mode (seed_distance x edge_threshold, mean AP over the real
sets, perfect and degraded), and the timing ratio improved / paper at 1024x1024, one thread,
measured in one run (`baiseg-rt --threads 1 mep --repeat N --timing-json`, modes alternated).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python-export"))

from baiseg_export.reference import mep_inputs as mi  # noqa: E402

#: COCOeval maxDets: the nuclei image has 125 objects, so the default 100 would cap its AP at 0.8.
MAX_DETS = (1, 10, 1000)

SETS = {  # name -> (folder, annotation file)
    "coco": ("clarifai_val2017_10", "instances_val2017_subset.json"),
    "voc": ("labelme_voc_3", "annotations.json"),
    "nuclei": ("stardist_dsb2018_1", "instances.json"),
}


def coco_root(arg: str | None) -> Path:
    cands = [Path(arg)] if arg else [REPO / ".." / "shared" / "fixtures" / "coco",
                                     REPO / ".." / ".." / "shared" / "fixtures" / "coco"]
    for c in cands:
        if (c / "clarifai_val2017_10" / "images").is_dir():
            return c.resolve()
    sys.exit(f"no COCO fixture images under {', '.join(map(str, cands))} (give --coco-root)")


def load_coco(path: Path):
    return mi.load_coco(path)


def instance_map(coco, img):
    """GT instance ids (largest first), class map (COCO ids, crowd-only pixels 255)."""
    ids, cats, crowd = mi.instance_map(coco, img["id"], img["height"], img["width"])
    cls = cats[ids].astype(np.uint16)
    cls[crowd & (ids == 0)] = 255
    return ids, cls, len(cats) - 1


def degrade(ids: np.ndarray, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A network-like boundary map from GT instance ids (see the module docstring)."""
    h, w = ids.shape
    contour = mi.contour_pixels(ids).astype(np.float32)
    strength = np.clip(0.55 + 0.35 * mi._smooth_noise(rng, h, w, 25.0), 0.15, 1.0)
    b = contour * strength.astype(np.float32)
    n_inst = int(ids.max())
    cy, cx = np.nonzero(contour)
    if len(cy):
        for j in rng.integers(0, len(cy), int(round(0.8 * n_inst))):
            cv2.circle(b, (int(cx[j]), int(cy[j])), int(rng.integers(2, 5)), 0.0, -1)
    fy, fx = np.nonzero(ids > 0)
    if len(fy):
        for j in rng.integers(0, len(fy), int(round(0.5 * n_inst))):
            ang = rng.uniform(0, 2 * np.pi)
            ln = rng.uniform(5, max(6.0, 0.1 * min(h, w)))
            x0, y0 = int(fx[j]), int(fy[j])
            x1, y1 = int(x0 + ln * np.cos(ang)), int(y0 + ln * np.sin(ang))
            cv2.line(b, (x0, y0), (x1, y1), float(rng.uniform(0.2, 0.7)), 1, cv2.LINE_8)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mag = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    mag /= max(float(np.percentile(mag, 99)), 1e-6)
    b = np.maximum(b, 0.3 * np.clip(mag, 0, 1))
    b = cv2.GaussianBlur(b, (0, 0), 1.5) / np.float32(mi._line_peak(1.5))
    b = b + np.float32(0.06) * np.abs(rng.standard_normal((h, w))).astype(np.float32)
    return np.clip(b, 0.0, 1.0).astype(np.float32)


def write_case(d: Path, image: np.ndarray, boundary: np.ndarray, cls: np.ndarray) -> None:
    d.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(d / "image.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    np.save(d / "boundary.npy", boundary.astype("<f4"))
    cv2.imwrite(str(d / "labels.png"), cls.astype(np.uint16))


def build_sets(root: Path, work: Path, seed: int):
    """Writes cases `work/<set>_<kind>/<nnn>/`; returns {set: (coco, {case: image_id})}."""
    out = {}
    k = 0
    for name, (folder, ann) in SETS.items():
        coco = load_coco(root / folder / ann)
        cases = {}
        for i, img in enumerate(sorted(coco.dataset["images"], key=lambda im: im["id"])):
            path = next((root / folder).rglob(Path(img["file_name"]).name))
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            image = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            ids, cls, _ = instance_map(coco, img)
            case = f"{i:03d}"
            write_case(work / f"{name}_perfect" / case, image, mi.contour_pixels(ids).astype(np.float32), cls)
            rng = np.random.default_rng(seed + k)
            k += 1
            write_case(work / f"{name}_degraded" / case, image, degrade(ids, image, rng), cls)
            cases[case] = img["id"]
        out[name] = (coco, cases)
    return out


def segm_ap(coco, dets: list, img_ids: list) -> float:
    from pycocotools.cocoeval import COCOeval

    if not dets:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        dt = coco.loadRes(dets)
        ev = COCOeval(coco, dt, "segm")
        ev.params.imgIds = sorted(img_ids)
        ev.params.maxDets = list(MAX_DETS)
        ev.evaluate()
        ev.accumulate()
    # stats[0] (AP @ IoU 0.50:0.95, area all) at maxDets[-1]; summarize() would hard-code 100.
    prec = ev.eval["precision"][:, :, :, 0, len(MAX_DETS) - 1]
    valid = prec[prec > -1]
    return float(valid.mean()) if valid.size else 0.0


def run_mep(binary: str, cases: Path, out: Path, flags: list[str]) -> None:
    if out.exists():
        shutil.rmtree(out)
    cmd = [binary, "-q", "mep", "--cases", str(cases), "--out", str(out), *flags]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")


def mep_ap(binary, work, sets, name, kind, flags) -> float:
    coco, cases = sets[name]
    out = work / "out" / f"{name}_{kind}"
    run_mep(binary, work / f"{name}_{kind}", out, flags)
    dets = []
    for case, img_id in cases.items():
        for d in json.loads((out / case / "instances.json").read_text()):
            d["image_id"] = img_id
            dets.append(d)
    return segm_ap(coco, dets, list(cases.values()))


def model_ap(binary, model, scenes: Path, work: Path, mode: str, flags: list[str], gt_classes: bool) -> float:
    out = work / "out" / f"model_{mode}_{int(gt_classes)}"
    if out.exists():
        shutil.rmtree(out)
    cmd = [binary, "-q", "infer", str(model), str(scenes / "images"), "--coco", str(scenes / "annotations.json"),
           "--out", str(out), "--force", *flags]
    if gt_classes:
        cmd += ["--semantic-dir", str(scenes / "semantic")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    coco = load_coco(scenes / "annotations.json")
    dets = json.loads((out / "instances.json").read_text())
    return segm_ap(coco, dets, coco.getImgIds())


def timing(binary: str, work: Path, repeat: int, rounds: int) -> dict:
    """Median in-process MEP ms per mode at 1024x1024, one thread, modes alternated."""
    d = work / "timing"
    case = mi.synthetic(100, 1024, 1024, 100, semantic="labels")
    write_case(d / "syn1024", case["image"], case["boundary"], case["labels"].astype(np.uint16))
    ms = {"paper": [], "improved": []}
    for _ in range(rounds):
        for mode in ms:
            tj = work / f"timing_{mode}.json"
            cmd = [binary, "-q", "--threads", "1", "mep", "--cases", str(d), "--out", str(work / "out" / "t"),
                   "--repeat", str(repeat), "--timing-json", str(tj), "--mep", mode]
            subprocess.run(cmd, check=True, capture_output=True)
            ms[mode].append(json.loads(tj.read_text())["mep_ms"])
    med = {m: statistics.median(v) for m, v in ms.items()}
    return {"paper_ms": med["paper"], "improved_ms": med["improved"], "ratio": med["improved"] / med["paper"],
            "runs": ms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=str(REPO / "target" / "release" / "baiseg-rt"))
    ap.add_argument("--coco-root", help="folder holding clarifai_val2017_10, labelme_voc_3, stardist_dsb2018_1")
    ap.add_argument("--model", default=str(REPO / "models" / "baiseg_small.onnx"))
    ap.add_argument("--scenes", help="procedural evaluation set (made with seed 1000, 50 scenes, 256 px if absent)")
    ap.add_argument("--seed", type=int, default=14, help="seed of the boundary degradation")
    ap.add_argument("--work", help="keep inputs and outputs here (default: a temporary folder)")
    ap.add_argument("--improved-flags", default="", help="extra flags for --mep improved (alternatives)")
    ap.add_argument("--quick", action="store_true", help="skip the parameter study and the timing")
    ap.add_argument("--no-model", action="store_true", help="skip the shipped model's sets")
    ap.add_argument("--repeat", type=int, default=5, help="timing: runs per image per round")
    ap.add_argument("--json", help="write every number here")
    args = ap.parse_args()

    root = coco_root(args.coco_root)
    tmp = None
    if args.work:
        work = Path(args.work)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="mep_quality_")
        work = Path(tmp.name)
    sets = build_sets(root, work, args.seed)
    modes = {"paper": ["--mep", "paper"], "improved": ["--mep", "improved", *args.improved_flags.split()]}
    res: dict = {"sets": {}}
    print("segm AP (pycocotools COCOeval stats[0]); GT class map as semantic input\n")
    print("| set | boundary | paper | improved | improved / paper |")
    print("|---|---|---|---|---|")
    for kind in ("perfect", "degraded"):
        for name in SETS:
            a = {m: mep_ap(args.bin, work, sets, name, kind, f) for m, f in modes.items()}
            res["sets"][f"{name}_{kind}"] = a
            ratio = a["improved"] / a["paper"] if a["paper"] > 0 else float("inf")
            print(f"| {name} | {kind} | {a['paper']:.3f} | {a['improved']:.3f} | {ratio:.2f}x |", flush=True)
        mean = {m: float(np.mean([res["sets"][f"{n}_{kind}"][m] for n in SETS])) for m in modes}
        res[f"mean_{kind}"] = mean
        ratio = mean["improved"] / mean["paper"] if mean["paper"] > 0 else float("inf")
        print(f"| **mean** | {kind} | {mean['paper']:.3f} | {mean['improved']:.3f} | {ratio:.2f}x |", flush=True)

    if not args.no_model:
        scenes = Path(args.scenes) if args.scenes else work / "scenes"
        if not (scenes / "annotations.json").is_file():
            subprocess.run([sys.executable, "-m", "baiseg_export.data.procedural", "--out", str(scenes), "--seed", "1000",
                            "--num", "50", "--size", "256"], check=True, cwd=REPO / "python-export",
                           env={**__import__("os").environ, "PYTHONPATH": str(REPO / "python-export")})
        for gt, label in ((False, "model semantic"), (True, "GT classes")):
            a = {m: model_ap(args.bin, args.model, scenes, work, m, f, gt) for m, f in modes.items()}
            res["sets"][f"procedural_{'gt' if gt else 'model'}"] = a
            ratio = a["improved"] / a["paper"] if a["paper"] > 0 else float("inf")
            print(f"| procedural (model) | {label} | {a['paper']:.3f} | {a['improved']:.3f} | {ratio:.2f}x |", flush=True)

    if not args.quick:
        print("\nparameter study of the paper mode: mean segm AP over coco, voc, nuclei (perfect / degraded)\n")
        tds = [1.0, 2.0, 3.0, 5.0]
        tes = [0.2, 0.35, 0.5]
        print("| seed_distance \\ edge_threshold | " + " | ".join(f"{t}" for t in tes) + " |")
        print("|---|" + "---|" * len(tes))
        study = {}
        for td in tds:
            cells = []
            for te in tes:
                flags = ["--mep", "paper", "--seed-distance", str(td), "--edge-threshold", str(te)]
                v = {k: float(np.mean([mep_ap(args.bin, work, sets, n, k, flags) for n in SETS]))
                     for k in ("perfect", "degraded")}
                study[f"{td}_{te}"] = v
                cells.append(f"{v['perfect']:.3f} / {v['degraded']:.3f}")
            print(f"| {td} | " + " | ".join(cells) + " |", flush=True)
        res["paper_study"] = study
        t = timing(args.bin, work, args.repeat, 3)
        res["timing"] = t
        print(f"\ntiming 1024x1024 (synthetic seed 100, 100 objects), one thread, median of 3 alternated rounds "
              f"x {args.repeat} runs: paper {t['paper_ms']:.1f} ms, improved {t['improved_ms']:.1f} ms, "
              f"ratio {t['ratio']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
