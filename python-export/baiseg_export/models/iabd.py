"""Instance-Aware Boundary Detection branch (paper Sec. 3.3, Fig. 2b-d, Fig. 3).

IABD = R cascaded Cascade Fusion Modules (CFM) + a 1x1 convolution to one boundary logit map.
Each CFM has an upper (global) branch through Deep Mutual Attention (DMA), a lower (local) branch
through a 1x1 convolution, and a Feature Fusion Module (FFM) that fuses the two.

The paper gives the MAU exactly (Eqs. 2-5) but only figures for the CFM wiring and the FFM; the
choices made here where the text is silent are:
- DMA = two stages of [3x3 conv (dilation d_n) + BN + ReLU embedding -> MAU], their attention
  features summed ("integrates these attention features at different stages"); CFM n uses
  dilation n so the cascade sees growing context (multi-scale edges).
- FFM: concat(global, local) -> 3x3 conv + BN + ReLU = fused; global' = global + fused,
  local' = local + fused.
- the final 1x1 conv reads the concatenation of the R CFM outputs (HED-style side outputs fused).
"""

from __future__ import annotations

import torch
import torch.nn as nn


def conv_bn_relu(cin: int, cout: int, k: int = 3, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class MAU(nn.Module):
    """Mutual Attention Unit: F_att = Conv1x1(f) + (f * Fc + f * Fs) * beta (Eqs. 2-5)."""

    def __init__(self, dim: int, reduction: int = 4, beta_init: float = 1.0):
        super().__init__()
        hidden = max(1, dim // reduction)
        # MLP with one hidden layer, shared between the avg- and max-pooled descriptors (Eq. 2)
        self.mlp = nn.Sequential(
            nn.Conv2d(dim, hidden, 1, bias=True), nn.ReLU(inplace=True), nn.Conv2d(hidden, dim, 1, bias=True)
        )
        self.spatial = nn.Conv2d(2, 1, 7, padding=3, bias=True)  # Conv7x7 of Eq. 3
        self.identity = nn.Conv2d(dim, dim, 1, bias=True)  # F_h of Eq. 4
        self.beta = nn.Parameter(torch.tensor(float(beta_init)))  # learnable beta of Eq. 5

    def channel_attention(self, f: torch.Tensor) -> torch.Tensor:
        avg = f.mean(dim=(2, 3), keepdim=True)
        mx = f.amax(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.mlp(avg) + self.mlp(mx))

    def spatial_attention(self, f: torch.Tensor) -> torch.Tensor:
        avg = f.mean(dim=1, keepdim=True)
        mx = f.amax(dim=1, keepdim=True)
        return torch.sigmoid(self.spatial(torch.cat([avg, mx], dim=1)))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        fc = self.channel_attention(f)
        fs = self.spatial_attention(f)
        return self.identity(f) + (f * fc + f * fs) * self.beta


class DMA(nn.Module):
    """Deep Mutual Attention: embedding (3x3 conv+BN+ReLU) -> MAU, in two stages, summed."""

    def __init__(self, dim: int, dilation: int = 1, reduction: int = 4, stages: int = 2):
        super().__init__()
        self.embeds = nn.ModuleList([conv_bn_relu(dim, dim, 3, dilation) for _ in range(stages)])
        self.maus = nn.ModuleList([MAU(dim, reduction) for _ in range(stages)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = 0
        h = x
        for embed, mau in zip(self.embeds, self.maus):
            h = embed(h)
            out = out + mau(h)
        return out


class FFM(nn.Module):
    """Feature Fusion Module: fuses the global (DMA) and local (1x1) features of a CFM."""

    def __init__(self, dim: int):
        super().__init__()
        self.fuse = conv_bn_relu(2 * dim, dim, 3)

    def forward(self, g: torch.Tensor, l: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fused = self.fuse(torch.cat([g, l], dim=1))
        return g + fused, l + fused


class CFM(nn.Module):
    """Cascade Fusion Module: DMA (upper, global), 1x1 conv (lower, local), FFM."""

    def __init__(self, dim: int, dilation: int = 1, reduction: int = 4):
        super().__init__()
        self.dma = DMA(dim, dilation, reduction)
        self.local = nn.Sequential(nn.Conv2d(dim, dim, 1, bias=False), nn.BatchNorm2d(dim), nn.ReLU(inplace=True))
        self.ffm = FFM(dim)

    def forward(self, g: torch.Tensor, l: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ffm(self.dma(g), self.local(l))


class IABD(nn.Module):
    """R cascaded CFMs + 1x1 conv -> boundary logits (stride 4). Also returns every CFM feature."""

    def __init__(self, in_channels: int, dim: int = 128, num_cfm: int = 4, reduction: int = 4):
        super().__init__()
        self.stem = conv_bn_relu(in_channels, dim, 1)
        self.cfms = nn.ModuleList([CFM(dim, dilation=n + 1, reduction=reduction) for n in range(num_cfm)])
        self.head = nn.Conv2d(num_cfm * dim, 1, 1)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        g = l = self.stem(feat)
        outs = []
        for cfm in self.cfms:
            g, l = cfm(g, l)
            outs.append(g + l)
        return self.head(torch.cat(outs, dim=1)), outs
