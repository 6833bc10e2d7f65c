"""Boundary labels: the spatial gradient function T of the paper (Fig. 2, Sec. 3.2).

T marks a pixel as boundary when the label map changes inside its (2r+1) x (2r+1) neighbourhood
(r = ``radius``, default 1: a 3x3 window, i.e. a nonzero spatial gradient; both sides of every
label change are marked, so edges are 2 px wide). Pixels labelled ``ignore`` (255) neither count
as a change nor are labelled: their target is ``ignore``. The image border is not a boundary.

``semantic_contours(L)`` applies T to the class map (the paper's labels); ``instance_contours``
applies it to a (class, instance) key map, which also separates touching instances of one class.

Void bands (PASCAL VOC, see ``docs/boundary-targets.md``): VOC draws a ~5 px band of 255 around
every object, so no 3x3 window ever sees a class change and T alone gives no boundary at all.
``fill_void`` therefore first gives every void pixel within ``max_distance`` px of a labelled
pixel the label of its nearest labelled pixel (Euclidean distance; ties go to the labelled pixel
that comes first in raster order, which is what ``scipy.ndimage.distance_transform_edt`` picks),
and T runs on the filled map: the edge lands in the middle of the band. Void farther than
``max_distance`` from any label (VOC's wholly-void "difficult" objects, COCO crowd regions) stays
ignored. The semantic loss keeps using the unfilled map (void stays ignored in L_S).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

IGNORE = 255
#: default reach of ``fill_void`` in pixels: covers VOC's 5 px bands (max distance 3) with margin
VOID_FILL_DISTANCE = 6.0


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


def fill_void(label: np.ndarray, *others: np.ndarray, max_distance: float = VOID_FILL_DISTANCE,
              ignore: int = IGNORE):
    """Void (``ignore``) pixels within ``max_distance`` px of a labelled pixel take the labels of
    the nearest labelled pixel, in ``label`` and in every map of ``others`` (e.g. instance ids).
    Returns the filled ``label`` (and the filled ``others``, as a tuple, when given)."""
    void = label == ignore
    if not void.any() or void.all():
        return (label, *others) if others else label
    dist, idx = ndimage.distance_transform_edt(void, return_indices=True)
    take = void & (dist <= max_distance)
    iy, ix = idx[0][take], idx[1][take]
    out = label.copy()
    out[take] = label[iy, ix]
    if not others:
        return out
    filled = []
    for o in others:
        o2 = o.copy()
        o2[take] = o[iy, ix]
        filled.append(o2)
    return (out, *filled)


def semantic_contours(label: np.ndarray, radius: int = 1, ignore: int = IGNORE) -> np.ndarray:
    """Boundary target from a semantic label map (class ids, ``ignore`` = unlabelled)."""
    return contours(label, label != ignore, radius)


def instance_contours(label: np.ndarray, instances: np.ndarray, radius: int = 1, ignore: int = IGNORE) -> np.ndarray:
    """Boundary target from class ids plus instance ids (0 = none): class and instance edges."""
    keys = label.astype(np.int64) * (1 << 20) + instances.astype(np.int64)
    return contours(keys, label != ignore, radius)


def boundary_labels(label: np.ndarray, instances: np.ndarray | None = None, mode: str = "semantic",
                    radius: int = 1, fill: bool = True, max_distance: float = VOID_FILL_DISTANCE,
                    ignore: int = IGNORE) -> np.ndarray:
    """The training target on an un-augmented label map: ``fill_void`` (when ``fill``), then T
    (``mode`` semantic, or instance when ``instances`` is given)."""
    if mode not in ("semantic", "instance"):
        raise ValueError(f"contours must be 'semantic' or 'instance', not {mode!r}")
    if fill:
        if instances is not None:
            label, instances = fill_void(label, instances, max_distance=max_distance, ignore=ignore)
        else:
            label = fill_void(label, max_distance=max_distance, ignore=ignore)
    if mode == "instance" and instances is not None:
        return instance_contours(label, instances, radius, ignore)
    return semantic_contours(label, radius, ignore)
