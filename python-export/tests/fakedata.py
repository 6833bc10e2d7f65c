"""Tiny datasets in every ``--data`` layout, written into temporary directories for the tests.

VOC: the 3 real VOC photos of ``tests/data/labelme_voc_3`` with their labelme polygons
(``fixtures/coco/labelme_voc_3/annotations.json``) rasterised into SegmentationClass /
SegmentationObject palette PNGs with VOC's 5 px void band (255) around every object.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import scipy.io
from PIL import Image
from pycocotools.coco import COCO

from baiseg_export.data.procedural import make_scene

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LABELME_JSON = REPO / "fixtures" / "coco" / "labelme_voc_3" / "annotations.json"
LABELME_IMAGES = HERE / "data" / "labelme_voc_3" / "JPEGImages"
COCO_JSON = REPO / "fixtures" / "coco" / "clarifai_val2017_10" / "instances_val2017_subset.json"
COCO_IMAGES = REPO / "fixtures" / "images"

VOC_TRAIN = ["2011_000003", "2011_000025"]
VOC_VAL = ["2011_000006"]


def voc_palette() -> list[int]:
    """The PASCAL VOC colour map (bit-interleaved), 256 entries."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def save_palette_png(path: Path, arr: np.ndarray) -> None:
    im = Image.fromarray(arr.astype(np.uint8), mode="P")
    im.putpalette(voc_palette())
    im.save(path)


def labelme_maps() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """id -> (class map with 5 px void bands, object map with the same bands), VOC semantics."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(LABELME_JSON))
    out = {}
    k5 = np.ones((5, 5), np.uint8)
    for img in coco.dataset["images"]:
        iid = Path(img["file_name"]).stem
        h, w = img["height"], img["width"]
        sem = np.zeros((h, w), np.uint8)
        obj = np.zeros((h, w), np.uint8)
        band = np.zeros((h, w), bool)
        anns = sorted(coco.loadAnns(coco.getAnnIds(imgIds=img["id"])), key=lambda a: a["id"])
        for n, a in enumerate(anns, start=1):
            m = coco.annToMask(a).astype(np.uint8)
            sem[m > 0] = a["category_id"]  # labelme ids 1..20 are VOC's order
            obj[m > 0] = n
            band |= (cv2.dilate(m, k5) > 0) & ~(cv2.erode(m, k5) > 0)  # ~5 px straddling the outline
        sem[band] = 255
        obj[band] = 255
        out[iid] = (sem, obj)
    return out


def make_voc(root: Path) -> Path:
    """``root/VOCdevkit/VOC2012`` with train = 2 images, val = 1; returns the VOC2012 dir."""
    voc = root / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation"):
        (voc / d).mkdir(parents=True, exist_ok=True)
    for iid, (sem, obj) in labelme_maps().items():
        shutil.copy(LABELME_IMAGES / f"{iid}.jpg", voc / "JPEGImages" / f"{iid}.jpg")
        save_palette_png(voc / "SegmentationClass" / f"{iid}.png", sem)
        save_palette_png(voc / "SegmentationObject" / f"{iid}.png", obj)
    lists = {"train": VOC_TRAIN, "val": VOC_VAL, "trainval": sorted(VOC_TRAIN + VOC_VAL)}
    for split, ids in lists.items():
        (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return voc


def _scene_voc(i: int, size: int = 96):
    sc = make_scene(7, i, size)
    sem = sc.semantic.copy()
    sem[sem > 0] += 10  # classes 11..13 of VOC's 20
    return sc.image, sem, sc.instances


def make_sbd(root: Path, voc: Path | None = None) -> Path:
    """``root/benchmark_RELEASE/dataset`` with img/, cls/, inst/ (.mat structs GTcls / GTinst).

    train = [2011_000003 (also in VOC train), 2008_000001]; val = [2011_000006 (VOC val, so not
    in trainaug), 2008_000002]. 2008_* are procedural scenes; 2011_* reuse the VOC labels
    without the void band (SBD has none)."""
    ds = root / "benchmark_RELEASE" / "dataset"
    for d in ("img", "cls", "inst"):
        (ds / d).mkdir(parents=True, exist_ok=True)
    maps = labelme_maps()
    items = {}
    for iid in ("2011_000003", "2011_000006"):
        sem, obj = maps[iid]
        sem = sem.copy()
        obj = obj.copy()
        sem[sem == 255] = 0
        obj[obj == 255] = 0
        items[iid] = (cv2.cvtColor(cv2.imread(str(LABELME_IMAGES / f"{iid}.jpg")), cv2.COLOR_BGR2RGB), sem, obj)
    for n, iid in enumerate(("2008_000001", "2008_000002")):
        items[iid] = _scene_voc(n)
    for iid, (img, sem, obj) in items.items():
        cv2.imwrite(str(ds / "img" / f"{iid}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        scipy.io.savemat(ds / "cls" / f"{iid}.mat",
                         {"GTcls": {"Segmentation": sem.astype(np.uint8), "CategoriesPresent": np.unique(sem[sem > 0])}})
        scipy.io.savemat(ds / "inst" / f"{iid}.mat",
                         {"GTinst": {"Segmentation": obj.astype(np.uint8), "Categories": np.unique(sem[sem > 0])}})
    (ds / "train.txt").write_text("2011_000003\n2008_000001\n")
    (ds / "val.txt").write_text("2011_000006\n2008_000002\n")
    return ds.parent


def make_folder(root: Path, n: int = 3, size: int = 96, instances: bool = True) -> Path:
    """``folder:`` layout from procedural scenes: images/*.png, masks/*.png, classes.txt, instances/."""
    for d in ("images", "masks") + (("instances",) if instances else ()):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sc = make_scene(3, i, size)
        ext = ".jpg" if i % 2 else ".png"
        cv2.imwrite(str(root / "images" / f"s{i}{ext}"), cv2.cvtColor(sc.image, cv2.COLOR_RGB2BGR))
        Image.fromarray(sc.semantic).save(root / "masks" / f"s{i}.png")
        if instances:
            Image.fromarray(sc.instances.astype(np.uint16)).save(root / "instances" / f"s{i}.png")
    (root / "classes.txt").write_text("background\ndisc\nbox\ntriangle\n")
    return root


def make_coco(root: Path) -> tuple[Path, Path]:
    """A COCO instances file for the 3 COCO photos in ``fixtures/images`` (one has a crowd region)."""
    d = json.loads(COCO_JSON.read_text())
    have = {p.name for p in COCO_IMAGES.glob("*.jpg")}
    imgs = [i for i in d["images"] if i["file_name"] in have]
    ids = {i["id"] for i in imgs}
    d = {"images": imgs, "annotations": [a for a in d["annotations"] if a["image_id"] in ids],
         "categories": d["categories"]}
    root.mkdir(parents=True, exist_ok=True)
    ann = root / "instances_tiny.json"
    ann.write_text(json.dumps(d))
    return ann, COCO_IMAGES
