"""``--data`` layouts on tiny fake datasets (real VOC / COCO photos where the repository has them)."""

import json

import numpy as np
import pytest
import scipy.io
from PIL import Image

import fakedata
from baiseg_export.config import train_config
from baiseg_export.data.datasets import (
    COCODataset, DatasetError, FolderDataset, SBDDataset, TrainAugDataset, VOCDataset, gt_instances, open_dataset,
)
from baiseg_export.train import make_sample


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return fakedata.make_voc(tmp_path_factory.mktemp("voc"))


@pytest.fixture(scope="module")
def sbd(tmp_path_factory):
    return fakedata.make_sbd(tmp_path_factory.mktemp("sbd"))


def test_voc_splits_and_void_band(voc):
    assert len(open_dataset(f"voc:{voc}", split="train")) == 2
    assert len(open_dataset(f"voc:{voc.parent}", split="val")) == 1  # VOCdevkit accepted too
    ds = open_dataset(f"voc:{voc}", split="trainval")
    assert isinstance(ds, VOCDataset) and len(ds) == 3 and ds.class_names[14] == "person"
    img, sem, inst = ds[ds.ids.index("2011_000003")]
    assert img.shape == (338, 500, 3) and sem.shape == inst.shape == (338, 500)
    assert (sem == 255).sum() > 1000 and set(np.unique(sem)) <= {0, 5, 15, 255}
    assert inst.max() == 3 and not (inst == 255).any()


@pytest.mark.parametrize("config,contours", [("paper", "semantic"), ("small", "instance")])
def test_voc_boundary_targets_not_empty(voc, config, contours):
    # docs/boundary-targets.md: with VOC's void band both configs used to get zero boundary pixels
    tc = train_config(config, crop=128, batch=1, scale_min=1.0, scale_max=1.0)
    assert tc.contours == contours
    ds = open_dataset(f"voc:{voc}", split="train")
    frac = []
    for b in range(4):
        _, sem, bnd = make_sample(ds, tc, 0, b, 4)
        assert set(np.unique(bnd)) <= {0, 1, 255}
        # the semantic target keeps the void band (ignored by L_S); the boundary target labels
        # every band pixel (no crop padding here: scale 1, the photos are larger than the crop)
        assert (bnd[sem == 255] != 255).all()
        if contours == "semantic":  # semantic edges of VOC labels lie inside the band
            assert (sem[bnd == 1] == 255).all()
        frac.append((bnd == 1).sum() / max((bnd != 255).sum(), 1))
    assert max(frac) > 0.01
    tc0 = train_config(config, crop=128, batch=1, scale_min=1.0, scale_max=1.0, void_fill=0.0)
    assert sum(int((make_sample(ds, tc0, 0, b, 4)[2] == 1).sum()) for b in range(4)) == 0


def test_sbd_mat_files(sbd):
    ds = open_dataset(f"sbd:{sbd}", split="train")
    assert isinstance(ds, SBDDataset) and ds.ids == ["2011_000003", "2008_000001"]
    img, sem, inst = ds[1]
    assert sem.dtype == np.uint8 and inst.dtype == np.uint16 and sem.shape == img.shape[:2]
    assert set(np.unique(sem)) <= {0, 11, 12, 13} and inst.max() >= 3


def test_trainaug_is_voc_train_plus_sbd_minus_voc_val(voc, sbd):
    ds = open_dataset(f"trainaug:{voc},{sbd}")
    assert isinstance(ds, TrainAugDataset)
    assert ds.ids == ["2008_000001", "2008_000002", "2011_000003", "2011_000025"]  # not 2011_000006 (VOC val)
    assert ds.source == {"2008_000001": "sbd", "2008_000002": "sbd", "2011_000003": "voc", "2011_000025": "voc"}
    _, sem, _ = ds[ds.ids.index("2011_000003")]
    assert (sem == 255).any()  # VOC's labels (with the band) win over SBD's
    _, sem, inst = ds[0]
    assert inst is not None and (sem > 10).any()


