"""Images/s for one CLI process, the sharded CLI (2 shards + merge) and Ray (2 actors).

    python bindings/python/bench/scaling.py MODEL.onnx IMAGES_DIR [--coco GT.json] [--cli PATH]

Prints a Markdown table. Wall times are end to end (process start, model load, all images,
merge); "outside" is the share of (wall x workers) not spent in the model forward pass or the MEP
(decode, preprocessing, scheduling, serialisation, start-up, merge).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def stage_seconds(summary):
    fwd = sum(s["seconds"] for s in summary["stages"] if s["stage"] == "model::forward")
    mep = sum(s["seconds"] for s in summary["stages"] if s["stage"].startswith("mep::"))
    return fwd + mep


def cli_single(cli, model, images, out, threads):
    t0 = time.perf_counter()
    r = subprocess.run([cli, "infer", model, images, "--out", out, "--force", "--json", "--threads", str(threads)],
                       capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    s = json.loads(r.stdout)
    return wall, s["processed"], stage_seconds(s), 1


def cli_sharded(cli, model, images, out, n):
    t0 = time.perf_counter()
    procs = [subprocess.Popen([cli, "infer", model, images, "--out", f"{out}/s{k}", "--force", "--json",
                               "--threads", "1", "--shard", f"{k}/{n}"], stdout=subprocess.PIPE, text=True)
             for k in range(n)]
    sums = []
    for p in procs:
        so, _ = p.communicate()
        if p.returncode not in (0,):
            raise SystemExit(f"shard failed: {p.returncode}")
        sums.append(json.loads(so))
    subprocess.run([cli, "merge", *[f"{out}/s{k}" for k in range(n)], "--out", f"{out}/merged", "-q"], check=True)
    wall = time.perf_counter() - t0
    return wall, sum(s["processed"] for s in sums), sum(stage_seconds(s) for s in sums), n


def ray_run(model, images, out, n, coco):
    import ray

    import baiseg_rt.ray as bray

    t0 = time.perf_counter()
    ray.init(num_cpus=2 * n, include_dashboard=False, log_to_driver=False)
    t_init = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        rep = bray.run(model, images, out, coco=coco, concurrency=n, num_cpus=1, batch_size=2, threads=1)
        wall = time.perf_counter() - t0
    finally:
        ray.shutdown()
    return wall, rep["images"], rep["model_s"], n, t_init


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("images")
    ap.add_argument("--coco")
    ap.add_argument("--cli", default=os.environ.get("BAISEG_RT_BIN", "target/release/baiseg-rt"))
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="baiseg_scaling_")
    rows = []
    w, n, busy, k = cli_single(a.cli, a.model, a.images, f"{tmp}/one", a.workers)
    rows.append((f"1 process (`infer --threads {a.workers}`)", w, n, busy, k, ""))
    w, n, busy, k = cli_sharded(a.cli, a.model, a.images, f"{tmp}/sh", a.workers)
    rows.append((f"sharded CLI, {a.workers} x `--shard K/{a.workers} --threads 1` + `merge`", w, n, busy, k, ""))
    w, n, busy, k, t_init = ray_run(a.model, a.images, f"{tmp}/ray", a.workers, a.coco)
    rows.append((f"Ray Data, {a.workers} actors (`threads=1`)", w, n, busy, k, f"+ {t_init:.1f} s `ray.init`"))
    print("| setup | images | wall (s) | images/s | outside model+MEP | note |")
    print("|---|---|---|---|---|---|")
    for name, w, n, busy, k, note in rows:
        outside = max(0.0, 1.0 - busy / (w * k))
        print(f"| {name} | {n} | {w:.1f} | {n / w:.2f} | {outside:.0%} | {note} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
