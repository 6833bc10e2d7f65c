"""Python reference of the Mask Extraction Pipeline (MEP), docs/mep.md.

One function per stage, in pipeline order::

    smooth_triangle -> nms_thin -> seeds -> label_markers -> watershed -> refine -> paint_labels

``mep()`` chains them and returns the instances; ``run_mep()`` also returns every intermediate
array (what ``make_fixtures`` writes and the Rust implementation is tested against).

Everything is numpy/scipy/OpenCV, vectorised but otherwise straightforward: this module is the
definition the Rust runtime must match pixel for pixel, and the speed baseline of
``benches/compare_mep.py``. Where docs/mep.md leaves a floating-point detail open, the choice made
here is written next to the code and in ``fixtures/mep/README.md``:

* Thinning runs in f64. The triangle smoothing is two passes (along x, then along y); each output
  is ``(1*v[-4] + 2*v[-3] + ... + 5*v[0] + ... + 1*v[+4]) / 25`` accumulated left to right.
* ``theta = mod(atan((Oyy * sign(-Oxy)) / (Oxx + 1e-5)), pi)`` with numpy's ``arctan``/``mod``,
  then ``cos``/``sin``. The bilinear sample at clamped ``(xs, ys)`` is, with ``x0 = floor(xs)``,
  ``x1 = min(x0 + 1, W - 1)``, ``fx = xs - x0`` (same for y), evaluated left to right::

      B[y0,x0]*(1-fx)*(1-fy) + B[y0,x1]*fx*(1-fy) + B[y1,x0]*(1-fx)*fy + B[y1,x1]*fx*fy

  A pixel is suppressed when a sample is ``> nms_margin * B(p)`` (both f64).
* Scores are accumulated in f64 (sum of the f32 probabilities, divided by the area); label-map
  scores are ``count / area`` in f64.
* Argmax ties over the semantic channels go to the smaller channel (numpy ``argmax``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import cv2
import numpy as np
import scipy.ndimage as ndi

__all__ = [
    "DEFAULT_PARAMS",
    "MepResult",
    "agree",
    "ellipse_kernel",
    "instance_mask",
    "label_markers",
    "mep",
    "nms_thin",
    "paint_labels",
    "refine",
    "run_mep",
    "seeds",
    "semantic_classes",
    "smooth_triangle",
    "watershed",
]

#: The defaults of docs/mep.md#parameters, under their CLI/config names.
DEFAULT_PARAMS: dict[str, Any] = {
    "nms_radius": 1,
    "nms_margin": 1.01,
    "edge_threshold": 0.5,
    "dilate_iterations": 2,
    "seed_distance": 3.0,
    "closing_kernel": 5,
    "min_area": 0,
}

#: Radius of the triangle smoothing applied before the orientation estimate.
SMOOTH_RADIUS = 4


# --------------------------------------------------------------------------------------------
# Stage 1: thinning (edge NMS)
# --------------------------------------------------------------------------------------------


def _reflect101_index(n: int, r: int) -> np.ndarray:
    """Source index for each of the positions ``-r .. n+r-1`` with reflect-101 borders.

    Index -1 maps to 1 (the edge pixel is not repeated); reflection repeats as often as needed
    (periodic with period ``2 (n - 1)``), and an axis of length 1 maps everything to 0.
    """
    idx = np.arange(-r, n + r)
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def smooth_triangle(a: np.ndarray, radius: int = SMOOTH_RADIUS) -> np.ndarray:
    """Separable triangle filter of the given radius, reflect-101 borders, in f64.

    Kernel ``[1, 2, ..., r+1, ..., 2, 1] / (r+1)^2`` (r = 4: ``[1,2,3,4,5,4,3,2,1]/25``). First a
    pass along x (columns), then along y (rows); each pass accumulates the integer-weighted
    samples left to right and divides by ``(r+1)^2`` once.
    """
    out = np.asarray(a, dtype=np.float64)
    if radius <= 0:
        return out.copy()
    norm = float((radius + 1) ** 2)
    for axis in (1, 0):
        n = out.shape[axis]
        src = np.take(out, _reflect101_index(n, radius), axis=axis)
        acc = None
        for k in range(-radius, radius + 1):
            w = float(radius + 1 - abs(k))
            sl = [slice(None)] * 2
            sl[axis] = slice(k + radius, k + radius + n)
            term = w * src[tuple(sl)]
            acc = term if acc is None else acc + term
        out = acc / norm
    return out


def _gradient(a: np.ndarray, axis: int) -> np.ndarray:
    """numpy ``gradient`` along one axis; an axis of length 1 has zero derivative."""
    if a.shape[axis] < 2:
        return np.zeros_like(a)
    return np.gradient(a, axis=axis)


def _orientation_ratio(boundary: np.ndarray) -> np.ndarray:
    """``(Oyy * sign(-Oxy)) / (Oxx + 1e-5)`` of the smoothed boundary (f64, inf/NaN possible)."""
    s = smooth_triangle(boundary, SMOOTH_RADIUS)
    oy = _gradient(s, 0)
    ox = _gradient(s, 1)
    oxx = _gradient(ox, 1)
    oxy = _gradient(ox, 0)
    oyy = _gradient(oy, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (oyy * np.sign(-oxy)) / (oxx + 1e-5)


def nms_orientation(boundary: np.ndarray) -> np.ndarray:
    """Edge normal orientation ``theta = mod(atan(ratio), pi)`` in [0, pi) (NaN possible)."""
    with np.errstate(invalid="ignore"):
        return np.mod(np.arctan(_orientation_ratio(boundary)), np.pi)


def _bilinear(b: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear samples of f64 ``b`` at already clamped coordinates (see module docstring)."""
    h, w = b.shape
    x0 = np.floor(xs).astype(np.intp)
    y0 = np.floor(ys).astype(np.intp)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = xs - x0
    fy = ys - y0
    gx = 1.0 - fx
    gy = 1.0 - fy
    v = b[y0, x0] * gx * gy
    v = v + b[y0, x1] * fx * gy
    v = v + b[y1, x0] * gx * fy
    v = v + b[y1, x1] * fx * fy
    return v


