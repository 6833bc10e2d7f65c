"""Validation during training (``train --val-data SPEC --val-every N``): the network on full
images (normalised, padded bottom/right to 32 with the mean colour, cropped back), the MEP
(the ``baiseg_rt`` wheel when it is installed, else ``reference.mep``; docs/mep.md#parameters defaults)
on the boundary and semantic probabilities, then COCO segm AP and the paper's VOC mAP at
0.25 / 0.5 / 0.7 / 0.75 (``metrics.py``). Under DDP each rank takes every world_size-th image
and rank 0 gathers the results.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import torch
import torch.nn.functional as F

from .config import IMAGENET_MEAN, IMAGENET_STD
from .data.datasets import gt_instances
from .data.transforms import normalise
from .metrics import coco_ap, voc_map


def mep_backend(name: str = "auto"):
    """``(name, fn)``; fn(image, boundary, semantic) -> list of {category, score, rle}."""
    if name in ("auto", "baiseg_rt"):
        try:
            import baiseg_rt

            def run_rt(img, b, s):
                return [{"category": int(i.category), "score": float(i.score), "rle": i.rle}
                        for i in baiseg_rt.mep(img, b, s)]

            return "baiseg_rt", run_rt
        except ImportError:
            if name == "baiseg_rt":
                raise
    from .reference.mep import mep

    def run_ref(img, b, s):
        return [{"category": int(i["category"]), "score": float(i["score"]), "rle": i["rle"]}
                for i in mep(img, b, s)]

    return "reference", run_ref


@torch.no_grad()
def probabilities(model, rgb: np.ndarray, device, amp_dtype=None, divisor: int = 32):
    h, w = rgb.shape[:2]
    x = torch.from_numpy(normalise(rgb, IMAGENET_MEAN, IMAGENET_STD))[None]
    x = F.pad(x, (0, (-w) % divisor, 0, (-h) % divisor)).to(device)
    ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()
    with ctx:
        out = model(x, with_embedding=False)
    size = x.shape[-2:]
    b = torch.sigmoid(F.interpolate(out["boundary"].float(), size=size, mode="bilinear", align_corners=False))
    s = torch.softmax(F.interpolate(out["semantic"].float(), size=size, mode="bilinear", align_corners=False), 1)
    return b[0, 0, :h, :w].cpu().numpy(), s[0, :, :h, :w].cpu().numpy()


def validate(model, ds, device, amp_dtype=None, limit: int | None = None, rank: int = 0, world: int = 1,
             backend: str = "auto") -> dict | None:
    """Returns the metrics on rank 0 (None elsewhere)."""
    import torch.distributed as dist

    name, run = mep_backend(backend)
    was_training = model.training
    model.eval()
    n = len(ds) if limit is None else min(limit, len(ds))
    local = []
    t0 = time.time()
    for i in range(rank, n, world):
        sample = ds[i]
        img = sample[0]
        b, s = probabilities(model, img, device, amp_dtype)
        preds = run(img, b, s)
        gts = [{"rle": _enc(g["mask"]), "category": g["category"], "iscrowd": g["iscrowd"]}
               for g in gt_instances(ds, i, sample)]
        local.append((i, img.shape[:2], gts, preds))
    if was_training:
        model.train()
    if world > 1:
        gathered = [None] * world if rank == 0 else None
        dist.gather_object(local, gathered, dst=0)
        if rank != 0:
            return None
        local = [x for part in gathered for x in part]
    local.sort(key=lambda x: x[0])
    sizes = [tuple(x[1]) for x in local]
    gts = [x[2] for x in local]
    preds = [x[3] for x in local]
    m = {"val_images": len(local), "val_mep": name, "val_seconds": round(time.time() - t0, 1)}
    m.update(voc_map(gts, preds, sizes))
    m.update(coco_ap(gts, preds, sizes, len(ds.class_names)))
    m["val_instances_gt"] = sum(len(g) for g in gts)
    m["val_instances_pred"] = sum(len(p) for p in preds)
    return m


def _enc(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    r["counts"] = r["counts"].decode("ascii")
    return r
