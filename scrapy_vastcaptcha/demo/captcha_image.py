"""Deterministic noise pictures for the image captcha, written as PNG without PIL.

The emulator's ImageToText answer is a function of the image bytes, so the
same challenge id must always give the very same bytes.
"""

from __future__ import annotations

import hashlib
import random
import struct
import zlib

WIDTH = 150
HEIGHT = 50


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def captcha_png(challenge_id: str) -> bytes:
    """An RGB PNG of speckled stripes, seeded by ``challenge_id``."""
    rng = random.Random(hashlib.sha256(challenge_id.encode()).digest())
    base = [rng.randrange(150, 230) for _ in range(3)]
    rows = []
    for y in range(HEIGHT):
        row = bytearray(b"\x00")  # filter type "None" for every scanline
        for x in range(WIDTH):
            stripe = 40 if (x + 2 * y) // 9 % 3 == 0 else 0
            for channel in range(3):
                value = base[channel] - stripe + rng.randrange(-45, 46)
                row.append(max(0, min(255, value)))
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(b"".join(rows), 9)),
            _chunk(b"IEND", b""),
        )
    )
