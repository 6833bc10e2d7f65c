#!/usr/bin/env python3
"""Checks `infer --mask-format polygon` and `--save polygons` outputs with the tools' own rules.

    python scripts/check_polygons.py RLE_RUN_DIR POLYGON_RUN_DIR

RLE_RUN_DIR and POLYGON_RUN_DIR are two `baiseg-rt infer` output directories of the same inputs,
one with the default `--mask-format rle`, one with `--mask-format polygon --save polygons`.

* pycocotools: every polygon record is rasterised as `COCO.annToRLE` does (`frPyObjects`, then
  `merge`); the total area must be within 2% of the RLE areas and each instance of >= 200 px
  within 5% (the polygons are exact, so the script also reports the worst IoU).
* CVAT (COCO 1.0 importer, datumaro's `_CocoBase`): the field rules of
  `cvat/annotations/instances_default.json`, then `pycocotools.coco.COCO` loads it and each
  annotation's `annToRLE` equals the RLE record.
* labelme (`LabelFile.load` + `labelme.utils.shape_to_mask`): keys, `imagePath` resolving to the
  image relative to the JSON file, `imageHeight`/`imageWidth` equal to the image's size, shapes
  of >= 3 points; the shapes of one `group_id` drawn with PIL as labelme draws them
  (`ImageDraw.polygon(xy, outline=1, fill=1)`) and compared with the RLE (IoU reported; PIL
  puts pixel centres on integer coordinates, labelme's own half-pixel shift).

Exits non-zero on any failure.
"""
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def check_results(rle_dir, poly_dir):
    rle = json.load(open(os.path.join(rle_dir, "instances.json")))
    poly = json.load(open(os.path.join(poly_dir, "instances.json")))
    if len(rle) != len(poly):
        fail(f"{len(rle)} RLE records but {len(poly)} polygon records")
    total_rle = total_poly = 0
    worst_rel = 0.0
    worst_iou = 1.0
    big = 0
    for r, p in zip(rle, poly):
        if (r["image_id"], r["category_id"], r["score"]) != (p["image_id"], p["category_id"], p["score"]):
            fail(f"records differ: {r['file_name']}")
        h, w = r["segmentation"]["size"]
        seg = p["segmentation"]
        if not isinstance(seg, list) or not all(isinstance(s, list) and len(s) >= 6 and len(s) % 2 == 0 for s in seg):
            fail(f"not a COCO polygon list: {p['file_name']}")
        merged = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
        a_poly = float(mask_utils.area(merged))
        a_rle = float(mask_utils.area(r["segmentation"]))
        total_rle += a_rle
        total_poly += a_poly
        iou = float(mask_utils.iou([merged], [r["segmentation"]], [0])[0][0])
        worst_iou = min(worst_iou, iou)
        if a_rle >= 200:
            big += 1
            rel = abs(a_poly - a_rle) / a_rle
            worst_rel = max(worst_rel, rel)
            if rel > 0.05:
                fail(f"{p['file_name']}: polygon area {a_poly} vs RLE {a_rle}")
    total_rel = abs(total_poly - total_rle) / max(total_rle, 1.0)
    if total_rel > 0.02:
        fail(f"total polygon area {total_poly} vs RLE {total_rle}")
    print(
        f"pycocotools: {len(poly)} instances ({big} of >= 200 px), total area {total_poly:.0f} vs RLE "
        f"{total_rle:.0f} (rel. diff {total_rel:.2e}), worst per-instance rel. diff {worst_rel:.2e}, "
        f"worst IoU {worst_iou:.6f}"
    )
    return rle


def field(d, key, types, where):
    if key not in d:
        fail(f"{where}: missing field `{key}`")
    if not isinstance(d[key], types) or isinstance(d[key], bool):
        fail(f"{where}: field `{key}` has type {type(d[key]).__name__}")
    return d[key]


