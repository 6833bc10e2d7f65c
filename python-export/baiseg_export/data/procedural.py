"""Seeded procedural scenes of touching and overlapping objects (no download needed).

Scene ``i`` of seed ``s`` is a pure function of ``(s, i, size)``. Classes (ids 1..K, model order):
``disc`` (ellipses with dot texture), ``box`` (rotated rectangles with stripes), ``triangle``
(triangles with noise texture). Every instance has its own colour (jitter around its class hue)
and is shaded darker towards its outline, so touching instances of one class stay separable.
About half the instances are placed touching or overlapping an instance of the same class;
occlusion is by painting order, and a placement is rejected if it leaves any instance with less
than half of its area or fewer than ``MIN_AREA`` pixels visible.

CLI (writes a COCO-format evaluation set)::

    python -m baiseg_export.data.procedural --out DIR --seed 1000 --num 50 --size 256

writes ``DIR/images/000000.png ...`` (RGB), ``DIR/annotations.json`` (COCO GT: RLE
segmentations from pycocotools, ``iscrowd`` 0, ``area`` = mask area, ``bbox``, categories 1..K
in the model's class order), ``DIR/semantic/*.png`` (u8 class ids, for ``--semantic-dir``) and
``DIR/instances/*.png`` (u16 instance ids).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass

import cv2
import numpy as np

from ..config import PROCEDURAL_CLASSES

MIN_AREA = 60
#: base hues (OpenCV 0..180 scale) per class; instances jitter around them
CLASS_HUES = {1: 10, 2: 60, 3: 120}


@dataclass
class Scene:
    image: np.ndarray  # H x W x 3 u8 RGB
    semantic: np.ndarray  # H x W u8 class ids (0 background)
    instances: np.ndarray  # H x W u16 instance ids (0 none), 1..n
    classes: list  # class id of instance k is classes[k-1]


def _smooth_noise(rng, h, w, cells, amp):
    g = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC) * amp


def _background(rng, h, w):
    base = rng.uniform(60, 200, size=3).astype(np.float32)
    grad = rng.uniform(-40, 40, size=(2, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = base + (xx[..., None] / w - 0.5) * grad[0] + (yy[..., None] / h - 0.5) * grad[1]
    img += _smooth_noise(rng, h, w, int(rng.integers(4, 12)), 18.0)[..., None]
    img += rng.normal(0, 6, size=(h, w, 3)).astype(np.float32)
    # a few thin background clutter lines (they are not objects)
    for _ in range(int(rng.integers(0, 4))):
        p1 = tuple(int(v) for v in rng.integers(0, [w, h]))
        p2 = tuple(int(v) for v in rng.integers(0, [w, h]))
        col = tuple(float(c) for c in rng.uniform(40, 220, size=3))
        cv2.line(img, p1, p2, col, int(rng.integers(1, 3)), cv2.LINE_AA)
    return img


def _shape_mask(rng, cls, h, w, cx, cy, r):
    m = np.zeros((h, w), np.uint8)
    ang = float(rng.uniform(0, 180))
    if cls == 1:  # disc / ellipse
        axes = (int(r), int(r * rng.uniform(0.7, 1.0)))
        cv2.ellipse(m, (int(cx), int(cy)), axes, ang, 0, 360, 1, -1, cv2.LINE_8)
    elif cls == 2:  # rotated box
        box = cv2.boxPoints(((cx, cy), (2 * r * rng.uniform(0.8, 1.0), 2 * r * rng.uniform(0.55, 0.9)), ang))
        cv2.fillPoly(m, [np.round(box).astype(np.int32)], 1)
    else:  # triangle
        a0 = np.deg2rad(ang)
        angles = a0 + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3]) + rng.uniform(-0.25, 0.25, 3)
        pts = np.stack([cx + 1.15 * r * np.cos(angles), cy + 1.15 * r * np.sin(angles)], 1)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    return m.astype(bool)


def _texture(rng, cls, h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if cls == 1:  # dots
        p = rng.uniform(5, 9)
        return 14.0 * (np.sin(xx * 2 * np.pi / p) * np.sin(yy * 2 * np.pi / p) > 0.5)
    if cls == 2:  # stripes
        t = rng.uniform(0, np.pi)
        p = rng.uniform(5, 10)
        return 14.0 * np.sin((xx * np.cos(t) + yy * np.sin(t)) * 2 * np.pi / p)
    return _smooth_noise(rng, h, w, 24, 10.0)


def _instance_colour(rng, cls):
    hue = (CLASS_HUES[cls] + rng.uniform(-12, 12)) % 180
    hsv = np.uint8([[[hue, rng.uniform(120, 255), rng.uniform(150, 255)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def make_scene(seed: int, index: int, size: int = 256, num_classes: int = 3,
               min_objects: int = 3, max_objects: int = 9) -> Scene:
    """Scene ``index`` of ``seed`` (deterministic)."""
    rng = np.random.default_rng([int(seed), int(index), int(size)])
    h = w = int(size)
    img = _background(rng, h, w)
    inst = np.zeros((h, w), np.uint16)
    classes: list[int] = []
    centres: list[tuple[float, float, float]] = []
    areas: list[int] = []  # full (unoccluded) area of each instance
    n_target = int(rng.integers(min_objects, max_objects + 1))
    attempts = 0
    while len(classes) < n_target and attempts < 40 * n_target:
        attempts += 1
        r = float(rng.uniform(0.06, 0.14) * size)
        same = list(range(len(classes)))
        if same and rng.random() < 0.55:
            # touch / overlap an existing instance of the same class
            k = int(rng.choice(same))
            cls = classes[k]
            px, py, pr = centres[k]
            t = rng.uniform(0, 2 * np.pi)
            d = (pr + r) * rng.uniform(0.72, 0.98)
            cx, cy = px + d * np.cos(t), py + d * np.sin(t)
        else:
            cls = int(rng.integers(1, num_classes + 1))
            cx, cy = rng.uniform(r * 0.6, w - r * 0.6), rng.uniform(r * 0.6, h - r * 0.6)
        m = _shape_mask(rng, cls, h, w, cx, cy, r)
        area = int(m.sum())
        if area < MIN_AREA * 2:
            continue
        new = np.where(m, len(classes) + 1, inst).astype(np.uint16)
        counts = np.bincount(new.ravel(), minlength=len(classes) + 2)
        ok = counts[len(classes) + 1] >= MIN_AREA
        for k in range(len(classes)):
            vis = counts[k + 1]
            if vis < MIN_AREA or vis < 0.5 * areas[k]:
                ok = False
                break
        if not ok:
            continue
        inst = new
        classes.append(cls)
        centres.append((cx, cy, r))
        areas.append(area)
        # paint the instance: colour, texture, shading darker towards the outline
        dt = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)
        shade = 0.55 + 0.45 * np.clip(dt / max(2.0, 0.35 * r), 0, 1)
        col = _instance_colour(rng, cls)
        tex = _texture(rng, cls, h, w)
        painted = col[None, None, :] * shade[..., None] + tex[..., None]
        img[m] = painted[m]
    img += rng.normal(0, 3, size=img.shape).astype(np.float32)
    image = np.clip(img, 0, 255).astype(np.uint8)
    lut = np.array([0] + classes, np.uint8)
    semantic = lut[inst]
    return Scene(image, semantic, inst, classes)


def scene_annotations(scene: Scene, image_id: int, first_ann_id: int) -> list[dict]:
    from pycocotools import mask as mask_utils

    anns = []
    for k, cls in enumerate(scene.classes, start=1):
        m = np.asfortranarray((scene.instances == k).astype(np.uint8))
        if not m.any():
            continue
        rle = mask_utils.encode(m)
        area = float(mask_utils.area(rle))
        bbox = [float(v) for v in mask_utils.toBbox(rle)]
        rle["counts"] = rle["counts"].decode("ascii")
        anns.append({
            "id": first_ann_id + len(anns), "image_id": image_id, "category_id": int(cls),
            "segmentation": rle, "area": area, "bbox": bbox, "iscrowd": 0,
        })
    return anns


def categories() -> list[dict]:
    return [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(PROCEDURAL_CLASSES)]


def write_dataset(out: str, seed: int, num: int, size: int = 256) -> dict:
    """Write ``num`` scenes of ``seed`` as a COCO-format set under ``out``; returns the GT dict."""
    for sub in ("images", "semantic", "instances"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    images, anns = [], []
    for i in range(num):
        sc = make_scene(seed, i, size)
        name = f"{i:06d}.png"
        _write_png(os.path.join(out, "images", name), cv2.cvtColor(sc.image, cv2.COLOR_RGB2BGR))
        _write_png(os.path.join(out, "semantic", name), sc.semantic)
        _write_png(os.path.join(out, "instances", name), sc.instances)
        images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
        anns.extend(scene_annotations(sc, i + 1, len(anns) + 1))
    gt = {
        "info": {"description": f"baiseg_export procedural scenes seed={seed} num={num} size={size}"},
        "images": images, "annotations": anns, "categories": categories(),
    }
    tmp = os.path.join(out, "annotations.json.tmp")
    with open(tmp, "w") as f:
        json.dump(gt, f)
    os.replace(tmp, os.path.join(out, "annotations.json"))
    return gt


def _write_png(path: str, arr: np.ndarray) -> None:
    tmp = path + ".tmp.png"
    if not cv2.imwrite(tmp, arr):
        raise OSError(f"cannot write {path}")
    os.replace(tmp, path)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=1000, help="scene seed (training uses seed 0)")
    ap.add_argument("--num", type=int, default=50, help="number of scenes")
    ap.add_argument("--size", type=int, default=256, help="image side in pixels")
    a = ap.parse_args(argv)
    gt = write_dataset(a.out, a.seed, a.num, a.size)
    print(f"wrote {len(gt['images'])} images, {len(gt['annotations'])} instances to {a.out}")


if __name__ == "__main__":
    main()