def nms_thin(
    boundary: np.ndarray,
    nms_radius: int = 1,
    nms_margin: float = 1.01,
    edge_threshold: float = 0.5,
    *,
    return_details: bool = False,
    full_nms: bool = False,
):
    """Stage 1: edge NMS of ``boundary`` then threshold. Returns ``thin`` (bool HxW).

    With ``return_details=True`` returns ``(thin, nms, min_rel_gap)``: the suppressed map (f32;
    only pixels with ``B(p) >= edge_threshold`` are tested unless ``full_nms``) and, over the
    pixels with ``B(p) >= edge_threshold``, the smallest ``|max sample - m B(p)| / (m B(p))``:
    how close the case is to a decision that an ulp could flip.
    """
    b32 = np.asarray(boundary, dtype=np.float32)
    if b32.ndim != 2:
        raise ValueError(f"boundary must be HxW, got shape {b32.shape}")
    h, w = b32.shape
    b = b32.astype(np.float64)
    # Only pixels that can pass the threshold need the test: a pixel with B(p) < t_e is not in
    # ``thin`` whether suppressed or not, so ``thin`` equals docs/mep.md's for every pixel. With
    # ``full_nms=True`` every pixel with B(p) > 0 is tested (the complete NMS map).
    test = b > 0 if full_nms else (b > 0) & (b32 >= np.float32(edge_threshold))
    ys, xs = np.nonzero(test)
    ratio = _orientation_ratio(b)[ys, xs]
    with np.errstate(invalid="ignore"):
        th = np.mod(np.arctan(ratio), np.pi)
    ok = ~np.isnan(th)  # a NaN theta suppresses nothing
    ys, xs, th = ys[ok], xs[ok], th[ok]
    c = np.cos(th)
    s = np.sin(th)
    xf = xs.astype(np.float64)
    yf = ys.astype(np.float64)
    thr = nms_margin * b[ys, xs]
    vmax = np.full(xs.shape, -np.inf)
    for d in range(-nms_radius, nms_radius + 1):
        if d == 0:
            continue
        sx = np.clip(xf + d * c, 0.0, w - 1.0)
        sy = np.clip(yf + d * s, 0.0, h - 1.0)
        vmax = np.maximum(vmax, _bilinear(b, sx, sy))
    suppressed = vmax > thr
    nms = b32.copy()
    nms[ys[suppressed], xs[suppressed]] = 0.0
    thin = nms >= np.float32(edge_threshold)
    if not return_details:
        return thin
    relevant = b32[ys, xs] >= np.float32(edge_threshold)
    if relevant.any():
        gap = np.abs(vmax[relevant] - thr[relevant]) / thr[relevant]
        min_gap = float(gap.min()) if gap.size else float("inf")
    else:
        min_gap = float("inf")
    return thin, nms, min_gap


