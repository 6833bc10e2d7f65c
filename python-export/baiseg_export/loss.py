"""Losses of the paper: L = 0.3 L_P + 50 L_B + 1 L_S (Eq. 7).

- ``boundary_loss`` (Eq. 1, HED class-balanced BCE): per image, alpha = |Y-| / |Y| over labelled
  pixels; positives weighted alpha, negatives 1 - alpha. Eq. 1 is a sum over pixels; here it is
  divided by the number of labelled pixels (mean over images), which keeps the paper's weight 50
  on the scale of L_S (``reduction='sum'`` gives the literal sum).
- ``semantic_loss``: DeepLabv3 cross-entropy, 255 ignored.
- ``weighted_contrast_loss`` (Eq. 6): for anchor i, positives P_i (same boundary label, i itself
  excluded) and negatives N_i (the other label),
  ``mean_{i+} -alpha * log(exp(i.i+/t) / (exp(i.i+/t) + (1 - alpha) * sum_{i-} exp(i.i-/t)))``,
  averaged over anchors; alpha = |Y-| / |Y| of the batch's sampled label map; t = 0.2.
- ``ppc_loss`` samples anchors and contrast pixels across the batch from the contour labels at
  the embedding's stride (a stride cell is boundary if any pixel in it is).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

IGNORE = 255


def boundary_loss(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """logits [N,1,H,W] (pre-sigmoid), target [N,H,W] u8/long in {0, 1, 255}."""
    logits = logits[:, 0]
    valid = target != IGNORE
    y = (target == 1).float()
    losses = []
    for n in range(logits.shape[0]):
        v = valid[n]
        num = v.sum()
        if num == 0:
            losses.append(logits[n].sum() * 0.0)
            continue
        pos = (y[n] * v).sum()
        alpha = (num - pos) / num  # |Y-| / |Y|
        w = torch.where(y[n] > 0, alpha, 1.0 - alpha) * v.float()
        bce = F.binary_cross_entropy_with_logits(logits[n], y[n], weight=w, reduction="sum")
        losses.append(bce if reduction == "sum" else bce / num)
    return torch.stack(losses).mean() if reduction == "mean" else torch.stack(losses).sum()


def semantic_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, target.long(), ignore_index=IGNORE)


def weighted_contrast_loss(feats: torch.Tensor, labels: torch.Tensor, anchor_mask: torch.Tensor,
                           alpha: float, temperature: float = 0.2) -> torch.Tensor:
    """Eq. 6 over one sampled set. feats [M,D] (L2-normalised), labels [M] (0/1), anchor_mask [M]."""
    a_idx = torch.nonzero(anchor_mask, as_tuple=False)[:, 0]
    if a_idx.numel() == 0:
        return feats.sum() * 0.0
    sim = feats[a_idx] @ feats.t() / temperature  # [A, M]
    same = labels[a_idx][:, None] == labels[None, :]
    not_self = torch.ones_like(same)
    not_self[torch.arange(a_idx.numel()), a_idx] = False
    pos = same & not_self
    neg = ~same
    has = pos.any(1) & neg.any(1)
    if not bool(has.any()):
        return feats.sum() * 0.0
    sim, pos, neg = sim[has], pos[has], neg[has]
    neg_lse = torch.logsumexp(sim.masked_fill(~neg, float("-inf")), dim=1)  # log sum_{i-} exp
    neg_term = neg_lse + math.log(max(1.0 - alpha, 1e-12))  # log((1-alpha) sum exp)
    log_prob = sim - torch.logaddexp(sim, neg_term[:, None])
    per_anchor = -(alpha * log_prob * pos).sum(1) / pos.sum(1)
    return per_anchor.mean()


def stride_labels(target: torch.Tensor, stride: int) -> torch.Tensor:
    """Boundary labels at the embedding stride: 1 if any pixel of the cell is boundary, 0 if some
    pixel is labelled, -1 (unused) if the whole cell is ignore."""
    t = target.float().unsqueeze(1)
    pos = F.max_pool2d((t == 1).float(), stride, stride) > 0
    lab = F.max_pool2d((t != IGNORE).float(), stride, stride) > 0
    out = torch.full_like(pos, -1, dtype=torch.long)
    out[lab] = 0
    out[pos] = 1
    return out[:, 0]


def ppc_loss(embedding: torch.Tensor, target: torch.Tensor, temperature: float = 0.2,
             anchors: int = 64, samples: int = 256, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample up to ``samples`` pixels per label (boundary / not) across the batch; the first
    ``anchors`` of each are anchors. embedding [N,D,h,w], target [N,H,W] {0,1,255}."""
    stride = target.shape[-1] // embedding.shape[-1]
    lab = stride_labels(target, stride).reshape(-1)
    feats = embedding.permute(0, 2, 3, 1).reshape(-1, embedding.shape[1])
    n_pos, n_neg = int((lab == 1).sum()), int((lab == 0).sum())
    if n_pos < 2 or n_neg < 2:
        return embedding.sum() * 0.0
    alpha = n_neg / (n_neg + n_pos)
    idx, amask = [], []
    for c in (1, 0):
        cand = torch.nonzero(lab == c, as_tuple=False)[:, 0]
        perm = torch.randperm(cand.numel(), generator=generator)[:samples]
        idx.append(cand[perm])
        m = torch.zeros(perm.numel(), dtype=torch.bool)
        m[:anchors] = True
        amask.append(m)
    idx = torch.cat(idx)
    return weighted_contrast_loss(feats[idx], lab[idx], torch.cat(amask), alpha, temperature)


def total_loss(out: dict, sem_target: torch.Tensor, bnd_target: torch.Tensor, tc, generator=None) -> dict:
    """All terms; logits are upsampled bilinearly to the label size before L_B and L_S."""
    size = sem_target.shape[-2:]
    b = F.interpolate(out["boundary"], size=size, mode="bilinear", align_corners=False)
    s = F.interpolate(out["semantic"], size=size, mode="bilinear", align_corners=False)
    lb = boundary_loss(b, bnd_target)
    ls = semantic_loss(s, sem_target)
    lp = ppc_loss(out["embedding"], bnd_target, tc.temperature, tc.ppc_anchors, tc.ppc_samples, generator) \
        if "embedding" in out else b.sum() * 0.0
    total = tc.w_ppc * lp + tc.w_boundary * lb + tc.w_semantic * ls
    return {"loss": total, "L_P": lp, "L_B": lb, "L_S": ls}
