"""Writes an N x N JPEG mosaic of the procedural sample scenes, for the large-image measurements
of docs/tiling.md#measured.

    .venv/bin/python scripts/mosaic.py 20000 big20000.jpg
    nice -n 19 /usr/bin/time -v target/release/baiseg-rt infer --json models/baiseg_small.onnx \
        big20000.jpg --tile 1024 --max-pixels 1100000000 --out out20000
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    n, out = int(sys.argv[1]), sys.argv[2]
    root = Path(__file__).resolve().parent.parent
    Image.MAX_IMAGE_PIXELS = None
    tiles = [
        np.asarray(Image.open(p).convert("RGB"))
        for p in sorted((root / "fixtures/samples/images").glob("*.png"))
    ]
    side = tiles[0].shape[0]
    img = np.zeros((n, n, 3), np.uint8)
    k = 0
    for y in range(0, n, side):
        for x in range(0, n, side):
            tile = tiles[k % len(tiles)]
            k += 1
            h, w = min(side, n - y), min(side, n - x)
            img[y : y + h, x : x + w] = tile[:h, :w]
    Image.fromarray(img).save(out, quality=90)


if __name__ == "__main__":
    main()
