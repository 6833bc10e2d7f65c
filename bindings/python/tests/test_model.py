import numpy as np
import pytest
from PIL import Image

import baiseg_rt

from conftest import ANNOTATIONS, FIX, MODEL, SAMPLES, run_cli, sort_key


@pytest.fixture(scope="module")
def model():
    return baiseg_rt.Model(MODEL, threads=1)


def _results(model, images, names):
    ids = baiseg_rt.coco_image_ids(ANNOTATIONS)
    cats = model.category_ids(ANNOTATIONS)
    out = []
    for name, insts in zip(names, model.infer(images)):
        out += baiseg_rt.to_coco_results(insts, ids[name], cats, file_name=name)
    return out


def test_info(model):
    assert model.classes == model.info["model"]["classes"]
    assert model.info["device"] == "cpu"
    assert model.info["library"]


def test_infer_equals_cli(model, cli_instances):
    paths = sorted(SAMPLES.glob("*.png"))
    images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    got = _results(model, images, [p.name for p in paths])
    assert sorted(got, key=sort_key) == sorted(cli_instances, key=sort_key)
    # and the Rust decoder gives the same pixels as PIL for these PNGs
    for p, im in zip(paths, images):
        np.testing.assert_array_equal(baiseg_rt.decode_image(p.read_bytes(), str(p)), im)


def test_instance_api(model):
    img = np.asarray(Image.open(sorted(SAMPLES.glob("*.png"))[0]).convert("RGB"))
    (insts,) = model.infer([img])
    assert insts
    inst = insts[0]
    m = inst.mask()
    assert m.dtype == np.bool_ and m.shape == img.shape[:2]
    assert int(m.sum()) == inst.area
    np.testing.assert_array_equal(baiseg_rt.rle.decode(inst.rle), m.astype(np.uint8))
    assert list(baiseg_rt.rle.to_bbox(inst.rle)) == list(inst.bbox)
    assert inst.rle["size"] == list(img.shape[:2])
    assert isinstance(inst.rle["counts"], str)
    assert 1 <= inst.category <= len(model.classes)
    assert "Instance(" in repr(inst)


def test_batched_infer_same_sizes(model):
    paths = sorted(SAMPLES.glob("*.png"))[:3]
    images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    one = model.infer(images)
    assert [len(x) for x in one] == [len(x) for x in model.infer(images, batch_size=3)]


def _cli_error(*args):
    r = run_cli(*args, check=False)
    assert r.returncode != 0
    return r.stderr


def test_missing_model_is_oserror_with_cli_message(tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(OSError) as e:
        baiseg_rt.Model(missing)
    assert isinstance(e.value, baiseg_rt.BaisegError)
    assert str(e.value) in _cli_error("infer", missing, SAMPLES, "--out", tmp_path / "o")


def test_not_a_model_is_valueerror_with_cli_message(tmp_path):
    bad = FIX / "models" / "not_baiseg.onnx"
    with pytest.raises(baiseg_rt.ModelContractError) as e:
        baiseg_rt.Model(bad)
    assert isinstance(e.value, ValueError)
    assert str(e.value) in _cli_error("infer", bad, SAMPLES, "--out", tmp_path / "o")


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="device"):
        baiseg_rt.Model(MODEL, device="tpu")
    with pytest.raises(TypeError, match="nms_radiu"):
        model.infer([np.zeros((8, 8, 3), np.uint8)], nms_radiu=2)
    with pytest.raises(baiseg_rt.InvalidInputError, match="RGB"):
        model.infer([np.zeros((8, 8, 5), np.uint8)])
    with pytest.raises(baiseg_rt.DecodeError, match="cannot decode"):
        baiseg_rt.decode_image(b"not an image", "x.png")


def test_tiled_infer_equals_untiled_for_a_position_independent_model():
    # fixtures/models/sobel.onnx is convolutions only: tiles must reproduce the untiled result.
    sobel = baiseg_rt.Model(FIX / "models" / "sobel.onnx", threads=1)
    image = np.asarray(Image.open(sorted(SAMPLES.glob("*.png"))[0]).convert("RGB"))
    whole = sobel.infer([image])[0]
    tiled = sobel.infer([image], batch_size=4, tile=128, tile_overlap=32)[0]
    assert len(whole) > 20
    assert [(i.category, i.score, i.rle["counts"]) for i in tiled] == [
        (i.category, i.score, i.rle["counts"]) for i in whole
    ]
    with pytest.raises(baiseg_rt.InvalidInputError):
        sobel.infer([image], tile=64, tile_overlap=64)


def test_tiled_infer_takes_a_scratch_folder(tmp_path):
    # The scratch folder of a large image's class probabilities (infer --scratch-dir): results
    # do not depend on it, nothing is left in it, and a missing one is an error naming it.
    sobel = baiseg_rt.Model(FIX / "models" / "sobel.onnx", threads=1)
    image = np.asarray(Image.open(sorted(SAMPLES.glob("*.png"))[0]).convert("RGB"))
    plain = sobel.infer([image], tile=128, tile_overlap=32)[0]
    here = sobel.infer([image], tile=128, tile_overlap=32, scratch_dir=tmp_path)[0]
    assert [(i.category, i.score, i.rle["counts"]) for i in here] == [
        (i.category, i.score, i.rle["counts"]) for i in plain
    ]
    assert list(tmp_path.iterdir()) == []
    missing = tmp_path / "no-such-folder"
    with pytest.raises(baiseg_rt.InvalidInputError, match="scratch folder.*no-such-folder"):
        sobel.infer([image], tile=128, tile_overlap=32, scratch_dir=missing)
    # spill_above=0 (infer --spill-above 0): the planes go to the scratch file whatever their
    # size, with the same results and nothing left behind.
    spilled = sobel.infer([image], tile=128, tile_overlap=32, scratch_dir=tmp_path, spill_above=0)[0]
    assert [(i.category, i.score, i.rle["counts"]) for i in spilled] == [
        (i.category, i.score, i.rle["counts"]) for i in plain
    ]
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(baiseg_rt.InvalidInputError, match="spill_above"):
        sobel.infer([image], tile=128, tile_overlap=32, spill_above=-1)


def test_polygons_rasterise_to_the_mask(model):
    from pycocotools import mask as mask_utils

    image = np.asarray(Image.open(sorted(SAMPLES.glob("*.png"))[0]).convert("RGB"))
    insts = model.infer([image])[0]
    assert insts
    for inst in insts:
        h, w = inst.size
        merged = mask_utils.merge(mask_utils.frPyObjects(inst.polygons, h, w))
        np.testing.assert_array_equal(mask_utils.decode(merged).astype(bool), inst.mask())
