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
