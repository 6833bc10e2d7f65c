"""Training / validation data: ``--data SPEC`` (see ``open_dataset`` and python-export/README.md).

Every dataset yields ``(RGB u8 HxWx3, class map u8 HxW with 255 = ignore, instance ids u16 HxW or
None)`` and has ``class_names`` (ids 1..K; 0 is background), ``fill_void`` (whether 255 marks
void *bands* whose edges ``targets.fill_void`` recovers) and ``describe()``.

Specs:

- ``procedural[:SEED]``: infinite seeded scenes (``data/procedural.py``).
- ``voc:ROOT`` with ``split`` train|val|trainval: ROOT = ``VOCdevkit/VOC2012`` (or ``VOCdevkit``):
  ``JPEGImages/<id>.jpg``, ``SegmentationClass/<id>.png`` (palette indices, 255 = void),
  ``SegmentationObject/<id>.png`` (instance ids, 255 = void), ``ImageSets/Segmentation/<split>.txt``.
- ``sbd:ROOT`` with ``split`` train|val: ROOT = ``benchmark_RELEASE`` (or its ``dataset/``):
  ``dataset/img/<id>.jpg``, ``dataset/cls/<id>.mat`` (struct ``GTcls``, field ``Segmentation``),
  ``dataset/inst/<id>.mat`` (struct ``GTinst``, field ``Segmentation``), ``dataset/<split>.txt``.
- ``trainaug:VOC_ROOT,SBD_ROOT``: (VOC train + SBD train + SBD val) minus VOC val, sorted; an id
  uses VOC's labels when VOC has them (they carry instance ids and the void band), else SBD's.
  10,582 images on the real data.
- ``coco:ANNOTATIONS.json:IMAGE_DIR``: category ids remapped to 1..K in ascending id order.
  Overlaps are resolved deterministically: instances are painted in decreasing area (ties by
  annotation id), so a smaller object lying on a larger one stays visible; ``iscrowd`` regions
  are painted last as 255 (ignored by every loss, never filled); instance ids = rank in that
  order (1..n).
- ``folder:ROOT`` (users' own semantic masks): ``ROOT/images/<stem>.{jpg,jpeg,png,bmp,tif,tiff}``,
  ``ROOT/masks/<stem>.png`` (u8 class ids: 0 background, 1..K, 255 ignore),
  ``ROOT/classes.txt`` (one foreground class name per line, line n = class id n; a first line
  ``background`` / ``_background_`` is accepted and means id 0), optional
  ``ROOT/instances/<stem>.png`` (u8/u16 instance ids, 0 = none).

A malformed dataset raises ``DatasetError`` naming the file and the problem.
"""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
from PIL import Image

from ..config import PROCEDURAL_CLASSES
from .procedural import make_scene

VOC_CLASSES = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
    "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
]
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class DatasetError(ValueError):
    """A dataset file is missing or malformed (the message names the file and the problem)."""


def _read_rgb(path: str) -> np.ndarray:
    if not os.path.exists(path):
        raise DatasetError(f"{path}: image file missing")
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f"{path}: cannot decode image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _read_label_png(path: str, what: str) -> np.ndarray:
    if not os.path.exists(path):
        raise DatasetError(f"{path}: {what} missing")
    try:
        im = Image.open(path)
        if im.mode not in ("P", "L", "I;16", "I", "1"):
            raise DatasetError(f"{path}: {what} must be a single-channel (palette or grey) PNG, got mode {im.mode}")
        return np.array(im)
    except DatasetError:
        raise
    except Exception as e:  # PIL raises many types
        raise DatasetError(f"{path}: cannot read {what}: {e}") from e


def _read_ids(path: str) -> list[str]:
    if not os.path.exists(path):
        raise DatasetError(f"{path}: image list missing")
    with open(path) as f:
        ids = [l.strip().split()[0] for l in f if l.strip()]
    if not ids:
        raise DatasetError(f"{path}: image list is empty")
    return ids


def _check_shape(path: str, lab: np.ndarray, img: np.ndarray, what: str) -> None:
    if lab.shape != img.shape[:2]:
        raise DatasetError(f"{path}: {what} is {lab.shape[1]}x{lab.shape[0]} but the image is "
                           f"{img.shape[1]}x{img.shape[0]}")


