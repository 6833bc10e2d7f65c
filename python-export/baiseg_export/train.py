"""Train BAISeg: ``python -m baiseg_export.train --config small --data procedural --out runs/small``.

Batches are a pure function of ``(seed, iteration)`` (scene choice, augmentation and PPC sampling
are drawn from generators seeded with both), and the model is initialised from ``seed``, so a run
is repeatable and a resumed run continues exactly where the interrupted one stopped. A checkpoint
(``OUT/last.pt``: model, optimiser, iteration, configs) is written atomically every
``--save-every`` iterations and at the end; an existing ``OUT/last.pt`` is resumed unless
``--fresh``. ``OUT/log.jsonl`` gets one line of loss terms every ``--log-every`` iterations.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import numpy as np
import torch
from tqdm import tqdm

from .config import IMAGENET_MEAN, IMAGENET_STD, ModelConfig, TrainConfig, model_config, train_config
from .data.datasets import open_dataset
from .data.transforms import augment, boundary_target, normalise
from .loss import total_loss
from .models.baiseg import BAISeg


def make_batch(ds, tc: TrainConfig, it: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    rng = np.random.default_rng([tc.seed, it])
    imgs, sems, bnds = [], [], []
    mean_rgb = tuple(int(round(255 * m)) for m in mean)
    for b in range(tc.batch):
        idx = it * tc.batch + b if getattr(ds, "infinite", False) else int(rng.integers(len(ds)))
        img, sem, inst = ds[idx]
        img, sem, inst = augment(rng, img, sem, inst, tc.crop, (tc.scale_min, tc.scale_max), tc.hflip, mean_rgb)
        imgs.append(normalise(img, mean, std))
        sems.append(sem)
        bnds.append(boundary_target(sem, inst, tc.contours, tc.boundary_width))
    return (torch.from_numpy(np.stack(imgs)), torch.from_numpy(np.stack(sems)).long(),
            torch.from_numpy(np.stack(bnds)).long())


def poly_lr(base: float, it: int, total: int, power: float) -> float:
    return base * (1.0 - min(it, total - 1) / total) ** power


def save_checkpoint(path: str, model, opt, it: int, mc: ModelConfig, tc: TrainConfig, data: str, extra=None):
    state = {
        "model": model.state_dict(), "optimizer": opt.state_dict() if opt is not None else None,
        "iteration": it, "model_config": dataclasses.asdict(mc), "train_config": dataclasses.asdict(tc),
        "data": data, "extra": extra or {},
    }
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_model(path: str) -> tuple[BAISeg, dict]:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = BAISeg(ModelConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["model"])
    return model, ck


def fit(mc: ModelConfig, tc: TrainConfig, data: str, out: str, fresh: bool = False, pretrained: str | None = None,
        max_minutes: float | None = None, progress: bool = True, stop_at: int | None = None) -> dict:
    os.makedirs(out, exist_ok=True)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    ds = open_dataset(data, tc.seed, tc.procedural_size)
    if list(ds.class_names) != list(mc.class_names):
        mc.class_names = list(ds.class_names)
        mc.num_classes = len(ds.class_names)
    torch.manual_seed(tc.seed)
    model = BAISeg(mc, pretrained)
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    start = 0
    last = os.path.join(out, "last.pt")
    if os.path.exists(last) and not fresh:
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        start = ck["iteration"]
        print(f"resuming {last} at iteration {start}")
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"model": dataclasses.asdict(mc), "train": dataclasses.asdict(tc), "data": data}, f, indent=1)
    model.train()
    t0 = time.time()
    bar = tqdm(range(start, tc.iters), initial=start, total=tc.iters, disable=not progress,
               mininterval=5.0, dynamic_ncols=False, ncols=110)
    log = open(os.path.join(out, "log.jsonl"), "a")
    it = start
    terms = {}
    for it in bar:
        for g in opt.param_groups:
            g["lr"] = poly_lr(tc.lr, it, tc.iters, tc.poly_power)
        x, sem, bnd = make_batch(ds, tc, it)
        gen = torch.Generator().manual_seed(tc.seed * 1_000_003 + it)
        outp = model(x)
        terms = total_loss(outp, sem, bnd, tc, gen)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        vals = {k: float(v.detach()) for k, v in terms.items()}
        bar.set_postfix({k: f"{v:.3f}" for k, v in vals.items()})
        if (it + 1) % tc.log_every == 0 or it == start:
            log.write(json.dumps({"it": it + 1, "time_s": round(time.time() - t0, 1), "lr": opt.param_groups[0]["lr"],
                                  **vals}) + "\n")
            log.flush()
        done = it + 1
        if done % tc.save_every == 0 or done == tc.iters:
            save_checkpoint(last, model, opt, done, mc, tc, data)
        if max_minutes is not None and time.time() - t0 > 60 * max_minutes:
            save_checkpoint(last, model, opt, done, mc, tc, data)
            print(f"stopping at iteration {done}: --max-minutes {max_minutes} reached")
            break
        if stop_at is not None and done >= stop_at:
            save_checkpoint(last, model, opt, done, mc, tc, data)
            print(f"stopping at iteration {done} (--stop-at; the schedule is still that of --iters {tc.iters})")
            break
    log.close()
    return {k: float(v.detach()) for k, v in terms.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="small", help="paper | small | tiny")
    ap.add_argument("--data", default="procedural",
                    help="procedural[:SEED] | VOC root | COCO annotations.json[:IMAGE_DIR]")
    ap.add_argument("--out", default=None, help="run directory (default runs/<config>)")
    ap.add_argument("--pretrained", default=None, help="local timm HRNet checkpoint for the backbone")
    ap.add_argument("--fresh", action="store_true", help="ignore OUT/last.pt and start again")
    ap.add_argument("--max-minutes", type=float, default=None, help="stop (and checkpoint) after this wall time")
    ap.add_argument("--stop-at", type=int, default=None,
                    help="stop (and checkpoint) after this iteration without changing the --iters schedule")
    ap.add_argument("--no-progress", action="store_true")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            ap.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=None)
        else:
            ap.add_argument(flag, type={"int": int, "float": float, "str": str}.get(str(f.type), str), default=None)
    a = ap.parse_args(argv)
    overrides = {f.name: getattr(a, f.name) for f in dataclasses.fields(TrainConfig)}
    tc = train_config(a.config, **overrides)
    mc = model_config(a.config)
    out = a.out or os.path.join("runs", a.config)
    t = time.time()
    final = fit(mc, tc, a.data, out, a.fresh, a.pretrained, a.max_minutes, not a.no_progress, a.stop_at)
    print(f"done in {time.time() - t:.0f}s; last loss terms {final}; checkpoint {os.path.join(out, 'last.pt')}")


if __name__ == "__main__":
    main()