# --------------------------------------------------------------------------------------------
# Stage 2: seeds
# --------------------------------------------------------------------------------------------


def seeds(thin: np.ndarray, dilate_iterations: int = 2, seed_distance: float = 3.0):
    """Stage 2a: ``(dilated, dist, seeds)``.

    ``dilated`` = thin dilated ``dilate_iterations`` times with a 3x3 square (outside the image is
    not boundary); ``dist`` = exact Euclidean distance to the nearest dilated pixel (f64, 0 on
    ``dilated``, +inf everywhere when ``dilated`` is empty); ``seeds = dist > seed_distance``.
    """
    thin_u8 = np.asarray(thin, dtype=bool).astype(np.uint8)
    if dilate_iterations > 0 and thin_u8.size:
        # cv2's default border for dilate is "outside never sets a pixel".
        dilated = cv2.dilate(thin_u8, np.ones((3, 3), np.uint8), iterations=dilate_iterations) > 0
    else:
        dilated = thin_u8 > 0
    if dilated.any():
        dist = ndi.distance_transform_edt(~dilated)
    else:
        dist = np.full(dilated.shape, np.inf)
    return dilated, dist, dist > seed_distance


def label_markers(seed_mask: np.ndarray) -> np.ndarray:
    """Stage 2b: 8-connected components of ``seed_mask`` as int32 markers.

    Background 0; components numbered 1..n in the raster (row-major) order of their first pixel.
    """
    seed_mask = np.asarray(seed_mask, dtype=bool)
    lab, n = ndi.label(seed_mask, structure=np.ones((3, 3), dtype=bool))
    lab = lab.astype(np.int32, copy=False)
    if n == 0:
        return np.zeros(seed_mask.shape, np.int32)
    flat = lab.ravel()
    labs = flat[flat > 0]
    # scipy numbers components in order of first appearance already; check it in O(N) and
    # renumber only if not (e.g. another scipy version).
    if labs[0] == 1 and np.all(labs[1:] <= np.maximum.accumulate(labs)[:-1] + 1):
        return lab
    ids, first = np.unique(flat, return_index=True)
    keep = ids > 0
    ids, first = ids[keep], first[keep]
    order = np.argsort(first, kind="stable")
    remap = np.zeros(n + 1, np.int32)
    remap[ids[order]] = np.arange(1, len(ids) + 1, dtype=np.int32)
    return remap[lab]


# --------------------------------------------------------------------------------------------
# Stage 3: watershed
# --------------------------------------------------------------------------------------------


def watershed(image: np.ndarray, markers: np.ndarray) -> np.ndarray:
    """Stage 3: ``cv2.watershed`` of the RGB image with ``markers``; its raw output (int32).

    The frame and the watershed lines are -1 in the returned array (``refine`` zeroes them).
    The channel order does not matter (the cost is the max over channels).
    """
    img = np.ascontiguousarray(image, dtype=np.uint8)
    out = np.array(markers, dtype=np.int32, order="C", copy=True)
    cv2.watershed(img, out)
    return out


# --------------------------------------------------------------------------------------------
# Stage 4: refinement
# --------------------------------------------------------------------------------------------


