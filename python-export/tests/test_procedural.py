"""The procedural scene generator and its COCO writer."""

import json

import numpy as np
from pycocotools import mask as mask_utils

from baiseg_export.data.procedural import make_scene, write_dataset
from baiseg_export.targets import instance_contours, semantic_contours


def test_deterministic_and_seed_dependent():
    a, b, c = make_scene(3, 5, 128), make_scene(3, 5, 128), make_scene(4, 5, 128)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.instances, b.instances)
    assert not np.array_equal(a.image, c.image)


def test_scene_consistency():
    touching = 0
    for i in range(6):
        sc = make_scene(0, i, 128)
        assert sc.image.shape == (128, 128, 3) and sc.image.dtype == np.uint8
        ids = np.unique(sc.instances)
        assert set(ids) - {0} == set(range(1, len(sc.classes) + 1))
        lut = np.array([0] + sc.classes)
        assert np.array_equal(lut[sc.instances], sc.semantic)
        # same-class instances touching: instance edges that are not class edges
        touching += int(((instance_contours(sc.semantic, sc.instances) == 1) &
                         (semantic_contours(sc.semantic) == 0)).sum() > 0)
    assert touching >= 2


def test_write_dataset_coco(tmp_path):
    gt = write_dataset(str(tmp_path), seed=7, num=3, size=96)
    with open(tmp_path / "annotations.json") as f:
        assert json.load(f) == gt
    assert [c["id"] for c in gt["categories"]] == [1, 2, 3]
    assert len(gt["images"]) == 3 and (tmp_path / "images" / "000000.png").exists()
    for a in gt["annotations"]:
        assert a["iscrowd"] == 0
        rle = dict(a["segmentation"], counts=a["segmentation"]["counts"].encode())
        assert a["area"] == float(mask_utils.area(rle)) > 0
        assert rle["size"] == [96, 96]
    ids = [a["id"] for a in gt["annotations"]]
    assert len(set(ids)) == len(ids)
