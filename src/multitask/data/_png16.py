"""Read PNGs at their stored bit depth, 16-bit colour included.

Pillow opens a 16-bit-per-channel RGB(A) PNG as 8-bit ``RGB`` and keeps only the high byte of every sample
(checked with Pillow 13: a class id 5 stored as 16 bits reads back as 0), so files such as SYNTHIA's
``GT/LABELS`` and ``Depth`` PNGs cannot go through it. Those are decoded with ``pypng`` (pure Python, the
``png16`` extra: ``pip install 'multitask[png16]'``); every other PNG (8-bit, palette, 16-bit grey, which
Pillow keeps whole as ``I;16``) still goes through Pillow.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from multitask.data._dense_lists import read_png

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_header(path: Path, dataset: str) -> tuple[int, int, int, int]:
    """``(width, height, bit_depth, colour_type)`` from a PNG's IHDR chunk; not a PNG is a ValueError."""
    try:
        with open(path, "rb") as f:
            head = f.read(33)
    except OSError as e:
        raise ValueError(f"{dataset}: cannot read {str(path)!r}: {e}") from e
    if len(head) < 33 or head[:8] != _SIGNATURE or head[12:16] != b"IHDR":
        raise ValueError(f"{dataset}: {str(path)!r} is not a PNG file")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    return width, height, depth, colour


def _require_pypng(path: Path, dataset: str) -> Any:
    try:
        import png
    except ImportError as e:
        raise ImportError(
            f"{dataset}: {str(path)!r} is a 16-bit colour PNG, which Pillow truncates to 8 bits; reading it "
            "needs pypng: pip install 'multitask[png16]' (or pip install pypng)"
        ) from e
    return png


def read_png16(path: Path, dataset: str) -> np.ndarray:
    """Decode a PNG without losing bits: ``[H, W]`` (grey, palette indices) or ``[H, W, C]``.

    16-bit colour PNGs come back as uint16 through pypng; the rest as :func:`read_png` (Pillow) gives them.
    """
    width, height, depth, colour = png_header(path, dataset)
    if depth != 16 or colour == 0:
        return read_png(path, dataset)
    png = _require_pypng(path, dataset)
    try:
        w, h, rows, info = png.Reader(filename=str(path)).asDirect()
        arr = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    except (png.Error, OSError, ValueError) as e:
        raise ValueError(f"{dataset}: cannot decode image {str(path)!r}: {e}") from e
    planes = int(info["planes"])
    if (w, h) != (width, height) or arr.shape != (h, w * planes):
        raise ValueError(f"{dataset}: {str(path)!r} decodes to {arr.shape}, expected {h} x {w * planes}")
    return arr.reshape(h, w, planes)