def ellipse_kernel(size: int) -> np.ndarray:
    """The ``size x size`` ``cv2.MORPH_ELLIPSE`` structuring element (u8 0/1)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def semantic_classes(shape, semantic=None, labels=None):
    """``(cls, fg)``: per-pixel class id (int64) and foreground F.

    Probabilities: ``cls = argmax P`` (ties: smaller channel), ``F = cls != 0``. Label map:
    ``cls = L``, ``F = L not in {0, 255}``. Neither (class-agnostic extension, not in docs/mep.md):
    every pixel is class 1 and foreground.
    """
    h, w = shape
    if semantic is not None and labels is not None:
        raise ValueError("give semantic probabilities or a label map, not both")
    if semantic is not None:
        p = np.asarray(semantic)
        if p.ndim != 3 or p.shape[1:] != (h, w) or p.shape[0] < 1:
            raise ValueError(f"semantic must be [K+1,{h},{w}], got {p.shape}")
        cls = np.argmax(p, axis=0).astype(np.int64)
        return cls, cls != 0
    if labels is not None:
        lab = np.asarray(labels)
        if lab.shape != (h, w):
            raise ValueError(f"labels must be {h}x{w}, got {lab.shape}")
        cls = lab.astype(np.int64)
        return cls, (cls != 0) & (cls != 255)
    return np.ones((h, w), np.int64), np.ones((h, w), bool)


def refine(
    ws: np.ndarray,
    semantic: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    closing_kernel: int = 5,
    min_area: int = 0,
) -> list[dict]:
    """Stage 4: per-label closing, semantic AND, class, score, area filter.

    ``ws`` is the watershed output (labels > 0; -1 and 0 are unassigned). Returns instances in
    label order, each ``{"label", "category", "score", "area", "bbox" [x,y,w,h], "mask"}`` where
    ``mask`` is the bool crop of the tight bbox.
    """
    ws = np.asarray(ws)
    h, w = ws.shape
    if h <= 2 or w <= 2:
        return []
    lab = np.where(ws > 0, ws, 0).astype(np.int32)
    cls, fg = semantic_classes((h, w), semantic, labels)
    probs = None if semantic is None else np.asarray(semantic)
    k = int(closing_kernel)
    kernel = ellipse_kernel(k) if k > 1 else None
    pad = 2 * (k // 2) if k > 1 else 0
    out = []
    for idx, sl in enumerate(ndi.find_objects(lab)):
        if sl is None:
            continue
        label = idx + 1
        y0 = max(sl[0].start - pad, 0)
        y1 = min(sl[0].stop + pad, h)
        x0 = max(sl[1].start - pad, 0)
        x1 = min(sl[1].stop + pad, w)
        m = (lab[y0:y1, x0:x1] == label).astype(np.uint8)
        if kernel is not None:
            # Default border: outside never sets a pixel in dilation, never clears one in
            # erosion. A pad of 2*(k//2) makes the crop's closing equal the full image's.
            m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
        m = (m > 0) & fg[y0:y1, x0:x1]
        area = int(m.sum())
        if area == 0 or area < min_area:
            continue
        c_crop = cls[y0:y1, x0:x1][m]
        counts = np.bincount(c_crop)
        cat = int(np.argmax(counts))  # ties: the smaller id
        if probs is not None:
            score = float(probs[cat, y0:y1, x0:x1][m].astype(np.float64).sum() / area)
        elif labels is not None:
            score = float(counts[cat]) / float(area)
        else:
            score = 1.0
        rows = np.flatnonzero(m.any(axis=1))
        cols = np.flatnonzero(m.any(axis=0))
        by0, by1 = int(rows[0]), int(rows[-1]) + 1
        bx0, bx1 = int(cols[0]), int(cols[-1]) + 1
        out.append(
            {
                "label": label,
                "category": cat,
                "score": score,
                "area": area,
                "bbox": [x0 + bx0, y0 + by0, bx1 - bx0, by1 - by0],
                "mask": m[by0:by1, bx0:bx1].copy(),
            }
        )
    return out


def instance_mask(inst: dict, height: int, width: int) -> np.ndarray:
    """Full-size bool mask of an instance whose ``mask`` is its bbox crop."""
    full = np.zeros((height, width), bool)
    x, y, bw, bh = inst["bbox"]
    full[y : y + bh, x : x + bw] = inst["mask"]
    return full


def paint_labels(instances: list[dict], height: int, width: int) -> np.ndarray:
    """Label map (u16): instances painted in ascending score (equal scores: list order).

    The value painted is the instance's 1-based position in ``instances``; the highest score
    wins where masks overlap.
    """
    out = np.zeros((height, width), np.uint16)
    order = sorted(range(len(instances)), key=lambda i: (instances[i]["score"], i))
    for i in order:
        inst = instances[i]
        x, y, bw, bh = inst["bbox"]
        region = out[y : y + bh, x : x + bw]
        region[inst["mask"]] = i + 1
    return out


def _encode_rle(instances: list[dict], height: int, width: int) -> None:
    """Adds ``rle`` (pycocotools compressed RLE, counts as str) to each instance, in place."""
    from pycocotools import mask as mask_utils

    buf = np.zeros((height, width), dtype=np.uint8, order="F")
    for inst in instances:
        x, y, bw, bh = inst["bbox"]
        buf[y : y + bh, x : x + bw] = inst["mask"]
        rle = mask_utils.encode(buf)
        buf[y : y + bh, x : x + bw] = 0
        inst["rle"] = {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def _as_rle(inst: dict, height: int, width: int) -> dict:
    """pycocotools RLE of an instance given as our dict, a COCO result or ``{"counts"}``."""
    seg = inst.get("rle") or inst.get("segmentation")
    if seg is None and "counts" in inst:
        seg = {"size": [height, width], "counts": inst["counts"]}
    if seg is None:
        from pycocotools import mask as mask_utils

        full = np.asfortranarray(instance_mask(inst, height, width).astype(np.uint8))
        return mask_utils.encode(full)
    counts = seg["counts"]
    return {"size": list(seg.get("size", [height, width])),
            "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def agree(a: list[dict], b: list[dict], height: int, width: int) -> tuple[bool, dict]:
    """The tolerant "agree" rule of docs/mep.md#agreement between two MEP results.

    Instances are matched one-to-one greedily by descending IoU (pairs with IoU >= 0.5 only;
    equal IoUs: smaller index in ``a``, then in ``b``). The results agree when every matched
    pair has IoU >= 0.99 and equal classes and the union of the unmatched instances of both
    sides covers < 0.1% of the image. Instances may be our dicts (``rle`` or ``mask``+``bbox``),
    COCO results (``segmentation``, ``category_id``) or ``{"counts", "category"}`` records.
    Returns ``(agree, details)``.
    """
    from pycocotools import mask as mask_utils

    ra = [_as_rle(i, height, width) for i in a]
    rb = [_as_rle(i, height, width) for i in b]
    ca = [i.get("category", i.get("category_id")) for i in a]
    cb = [i.get("category", i.get("category_id")) for i in b]
    if ra and rb:
        iou = np.asarray(mask_utils.iou(ra, rb, [0] * len(rb)), dtype=np.float64)
        iou = iou.reshape(len(ra), len(rb))
    else:
        iou = np.zeros((len(ra), len(rb)))
    pairs = sorted(
        ((iou[i, j], i, j) for i, j in zip(*np.nonzero(iou >= 0.5))),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    used_a, used_b, matched = set(), set(), []
    for v, i, j in pairs:
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        matched.append((int(i), int(j), float(v)))
    bad = [(i, j, v) for i, j, v in matched if v < 0.99 or ca[i] != cb[j]]
    unmatched = [ra[i] for i in range(len(ra)) if i not in used_a]
    unmatched += [rb[j] for j in range(len(rb)) if j not in used_b]
    if unmatched:
        cover = float(mask_utils.area(mask_utils.merge(unmatched, intersect=False)))
    else:
        cover = 0.0
    frac = cover / float(height * width) if height * width else 0.0
    ok = not bad and frac < 1e-3
    details = {
        "matched": len(matched),
        "min_iou": min((v for _, _, v in matched), default=1.0),
        "bad_pairs": bad,
        "unmatched_a": len(ra) - len(used_a),
        "unmatched_b": len(rb) - len(used_b),
        "unmatched_fraction": frac,
    }
    return ok, details


# --------------------------------------------------------------------------------------------
# The whole pipeline
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class MepResult:
    """Every intermediate of one MEP run (arrays HxW unless noted)."""

    params: dict
    thin: np.ndarray  # bool, after NMS + threshold
    nms: np.ndarray  # f32, boundary with suppressed pixels zeroed
    nms_min_rel_gap: float
    dilated: np.ndarray  # bool
    dist: np.ndarray  # f64, +inf allowed
    seeds: np.ndarray  # bool
    markers: np.ndarray  # i32, the array handed to cv2.watershed
    watershed: np.ndarray  # i32, cv2.watershed's raw output (-1 on lines and frame)
    instances: list  # dicts, see refine()
    timings: dict  # stage -> seconds


def _check_params(params: dict) -> dict:
    unknown = set(params) - set(DEFAULT_PARAMS)
    if unknown:
        raise TypeError(f"unknown MEP parameter(s): {sorted(unknown)}")
    return {**DEFAULT_PARAMS, **params}


def run_mep(
    image: np.ndarray,
    boundary: np.ndarray,
    semantic: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    *,
    encode_rle: bool = True,
    **params,
) -> MepResult:
    """The MEP with all intermediates and per-stage wall times (``time.perf_counter``)."""
    p = _check_params(params)
    image = np.asarray(image)
    boundary = np.asarray(boundary, dtype=np.float32)
    if boundary.ndim != 2:
        raise ValueError(f"boundary must be HxW, got {boundary.shape}")
    h, w = boundary.shape
    if image.shape != (h, w, 3) or image.dtype != np.uint8:
        raise ValueError(f"image must be u8 {h}x{w}x3, got {image.dtype} {image.shape}")
    t = {}
    t0 = time.perf_counter()
    thin, nms, gap = nms_thin(
        boundary, p["nms_radius"], p["nms_margin"], p["edge_threshold"], return_details=True
    )
    t1 = time.perf_counter()
    t["nms"] = t1 - t0
    dilated, dist, seed_mask = seeds(thin, p["dilate_iterations"], p["seed_distance"])
    t2 = time.perf_counter()
    t["seeds"] = t2 - t1
    markers = label_markers(seed_mask)
    t3 = time.perf_counter()
    t["label"] = t3 - t2
    ws = watershed(image, markers)
    t4 = time.perf_counter()
    t["watershed"] = t4 - t3
    if h <= 2 or w <= 2:
        instances = []
    else:
        instances = refine(ws, semantic, labels, p["closing_kernel"], p["min_area"])
    if encode_rle:
        _encode_rle(instances, h, w)
    t5 = time.perf_counter()
    t["refine"] = t5 - t4
    t["total"] = t5 - t0
    return MepResult(p, thin, nms, gap, dilated, dist, seed_mask, markers, ws, instances, t)


def mep(
    image: np.ndarray,
    boundary: np.ndarray,
    semantic: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    *,
    encode_rle: bool = True,
    **params,
) -> list[dict]:
    """Runs the MEP; returns instances ``{category, score, mask, area, bbox, rle, label}``.

    ``mask`` is the bool crop of the tight ``bbox`` ``[x, y, w, h]`` (``instance_mask`` expands
    it); ``rle`` is a pycocotools compressed RLE ``{"size": [H, W], "counts": str}``; ``label``
    is the watershed label the instance came from. Parameters (docs/mep.md#parameters names): ``nms_radius=1,
    nms_margin=1.01, edge_threshold=0.5, dilate_iterations=2, seed_distance=3.0,
    closing_kernel=5, min_area=0``. Give ``semantic`` (f32 [K+1,H,W]) or ``labels`` (u8/u16
    HxW); with neither, every instance is class 1 with score 1.0 (an extension).
    """
    return run_mep(image, boundary, semantic, labels, encode_rle=encode_rle, **params).instances
