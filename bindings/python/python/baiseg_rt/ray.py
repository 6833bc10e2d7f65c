"""Ray Data pipeline: images -> actors (one model each) -> COCO results shards -> merge -> eval.

    import ray, baiseg_rt.ray as bray
    ray.init()
    report = bray.run("model.onnx", "images/", "out/", coco="annotations.json",
                      concurrency=2, num_cpus=1)

Each actor loads the model once (``Segmenter``), runs ``Model.infer`` on its batches and writes one
COCO results JSON shard per batch (``out/shards/*.json``, written atomically); only small rows
(image id, counts, timings) travel back through the object store. ``merge_shards`` concatenates
the shards in image order into ``out/instances.json`` -- the same records as
``baiseg-rt infer`` -- and, with ``coco``, evaluates them with ``baiseg_rt.Evaluator``.

Decoding: ``reader="pil"`` uses ``ray.data.read_images(mode="RGB")`` (PIL; identical pixels to the
CLI for 8-bit PNG, but no EXIF orientation and different 16-bit scaling), ``reader="rust"`` reads
bytes with ``ray.data.read_binary_files`` and decodes them in the actor with the CLI's decoder
(identical for every format). Zip archives are always read as bytes (``reader="rust"``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import uuid
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

import baiseg_rt


PathLike = Union[str, "os.PathLike[str]"]


def _as_list(inputs: Union[PathLike, Sequence[PathLike]]) -> List[PathLike]:
    return [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)


def list_images(inputs: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    """Files, directories (recursive, sorted) and ``.zip`` archives, in the CLI's order: the
    library's one listing rule (``baiseg_rt.list_inputs``). Zip members are named
    ``archive.zip!member``."""
    return [path for path, _, _, _ in baiseg_rt.list_inputs(_as_list(inputs))]


class Segmenter:
    """Ray Data callable class: loads the model once per actor, segments batches, writes shards.

    Input batches have ``image`` (RGB arrays, ``reader="pil"``) or ``bytes`` (``reader="rust"``)
    and ``path``. Output rows: ``image_id``, ``name``, ``instances``, ``shard``, and the actor's
    cumulative seconds in the model/MEP (``t_model``) for overhead accounting.
    """

    def __init__(
        self,
        model: str,
        shard_dir: str,
        image_ids: Dict[str, int],
        category_ids: List[Optional[int]],
        names: Dict[str, str],
        device: str = "cpu",
        threads: Optional[int] = None,
        mep_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        if threads:
            os.environ.setdefault("RAYON_NUM_THREADS", str(threads))
        self.model = baiseg_rt.Model(model, device=device, threads=threads)
        self.shard_dir = shard_dir
        self.image_ids = image_ids
        self.category_ids = category_ids
        self.names = names
        self.mep_params = mep_params or {}
        self.actor = uuid.uuid4().hex[:12]
        self.seq = 0

    def _key(self, path: str) -> str:
        # Ray may report local paths with a scheme or without the leading slash.
        if path in self.image_ids:
            return path
        p = path[len("local://") :] if path.startswith("local://") else path
        for cand in (p, "/" + p.lstrip("/")):
            if cand in self.image_ids:
                return cand
        raise KeyError(f"{path}: not among the planned inputs")

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        paths = [str(p) for p in batch["path"]]
        if "image" in batch:
            images = [np.asarray(im) for im in batch["image"]]
        else:
            images = [baiseg_rt.decode_image(bytes(b), p) for b, p in zip(batch["bytes"], paths)]
        results = self.model.infer(images, batch_size=1, **self.mep_params)
        records: List[Dict[str, Any]] = []
        ids, names, counts = [], [], []
        for path, insts in zip(paths, results):
            key = self._key(path)
            image_id = self.image_ids[key]
            name = self.names[key]
            recs = baiseg_rt.to_coco_results(insts, image_id, self.category_ids, file_name=name)
            records.extend(recs)
            ids.append(image_id)
            names.append(name)
            counts.append(len(recs))
        self.seq += 1
        # Named by content (the batch's image ids), so a retried batch overwrites its own shard.
        digest = hashlib.sha1(",".join(map(str, ids)).encode()).hexdigest()[:10]
        shard = os.path.join(self.shard_dir, f"part-{min(ids):012d}-{len(ids)}-{digest}.json")
        tmp = f"{shard}.{self.actor}.tmp"
        with open(tmp, "w") as f:
            json.dump(records, f)
        os.replace(tmp, shard)
        t = self.model.times()
        n = len(paths)
        return {
            "image_id": np.array(ids, dtype=np.int64),
            "name": np.array(names, dtype=object),
            "instances": np.array(counts, dtype=np.int64),
            "shard": np.array([shard] * n, dtype=object),
            "actor": np.array([self.actor] * n, dtype=object),
            "t_model": np.array([t["ort"] + t["mep"]] * n, dtype=np.float64),
        }


def merge_shards(shard_dir: PathLike, out_path: PathLike) -> List[Dict[str, Any]]:
    """Concatenates the shard files into one COCO results list, ordered by image id (stable
    inside an image: MEP order; an image found in several shards is taken from the first), and
    writes it to ``out_path`` atomically."""
    records: List[Dict[str, Any]] = []
    owner: Dict[int, str] = {}
    for f in sorted(os.listdir(shard_dir)):
        if f.endswith(".json"):
            with open(os.path.join(shard_dir, f)) as fh:
                for r in json.load(fh):
                    # An image in two shards (a batch retried with other block boundaries) counts once.
                    if owner.setdefault(r["image_id"], f) == f:
                        records.append(r)
    records.sort(key=lambda r: r["image_id"])
    out_path = os.fspath(out_path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(out_path)) or ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(records, f)
    os.replace(tmp, out_path)
    return records


def run(
    model: PathLike,
    inputs: Union[PathLike, Sequence[PathLike]],
    out_dir: PathLike,
    coco: Optional[PathLike] = None,
    *,
    concurrency: int = 2,
    num_cpus: float = 1,
    num_gpus: float = 0,
    batch_size: int = 4,
    device: str = "cpu",
    threads: Optional[int] = 1,
    reader: str = "pil",
    mep_params: Optional[Dict[str, Any]] = None,
    iou_type: str = "segm",
) -> Dict[str, Any]:
    """Runs the whole pipeline on the current Ray cluster (``ray.init()`` first).

    Args:
        model: the ``.onnx`` file (must be readable on every node).
        inputs: image files, directories or zip archives.
        out_dir: gets ``shards/``, ``instances.json`` and, with ``coco``, ``eval.json``.
        coco: annotation file for image/category ids (as ``infer --coco``) and evaluation.
        concurrency: number of actors; ``num_cpus``/``num_gpus``: resources per actor.
        batch_size: images per ``map_batches`` call (ONNX Runtime still runs one image at a time,
            as the CLI's default, so results are identical).
        device, threads: per-actor ``Model`` options (``threads`` also sizes the MEP pool).
        reader: ``"pil"`` (``read_images``) or ``"rust"`` (bytes + the CLI's decoder).

    Returns a dict with ``images``, ``instances``, ``wall_s``, ``model_s`` (model + MEP seconds
    summed over actors), ``outside_share`` and, with ``coco``, ``eval`` (``Evaluator.summarize()``).
    """
    import ray
    import ray.data

    out_dir = os.path.abspath(os.fspath(out_dir))
    shard_dir = os.path.join(out_dir, "shards")
    os.makedirs(shard_dir, exist_ok=True)
    for f in os.listdir(shard_dir):
        if f.endswith(".json") or f.endswith(".tmp"):
            os.remove(os.path.join(shard_dir, f))
    roots = [os.path.abspath(os.fspath(p)) for p in _as_list(inputs)]
    # The library lists the inputs and gives their ids (as `infer --coco`: relative path first,
    # ambiguous base names and ids taken twice refused).
    listed = baiseg_rt.list_inputs(roots, coco)
    if not listed:
        raise baiseg_rt.InvalidInputError("inputs: no images found")
    names = {path: name for path, name, _, _ in listed}
    image_ids = {path: i for path, _, i, _ in listed if i is not None}
    paths = [path for path, _, i, _ in listed if i is not None]
    category_ids = _category_ids(os.fspath(model), None if coco is None else os.fspath(coco))

    zipped = any("!" in p for p in paths)
    if reader == "pil" and not zipped:
        ds = ray.data.read_images(paths, mode="RGB", include_paths=True)
    elif reader in ("rust", "pil"):
        if zipped:
            ds = ray.data.from_items([{"path": p, "bytes": _read_member(p)} for p in paths])
        else:
            ds = ray.data.read_binary_files(paths, include_paths=True)
    else:
        raise baiseg_rt.InvalidInputError(f"reader: expected 'pil' or 'rust', got {reader!r}")

    t0 = time.perf_counter()
    out = ds.map_batches(
        Segmenter,
        fn_constructor_kwargs=dict(
            model=os.path.abspath(os.fspath(model)),
            shard_dir=shard_dir,
            image_ids=image_ids,
            category_ids=category_ids,
            names=names,
            device=device,
            threads=threads,
            mep_params=mep_params,
        ),
        batch_size=batch_size,
        concurrency=concurrency,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        batch_format="numpy",
    ).take_all()
    wall = time.perf_counter() - t0

    records = merge_shards(shard_dir, os.path.join(out_dir, "instances.json"))
    per_actor: Dict[str, float] = {}
    for row in out:
        per_actor[row["actor"]] = max(per_actor.get(row["actor"], 0.0), float(row["t_model"]))
    model_s = sum(per_actor.values())
    report: Dict[str, Any] = {
        "images": len(out),
        "instances": len(records),
        "actors": len(per_actor),
        "wall_s": wall,
        "images_per_s": len(out) / wall if wall > 0 else float("nan"),
        "model_s": model_s,
        "outside_share": max(0.0, 1.0 - model_s / (wall * max(1, concurrency))),
    }
    if coco is not None:
        ev = baiseg_rt.Evaluator(coco, iou_type=iou_type)
        ev.add_results(records)
        report["eval"] = ev.summarize()
        with open(os.path.join(out_dir, "eval.json"), "w") as f:
            json.dump(report["eval"], f, indent=1)
    return report


def _category_ids(model: str, coco: Optional[str]) -> List[Optional[int]]:
    # Class names come from the model's metadata; loading the model here also checks it early.
    m = baiseg_rt.Model(model, threads=1)
    return m.category_ids(coco)


def _read_member(path: str) -> bytes:
    archive, member = path.split("!", 1)
    with zipfile.ZipFile(archive) as z:
        return z.read(member)


__all__ = ["Segmenter", "list_images", "merge_shards", "run"]
