"""Full-pipeline evaluation: ONNX Runtime (CPU) + the Python reference MEP + pycocotools segm AP.

    python -m baiseg_export.evaluate --model models/baiseg_small.onnx --data DIR [--json OUT.json]

``DIR`` holds ``images/`` and ``annotations.json`` (as written by
``python -m baiseg_export.data.procedural``). Each image is normalised with the model's
mean/std, padded bottom/right to the size divisor (with the mean colour, i.e. zeros after
normalisation), run through the graph, cropped back, and handed to
``baiseg_export.reference.mep.mep`` (docs/mep.md#parameters defaults) with the semantic probabilities.
Predicted classes are mapped to the GT categories by name. ``--semantic-gt`` feeds the GT class
maps to the MEP instead of the model's semantic output (the paper's "Semantic_gd" setting), which
isolates the boundary branch: ``<semantic dir>/<image stem>.png`` (``DIR/semantic`` unless
``--semantic-dir``; e.g. VOC's ``SegmentationClass`` or ``voc2coco --semantic-out``), read as
class indices (palette PNGs keep their indices; 255 = void, never foreground). An image without
its class map is an error, never a silent class-agnostic run. ``--images`` / ``--gt`` override
``DIR/images`` and ``DIR/annotations.json`` (e.g. ``VOC2012/JPEGImages`` and voc2coco's gt.json).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import time

import cv2
import numpy as np

from . import contract as C


class OnnxModel:
    def __init__(self, path: str, threads: int = 2):
        import onnx
        import onnxruntime as ort

        meta = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
        missing = [k for k in C.REQUIRED_METADATA if k not in meta]
        if missing:
            raise ValueError(f"{path}: metadata missing {missing}")
        self.meta = meta
        self.classes = json.loads(meta[C.META_CLASSES])
        self.mean = np.asarray(json.loads(meta[C.META_MEAN]), np.float32)
        self.std = np.asarray(json.loads(meta[C.META_STD]), np.float32)
        self.divisor = int(meta[C.META_SIZE_DIVISOR])
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.sess.get_outputs()]

    def __call__(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        """RGB u8 HxWx3 -> {'boundary': HxW, 'semantic': (K+1)xHxW (if the graph has it)}."""
        h, w = rgb.shape[:2]
        x = (rgb.astype(np.float32) / 255.0 - self.mean) / self.std
        ph = (-h) % self.divisor
        pw = (-w) % self.divisor
        x = np.pad(x, ((0, ph), (0, pw), (0, 0)))  # zeros = the mean colour after normalisation
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        outs = dict(zip(self.outputs, self.sess.run(None, {C.INPUT_NAME: x})))
        res = {"boundary": outs[C.BOUNDARY_NAME][0, 0, :h, :w]}
        if C.SEMANTIC_NAME in outs:
            res["semantic"] = outs[C.SEMANTIC_NAME][0, :, :h, :w]
        return res


def semantic_map_path(semantic_dir: str, file_name: str) -> str:
    """``<semantic_dir>/<stem of file_name>.png`` (file_name may be ``x.jpg`` or ``sub/x.png``)."""
    return os.path.join(semantic_dir, os.path.splitext(os.path.basename(file_name))[0] + ".png")


def read_semantic_map(path: str, shape) -> np.ndarray:
    from PIL import Image

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: GT class map missing (--semantic-gt needs one per image)")
    lab = np.array(Image.open(path))
    if lab.ndim != 2:
        raise ValueError(f"{path}: GT class map must be single-channel, got shape {lab.shape}")
    if lab.shape != tuple(shape):
        raise ValueError(f"{path}: GT class map is {lab.shape[1]}x{lab.shape[0]}, image is {shape[1]}x{shape[0]}")
    return lab


def evaluate(model_path: str, data_dir: str, threads: int = 2, semantic_gt: bool = False,
             limit: int | None = None, results_out: str | None = None, verbose: bool = True,
             images_dir: str | None = None, gt_path: str | None = None, semantic_dir: str | None = None,
             **mep_params) -> dict:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from .reference.mep import mep

    model = OnnxModel(model_path, threads)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path or os.path.join(data_dir, "annotations.json"))
    images_dir = images_dir or os.path.join(data_dir, "images")
    semantic_dir = semantic_dir or os.path.join(data_dir, "semantic")
    name_to_cat = {c["name"]: c["id"] for c in gt.loadCats(gt.getCatIds())}
    cat_of_label = {}
    for i, n in enumerate(model.classes, start=1):
        cat_of_label[i] = name_to_cat.get(n, i)
    img_ids = sorted(gt.getImgIds())[:limit] if limit else sorted(gt.getImgIds())
    results = []
    t_model = t_mep = 0.0
    for iid in img_ids:
        info = gt.imgs[iid]
        ipath = os.path.join(images_dir, info["file_name"])
        bgr = cv2.imread(ipath, cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"{ipath}: cannot read image")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        t0 = time.perf_counter()
        out = model(rgb)
        t1 = time.perf_counter()
        if semantic_gt:
            lab = read_semantic_map(semantic_map_path(semantic_dir, info["file_name"]), rgb.shape[:2])
            insts = mep(rgb, out["boundary"], labels=lab, **mep_params)
        else:
            if "semantic" not in out:
                raise ValueError("single-branch model: use --semantic-gt")
            insts = mep(rgb, out["boundary"], out["semantic"], **mep_params)
        t_mep += time.perf_counter() - t1
        t_model += t1 - t0
        for ins in insts:
            results.append({
                "image_id": iid, "category_id": int(cat_of_label.get(ins["category"], ins["category"])),
                "segmentation": ins["rle"], "score": float(ins["score"]),
            })
    if results_out:
        with open(results_out, "w") as f:
            json.dump(results, f)
    stats = [0.0] * 12
    if results:
        with contextlib.redirect_stdout(io.StringIO()) as buf:
            dt = gt.loadRes(results)
            ev = COCOeval(gt, dt, "segm")
            ev.params.imgIds = img_ids
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        if verbose:
            print(buf.getvalue().rstrip())
        stats = [float(s) for s in ev.stats]
    n = len(img_ids)
    summary = {
        "model": model_path, "data": data_dir, "images": n, "instances_gt": len(gt.getAnnIds(imgIds=img_ids)),
        "instances_pred": len(results), "semantic": "gt" if semantic_gt else "model",
        "segm_AP": stats[0], "segm_AP50": stats[1], "segm_AP75": stats[2], "stats": stats,
        "ms_per_image_model": 1000 * t_model / max(n, 1), "ms_per_image_mep": 1000 * t_mep / max(n, 1),
        "mep_params": mep_params,
    }
    return summary


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default=".", help="dir with images/, annotations.json (and semantic/)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--semantic-gt", action="store_true",
                    help="use the GT class maps (<semantic dir>/<stem>.png) instead of the model's semantic map")
    ap.add_argument("--semantic-dir", default=None, help="GT class maps (default DIR/semantic)")
    ap.add_argument("--images", default=None, help="image directory (default DIR/images)")
    ap.add_argument("--gt", default=None, help="COCO GT file (default DIR/annotations.json)")
    ap.add_argument("--limit", type=int, default=None, help="evaluate the first N images only")
    ap.add_argument("--json", default=None, help="write the summary here")
    ap.add_argument("--results", default=None, help="write the COCO results (detections) here")
    ap.add_argument("--edge-threshold", type=float, default=None, help="MEP edge_threshold (default 0.5)")
    ap.add_argument("--seed-distance", type=float, default=None, help="MEP seed_distance (default 3.0)")
    a = ap.parse_args(argv)
    params = {}
    if a.edge_threshold is not None:
        params["edge_threshold"] = a.edge_threshold
    if a.seed_distance is not None:
        params["seed_distance"] = a.seed_distance
    s = evaluate(a.model, a.data, a.threads, a.semantic_gt, a.limit, a.results, images_dir=a.images, gt_path=a.gt,
                 semantic_dir=a.semantic_dir, **params)
    print(f"images {s['images']}  GT instances {s['instances_gt']}  predicted {s['instances_pred']}  "
          f"semantic={s['semantic']}")
    print(f"segm AP {s['segm_AP']:.4f}  AP50 {s['segm_AP50']:.4f}  AP75 {s['segm_AP75']:.4f}  "
          f"({s['ms_per_image_model']:.0f} ms/img model, {s['ms_per_image_mep']:.0f} ms/img MEP)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(s, f, indent=1)


if __name__ == "__main__":
    main()
