"""One optimisation step decreases the loss; runs are repeatable and resumable."""

import os

import torch

from baiseg_export.config import model_config, train_config
from baiseg_export.data.datasets import ProceduralDataset
from baiseg_export.loss import total_loss
from baiseg_export.models.baiseg import BAISeg
from baiseg_export.train import fit, make_batch


def test_one_step_decreases_loss():
    torch.manual_seed(0)
    tc = train_config("tiny", crop=64, batch=2, lr=1e-3, procedural_size=64)
    model = BAISeg(model_config("tiny"))
    model.train()
    ds = ProceduralDataset(0, 64)
    x, sem, bnd = make_batch(ds, tc, 0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(2):
        terms = total_loss(model(x), sem, bnd, tc, torch.Generator().manual_seed(0))
        losses.append(float(terms["loss"]))
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    assert losses[1] < losses[0]


def test_batches_repeatable():
    tc = train_config("tiny", crop=64, batch=2, procedural_size=64, contours="instance")
    a = make_batch(ProceduralDataset(0, 64), tc, 5)
    b = make_batch(ProceduralDataset(0, 64), tc, 5)
    for u, v in zip(a, b):
        assert torch.equal(u, v)


def test_resume_equals_uninterrupted(tmp_path):
    kw = dict(crop=64, batch=2, procedural_size=64, iters=2, save_every=1)
    fit(model_config("tiny"), train_config("tiny", **kw), "procedural", str(tmp_path / "a"), progress=False)
    # interrupted run: stop after one iteration (checkpoint), then resume to two
    fit(model_config("tiny"), train_config("tiny", **kw), "procedural", str(tmp_path / "b"),
        max_minutes=0.0, progress=False)
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=False)["iteration"] == 1
    fit(model_config("tiny"), train_config("tiny", **kw), "procedural", str(tmp_path / "b"), progress=False)
    sa = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    sb = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert sb["iteration"] == 2
    for k in sa["model"]:
        assert torch.equal(sa["model"][k], sb["model"][k]), k


# --- docs/boundary-targets.md: devices, workers, DDP, logs, validation, pretrained ---------------------------------
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fakedata  # noqa: E402
from baiseg_export.models.backbone import PretrainedError  # noqa: E402

PKG_ROOT = Path(__file__).resolve().parents[1]
TINY = dict(crop=64, batch=2, procedural_size=64, iters=3, log_every=1, save_every=1, threads=1)


def _state(path):
    return torch.load(path, weights_only=False)["model"]


def _param_names():
    return {n for n, _ in BAISeg(model_config("tiny")).named_parameters()}


