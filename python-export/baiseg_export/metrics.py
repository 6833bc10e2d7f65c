"""Instance segmentation metrics used during training (``train --val-data``).

- ``voc_map``: the paper's VOC mAP at IoU 0.25 / 0.5 / 0.7 / 0.75, computed as chainercv's
  ``eval_instance_segmentation_voc`` (docs/evaluation.md#voc, ``--protocol voc-chainercv``): per class,
  detections in decreasing score are matched to their max-IoU GT of that class; a match at or
  above the threshold is a true positive unless that GT was already taken (then a false
  positive) or is "difficult" (crowd here; ignored); all-point AP (VOC 2010+); classes with no
  non-difficult GT and no detections are left out of the mean (NaN).
- ``coco_ap``: pycocotools ``COCOeval`` (segm) on an in-memory GT built from the same instances.

GT and predictions are lists per image of ``{"mask" or "rle", "category", "score", "iscrowd"}``.
"""

from __future__ import annotations

import contextlib
import io
from collections import defaultdict

import numpy as np
from pycocotools import mask as mask_utils

VOC_THRESHOLDS = (0.25, 0.5, 0.7, 0.75)


def _rle(d: dict, h: int, w: int) -> dict:
    if "rle" in d:
        r = dict(d["rle"])
        if isinstance(r["counts"], str):
            r["counts"] = r["counts"].encode("ascii")
        return r
    return mask_utils.encode(np.asfortranarray(d["mask"].astype(np.uint8)))


def _ap_all_point(prec: np.ndarray, rec: np.ndarray) -> float:
    mpre = np.concatenate(([0.0], np.nan_to_num(prec), [0.0]))
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def voc_map(gts: list[list[dict]], preds: list[list[dict]], sizes: list[tuple[int, int]],
            thresholds=VOC_THRESHOLDS) -> dict:
    """``{"mAP@0.25": .., "mAP@0.5": .., ...}`` (chainercv semantics, see module doc)."""
    out = {}
    # IoUs once per image and class (crowd GT counts as difficult)
    per = []
    for g, p, (h, w) in zip(gts, preds, sizes):
        g_rle = [_rle(x, h, w) for x in g]
        p_rle = [_rle(x, h, w) for x in p]
        per.append((g, p, g_rle, p_rle))
    for thr in thresholds:
        n_pos = defaultdict(int)
        score = defaultdict(list)
        match = defaultdict(list)
        for g, p, g_rle, p_rle in per:
            labels = {x["category"] for x in g} | {x["category"] for x in p}
            for l in sorted(labels):
                gi = [k for k, x in enumerate(g) if x["category"] == l]
                pi = [k for k, x in enumerate(p) if x["category"] == l]
                diff = np.array([bool(g[k].get("iscrowd", 0)) for k in gi], bool)
                n_pos[l] += int((~diff).sum())
                if not pi:
                    continue
                order = sorted(pi, key=lambda k: -p[k]["score"])
                score[l].extend(p[k]["score"] for k in order)
                if not gi:
                    match[l].extend([0] * len(order))
                    continue
                iou = mask_utils.iou([p_rle[k] for k in order], [g_rle[k] for k in gi], [0] * len(gi))
                iou = np.asarray(iou).reshape(len(order), len(gi))
                taken = np.zeros(len(gi), bool)
                for r in range(len(order)):
                    j = int(iou[r].argmax())
                    if iou[r, j] >= thr:
                        if diff[j]:
                            match[l].append(-1)
                        elif not taken[j]:
                            taken[j] = True
                            match[l].append(1)
                        else:
                            match[l].append(0)
                    else:
                        match[l].append(0)
        aps = []
        for l in n_pos:
            s = np.array(score[l])
            m = np.array(match[l], np.int8)
            o = np.argsort(-s, kind="mergesort")
            m = m[o]
            tp = np.cumsum(m == 1)
            fp = np.cumsum(m == 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                prec = tp / (fp + tp)
            if n_pos[l] == 0:
                aps.append(np.nan)
                continue
            aps.append(_ap_all_point(prec, tp / n_pos[l]))
        aps = np.array(aps, float)
        out[f"mAP@{thr:g}"] = float(np.nanmean(aps)) if np.isfinite(aps).any() else 0.0
    return out


def coco_ap(gts: list[list[dict]], preds: list[list[dict]], sizes: list[tuple[int, int]], num_classes: int) -> dict:
    """pycocotools segm AP / AP50 / AP75 on in-memory GT (image ids 1..n, category ids 1..K)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, res = [], [], []
    for i, (g, p, (h, w)) in enumerate(zip(gts, preds, sizes), start=1):
        images.append({"id": i, "height": h, "width": w, "file_name": str(i)})
        for x in g:
            r = _rle(x, h, w)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(x["category"]), "segmentation": r,
                         "area": float(mask_utils.area(r)), "bbox": [float(v) for v in mask_utils.toBbox(r)],
                         "iscrowd": int(x.get("iscrowd", 0))})
        for x in p:
            r = _rle(x, h, w)
            res.append({"image_id": i, "category_id": int(x["category"]), "segmentation": r, "score": float(x["score"])})
    if not res or not anns:
        return {"segm_AP": 0.0, "segm_AP50": 0.0, "segm_AP75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": c, "name": str(c)} for c in range(1, num_classes + 1)]}
        gt.createIndex()
        dt = gt.loadRes(res)
        ev = COCOeval(gt, dt, "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    s = [float(v) for v in ev.stats]
    return {"segm_AP": s[0], "segm_AP50": s[1], "segm_AP75": s[2]}
