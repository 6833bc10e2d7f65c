"""Training samples: (RGB u8 image, class map u8 with 255 = ignore, instance-id map or None).

- ``ProceduralDataset``: infinite, scene ``i`` = ``make_scene(seed, i, size)``.
- ``VOCDataset``: ``ROOT/JPEGImages/*.jpg`` + ``ROOT/SegmentationClass/*.png`` (palette indices,
  255 = ignore), optional ``ROOT/SegmentationObject/*.png`` (instance ids), optional
  ``ROOT/ImageSets/Segmentation/<split>.txt`` listing ids (otherwise every labelled image).
- ``COCODataset``: a COCO instances JSON + its image folder; the class map is rasterised from the
  instance masks (category ids remapped to 1..K in ascending id order, later instances painted
  over earlier ones, ``iscrowd`` regions = 255), instance ids = annotation order.
"""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
from PIL import Image

from .procedural import make_scene
from ..config import PROCEDURAL_CLASSES

VOC_CLASSES = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
    "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
]


def _read_rgb(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class ProceduralDataset:
    infinite = True

    def __init__(self, seed: int = 0, size: int = 256):
        self.seed, self.size = seed, size
        self.class_names = list(PROCEDURAL_CLASSES)

    def __len__(self) -> int:
        return 1 << 31

    def __getitem__(self, i: int):
        sc = make_scene(self.seed, i, self.size)
        return sc.image, sc.semantic, sc.instances


class VOCDataset:
    infinite = False

    def __init__(self, root: str, split: str = "train"):
        self.root = root
        self.class_names = list(VOC_CLASSES)
        lst = os.path.join(root, "ImageSets", "Segmentation", f"{split}.txt")
        if os.path.exists(lst):
            with open(lst) as f:
                ids = [l.strip() for l in f if l.strip()]
        else:
            ids = sorted(os.path.splitext(n)[0] for n in os.listdir(os.path.join(root, "SegmentationClass"))
                         if n.endswith(".png"))
        self.ids = ids
        if not ids:
            raise ValueError(f"{root}: no labelled images")

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        iid = self.ids[i]
        img = _read_rgb(os.path.join(self.root, "JPEGImages", iid + ".jpg"))
        sem = np.array(Image.open(os.path.join(self.root, "SegmentationClass", iid + ".png")), dtype=np.uint8)
        obj_path = os.path.join(self.root, "SegmentationObject", iid + ".png")
        inst = None
        if os.path.exists(obj_path):
            inst = np.array(Image.open(obj_path)).astype(np.uint16)
            inst[inst == 255] = 0
        return img, sem, inst


class COCODataset:
    infinite = False

    def __init__(self, ann_file: str, image_dir: str | None = None):
        from pycocotools.coco import COCO

        self.coco = COCO(ann_file)
        self.image_dir = image_dir or os.path.join(os.path.dirname(ann_file), "images")
        cats = sorted(self.coco.getCatIds())
        self.cat_to_label = {c: i + 1 for i, c in enumerate(cats)}
        self.class_names = [self.coco.cats[c]["name"] for c in cats]
        self.ids = sorted(self.coco.getImgIds())

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        info = self.coco.imgs[self.ids[i]]
        img = _read_rgb(os.path.join(self.image_dir, info["file_name"]))
        h, w = img.shape[:2]
        sem = np.zeros((h, w), np.uint8)
        inst = np.zeros((h, w), np.uint16)
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=info["id"]))
        for k, a in enumerate(anns, start=1):
            m = self.coco.annToMask(a).astype(bool)
            if a.get("iscrowd", 0):
                sem[m] = 255
                inst[m] = 0
            else:
                sem[m] = self.cat_to_label[a["category_id"]]
                inst[m] = k
        return img, sem, inst


def open_dataset(spec: str, seed: int = 0, size: int = 256):
    """``procedural`` | a VOC root (has SegmentationClass/) | a COCO JSON file (images in ./images
    next to it, or ``path/to/ann.json:path/to/images``)."""
    if spec in ("procedural", "", None):
        return ProceduralDataset(seed, size)
    if spec.startswith("procedural:"):
        return ProceduralDataset(int(spec.split(":", 1)[1]), size)
    ann, _, imgdir = spec.partition(".json:")
    if spec.endswith(".json") or imgdir:
        return COCODataset(ann + ".json" if imgdir else spec, imgdir or None)
    if os.path.isdir(os.path.join(spec, "SegmentationClass")):
        return VOCDataset(spec)
    raise ValueError(f"cannot tell the dataset kind of {spec!r}")
