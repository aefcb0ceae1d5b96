"""Draw the bundle icon (a voice waveform on a rounded square) as a 512x512 RGBA PNG, with the standard library only.

    python scripts/make_icon.py [--out icon.png]

The output is byte-for-byte reproducible, so a test can check that the committed icon is this script's.
"""

from __future__ import annotations

import argparse
import math
import struct
import zlib
from pathlib import Path

SIZE = 512
CORNER = 112
TOP = (0x6D, 0x4A, 0xFF)
BOTTOM = (0x2B, 0x1A, 0x8C)
BAR_WIDTH = 46
BAR_GAP = 26
BAR_HEIGHTS = (128, 236, 316, 236, 128)


def _rounded_square(x: float, y: float) -> float:
    """Signed distance (pixels, negative inside) to the rounded square that fills the canvas."""
    half = SIZE / 2
    qx = abs(x - half) - (half - CORNER)
    qy = abs(y - half) - (half - CORNER)
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - CORNER


def _bars(x: float, y: float) -> float:
    """Signed distance to the nearest waveform bar (vertical capsules centred on the canvas)."""
    radius = BAR_WIDTH / 2
    span = len(BAR_HEIGHTS) * BAR_WIDTH + (len(BAR_HEIGHTS) - 1) * BAR_GAP
    left = (SIZE - span) / 2 + radius
    best = math.inf
    for i, height in enumerate(BAR_HEIGHTS):
        cx = left + i * (BAR_WIDTH + BAR_GAP)
        reach = height / 2 - radius
        dy = max(abs(y - SIZE / 2) - reach, 0.0)
        best = min(best, math.hypot(x - cx, dy) - radius)
    return best


def _coverage(distance: float) -> float:
    return min(1.0, max(0.0, 0.5 - distance))


def render() -> bytes:
    rows: list[bytes] = []
    for py in range(SIZE):
        y = py + 0.5
        t = py / (SIZE - 1)
        base = [round(a + (b - a) * t) for a, b in zip(TOP, BOTTOM, strict=True)]
        row = bytearray(b"\x00")  # filter type 0 (None) for every scanline
        for px in range(SIZE):
            x = px + 0.5
            alpha = _coverage(_rounded_square(x, y))
            white = _coverage(_bars(x, y)) if alpha else 0.0
            rgb = [round(c + (255 - c) * white) for c in base]
            row += bytes((*rgb, round(255 * alpha)))
        rows.append(bytes(row))
    return _png(SIZE, SIZE, b"".join(rows))


def _png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "icon.png")
    args = parser.parse_args()
    args.out.write_bytes(render())


if __name__ == "__main__":
    main()