def check_cvat(poly_dir, rle):
    path = os.path.join(poly_dir, "cvat", "annotations", "instances_default.json")
    data = json.load(open(path))
    # datumaro's _CocoBase: categories (id int, name str), images (id int, file_name str,
    # height/width int), annotations (id int, image_id known int, category_id declared int,
    # iscrowd int, segmentation list|dict, polygons even and >= 6 values, score int|float).
    cats = {field(c, "id", int, "category"): field(c, "name", str, "category") for c in field(data, "categories", list, path)}
    images = {}
    for im in field(data, "images", list, path):
        images[field(im, "id", int, "image")] = im
        field(im, "file_name", str, "image")
        field(im, "height", int, "image")
        field(im, "width", int, "image")
    anns = field(data, "annotations", list, path)
    ids = set()
    for a in anns:
        aid = field(a, "id", int, "annotation")
        if aid in ids:
            fail(f"duplicate annotation id {aid}")
        ids.add(aid)
        if field(a, "image_id", int, "annotation") not in images:
            fail(f"annotation {aid}: unknown image id")
        if field(a, "category_id", int, "annotation") not in cats:
            fail(f"annotation {aid}: undeclared category")
        if field(a, "iscrowd", int, "annotation") != 0:
            fail(f"annotation {aid}: iscrowd must be 0 for polygons")
        field(a, "score", (int, float), "annotation")
        for poly in field(a, "segmentation", (list, dict), "annotation"):
            if len(poly) % 2 or len(poly) < 6:
                fail(f"annotation {aid}: polygon with {len(poly)} values")
        if len(field(a, "bbox", list, "annotation")) != 4:
            fail(f"annotation {aid}: bbox")
    coco = COCO(path)
    by_key = {}
    for r in rle:
        by_key.setdefault(r["image_id"], []).append(r)
    checked = 0
    for img_id in coco.getImgIds():
        dts = by_key.get(img_id, [])
        gts = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
        if len(dts) != len(gts):
            fail(f"image {img_id}: {len(gts)} CVAT annotations, {len(dts)} records")
        for g, d in zip(gts, dts):
            got = coco.annToRLE(g)
            if float(mask_utils.iou([got], [d["segmentation"]], [0])[0][0]) < 1.0 - 1e-12 and mask_utils.area(got) > 0:
                fail(f"image {img_id}: CVAT polygon mask differs from the RLE")
            checked += 1
    print(f"CVAT COCO 1.0: {len(images)} images, {len(anns)} annotations pass datumaro's field rules; "
          f"pycocotools COCO() loads it, {checked} masks equal the RLE records")


def check_labelme(poly_dir, rle):
    root = os.path.join(poly_dir, "labelme")
    by_name = {}
    for r in rle:
        by_name.setdefault(r["file_name"], []).append(r)
    files = []
    for dirpath, _, names in os.walk(root):
        files += [os.path.join(dirpath, n) for n in names if n.endswith(".json")]
    ious = []
    shapes_total = 0
    for path in sorted(files):
        data = json.load(open(path))
        for key in ["version", "imageData", "imagePath", "shapes", "flags", "imageHeight", "imageWidth"]:
            if key not in data:
                fail(f"{path}: missing `{key}`")
        if data["version"].split(".")[0] != "5":
            fail(f"{path}: version {data['version']}")
        image_path = os.path.join(os.path.dirname(path), data["imagePath"])
        if data["imageData"] is not None or not os.path.isfile(image_path):
            fail(f"{path}: imagePath {data['imagePath']} does not resolve")
        with Image.open(image_path) as im:
            w, h = im.size
        if (data["imageHeight"], data["imageWidth"]) != (h, w):
            fail(f"{path}: imageHeight/imageWidth {data['imageHeight']}x{data['imageWidth']} vs image {h}x{w}")
        groups = {}
        for s in data["shapes"]:
            for key in ["label", "points", "group_id", "shape_type", "flags"]:
                if key not in s:
                    fail(f"{path}: shape without `{key}`")
            if s["shape_type"] != "polygon" or len(s["points"]) < 3:
                fail(f"{path}: bad shape")
            groups.setdefault(s["group_id"], []).append(s)
            shapes_total += 1
        rel = os.path.relpath(path, root)[: -len(".json")]
        recs = [r for name, rs in by_name.items() if os.path.splitext(name)[0] == rel for r in rs]
        if len(groups) != len(recs):
            fail(f"{path}: {len(groups)} groups for {len(recs)} instances")
        for gid, r in zip(sorted(groups), recs):
            mask = Image.new("L", (w, h), 0)
            draw = ImageDraw.Draw(mask)
            for s in groups[gid]:
                draw.polygon(xy=[tuple(p) for p in s["points"]], outline=1, fill=1)
            m = np.asfortranarray(np.array(mask, dtype=np.uint8))
            got = mask_utils.encode(m)
            iou = float(mask_utils.iou([got], [r["segmentation"]], [0])[0][0])
            if mask_utils.area(r["segmentation"]) >= 200:
                ious.append(iou)
    worst = min(ious, default=1.0)
    mean = sum(ious) / max(len(ious), 1)
    print(f"labelme: {len(files)} files, {shapes_total} polygon shapes load by LabelFile's rules; "
          f"labelme's shape_to_mask (PIL, outline drawn, pixel centres on integers) vs RLE over "
          f"{len(ious)} instances >= 200 px: mean IoU {mean:.3f}, worst {worst:.3f}")
    # PIL strokes the outline and shifts by half a pixel: a thin ring of extra pixels, never a
    # different object.
    if worst < 0.5:
        fail("labelme masks are not the instances")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    rle = check_results(sys.argv[1], sys.argv[2])
    check_cvat(sys.argv[2], rle)
    check_labelme(sys.argv[2], rle)
    print("OK")


if __name__ == "__main__":
    main()
