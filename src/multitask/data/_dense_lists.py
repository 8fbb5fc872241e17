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
