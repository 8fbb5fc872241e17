"""MultiMNIST: two different MNIST digits on one canvas, one classification task per digit.

Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018 (construction
after Sabour, Frosst & Hinton, NeurIPS 2017). Built from the real MNIST test set shipped in
``_assets/mnist`` (CC BY-SA 3.0, LeCun, Cortes & Burges).
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import (
    ASSETS,
    check_split,
    default_cache_dir,
    load_cache,
    require_path,
    save_cache,
)
from multitask.data.registry import register_dataset

CANVAS = 36
DIGIT = 28
_VERSION = 1
_LAYOUT = """root/
  {prefix}-images-idx3-ubyte.gz   (or without .gz)   IDX images, N x 28 x 28 uint8
  {prefix}-labels-idx1-ubyte.gz   (or without .gz)   IDX labels, N uint8 in 0..9"""
_KEYS = ("images", "left", "right", "left_index", "right_index")
CONSTRUCTIONS = ("ours", "sener_koltun")


def _find(root: Path, name: str, prefix: str) -> Path:
    for candidate in (root / f"{name}.gz", root / name):
        if candidate.is_file():
            return candidate
    return require_path(root / f"{name}.gz", "multimnist", _LAYOUT.format(prefix=prefix))


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) of unsigned bytes: magic 0x0803 images or 0x0801 labels."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"multimnist: {str(path)!r} is not a valid gzip file: {e}") from e
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] not in (1, 3):
        raise ValueError(f"multimnist: {str(path)!r} has no IDX unsigned-byte header (magic 0x0801/0x0803)")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise ValueError(f"multimnist: {str(path)!r} holds {len(raw) - offset} bytes, header says {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def compose(left: np.ndarray, right: np.ndarray, left_shift: np.ndarray, right_shift: np.ndarray,
            size: int = 28) -> np.ndarray:
    """Overlay digit pairs on a 36x36 canvas and resize to ``size`` (vectorised).

    ``left`` and ``right`` are ``[N, 28, 28]`` uint8; the left digit's top-left corner is at
    ``left_shift`` (``[N, 2]`` in 0..2), the right digit's at ``6 + right_shift`` (in 6..8), so they
    overlap in the middle; overlapping pixels take the maximum. For ``size != 36`` the canvas is
    resized by area averaging (``F.interpolate(mode="area")``) and rounded back to uint8.
    """
    n = left.shape[0]
    canvas = np.zeros((n, CANVAS, CANVAS), dtype=np.uint8)
    for digits, shifts, base in ((left, left_shift, 0), (right, right_shift, 6)):
        layer = np.zeros_like(canvas)
        for dy in range(3):
            for dx in range(3):
                sel = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
                if sel.size:
                    y0, x0 = base + dy, base + dx
                    layer[sel, y0 : y0 + DIGIT, x0 : x0 + DIGIT] = digits[sel]
        np.maximum(canvas, layer, out=canvas)
    if size == CANVAS:
        return canvas
    t = torch.from_numpy(canvas).unsqueeze(1).float()
    out = F.interpolate(t, size=(size, size), mode="area").round_().clamp_(0, 255)
    return out.squeeze(1).to(torch.uint8).numpy()


def _read_pair(img_path: Path, lab_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3 or images.shape[1:] != (DIGIT, DIGIT) or labels.shape != (images.shape[0],):
        raise ValueError(f"multimnist: {str(img_path)!r} / {str(lab_path)!r} are not N x 28 x 28 "
                         f"images with N labels (got {images.shape} and {labels.shape})")
    return images, labels


def nearest_resize_like_imresize(canvas: np.ndarray, size: int) -> np.ndarray:
    """``scipy.misc.imresize(canvas, (size, size), interp='nearest')`` for ``[N, S, S]`` uint8 canvases.

    imresize first byte-scales each image to 0..255 (``round((x - min) · 255 / (max - min))``; min is 0
    here) and then resizes with PIL's NEAREST filter, which reads source pixel
    ``floor((i + 0.5) · S / size)`` for output pixel ``i``.
    """
    x = canvas.astype(np.float64)
    top = x.max(axis=(1, 2), keepdims=True)
    low = x.min(axis=(1, 2), keepdims=True)
    span = np.where(top > low, top - low, 1.0)
    scaled = np.floor((x - low) * (255.0 / span) + 0.5).clip(0, 255).astype(np.uint8)
    if size == canvas.shape[-1]:
        return scaled
    idx = np.floor((np.arange(size) + 0.5) * canvas.shape[-1] / size).astype(np.int64)
    return np.ascontiguousarray(scaled[:, idx][:, :, idx])


def _build_sener_koltun(img_path: Path, lab_path: Path, split: str, size: int,
                        seed: int) -> dict[str, np.ndarray]:
    """Sener & Koltun's construction: every source image is a left digit once; its partner is any image
    of the same source set drawn uniformly; fixed positions (0, 0) and (6, 6); nearest resize."""
    images, labels = _read_pair(img_path, lab_path)
    n = images.shape[0]
    rng = np.random.default_rng([seed, 10 + ("train", "val", "test").index(split)])
    left_idx = np.arange(n)
    right_idx = rng.integers(0, n, n)
    zero = np.zeros((n, 2), dtype=np.int64)
    canvas = compose(images[left_idx], images[right_idx], zero, zero, CANVAS)
    return {"images": nearest_resize_like_imresize(canvas, size), "left": labels[left_idx].astype(np.int64),
            "right": labels[right_idx].astype(np.int64), "left_index": left_idx,
            "right_index": right_idx.astype(np.int64)}


@register_dataset("multimnist")
class MultiMNIST(Dataset):
    """MultiMNIST (Sener & Koltun, NeurIPS 2018): tasks ``left`` and ``right``, 10 classes each.

    Construction: the 10,000 source images are split by a seeded permutation into three disjoint pools
    of ``n_train``, ``n_val`` and ``n_test`` images. In each split every pool image is the left digit of
    exactly one sample; the right digit is drawn from the same pool with a *different* label. Left at
    the top-left of a 36x36 canvas, right at the bottom-right (offset 6), each shifted by 0..2 pixels in
    both directions at random; overlap takes the pixel maximum; the canvas is resized to ``size`` x
    ``size`` (28 by area averaging, or 36 unchanged). Deterministic from ``seed``.

    How this differs from Sener & Koltun's loader (``multi_mnist_loader.py`` of their code), which
    ``construction="sener_koltun"`` reproduces:

    ===================  ==========================================  ====================================
    ..                   ours (``construction="ours"``, default)     Sener & Koltun (``"sener_koltun"``)
    ===================  ==========================================  ====================================
    source images        MNIST test set (shipped), split into        train: the 60,000 MNIST training
                         disjoint 7000 / 1000 / 2000 pools            images; val and test: the 10,000
                                                                     test images (their code validates on
                                                                     the test set; no separate val split)
    right digit          another image of the same pool with a       any image of the same source set,
                         *different* label                           drawn uniformly (same label and the
                                                                     left image itself are possible)
    positions            left at (0..2, 0..2), right at (6..8, 6..8) left at (0, 0), right at (6, 6)
    36 -> 28 resize      area averaging                              nearest neighbour (PIL, as
                                                                     ``scipy.misc.imresize(...,
                                                                     'nearest')``), after imresize's
                                                                     byte scaling (canvas max -> 255)
    randomness           seeded (``seed``)                           global NumPy state (here: ``seed``)
    ===================  ==========================================  ====================================

    Both overlay with the pixel maximum and yield pixels in [0, 1]; their training script further
    standardises with MNIST's mean/std (0.1307, 0.3081), which we leave to the model. In the
    ``sener_koltun`` mode the train split needs ``root`` holding MNIST's ``train-*`` IDX files (only the
    test set is shipped) and ``n_train``/``n_val``/``n_test``/``prefix`` are not used.

    Items: ``(x, {"left": y_l, "right": y_r})`` with ``x`` float32 ``[1, size, size]`` in [0, 1]
    (pixel / 255, not mean/std normalised) and labels int64 scalars.

    The built split is cached as ``.npz`` in ``cache_dir`` (default ``$MULTITASK_CACHE``, else
    ``$XDG_CACHE_HOME/multitask``, else ``~/.cache/multitask``), written atomically with a sha256 of its
    arrays; a corrupt, partial or stale file is rebuilt. ``cache=False`` disables it.

    Args:
        split: "train", "val" or "test".
        root: folder with the MNIST IDX files (default: the shipped MNIST test set).
        size: output side, 28 (default, as in the paper) or 36.
        seed: seed of the pools, pairings and shifts.
        n_train: size of the training pool (default 7000).
        n_val: size of the validation pool (default 1000).
        n_test: size of the test pool (default 2000); ``n_train + n_val + n_test`` must not exceed the
            number of images.
        cache_dir: cache folder (see above).
        cache: read/write the cache (default True).
        prefix: IDX file prefix in ``root`` ("t10k" or "train").
        construction: "ours" (default) or "sener_koltun" (see the table above).
    """

    def __init__(self, split: str = "train", root: str | None = None, size: int = 28, seed: int = 0,
                 n_train: int = 7000, n_val: int = 1000, n_test: int = 2000,
                 cache_dir: str | None = None, cache: bool = True, prefix: str = "t10k",
                 construction: str = "ours") -> None:
        check_split("multimnist", split, ("train", "val", "test"))
        if size not in (28, 36):
            raise ValueError(f"multimnist: size must be 28 or 36, got {size!r}")
        if construction not in CONSTRUCTIONS:
            raise ValueError(f"multimnist: construction must be one of {CONSTRUCTIONS}, got {construction!r}")
        if construction == "sener_koltun":
            prefix = "train" if split == "train" else "t10k"
            if split == "train" and root is None:
                raise FileNotFoundError(
                    "multimnist: construction='sener_koltun' builds the train split from MNIST's 60,000 "
                    "training images, which are not shipped: pass root= holding train-images-idx3-ubyte(.gz) "
                    "and train-labels-idx1-ubyte(.gz)"
                )
        sizes = {"train": int(n_train), "val": int(n_val), "test": int(n_test)}
        if min(sizes.values()) < 2:
            raise ValueError(f"multimnist: n_train, n_val and n_test must each be >= 2, got {sizes}")
        base = Path(root) if root is not None else ASSETS / "mnist"
        img_path = _find(base, f"{prefix}-images-idx3-ubyte", prefix)
        lab_path = _find(base, f"{prefix}-labels-idx1-ubyte", prefix)
        src = hashlib.sha256(img_path.read_bytes() + lab_path.read_bytes()).hexdigest()[:16]
        key = f"multimnist_v{_VERSION}_{src}_s{size}_seed{seed}_{n_train}-{n_val}-{n_test}_{split}.npz"
        if construction == "sener_koltun":
            key = f"multimnist_sk_v{_VERSION}_{src}_s{size}_seed{seed}_{split}.npz"
        cache_path = default_cache_dir(cache_dir) / key
        data = load_cache(cache_path, _KEYS) if cache else None
        if data is None and construction == "sener_koltun":
            data = _build_sener_koltun(img_path, lab_path, split, size, int(seed))
        elif data is None:
            data = self._build(img_path, lab_path, split, size, int(seed), sizes)
            if cache:
                save_cache(cache_path, data)
        self.split = split
        self.size = size
        self.construction = construction
        self.cache_path = cache_path if cache else None
        self.images = torch.from_numpy(data["images"])
        self.left = torch.from_numpy(data["left"].astype(np.int64))
        self.right = torch.from_numpy(data["right"].astype(np.int64))
        self.left_index = data["left_index"].astype(np.int64)
        self.right_index = data["right_index"].astype(np.int64)
        self.tasks = [Task("left", "classification", 10), Task("right", "classification", 10)]

    @staticmethod
    def _build(img_path: Path, lab_path: Path, split: str, size: int, seed: int,
               sizes: dict[str, int]) -> dict[str, np.ndarray]:
        images, labels = _read_pair(img_path, lab_path)
        total = sum(sizes.values())
        if total > images.shape[0]:
            raise ValueError(f"multimnist: n_train + n_val + n_test = {total} exceeds the "
                             f"{images.shape[0]} source images in {str(img_path)!r}")
        perm = np.random.default_rng([seed, 0]).permutation(images.shape[0])
        start = {"train": 0, "val": sizes["train"], "test": sizes["train"] + sizes["val"]}[split]
        pool = perm[start : start + sizes[split]]
        rng = np.random.default_rng([seed, 1 + ("train", "val", "test").index(split)])
        left_idx = rng.permutation(pool)
        right_idx = pool[rng.integers(0, pool.size, pool.size)]
        same = labels[left_idx] == labels[right_idx]
        if np.unique(labels[pool]).size < 2:
            raise ValueError(f"multimnist: the {split} pool holds a single digit class; use a larger pool")
        while same.any():  # redraw right digits that repeat the left label (a few rounds)
            right_idx[same] = pool[rng.integers(0, pool.size, int(same.sum()))]
            same = labels[left_idx] == labels[right_idx]
        shifts = rng.integers(0, 3, size=(pool.size, 4))
        canvas = compose(images[left_idx], images[right_idx], shifts[:, :2], shifts[:, 2:], size)
        return {"images": canvas, "left": labels[left_idx].astype(np.int64),
                "right": labels[right_idx].astype(np.int64), "left_index": left_idx.astype(np.int64),
                "right_index": right_idx.astype(np.int64)}

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        x = self.images[i].unsqueeze(0).float().div_(255.0)
        return x, {"left": self.left[i], "right": self.right[i]}
