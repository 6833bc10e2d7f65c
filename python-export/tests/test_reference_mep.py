"""Tests of the Python MEP reference (baiseg_export.reference): hand cases per stage, slow naive
re-implementations of docs/mep.md compared with the vectorised code, edge cases, generator
determinism and byte-identical regeneration of fixtures/mep."""

from __future__ import annotations

import filecmp
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from baiseg_export.reference import make_fixtures
from baiseg_export.reference import mep as M
from baiseg_export.reference import mep_inputs as mi

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "mep"

# pycocotools 2.0.11 decode() trips numpy 2's copy-keyword deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")


# ------------------------------------------------------------------------------------------
# naive references (loops, straight from docs/mep.md)
# ------------------------------------------------------------------------------------------


def naive_smooth(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    k = [1, 2, 3, 4, 5, 4, 3, 2, 1]

    def refl(i, n):
        if n == 1:
            return 0
        while i < 0 or i >= n:
            i = -i if i < 0 else 2 * (n - 1) - i
        return i

    h, w = a.shape
    tmp = np.zeros_like(a)
    for y in range(h):
        for x in range(w):
            acc = 0.0
            for j, kw in enumerate(k):
                acc = acc + kw * a[y, refl(x + j - 4, w)]
            tmp[y, x] = acc / 25.0
    out = np.zeros_like(a)
    for y in range(h):
        for x in range(w):
            acc = 0.0
            for j, kw in enumerate(k):
                acc = acc + kw * tmp[refl(y + j - 4, h), x]
            out[y, x] = acc / 25.0
    return out


def naive_nms_thin(b: np.ndarray, r=1, m=1.01, t=0.5) -> np.ndarray:
    b32 = b.astype(np.float32)
    bb = b32.astype(np.float64)
    h, w = bb.shape
    theta = M.nms_orientation(bb)
    out = b32.copy()
    for y in range(h):
        for x in range(w):
            if bb[y, x] <= 0 or math.isnan(theta[y, x]):
                continue
            c, s = math.cos(theta[y, x]), math.sin(theta[y, x])
            for d in range(-r, r + 1):
                if d == 0:
                    continue
                xs = min(max(x + d * c, 0.0), w - 1.0)
                ys = min(max(y + d * s, 0.0), h - 1.0)
                x0, y0 = math.floor(xs), math.floor(ys)
                x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
                fx, fy = xs - x0, ys - y0
                v = (bb[y0, x0] * (1 - fx) * (1 - fy) + bb[y0, x1] * fx * (1 - fy)
                     + bb[y1, x0] * (1 - fx) * fy + bb[y1, x1] * fx * fy)
                if v > m * bb[y, x]:
                    out[y, x] = 0
    return out >= np.float32(t)


def naive_watershed(img: np.ndarray, markers: np.ndarray) -> np.ndarray:
    """docs/mep.md#watershed in plain Python (neighbours left, right, up, down, as OpenCV)."""
    from collections import deque

    img = img.astype(np.int32)
    m = markers.astype(np.int64).copy()
    h, w = m.shape
    m[0, :] = m[-1, :] = -1
    m[:, 0] = m[:, -1] = -1
    inner = m[1:-1, 1:-1]
    inner[inner < 0] = 0
    in_queue = -2
    queues = [deque() for _ in range(256)]

    def cost(a, b):
        return int(np.max(np.abs(img[a] - img[b])))

    def nbrs(y, x):
        return ((y, x - 1), (y, x + 1), (y - 1, x), (y + 1, x))

    for y in range(1, h - 1):
        for x in range(1, w - 1):
            if m[y, x] == 0:
                c = [cost((y, x), n) for n in nbrs(y, x) if m[n] > 0]
                if c:
                    queues[min(c)].append((y, x))
                    m[y, x] = in_queue
    active = next((i for i in range(256) if queues[i]), None)
    while active is not None:
        if not queues[active]:
            active = next((i for i in range(active + 1, 256) if queues[i]), None)
            continue
        y, x = queues[active].popleft()
        lab = 0
        for n in nbrs(y, x):
            if m[n] > 0:
                lab = m[n] if lab in (0, m[n]) else -1
        assert lab != 0
        m[y, x] = lab
        if lab == -1:
            continue
        for n in nbrs(y, x):
            if m[n] == 0:
                t = cost((y, x), n)
                queues[t].append(n)
                m[n] = in_queue
                active = min(active, t)
    return m.astype(np.int32)


def naive_closing(mask: np.ndarray, k: int = 5) -> np.ndarray:
    se = M.ellipse_kernel(k).astype(bool)
    r = k // 2
    offs = [(dy - r, dx - r) for dy in range(k) for dx in range(k) if se[dy, dx]]
    h, w = mask.shape
    inside = lambda y, x: 0 <= y < h and 0 <= x < w  # noqa: E731
    dil = np.array([[any(inside(y - dy, x - dx) and mask[y - dy, x - dx] for dy, dx in offs)
                     for x in range(w)] for y in range(h)], bool).reshape(h, w)
    return np.array([[all(not inside(y + dy, x + dx) or dil[y + dy, x + dx] for dy, dx in offs)
                      for x in range(w)] for y in range(h)], bool).reshape(h, w)


# ------------------------------------------------------------------------------------------
# stage 1: thinning
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (2, 3), (3, 1), (7, 11), (12, 5)])
def test_smooth_triangle_matches_naive_reflect101(shape):
    a = np.random.default_rng(0).random(shape)
    np.testing.assert_array_equal(M.smooth_triangle(a), naive_smooth(a))


