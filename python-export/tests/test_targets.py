"""The spatial gradient function T on hand-made label maps."""

import numpy as np

from baiseg_export.targets import IGNORE, instance_contours, semantic_contours


def test_semantic_contours_hand_made():
    L = np.array([
        [0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0],
        [0, 1, 1, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 2],
    ], np.uint8)
    expect = np.array([
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
        [0, 0, 0, 1, 1],
    ], np.uint8)
    np.testing.assert_array_equal(semantic_contours(L), expect)


def test_ignore_neither_counts_nor_is_labelled():
    L = np.array([
        [1, 1, 255, 0],
        [1, 1, 255, 0],
    ], np.uint8)
    T = semantic_contours(L)
    np.testing.assert_array_equal(T, np.array([[0, 0, IGNORE, 0], [0, 0, IGNORE, 0]], np.uint8))


def test_uniform_map_has_no_boundary():
    assert semantic_contours(np.full((4, 6), 3, np.uint8)).sum() == 0


def test_instance_contours_split_touching_same_class():
    L = np.array([[1, 1, 1, 1]] * 3, np.uint8)
    I = np.array([[1, 1, 2, 2]] * 3, np.uint16)
    assert semantic_contours(L).sum() == 0
    np.testing.assert_array_equal(instance_contours(L, I), np.array([[0, 1, 1, 0]] * 3, np.uint8))


def test_radius_two():
    L = np.zeros((1, 7), np.uint8)
    L[0, 3:] = 1
    np.testing.assert_array_equal(semantic_contours(L, radius=2)[0], [0, 1, 1, 1, 1, 0, 0])


# --- VOC-style void bands (docs/boundary-targets.md) ----------------------------------------------
from scipy import ndimage  # noqa: E402

from baiseg_export.targets import boundary_labels, fill_void  # noqa: E402

V = IGNORE


def _stripes(cols, rows=4):
    return np.array([cols] * rows, np.uint8)


def test_void_band_alone_gives_no_boundary_without_fill():
    # the bug of docs/boundary-targets.md: a 5 px void band separates every class change from the 3x3 window
    L = _stripes([0, 0, 0] + [V] * 5 + [1, 1, 1])
    T = semantic_contours(L)
    assert (T == 1).sum() == 0


def test_fill_void_nearest_label_ties_to_first_in_raster_order():
    L = _stripes([0, 0, 0] + [V] * 5 + [1, 1, 1] + [V] * 5 + [2, 2, 2])
    F = fill_void(L)
    # band pixels 1-2 px from a side take that side; the middle pixel (3 px from both) the left one
    np.testing.assert_array_equal(F[0], [0] * 6 + [1] * 8 + [2] * 5)
    assert (F == F[0]).all()


def test_voc_band_between_classes_pixel_by_pixel():
    L = _stripes([0, 0, 0] + [V] * 5 + [1, 1, 1] + [V] * 5 + [2, 2, 2])
    T = boundary_labels(L, mode="semantic")
    expect = np.zeros(19, np.uint8)
    expect[[5, 6, 13, 14]] = 1  # both sides of each filled edge, in the middle of each band
    for row in T:
        np.testing.assert_array_equal(row, expect)
    # the semantic loss still ignores the band: the label map itself is untouched
    assert (L[:, 3:8] == V).all()


def test_touching_same_class_instances_split_only_by_instance_contours():
    # background | band | object A (class 1) | band | object B (class 1), as VOC draws touching objects
    L = _stripes([0, 0, 0] + [V] * 5 + [1, 1, 1] + [V] * 5 + [1, 1, 1])
    inst = _stripes([0, 0, 0] + [V] * 5 + [1, 1, 1] + [V] * 5 + [2, 2, 2]).astype(np.uint16)
    inst[inst == V] = 0  # as VOCDataset does with SegmentationObject's 255
    sem_T = boundary_labels(L, inst, mode="semantic")
    ins_T = boundary_labels(L, inst, mode="instance")
    e_sem = np.zeros(19, np.uint8)
    e_sem[[5, 6]] = 1  # only the background edge: both objects are class 1
    e_ins = np.zeros(19, np.uint8)
    e_ins[[5, 6, 13, 14]] = 1  # the instance edge lands in the middle of the band between A and B
    for r in range(L.shape[0]):
        np.testing.assert_array_equal(sem_T[r], e_sem)
        np.testing.assert_array_equal(ins_T[r], e_ins)


def test_touching_different_classes_without_band_and_deep_void_stays_ignored():
    # class 1 touching class 2 directly, then a 5 px band, background, then 12 px of void at the
    # right edge (farther than VOID_FILL_DISTANCE = 6 from any label beyond 6 px: stays ignored)
    L = _stripes([1, 1, 1, 2, 2, 2] + [V] * 5 + [0, 0] + [V] * 12)
    T = boundary_labels(L, mode="semantic")
    expect = np.zeros(25, np.uint8)
    expect[[2, 3]] = 1  # the direct 1|2 edge
    expect[[8, 9]] = 1  # band cols 6-10: 6,7,8 -> 2 (8 ties to the left), 9,10 -> 0
    expect[19:] = V  # cols 13..18 are within 6 px of col 12 (filled 0), 19.. stay void
    for row in T:
        np.testing.assert_array_equal(row, expect)


def test_voc_object_ring_is_closed():
    # a 2-D object with VOC's 5 px void ring: the boundary separates inside from outside
    L = np.zeros((40, 40), np.uint8)
    yy, xx = np.mgrid[:40, :40]
    d = np.hypot(yy - 20, xx - 19)
    L[d < 13] = V
    L[d < 8] = 3
    T = boundary_labels(L, mode="semantic")
    assert set(np.unique(T)) <= {0, 1}
    assert ((T == 1) & ~((d >= 7) & (d < 14))).sum() == 0  # only around the band
    free, n = ndimage.label(T != 1)
    assert free[20, 19] != free[0, 0] and n == 2
