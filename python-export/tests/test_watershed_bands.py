"""benches/watershed_bands.py: the banded watershed study measures what it says it does."""

import importlib.util
from pathlib import Path

import numpy as np

from baiseg_export.reference import mep as ref
from baiseg_export.reference import mep_inputs as mi

_PATH = Path(__file__).resolve().parents[2] / "benches" / "watershed_bands.py"
_spec = importlib.util.spec_from_file_location("watershed_bands", _PATH)
wb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wb)


def _scene():
    case = mi.synthetic(7, 192, 160, 12)
    r = ref.run_mep(case["image"], case["boundary"], case["semantic"], encode_rle=False)
    return case, r


def test_a_halo_covering_the_image_is_the_full_frame_flood():
    case, r = _scene()
    for band in (1, 7, 64, 192):
        ws = wb.banded_watershed(case["image"], r.markers, band, 192)
        np.testing.assert_array_equal(ws, r.watershed)


def test_thin_bands_without_halo_differ_and_the_comparison_sees_it():
    case, r = _scene()
    ws = wb.banded_watershed(case["image"], r.markers, 8, 0)
    # Every band's first and last rows become its frame (-1), so the labels must differ there.
    assert (ws != r.watershed).any()
    inst = ref.refine(ws, case["semantic"], None, r.params["closing_kernel"], r.params["min_area"])
    changed, worst, ok = wb.compare(r.instances, inst, 192, 160)
    assert changed > 0 and worst < 1.0 and not ok
    # The comparison of a result with itself finds nothing.
    assert wb.compare(r.instances, r.instances, 192, 160) == (0, 1.0, True)
