"""DeepLabv3-style semantic head: ASPP (1x1, three atrous 3x3, image pooling) + 3x3 conv + 1x1 -> K+1."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .iabd import conv_bn_relu


class ASPP(nn.Module):
    def __init__(self, cin: int, dim: int, rates=(6, 12, 18)):
        super().__init__()
        self.branches = nn.ModuleList([conv_bn_relu(cin, dim, 1)] + [conv_bn_relu(cin, dim, 3, r) for r in rates])
        self.pool = nn.Sequential(nn.Conv2d(cin, dim, 1, bias=False), nn.BatchNorm2d(dim), nn.ReLU(inplace=True))
        self.project = conv_bn_relu(dim * (len(rates) + 2), dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [b(x) for b in self.branches]
        pooled = self.pool(x.mean(dim=(2, 3), keepdim=True))
        outs.append(pooled.expand(-1, -1, x.shape[2], x.shape[3]))
        return self.project(torch.cat(outs, dim=1))


class SemanticHead(nn.Module):
    def __init__(self, cin: int, num_classes_with_bg: int, dim: int = 256, rates=(6, 12, 18)):
        super().__init__()
        self.aspp = ASPP(cin, dim, rates)
        self.conv = conv_bn_relu(dim, dim, 3)
        self.cls = nn.Conv2d(dim, num_classes_with_bg, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls(self.conv(self.aspp(x)))
