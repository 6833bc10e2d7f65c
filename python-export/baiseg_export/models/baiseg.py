"""BAISeg: shared HRNetV2 backbone, IABD boundary branch, PPC head, DeepLabv3 semantic branch."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import MODEL_CONFIGS, ModelConfig, model_config
from .backbone import HRNetV2Backbone
from .iabd import IABD
from .ppc import ProjectionHead
from .semantic import SemanticHead


class BAISeg(nn.Module):
    """``forward`` returns logits at stride 4 (training); ``forward_export`` full-size probabilities."""

    def __init__(self, cfg: ModelConfig, pretrained: str | None = None):
        super().__init__()
        self.cfg = cfg
        self.backbone = HRNetV2Backbone(cfg.backbone, cfg.backbone_width, pretrained, cfg.backbone_features)
        c = self.backbone.channels
        self.iabd = IABD(c, cfg.cfm_dim, cfg.num_cfm, cfg.mau_reduction)
        self.ppc = ProjectionHead(cfg.cfm_dim, cfg.ppc_dim)
        self.semantic = SemanticHead(c, cfg.num_classes + 1, cfg.aspp_dim, cfg.aspp_rates)
        # final prediction layers start small (HED / DeepLab practice): N(0, 0.01), zero bias
        for conv in (self.iabd.head, self.semantic.cls):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor, with_embedding: bool = True) -> dict[str, torch.Tensor]:
        feat = self.backbone(x)
        boundary, cfm_feats = self.iabd(feat)
        out = {"boundary": boundary, "semantic": self.semantic(feat), "feature": feat}
        if with_embedding:
            out["embedding"] = self.ppc(cfm_feats[self.cfg.ppc_index - 1])
        return out


class ExportWrapper(nn.Module):
    """The graph that is exported: normalised image -> full-resolution probabilities."""

    def __init__(self, model: BAISeg, single_branch: bool = False):
        super().__init__()
        self.model = model
        self.single_branch = single_branch

    def forward(self, image: torch.Tensor):
        size = image.shape[-2:]
        feat = self.model.backbone(image)
        b, _ = self.model.iabd(feat)
        b = torch.sigmoid(F.interpolate(b, size=size, mode="bilinear", align_corners=False))
        if self.single_branch:
            return b
        s = self.model.semantic(feat)
        s = torch.softmax(F.interpolate(s, size=size, mode="bilinear", align_corners=False), dim=1)
        return b, s


def create_model(name: str = "small", pretrained: str | None = None, **overrides) -> BAISeg:
    return BAISeg(model_config(name, **overrides), pretrained)


def list_models() -> list[str]:
    return sorted(MODEL_CONFIGS)
