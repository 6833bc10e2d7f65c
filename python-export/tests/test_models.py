"""Shapes of every block, for the paper and small configs (paper at a tiny input size)."""

import pytest
import torch

from baiseg_export.models import create_model, list_models
from baiseg_export.models.iabd import CFM, DMA, FFM, IABD, MAU
from baiseg_export.models.semantic import ASPP

EXPECTED = {  # config -> (backbone channels, CFM dim, PPC dim)
    # paper: Table 6's best row "HRNet-W48" = the stride-4 branch only (v1); PPC dim 1 (Table 10)
    "paper": (48, 128, 1),
    "paper-coco": (48, 128, 1),
    # small / tiny: HRNetV2 = the sum of the four HRNet branches
    "small": (16 + 32 + 64 + 128, 32, 32),
    "tiny": (8 + 16 + 32 + 64, 16, 16),
}


def test_registry():
    assert {"paper", "small"} <= set(list_models())


def test_mau_is_eq5():
    torch.manual_seed(0)
    mau = MAU(8, reduction=2).eval()
    f = torch.randn(2, 8, 5, 7)
    with torch.no_grad():
        out = mau(f)
        expect = mau.identity(f) + (f * mau.channel_attention(f) + f * mau.spatial_attention(f)) * mau.beta
    assert out.shape == f.shape
    assert torch.allclose(out, expect)
    assert mau.channel_attention(f).shape == (2, 8, 1, 1)
    assert mau.spatial_attention(f).shape == (2, 1, 5, 7)
    mau.beta.data.fill_(0.0)
    with torch.no_grad():
        assert torch.allclose(mau(f), mau.identity(f))
    assert mau.beta.requires_grad


def test_blocks_shapes():
    x = torch.randn(2, 16, 12, 10)
    assert DMA(16, dilation=3).eval()(x).shape == x.shape
    g, l = CFM(16, dilation=2).eval()(x, x)
    assert g.shape == l.shape == x.shape
    g, l = FFM(16).eval()(x, x)
    assert g.shape == x.shape
    logits, feats = IABD(40, dim=16, num_cfm=4).eval()(torch.randn(2, 40, 12, 10))
    assert logits.shape == (2, 1, 12, 10) and len(feats) == 4 and feats[1].shape == (2, 16, 12, 10)
    assert ASPP(40, 24, (1, 2, 3)).eval()(torch.randn(2, 40, 12, 10)).shape == (2, 24, 12, 10)


@pytest.mark.parametrize("name", ["paper", "small", "tiny"])
def test_model_shapes(name):
    torch.manual_seed(0)
    m = create_model(name).eval()
    c, dim, pdim = EXPECTED[name]
    assert m.backbone.channels == c
    assert len(m.iabd.cfms) == 4
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        feat = m.backbone(x)
        assert feat.shape == (1, c, 16, 24)
        logits, cfm = m.iabd(feat)
        assert logits.shape == (1, 1, 16, 24)
        assert [f.shape for f in cfm] == [(1, dim, 16, 24)] * 4
        out = m(x)
    assert out["boundary"].shape == (1, 1, 16, 24)
    assert out["semantic"].shape == (1, m.cfg.num_classes + 1, 16, 24)
    emb = out["embedding"]
    assert emb.shape == (1, pdim, 16, 24)
    assert torch.allclose(emb.norm(dim=1), torch.ones(1, 16, 24), atol=1e-5)


def test_export_wrapper_full_resolution():
    from baiseg_export.models.baiseg import ExportWrapper

    m = create_model("tiny").eval()
    with torch.no_grad():
        b, s = ExportWrapper(m)(torch.randn(2, 3, 64, 32))
        (b1,) = (ExportWrapper(m, single_branch=True)(torch.randn(1, 3, 32, 32)),)
    assert b.shape == (2, 1, 64, 32) and s.shape == (2, 4, 64, 32)
    assert b1.shape == (1, 1, 32, 32)
    assert float(b.min()) >= 0 and float(b.max()) <= 1
    assert torch.allclose(s.sum(1), torch.ones(2, 64, 32), atol=1e-5)