def _check_classes(path: str, sem: np.ndarray, k: int) -> None:
    bad = (sem > k) & (sem != 255)
    if bad.any():
        vals = sorted(int(v) for v in np.unique(sem[bad]))[:8]
        raise DatasetError(f"{path}: class ids {vals} outside 0..{k} and 255 (classes: {k})")


class ProceduralDataset:
    infinite = True
    fill_void = False

    def __init__(self, seed: int = 0, size: int = 256):
        self.seed, self.size = seed, size
        self.class_names = list(PROCEDURAL_CLASSES)

    def __len__(self) -> int:
        return 1 << 31

    def __getitem__(self, i: int):
        sc = make_scene(self.seed, i, self.size)
        return sc.image, sc.semantic, sc.instances

    def name(self, i: int) -> str:
        return f"procedural-{self.seed}-{i:06d}.png"

    def describe(self) -> dict:
        return {"kind": "procedural", "seed": self.seed, "size": self.size}


def voc_root(root: str) -> str:
    """Accept ``VOCdevkit/VOC2012``, ``VOCdevkit`` or the directory holding ``VOCdevkit``."""
    for cand in (root, os.path.join(root, "VOC2012"), os.path.join(root, "VOCdevkit", "VOC2012")):
        if os.path.isdir(os.path.join(cand, "SegmentationClass")):
            return cand
    raise DatasetError(f"{root}: not a VOC 2012 root (no SegmentationClass/ here, in VOC2012/ or in "
                       f"VOCdevkit/VOC2012/)")


def voc_split_ids(root: str, split: str) -> list[str]:
    root = voc_root(root)
    if split not in ("train", "val", "trainval"):
        raise DatasetError(f"voc split must be train, val or trainval, not {split!r}")
    return _read_ids(os.path.join(root, "ImageSets", "Segmentation", f"{split}.txt"))


class VOCDataset:
    infinite = False
    fill_void = True

    def __init__(self, root: str, split: str = "train", ids: list[str] | None = None):
        self.root = voc_root(root)
        self.split = split
        self.class_names = list(VOC_CLASSES)
        self.ids = list(ids) if ids is not None else voc_split_ids(self.root, split)
        for iid in self.ids:
            p = os.path.join(self.root, "SegmentationClass", iid + ".png")
            if not os.path.exists(p):
                raise DatasetError(f"{p}: class label missing (listed in the {split} split)")

    def __len__(self) -> int:
        return len(self.ids)

    def name(self, i: int) -> str:
        return self.ids[i] + ".jpg"

    def load(self, iid: str):
        img = _read_rgb(os.path.join(self.root, "JPEGImages", iid + ".jpg"))
        sp = os.path.join(self.root, "SegmentationClass", iid + ".png")
        sem = _read_label_png(sp, "class label").astype(np.uint8)
        _check_shape(sp, sem, img, "class label")
        _check_classes(sp, sem, len(VOC_CLASSES))
        op = os.path.join(self.root, "SegmentationObject", iid + ".png")
        inst = None
        if os.path.exists(op):
            inst = _read_label_png(op, "object label").astype(np.uint16)
            _check_shape(op, inst, img, "object label")
            inst[inst == 255] = 0
        return img, sem, inst

    def __getitem__(self, i: int):
        return self.load(self.ids[i])

    def describe(self) -> dict:
        return {"kind": "voc", "root": self.root, "split": self.split}


def sbd_root(root: str) -> str:
    for cand in (root, os.path.join(root, "dataset"), os.path.join(root, "benchmark_RELEASE", "dataset")):
        if os.path.isdir(os.path.join(cand, "cls")) and os.path.isdir(os.path.join(cand, "img")):
            return cand
    raise DatasetError(f"{root}: not an SBD root (no cls/ and img/ here, in dataset/ or in "
                       f"benchmark_RELEASE/dataset/)")


def read_sbd_mat(path: str, struct: str) -> np.ndarray:
    """``struct.Segmentation`` of an SBD ``.mat`` file (GTcls in cls/, GTinst in inst/)."""
    import scipy.io

    if not os.path.exists(path):
        raise DatasetError(f"{path}: SBD label missing")
    try:
        m = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except Exception as e:
        raise DatasetError(f"{path}: cannot read .mat file: {e}") from e
    if struct not in m:
        raise DatasetError(f"{path}: no struct {struct!r} (has {sorted(k for k in m if not k.startswith('__'))})")
    seg = getattr(m[struct], "Segmentation", None)
    if seg is None:
        raise DatasetError(f"{path}: struct {struct} has no field Segmentation")
    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise DatasetError(f"{path}: {struct}.Segmentation must be 2-D, got shape {seg.shape}")
    return seg


