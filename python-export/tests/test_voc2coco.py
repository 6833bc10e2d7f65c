"""voc2coco on the real VOC photos (labelme polygons rasterised with VOC's void band), and
``evaluate --semantic-gt`` on .jpg images."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

import fakedata
from baiseg_export.data.voc2coco import main as voc2coco_main
from baiseg_export.data.voc2coco import voc_to_coco


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return fakedata.make_voc(tmp_path_factory.mktemp("voc"))


def test_voc2coco_instances_classes_and_void(voc, tmp_path):
    out = tmp_path / "gt.json"
    voc2coco_main([str(voc), "--split", "trainval", "--out", str(out), "--semantic-out", str(tmp_path / "sem")])
    gt = json.loads(out.read_text())
    assert [c["id"] for c in gt["categories"]] == list(range(1, 21))
    assert gt["categories"][14]["name"] == "person"
    assert [i["file_name"] for i in gt["images"]] == ["2011_000003.jpg", "2011_000006.jpg", "2011_000025.jpg"]
    assert all((voc / "JPEGImages" / i["file_name"]).exists() for i in gt["images"])
    labelme = json.loads(fakedata.LABELME_JSON.read_text())
    assert len(gt["annotations"]) == len(labelme["annotations"]) == 12
    for img in gt["images"]:
        stem = Path(img["file_name"]).stem
        sem = np.array(Image.open(voc / "SegmentationClass" / f"{stem}.png"))
        obj = np.array(Image.open(voc / "SegmentationObject" / f"{stem}.png"))
        anns = [a for a in gt["annotations"] if a["image_id"] == img["id"]]
        union = np.zeros(sem.shape, bool)
        for a in anns:
            m = mask_utils.decode(a["segmentation"]).astype(bool)
            assert not (union & m).any()  # one object id -> one instance, disjoint
            union |= m
            assert a["area"] == m.sum() and a["iscrowd"] == 0
            k = int(np.unique(obj[m])[0])
            assert (obj == k).sum() == m.sum() and set(np.unique(sem[m])) == {a["category_id"]}
        assert not (union & (sem == 255)).any()  # the void band is in no instance
        sem_png = np.array(Image.open(tmp_path / "sem" / f"{stem}.png"))
        assert sem_png.ndim == 2 and np.array_equal(sem_png, sem)
    # each instance matches the labelme polygon it came from (the band removes only its rim)
    lm_img = {i["id"]: Path(i["file_name"]).stem for i in labelme["images"]}
    our_img = {Path(i["file_name"]).stem: i["id"] for i in gt["images"]}
    for la in labelme["annotations"]:
        h = next(i["height"] for i in labelme["images"] if i["id"] == la["image_id"])
        w = next(i["width"] for i in labelme["images"] if i["id"] == la["image_id"])
        rles = mask_utils.frPyObjects(la["segmentation"], h, w)
        lm = mask_utils.merge(rles) if isinstance(rles, list) else rles
        ours = [a for a in gt["annotations"] if a["image_id"] == our_img[lm_img[la["image_id"]]]]
        best = max(mask_utils.iou([a["segmentation"]], [lm], [0])[0][0] for a in ours)
        if la["area"] > 2000:
            assert best > 0.8, la["id"]


def test_voc2coco_errors(voc, tmp_path):
    with pytest.raises(Exception, match="split must be"):
        voc_to_coco(str(voc), "test")
    with pytest.raises(SystemExit, match="not a VOC 2012 root"):
        voc2coco_main([str(tmp_path), "--out", str(tmp_path / "x.json")])


def test_evaluate_semantic_gt_on_jpg_images(voc, tmp_path):
    from baiseg_export.evaluate import evaluate

    model = fakedata.REPO / "fixtures" / "models" / "tiny.onnx"
    gt = tmp_path / "gt.json"
    voc2coco_main([str(voc), "--split", "val", "--out", str(gt), "--semantic-out", str(tmp_path / "sem")])
    s = evaluate(str(model), str(tmp_path), images_dir=str(voc / "JPEGImages"), gt_path=str(gt), semantic_gt=True,
                 semantic_dir=str(voc / "SegmentationClass"), results_out=str(tmp_path / "dt.json"), verbose=False)
    assert s["semantic"] == "gt" and s["images"] == 1
    dt = json.loads((tmp_path / "dt.json").read_text())
    # classes come from the GT class map (VOC ids of this image), not the class-agnostic fallback (1)
    assert dt and {d["category_id"] for d in dt} <= {9, 15, 18}
    # an image without its class map is an error naming the file
    with pytest.raises(FileNotFoundError, match=r"2011_000006\.png: GT class map missing"):
        evaluate(str(model), str(tmp_path), images_dir=str(voc / "JPEGImages"), gt_path=str(gt), semantic_gt=True,
                 semantic_dir=str(tmp_path / "nowhere"), verbose=False)