def test_reflect101_index():
    np.testing.assert_array_equal(M._reflect101_index(3, 4), [0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2])
    np.testing.assert_array_equal(M._reflect101_index(1, 2), [0, 0, 0, 0, 0])


def test_nms_ridge_keeps_only_the_crest():
    profile = np.array([0.1, 0.3, 0.6, 0.9, 0.6, 0.3, 0.1], np.float32)
    b = np.tile(profile, (9, 1))
    thin = M.nms_thin(b)
    expected = np.zeros_like(thin)
    expected[:, 3] = True
    np.testing.assert_array_equal(thin, expected)


def test_nms_suppresses_non_max_on_a_ramp():
    # Linear ramp along x: zero second derivatives -> theta = 0, the normal is x. Every pixel
    # but the last column has a right neighbour > 1.01 * itself.
    b = np.tile(np.linspace(0.5, 0.95, 10, dtype=np.float32), (6, 1))
    thin = M.nms_thin(b)
    assert thin[:, -1].all()
    assert not thin[:, :-1].any()


def test_nms_flat_plateau_is_not_suppressed():
    b = np.full((5, 5), 0.8, np.float32)
    assert M.nms_thin(b).all()
    assert not M.nms_thin(b * 0.4).any()  # below the threshold


@pytest.mark.parametrize("seed", range(4))
def test_nms_matches_naive(seed):
    c = mi.synthetic(seed, 24, 30, 3, 1)
    np.testing.assert_array_equal(M.nms_thin(c["boundary"]), naive_nms_thin(c["boundary"]))
    b = np.random.default_rng(seed).random((9, 13)).astype(np.float32)
    b[b < 0.2] = 0
    np.testing.assert_array_equal(M.nms_thin(b), naive_nms_thin(b))
    np.testing.assert_array_equal(M.nms_thin(b, full_nms=True), naive_nms_thin(b))


def test_nms_length_one_axis():
    b = np.array([[0.1, 0.6, 0.9, 0.7, 0.2, 0.0, 0.8]], np.float32)
    np.testing.assert_array_equal(M.nms_thin(b), naive_nms_thin(b))
    np.testing.assert_array_equal(M.nms_thin(b.T), naive_nms_thin(b.T))


# ------------------------------------------------------------------------------------------
# stage 2: seeds and markers
# ------------------------------------------------------------------------------------------