class SBDDataset:
    infinite = False
    fill_void = True  # SBD has no void band; harmless

    def __init__(self, root: str, split: str = "train", ids: list[str] | None = None):
        self.root = sbd_root(root)
        if split not in ("train", "val"):
            raise DatasetError(f"sbd split must be train or val, not {split!r}")
        self.split = split
        self.class_names = list(VOC_CLASSES)
        self.ids = list(ids) if ids is not None else _read_ids(os.path.join(self.root, f"{split}.txt"))

    def __len__(self) -> int:
        return len(self.ids)

    def name(self, i: int) -> str:
        return self.ids[i] + ".jpg"

    def load(self, iid: str, img=None):
        if img is None:
            img = _read_rgb(os.path.join(self.root, "img", iid + ".jpg"))
        cp = os.path.join(self.root, "cls", iid + ".mat")
        sem = read_sbd_mat(cp, "GTcls")
        _check_shape(cp, sem, img, "GTcls.Segmentation")
        _check_classes(cp, sem, len(VOC_CLASSES))
        sem = sem.astype(np.uint8)
        ip = os.path.join(self.root, "inst", iid + ".mat")
        inst = None
        if os.path.exists(ip):
            inst = read_sbd_mat(ip, "GTinst")
            _check_shape(ip, inst, img, "GTinst.Segmentation")
            inst = inst.astype(np.uint16)
            inst[inst == 255] = 0
        return img, sem, inst

    def __getitem__(self, i: int):
        return self.load(self.ids[i])

    def describe(self) -> dict:
        return {"kind": "sbd", "root": self.root, "split": self.split}


class TrainAugDataset:
    """(VOC train + SBD train + SBD val) - VOC val; VOC labels where VOC has them."""

    infinite = False
    fill_void = True

    def __init__(self, voc: str, sbd: str):
        self.voc_root, self.sbd_root = voc_root(voc), sbd_root(sbd)
        self.class_names = list(VOC_CLASSES)
        voc_train = set(voc_split_ids(self.voc_root, "train"))
        voc_val = set(voc_split_ids(self.voc_root, "val"))
        sbd_all = set(_read_ids(os.path.join(self.sbd_root, "train.txt"))) | \
            set(_read_ids(os.path.join(self.sbd_root, "val.txt")))
        self.ids = sorted((voc_train | sbd_all) - voc_val)
        self._voc = VOCDataset(self.voc_root, "train", ids=[])
        self._sbd = SBDDataset(self.sbd_root, "train", ids=[])
        self.source = {}
        for iid in self.ids:
            if os.path.exists(os.path.join(self.voc_root, "SegmentationClass", iid + ".png")):
                self.source[iid] = "voc"
            elif os.path.exists(os.path.join(self.sbd_root, "cls", iid + ".mat")):
                self.source[iid] = "sbd"
            else:
                raise DatasetError(f"{iid}: in trainaug but neither {self.voc_root}/SegmentationClass/{iid}.png "
                                   f"nor {self.sbd_root}/cls/{iid}.mat exists")

    def __len__(self) -> int:
        return len(self.ids)

    def name(self, i: int) -> str:
        return self.ids[i] + ".jpg"

    def __getitem__(self, i: int):
        iid = self.ids[i]
        if self.source[iid] == "voc":
            return self._voc.load(iid)
        vimg = os.path.join(self.voc_root, "JPEGImages", iid + ".jpg")
        img = _read_rgb(vimg) if os.path.exists(vimg) else None
        return self._sbd.load(iid, img)

    def describe(self) -> dict:
        n_voc = sum(1 for s in self.source.values() if s == "voc")
        return {"kind": "trainaug", "voc_root": self.voc_root, "sbd_root": self.sbd_root,
                "labels_from_voc": n_voc, "labels_from_sbd": len(self.ids) - n_voc}


