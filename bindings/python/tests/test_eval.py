import json
from collections import defaultdict

import pytest

import baiseg_rt

from conftest import FIX, run_cli

CASES = [
    ("labelme_voc_3", "annotations.json", "dets_segm.json", "segm"),
    ("labelme_voc_3", "annotations.json", "dets_bbox.json", "bbox"),
    ("stardist_dsb2018_1", "instances.json", "dets_segm.json", "segm"),
]


@pytest.mark.parametrize("case,gt,dets,iou", CASES)
def test_evaluator_equals_cli(case, gt, dets, iou, tmp_path):
    d = FIX / "coco" / case
    out = tmp_path / "eval.json"
    run_cli("-q", "eval", "--coco", d / gt, "--results", d / dets, "--iou-type", iou, "--json", out)
    cli = json.loads(out.read_text())
    # image by image, as a pipeline would feed it
    rows = json.loads((d / dets).read_text())
    by_image = defaultdict(list)
    for r in rows:
        by_image[r["image_id"]].append(r)
    ev = baiseg_rt.Evaluator(d / gt, iou_type=iou)
    # keep file order inside and across images (detection ids follow the order of addition)
    seen = []
    for r in rows:
        if r["image_id"] not in seen:
            seen.append(r["image_id"])
    if [r["image_id"] for r in rows] == sorted(r["image_id"] for r in rows):
        for image_id in seen:
            ev.add(image_id, by_image[image_id])
    else:
        ev.add_results(rows)
    got = ev.summarize()
    assert got["stats"] == cli["stats"]
    assert got["stat_names"] == cli["stat_names"]
    assert got["summary"] == cli["summary"]
    assert got["num_detections"] == cli["num_detections"]
    ref = json.loads((d / "reference_stats.json").read_text())[iou]["pycocotools"]
    assert got["stats"] == ref


def test_add_file_and_errors(tmp_path):
    d = FIX / "coco" / "labelme_voc_3"
    ev = baiseg_rt.Evaluator(d / "annotations.json")
    ev.add_file(d / "dets_segm.json")
    assert len(ev.summarize()["stats"]) == 12
    with pytest.raises(ValueError, match="already summarized"):
        ev.summarize()
    ev = baiseg_rt.Evaluator(d / "annotations.json")
    with pytest.raises(baiseg_rt.CocoError, match="not in the ground truth"):
        ev.add(987654, [{"category_id": 1, "score": 0.5, "bbox": [0, 0, 1, 1]}])
    with pytest.raises(OSError):
        baiseg_rt.Evaluator(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="iou_type"):
        baiseg_rt.Evaluator(d / "annotations.json", iou_type="keypoints")
