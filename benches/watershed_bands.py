#!/usr/bin/env python3
"""How approximate is a banded watershed? Full-frame cv2.watershed against bands flooded alone.

    .venv/bin/python benches/watershed_bands.py                       # 2048x2048/400 and 4096x4096/1600
    .venv/bin/python benches/watershed_bands.py --sizes 2048 --bands 512 --halos 32 64

The MEP's watershed is a priority flood with global FIFO queues, so it is not exactly separable
into bands of rows (docs/mep.md#watershed-regions: the unlabelled pixels between touching
instances form one connected web). A banded MEP for large images (docs/tiling.md#banded-mep)
would flood each band of `B` rows with `H` rows of halo above and below (the markers there are
the full-frame ones: a streaming connected-component labelling gives them exactly) and keep the
band's own rows. This script measures what that changes, on the seeded synthetic scenes of
`benches/compare_mep.py` (`baiseg_export.reference.mep_inputs.synthetic`), with the reference
stages of `baiseg_export.reference.mep` (equal to `baiseg-rt`'s, bit for bit):

- `px`: watershed labels that differ from the full-frame flood, as a fraction of all pixels;
- `inst`: instances (after the refinement) whose mask differs at all, of all instances;
- `worst IoU`: the lowest IoU between an instance and its full-frame counterpart;
- `agree`: whether the instance lists agree by the SPEC's thresholds (matched by label).

Nothing here is timed; it is a quality measurement for the design.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

try:
    from baiseg_export.reference import mep as ref
    from baiseg_export.reference import mep_inputs as mi
except ImportError:  # run from a checkout without the editable install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python-export"))
    from baiseg_export.reference import mep as ref
    from baiseg_export.reference import mep_inputs as mi

SIZES = {"1024": (1024, 1024, 100), "2048": (2048, 2048, 400), "4096": (4096, 4096, 1600)}


def banded_watershed(image: np.ndarray, markers: np.ndarray, band: int, halo: int) -> np.ndarray:
    """Each band of `band` rows flooded alone with `halo` rows on each side; its own rows kept."""
    h = markers.shape[0]
    out = np.empty_like(markers)
    for y0 in range(0, h, band):
        y1 = min(h, y0 + band)
        a, b = max(0, y0 - halo), min(h, y1 + halo)
        ws = ref.watershed(image[a:b], markers[a:b])
        out[y0:y1] = ws[y0 - a : y1 - a]
    # The image frame is -1 in cv2's output; a band's cut rows are not frame rows of the image.
    return out


def _iou(a: dict, b: dict) -> float:
    """IoU of two instances given as bbox crops, computed on the union of their boxes."""
    ax, ay, aw, ah = a["bbox"]
    bx, by, bw, bh = b["bbox"]
    x0, y0 = min(ax, bx), min(ay, by)
    x1, y1 = max(ax + aw, bx + bw), max(ay + ah, by + bh)
    ma = np.zeros((y1 - y0, x1 - x0), bool)
    mb = np.zeros_like(ma)
    ma[ay - y0 : ay - y0 + ah, ax - x0 : ax - x0 + aw] = a["mask"]
    mb[by - y0 : by - y0 + bh, bx - x0 : bx - x0 + bw] = b["mask"]
    union = np.logical_or(ma, mb).sum()
    return float(np.logical_and(ma, mb).sum() / union) if union else 1.0


def compare(full: list[dict], banded: list[dict], h: int, w: int) -> tuple[int, float, bool]:
    """(instances that differ, worst IoU, agree), instances matched by their watershed label.

    `agree` applies the SPEC's thresholds (docs/mep.md#agreement: matched pairs IoU >= 0.99 with
    equal classes, unmatched instances < 0.1% of the image), matching by label instead of by
    greedy IoU (the labels are the same markers on both sides).
    """
    by_label = {i["label"]: i for i in banded}
    changed, worst, ok, unmatched = 0, 1.0, True, 0
    for f in full:
        b = by_label.pop(f["label"], None)
        if b is None:
            changed, worst, unmatched = changed + 1, 0.0, unmatched + f["area"]
            continue
        same = f["bbox"] == b["bbox"] and np.array_equal(f["mask"], b["mask"])
        if not same or f["category"] != b["category"]:
            changed += 1
            iou = _iou(f, b)
            worst = min(worst, iou)
            ok &= iou >= 0.99 and f["category"] == b["category"]
    changed += len(by_label)
    unmatched += sum(b["area"] for b in by_label.values())
    if by_label:
        worst = 0.0
    ok &= unmatched < 0.001 * h * w
    return changed, worst, ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="*", default=["2048", "4096"], choices=list(SIZES))
    ap.add_argument("--bands", nargs="*", type=int, default=[256, 1024])
    ap.add_argument("--halos", nargs="*", type=int, default=[16, 32, 64, 128])
    ap.add_argument("--seed", type=int, default=100)
    args = ap.parse_args(argv)

    print("| scene | band B | halo H | px differing | instances changed | worst IoU | agree (SPEC) |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        h, w, n = SIZES[size]
        t0 = time.perf_counter()
        case = mi.synthetic(args.seed, h, w, n)
        r = ref.run_mep(case["image"], case["boundary"], case["semantic"], encode_rle=False)
        full = r.instances
        print(f"<!-- {h}x{w}/{n}: {len(full)} instances, reference MEP {time.perf_counter() - t0:.1f} s -->",
              file=sys.stderr)
        for band in args.bands:
            for halo in args.halos:
                ws = banded_watershed(case["image"], r.markers, band, halo)
                px = float(np.mean(ws != r.watershed))
                inst = ref.refine(ws, case["semantic"], None, r.params["closing_kernel"],
                                  r.params["min_area"])
                changed, worst, ok = compare(full, inst, h, w)
                print(f"| {h}x{w}/{n} | {band} | {halo} | {px:.2e} | {changed}/{len(full)} | "
                      f"{worst:.4f} | {'yes' if ok else 'no'} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