def test_seeds_dilation_edt_threshold():
    thin = np.zeros((15, 15), bool)
    thin[7, 7] = True
    dilated, dist, seed = M.seeds(thin)
    np.testing.assert_array_equal(np.argwhere(dilated).min(0), [5, 5])
    np.testing.assert_array_equal(np.argwhere(dilated).max(0), [9, 9])
    ys, xs = np.mgrid[0:15, 0:15]
    dy = np.maximum(np.maximum(5 - ys, ys - 9), 0)
    dx = np.maximum(np.maximum(5 - xs, xs - 9), 0)
    np.testing.assert_allclose(dist, np.hypot(dy, dx), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(seed, dist > 3.0)


def test_edt_matches_brute_force():
    thin = np.random.default_rng(2).random((13, 17)) > 0.93
    dilated, dist, _ = M.seeds(thin, dilate_iterations=1)
    pts = np.argwhere(dilated)
    yy, xx = np.mgrid[0:13, 0:17]
    brute = np.sqrt(((yy[..., None] - pts[:, 0]) ** 2 + (xx[..., None] - pts[:, 1]) ** 2).min(-1))
    np.testing.assert_array_equal(dist, brute)


def test_seeds_border_is_not_boundary_and_empty_is_inf():
    _, dist, seed = M.seeds(np.zeros((4, 6), bool))
    assert np.isinf(dist).all() and seed.all()
    thin = np.zeros((1, 20), bool)
    thin[0, 0] = True
    _, dist, _ = M.seeds(thin, dilate_iterations=0)
    np.testing.assert_array_equal(dist[0], np.arange(20.0))


def test_label_markers_raster_order_8_connected():
    s = np.array(
        [[0, 0, 0, 0, 1],
         [1, 0, 0, 1, 0],
         [1, 0, 0, 0, 0],
         [0, 1, 0, 1, 1],
         [0, 0, 0, 0, 0]], bool)
    expected = np.array(
        [[0, 0, 0, 0, 1],
         [2, 0, 0, 1, 0],
         [2, 0, 0, 0, 0],
         [0, 2, 0, 3, 3],
         [0, 0, 0, 0, 0]], np.int32)
    got = M.label_markers(s)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)


def test_label_markers_random_first_pixel_order():
    s = np.random.default_rng(3).random((40, 50)) > 0.6
    lab = M.label_markers(s)
    firsts = [np.flatnonzero(lab.ravel() == k)[0] for k in range(1, lab.max() + 1)]
    assert firsts == sorted(firsts)
    n, ref = cv2.connectedComponents(s.astype(np.uint8), connectivity=8)
    assert n - 1 == lab.max()
    # same partition
    pairs = set(zip(ref.ravel().tolist(), lab.ravel().tolist()))
    assert len(pairs) == n


# ------------------------------------------------------------------------------------------
# stage 3: watershed
# ------------------------------------------------------------------------------------------


def test_watershed_tie_goes_to_the_raster_first_label():
    img = np.full((5, 6, 3), 100, np.uint8)
    markers = np.zeros((5, 6), np.int32)
    markers[2, 1] = 1
    markers[2, 4] = 2
    expected = np.array(
        [[-1, -1, -1, -1, -1, -1],
         [-1, 1, 1, -1, 2, -1],
         [-1, 1, 1, -1, 2, -1],
         [-1, 1, 1, -1, 2, -1],
         [-1, -1, -1, -1, -1, -1]], np.int32)
    np.testing.assert_array_equal(M.watershed(img, markers), expected)
    assert markers[2, 1] == 1 and markers[0, 0] == 0  # input untouched


def test_watershed_matches_spec_prose_on_random_plateaus():
    rng = np.random.default_rng(5)
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(3, 13, 2))
        img = (rng.integers(0, 3, (h, w, 3)) * 40).astype(np.uint8)
        markers = np.zeros((h, w), np.int32)
        for k in range(1, int(rng.integers(1, 6)) + 1):
            markers[rng.integers(0, h), rng.integers(0, w)] = k
        if rng.random() < 0.2:
            markers[rng.integers(0, h), rng.integers(0, w)] = -3  # negative: treated as 0
        np.testing.assert_array_equal(M.watershed(img, markers), naive_watershed(img, markers))


