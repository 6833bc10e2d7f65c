"""Export a checkpoint to ONNX: ``python -m baiseg_export.export CHECKPOINT --out model.onnx``.

The graph takes ``image`` f32 [N,3,H,W] (normalised RGB; H, W multiples of 32) and returns
``boundary`` (sigmoid, [N,1,H,W]) and ``semantic`` (softmax, [N,K+1,H,W]) at full input
resolution (bilinear upsampling in-graph, so the runtime's resize is the identity); N/H/W are
dynamic. ``--single-branch`` exports ``boundary`` only. Opset 17, one file, metadata of
docs/model-contract.md#metadata. Every export verifies itself: ``onnx.checker`` (full check), then ONNX Runtime (CPU)
against PyTorch on the same batch at two sizes; it fails if the max abs difference of any output
exceeds ``--tol`` (1e-4) and prints the figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

import numpy as np
import onnx
import torch

from . import __version__
from . import contract as C
from .config import IMAGENET_MEAN, IMAGENET_STD, ModelConfig
from .models.baiseg import BAISeg, ExportWrapper


class ParityError(RuntimeError):
    pass


def _parity_inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 3, 128, 160, generator=g), torch.randn(1, 3, 224, 96, generator=g)]


def check_parity(wrapper: torch.nn.Module, path: str, inputs=None, tol: float = 1e-4) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, torch.get_num_threads())
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    worst = 0.0
    for x in inputs or _parity_inputs():
        with torch.no_grad():
            ref = wrapper(x)
        ref = ref if isinstance(ref, tuple) else (ref,)
        got = sess.run(None, {C.INPUT_NAME: x.numpy()})
        for name, r, o in zip(names, ref, got):
            if tuple(r.shape) != tuple(o.shape):
                raise ParityError(f"{name}: shape {o.shape} from ORT, {tuple(r.shape)} from PyTorch")
            d = float(np.max(np.abs(r.numpy() - o)))
            print(f"  parity {name:9s} input {tuple(x.shape)}: max |torch - ort| = {d:.3e}")
            worst = max(worst, d)
    if worst > tol:
        raise ParityError(f"ONNX Runtime differs from PyTorch by {worst:.3e} > {tol:g}")
    return worst


def onnx_export(model: BAISeg, path: str, single_branch: bool = False, input_size: int = 256,
                mean=IMAGENET_MEAN, std=IMAGENET_STD, extra_metadata: dict | None = None,
                tol: float = 1e-4, verify: bool = True) -> float:
    """Export, check, verify parity (returns the max abs diff) and write the metadata."""
    model = model.eval()
    wrapper = ExportWrapper(model, single_branch).eval()
    outputs = [C.BOUNDARY_NAME] if single_branch else [C.BOUNDARY_NAME, C.SEMANTIC_NAME]
    axes = {n: {0: "N", 2: "H", 3: "W"} for n in [C.INPUT_NAME] + outputs}
    dummy = torch.zeros(1, 3, 128, 128)
    tmp = path + ".tmp"
    torch.onnx.export(wrapper, (dummy,), tmp, dynamo=False, opset_version=C.OPSET,
                      input_names=[C.INPUT_NAME], output_names=outputs, dynamic_axes=axes,
                      do_constant_folding=True)
    m = onnx.load(tmp)
    cfg = model.cfg
    meta = {
        C.META_CLASSES: json.dumps(list(cfg.class_names)),
        C.META_MEAN: json.dumps([float(v) for v in mean]),
        C.META_STD: json.dumps([float(v) for v in std]),
        C.META_SIZE_DIVISOR: str(C.SIZE_DIVISOR),
        C.META_INPUT_SIZE: str(int(input_size)),
        C.META_CONFIG: json.dumps(dataclasses.asdict(cfg), sort_keys=True),
        C.META_VERSION: __version__,
    }
    meta.update({k: str(v) for k, v in (extra_metadata or {}).items()})
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.producer_name = "baiseg_export"
    m.producer_version = __version__
    onnx.save(m, tmp)  # single file: no external data for models under 2 GB
    onnx.checker.check_model(tmp, full_check=True)
    worst = check_parity(wrapper, tmp, tol=tol) if verify else float("nan")
    os.replace(tmp, path)
    return worst


def read_metadata(path: str) -> dict:
    m = onnx.load(path, load_external_data=False)
    return {p.key: p.value for p in m.metadata_props}


def calibrate_batchnorm(model: BAISeg, steps: int = 4, size: int = 128, seed: int = 0) -> None:
    """Set BatchNorm running statistics of an untrained model from a few procedural scenes.

    A freshly initialised network has running mean 0 / var 1, so in eval mode nothing is
    normalised and activations grow through the deep HRNet until the outputs saturate and tiny
    float differences between runtimes are amplified. Weights are left untouched.
    """
    from .data.procedural import make_scene
    from .data.transforms import normalise

    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for s in range(steps):
            x = np.stack([normalise(make_scene(seed, 2 * s + b, size).image, IMAGENET_MEAN, IMAGENET_STD)
                          for b in range(2)])
            model(torch.from_numpy(x), with_embedding=False)
    model.eval()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="a train.py checkpoint (.pt), or 'config:NAME' for an untrained model "
                    "(random weights, BatchNorm statistics calibrated on a few procedural scenes)")
    ap.add_argument("--out", required=True, help="output .onnx path")
    ap.add_argument("--single-branch", action="store_true", help="export the boundary output only")
    ap.add_argument("--tol", type=float, default=1e-4, help="parity tolerance (max abs diff)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="init seed for config:NAME")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    extra = {}
    if a.checkpoint.startswith("config:"):
        from .config import model_config

        torch.manual_seed(a.seed)
        model = BAISeg(model_config(a.checkpoint.split(":", 1)[1]))
        calibrate_batchnorm(model)
        input_size = 416 if model.cfg.name == "paper" else 256
        extra = {C.META_ITERATIONS: "0"}
    else:
        ck = torch.load(a.checkpoint, map_location="cpu", weights_only=False)
        model = BAISeg(ModelConfig.from_dict(ck["model_config"]))
        model.load_state_dict(ck["model"])
        tc = ck.get("train_config", {})
        input_size = tc.get("crop", 256)
        extra = {C.META_CONTOURS: tc.get("contours", "semantic"), C.META_ITERATIONS: str(ck.get("iteration", 0))}
    print(f"exporting {a.checkpoint} ({model.cfg.name}, {sum(p.numel() for p in model.parameters())} parameters)")
    try:
        worst = onnx_export(model, a.out, a.single_branch, input_size, extra_metadata=extra, tol=a.tol)
    except ParityError as e:
        print(f"export FAILED: {e}", file=sys.stderr)
        return 1
    size = os.path.getsize(a.out)
    print(f"wrote {a.out} ({size / 1e6:.2f} MB); max abs diff ORT vs PyTorch = {worst:.3e} (tol {a.tol:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