def test_coco_crowd_and_overlap_rule(tmp_path):
    ann, images = fakedata.make_coco(tmp_path)
    ds = open_dataset(f"coco:{ann}:{images}")
    assert isinstance(ds, COCODataset) and len(ds) == 3 and len(ds.class_names) == 80
    i = ds.ids.index(193245)  # the image with an iscrowd=1 region
    _, sem, inst = ds[i]
    assert (sem == 255).any() and not (inst[sem == 255]).any()
    crowd = [g for g in gt_instances(ds, i) if g["iscrowd"]]
    assert len(crowd) == 1
    # overlap rule on a synthetic file: decreasing area, so the small box stays on top of the big one
    img = np.full((20, 20, 3), 128, np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    big = {"id": 1, "image_id": 1, "category_id": 3, "iscrowd": 0, "area": 100.0,
           "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]], "bbox": [2, 2, 10, 10]}
    small = {"id": 2, "image_id": 1, "category_id": 5, "iscrowd": 0, "area": 16.0,
             "segmentation": [[5, 5, 9, 5, 9, 9, 5, 9]], "bbox": [5, 5, 4, 4]}
    for order in ([small, big], [big, small]):
        (tmp_path / "o.json").write_text(json.dumps({
            "images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 20}], "annotations": order,
            "categories": [{"id": 3, "name": "c3"}, {"id": 5, "name": "c5"}]}))
        _, sem, inst = open_dataset(f"coco:{tmp_path / 'o.json'}:{tmp_path}")[0]
        assert sem[7, 7] == 2 and inst[7, 7] == 2  # small (label 2 = category 5) on top
        assert sem[3, 3] == 1 and inst[3, 3] == 1


def test_folder_layout_and_errors(tmp_path):
    root = fakedata.make_folder(tmp_path / "f")
    ds = open_dataset(f"folder:{root}")
    assert isinstance(ds, FolderDataset) and ds.class_names == ["disc", "box", "triangle"] and len(ds) == 3
    img, sem, inst = ds[1]  # a .jpg image
    assert img.shape[:2] == sem.shape == inst.shape and inst.max() > 0
    # malformed: a class id beyond classes.txt
    bad = np.array(Image.open(root / "masks" / "s0.png"))
    bad[0, 0] = 7
    Image.fromarray(bad).save(root / "masks" / "s0.png")
    with pytest.raises(DatasetError, match=r"s0\.png: class ids \[7\] outside 0\.\.3"):
        ds[0]
    (root / "masks" / "s2.png").unlink()
    with pytest.raises(DatasetError, match=r"masks/s2\.png: mask missing for image s2\.png"):
        open_dataset(f"folder:{root}")
    (root / "classes.txt").unlink()
    with pytest.raises(DatasetError, match="classes.txt missing"):
        open_dataset(f"folder:{root}")


def test_malformed_voc_and_sbd(tmp_path):
    voc = fakedata.make_voc(tmp_path / "v")
    (voc / "SegmentationClass" / "2011_000025.png").unlink()
    with pytest.raises(DatasetError, match=r"2011_000025\.png: class label missing"):
        open_dataset(f"voc:{voc}", split="train")
    with pytest.raises(DatasetError, match=r"ImageSets/Segmentation/test\.txt|split must be"):
        open_dataset(f"voc:{voc}", split="test")
    with pytest.raises(DatasetError, match="not a VOC 2012 root"):
        open_dataset(f"voc:{tmp_path}")
    # a label of the wrong size
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(voc / "SegmentationClass" / "2011_000006.png")
    with pytest.raises(DatasetError, match=r"2011_000006\.png: class label is 10x10 but the image is 500x375"):
        open_dataset(f"voc:{voc}", split="val")[0]
    sbd = fakedata.make_sbd(tmp_path / "s")
    scipy.io.savemat(sbd / "dataset" / "cls" / "2008_000001.mat", {"other": np.zeros((2, 2))})
    with pytest.raises(DatasetError, match=r"2008_000001\.mat: no struct 'GTcls'"):
        open_dataset(f"sbd:{sbd}", split="train")[1]
    with pytest.raises(DatasetError, match="cannot tell the dataset kind"):
        open_dataset(str(tmp_path / "nothing"))
    with pytest.raises(DatasetError, match="annotation file missing"):
        open_dataset(f"coco:{tmp_path / 'x.json'}:{tmp_path}")


def test_cli_reports_malformed_dataset(tmp_path):
    from baiseg_export.train import main

    (tmp_path / "images").mkdir()
    with pytest.raises(SystemExit, match=r"error: .*classes\.txt missing"):
        main(["--config", "tiny", "--data", f"folder:{tmp_path}", "--out", str(tmp_path / "o"), "--device", "cpu"])
