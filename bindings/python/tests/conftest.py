"""Shared fixtures: the repository, the CLI binary and its outputs on the sample images."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FIX = ROOT / "fixtures"
MODEL = FIX / "models" / "tiny.onnx"
SAMPLES = FIX / "samples" / "images"
ANNOTATIONS = FIX / "samples" / "annotations.json"


def cli_binary() -> Path:
    b = Path(os.environ.get("BAISEG_RT_BIN", ROOT / "target" / "release" / "baiseg-rt"))
    if not b.is_file():
        pytest.fail(f"{b}: baiseg-rt CLI not built (cargo build --release, or set BAISEG_RT_BIN)")
    return b


def run_cli(*args, check=True):
    return subprocess.run([str(cli_binary()), *map(str, args)], capture_output=True, text=True, check=check)


def sort_key(r):
    return (r["image_id"], r["category_id"], r["score"], r["segmentation"]["counts"])


@pytest.fixture(scope="session")
def cli_instances(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    run_cli("-q", "infer", MODEL, SAMPLES, "--coco", ANNOTATIONS, "--out", out)
    with open(out / "instances.json") as f:
        return json.load(f)
