"""MNIST domains: a shipped multi-input (one dataset per task) benchmark built from the MNIST digits.

Four image domains of the shipped MNIST test set (``_assets/mnist``; LeCun, Cortes & Burges), each a
10-class digit task with its own images, in the spirit of Office-31 / Office-Home (one task per domain;
Saenko et al. ECCV 2010) but runnable offline: ``plain`` (the digit), ``inverted`` (255 − pixel, dark
digit on white), ``rotated`` (turned by a per-image angle drawn uniformly in [60°, 120°]) and
``textured`` (the digit over a random sinusoidal grating of random orientation and phase, the pixel
maximum of the two). The domains differ in low-level statistics a shared encoder must absorb, while the
label space is shared.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import ASSETS, check_split
from multitask.data._domains import DomainsView
from multitask.data.multimnist import _find, read_idx
from multitask.data.registry import register_dataset

DOMAINS = ("plain", "inverted", "rotated", "textured")
_SPLITS = ("train", "val", "test")


def _rotate(images: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate ``[N, 28, 28]`` uint8 images by ``angles`` (radians) about their centre (bilinear)."""
    x = torch.from_numpy(images).float().unsqueeze(1)
    a = torch.from_numpy(angles).float()
    cos, sin = torch.cos(a), torch.sin(a)
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(a)], 1),
                         torch.stack([sin, cos, torch.zeros_like(a)], 1)], 1)  # fmt: skip
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.squeeze(1).round().clamp(0, 255).to(torch.uint8).numpy()


def _texture(n: int, rng: np.random.Generator) -> np.ndarray:
    """``[N, 28, 28]`` uint8 sinusoidal gratings (period 4-8 px, random orientation and phase), 0..160."""
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float64)
    theta = rng.uniform(0, math.pi, n)[:, None, None]
    period = rng.uniform(4, 8, n)[:, None, None]
    phase = rng.uniform(0, 2 * math.pi, n)[:, None, None]
    wave = np.sin(2 * math.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period + phase)
    return ((wave + 1.0) * 80.0).astype(np.uint8)


def make_domain(name: str, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The ``name`` domain's version of ``images`` (``[N, 28, 28]`` uint8)."""
    if name == "plain":
        return images.copy()
    if name == "inverted":
        return 255 - images
    if name == "rotated":
        return _rotate(images, np.deg2rad(rng.uniform(60, 120, images.shape[0])))
    if name == "textured":
        return np.maximum(images, _texture(images.shape[0], rng))
    raise ValueError(f"mnist_domains: unknown domain {name!r}; expected one of {DOMAINS}")


class DigitDomain(Dataset):
    """One domain of one split: items ``(x float32 [1, 28, 28] in [0, 1], {domain: label int64})``."""

    def __init__(self, domain: str, images: np.ndarray, labels: np.ndarray) -> None:
        self.domain = domain
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.tasks = [Task(domain, "classification", 10)]

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        return self.images[i].unsqueeze(0).float().div_(255.0), {self.domain: self.labels[i]}


@register_dataset("mnist_domains")
class MNISTDomains(DomainsView):
    """Multi-input multi-task digits: tasks ``plain``, ``inverted``, ``rotated``, ``textured`` (10 classes).

    Every domain draws its own disjoint pools of source images (a seeded permutation of the 10,000
    shipped test digits cut into ``n_train``, ``n_val`` and ``n_test`` images per domain, domain after
    domain), so no digit image appears in two domains or two splits. Deterministic from ``seed``.

    Iteration (``multi_input = True``): ``self.domains`` maps each task to a :class:`DigitDomain`; the
    trainer takes one batch of every domain per step. ``len(self)`` / ``self[i]`` index the domains'
    concatenation.

    Args:
        split: "train", "val" or "test".
        root: folder with the MNIST IDX files (default: the shipped MNIST test set).
        seed: seed of the pools and the domain transforms.
        n_train: training images per domain (default 1000).
        n_val: validation images per domain (default 250).
        n_test: test images per domain (default 250). All 4 domains' pools, 4 x (n_train + n_val +
            n_test) images, must fit in the source images (whichever ``domains`` are chosen).
        domains: the domains to use (default all four, in this order).
        prefix: IDX file prefix in ``root``.
    """

    multi_input = True
    name = "mnist_domains"

    def __init__(self, split: str = "train", root: str | None = None, seed: int = 0, n_train: int = 1000,
                 n_val: int = 250, n_test: int = 250, domains: tuple[str, ...] | list[str] = DOMAINS,
                 prefix: str = "t10k") -> None:  # fmt: skip
        check_split("mnist_domains", split, _SPLITS)
        names = tuple(domains)
        unknown = [d for d in names if d not in DOMAINS]
        if unknown or not names or len(set(names)) != len(names):
            raise ValueError(
                f"mnist_domains: domains must be distinct names from {DOMAINS}, got {list(names)}"
            )
        sizes = (int(n_train), int(n_val), int(n_test))
        if min(sizes) < 1:
            raise ValueError(f"mnist_domains: n_train, n_val and n_test must be >= 1, got {sizes}")
        base = Path(root) if root is not None else ASSETS / "mnist"
        images = read_idx(_find(base, f"{prefix}-images-idx3-ubyte", prefix))
        labels = read_idx(_find(base, f"{prefix}-labels-idx1-ubyte", prefix))
        per_domain = sum(sizes)
        if per_domain * len(DOMAINS) > images.shape[0]:
            raise ValueError(
                f"mnist_domains: {len(DOMAINS)} domains x (n_train + n_val + n_test = {per_domain}) "
                f"exceed the {images.shape[0]} source images"
            )
        perm = np.random.default_rng([seed, 0]).permutation(images.shape[0])
        part = _SPLITS.index(split)
        self.split = split
        self.domains: dict[str, DigitDomain] = {}
        for name in names:
            d = DOMAINS.index(name)  # pools and transforms do not depend on which domains are chosen
            start = d * per_domain + sum(sizes[:part])
            pool = perm[start : start + sizes[part]]
            rng = np.random.default_rng([seed, 1 + d, part])
            self.domains[name] = DigitDomain(name, make_domain(name, images[pool], rng), labels[pool])
        self.tasks = [Task(name, "classification", 10) for name in names]
        self._index_domains()

