"""Parameter count, ONNX file size and CPU latency at 512x512 of a config or an exported model.

    python -m baiseg_export.bench --config paper --out OUT.onnx   # exports untrained, then times
    python -m baiseg_export.bench --model models/baiseg_small.onnx

Latency: ONNX Runtime CPU, ``--threads`` intra-op threads (2), input 1x3x512x512, median of
``--runs`` runs after one warm-up. Parameters: of the exported (inference) graph's modules, i.e.
without the training-only PPC projection head (reported separately).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch


def count_params(model) -> dict:
    total = sum(p.numel() for p in model.parameters())
    ppc = sum(p.numel() for p in model.ppc.parameters())
    return {"params_total": total, "params_ppc_head": ppc, "params_inference": total - ppc,
            "params_backbone": sum(p.numel() for p in model.backbone.parameters()),
            "params_iabd": sum(p.numel() for p in model.iabd.parameters()),
            "params_semantic": sum(p.numel() for p in model.semantic.parameters())}


def ort_latency(path: str, size: int = 512, threads: int = 2, runs: int = 5) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    sess.run(None, {"image": x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {"image": x})
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=None)
    ap.add_argument("--model", default=None, help="an exported .onnx (its baiseg.config gives the parameters)")
    ap.add_argument("--out", default=None, help="where to export --config (default a temp file)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--size", type=int, default=512)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from .models.baiseg import BAISeg
    from .config import ModelConfig, model_config

    if a.model:
        from .export import read_metadata

        cfg = ModelConfig.from_dict(json.loads(read_metadata(a.model)["baiseg.config"]))
        model, path = BAISeg(cfg), a.model
    else:
        from .export import calibrate_batchnorm, onnx_export

        torch.manual_seed(0)
        model = BAISeg(model_config(a.config))
        calibrate_batchnorm(model)
        path = a.out or os.path.join(tempfile.gettempdir(), f"baiseg_{a.config}_untrained.onnx")
        onnx_export(model, path, input_size=416 if a.config == "paper" else 256)
    res = {"config": model.cfg.name, **count_params(model), "onnx": path,
           "onnx_bytes": os.path.getsize(path), "size": a.size, "threads": a.threads}
    res["ort_cpu_latency_s"] = ort_latency(path, a.size, a.threads, a.runs)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
