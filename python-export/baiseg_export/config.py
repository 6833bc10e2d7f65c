"""Architecture and training configurations, as data (timm style: variants are dicts).

``paper`` follows the BAISeg paper (HRNet-W48 as Table 6's best row, R=4 CFM blocks, CFM dim 128,
PPC dim 1 as Table 10's best row, tau 0.2, 416 crops, batch 16, Adam 5e-5, poly, 60k iterations
on VOC trainaug); ``paper-coco`` is the same with 480k iterations (COCO). ``small`` is a CPU-sized variant (HRNet-W18-small, R=4, dim 32).
``tiny`` is a narrower ``small`` (half-width HRNet-W18-small) used for the test fixture.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field

#: class names of the procedural scenes (without background), in model order: ids 1..K
PROCEDURAL_CLASSES = ["disc", "box", "triangle"]

#: mean / std of [0,1]-scaled RGB (ImageNet values; the model is trained from scratch with them)
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


@dataclass
class ModelConfig:
    """Architecture of one BAISeg variant (stored in checkpoints and in ONNX metadata)."""

    name: str
    backbone: str = "hrnet_w18_small"  # a timm HRNet variant name
    backbone_width: float = 1.0  # multiplier on the timm variant's channel widths (tiny: 0.5)
    backbone_features: str = "v2"  # "v1": stride-4 branch only (HRNetV1); "v2": 4 branches concatenated
    num_cfm: int = 4  # R, the number of cascaded CFM blocks
    cfm_dim: int = 32  # hidden dimension of the CFM blocks
    mau_reduction: int = 4  # hidden size of the MAU channel-attention MLP = dim / reduction
    ppc_index: int = 2  # 1-based CFM whose feature feeds the pixel-to-pixel contrast head
    ppc_dim: int = 32  # projection dimension of the PPC head
    aspp_dim: int = 64  # channels of the ASPP head
    aspp_rates: tuple = (6, 12, 18)  # atrous rates at the 1/4 feature map
    num_classes: int = 3  # K (foreground classes); the semantic head has K+1 outputs
    class_names: list = field(default_factory=lambda: list(PROCEDURAL_CLASSES))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @staticmethod
    def from_dict(d: dict) -> "ModelConfig":
        d = dict(d)
        d["aspp_rates"] = tuple(d.get("aspp_rates", (6, 12, 18)))
        return ModelConfig(**d)


@dataclass
class TrainConfig:
    """Training hyper-parameters (the defaults of ``python -m baiseg_export.train``)."""

    crop: int = 192
    batch: int = 4
    lr: float = 1e-3
    iters: int = 2000
    poly_power: float = 0.9
    weight_decay: float = 0.0
    scale_min: float = 0.75
    scale_max: float = 1.25
    hflip: bool = True
    w_ppc: float = 0.3  # alpha in Eq. 7
    w_boundary: float = 50.0  # beta in Eq. 7
    w_semantic: float = 1.0  # gamma in Eq. 7
    temperature: float = 0.2
    ppc_anchors: int = 64  # anchors sampled per class (boundary / non-boundary) per batch
    ppc_samples: int = 256  # positives / negatives sampled per class per batch
    contours: str = "semantic"  # boundary labels: "semantic" (paper, T of the class map) or "instance"
    boundary_width: int = 1  # radius of T's neighbourhood (1 = 3x3: both sides of an edge)
    void_fill: float = 6.0  # targets.fill_void reach in px for datasets with void bands (0 = off)
    accum: int = 1  # micro-batches per optimiser step; global batch = batch x accum x world size
    save_every: int = 100
    log_every: int = 10
    seed: int = 0
    threads: int = 2
    procedural_size: int = 256  # image size of on-the-fly procedural scenes


#: Presets. ``paper`` / ``paper-coco`` follow the paper; each value cites where it comes from.
#: Sec. 4.2 = "Implementation details"; Tables 4-10 are the ablations (VOC 2012 val, mAP50).
_PAPER_MODEL = dict(
    # Sec. 4.2 "We adopt HRNet48"; Table 6's best row is "HRNet-W48" (48.4 mAP50, 92.8 GFLOPs),
    # not "HRNetV2-W48" (48.0, multi-scale features): the heads read the stride-4 branch only (v1)
    backbone="hrnet_w48", backbone_features="v1",
    num_cfm=4,  # R = 4: Table 4 / Sec. 4.4.1 ("the highest mAP50 is achieved when R equals 4")
    cfm_dim=128,  # Table 5 / Sec. 4.4.1 ("the best results are obtained when the dimension is 128")
    ppc_index=2,  # Table 9 / App. B.2: embedding from the second CFM (48.4)
    ppc_dim=1,  # Table 10 / App. B.2: "best performance ... when the projected feature dimension is 1" (48.4)
    # silent in the paper: DeepLabv3 ASPP width 256, rates 6/12/18; MAU channel MLP reduction 16 (CBAM)
    aspp_dim=256, mau_reduction=16,
)

MODEL_CONFIGS: dict[str, ModelConfig] = {
    "paper": ModelConfig(name="paper", **_PAPER_MODEL),
    "paper-coco": ModelConfig(name="paper-coco", **_PAPER_MODEL),
    "small": ModelConfig(
        name="small", backbone="hrnet_w18_small", num_cfm=4, cfm_dim=32, ppc_dim=32, aspp_dim=64,
        aspp_rates=(3, 6, 9),
    ),
    "tiny": ModelConfig(
        name="tiny", backbone="hrnet_w18_small", backbone_width=0.5, num_cfm=4, cfm_dim=16,
        ppc_dim=16, aspp_dim=32, aspp_rates=(3, 6, 9),
    ),
}

_PAPER_TRAIN = dict(
    crop=416,  # Sec. 4.2: "The input image size for training is 416 x 416"
    batch=16,  # Sec. 4.2: "batch size of 16" (global: batch x accum x GPUs; set --batch 2 on 8 GPUs)
    lr=5e-5,  # Sec. 4.2: "Adam optimizer ... learning rate of 5 x 10^-5"
    poly_power=0.9,  # Sec. 4.2: "polynomial learning rate scheduling" (power silent; 0.9 as Liu et al. 2015)
    w_ppc=0.3, w_boundary=50.0, w_semantic=1.0,  # Eq. 7: L = 0.3 L_P + 50 L_B + 1 L_S
    temperature=0.2,  # Table 7 / Sec. 4.4.3: tau = 0.2 (48.4)
    contours="semantic",  # Sec. 3.2 / Fig. 2: T applied to the semantic masks
    # silent (Sec. 4.2: "PPC follows Wang et al. (2021)"): scale 0.5-2 and flips as there
    scale_min=0.5, scale_max=2.0, ppc_anchors=128, ppc_samples=1024,
    save_every=1000, log_every=20, threads=0, procedural_size=416,
)

TRAIN_CONFIGS: dict[str, TrainConfig] = {
    # Sec. 4.2: 6 x 10^4 iterations on VOC 2012 (trainaug, 10,582 images: Sec. 4.1)
    "paper": TrainConfig(iters=60000, **_PAPER_TRAIN),
    # Sec. 4.2: 48 x 10^4 iterations on COCO (train2017, 115K images: Sec. 4.1)
    "paper-coco": TrainConfig(iters=480000, **_PAPER_TRAIN),
    # CPU-sized: 192 crops of 256 px scenes, batch 4, a larger learning rate because training is
    # short; instance contours because the procedural scenes have instance ids (see models/README.md)
    "small": TrainConfig(iters=240, lr=2e-3, save_every=40, contours="instance"),
    "tiny": TrainConfig(crop=192, batch=4, lr=2e-3, iters=1200, procedural_size=192, contours="instance"),
}

#: the dataset each preset is meant for (``train --data`` default is procedural for all)
PRESET_DATA = {"paper": "trainaug:VOC_ROOT,SBD_ROOT", "paper-coco": "coco:instances_train2017.json:train2017"}


def model_config(name: str, **overrides) -> ModelConfig:
    if name not in MODEL_CONFIGS:
        raise KeyError(f"unknown config {name!r}; known: {sorted(MODEL_CONFIGS)}")
    cfg = copy.deepcopy(MODEL_CONFIGS[name])
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def train_config(name: str, **overrides) -> TrainConfig:
    if name not in TRAIN_CONFIGS:
        raise KeyError(f"unknown config {name!r}; known: {sorted(TRAIN_CONFIGS)}")
    cfg = copy.deepcopy(TRAIN_CONFIGS[name])
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    return cfg
