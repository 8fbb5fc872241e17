"""Multi-domain image classification read from list files: DomainNet and ImageCLEF-DA.

Like Office-31 / Office-Home (:class:`~multitask.data.office.Office`), each image domain is a task with its
own inputs (``multi_input = True``; ``self.domains[name]`` yields ``(image, {name: label})``), but the
images and labels come from the datasets' released list files: lines ``<path relative to root> <label>``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from multitask.core.tasks import Task
from multitask.data._common import check_split, require_path, require_pil, require_root
from multitask.data._domains import DomainsView
from multitask.data.office import OfficeDomain
from multitask.data.registry import register_dataset

_SPLITS = ("train", "val", "test")


def read_list(path: Path, base: Path, dataset: str, layout: str) -> list[tuple[Path, int]]:
    """``(image path, label)`` of every ``<path> <label>`` line; a missing image is named."""
    require_path(path, dataset, layout)
    items = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].isdigit():
            raise ValueError(f"{dataset}: {str(path)!r} line {n}: expected '<path> <label>', got {line!r}")
        image = base / parts[0].lstrip("/")
        if not image.is_file():
            raise FileNotFoundError(f"{dataset}: {str(path)!r} line {n} names {str(image)!r}, which does not "
                                    f"exist. Expected layout:\n{layout}")
        items.append((image, int(parts[1])))
    if not items:
        raise ValueError(f"{dataset}: list file {str(path)!r} is empty")
    return items


class ListDomains(DomainsView):
    """Base class: subclasses set ``name``, ``DOMAINS``, ``NUM_CLASSES``, ``LAYOUT`` and :meth:`_parts`."""

    multi_input = True
    name = "list_domains"
    DOMAINS: tuple[str, ...] = ()
    NUM_CLASSES: int | None = None
    LAYOUT = ""

    def __init__(self, split: str = "train", root: str | os.PathLike[str] | None = None, size: int = 224,
                 domains: Sequence[str] | None = None, val_fraction: float = 0.1, seed: int = 0,
                 num_classes: int | None | Literal["default"] = "default",
                 normalize: str | None = None) -> None:
        check_split(self.name, split, _SPLITS)
        if normalize not in (None, "imagenet"):
            raise ValueError(f"{self.name}: normalize must be None or 'imagenet', got {normalize!r}")
        if not 0.0 <= float(val_fraction) < 1.0:
            raise ValueError(f"{self.name}: val_fraction must be in [0, 1), got {val_fraction!r}")
        chosen = tuple(self.DOMAINS if domains is None else domains)
        if not chosen or any(d not in self.DOMAINS for d in chosen) or len(set(chosen)) != len(chosen):
            raise ValueError(f"{self.name}: domains must be distinct names among {self.DOMAINS}, "
                             f"got {chosen}")
        base = require_root(root, self.name, self.LAYOUT)
        require_pil()
        expected = self.NUM_CLASSES if num_classes == "default" else num_classes
        self.split, self.size, self.normalize = split, int(size), normalize
        self.domains: dict[str, OfficeDomain] = {}
        parsed = {}
        for d, domain in enumerate(chosen):
            items = self._parts(base, domain, split, float(val_fraction), [seed, d])
            if not items:
                raise ValueError(f"{self.name}: split {split!r} of domain {domain!r} is empty")
            parsed[domain] = items
        count = max(label for items in parsed.values() for _, label in items) + 1
        if expected is not None and count > expected:
            raise ValueError(f"{self.name}: labels go up to {count - 1}, but there are {expected} classes")
        self.num_classes = expected if expected is not None else count
        self.classes = [str(k) for k in range(self.num_classes)]
        for domain, items in parsed.items():
            self.domains[domain] = OfficeDomain(domain, [p for p, _ in items], [lab for _, lab in items],
                                                self.classes, self.size, normalize)
        self.tasks = [Task(domain, "classification", self.num_classes) for domain in self.domains]
        self._index_domains()

    def _parts(self, base: Path, domain: str, split: str, val_fraction: float,
               seed: list[int]) -> list[tuple[Path, int]]:
        raise NotImplementedError



def _cut(items: list[tuple[Path, int]], fractions: tuple[float, ...], part: int,
         seed: list[int]) -> list[tuple[Path, int]]:
    """Part ``part`` of a seeded random cut of ``items`` by ``fractions`` (list order kept inside)."""
    order = np.random.default_rng(seed).permutation(len(items))
    cuts = np.concatenate(([0], np.round(np.cumsum(fractions) * len(items)).astype(int)))
    cuts[-1] = len(items)
    return [items[k] for k in sorted(order[cuts[part] : cuts[part + 1]])]


@register_dataset("domainnet")
class DomainNet(ListDomains):
    """DomainNet (Peng, Bai, Xia, Huang, Saenko & Wang, "Moment Matching for Multi-Source Domain
    Adaptation", ICCV 2019): 6 domains (clipart, infograph, painting, quickdraw, real, sketch), 345
    classes; each chosen domain is a task (multi-input, as :class:`~multitask.data.office.Office`).

    Splits: the released ``{domain}_train.txt`` / ``{domain}_test.txt`` lists (``<domain>/<class>/<file>
    <label>`` lines); ``"val"`` is ``val_fraction`` of each domain's train list drawn by
    ``np.random.default_rng([seed, d])``, ``"train"`` the rest (``val_fraction=0``: the whole list).

    Items: ``image`` float32 ``[3, size, size]`` in [0, 1] (or ImageNet-standardised), label int64.

    Args:
        split: "train", "val" or "test".
        root: folder holding the domain folders and the list files (nothing is downloaded).
        size: output image side (default 224).
        domains: a subset of the 6 domains (default: all).
        val_fraction: share of each domain's train list held out as ``"val"`` (default 0.1).
        seed: seed of that hold-out.
        num_classes: 345 ("default"), or None to accept any label count (fixtures, subsets).
        normalize: None (pixels in [0, 1]) or "imagenet", as ``Office``.
    """

    name = "domainnet"
    DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")
    NUM_CLASSES = 345
    LAYOUT = """root/
  clipart/<class>/<image>.jpg, infograph/..., painting/..., quickdraw/..., real/..., sketch/...
  clipart_train.txt, clipart_test.txt, ...   lines '<domain>/<class>/<image>.jpg <label 0..344>'"""

    def _parts(self, base: Path, domain: str, split: str, val_fraction: float,
               seed: list[int]) -> list[tuple[Path, int]]:
        file = base / f"{domain}_{'test' if split == 'test' else 'train'}.txt"
        items = read_list(file, base, self.name, self.LAYOUT)
        if split == "test":
            return items
        if split == "val" and val_fraction == 0:
            raise ValueError(f"{self.name}: split 'val' needs val_fraction > 0 (the lists are train/test)")
        return _cut(items, (1 - val_fraction, val_fraction), 0 if split == "train" else 1, seed)


@register_dataset("imageclef_da")
class ImageCLEFDA(ListDomains):
    """ImageCLEF-DA (the ImageCLEF 2014 domain adaptation challenge, as used by Long, Zhu, Wang & Jordan,
    "Deep Transfer Learning with Joint Adaptation Networks", ICML 2017): 12 classes shared by the domains
    Caltech-256 (``c``), ImageNet ILSVRC 2012 (``i``), PASCAL VOC 2012 (``p``) and, optionally, Bing
    (``b``); 600 images per domain (50 per class). Each chosen domain is a task (multi-input).

    The release has one list per domain and no split: each domain's list is cut at random by
    ``np.random.default_rng([seed, d])`` into ``fractions`` (default 0.6 / 0.2 / 0.2) train / val / test.

    Args:
        split: "train", "val" or "test".
        root: folder holding the domain folders and ``list/`` (nothing is downloaded).
        size: output image side (default 224).
        domains: default ``("c", "i", "p")`` (the usual benchmark); ``"b"`` may be added.
        fractions: train / val / test shares.
        seed: seed of the cut.
        num_classes: 12 ("default") or None.
        normalize: None (pixels in [0, 1]) or "imagenet", as ``Office``.
    """

    name = "imageclef_da"
    DOMAINS = ("c", "i", "p", "b")
    NUM_CLASSES = 12
    LAYOUT = """root/
  c/<image>.jpg, i/..., p/..., (b/...)   images (any sub-folders)
  list/cList.txt, list/iList.txt, list/pList.txt, (list/bList.txt)
                                          lines '<path relative to root> <label 0..11>'"""

    def __init__(self, split: str = "train", root: str | os.PathLike[str] | None = None, size: int = 224,
                 domains: Sequence[str] | None = ("c", "i", "p"),
                 fractions: tuple[float, float, float] = (0.6, 0.2, 0.2), seed: int = 0,
                 num_classes: int | None | Literal["default"] = "default",
                 normalize: str | None = None) -> None:
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-9:
            raise ValueError(f"{self.name}: fractions must be three non-negative shares summing to 1, "
                             f"got {fractions!r}")
        self.fractions = tuple(float(f) for f in fractions)
        super().__init__(split, root, size, domains, 0.0, seed, num_classes, normalize)

    def _parts(self, base: Path, domain: str, split: str, val_fraction: float,
               seed: list[int]) -> list[tuple[Path, int]]:
        items = read_list(base / "list" / f"{domain}List.txt", base, self.name, self.LAYOUT)
        return _cut(items, self.fractions, _SPLITS.index(split), seed)
