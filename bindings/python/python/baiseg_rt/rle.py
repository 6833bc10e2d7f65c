"""COCO run-length encoding, compatible with ``pycocotools.mask`` dicts.

An RLE is ``{"size": [h, w], "counts": str | bytes}`` (compressed counts, column-major), as
``pycocotools.mask.encode`` makes and COCO JSON stores. Functions accept one RLE or a list of them
where pycocotools does.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Union

import numpy as np

from . import _native
from ._errors import InvalidInputError

RLE = Dict[str, Any]


def _tuple(r: Any) -> tuple:
    try:
        h, w = r["size"]
        counts = r["counts"]
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidInputError(f"rle: expected a dict with 'size' [h, w] and 'counts', got {type(r).__name__}") from e
    if isinstance(counts, (bytes, bytearray)):
        counts = counts.decode("ascii")
    elif isinstance(counts, list):
        # Uncompressed RLE (a list of run lengths): compress it by decoding then encoding.
        flat = np.zeros(int(h) * int(w), dtype=np.uint8)
        pos, val = 0, 0
        for n in counts:
            if val:
                flat[pos : pos + int(n)] = 1
            pos += int(n)
            val ^= 1
        if pos != int(h) * int(w):
            raise InvalidInputError(f"rle: uncompressed counts sum to {pos}, not {int(h) * int(w)}")
        return _native.rle_encode(np.asfortranarray(flat.reshape((int(w), int(h))).T))
    return (int(h), int(w), str(counts))


def _dict(t: tuple) -> RLE:
    return {"size": [t[0], t[1]], "counts": t[2]}


def encode(mask: Any) -> Union[RLE, List[RLE]]:
    """Encodes a binary mask ``[H, W]`` (nonzero = foreground), or ``[H, W, N]`` masks (returns a
    list, as pycocotools). ``counts`` is a ``str`` (pycocotools gives ``bytes``; both decode)."""
    m = np.asarray(mask)
    if m.ndim == 3:
        return [encode(m[:, :, i]) for i in range(m.shape[2])]
    if m.ndim != 2:
        raise InvalidInputError(f"rle: expected a 2-D or 3-D mask, got shape {m.shape}")
    if m.dtype != np.uint8:
        m = (m != 0).astype(np.uint8)
    return _dict(_native.rle_encode(m))


def decode(rle: Union[RLE, Sequence[RLE]]) -> np.ndarray:
    """Decodes to a Fortran-ordered ``uint8`` ``[H, W]`` array (``[H, W, N]`` for a list)."""
    if isinstance(rle, dict):
        return _native.rle_decode(_tuple(rle))
    masks = [_native.rle_decode(_tuple(r)) for r in rle]
    if not masks:
        raise InvalidInputError("rle: decode of an empty list")
    return np.asfortranarray(np.stack(masks, axis=2))


def area(rle: Union[RLE, Sequence[RLE]]) -> Union[int, np.ndarray]:
    """Foreground pixel count (a ``uint32`` array for a list, as pycocotools)."""
    if isinstance(rle, dict):
        return _native.rle_area(_tuple(rle))
    return np.array([_native.rle_area(_tuple(r)) for r in rle], dtype=np.uint32)


def to_bbox(rle: Union[RLE, Sequence[RLE]]) -> np.ndarray:
    """``[x, y, w, h]`` (float64; ``[N, 4]`` for a list), as pycocotools ``toBbox``."""
    if isinstance(rle, dict):
        return np.array(_native.rle_to_bbox(_tuple(rle)), dtype=np.float64)
    return np.array([_native.rle_to_bbox(_tuple(r)) for r in rle], dtype=np.float64).reshape(-1, 4)


def merge(rles: Sequence[RLE], intersect: bool = False) -> RLE:
    """Union (or intersection) of RLEs of one size."""
    return _dict(_native.rle_merge([_tuple(r) for r in rles], bool(intersect)))


def from_polygon(polygon: Sequence[float], height: int, width: int) -> RLE:
    """RLE of one polygon ``[x1, y1, x2, y2, ...]`` (pycocotools ``frPyObjects`` on a polygon)."""
    return _dict(_native.rle_from_polygon([float(v) for v in polygon], int(height), int(width)))


def from_bbox(bbox: Sequence[float], height: int, width: int) -> RLE:
    """RLE of a box ``[x, y, w, h]``."""
    b = [float(v) for v in bbox]
    if len(b) != 4:
        raise InvalidInputError(f"bbox: expected 4 numbers, got {len(b)}")
    return _dict(_native.rle_from_bbox(b, int(height), int(width)))


def iou(dt: Sequence[Any], gt: Sequence[Any], iscrowd: Sequence[Any]) -> np.ndarray:
    """IoU matrix ``[len(dt), len(gt)]`` of RLE dicts, or of ``[x, y, w, h]`` boxes, as
    pycocotools ``iou`` (for a crowd ground truth the union is the detection's area)."""
    crowd = [bool(c) for c in iscrowd]
    if len(dt) == 0 or len(gt) == 0:
        return np.zeros((len(dt), len(gt)), dtype=np.float64)
    if isinstance(dt[0], dict) and isinstance(gt[0], dict):
        return _native.rle_iou([_tuple(r) for r in dt], [_tuple(r) for r in gt], crowd)
    d = np.asarray(dt, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    return _native.bbox_iou([list(map(float, r)) for r in d], [list(map(float, r)) for r in g], crowd)


__all__ = ["area", "decode", "encode", "from_bbox", "from_polygon", "iou", "merge", "to_bbox"]
