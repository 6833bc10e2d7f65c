"""Train BAISeg: ``python -m baiseg_export.train --config small --data procedural --out runs/small``.

One process, or many under ``torchrun --nproc_per_node N -m baiseg_export.train ...``
(DistributedDataParallel: NCCL on GPUs, gloo on CPU; rank 0 writes logs and checkpoints).

Repeatability (``docs/training.md``): the model is initialised from ``seed``; sample ``b`` of the
global batch of iteration ``it`` (global batch = ``batch`` x ``accum`` x world size) is drawn
from a generator seeded with ``(seed, it, b)`` (dataset index, augmentation), and the PPC sampling
of each micro-batch from ``(seed, it, chunk)``. Process ``r`` takes chunks ``r*accum .. r*accum +
accum - 1``, so a batch does not depend on the number of DataLoader workers, and 2 processes x
1 micro-batch compute the same step as 1 process x 2 micro-batches. ``OUT/last.pt`` (model,
optimiser, grad scaler, iteration, configs) is written atomically every ``--save-every``
iterations and at the end; an existing ``OUT/last.pt`` is resumed unless ``--fresh``, and the
resumed run continues exactly. ``OUT/log.jsonl`` gets one line every ``--log-every``
iterations; ``OUT/config.json`` records the configs, the data spec and ``num_images``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import time

import numpy as np
import torch
from tqdm import tqdm

from .config import IMAGENET_MEAN, IMAGENET_STD, ModelConfig, TrainConfig, model_config, train_config
from .data.datasets import open_dataset
from .data.transforms import augment_maps, boundary_target, normalise
from .loss import total_loss
from .models.baiseg import BAISeg
from .targets import IGNORE, fill_void


# ----------------------------------------------------------------------------------------- batches


def make_sample(ds, tc: TrainConfig, it: int, b: int, global_batch: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Sample ``b`` of the global batch of iteration ``it``: (image CHW f32, class map, boundary)."""
    rng = np.random.default_rng([tc.seed, it, b])
    mean_rgb = tuple(int(round(255 * m)) for m in mean)
    idx = it * global_batch + b if getattr(ds, "infinite", False) else int(rng.integers(len(ds)))
    img, sem, inst = ds[idx]
    if getattr(ds, "fill_void", False) and tc.void_fill > 0 and (sem == IGNORE).any():
        inst0 = inst if inst is not None else np.zeros(sem.shape, np.uint16)
        sem_f, inst_f = fill_void(sem, inst0, max_distance=tc.void_fill)
        if inst is None:
            inst_f = None
    else:
        sem_f, inst_f = sem, inst
    img, (sem, sem_f, inst_f) = augment_maps(
        rng, img, [(sem, IGNORE), (sem_f, IGNORE), (inst_f, 0)], tc.crop, (tc.scale_min, tc.scale_max), tc.hflip,
        mean_rgb)
    bnd = boundary_target(sem_f, inst_f, tc.contours, tc.boundary_width)
    return normalise(img, mean, std), sem, bnd


