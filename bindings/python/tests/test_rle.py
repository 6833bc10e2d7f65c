import numpy as np
import pytest
from pycocotools import mask as pcm

from baiseg_rt import rle


def _masks(seed, n=6, h=37, w=53):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        m = np.zeros((h, w), np.uint8)
        y, x = rng.integers(0, h - 5), rng.integers(0, w - 5)
        m[y : y + rng.integers(2, h - y), x : x + rng.integers(2, w - x)] = 1
        m &= (rng.random((h, w)) > 0.2 * (i % 3)).astype(np.uint8)
        out.append(m)
    out.append(np.zeros((h, w), np.uint8))
    out.append(np.ones((h, w), np.uint8))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pycocotools(seed):
    masks = _masks(seed)
    ours = [rle.encode(m) for m in masks]
    theirs = [pcm.encode(np.asfortranarray(m)) for m in masks]
    for o, t, m in zip(ours, theirs, masks):
        assert o["size"] == list(t["size"])
        assert o["counts"] == t["counts"].decode()
        np.testing.assert_array_equal(rle.decode(o), pcm.decode(t))
        np.testing.assert_array_equal(rle.decode(t), m)  # bytes counts accepted
        assert rle.area(o) == pcm.area(t)
        np.testing.assert_array_equal(rle.to_bbox(o), pcm.toBbox(t))
    crowd = [i % 2 == 0 for i in range(len(theirs))]
    np.testing.assert_array_equal(rle.iou(ours, ours, crowd), pcm.iou(theirs, theirs, crowd))
    np.testing.assert_array_equal(rle.area(ours), pcm.area(theirs))
    np.testing.assert_array_equal(rle.to_bbox(ours), pcm.toBbox(theirs))
    assert rle.merge(ours[:3])["counts"] == pcm.merge(theirs[:3])["counts"].decode()
    assert rle.merge(ours[:3], intersect=True)["counts"] == pcm.merge(theirs[:3], intersect=True)["counts"].decode()
    # encode of a [H, W, N] stack and a C-ordered bool mask
    stack = np.stack(masks, axis=2)
    assert [r["counts"] for r in rle.encode(stack)] == [t["counts"].decode() for t in theirs]
    assert rle.encode(masks[0].astype(bool))["counts"] == theirs[0]["counts"].decode()


def test_boxes_and_polygons():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 10, 10], [20, 1, 3, 4]], np.float64)
    crowd = [0, 1, 0]
    np.testing.assert_array_equal(rle.iou(boxes, boxes, crowd), pcm.iou(boxes, boxes, crowd))
    poly = [1.5, 2.0, 30.2, 4.0, 25.0, 33.3, 3.0, 20.0]
    (t,) = pcm.frPyObjects([poly], 40, 50)
    assert rle.from_polygon(poly, 40, 50)["counts"] == t["counts"].decode()
    (tb,) = pcm.frPyObjects(boxes[:1], 40, 50)
    assert rle.from_bbox(boxes[0], 40, 50)["counts"] == tb["counts"].decode()


def test_errors():
    with pytest.raises(ValueError):
        rle.decode({"size": [2, 2], "counts": rle.encode(np.ones((3, 3)))["counts"]})
    with pytest.raises(ValueError):
        rle.decode({"counts": "x"})
    with pytest.raises(ValueError):
        rle.iou([rle.encode(np.ones((2, 2)))], [rle.encode(np.ones((3, 3)))], [0])
