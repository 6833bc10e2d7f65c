"""Boundary labels: the spatial gradient function T of the paper (Fig. 2, Sec. 3.2).

T marks a pixel as boundary when the label map changes inside its (2r+1) x (2r+1) neighbourhood
(r = ``radius``, default 1: a 3x3 window, i.e. a nonzero spatial gradient; both sides of every
label change are marked, so edges are 2 px wide). Pixels labelled ``ignore`` (255) neither count
as a change nor are labelled: their target is ``ignore``. The image border is not a boundary.

``semantic_contours(L)`` applies T to the class map (the paper's labels); ``instance_contours``
applies it to a (class, instance) key map, which also separates touching instances of one class.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

IGNORE = 255


def contours(keys: np.ndarray, valid: np.ndarray, radius: int = 1) -> np.ndarray:
    """T on an integer key map; returns u8 {0, 1, IGNORE}."""
    keys = keys.astype(np.int64)
    size = 2 * radius + 1
    # sentinels just outside the key range (scipy's filters mishandle the int64 extremes)
    top = int(keys.max()) + 1 if keys.size else 1
    hi = np.where(valid, keys, int(keys.min()) - 1 if keys.size else -1)
    lo = np.where(valid, keys, top)
    mx = ndimage.maximum_filter(hi, size=size, mode="nearest")
    mn = ndimage.minimum_filter(lo, size=size, mode="nearest")
    edge = (mx != mn) & valid
    out = edge.astype(np.uint8)
    out[~valid] = IGNORE
    return out


def semantic_contours(label: np.ndarray, radius: int = 1, ignore: int = IGNORE) -> np.ndarray:
    """Boundary target from a semantic label map (class ids, ``ignore`` = unlabelled)."""
    return contours(label, label != ignore, radius)


def instance_contours(label: np.ndarray, instances: np.ndarray, radius: int = 1, ignore: int = IGNORE) -> np.ndarray:
    """Boundary target from class ids plus instance ids (0 = none): class and instance edges."""
    keys = label.astype(np.int64) * (1 << 20) + instances.astype(np.int64)
    return contours(keys, label != ignore, radius)
