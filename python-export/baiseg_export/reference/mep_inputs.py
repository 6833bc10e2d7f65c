"""MEP inputs: seeded synthetic "network outputs" and real cases from COCO-format fixtures.

Every function returns a dict::

    {"image": u8 [H,W,3] RGB, "boundary": f32 [H,W] in [0,1],
     "semantic": f32 [K+1,H,W] (or None), "labels": u8/u16 [H,W] (or None),
     "instances": i32 [H,W] ground-truth instance ids (0 = none; not an MEP input),
     "meta": {...}}   # origin, parameters, licence

``synthetic()`` is deterministic for a given seed and arguments (numpy ``default_rng`` + OpenCV
filters); it is used by the fixtures (small sizes) and by ``benches/compare_mep.py``
(512x512/25, 1024x1024/100, 2048x1024/200).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "SHARED_COCO",
    "boundary_from_instances",
    "coco_case",
    "contour_pixels",
    "network_probabilities",
    "stardist_case",
    "synthetic",
]

#: Where the real COCO-format fixtures live: the read-only ``shared/`` folder beside the repository
#: (``BAISEG_SHARED`` overrides it).
SHARED_COCO = (
    Path(os.environ.get("BAISEG_SHARED", Path(__file__).resolve().parents[3].parent / "shared"))
    / "fixtures"
    / "coco"
)


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def contour_pixels(ids: np.ndarray, connectivity: int = 8) -> np.ndarray:
    """Pixels with a 4- (or 8-) neighbour inside the image whose id differs (both sides)."""
    ids = np.asarray(ids)
    out = np.zeros(ids.shape, bool)
    shifts = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if connectivity == 8 else [])
    h, w = ids.shape
    for dy, dx in shifts:
        ya, yb = (slice(0, h - dy), slice(dy, h))
        if dx >= 0:
            xa, xb = slice(0, w - dx), slice(dx, w)
        else:
            xa, xb = slice(-dx, w), slice(0, w + dx)
        diff = ids[ya, xa] != ids[yb, xb]
        out[ya, xa] |= diff
        out[yb, xb] |= diff
    return out


def _line_peak(sigma: float) -> float:
    """Peak of a 2-pixel-wide straight line of ones after the Gaussian blur of ``sigma``."""
    img = np.zeros((41, 41), np.float32)
    img[:, 20:22] = 1.0
    return float(cv2.GaussianBlur(img, (0, 0), sigma).max())


def boundary_from_instances(ids: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Boundary map: contour pixels of an instance-id map, Gaussian-blurred, peak ~1, f32."""
    b = contour_pixels(ids).astype(np.float32)
    if sigma > 0:
        b = cv2.GaussianBlur(b, (0, 0), sigma) / np.float32(_line_peak(sigma))
    return np.clip(b, 0.0, 1.0).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-ish std low-frequency noise with features of about ``scale`` pixels."""
    gh = max(2, int(np.ceil(h / scale)) + 1)
    gw = max(2, int(np.ceil(w / scale)) + 1)
    g = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)


def network_probabilities(
    rng: np.random.Generator,
    class_map: np.ndarray,
    n_classes: int,
    stride: int = 4,
    confidence: float = 4.0,
    noise: float = 1.2,
) -> np.ndarray:
    """Softmax-like, noisy class probabilities f32 [K+1,H,W] resembling a stride-s network.

    One-hot of ``class_map`` (0 = background, values > K or 255 count as background) scaled by
    ``confidence``, averaged down by ``stride``, plus per-channel smooth noise, bilinearly
    upsampled back, softmax over channels.
    """
    h, w = class_map.shape
    lh, lw = max(1, h // stride), max(1, w // stride)
    logits = np.empty((n_classes + 1, h, w), np.float32)
    cm = np.where((class_map >= 0) & (class_map <= n_classes), class_map, 0)
    for c in range(n_classes + 1):
        one = (cm == c).astype(np.float32) * np.float32(confidence)
        low = cv2.resize(one, (lw, lh), interpolation=cv2.INTER_AREA)
        low = low + np.float32(noise) * _smooth_noise(rng, lh, lw, 3.0)
        logits[c] = cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR)
    logits -= logits.max(axis=0, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=0, keepdims=True)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Synthetic cases
# --------------------------------------------------------------------------------------------


def _blob(rng: np.random.Generator, cx: float, cy: float, r: float) -> np.ndarray:
    """Polygon (int32 Nx2, x/y) of a smooth random blob around (cx, cy) of radius ~r."""
    n = 64
    phi = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    rad = np.ones(n)
    for k in (2, 3, 4, 5):
        rad += rng.uniform(0.0, 0.22 / k) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    elong = rng.uniform(0.7, 1.0)
    rot = rng.uniform(0, np.pi)
    x = r * rad * np.cos(phi)
    y = r * rad * np.sin(phi) * elong
    xr = x * np.cos(rot) - y * np.sin(rot) + cx
    yr = x * np.sin(rot) + y * np.cos(rot) + cy
    return np.round(np.stack([xr, yr], axis=1) * 16).astype(np.int32)  # 4 fractional bits


def synthetic(
    seed: int,
    height: int = 512,
    width: int = 512,
    n_objects: int = 25,
    n_classes: int = 2,
    *,
    coverage: float = 0.55,
    blur: float = 1.2,
    gap_rate: float = 0.8,
    spurious_rate: float = 0.5,
    boundary_strength: tuple[float, float] = (0.55, 1.0),
    semantic: str = "probs",
    ignore_patches: int = 0,
    posterize: int | None = None,
) -> dict:
    """A seeded synthetic MEP input that looks like BAISeg's network outputs.

    Objects are smooth random blobs placed at random so that many touch or overlap (later ones
    occlude earlier ones); classes 1..K at random, so same-class neighbours are common. The
    image has a textured background and per-object colour, stripes and noise. The boundary map
    has the instance contours (object/object and object/background) with varying strength,
    blurred by ``blur``, with gaps (``gap_rate`` per object), spurious strokes inside objects
    (``spurious_rate`` per object) and weak noise. ``semantic="probs"`` gives noisy softmax
    probabilities [K+1,H,W]; ``"labels"`` gives their argmax as a u8 label map (with
    ``ignore_patches`` squares of 255). ``posterize=n`` quantises the image to n levels per
    channel (flat plateaus: many equal watershed priorities, so the FIFO order matters).
    """
    rng = np.random.default_rng(seed)
    h, w = int(height), int(width)
    ids = np.zeros((h, w), np.int32)
    classes = np.zeros(n_objects + 1, np.int64)
    if n_objects > 0:
        r_mean = np.sqrt(coverage * h * w / (np.pi * n_objects))
    for i in range(1, n_objects + 1):
        r = max(2.0, r_mean * rng.uniform(0.6, 1.35))
        cx = rng.uniform(0.0, w - 1.0)
        cy = rng.uniform(0.0, h - 1.0)
        cv2.fillPoly(ids, [_blob(rng, cx, cy, r)], int(i), lineType=cv2.LINE_8, shift=4)
        classes[i] = rng.integers(1, n_classes + 1)
    class_map = classes[ids]

    # --- image -------------------------------------------------------------------------------
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg_col = rng.uniform(60, 190, 3).astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    for ch in range(3):
        img[..., ch] = bg_col[ch] + 25.0 * _smooth_noise(rng, h, w, 40.0)
    class_col = rng.uniform(30, 225, (n_classes + 1, 3)).astype(np.float32)
    for i in range(1, n_objects + 1):
        m = ids == i
        if not m.any():
            continue
        col = class_col[classes[i]] + rng.uniform(-35, 35, 3).astype(np.float32)
        ang = rng.uniform(0, np.pi)
        lam = rng.uniform(4.0, 14.0)
        amp = rng.uniform(5.0, 25.0)
        tex = amp * np.sin(2 * np.pi * (xx[m] * np.cos(ang) + yy[m] * np.sin(ang)) / lam)
        shade = 0.03 * ((xx[m] - xx[m].mean()) * np.cos(ang) - (yy[m] - yy[m].mean()) * np.sin(ang))
        for ch in range(3):
            img[..., ch][m] = col[ch] + tex + shade
    img += rng.normal(0.0, 6.0, img.shape).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 0.7)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if posterize:
        step = 256 // int(posterize)
        image = (image // step * step).astype(np.uint8)

    # --- boundary ----------------------------------------------------------------------------
    contour = contour_pixels(ids).astype(np.float32)
    lo, hi = boundary_strength
    strength = np.clip(0.5 * (lo + hi) + 0.5 * (hi - lo) * _smooth_noise(rng, h, w, 30.0), lo, hi)
    b = contour * strength.astype(np.float32)
    cy_, cx_ = np.nonzero(contour)
    n_gaps = int(round(gap_rate * n_objects))
    if len(cy_) and n_gaps:
        pick = rng.integers(0, len(cy_), n_gaps)
        for j in pick:
            cv2.circle(b, (int(cx_[j]), int(cy_[j])), int(rng.integers(2, 6)), 0.0, -1)
    n_spur = int(round(spurious_rate * n_objects))
    for _ in range(n_spur):
        x0, y0 = rng.uniform(0, w - 1), rng.uniform(0, h - 1)
        ang = rng.uniform(0, 2 * np.pi)
        ln = rng.uniform(5, max(6.0, 0.15 * min(h, w)))
        x1, y1 = x0 + ln * np.cos(ang), y0 + ln * np.sin(ang)
        cv2.line(
            b, (int(x0), int(y0)), (int(x1), int(y1)), float(rng.uniform(0.3, 0.9)), 1, cv2.LINE_8
        )
    if blur > 0:
        b = cv2.GaussianBlur(b, (0, 0), blur) / np.float32(_line_peak(blur))
    b = b + np.float32(0.04) * np.abs(rng.standard_normal((h, w))).astype(np.float32)
    boundary = np.clip(b, 0.0, 1.0).astype(np.float32)

    # --- semantic ----------------------------------------------------------------------------
    probs = network_probabilities(rng, class_map, n_classes)
    out = {
        "image": image,
        "boundary": boundary,
        "semantic": None,
        "labels": None,
        "instances": ids,
        "meta": {
            "origin": "synthetic",
            "generator": "baiseg_export.reference.mep_inputs.synthetic",
            "seed": int(seed),
            "height": h,
            "width": w,
            "n_objects": int(n_objects),
            "n_classes": int(n_classes),
            "coverage": coverage,
            "blur": blur,
            "gap_rate": gap_rate,
            "spurious_rate": spurious_rate,
            "boundary_strength": list(boundary_strength),
            "semantic": semantic,
            "ignore_patches": int(ignore_patches),
            "posterize": posterize,
            "licence": "generated; CC0",
        },
    }
    if semantic == "probs":
        out["semantic"] = probs
    elif semantic == "labels":
        lab = np.argmax(probs, axis=0).astype(np.uint8)
        for _ in range(ignore_patches):
            s = int(rng.integers(4, max(5, min(h, w) // 6)))
            y, x = int(rng.integers(0, max(1, h - s))), int(rng.integers(0, max(1, w - s)))
            lab[y : y + s, x : x + s] = 255
        out["labels"] = lab
    else:
        raise ValueError(f"semantic must be 'probs' or 'labels', got {semantic!r}")
    return out


# --------------------------------------------------------------------------------------------
# Real cases
# --------------------------------------------------------------------------------------------


def load_coco(path: Path):
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def instance_map(coco, img_id: int, h: int, w: int):
    """Instance ids (largest first, so smaller objects stay on top), category per id, crowd."""
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
    ids = np.zeros((h, w), np.int32)
    crowd = np.zeros((h, w), bool)
    cats = [0]
    n = 0
    for a in sorted(anns, key=lambda a: (-float(a["area"]), a["id"])):
        m = coco.annToMask(a).astype(bool)
        if a.get("iscrowd", 0):
            crowd |= m
            continue
        n += 1
        ids[m] = n
        cats.append(int(a["category_id"]))
    return ids, np.asarray(cats, np.int64), crowd


def _resize_case(image, ids, crowd, max_side):
    h, w = ids.shape
    s = min(1.0, max_side / max(h, w))
    if s >= 1.0:
        return image, ids, crowd
    nw, nh = int(round(w * s)), int(round(h * s))
    image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    ids = cv2.resize(ids, (nw, nh), interpolation=cv2.INTER_NEAREST)
    crowd = cv2.resize(crowd.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST) > 0
    return image, ids, crowd


def coco_case(
    dataset: str,
    file_name: str,
    *,
    max_side: int = 320,
    blur: float = 1.0,
    semantic: str = "labels",
    seed: int = 0,
) -> dict:
    """A real image + GT-derived MEP inputs from ``SHARED_COCO/<dataset>``.

    Boundary = contour pixels of the GT instance map (8-neighbour with a different id, both
    sides; Gaussian ``blur``, peak ~1). ``semantic="labels"``: u16 label map of COCO category
    ids (crowd regions 255 = ignore). ``"probs"``: noisy network-like probabilities over the
    categories present, renumbered 1..K in ascending COCO id (``meta["classes"]``). Images
    larger than ``max_side`` are downscaled (INTER_AREA; GT ids INTER_NEAREST).
    """
    root = SHARED_COCO / dataset
    ann = next(p for p in sorted(root.glob("*.json")) if "dets" not in p.name and "ref" not in p.name)
    coco = load_coco(ann)
    img_info = next(i for i in coco.dataset["images"] if Path(i["file_name"]).name == file_name)
    img_path = next(root.rglob(file_name))
    bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = img_info["height"], img_info["width"]
    if image.shape[:2] != (h, w):
        raise ValueError(f"{img_path}: size {image.shape[:2]} != JSON {(h, w)}")
    ids, cats, crowd = instance_map(coco, img_info["id"], h, w)
    image, ids, crowd = _resize_case(image, ids, crowd, max_side)
    boundary = boundary_from_instances(ids, blur)
    cat_map = cats[ids]
    licence = (root / "README.txt").read_text().split("License:")[1].split("\n")[0].strip()
    meta = {
        "origin": "coco",
        "source": f"shared/fixtures/coco/{dataset}",
        "annotations": ann.name,
        "file_name": file_name,
        "image_id": int(img_info["id"]),
        "original_size": [int(h), int(w)],
        "size": [int(ids.shape[0]), int(ids.shape[1])],
        "instances": int(len(cats) - 1),
        "blur": blur,
        "semantic": semantic,
        "licence": licence,
    }
    out = {"image": np.ascontiguousarray(image), "boundary": boundary, "semantic": None,
           "labels": None, "instances": ids, "meta": meta}
    if semantic == "labels":
        lab = cat_map.astype(np.uint16)
        lab[crowd & (ids == 0)] = 255
        out["labels"] = lab
    elif semantic == "probs":
        present = sorted(set(int(c) for c in cats[1:]))
        remap = np.zeros(int(cats.max()) + 1, np.int64)
        remap[present] = np.arange(1, len(present) + 1)
        rng = np.random.default_rng(seed)
        out["semantic"] = network_probabilities(rng, remap[cat_map], len(present))
        meta["classes"] = {str(i + 1): c for i, c in enumerate(present)}
        meta["seed"] = int(seed)
    else:
        raise ValueError(f"semantic must be 'labels' or 'probs', got {semantic!r}")
    return out


def stardist_case(
    crop: tuple[int, int, int, int] | None = (0, 0, 256, 256), blur: float = 1.0
) -> dict:
    """The stardist DSB2018 nuclei image (grey -> RGB) with GT-contour boundary, class 1 labels.

    ``crop`` = (y, x, h, w) in the 512x512 image; None keeps it whole.
    """
    from pycocotools import mask as mask_utils

    root = SHARED_COCO / "stardist_dsb2018_1"
    grey = cv2.imread(str(root / "images" / "img2d.png"), cv2.IMREAD_GRAYSCALE)
    gt = json.loads((root / "instances.json").read_text())
    h, w = grey.shape
    ids = np.zeros((h, w), np.int32)
    for n, a in enumerate(sorted(gt["annotations"], key=lambda a: a["id"]), start=1):
        m = mask_utils.decode(a["segmentation"]).astype(bool)
        ids[m] = n
    if crop is not None:
        y, x, ch, cw = crop
        grey = grey[y : y + ch, x : x + cw]
        ids = ids[y : y + ch, x : x + cw]
    image = np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    labels = (ids > 0).astype(np.uint8)
    meta = {
        "origin": "stardist",
        "source": "shared/fixtures/coco/stardist_dsb2018_1 (images/img2d.png, instances.json)",
        "crop_yxhw": list(crop) if crop is not None else None,
        "instances_in_crop": int(len(np.unique(ids)) - 1),
        "blur": blur,
        "semantic": "labels",
        "licence": "stardist BSD-3-Clause; BBBC038 (DSB2018) images/annotations CC0",
    }
    return {"image": image, "boundary": boundary_from_instances(ids, blur), "semantic": None,
            "labels": labels, "instances": ids, "meta": meta}