def test_resume_with_workers_equals_uninterrupted(tmp_path):
    fit(model_config("tiny"), train_config("tiny", **TINY), "procedural", str(tmp_path / "a"), progress=False,
        device="cpu", workers=0)
    # interrupted at iteration 1 with 2 DataLoader workers, resumed with 2 workers
    fit(model_config("tiny"), train_config("tiny", **TINY), "procedural", str(tmp_path / "b"), progress=False,
        device="cpu", workers=2, stop_at=1)
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=False)["iteration"] == 1
    fit(model_config("tiny"), train_config("tiny", **TINY), "procedural", str(tmp_path / "b"), progress=False,
        device="cpu", workers=2)
    sa, sb = _state(tmp_path / "a" / "last.pt"), _state(tmp_path / "b" / "last.pt")
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    log = [json.loads(l) for l in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [r["it"] for r in log] == [1, 2, 3]
    for r in log:
        assert {"it", "loss", "L_B", "L_S", "L_P", "lr", "boundary_frac", "world_size", "images_per_s",
                "data_wait_share"} <= set(r)
        assert 0 < r["boundary_frac"] < 1 and 0 <= r["data_wait_share"] <= 1 and r["world_size"] == 1


def test_ddp_two_gloo_processes_equal_one_process_same_global_batch(tmp_path):
    """2 processes x batch 2 (DDP, gloo; interrupted and resumed) vs 1 process x batch 2 x 2
    accumulated micro-batches: the same global batch of 4, the same samples, the same PPC draws
    -> the same parameters."""
    common = ["--config", "tiny", "--data", "procedural", "--iters", "3", "--crop", "64", "--procedural-size", "64",
              "--batch", "2", "--log-every", "1", "--no-progress", "--device", "cpu", "--threads", "1",
              "--no-tensorboard"]
    env = {**__import__("os").environ, "PYTHONPATH": str(PKG_ROOT), "OMP_NUM_THREADS": "1"}
    # interrupted after iteration 1, then resumed by the same command (both with 2 processes)
    # the resumed run also validates at its end, sharded over the 2 ranks (gather_object on gloo)
    for extra in (["--stop-at", "1"], ["--val-data", "procedural:5", "--val-every", "3", "--val-limit", "3"]):
        r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                            "-m", "baiseg_export.train", *common, *extra, "--out", str(tmp_path / "ddp")],
                           env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "resuming" in r.stdout and r.stdout.count("resuming") == 1  # rank 0 only
    fit(model_config("tiny"), train_config("tiny", **{**TINY, "accum": 2}), "procedural", str(tmp_path / "one"),
        progress=False, device="cpu")
    sa, sb = _state(tmp_path / "ddp" / "last.pt"), _state(tmp_path / "one" / "last.pt")
    for k in _param_names():  # BN running statistics are per process under DDP (rank 0's are saved)
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-5, atol=1e-6, msg=k)
    la = [json.loads(l) for l in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()]
    val = [r for r in la if "mAP@0.5" in r]
    assert len(val) == 1 and val[0]["it"] == 3 and val[0]["val_images"] == 3
    assert (tmp_path / "ddp" / "best.pt").exists()
    la = [r for r in la if "loss" in r]
    lb = [json.loads(l) for l in (tmp_path / "one" / "log.jsonl").read_text().splitlines()]
    assert [r["world_size"] for r in la] == [2, 2, 2] and la[0]["global_batch"] == 4
    for x, y in zip(la, lb):
        for k in ("loss", "L_B", "L_S", "L_P", "boundary_frac"):
            assert x[k] == pytest.approx(y[k], rel=1e-5, abs=1e-6), k
    cfg = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert cfg["world_size"] == 2 and cfg["global_batch"] == 4
    assert not (tmp_path / "ddp" / "last.pt.tmp").exists()


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_on_cpu(tmp_path, amp):
    terms = fit(model_config("tiny"), train_config("tiny", **{**TINY, "iters": 2}), "procedural", str(tmp_path),
                progress=False, device="cpu", amp=amp)
    assert all(np.isfinite(v) for v in terms.values())
    ck = torch.load(tmp_path / "last.pt", weights_only=False)
    assert (ck["scaler"] is not None) == (amp == "fp16")


def test_device_errors():
    from baiseg_export.train import resolve_device

    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda:0")
    with pytest.raises(ValueError, match="--device must be"):
        resolve_device("tpu")


def test_train_on_tiny_coco_and_validate(tmp_path):
    """Two iterations on 3 real COCO photos (crowd region included), validation on a folder set."""
    ann, images = fakedata.make_coco(tmp_path / "coco")
    val = fakedata.make_folder(tmp_path / "val", n=2, size=64)
    tc = train_config("tiny", **{**TINY, "iters": 2})
    fit(model_config("tiny"), tc, f"coco:{ann}:{images}", str(tmp_path / "run"), progress=False, device="cpu",
        val_data=f"folder:{val}", val_every=1)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["num_images"] == 3 and cfg["data"] == f"coco:{ann}:{images}"
    assert cfg["data_description"]["kind"] == "coco" and cfg["model"]["num_classes"] == 80
    recs = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    vals = [r for r in recs if "mAP@0.5" in r]
    assert [r["it"] for r in vals] == [1, 2]
    for r in vals:
        assert {"mAP@0.25", "mAP@0.5", "mAP@0.7", "mAP@0.75", "segm_AP", "segm_AP50"} <= set(r)
        assert r["val_images"] == 2 and r["val_mep"] in ("reference", "baiseg_rt")
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert best["extra"]["best_mAP50"] == max(r["mAP@0.5"] for r in vals)
    assert (tmp_path / "run" / "last.pt").exists()


