"""HRNetV2 backbone from timm: the four branches upsampled to the 1/4 branch and concatenated.

No weights are downloaded: ``pretrained`` is the path of a local checkpoint file (a timm HRNet
state dict, e.g. saved from ``timm.create_model('hrnet_w48', pretrained=True)`` elsewhere), or
``None`` for random initialisation.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models import hrnet as timm_hrnet


def _scaled_cfg(variant: str, width: float) -> dict:
    cfg = copy.deepcopy(timm_hrnet.cfg_cls[variant])
    if width != 1.0:
        cfg["stem_width"] = max(8, int(round(cfg["stem_width"] * width)))
        for key in ("stage1", "stage2", "stage3", "stage4"):
            cfg[key]["num_channels"] = tuple(max(4, int(round(c * width))) for c in cfg[key]["num_channels"])
    return cfg


class HRNetV2Backbone(nn.Module):
    """timm ``HighResolutionNetFeatures`` (``feature_location=''``), HRNetV2 concat head.

    Output: one feature map at stride 4 with ``sum(branch channels)`` channels.
    """

    def __init__(self, variant: str = "hrnet_w18_small", width: float = 1.0, pretrained: str | None = None):
        super().__init__()
        cfg = _scaled_cfg(variant, width)
        self.body = timm_hrnet.HighResolutionNetFeatures(
            cfg, feature_location="", out_indices=(1, 2, 3, 4)
        )
        self.channels = int(sum(self.body.feature_info.channels()))
        if pretrained:
            state = torch.load(pretrained, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state:
                state = state["state_dict"]
            missing, unexpected = self.body.load_state_dict(state, strict=False)
            body_keys = set(self.body.state_dict())
            loaded = body_keys - set(missing)
            if not loaded:
                raise ValueError(f"{pretrained}: no HRNet weights matched this backbone")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.body(x)
        size = feats[0].shape[-2:]
        ups = [feats[0]] + [
            F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in feats[1:]
        ]
        return torch.cat(ups, dim=1)
