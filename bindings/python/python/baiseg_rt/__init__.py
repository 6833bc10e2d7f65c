"""baiseg_rt: BAISeg instance segmentation runtime (Rust, via PyO3).

ONNX Runtime inference, the Mask Extraction Pipeline (MEP), pycocotools-compatible RLE helpers and a
streaming COCO evaluator whose numbers equal ``baiseg-rt eval``.

The ONNX Runtime shared library is loaded at the first ``Model``: ``ORT_DYLIB_PATH`` when set,
otherwise the ``onnxruntime`` Python package's ``capi/libonnxruntime.so.*`` when that package is
installed, otherwise the CLI's search (``.ort/``, ``.venv/``, ``BAISEG_ORT_DIR``).
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np


def _default_ort_library() -> Optional[str]:
    """``capi/libonnxruntime.so*`` of the installed ``onnxruntime`` package, without importing it."""
    try:
        spec = importlib.util.find_spec("onnxruntime")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        libs = sorted(glob.glob(os.path.join(root, "capi", "libonnxruntime.so*")))
        libs += sorted(glob.glob(os.path.join(root, "capi", "libonnxruntime*.dylib")))
        libs = [p for p in libs if os.path.isfile(p)]
        if libs:
            # Prefer the fully versioned name (libonnxruntime.so.1.32.0) over a bare .so link.
            return max(libs, key=len)
    return None


if not os.environ.get("ORT_DYLIB_PATH"):
    _lib = _default_ort_library()
    if _lib:
        os.environ["ORT_DYLIB_PATH"] = _lib

from . import _native, rle  # noqa: E402
from ._errors import (  # noqa: E402
    BaisegError,
    BaisegIOError,
    CocoError,
    DecodeError,
    InvalidInputError,
    ModelContractError,
    OrtError,
)
from ._native import Instance  # noqa: E402

__version__: str = _native.__version__

#: The MEP parameters (docs/mep.md) and their defaults, as the CLI flags name them; from the
#: library's ``MepParams::default()`` (one source for the CLI, the bindings and this dict).
#: ``mep`` is ``"paper"`` (exact) or ``"improved"`` (docs/mep-improved.md).
MEP_DEFAULTS: Dict[str, Any] = dict(_native.mep_defaults())

#: The values of the ``mep`` parameter.
MEP_MODES = ("paper", "improved")

_MEP_INTS = ("nms_radius", "dilate_iterations", "closing_kernel", "min_area")


def _mep_params(params: Dict[str, Any]) -> Dict[str, Any]:
    """Checks MEP parameters by name and fills in the defaults (the native side reads the dict)."""
    unknown = sorted(set(params) - set(MEP_DEFAULTS))
    if unknown:
        raise TypeError(
            f"unknown MEP parameter(s) {', '.join(unknown)} (expected {', '.join(MEP_DEFAULTS)})"
        )
    p = {**MEP_DEFAULTS, **params}
    for k in _MEP_INTS:
        if int(p[k]) < 0:
            raise InvalidInputError(f"{k}: must be >= 0, got {p[k]}")
    if p["mep"] not in MEP_MODES:
        raise InvalidInputError(f"mep: expected one of {', '.join(MEP_MODES)}, got {p['mep']!r}")
    return {k: (int(v) if k in _MEP_INTS else str(v) if k == "mep" else float(v)) for k, v in p.items()}


def _rgb(image: Any) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.dtype != np.uint8:
        if a.dtype == np.uint16:
            a = ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
        else:
            raise InvalidInputError(f"image: expected uint8 RGB, got dtype {a.dtype}")
    return a


class Model:
    """A BAISeg ONNX model, loaded once; ``infer`` runs preprocessing, ONNX Runtime and the MEP.

    Args:
        path: the ``.onnx`` file.
        device: ``"cpu"``, ``"cuda[:N]"``, ``"tensorrt[:N]"`` or ``"auto"`` (as ``--device``).
        threads: ONNX Runtime intra-op threads (default: all cores).
        mep: the default MEP of ``infer``: ``"paper"`` (exact) or ``"improved"``.
    """

    def __init__(
        self,
        path: "os.PathLike[str] | str",
        device: str = "cpu",
        threads: Optional[int] = None,
        mep: str = "paper",
    ):
        _mep_params({"mep": mep})
        self._mep = mep
        self._m = _native.Model(os.fspath(path), device, threads)
        self._info = json.loads(self._m.info_json)

    @property
    def classes(self) -> List[str]:
        """Class names without background; class id ``k`` is ``classes[k - 1]``."""
        return self._m.classes

    @property
    def info(self) -> Dict[str, Any]:
        """Path, device, ONNX Runtime library and the model's declared contract/metadata."""
        return self._info

    def infer(
        self,
        images: Sequence[Any],
        batch_size: int = 1,
        tile: Optional[int] = None,
        tile_overlap: int = 128,
        scratch_dir: "os.PathLike[str] | str | None" = None,
        spill_above: Optional[int] = None,
        **params: Any,
    ) -> List[List[Instance]]:
        """Segments RGB images (``uint8`` arrays ``[H, W, 3]``; grayscale/RGBA are converted).

        Images are grouped by padded size and sent ``batch_size`` at a time to ONNX Runtime
        (``batch_size=1`` is the CLI's default and gives identical results). ``params`` are MEP
        parameters (see ``MEP_DEFAULTS``). Returns one list of instances per image, in MEP order.
        With ``tile`` (as ``infer --tile SIZE --tile-overlap PX``), images larger than one tile
        run tile by tile, ``batch_size`` tiles per ONNX Runtime call, and the MEP runs on the
        stitched maps; a large image's class probabilities go to an unlinked scratch file in
        ``scratch_dir`` (as ``infer --scratch-dir DIR``; default the system temp folder, TMPDIR)
        when they take more than ``spill_above`` bytes (as ``infer --spill-above``; default
        256 MiB; 0: always). The GIL is released while the native code runs.
        """
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise InvalidInputError("images: expected a batch (list or [N, H, W, 3] array), got one image")
        arrays = [_rgb(im) for im in images]
        if batch_size < 1:
            raise InvalidInputError("batch_size: must be at least 1")
        if tile is not None and (tile < 1 or tile_overlap < 0):
            raise InvalidInputError("tile: must be at least 1, with tile_overlap >= 0")
        tiling = None if tile is None else (int(tile), int(tile_overlap))
        scratch = None if scratch_dir is None else os.fspath(scratch_dir)
        if spill_above is not None and spill_above < 0:
            raise InvalidInputError("spill_above: must be at least 0 (bytes)")
        spill = None if spill_above is None else int(spill_above)
        return self._m.infer(
            arrays, int(batch_size), _mep_params({"mep": self._mep, **params}), tiling, scratch, spill
        )

    def times(self) -> Dict[str, float]:
        """Seconds spent in ``infer`` since loading: preprocess, ort, mep, total, and images."""
        pre, ort, mep_s, total, n = self._m.times()
        return {"preprocess": pre, "ort": ort, "mep": mep_s, "total": total, "images": n}

    def category_ids(self, coco: "os.PathLike[str] | str | None" = None) -> List[Optional[int]]:
        """COCO category id of each class index ``0..=K`` (``None`` for background/unmatched).

        With ``coco`` (an annotation file), classes are matched to categories by name as
        ``baiseg-rt infer --coco`` does; without it class ``k`` is category ``k``.
        """
        return self._m.category_ids(None if coco is None else os.fspath(coco))

    def __repr__(self) -> str:
        return f"Model({self._info['path']!r}, device={self._info['device']!r}, classes={self.classes!r})"