@pytest.mark.skipif(not FIXTURES.exists(), reason="fixtures/mep not present")
@pytest.mark.parametrize("name", ["syn_64x64_s1", "syn_flat_96x112_s7", "tiny_3x3"])
def test_watershed_fixture_matches_spec_prose(name):
    d = FIXTURES / name
    img = cv2.cvtColor(cv2.imread(str(d / "image.png"), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    got = naive_watershed(img, np.load(d / "markers.npy"))
    np.testing.assert_array_equal(got, np.load(d / "watershed.npy"))


def test_watershed_follows_colour_edges_and_drops_frame_seeds():
    img = np.zeros((6, 8, 3), np.uint8)
    img[:, 4:] = 200
    markers = np.zeros((6, 8), np.int32)
    markers[3, 1] = 1
    markers[2, 6] = 2
    markers[0, 3] = 3  # on the frame: lost, as in OpenCV
    ws = M.watershed(img, markers)
    assert (ws[1:-1, 1:3] == 1).all() and (ws[1:-1, 5:7] == 2).all()
    assert (ws[0] == -1).all() and 3 not in ws


# ------------------------------------------------------------------------------------------
# stage 4: refinement and painting
# ------------------------------------------------------------------------------------------


def test_ellipse_kernel_shape():
    expected = np.array(
        [[0, 0, 1, 0, 0],
         [1, 1, 1, 1, 1],
         [1, 1, 1, 1, 1],
         [1, 1, 1, 1, 1],
         [0, 0, 1, 0, 0]], np.uint8)
    np.testing.assert_array_equal(M.ellipse_kernel(5), expected)


def test_closing_outside_pixels_neither_set_nor_clear():
    full = np.ones((6, 7), np.uint8)
    ws = full.astype(np.int32)
    (inst,) = M.refine(ws, labels=np.ones((6, 7), np.uint8))
    assert inst["area"] == 42 and inst["bbox"] == [0, 0, 7, 6]


@pytest.mark.parametrize("seed", range(3))
def test_refine_crop_closing_equals_full_image_closing(seed):
    rng = np.random.default_rng(seed)
    ws = rng.integers(-1, 5, (14, 17)).astype(np.int32)
    ws[:, :3][rng.random((14, 3)) > 0.5] = 4  # crowd one label near the border
    insts = M.refine(ws, labels=np.ones((14, 17), np.uint8))
    by_label = {i["label"]: i for i in insts}
    for k in range(1, 5):
        ref = naive_closing(ws == k)
        np.testing.assert_array_equal(M.instance_mask(by_label[k], 14, 17), ref)


def test_closing_fills_a_gap_keeps_a_point_and_grows_towards_the_border():
    ws = np.zeros((9, 9), np.int32)
    ws[3:6, 1:4] = 1
    ws[3:6, 5:8] = 1  # a 1-px gap at column 4 between two 3x3 squares
    ws[0, 0] = 2  # a single corner pixel stays itself
    ws[6, 6] = 3  # ... and so does a single pixel 2 px from the border
    insts = M.refine(ws, labels=np.ones((9, 9), np.uint8))
    # The ellipse has no corners: it bridges the gap on the middle row only, and the middle row
    # also reaches the border columns (outside pixels never clear one in erosion).
    expected = np.array(
        [[0, 1, 1, 1, 0, 1, 1, 1, 0],
         [1, 1, 1, 1, 1, 1, 1, 1, 1],
         [0, 1, 1, 1, 0, 1, 1, 1, 0]], bool)
    assert insts[0]["bbox"] == [0, 3, 9, 3]
    np.testing.assert_array_equal(insts[0]["mask"], expected)
    np.testing.assert_array_equal(M.instance_mask(insts[0], 9, 9), naive_closing(ws == 1))
    assert insts[1]["area"] == 1 and insts[1]["bbox"] == [0, 0, 1, 1]
    assert insts[2]["area"] == 1 and insts[2]["bbox"] == [6, 6, 1, 1]
    # Outside pixels never clear one in erosion: a 2x2 square one pixel from the corner grows
    # into the border row and column. Not symmetric: the 5x5 ellipse is wider than tall (rows
    # +-1 span 5 columns, columns +-1 span 3 rows), so (2, 0) is cleared by (4, 0) but (0, 2) is
    # not cleared by (0, 4).
    ws = np.zeros((12, 12), np.int32)
    ws[1:3, 1:3] = 1
    (inst,) = M.refine(ws, labels=np.ones((12, 12), np.uint8))
    expected = np.ones((3, 3), bool)
    expected[2, 0] = False
    np.testing.assert_array_equal(M.instance_mask(inst, 12, 12), naive_closing(ws == 1))
    assert inst["bbox"] == [0, 0, 3, 3]
    np.testing.assert_array_equal(inst["mask"], expected)


def test_refine_class_tie_score_and_ignore():
    ws = np.zeros((8, 8), np.int32)
    ws[1:7, 1:7] = 1
    lab = np.zeros((8, 8), np.uint16)
    lab[1:4, 1:7] = 7
    lab[4:7, 1:7] = 3  # 18 pixels each: tie -> the smaller id
    lab[6, 1:7] = 255  # ignore: not foreground -> 3 has 12, 7 has 18
    (inst,) = M.refine(ws, labels=lab)
    assert inst["category"] == 7 and inst["area"] == 30
    assert inst["score"] == 18 / 30
    lab[6, 1:7] = 3
    (inst,) = M.refine(ws, labels=lab)
    assert inst["category"] == 3 and inst["score"] == 0.5


def test_refine_probabilities_score_is_mean_of_class_channel():
    rng = np.random.default_rng(1)
    p = rng.random((3, 10, 10)).astype(np.float32)
    p[2, 2:8, 2:8] += 3.0
    p /= p.sum(0, keepdims=True)
    ws = np.zeros((10, 10), np.int32)
    ws[2:8, 2:8] = 1
    (inst,) = M.refine(ws, semantic=p)
    m = M.instance_mask(inst, 10, 10)
    assert inst["category"] == 2
    assert inst["score"] == pytest.approx(float(p[2][m].astype(np.float64).mean()), abs=1e-15)


def test_refine_min_area_and_empty_dropped_order_kept():
    ws = np.zeros((12, 12), np.int32)
    ws[1:3, 1:3] = 1
    ws[5:11, 5:11] = 2
    ws[1:3, 8:10] = 3
    lab = np.ones((12, 12), np.uint8)
    lab[0:5, 6:12] = 0  # label 3 falls on background -> empty
    insts = M.refine(ws, labels=lab, min_area=9)  # label 1 closes to 8 pixels
    assert [i["label"] for i in insts] == [2]
    insts = M.refine(ws, labels=lab)
    assert [i["label"] for i in insts] == [1, 2]


def test_paint_labels_ascending_score_ties_list_order():
    def inst(score, x):
        return {"score": score, "bbox": [x, 0, 3, 1], "mask": np.ones((1, 3), bool)}

    insts = [inst(0.9, 0), inst(0.5, 1), inst(0.5, 2)]
    lab = M.paint_labels(insts, 1, 6)
    assert lab.dtype == np.uint16
    np.testing.assert_array_equal(lab[0], [1, 1, 1, 3, 3, 0])


# ------------------------------------------------------------------------------------------
# the whole pipeline
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (2, 9), (9, 2)])
def test_degenerate_sizes_give_no_instances(shape):
    h, w = shape
    img = np.zeros((h, w, 3), np.uint8)
    p = np.zeros((2, h, w), np.float32)
    p[1] = 1
    assert M.mep(img, np.zeros((h, w), np.float32), p) == []
    assert M.mep(img, np.ones((h, w), np.float32), p) == []