def make_batch(ds, tc: TrainConfig, it: int, chunk: int = 0, chunks: int = 1, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Micro-batch ``chunk`` (of ``chunks`` per step) of iteration ``it``: tensors x, sem, bnd."""
    gb = tc.batch * chunks
    imgs, sems, bnds = [], [], []
    for j in range(tc.batch):
        x, s, bd = make_sample(ds, tc, it, chunk * tc.batch + j, gb, mean, std)
        imgs.append(x)
        sems.append(s)
        bnds.append(bd)
    return (torch.from_numpy(np.stack(imgs)), torch.from_numpy(np.stack(sems)).long(),
            torch.from_numpy(np.stack(bnds)).long())


class BatchSource(torch.utils.data.Dataset):
    """Item ``it`` = this process's micro-batches of iteration ``it`` (a pure function of it)."""

    def __init__(self, ds, tc: TrainConfig, rank: int, world: int):
        self.ds, self.tc, self.rank, self.world = ds, tc, rank, world

    def __len__(self) -> int:
        return self.tc.iters

    def __getitem__(self, it: int):
        chunks = self.tc.accum * self.world
        return [make_batch(self.ds, self.tc, it, self.rank * self.tc.accum + m, chunks) for m in range(self.tc.accum)]


def _worker_init(_):
    torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(0)
    except Exception:
        pass


def batch_loader(ds, tc: TrainConfig, start: int, rank: int, world: int, workers: int, pin: bool):
    src = BatchSource(ds, tc, rank, world)
    kw = {}
    if workers > 0:
        kw = dict(persistent_workers=True, prefetch_factor=4, worker_init_fn=_worker_init)
    return torch.utils.data.DataLoader(src, batch_size=None, sampler=list(range(start, tc.iters)),
                                       num_workers=workers, pin_memory=pin, **kw)


# ----------------------------------------------------------------------------------------- helpers


def poly_lr(base: float, it: int, total: int, power: float) -> float:
    return base * (1.0 - min(it, total - 1) / total) ** power


def save_checkpoint(path: str, model, opt, it: int, mc: ModelConfig, tc: TrainConfig, data: str, extra=None,
                    scaler=None):
    state = {
        "model": model.state_dict(), "optimizer": opt.state_dict() if opt is not None else None,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
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


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``cpu`` | ``cuda`` | ``cuda:N`` | ``auto`` (cuda when available). Under torchrun, ``cuda``
    and ``auto`` mean ``cuda:LOCAL_RANK``."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {spec}: CUDA is not available (torch {torch.__version__}, "
                               f"built with CUDA {torch.version.cuda})")
        idx = local_rank if spec == "cuda" else int(spec.split(":", 1)[1])
        if idx >= torch.cuda.device_count():
            raise RuntimeError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", idx)
    raise ValueError(f"--device must be cpu, cuda, cuda:N or auto, not {spec!r}")


AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _dist_env() -> tuple[int, int, int]:
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


class _Tensorboard:
    def __init__(self, out: str, enabled: bool):
        self.w = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.w = SummaryWriter(os.path.join(out, "tb"))
            except Exception:  # tensorboard not installed: optional
                self.w = None

    def log(self, rec: dict, step: int):
        if self.w is None:
            return
        for k, v in rec.items():
            if isinstance(v, (int, float)) and k != "it" and math.isfinite(float(v)):
                self.w.add_scalar(k, float(v), step)
        self.w.flush()

    def close(self):
        if self.w is not None:
            self.w.close()


# ----------------------------------------------------------------------------------------- fit


def fit(mc: ModelConfig, tc: TrainConfig, data: str, out: str, fresh: bool = False, pretrained: str | None = None,
        max_minutes: float | None = None, progress: bool = True, stop_at: int | None = None, *,
        split: str = "train", device: str = "auto", amp: str = "off", workers: int = 0, sync_bn: bool = False,
        val_data: str | None = None, val_every: int = 0, val_split: str = "val", val_limit: int | None = None,
        tensorboard: bool = True) -> dict:
    """Train (see the module docstring); returns the last iteration's loss terms (global means)."""
    import torch.distributed as dist

    rank, world, local_rank = _dist_env()
    dev = resolve_device(device, local_rank)
    distributed = world > 1
    if distributed and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=datetime.timedelta(minutes=60))
    if sync_bn and dev.type == "cpu" and distributed:
        raise ValueError("--sync-bn needs GPU processes (torch's SyncBatchNorm does not run on CPU); drop it with gloo")
    if amp not in AMP_DTYPES:
        raise ValueError(f"--amp must be off, bf16 or fp16, not {amp!r}")
    amp_dtype = AMP_DTYPES[amp]
    main_proc = rank == 0
    if main_proc:
        os.makedirs(out, exist_ok=True)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    ds = open_dataset(data, tc.seed, tc.procedural_size, split)
    if list(ds.class_names) != list(mc.class_names):
        mc.class_names = list(ds.class_names)
        mc.num_classes = len(ds.class_names)
    val_ds = open_dataset(val_data, tc.seed + 1, tc.procedural_size, val_split) if val_data and val_every else None
    if val_ds is not None and getattr(val_ds, "infinite", False) and val_limit is None:
        val_limit = 16
    if mc.ppc_dim == 1 and tc.w_ppc > 0 and main_proc:
        print("note: ppc_dim 1 (the paper's Table 10 best row): an L2-normalised 1-d embedding is +-1, so L_P is "
              "logged but gives no gradient; --model-set ppc_dim=32 makes the contrast loss train the IABD features")
    torch.manual_seed(tc.seed)
    model = BAISeg(mc, pretrained)
    pre_report = model.backbone.pretrained_report
    start, best = 0, None
    last = os.path.join(out, "last.pt")
    ck = None
    if os.path.exists(last) and not fresh:
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        start = ck["iteration"]
        best = ck.get("extra", {}).get("best_mAP50")
        prev_gb = ck.get("extra", {}).get("global_batch")
        if main_proc:
            print(f"resuming {last} at iteration {start}")
            if prev_gb is not None and prev_gb != tc.batch * tc.accum * world:
                print(f"warning: global batch was {prev_gb}, now {tc.batch * tc.accum * world}")
    if sync_bn and distributed:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(dev)
    core = model
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    opt = torch.optim.Adam(core.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    scaler = torch.amp.GradScaler(dev.type, enabled=amp == "fp16")
    if ck is not None:
        opt.load_state_dict(ck["optimizer"])
        if ck.get("scaler") and scaler.is_enabled():
            scaler.load_state_dict(ck["scaler"])
    global_batch = tc.batch * tc.accum * world
    num_images = None if getattr(ds, "infinite", False) else len(ds)
    if main_proc:
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump({"model": dataclasses.asdict(mc), "train": dataclasses.asdict(tc), "data": data,
                       "data_description": ds.describe(), "split": split, "num_images": num_images,
                       "world_size": world, "global_batch": global_batch, "device": str(dev), "amp": amp,
                       "workers": workers, "sync_bn": sync_bn, "pretrained": pre_report,
                       "val_data": val_data, "val_every": val_every}, f, indent=1)
    loader = batch_loader(ds, tc, start, rank, world, workers, pin=dev.type == "cuda")
    model.train()
    t0 = time.time()
    bar = tqdm(total=tc.iters, initial=start, disable=not (progress and main_proc), mininterval=5.0, ncols=110)
    log = open(os.path.join(out, "log.jsonl"), "a") if main_proc else None
    tb = _Tensorboard(out, tensorboard and main_proc)
    terms: dict = {}
    win_t, win_wait, win_its = time.time(), 0.0, 0
    done = start
    autocast = (lambda: torch.autocast(dev.type, dtype=amp_dtype)) if amp_dtype is not None else contextlib.nullcontext
    it_loader = iter(loader)
    for it in range(start, tc.iters):
        tw = time.time()
        micro = next(it_loader)
        win_wait += time.time() - tw
        lr = poly_lr(tc.lr, it, tc.iters, tc.poly_power)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        sums = torch.zeros(6, dtype=torch.float64)
        for m, (x, sem, bnd) in enumerate(micro):
            chunk = rank * tc.accum + m
            x = x.to(dev, non_blocking=True)
            sem = sem.to(dev, non_blocking=True)
            bnd = bnd.to(dev, non_blocking=True)
            gen = torch.Generator().manual_seed((tc.seed * 1_000_003 + it) * 1009 + chunk)
            sync = contextlib.nullcontext() if (not distributed or m == tc.accum - 1) else model.no_sync()
            with sync:
                with autocast():
                    outp = model(x)
                outp = {k: outp[k].float() for k in ("boundary", "semantic", "embedding") if k in outp}
                t = total_loss(outp, sem, bnd, tc, gen)
                scaler.scale(t["loss"] / tc.accum).backward()
            lab = (bnd != IGNORE).sum()
            sums += torch.tensor([float(t[k].detach()) for k in ("loss", "L_B", "L_S", "L_P")] + [
                                  float((bnd == 1).sum()), float(lab)], dtype=torch.float64)
        scaler.step(opt)
        scaler.update()
        if distributed:
            red = sums.to(dev) if dev.type == "cuda" else sums
            dist.all_reduce(red)
            sums = red.cpu()
        n_chunks = tc.accum * world
        vals = {"loss": sums[0].item() / n_chunks, "L_B": sums[1].item() / n_chunks,
                "L_S": sums[2].item() / n_chunks, "L_P": sums[3].item() / n_chunks}
        bfrac = sums[4].item() / max(sums[5].item(), 1.0)
        terms = vals
        done = it + 1
        win_its += 1
        bar.update(1)
        if (done % tc.log_every == 0 or it == start) and main_proc:
            el = time.time() - win_t
            rec = {"it": done, **{k: round(v, 6) for k, v in vals.items()}, "lr": lr, "boundary_frac": round(bfrac, 6),
                   "world_size": world, "global_batch": global_batch, "images_per_s": round(win_its * global_batch / max(el, 1e-9), 3),
                   "data_wait_share": round(win_wait / max(el, 1e-9), 4), "time_s": round(time.time() - t0, 1)}
            if dev.type == "cuda":
                rec["max_memory_gib"] = round(torch.cuda.max_memory_allocated(dev) / 2**30, 3)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            tb.log(rec, done)
            bar.set_postfix({k: f"{v:.3f}" for k, v in vals.items()})
        if (done % tc.log_every == 0 or it == start):
            win_t, win_wait, win_its = time.time(), 0.0, 0
        if val_ds is not None and (done % val_every == 0 or done == tc.iters):
            from .validate import validate

            metrics = validate(core, val_ds, dev, amp_dtype, val_limit, rank, world)
            if main_proc:
                rec = {"it": done, **metrics}
                log.write(json.dumps(rec) + "\n")
                log.flush()
                tb.log(rec, done)
                print(f"validation at {done}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                                                          if isinstance(v, float)))
                if best is None or metrics["mAP@0.5"] > best:
                    best = metrics["mAP@0.5"]
                    save_checkpoint(os.path.join(out, "best.pt"), core, None, done, mc, tc, data,
                                    {"best_mAP50": best, "metrics": metrics, "global_batch": global_batch})
        stop = False
        why = ""
        if max_minutes is not None and time.time() - t0 > 60 * max_minutes:
            stop, why = True, f"--max-minutes {max_minutes} reached"
        if stop_at is not None and done >= stop_at:
            stop, why = True, f"--stop-at (the schedule is still that of --iters {tc.iters})"
        if distributed and max_minutes is not None:  # every rank must stop at the same iteration
            flag = torch.tensor([1.0 if stop else 0.0], device=dev if dev.type == "cuda" else "cpu")
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item() > 0)
        if main_proc and (done % tc.save_every == 0 or done == tc.iters or stop):
            save_checkpoint(last, core, opt, done, mc, tc, data, {"best_mAP50": best, "global_batch": global_batch},
                            scaler)
        if stop:
            if main_proc:
                print(f"stopping at iteration {done}: {why}")
            break
    bar.close()
    tb.close()
    if log is not None:
        log.close()
    del it_loader, loader
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return terms


# ----------------------------------------------------------------------------------------- CLI


def _parse_override(s: str):
    k, eq, v = s.partition("=")
    if not eq:
        raise argparse.ArgumentTypeError(f"--model-set expects KEY=VALUE, got {s!r}")
    return k.strip(), v.strip()


def _apply_model_overrides(mc: ModelConfig, pairs) -> None:
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    for k, v in pairs or []:
        if k not in fields or k in ("name", "class_names", "num_classes"):
            raise SystemExit(f"--model-set: unknown or fixed field {k!r}; settable: "
                             f"{sorted(set(fields) - {'name', 'class_names', 'num_classes'})}")
        cur = getattr(mc, k)
        if isinstance(cur, tuple):
            val = tuple(int(x) for x in v.split(","))
        elif isinstance(cur, bool):
            val = v.lower() in ("1", "true", "yes")
        else:
            val = type(cur)(v)
        setattr(mc, k, val)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="small", help="paper | paper-coco | small | tiny")
    ap.add_argument("--data", default="procedural",
                    help="procedural[:SEED] | voc:ROOT | sbd:ROOT | trainaug:VOC_ROOT,SBD_ROOT | "
                         "coco:ANN.json:IMAGE_DIR | folder:ROOT (see python-export/README.md)")
    ap.add_argument("--split", default="train", help="split of voc:/sbd: data (train | val | trainval)")
    ap.add_argument("--out", default=None, help="run directory (default runs/<config>)")
    ap.add_argument("--pretrained", default=None,
                    help="'timm' (ImageNet weights of the backbone from the local Hugging Face cache, or the hub "
                         "when reachable) or a local state dict FILE; default random initialisation")
    ap.add_argument("--device", default="auto", help="cpu | cuda | cuda:N | auto")
    ap.add_argument("--amp", default="off", choices=sorted(AMP_DTYPES), help="autocast dtype (fp16 adds loss scaling)")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (0 = in the main process)")
    ap.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across processes (DDP)")
    ap.add_argument("--val-data", default=None, help="validation data SPEC (same forms as --data)")
    ap.add_argument("--val-split", default="val", help="split of the validation data")
    ap.add_argument("--val-every", type=int, default=0, help="validate every N iterations (and at the end)")
    ap.add_argument("--val-limit", type=int, default=None, help="validate on the first N images only")
    ap.add_argument("--model-set", action="append", type=_parse_override, default=None, metavar="KEY=VALUE",
                    help="override a ModelConfig field, e.g. ppc_dim=32 or backbone_features=v2")
    ap.add_argument("--no-tensorboard", action="store_true")
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
    _apply_model_overrides(mc, a.model_set)
    out = a.out or os.path.join("runs", a.config)
    t = time.time()
    from .data.datasets import DatasetError
    from .models.backbone import PretrainedError

    try:
        final = fit(mc, tc, a.data, out, a.fresh, a.pretrained, a.max_minutes, not a.no_progress, a.stop_at,
                    split=a.split, device=a.device, amp=a.amp, workers=a.workers, sync_bn=a.sync_bn,
                    val_data=a.val_data, val_every=a.val_every, val_split=a.val_split, val_limit=a.val_limit,
                    tensorboard=not a.no_tensorboard)
    except (DatasetError, PretrainedError) as e:
        raise SystemExit(f"error: {e}") from None
    if _dist_env()[0] == 0:
        print(f"done in {time.time() - t:.0f}s; last loss terms {final}; checkpoint {os.path.join(out, 'last.pt')}")


if __name__ == "__main__":
    main()
