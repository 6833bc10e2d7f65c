"""VOC mAP (chainercv semantics) on hand-made instances; COCO AP sanity."""

import numpy as np
import pytest

from baiseg_export.metrics import coco_ap, voc_map


def _box(y0, x0, y1, x1, shape=(20, 20)):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_perfect_predictions_score_one():
    g = [[{"mask": _box(0, 0, 5, 5), "category": 1}, {"mask": _box(10, 10, 20, 20), "category": 2}]]
    p = [[dict(x, score=0.9) for x in g[0]]]
    r = voc_map(g, p, [(20, 20)])
    assert r == {"mAP@0.25": 1.0, "mAP@0.5": 1.0, "mAP@0.7": 1.0, "mAP@0.75": 1.0}
    assert coco_ap(g, p, [(20, 20)], 2)["segm_AP"] == pytest.approx(1.0)


def test_false_positive_first_duplicate_and_threshold():
    gt = _box(0, 0, 10, 10)
    g = [[{"mask": gt, "category": 1}]]
    p = [[{"mask": _box(12, 12, 20, 20), "category": 1, "score": 0.9},  # FP (no overlap)
          {"mask": gt, "category": 1, "score": 0.8},  # TP
          {"mask": gt, "category": 1, "score": 0.7}]]  # duplicate of a taken GT: FP
    # precision [0, 1/2, 1/3] at recall [0, 1, 1]: all-point AP = 1/2
    assert voc_map(g, p, [(20, 20)])["mAP@0.5"] == pytest.approx(0.5)
    # IoU 0.6 (60 of 100 px): TP at 0.25 and 0.5, FP at 0.7 and 0.75
    q = [[{"mask": _box(0, 0, 6, 10), "category": 1, "score": 0.5}]]
    r = voc_map(g, q, [(20, 20)])
    assert r["mAP@0.5"] == 1.0 and r["mAP@0.7"] == 0.0


def test_classes_without_gt_are_left_out_and_crowd_is_difficult():
    g = [[{"mask": _box(0, 0, 10, 10), "category": 1},
          {"mask": _box(10, 10, 20, 20), "category": 2, "iscrowd": 1}]]
    p = [[{"mask": _box(0, 0, 10, 10), "category": 1, "score": 0.9},
          {"mask": _box(10, 10, 20, 20), "category": 2, "score": 0.8},  # on a crowd GT: ignored
          {"mask": _box(0, 10, 5, 20), "category": 3, "score": 0.7}]]  # class 3 has no GT: NaN, left out
    assert voc_map(g, p, [(20, 20)])["mAP@0.5"] == 1.0
