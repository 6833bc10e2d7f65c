#!/usr/bin/env python3
"""Writes N small PNG images (64x48, a disc and a box on a dark background) into DIR, for the
memory measurement in benches/README.md. Standard library only.

    python3 benches/gen_small_images.py DIR N
"""
import struct
import sys
import zlib
from pathlib import Path


def png(width: int, height: int, seed: int) -> bytes:
    cx, cy = 12 + seed * 7 % 40, 10 + seed * 13 % 28
    bx, by = 40 - seed * 5 % 30, 30 - seed * 3 % 20
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            if (x - cx) ** 2 + (y - cy) ** 2 < 64:
                rows += bytes((220, 60, 40))
            elif bx <= x < bx + 14 and by <= y < by + 10:
                rows += bytes((40, 200, 60))
            else:
                rows += bytes((20, 20, 30 + (x + y) % 40))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")


def main() -> None:
    out, n = Path(sys.argv[1]), int(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    variants = [png(64, 48, s) for s in range(97)]
    for i in range(n):
        sub = out / f"{i // 1000:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"{i:05d}.png").write_bytes(variants[i % len(variants)])


if __name__ == "__main__":
    main()