class COCODataset:
    infinite = False
    fill_void = False  # 255 = crowd: ignored, never filled

    def __init__(self, ann_file: str, image_dir: str | None = None):
        import contextlib
        import io

        from pycocotools.coco import COCO

        if not os.path.exists(ann_file):
            raise DatasetError(f"{ann_file}: COCO annotation file missing")
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self.coco = COCO(ann_file)
        except Exception as e:
            raise DatasetError(f"{ann_file}: not a COCO instances file: {e}") from e
        for key in ("images", "annotations", "categories"):
            if key not in self.coco.dataset:
                raise DatasetError(f"{ann_file}: no {key!r} list")
        self.ann_file = ann_file
        self.image_dir = image_dir or os.path.join(os.path.dirname(ann_file), "images")
        if not os.path.isdir(self.image_dir):
            raise DatasetError(f"{self.image_dir}: image directory missing")
        cats = sorted(self.coco.getCatIds())
        self.cat_ids = cats
        self.cat_to_label = {c: i + 1 for i, c in enumerate(cats)}
        self.class_names = [self.coco.cats[c]["name"] for c in cats]
        if len(cats) > 254:
            raise DatasetError(f"{ann_file}: {len(cats)} categories; at most 254 fit the u8 class map")
        self.ids = sorted(self.coco.getImgIds())
        for a in self.coco.dataset["annotations"]:
            if a.get("category_id") not in self.cat_to_label:
                raise DatasetError(f"{ann_file}: annotation {a.get('id')} has unknown category_id "
                                   f"{a.get('category_id')}")

    def __len__(self) -> int:
        return len(self.ids)

    def name(self, i: int) -> str:
        return self.coco.imgs[self.ids[i]]["file_name"]

    def ordered_anns(self, image_id: int) -> list[dict]:
        """Non-crowd annotations in painting order (decreasing area, ties by id), then crowd."""
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=image_id))
        plain = sorted((a for a in anns if not a.get("iscrowd", 0)), key=lambda a: (-float(a.get("area", 0)), a["id"]))
        crowd = sorted((a for a in anns if a.get("iscrowd", 0)), key=lambda a: a["id"])
        return plain + crowd

    def __getitem__(self, i: int):
        info = self.coco.imgs[self.ids[i]]
        path = os.path.join(self.image_dir, info["file_name"])
        img = _read_rgb(path)
        h, w = img.shape[:2]
        if (info.get("height"), info.get("width")) not in ((h, w), (None, None)):
            raise DatasetError(f"{path}: image is {w}x{h} but {self.ann_file} says "
                               f"{info.get('width')}x{info.get('height')}")
        sem = np.zeros((h, w), np.uint8)
        inst = np.zeros((h, w), np.uint16)
        k = 0
        for a in self.ordered_anns(info["id"]):
            try:
                m = self.coco.annToMask(a).astype(bool)
            except Exception as e:
                raise DatasetError(f"{self.ann_file}: annotation {a['id']}: bad segmentation: {e}") from e
            if a.get("iscrowd", 0):
                sem[m] = 255
                inst[m] = 0
            else:
                k += 1
                sem[m] = self.cat_to_label[a["category_id"]]
                inst[m] = k
        return img, sem, inst

    def describe(self) -> dict:
        return {"kind": "coco", "annotations": self.ann_file, "image_dir": self.image_dir}


class FolderDataset:
    infinite = False
    fill_void = True

    def __init__(self, root: str):
        self.root = root
        cp = os.path.join(root, "classes.txt")
        if not os.path.exists(cp):
            raise DatasetError(f"{cp}: classes.txt missing (one foreground class name per line)")
        with open(cp) as f:
            names = [l.strip() for l in f if l.strip()]
        if names and names[0].lower() in ("background", "_background_", "__background__"):
            names = names[1:]
        if not names:
            raise DatasetError(f"{cp}: no class names")
        if len(set(names)) != len(names):
            raise DatasetError(f"{cp}: duplicate class names")
        self.class_names = names
        idir, mdir = os.path.join(root, "images"), os.path.join(root, "masks")
        for d in (idir, mdir):
            if not os.path.isdir(d):
                raise DatasetError(f"{d}: directory missing")
        self.images = {}
        for n in sorted(os.listdir(idir)):
            stem, ext = os.path.splitext(n)
            if ext.lower() in IMAGE_EXTS:
                if stem in self.images:
                    raise DatasetError(f"{os.path.join(idir, n)}: two images with stem {stem!r}")
                self.images[stem] = n
        if not self.images:
            raise DatasetError(f"{idir}: no images ({', '.join(IMAGE_EXTS)})")
        for stem in self.images:
            mp = os.path.join(mdir, stem + ".png")
            if not os.path.exists(mp):
                raise DatasetError(f"{mp}: mask missing for image {self.images[stem]}")
        self.ids = list(self.images)
        self.has_instances = os.path.isdir(os.path.join(root, "instances"))

    def __len__(self) -> int:
        return len(self.ids)

    def name(self, i: int) -> str:
        return self.images[self.ids[i]]

    def __getitem__(self, i: int):
        stem = self.ids[i]
        img = _read_rgb(os.path.join(self.root, "images", self.images[stem]))
        mp = os.path.join(self.root, "masks", stem + ".png")
        sem = _read_label_png(mp, "mask")
        _check_shape(mp, sem, img, "mask")
        _check_classes(mp, sem, len(self.class_names))
        sem = sem.astype(np.uint8)
        inst = None
        if self.has_instances:
            ip = os.path.join(self.root, "instances", stem + ".png")
            if os.path.exists(ip):
                inst = _read_label_png(ip, "instance map").astype(np.uint16)
                _check_shape(ip, inst, img, "instance map")
        return img, sem, inst

    def describe(self) -> dict:
        return {"kind": "folder", "root": self.root, "instances": self.has_instances}