def mep(
    image: Any,
    boundary: Any,
    semantic: Any = None,
    labels: Any = None,
    **params: Any,
) -> List[Instance]:
    """The Mask Extraction Pipeline on one image (docs/mep.md).

    Args:
        image: RGB ``uint8`` ``[H, W, 3]``.
        boundary: boundary probability ``[H, W]`` (cast to float32).
        semantic: class probabilities ``[K+1, H, W]`` (channel 0 = background), or
        labels: class ids ``[H, W]`` (0 = background, 255 = ignore); give exactly one.
        params: MEP parameters by name (``MEP_DEFAULTS``); ``mep="improved"`` runs the
            project's improved MEP instead of the paper's.
    """
    img = np.ascontiguousarray(_rgb(image))
    b = np.ascontiguousarray(boundary, dtype=np.float32)
    s = None if semantic is None else np.ascontiguousarray(semantic, dtype=np.float32)
    lab = None
    if labels is not None:
        lab = np.asarray(labels)
        if lab.dtype.kind not in "ui":
            raise InvalidInputError(f"labels: expected integer class ids, got dtype {lab.dtype}")
        lab = np.ascontiguousarray(lab, dtype=np.uint16)
    return _native.mep(img, b, s, lab, _mep_params(params))


def label_map(instances: Sequence[Instance], height: Optional[int] = None, width: Optional[int] = None) -> np.ndarray:
    """Paints instances into a ``uint16`` label map as ``--save labels`` does (ascending score;
    value = 1-based position in ``instances``). Size defaults to the instances' image size."""
    if height is None or width is None:
        if not instances:
            raise InvalidInputError("label_map: give height and width for an empty list")
        height, width = instances[0].size
    return _native.label_map(list(instances), int(height), int(width))


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decodes image bytes to RGB ``uint8`` ``[H, W, 3]`` exactly as ``baiseg-rt infer`` does
    (EXIF orientation, 16-bit scaled by 1/257, alpha dropped)."""
    return _native.decode_image(bytes(data), name)


def ort_library() -> str:
    """The ONNX Runtime library that ``Model`` loads (raises ``OrtError`` when none is found)."""
    return _native.ort_library()


def list_inputs(
    inputs: "Sequence[os.PathLike[str] | str]", coco: "os.PathLike[str] | str | None" = None
) -> List[tuple]:
    """The images of files, directories and zip archives as ``baiseg-rt infer`` lists them, with
    the image id each gets: ``(path, name, image_id, reason)``; with ``coco``, ``image_id`` is
    ``None`` (and ``reason`` says why) for inputs the file gives no id (no match, ambiguous base
    name, or an id another input already took). Zip members are ``archive.zip!member``."""
    return _native.list_inputs([os.fspath(p) for p in inputs], None if coco is None else os.fspath(coco))


def coco_image_ids(path: "os.PathLike[str] | str") -> Dict[str, int]:
    """``file_name`` (and its last path component) -> image id, from a COCO annotation file."""
    return _native.coco_image_ids(os.fspath(path))


def to_coco_results(
    instances: Iterable[Instance],
    image_id: int,
    category_ids: Sequence[Optional[int]],
    file_name: Optional[str] = None,
) -> List[Dict[str, Any]]:
    """COCO result dicts of one image, exactly as ``instances.json`` of ``baiseg-rt infer``.

    ``category_ids`` is ``Model.category_ids(...)``; instances of classes without a category are
    left out (as the CLI does).
    """
    records = json.loads(
        _native.coco_results_json(list(instances), int(image_id), list(category_ids), file_name)
    )
    if file_name is None:
        for r in records:
            r.pop("file_name", None)
    return records


class Evaluator:
    """Streaming COCO evaluation with the same numbers as ``baiseg-rt eval``.

    Args:
        gt_json_path: COCO annotation file.
        iou_type: ``"segm"`` or ``"bbox"``.
        protocol: ``"coco"``, ``"voc-chainercv"`` or ``"coco-thresholds"``.
    """

    def __init__(self, gt_json_path: "os.PathLike[str] | str", iou_type: str = "segm", protocol: str = "coco"):
        self._ev = _native.Evaluator(os.fspath(gt_json_path), iou_type, protocol)
        self._count = 0

    def add(self, image_id: int, results: Sequence[Dict[str, Any]]) -> None:
        """Adds the result dicts of one image (``category_id``, ``score``, ``segmentation`` and/or
        ``bbox``; an ``image_id`` key, if any, is replaced by ``image_id``)."""
        rows = [{**r, "image_id": int(image_id)} for r in results]
        self._add_rows(rows)

    def add_results(self, results: Sequence[Dict[str, Any]]) -> None:
        """Adds a COCO results list (each dict with its own ``image_id``), in order."""
        self._add_rows(list(results))

    def add_file(self, path: "os.PathLike[str] | str") -> None:
        """Adds a COCO results JSON file."""
        p = os.fspath(path)
        try:
            with open(p, "rb") as f:
                data = f.read()
        except OSError as e:
            raise BaisegIOError(f"{p}: {e.strerror or e}") from e
        self._ev.add_json(data, p)

    def _add_rows(self, rows: List[Dict[str, Any]]) -> None:
        data = json.dumps(rows, default=_json_default).encode()
        self._ev.add_json(data, "<results>")
        self._count += len(rows)

    def summarize(self) -> Dict[str, Any]:
        """Evaluates; returns ``stats`` (the 12 COCOeval numbers), ``stat_names``,
        ``map_per_iou``, ``per_category``, ``summary`` (the printed lines), ``category_table``,
        ``params`` and ``num_detections``. Can be called once."""
        return json.loads(self._ev.summarize_json())


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, bytes):
        return o.decode("ascii")
    raise TypeError(f"cannot serialise {type(o).__name__}")


__all__ = [
    "MEP_DEFAULTS",
    "BaisegError",
    "BaisegIOError",
    "CocoError",
    "DecodeError",
    "Evaluator",
    "Instance",
    "InvalidInputError",
    "Model",
    "ModelContractError",
    "OrtError",
    "coco_image_ids",
    "decode_image",
    "label_map",
    "list_inputs",
    "mep",
    "ort_library",
    "rle",
    "to_coco_results",
]
