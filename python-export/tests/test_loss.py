"""Loss terms on tiny hand-computed cases."""

import math

import torch

from baiseg_export.config import train_config
from baiseg_export.loss import (boundary_loss, ppc_loss, semantic_loss, stride_labels, total_loss,
                                weighted_contrast_loss)


def _logit(p):
    return math.log(p / (1 - p))


def test_boundary_loss_hand_computed():
    # 2x2 image, one boundary pixel (p=0.8), three non-boundary (p=0.1, 0.2, 0.5); alpha = 3/4
    probs = [0.8, 0.1, 0.2, 0.5]
    y = torch.tensor([[[1, 0], [0, 0]]])
    logits = torch.tensor([[[[_logit(p) for p in probs[:2]], [_logit(p) for p in probs[2:]]]]])
    a = 0.75
    s = -(a * math.log(0.8) + (1 - a) * (math.log(0.9) + math.log(0.8) + math.log(0.5)))
    assert abs(float(boundary_loss(logits, y, reduction="sum")) - s) < 1e-5
    assert abs(float(boundary_loss(logits, y)) - s / 4) < 1e-6


def test_boundary_loss_ignores_255():
    y = torch.tensor([[[1, 0], [255, 255]]])
    logits = torch.tensor([[[[_logit(0.8), _logit(0.1)], [5.0, -5.0]]]])
    a = 0.5
    s = -(a * math.log(0.8) + (1 - a) * math.log(0.9))
    assert abs(float(boundary_loss(logits, y, reduction="sum")) - s) < 1e-5
    assert abs(float(boundary_loss(logits, y)) - s / 2) < 1e-6


def test_semantic_loss_ignore():
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 3.0]]]])  # [1,2,1,2]
    target = torch.tensor([[[0, 255]]])
    expect = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert abs(float(semantic_loss(logits, target)) - expect) < 1e-6


def test_weighted_contrast_hand_computed():
    # three 1-D unit embeddings: anchor 0 (label 1), positive 1 (label 1), negative 2 (label 0)
    f = torch.tensor([[1.0], [1.0], [-1.0]])
    labels = torch.tensor([1, 1, 0])
    anchors = torch.tensor([True, False, False])
    t, alpha = 0.2, 0.7
    pos, neg = 1.0 / t, -1.0 / t
    expect = -alpha * math.log(math.exp(pos) / (math.exp(pos) + (1 - alpha) * math.exp(neg)))
    got = float(weighted_contrast_loss(f, labels, anchors, alpha, t))
    assert abs(got - expect) < 1e-6


def test_weighted_contrast_two_anchors_mean():
    f = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([1, 1, 0, 0])
    anchors = torch.tensor([True, False, True, False])
    t, a = 0.2, 0.5
    sim = (f @ f.t()).tolist()

    def term(i, p, negs):
        num = math.exp(sim[i][p] / t)
        return -a * math.log(num / (num + (1 - a) * sum(math.exp(sim[i][n] / t) for n in negs)))

    expect = (term(0, 1, [2, 3]) + term(2, 3, [0, 1])) / 2
    assert abs(float(weighted_contrast_loss(f, labels, anchors, a, t)) - expect) < 1e-5


def test_stride_labels():
    t = torch.full((1, 4, 8), 0)
    t[0, 0, 0] = 1
    t[0, :, 4:] = 255
    lab = stride_labels(t, 4)
    assert lab.tolist() == [[[1, -1]]]


def test_ppc_and_total_loss_run():
    torch.manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(2, 8, 4, 4, requires_grad=True), dim=1)
    tgt = torch.zeros(2, 16, 16, dtype=torch.long)
    tgt[:, 5, :] = 1
    lp = ppc_loss(emb, tgt, anchors=4, samples=8, generator=torch.Generator().manual_seed(0))
    assert lp.item() > 0
    out = {"boundary": torch.zeros(2, 1, 4, 4), "semantic": torch.zeros(2, 3, 4, 4), "embedding": emb}
    terms = total_loss(out, torch.zeros(2, 16, 16, dtype=torch.long), tgt, train_config("small"),
                       torch.Generator().manual_seed(0))
    expect = 0.3 * terms["L_P"] + 50 * terms["L_B"] + 1 * terms["L_S"]
    assert torch.allclose(terms["loss"], expect)
    assert abs(float(terms["L_S"]) - math.log(3)) < 1e-5
    assert abs(float(terms["L_B"]) - math.log(2) * 2 * (16 / 256) * (240 / 256)) < 1e-5


def test_ppc_dim_one_gives_no_gradient():
    """The paper preset's PPC projection size 1 (Table 10): L2-normalised 1-d embeddings are +-1,
    so L_P has no gradient (documented in the README); dim 32 does train."""
    import torch

    from baiseg_export.loss import ppc_loss
    from baiseg_export.models.ppc import ProjectionHead

    torch.manual_seed(0)
    x = torch.randn(2, 8, 8, 8, requires_grad=True)
    target = torch.zeros(2, 32, 32, dtype=torch.long)
    target[:, 10:12, :] = 1
    for dim, has_grad in ((1, False), (32, True)):
        x.grad = None
        head = ProjectionHead(8, dim)
        loss = ppc_loss(head(x), target, 0.2, 16, 64, torch.Generator().manual_seed(0))
        loss.backward()
        assert float(loss) > 0
        assert (float(x.grad.abs().max()) > 1e-6) == has_grad
