"""Training augmentation (numpy/OpenCV): scale jitter, pad, random crop, horizontal flip.

Images are resized bilinearly, label maps with nearest neighbour; padding uses the mean colour for
the image and 255 (ignore) for the class map. Boundary targets are computed *after* augmentation.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..targets import IGNORE, instance_contours, semantic_contours


def augment(rng: np.random.Generator, img, sem, inst, crop: int, scale=(0.75, 1.25), hflip=True,
            mean_rgb=(124, 116, 104)):
    s = float(rng.uniform(*scale))
    if abs(s - 1.0) > 1e-6:
        h, w = img.shape[:2]
        nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        sem = cv2.resize(sem, (nw, nh), interpolation=cv2.INTER_NEAREST)
        if inst is not None:
            inst = cv2.resize(inst, (nw, nh), interpolation=cv2.INTER_NEAREST)
    h, w = img.shape[:2]
    ph, pw = max(0, crop - h), max(0, crop - w)
    if ph or pw:
        img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=tuple(int(v) for v in mean_rgb))
        sem = cv2.copyMakeBorder(sem, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=IGNORE)
        if inst is not None:
            inst = cv2.copyMakeBorder(inst, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=0)
    h, w = img.shape[:2]
    y0 = int(rng.integers(0, h - crop + 1))
    x0 = int(rng.integers(0, w - crop + 1))
    img = img[y0:y0 + crop, x0:x0 + crop]
    sem = sem[y0:y0 + crop, x0:x0 + crop]
    if inst is not None:
        inst = inst[y0:y0 + crop, x0:x0 + crop]
    if hflip and rng.random() < 0.5:
        img, sem = img[:, ::-1], sem[:, ::-1]
        if inst is not None:
            inst = inst[:, ::-1]
    return np.ascontiguousarray(img), np.ascontiguousarray(sem), (None if inst is None else np.ascontiguousarray(inst))


def boundary_target(sem, inst, contours: str = "semantic", radius: int = 1) -> np.ndarray:
    if contours == "instance" and inst is not None:
        return instance_contours(sem, inst, radius)
    if contours not in ("semantic", "instance"):
        raise ValueError(f"contours must be 'semantic' or 'instance', not {contours!r}")
    return semantic_contours(sem, radius)


def normalise(img_u8: np.ndarray, mean, std) -> np.ndarray:
    x = img_u8.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return x.transpose(2, 0, 1)
