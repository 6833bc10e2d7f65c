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
