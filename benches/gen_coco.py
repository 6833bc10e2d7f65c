#!/usr/bin/env python3
"""Seeded generator of a large, realistic COCO instance-segmentation ground truth and results.

    python benches/gen_coco.py --images 5000 --seed 0 --out OUT_DIR

writes gt.json (80 categories, ~7 annotations per image as polygons, ~1 crowd region per 10
images as uncompressed RLE like COCO's, objects of every size range), dt_segm.json (~50
detections per image: perturbed true positives, duplicates, class confusions, localisation
errors and background false positives, masks as compressed RLE, no bbox key) and dt_bbox.json
(the same detections' boxes, no segmentation). Needs numpy and pycocotools.
"""
import argparse
import json
import os

import numpy as np
from pycocotools import mask as mu


def polygon(rng, cx, cy, r, k=None):
    k = k or int(rng.integers(5, 16))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = r * rng.uniform(0.55, 1.0, k)
    aspect = rng.uniform(0.5, 2.0)
    xy = np.stack([cx + rad * np.cos(ang) * aspect**0.5, cy + rad * np.sin(ang) / aspect**0.5], 1)
    return xy


def clip(xy, w, h):
    return np.stack([np.clip(xy[:, 0], 0, w - 1), np.clip(xy[:, 1], 0, h - 1)], 1)


def rle_of(polys, h, w):
    rles = mu.frPyObjects([p.reshape(-1).tolist() for p in polys], h, w)
    return mu.merge(rles)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dets-per-image", type=float, default=50.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    cats = [{"id": i + 1, "name": f"class_{i + 1:02d}", "supercategory": "thing"} for i in range(80)]
    cat_w = rng.dirichlet(np.full(80, 0.6))  # long-tailed class frequencies
    images, anns, dets_segm, dets_bbox = [], [], [], []
    ann_id = 1
    for img_id in range(1, a.images + 1):
        h, w = int(rng.choice([375, 427, 480, 512, 640])), int(rng.choice([480, 500, 612, 640]))
        images.append({"id": img_id, "height": h, "width": w, "file_name": f"{img_id:012d}.jpg"})
        n_gt = int(rng.poisson(7))
        gts = []
        for _ in range(n_gt):
            # log-uniform radius: small (<32^2), medium, large objects all present
            r = float(np.exp(rng.uniform(np.log(3), np.log(min(h, w) * 0.45))))
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            parts = [clip(polygon(rng, cx, cy, r), w, h)]
            if rng.random() < 0.1:  # occluded object: two polygons
                parts.append(clip(polygon(rng, cx + r, cy, r * 0.5), w, h))
            rle = rle_of(parts, h, w)
            area = int(mu.area(rle))
            if area == 0:
                continue
            cat = int(rng.choice(80, p=cat_w)) + 1
            anns.append({
                "id": ann_id, "image_id": img_id, "category_id": cat, "iscrowd": 0, "area": float(area),
                "bbox": [float(v) for v in mu.toBbox(rle)],
                "segmentation": [[round(float(v), 2) for v in p.reshape(-1)] for p in parts],
            })
            gts.append((cat, parts, r))
            ann_id += 1
        if rng.random() < 0.1:  # crowd region, uncompressed RLE like COCO
            r = float(rng.uniform(30, min(h, w) * 0.4))
            parts = [clip(polygon(rng, rng.uniform(0, w), rng.uniform(0, h), r, 20), w, h)]
            m = mu.decode(rle_of(parts, h, w))
            flat = m.reshape(-1, order="F")
            change = np.flatnonzero(np.diff(flat)) + 1
            bounds = np.concatenate([[0], change, [flat.size]])
            counts = np.diff(bounds).tolist()
            if flat[0] == 1:
                counts = [0] + counts
            rle = mu.encode(np.asfortranarray(m))
            anns.append({
                "id": ann_id, "image_id": img_id, "category_id": int(rng.choice(80, p=cat_w)) + 1, "iscrowd": 1,
                "area": float(mu.area(rle)), "bbox": [float(v) for v in mu.toBbox(rle)],
                "segmentation": {"size": [h, w], "counts": counts},
            })
            ann_id += 1
        # detections
        n_det = int(rng.poisson(a.dets_per_image))
        made = []
        for cat, parts, r in gts:
            if rng.random() < 0.85:
                for _ in range(1 + int(rng.random() < 0.3)):  # sometimes a duplicate
                    jit = rng.normal(0, max(0.5, r * rng.uniform(0.02, 0.25)), size=2)
                    new = [clip(p + jit + rng.normal(0, r * 0.05, p.shape), w, h) for p in parts]
                    c = cat if rng.random() < 0.9 else int(rng.integers(1, 81))
                    made.append((c, new, float(rng.beta(5, 2))))
        while len(made) < n_det:  # background false positives of every size
            r = float(np.exp(rng.uniform(np.log(3), np.log(min(h, w) * 0.4))))
            p = clip(polygon(rng, rng.uniform(0, w), rng.uniform(0, h), r), w, h)
            made.append((int(rng.choice(80, p=cat_w)) + 1, [p], float(rng.beta(1.5, 5))))
        for c, parts, score in made:
            rle = rle_of(parts, h, w)
            if mu.area(rle) == 0:
                continue
            score = round(score, 5)
            dets_segm.append({"image_id": img_id, "category_id": c, "score": score,
                              "segmentation": {"size": [h, w], "counts": rle["counts"].decode("ascii")}})
            dets_bbox.append({"image_id": img_id, "category_id": c, "score": score,
                              "bbox": [round(float(v), 2) for v in mu.toBbox(rle)]})
    with open(os.path.join(a.out, "gt.json"), "w") as f:
        json.dump({"info": {"description": f"gen_coco.py --images {a.images} --seed {a.seed}"},
                   "images": images, "annotations": anns, "categories": cats}, f)
    with open(os.path.join(a.out, "dt_segm.json"), "w") as f:
        json.dump(dets_segm, f)
    with open(os.path.join(a.out, "dt_bbox.json"), "w") as f:
        json.dump(dets_bbox, f)
    print(f"{a.out}: {len(images)} images, {len(anns)} annotations, {len(dets_segm)} detections")


if __name__ == "__main__":
    main()