def test_all_boundary_and_no_boundary():
    img = np.zeros((16, 16, 3), np.uint8)
    lab = np.ones((16, 16), np.uint8)
    assert M.mep(img, np.ones((16, 16), np.float32), labels=lab) == []
    (inst,) = M.mep(img, np.zeros((16, 16), np.float32), labels=lab)
    assert inst["area"] == 256 and inst["category"] == 1 and inst["score"] == 1.0


def test_mep_outputs_consistent_rle_bbox_area():
    c = mi.synthetic(9, 80, 96, 8, 2)
    insts = M.mep(c["image"], c["boundary"], c["semantic"])
    assert insts
    for i in insts:
        full = M.instance_mask(i, 80, 96)
        rle = {"size": [80, 96], "counts": i["rle"]["counts"].encode()}
        np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), full)
        assert i["area"] == full.sum() == mask_utils.area(rle)
        assert i["bbox"] == mask_utils.toBbox(rle).astype(int).tolist()


def test_agree_rule():
    c = mi.synthetic(9, 80, 96, 8, 2)
    a = M.mep(c["image"], c["boundary"], c["semantic"])
    ok, d = M.agree(a, a, 80, 96)
    assert ok and d["matched"] == len(a) and d["min_iou"] == 1.0
    # COCO-result records of the same masks agree too
    coco = [{"segmentation": i["rle"], "category_id": i["category"]} for i in a]
    assert M.agree(a, coco, 80, 96)[0]
    # a class change breaks it
    other = [dict(i) for i in a]
    other[0] = {**other[0], "category": other[0]["category"] + 1}
    ok, d = M.agree(a, other, 80, 96)
    assert not ok and len(d["bad_pairs"]) == 1
    # a dropped instance: fine only if it covers < 0.1% of the image
    small = min(range(len(a)), key=lambda k: a[k]["area"])
    ok, d = M.agree(a, a[:small] + a[small + 1 :], 80, 96)
    assert ok == (a[small]["area"] < 0.001 * 80 * 96) and d["unmatched_a"] == 1
    tiny = {"category": 1, "bbox": [0, 0, 1, 1], "mask": np.ones((1, 1), bool)}
    assert M.agree([tiny], [], 80, 96)[0]  # 1 px < 0.1% of 7680 px
    assert M.agree([], [], 80, 96) == (True, M.agree([], [], 80, 96)[1])


