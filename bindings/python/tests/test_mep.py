import json

import numpy as np
import pytest
from PIL import Image

import baiseg_rt

from conftest import FIX

CASES = ["syn_64x64_s1", "syn_labels_160x192_s3", "coco_193245_labels"]


@pytest.mark.parametrize("case", CASES)
def test_mep_matches_fixture(case):
    d = FIX / "mep" / case
    image = np.asarray(Image.open(d / "image.png").convert("RGB"))
    boundary = np.load(d / "boundary.npy")
    if (d / "semantic.npy").exists():
        insts = baiseg_rt.mep(image, boundary, semantic=np.load(d / "semantic.npy"))
    else:
        insts = baiseg_rt.mep(image, boundary, labels=np.asarray(Image.open(d / "labels.png")))
    expected = json.loads((d / "expected.json").read_text())
    assert len(insts) == len(expected["instances"])
    for got, exp in zip(insts, expected["instances"]):
        assert got.category == exp["category"]
        assert got.rle["counts"] == exp["counts"]
        assert abs(got.score - exp["score"]) <= 1e-6
    labels = baiseg_rt.label_map(insts, *image.shape[:2])
    want = np.asarray(Image.open(d / "expected_labels.png")).astype(np.uint16)
    np.testing.assert_array_equal(labels, want)


def test_mep_params_and_errors():
    d = FIX / "mep" / "syn_64x64_s1"
    image = np.asarray(Image.open(d / "image.png").convert("RGB"))
    b = np.load(d / "boundary.npy")
    p = np.load(d / "semantic.npy")
    assert baiseg_rt.mep(image, b, semantic=p, min_area=10**9) == []
    with pytest.raises(ValueError, match="exactly one"):
        baiseg_rt.mep(image, b)
    with pytest.raises(baiseg_rt.InvalidInputError):
        baiseg_rt.mep(image, b[:10], semantic=p)


def test_mep_improved_mode():
    """`mep="improved"` runs the improved MEP (its snapshot in tests/snapshots/), paper stays default."""
    d = FIX / "mep" / "coco_193245_labels"
    image = np.asarray(Image.open(d / "image.png").convert("RGB"))
    b = np.load(d / "boundary.npy")
    lab = np.asarray(Image.open(d / "labels.png"))
    paper = baiseg_rt.mep(image, b, labels=lab)
    assert [i.rle["counts"] for i in paper] == [i.rle["counts"] for i in baiseg_rt.mep(image, b, labels=lab, mep="paper")]
    improved = baiseg_rt.mep(image, b, labels=lab, mep="improved")
    snap = (FIX.parent / "tests" / "snapshots" / "mep_improved_coco_193245_labels.snap").read_text()
    assert f'"instances": {len(improved)},' in snap
    with pytest.raises(baiseg_rt.InvalidInputError, match="mep"):
        baiseg_rt.mep(image, b, labels=lab, mep="fancy")
