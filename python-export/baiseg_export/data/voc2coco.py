"""PASCAL VOC 2012 segmentation ground truth -> COCO instances JSON (the paper's evaluation set).

    python -m baiseg_export.data.voc2coco VOC_ROOT --split val --out gt.json [--semantic-out DIR]

One annotation per object id of ``SegmentationObject/<id>.png`` (ids 1..254; 0 background and 255
the void band belong to no instance), its category the class of ``SegmentationClass/<id>.png``
under it (the most common one, void and background excluded), the 20 VOC categories with ids
1..20 in VOC order, ``file_name`` = ``<id>.jpg`` as in ``JPEGImages``, image ids 1..N in the
split's order, compressed RLE segmentations (pycocotools), ``area`` = mask area, ``bbox`` from the
mask, ``iscrowd`` 0. ``--semantic-out DIR`` also writes the class maps as single-channel u8 PNGs
(``<id>.png``; 255 = void) for ``baiseg-rt infer --semantic-dir`` (the paper's "Semantic_gd").

Then: ``baiseg-rt infer MODEL VOC_ROOT/JPEGImages --coco gt.json`` and ``baiseg-rt eval --coco
gt.json --results OUT/instances.json --protocol voc-chainercv`` give Table 1's mAP@{25,50,70,75}.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
from PIL import Image

from .datasets import VOC_CLASSES, DatasetError, _read_label_png, voc_root, voc_split_ids


def voc_to_coco(root: str, split: str = "val", semantic_out: str | None = None) -> dict:
    from pycocotools import mask as mask_utils

    root = voc_root(root)
    ids = voc_split_ids(root, split)
    images, anns = [], []
    if semantic_out:
        os.makedirs(semantic_out, exist_ok=True)
    for n, iid in enumerate(ids, start=1):
        cp = os.path.join(root, "SegmentationClass", iid + ".png")
        op = os.path.join(root, "SegmentationObject", iid + ".png")
        sem = _read_label_png(cp, "class label").astype(np.uint8)
        obj = _read_label_png(op, "object label").astype(np.int64)
        if sem.shape != obj.shape:
            raise DatasetError(f"{op}: object label is {obj.shape[1]}x{obj.shape[0]} but the class label is "
                               f"{sem.shape[1]}x{sem.shape[0]}")
        bad = (sem > len(VOC_CLASSES)) & (sem != 255)
        if bad.any():
            raise DatasetError(f"{cp}: class ids {sorted(set(sem[bad].tolist()))[:8]} outside 0..20 and 255")
        h, w = sem.shape
        images.append({"id": n, "file_name": iid + ".jpg", "height": int(h), "width": int(w)})
        for k in np.unique(obj):
            if k in (0, 255):
                continue
            m = obj == k
            cls = sem[m]
            cls = cls[(cls != 0) & (cls != 255)]
            if cls.size == 0:
                raise DatasetError(f"{op}: object {int(k)} covers no labelled class in {cp}")
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            area = float(mask_utils.area(rle))
            bbox = [float(v) for v in mask_utils.toBbox(rle)]
            rle["counts"] = rle["counts"].decode("ascii")
            anns.append({"id": len(anns) + 1, "image_id": n, "category_id": int(np.bincount(cls).argmax()),
                         "segmentation": rle, "area": area, "bbox": bbox, "iscrowd": 0})
        if semantic_out:
            Image.fromarray(sem, mode="L").save(os.path.join(semantic_out, iid + ".png"))
    return {
        "info": {"description": f"PASCAL VOC 2012 {split} (SegmentationObject + SegmentationClass), "
                                f"made by baiseg_export.data.voc2coco"},
        "images": images, "annotations": anns,
        "categories": [{"id": i + 1, "name": c, "supercategory": "voc"} for i, c in enumerate(VOC_CLASSES)],
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", help="VOCdevkit/VOC2012 (or VOCdevkit)")
    ap.add_argument("--split", default="val", help="train | val | trainval")
    ap.add_argument("--out", required=True, help="COCO instances JSON to write")
    ap.add_argument("--semantic-out", default=None, help="also write u8 class-map PNGs here (Semantic_gd)")
    a = ap.parse_args(argv)
    try:
        gt = voc_to_coco(a.root, a.split, a.semantic_out)
    except DatasetError as e:
        raise SystemExit(f"error: {e}")
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(gt, f)
    os.replace(tmp, a.out)
    print(f"wrote {len(gt['images'])} images, {len(gt['annotations'])} instances, 20 categories to {a.out}")


if __name__ == "__main__":
    main()