def test_mep_rejects_unknown_params_and_bad_inputs():
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(TypeError):
        M.mep(img, np.zeros((4, 4), np.float32), nms_radiuss=2)
    with pytest.raises(ValueError):
        M.mep(img, np.zeros((4, 5), np.float32))


# ------------------------------------------------------------------------------------------
# generator and fixtures
# ------------------------------------------------------------------------------------------


def test_generator_is_deterministic():
    a = mi.synthetic(3, 64, 80, 6, 2)
    b = mi.synthetic(3, 64, 80, 6, 2)
    c = mi.synthetic(4, 64, 80, 6, 2)
    for k in ("image", "boundary", "semantic", "instances"):
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["boundary"], c["boundary"])
    assert a["image"].dtype == np.uint8 and a["image"].shape == (64, 80, 3)
    assert a["boundary"].dtype == np.float32 and 0 <= a["boundary"].min() <= a["boundary"].max() <= 1
    assert a["semantic"].shape == (3, 64, 80)
    np.testing.assert_allclose(a["semantic"].sum(0), 1, atol=1e-5)
    lab = mi.synthetic(3, 64, 80, 6, 2, semantic="labels", ignore_patches=1)["labels"]
    assert lab.dtype == np.uint8 and 255 in lab


def test_contour_pixels_both_sides():
    ids = np.zeros((4, 6), np.int32)
    ids[:, 3:] = 1
    c = mi.contour_pixels(ids)
    assert c[:, 2:4].all() and not c[:, [0, 1, 4, 5]].any()


def _needs(name: str) -> bool:
    return name.startswith(("coco", "stardist")) and not mi.SHARED_COCO.exists()


@pytest.mark.skipif(not FIXTURES.exists(), reason="fixtures/mep not present")
@pytest.mark.parametrize("name", list(make_fixtures.CASES))
def test_fixture_regenerates_identically(name, tmp_path):
    if _needs(name):
        pytest.skip(f"needs {mi.SHARED_COCO}")
    builder, desc = make_fixtures.CASES[name]
    make_fixtures.write_case(tmp_path, name, builder, desc)
    committed = FIXTURES / name
    new = tmp_path / name
    names = sorted(p.name for p in new.iterdir())
    assert names == sorted(p.name for p in committed.iterdir())
    _, mismatch, errors = filecmp.cmpfiles(committed, new, names, shallow=False)
    assert not errors, errors
    # Images, masks and integer maps must be byte-identical. Float maps and JSON numbers may differ
    # in the last bits across CPUs (numpy picks SIMD kernels for exp/softmax at run time), so
    # those are compared to within 1e-6 instead.
    for fname in mismatch:
        _assert_same_up_to_rounding(committed / fname, new / fname)


def _assert_same_up_to_rounding(a: Path, b: Path) -> None:
    if a.suffix == ".npy":
        x, y = np.load(a), np.load(b)
        assert x.dtype == y.dtype and x.shape == y.shape, a
        assert np.issubdtype(x.dtype, np.floating), f"{a}: integer map differs"
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)
    elif a.suffix == ".json":
        _assert_json_close(json.loads(a.read_text()), json.loads(b.read_text()), str(a))
    else:
        raise AssertionError(f"{a} differs from its regenerated copy")


def _assert_json_close(x, y, where: str) -> None:
    if isinstance(x, dict):
        assert isinstance(y, dict) and x.keys() == y.keys(), where
        for k in x:
            _assert_json_close(x[k], y[k], f"{where}.{k}")
    elif isinstance(x, list):
        assert isinstance(y, list) and len(x) == len(y), where
        for i, (u, v) in enumerate(zip(x, y)):
            _assert_json_close(u, v, f"{where}[{i}]")
    elif isinstance(x, float) and isinstance(y, float):
        assert math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-12), (where, x, y)
    else:
        assert x == y, (where, x, y)
