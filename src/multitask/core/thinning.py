"""Morphological thinning of binary boundary maps to one-pixel-wide curves.

Lam, Lee, Suen. Thinning Methodologies — A Comprehensive Survey. IEEE TPAMI 1992 (p. 879): the parallel
thinning behind MATLAB's ``bwmorph(B, 'thin', Inf)``, which the BSDS benchmark and seism apply to every
thresholded edge prediction. With the 8 neighbours ``x1..x8`` of a pixel ``p`` counted counter-clockwise
from the east (``x1`` = E, ``x2`` = NE, ``x3`` = N, ..., ``x8`` = SE, ``x9 = x1``), each iteration runs two
sub-iterations; a foreground pixel is removed in sub-iteration 1 (2) when

    G1:  X_H(p) = Σ_{i=1..4} [x_{2i-1} = 0 and (x_{2i} = 1 or x_{2i+1} = 1)]  = 1
    G2:  2 ≤ min(n1, n2) ≤ 3,  n1 = Σ_{k=1..4} (x_{2k-1} ∨ x_{2k}),  n2 = Σ_{k=1..4} (x_{2k} ∨ x_{2k+1})
    G3:  (x2 ∨ x3 ∨ ¬x8) ∧ x1 = 0           (sub-iteration 2:  (x6 ∨ x7 ∨ ¬x4) ∧ x5 = 0)

until nothing changes. Pixels outside the image are background. Each rule is a 256-entry look-up table
of the neighbour code ``Σ_k x_k 2^{k-1}``, evaluated for a whole stack of maps at once.

In core because two layers use it: the edge metric (thinning predictions, optionally the truth) and the
dataset loaders that derive edge targets from label maps (PASCAL-Context).
"""

from __future__ import annotations

import numpy as np

__all__ = ["thin"]

# (row offset, column offset) of x1..x8
_NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))


def _tables() -> tuple[np.ndarray, np.ndarray]:
    first = np.zeros(256, dtype=bool)
    second = np.zeros(256, dtype=bool)
    for code in range(256):
        x = [None] + [bool(code >> k & 1) for k in range(8)] + [bool(code & 1)]  # x[1..9], x9 = x1
        x_h = sum(1 for i in range(1, 5) if not x[2 * i - 1] and (x[2 * i] or x[2 * i + 1]))
        n1 = sum(1 for k in range(1, 5) if x[2 * k - 1] or x[2 * k])
        n2 = sum(1 for k in range(1, 5) if x[2 * k] or x[2 * k + 1])
        g12 = x_h == 1 and 2 <= min(n1, n2) <= 3
        first[code] = g12 and not ((x[2] or x[3] or not x[8]) and x[1])
        second[code] = g12 and not ((x[6] or x[7] or not x[4]) and x[5])
    return first, second


_FIRST, _SECOND = _tables()


def thin(maps: np.ndarray) -> np.ndarray:
    """Thin binary maps ``[H, W]`` or ``[N, H, W]`` (each independently) to one-pixel-wide curves.

    Only border pixels (foreground with a background 4-neighbour, the only ones G1 can remove) are
    examined, so each iteration costs the length of the borders, not the area of the maps.
    """
    squeeze = maps.ndim == 2
    stack = np.asarray(maps, dtype=bool).reshape((-1,) + maps.shape[-2:])
    n, h, w = stack.shape
    img = np.zeros((n, h + 2, w + 2), dtype=np.uint8)  # a background frame around every map
    img[:, 1:-1, 1:-1] = stack
    flat = img.reshape(-1)
    row = w + 2
    step = np.array([di * row + dj for di, dj in _NEIGHBOURS], dtype=np.int64)  # x1..x8 as flat offsets
    four = step[[0, 2, 4, 6]]  # E, N, W, S
    fg = np.flatnonzero(flat)
    border = fg[(flat[fg[:, None] + four[None, :]] == 0).any(axis=1)]
    while True:
        removed_any = False
        for table in (_FIRST, _SECOND):
            if border.size == 0:
                break
            code = flat[border + step[0]]  # neighbour code Σ x_k 2^{k-1} in one byte (flat holds 0/1)
            for k in range(1, 8):
                code |= flat[border + step[k]] << k
            remove = border[table[code]]
            if remove.size == 0:
                continue
            removed_any = True
            flat[remove] = 0  # all decisions of a sub-iteration were taken before any removal
            near = (remove[:, None] + four[None, :]).reshape(-1)
            border = np.concatenate([border[flat[border] == 1], near[flat[near] == 1]])
            border.sort()
            border = border[np.concatenate(([True], border[1:] != border[:-1]))]
        if not removed_any:
            break
    out = img[:, 1:-1, 1:-1].astype(bool)
    return out[0] if squeeze else out