def test_pretrained_file_reports_keys_and_stops_when_backbone_missing(tmp_path, capsys):
    torch.manual_seed(3)
    donor = BAISeg(model_config("tiny"))
    sd = {f"module.{k}": v for k, v in donor.backbone.body.state_dict().items()}
    sd["classifier.weight"] = torch.zeros(3, 3)
    torch.save({"state_dict": sd}, tmp_path / "hrnet.pth")
    m = BAISeg(model_config("tiny"), str(tmp_path / "hrnet.pth"))
    rep = m.backbone.pretrained_report
    assert rep["missing"] == [] and rep["unexpected"] == ["classifier.weight"] and rep["loaded"] == rep["total"]
    assert "unexpected 1" in capsys.readouterr().out
    for k, v in donor.backbone.body.state_dict().items():
        assert torch.equal(m.backbone.body.state_dict()[k], v)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(PretrainedError, match="the backbone did not load"):
        BAISeg(model_config("tiny"), str(tmp_path / "other.pth"))
    small = BAISeg(model_config("small")).backbone.body.state_dict()
    torch.save(small, tmp_path / "wrong.pth")
    with pytest.raises(PretrainedError, match="wrong shape"):
        BAISeg(model_config("tiny"), str(tmp_path / "wrong.pth"))


def test_pretrained_timm_without_cache_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    with pytest.raises(PretrainedError, match=r"ImageNet weights of hrnet_w18_small .* not in the local cache"):
        BAISeg(model_config("tiny"), "timm")


def test_tensorboard_events_when_installed(tmp_path):
    pytest.importorskip("tensorboard")  # optional: `pip install baiseg-export[tensorboard]`
    fit(model_config("tiny"), train_config("tiny", **{**TINY, "iters": 1}), "procedural", str(tmp_path),
        progress=False, device="cpu")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ev = EventAccumulator(str(tmp_path / "tb"))
    ev.Reload()
    assert {"loss", "L_B", "L_S", "L_P", "boundary_frac", "data_wait_share"} <= set(ev.Tags()["scalars"])


def test_paper_presets_follow_the_paper():
    from baiseg_export.train import _apply_model_overrides

    for name, iters in (("paper", 60000), ("paper-coco", 480000)):
        tc, mc = train_config(name), model_config(name)
        assert (tc.crop, tc.batch, tc.lr, tc.iters, tc.temperature) == (416, 16, 5e-5, iters, 0.2)
        assert (tc.w_ppc, tc.w_boundary, tc.w_semantic, tc.contours) == (0.3, 50.0, 1.0, "semantic")
        assert (mc.backbone, mc.backbone_features, mc.num_cfm, mc.cfm_dim, mc.ppc_index, mc.ppc_dim) == \
            ("hrnet_w48", "v1", 4, 128, 2, 1)
    mc = model_config("paper")
    _apply_model_overrides(mc, [("ppc_dim", "32"), ("backbone_features", "v2"), ("aspp_rates", "3,6,9")])
    assert (mc.ppc_dim, mc.backbone_features, mc.aspp_rates) == (32, "v2", (3, 6, 9))
    with pytest.raises(SystemExit, match="unknown or fixed field"):
        _apply_model_overrides(mc, [("num_classes", "3")])


def test_pretrained_from_a_timm_classification_state_dict(tmp_path):
    """What a user saves from ``timm.create_model('hrnet_w48', pretrained=True).state_dict()``:
    the classification net's keys; its heads are the unexpected ones, nothing is missing."""
    from timm.models import hrnet as timm_hrnet

    from baiseg_export.models.backbone import _scaled_cfg

    torch.manual_seed(5)
    cls_net = timm_hrnet.HighResolutionNet(_scaled_cfg("hrnet_w18_small", 0.5))
    torch.save(cls_net.state_dict(), tmp_path / "cls.pth")
    m = BAISeg(model_config("tiny"), str(tmp_path / "cls.pth"))
    rep = m.backbone.pretrained_report
    assert rep["missing"] == [] and rep["loaded"] == rep["total"]
    assert {k.split(".")[0] for k in rep["unexpected"]} == {"classifier", "downsamp_modules", "final_layer",
                                                           "incre_modules"}
    assert torch.equal(m.backbone.body.conv1.weight, cls_net.conv1.weight)
