"""Helpers of the list-file dense datasets (PASCAL-Context and NYUD in the layout of the dense MTL survey).

Vandenhende, Georgoulis, Van Gansbeke, Proesmans, Dai & Van Gool, "Multi-Task Learning for Dense
Prediction Tasks: A Survey", TPAMI 2021 (code: github.com/SimonVandenhende/Multi-Task-Learning-PyTorch):
images and per-task annotations are files named ``<id>.<ext>`` in one folder per task, and a split is a
text file of ids, one per line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from multitask.data._common import require_path, require_pil


def read_ids(path: Path, dataset: str, layout: str) -> list[str]:
    """The ids of a split file (one per line, blank lines skipped); an empty file is a ValueError."""
    require_path(path, dataset, layout)
    ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"{dataset}: split file {str(path)!r} lists no image ids")
    return ids


def read_png(path: Path, dataset: str) -> np.ndarray:
    """Decode a PNG (or any Pillow image) as stored: ``[H, W]`` for palette/grey, ``[H, W, C]`` else."""
    Image = require_pil()
    try:
        with Image.open(path) as im:
            return np.array(im)
    except OSError as e:
        raise ValueError(f"{dataset}: cannot decode image {str(path)!r}: {e}") from e


def read_npy(path: Path, dataset: str) -> np.ndarray:
    """``np.load`` without pickles; a bad file is a ValueError naming it."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{dataset}: cannot read {str(path)!r}: {e}") from e


def read_mat(path: Path, dataset: str, key: str) -> np.ndarray:
    """One variable of a MATLAB file (scipy); a missing variable or bad file is a ValueError naming it."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as e:
        raise ValueError(f"{dataset}: cannot read {str(path)!r} as a MATLAB file: {e}") from e
    if key not in mat:
        raise ValueError(f"{dataset}: {str(path)!r} has no variable {key!r}")
    return mat[key]


def check_hw(arr: np.ndarray, hw: tuple[int, int], path: Path, dataset: str) -> None:
    if tuple(arr.shape[:2]) != hw:
        raise ValueError(f"{dataset}: {str(path)!r} is {arr.shape[0]} x {arr.shape[1]}, but its image is "
                         f"{hw[0]} x {hw[1]}")


def resize(t: Tensor, size: tuple[int, int] | None, mode: str) -> Tensor:
    """Resize a ``[C, H, W]`` or ``[H, W]`` tensor to ``size`` (``None`` = keep); labels use "nearest"."""
    if size is None or tuple(t.shape[-2:]) == tuple(size):
        return t
    x = t[None] if t.ndim == 3 else t[None, None]
    kw = {"align_corners": False} if mode == "bilinear" else {}
    y = F.interpolate(x.float(), size=tuple(size), mode=mode, **kw)
    y = y[0] if t.ndim == 3 else y[0, 0]
    return y.to(t.dtype)


def labels(arr: np.ndarray, num_classes: int, ignore_values: tuple[int, ...], path: Path, dataset: str,
           task: str) -> Tensor:
    """int64 labels with ``ignore_values`` mapped to -1; a label outside 0..num_classes-1 is a ValueError."""
    out = arr.astype(np.int64)
    ignore = np.isin(out, ignore_values)
    bad = ~ignore & ((out < 0) | (out >= num_classes))
    if bad.any():
        raise ValueError(f"{dataset}: {str(path)!r} ({task}) has label {int(out[bad][0])} outside "
                         f"0..{num_classes - 1} (ignore: {list(ignore_values)})")
    out[ignore] = -1
    return torch.from_numpy(out)


def check_size(size: object, dataset: str) -> tuple[int, int] | None:
    if size is None:
        return None
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size)):
        raise ValueError(f"{dataset}: size must be None or (H, W) positive ints, got {size!r}")
    return (int(size[0]), int(size[1]))


def thin(mask: np.ndarray) -> np.ndarray:
    """Thin a boolean ``[H, W]`` map to one-pixel-wide curves: the parallel thinning of Lam, Lee & Suen
    ("Thinning Methodologies — A Comprehensive Survey", IEEE TPAMI 1992, p. 879; MATLAB's
    ``bwmorph(B, 'thin', Inf)``, skimage's ``thin``), pixels outside the image being background.

    With the neighbours ``x1..x8`` of ``p`` counted counter-clockwise from the east (``x9 = x1``), a
    foreground pixel is removed in sub-iteration 1 (2) when G1: ``Σ_i [x_{2i-1} = 0 and (x_{2i} or
    x_{2i+1})] = 1``, G2: ``2 <= min(n1, n2) <= 3`` with ``n1 = Σ_k (x_{2k-1} or x_{2k})`` and
    ``n2 = Σ_k (x_{2k} or x_{2k+1})``, and G3: ``(x2 or x3 or not x8) and x1`` is false (sub-iteration 2:
    ``(x6 or x7 or not x4) and x5``); the two sub-iterations repeat until nothing changes.
    (The metrics layer has its own border-tracking copy; data may not import metrics.)
    """
    img = np.pad(np.asarray(mask, dtype=bool), 1)
    offsets = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))  # x1..x8
    h, w = img.shape[0] - 2, img.shape[1] - 2
    changed = True
    while changed:
        changed = False
        for first in (True, False):
            x = [img[1 + di : 1 + di + h, 1 + dj : 1 + dj + w] for di, dj in offsets]
            x.append(x[0])  # x9 = x1
            g1 = sum((~x[2 * i]) & (x[2 * i + 1] | x[2 * i + 2]) for i in range(4)) == 1
            n1 = sum(x[2 * k] | x[2 * k + 1] for k in range(4))
            n2 = sum(x[2 * k + 1] | x[2 * k + 2] for k in range(4))
            m = np.minimum(n1, n2)
            g2 = (m >= 2) & (m <= 3)
            g3 = ~((x[1] | x[2] | ~x[7]) & x[0]) if first else ~((x[5] | x[6] | ~x[3]) & x[4])
            remove = img[1:-1, 1:-1] & g1 & g2 & g3
            if remove.any():
                img[1:-1, 1:-1] &= ~remove
                changed = True
    return img[1:-1, 1:-1].copy()