def open_dataset(spec: str, seed: int = 0, size: int = 256, split: str = "train"):
    """Open ``--data SPEC`` (module docstring). Old forms still work: a bare VOC root, and
    ``ann.json[:IMAGE_DIR]`` for COCO."""
    if spec in ("procedural", "", None):
        return ProceduralDataset(seed, size)
    kind, sep, rest = spec.partition(":")
    if kind == "procedural":
        try:
            return ProceduralDataset(int(rest), size)
        except ValueError:
            raise DatasetError(f"procedural:SEED needs an integer seed, got {rest!r}") from None
    if kind == "voc" and sep:
        return VOCDataset(rest, split)
    if kind == "sbd" and sep:
        return SBDDataset(rest, split)
    if kind == "trainaug" and sep:
        voc, comma, sbd = rest.partition(",")
        if not comma:
            raise DatasetError(f"trainaug needs VOC_ROOT,SBD_ROOT, got {rest!r}")
        return TrainAugDataset(voc, sbd)
    if kind == "folder" and sep:
        return FolderDataset(rest)
    if kind == "coco" and sep:
        ann, _, imgdir = rest.partition(".json:")
        return COCODataset(ann + ".json" if imgdir else rest, imgdir or None)
    ann, _, imgdir = spec.partition(".json:")
    if spec.endswith(".json") or imgdir:
        return COCODataset(ann + ".json" if imgdir else spec, imgdir or None)
    if os.path.isdir(spec):
        try:
            return VOCDataset(spec, split)
        except DatasetError:
            pass
    raise DatasetError(f"cannot tell the dataset kind of {spec!r}; use procedural[:SEED], voc:ROOT, sbd:ROOT, "
                       f"trainaug:VOC_ROOT,SBD_ROOT, coco:ANN.json:IMAGE_DIR or folder:ROOT")


def gt_instances(ds, i: int, sample=None) -> list[dict]:
    """Ground-truth instances of sample ``i`` for evaluation: ``{mask, category (1..K), iscrowd}``.
    COCO: from its annotations (crowd kept as iscrowd); others: one per instance id, its class
    the most common labelled class under it; samples without instance ids: one per connected
    component of each class."""
    if isinstance(ds, COCODataset):
        info = ds.coco.imgs[ds.ids[i]]
        out = []
        for a in ds.ordered_anns(info["id"]):
            out.append({"mask": ds.coco.annToMask(a).astype(bool), "category": ds.cat_to_label[a["category_id"]],
                        "iscrowd": int(bool(a.get("iscrowd", 0)))})
        return out
    img, sem, inst = sample if sample is not None else ds[i]
    out = []
    if inst is not None:
        for k in np.unique(inst):
            if k == 0:
                continue
            m = inst == k
            cls = sem[m]
            cls = cls[(cls != 0) & (cls != 255)]
            if cls.size == 0:
                continue
            out.append({"mask": m, "category": int(np.bincount(cls).argmax()), "iscrowd": 0})
        return out
    for c in np.unique(sem):
        if c in (0, 255):
            continue
        n, cc = cv2.connectedComponents((sem == c).astype(np.uint8), connectivity=8)
        for k in range(1, n):
            out.append({"mask": cc == k, "category": int(c), "iscrowd": 0})
    return out
