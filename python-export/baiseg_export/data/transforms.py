"""Training augmentation (numpy/OpenCV): scale jitter, pad, random crop, horizontal flip.

Images are resized bilinearly, label maps with nearest neighbour; padding uses the mean colour for
the image and 255 (ignore) for class maps (0 for instance ids). Boundary targets are computed
*after* augmentation, from class/instance maps whose void band was filled *before* it
(``targets.fill_void``), so crop padding stays ignored while void bands get their edges.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..targets import IGNORE, instance_contours, semantic_contours


def augment_maps(rng: np.random.Generator, img, maps, crop: int, scale=(0.75, 1.25), hflip=True,
                 mean_rgb=(124, 116, 104)):
    """``maps``: list of ``(array or None, pad value)``; every map gets the image's geometry."""
    s = float(rng.uniform(*scale))
    maps = [(m, p) for m, p in maps]
    if abs(s - 1.0) > 1e-6:
        h, w = img.shape[:2]
        nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        maps = [(None if m is None else cv2.resize(m, (nw, nh), interpolation=cv2.INTER_NEAREST), p) for m, p in maps]
    h, w = img.shape[:2]
    ph, pw = max(0, crop - h), max(0, crop - w)
    if ph or pw:
        img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=tuple(int(v) for v in mean_rgb))
        maps = [(None if m is None else cv2.copyMakeBorder(m, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=p), p)
                for m, p in maps]
    h, w = img.shape[:2]
    y0 = int(rng.integers(0, h - crop + 1))
    x0 = int(rng.integers(0, w - crop + 1))
    img = img[y0:y0 + crop, x0:x0 + crop]
    out = [None if m is None else m[y0:y0 + crop, x0:x0 + crop] for m, _ in maps]
    if hflip and rng.random() < 0.5:
        img = img[:, ::-1]
        out = [None if m is None else m[:, ::-1] for m in out]
    return np.ascontiguousarray(img), [None if m is None else np.ascontiguousarray(m) for m in out]


def augment(rng: np.random.Generator, img, sem, inst, crop: int, scale=(0.75, 1.25), hflip=True,
            mean_rgb=(124, 116, 104)):
    img, (sem, inst) = augment_maps(rng, img, [(sem, IGNORE), (inst, 0)], crop, scale, hflip, mean_rgb)
    return img, sem, inst


def boundary_target(sem, inst, contours: str = "semantic", radius: int = 1) -> np.ndarray:
    if contours not in ("semantic", "instance"):
        raise ValueError(f"contours must be 'semantic' or 'instance', not {contours!r}")
    if contours == "instance" and inst is not None:
        return instance_contours(sem, inst, radius)
    return semantic_contours(sem, radius)


def normalise(img_u8: np.ndarray, mean, std) -> np.ndarray:
    x = img_u8.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return x.transpose(2, 0, 1)
