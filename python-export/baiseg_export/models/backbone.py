"""HRNet backbone from timm (``HighResolutionNetFeatures``, ``feature_location=''``).

Two output representations (``ModelConfig.backbone_features``):
- ``"v1"``: the stride-4 (highest-resolution) branch only, as HRNetV1 (Sun et al. 2019) feeds
  its heads. This is the "HRNet-W48" row of the paper's Table 6 (48 channels, 92.8 GFLOPs,
  48.4 mAP50, the best row), used by the ``paper`` config.
- ``"v2"``: the four branches upsampled to stride 4 and concatenated (HRNetV2, Table 6's
  "HRNetV2-W48" row with multi-scale features, 48.0 mAP50); ``small`` and ``tiny`` use it.

Weights (``pretrained``, see ``load_backbone_weights``): ``None`` (random), ``"timm"`` (the timm
ImageNet checkpoint of the variant from the local Hugging Face cache; downloaded only when the
hub is reachable and ``HF_HUB_OFFLINE`` is not set) or the path of a local state dict.
"""

from __future__ import annotations

import copy
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models import hrnet as timm_hrnet

#: key prefixes stripped from a state dict before loading it into the timm body
_PREFIXES = ("module.", "model.", "backbone.body.", "backbone.", "body.")


class PretrainedError(RuntimeError):
    """The backbone weights could not be found or did not fit the backbone."""


def _scaled_cfg(variant: str, width: float) -> dict:
    cfg = copy.deepcopy(timm_hrnet.cfg_cls[variant])
    if width != 1.0:
        cfg["stem_width"] = max(8, int(round(cfg["stem_width"] * width)))
        for key in ("stage1", "stage2", "stage3", "stage4"):
            cfg[key]["num_channels"] = tuple(max(4, int(round(c * width))) for c in cfg[key]["num_channels"])
    return cfg


def _timm_state_dict(variant: str) -> tuple[dict, str]:
    """The timm ImageNet weights of ``variant``: local HF cache first, then the hub unless offline."""
    from huggingface_hub import hf_hub_download
    from timm.models import get_pretrained_cfg

    pc = get_pretrained_cfg(variant)
    repo = getattr(pc, "hf_hub_id", None) if pc is not None else None
    if not repo:
        raise PretrainedError(f"timm has no pretrained checkpoint for {variant!r}")
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    errors = []
    for local_only in ((True,) if offline else (True, False)):
        for fname in ("model.safetensors", "pytorch_model.bin"):
            try:
                path = hf_hub_download(repo, fname, local_files_only=local_only)
            except Exception as e:  # not cached / not reachable
                errors.append(f"{fname} ({'cache' if local_only else 'hub'}): {type(e).__name__}")
                continue
            if path.endswith(".safetensors"):
                from safetensors.torch import load_file

                return load_file(path), f"timm:{repo}/{fname}"
            return torch.load(path, map_location="cpu", weights_only=True), f"timm:{repo}/{fname}"
    raise PretrainedError(
        f"--pretrained timm: the ImageNet weights of {variant} (Hugging Face repo {repo}) are not in the local cache "
        f"({os.environ.get('HF_HOME', '~/.cache/huggingface')}) and could not be downloaded"
        f"{' (HF_HUB_OFFLINE is set)' if offline else ''}: {'; '.join(errors)}. On a machine with internet run "
        f"python -c \"import timm; timm.create_model('{variant}', pretrained=True)\" and copy the cache, or save "
        f"its state_dict() and pass --pretrained FILE.")


def load_backbone_weights(body: nn.Module, pretrained: str, variant: str) -> dict:
    """Load ``pretrained`` ("timm" or a file) into ``body``; returns a report
    ``{source, loaded, total, missing, unexpected}``. Raises ``PretrainedError`` if any backbone
    tensor is missing or has the wrong shape (the backbone did not load)."""
    if pretrained == "timm":
        state, source = _timm_state_dict(variant)
    else:
        if not os.path.exists(pretrained):
            raise PretrainedError(f"{pretrained}: pretrained weights file missing")
        try:
            state = torch.load(pretrained, map_location="cpu", weights_only=True)
        except Exception as e:
            raise PretrainedError(f"{pretrained}: not a torch state dict: {e}") from e
        source = pretrained
        for wrap in ("state_dict", "model"):
            if isinstance(state, dict) and isinstance(state.get(wrap), dict):
                state = state[wrap]
    if not isinstance(state, dict):
        raise PretrainedError(f"{source}: expected a state dict, got {type(state).__name__}")
    body_keys = body.state_dict()
    fixed = {}
    for k, v in state.items():
        kk = k
        for p in _PREFIXES:
            if kk.startswith(p) and kk[len(p):] in body_keys:
                kk = kk[len(p):]
                break
        fixed[kk] = v
    bad_shape = [k for k, v in fixed.items() if k in body_keys and tuple(v.shape) != tuple(body_keys[k].shape)]
    if bad_shape:
        k = bad_shape[0]
        raise PretrainedError(f"{source}: {len(bad_shape)} tensors have the wrong shape for {variant} "
                              f"(e.g. {k}: {tuple(fixed[k].shape)} vs {tuple(body_keys[k].shape)})")
    missing, unexpected = body.load_state_dict(fixed, strict=False)
    report = {"source": source, "total": len(body_keys), "loaded": len(body_keys) - len(missing),
              "missing": list(missing), "unexpected": list(unexpected)}
    print(f"pretrained {source}: loaded {report['loaded']}/{report['total']} backbone tensors; "
          f"missing {len(missing)}{' ' + str(list(missing)[:5]) if missing else ''}; "
          f"unexpected {len(unexpected)}{' ' + str(list(unexpected)[:5]) if unexpected else ''}")
    if missing:
        raise PretrainedError(f"{source}: the backbone did not load: {len(missing)} of {len(body_keys)} tensors "
                              f"missing (e.g. {list(missing)[:3]})")
    return report


class HRNetV2Backbone(nn.Module):
    """timm ``HighResolutionNetFeatures`` (``feature_location=''``); output at stride 4:
    ``v2`` the HRNetV2 concat of the four branches, ``v1`` the highest-resolution branch."""

    def __init__(self, variant: str = "hrnet_w18_small", width: float = 1.0, pretrained: str | None = None,
                 features: str = "v2"):
        super().__init__()
        if features not in ("v1", "v2"):
            raise ValueError(f"backbone_features must be 'v1' or 'v2', not {features!r}")
        cfg = _scaled_cfg(variant, width)
        self.features = features
        self.body = timm_hrnet.HighResolutionNetFeatures(
            cfg, feature_location="", out_indices=(1, 2, 3, 4) if features == "v2" else (1,)
        )
        chans = self.body.feature_info.channels()
        self.channels = int(sum(chans)) if features == "v2" else int(chans[0])
        self.pretrained_report = load_backbone_weights(self.body, pretrained, variant) if pretrained else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.body(x)
        if self.features == "v1":
            return feats[0]
        size = feats[0].shape[-2:]
        ups = [feats[0]] + [
            F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in feats[1:]
        ]
        return torch.cat(ups, dim=1)
