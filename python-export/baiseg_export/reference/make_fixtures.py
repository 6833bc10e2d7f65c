"""Writes the MEP parity fixtures: ``python -m baiseg_export.reference.make_fixtures --out fixtures/mep``.

One folder per case (layout in ``fixtures/mep/README.md``): the inputs (``image.png``,
``boundary.npy``, ``semantic.npy`` or ``labels.png``), the watershed's exact input and output
(``markers.npy``, ``watershed.npy``), debugging intermediates (``thin.png``, ``dilated.png``,
``seeds.png``, ``dist.npy`` when small), the expected result (``expected_labels.png``,
``expected.json``) and ``case.json`` (origin, licence, description, parameters).

Regenerating with the same library versions gives byte-identical files
(``tests/test_reference_mep.py`` checks this on the small cases).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from . import mep as M
from . import mep_inputs as mi

#: ``dist.npy`` is written only for cases with at most this many pixels.
DIST_MAX_PIXELS = 128 * 128


def _tiny(h: int, w: int, boundary: np.ndarray, seed: int, n_classes: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    cls = np.ones((h, w), np.int64)
    probs = mi.network_probabilities(rng, cls, n_classes, stride=1, noise=0.3)
    return {
        "image": image,
        "boundary": np.asarray(boundary, np.float32).reshape(h, w),
        "semantic": probs,
        "labels": None,
        "instances": None,
        "meta": {"origin": "hand-made", "seed": seed, "licence": "generated; CC0"},
    }


def _syn(seed, h, w, n, k, **kw) -> Callable[[], dict]:
    return lambda: mi.synthetic(seed, h, w, n, k, **kw)


#: name -> (builder, description)
CASES: dict[str, tuple[Callable[[], dict], str]] = {
    "syn_64x64_s1": (
        _syn(1, 64, 64, 5, 2),
        "synthetic, 5 blobs, K=2, probabilities",
    ),
    "syn_96x128_s2": (
        _syn(2, 96, 128, 12, 3),
        "synthetic, non-square (H=96, W=128), 12 blobs, K=3, probabilities",
    ),
    "syn_labels_160x192_s3": (
        _syn(3, 160, 192, 15, 3, semantic="labels", ignore_patches=2),
        "synthetic, label-map semantic (u8, two 255 ignore squares), 15 blobs, K=3",
    ),
    "syn_faint_128x160_s4": (
        _syn(4, 128, 160, 8, 2, boundary_strength=(0.3, 0.62), spurious_rate=0.4),
        "synthetic, faint boundary (mostly below 0.5): few seeds, large watershed basins",
    ),
    "syn_dense_256x256_s5": (
        _syn(5, 256, 256, 70, 1, coverage=0.9, blur=1.0),
        "synthetic, dense: 70 touching/overlapping blobs of one class, K=1, probabilities",
    ),
    "syn_labels_240x320_s6": (
        _syn(6, 240, 320, 32, 4, semantic="labels", gap_rate=1.5, spurious_rate=1.0),
        "synthetic, label-map semantic (u8), 32 blobs, K=4, many gaps and spurious strokes",
    ),
    "syn_flat_96x112_s7": (
        _syn(7, 96, 112, 10, 2, posterize=3),
        "synthetic, image posterised to 3 levels per channel: flat plateaus, many equal "
        "watershed priorities (the FIFO and neighbour order decide)",
    ),
    "tiny_1x1": (
        lambda: _tiny(1, 1, [[0.7]], 11),
        "1x1 image: no instances (H<=2 or W<=2)",
    ),
    "tiny_1x7": (
        lambda: _tiny(1, 7, [[0.1, 0.6, 0.9, 0.7, 0.2, 0.0, 0.8]], 12),
        "1x7 image: no instances; NMS along a length-1 axis",
    ),
    "tiny_3x3": (
        lambda: _tiny(3, 3, np.zeros((3, 3)), 13),
        "3x3, no boundary: one seed component; the watershed keeps only the centre and the "
        "closing restores the 3x3 square",
    ),
    "no_boundary_24x20": (
        lambda: _tiny(24, 20, np.zeros((24, 20)), 14, n_classes=2),
        "no boundary at all: distances +inf, one seed component, one instance = F (class = the most frequent), K=2",
    ),
    "all_boundary_16x16": (
        lambda: _tiny(16, 16, np.ones((16, 16)), 15),
        "boundary = 1 everywhere: nothing suppressed, no seeds, no instances",
    ),
    "stardist_256": (
        lambda: mi.stardist_case((0, 0, 256, 256)),
        "DSB2018 nuclei (stardist test image), top-left 256x256 crop, GT-contour boundary "
        "(blur 1.0), label map class 1",
    ),
    "coco_193245_labels": (
        lambda: mi.coco_case("clarifai_val2017_10", "000000193245.jpg", semantic="labels"),
        "COCO val2017 193245 (people and kites, one crowd region -> 255 ignore), downscaled to "
        "320 px, GT-contour boundary, u16 label map of COCO category ids",
    ),
    "coco_176857_probs": (
        lambda: mi.coco_case(
            "clarifai_val2017_10", "000000176857.jpg", semantic="probs", max_side=192, seed=7
        ),
        "COCO val2017 176857 (people, phones, cat, handbag), downscaled to 192 px, GT-contour "
        "boundary, noisy probabilities over the 4 categories present (see meta.classes)",
    ),
    "coco_086956_binary": (
        lambda: mi.coco_case("clarifai_val2017_10", "000000086956.jpg", semantic="labels", blur=0.0),
        "COCO val2017 86956 (people, couch, handbag, bat), downscaled to 320 px, unblurred binary "
        "GT-contour boundary, u16 label map",
    ),
}


def _png(path: Path, arr: np.ndarray) -> None:
    ok = cv2.imwrite(str(path), arr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise OSError(f"could not write {path}")


def _npy(path: Path, arr: np.ndarray, dtype) -> None:
    np.save(path, np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<")))


def _score_gaps(instances: list[dict]) -> dict:
    s = sorted(i["score"] for i in instances)
    d = [b - a for a, b in zip(s, s[1:])]
    pos = [x for x in d if x > 0]
    return {"score_ties": int(sum(1 for x in d if x == 0)),
            "score_min_positive_gap": min(pos) if pos else None}


def write_case(out_dir: Path, name: str, builder: Callable[[], dict], description: str) -> dict:
    """Builds one case, runs the reference MEP and writes its folder. Returns a summary."""
    case = builder()
    image, boundary = case["image"], case["boundary"]
    h, w = boundary.shape
    res = M.run_mep(image, boundary, case["semantic"], case["labels"])
    d = out_dir / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    _png(d / "image.png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if h * w else image[..., ::-1])
    _npy(d / "boundary.npy", boundary, np.float32)
    if case["semantic"] is not None:
        _npy(d / "semantic.npy", case["semantic"], np.float32)
    else:
        _png(d / "labels.png", case["labels"])
    _npy(d / "markers.npy", res.markers, np.int32)
    _npy(d / "watershed.npy", res.watershed, np.int32)
    _png(d / "thin.png", res.thin.astype(np.uint8) * 255)
    _png(d / "dilated.png", res.dilated.astype(np.uint8) * 255)
    _png(d / "seeds.png", res.seeds.astype(np.uint8) * 255)
    if h * w <= DIST_MAX_PIXELS:
        _npy(d / "dist.npy", res.dist, np.float32)
    _png(d / "expected_labels.png", M.paint_labels(res.instances, h, w))
    expected = {
        "height": h,
        "width": w,
        "params": res.params,
        "semantic": "probabilities" if case["semantic"] is not None else "labels",
        "instances": [
            {
                "label": i["label"],
                "category": i["category"],
                "score": i["score"],
                "area": i["area"],
                "bbox": i["bbox"],
                "counts": i["rle"]["counts"],
            }
            for i in res.instances
        ],
    }
    (d / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    checks = {
        "markers": int(res.markers.max()),
        "watershed_labels": int(len(np.unique(res.watershed[res.watershed > 0]))),
        "instances": len(res.instances),
        "thin_pixels": int(res.thin.sum()),
        "nms_min_rel_gap": res.nms_min_rel_gap,
        **_score_gaps(res.instances),
    }
    meta = {
        "name": name,
        "description": description,
        **case["meta"],
        "checks": checks,
        "regenerate": "python -m baiseg_export.reference.make_fixtures --out fixtures/mep "
        f"--cases {name}",
        "versions": {"numpy": np.__version__, "opencv": cv2.__version__},
    }
    (d / "case.json").write_text(json.dumps(meta, indent=1) + "\n")
    size = sum(f.stat().st_size for f in d.iterdir())
    return {"name": name, "size": size, "h": h, "w": w, **checks}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("fixtures/mep"))
    ap.add_argument("--cases", nargs="*", help="only these cases (default: all)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args(argv)
    if args.list:
        for name, (_, desc) in CASES.items():
            print(f"{name:26s} {desc}")
        return 0
    names = args.cases or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s): {unknown}; --list shows them", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for name in names:
        builder, desc = CASES[name]
        s = write_case(args.out, name, builder, desc)
        total += s["size"]
        print(
            f"{name:26s} {s['h']:4d}x{s['w']:<4d} {s['size'] / 1024:8.1f} KiB  markers={s['markers']:4d}"
            f"  instances={s['instances']:4d}  nms_gap={s['nms_min_rel_gap']:.2e}"
        )
    print(f"total {total / 1024 / 1024:.2f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
