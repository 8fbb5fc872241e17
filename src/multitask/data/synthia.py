"""SYNTHIA-RAND-CITYSCAPES: segmentation (Cityscapes classes) and metric depth, read from the release."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import check_index, check_split, pick_tasks, read_rgb, require_path, require_root
from multitask.data._dense_lists import check_hw, check_size, read_ids, resize
from multitask.data._png16 import read_png16
from multitask.data.registry import register_dataset

TASKS = ("segmentation", "depth")

# The release README's class table: id -> name (ids 0..22 in channel 0 of GT/LABELS).
SYNTHIA_CLASSES = ("void", "sky", "building", "road", "sidewalk", "fence", "vegetation", "pole", "car",
                   "traffic sign", "pedestrian", "bicycle", "motorcycle", "parking-slot", "road-work",
                   "traffic light", "terrain", "rider", "truck", "bus", "train", "wall", "lanemarking")

# Cityscapes' 19 training classes in trainId order, with the SYNTHIA id each comes from.
_CITYSCAPES19 = (("road", 3), ("sidewalk", 4), ("building", 2), ("wall", 21), ("fence", 5), ("pole", 7),
                 ("traffic light", 15), ("traffic sign", 9), ("vegetation", 6), ("terrain", 16), ("sky", 1),
                 ("person", 10), ("rider", 17), ("car", 8), ("truck", 18), ("bus", 19), ("train", 20),
                 ("motorcycle", 12), ("bicycle", 11))
_DROPPED = {19: (), 16: ("terrain", "truck", "train"),
            13: ("terrain", "truck", "train", "wall", "fence", "pole")}

LAYOUT = """root/
  RGB/<name>.png            8-bit RGB image (1280 x 760 in SYNTHIA-RAND-CITYSCAPES)
  GT/LABELS/<name>.png      16-bit colour PNG: channel 0 = SYNTHIA class id 0..22, channel 1 = instance id
  Depth/Depth/<name>.png    16-bit PNG (three equal channels, or one): depth in centimetres
  train.txt, val.txt, test.txt   optional: image names (e.g. 0000000.png), one per line"""


def class_names(num_classes: int) -> list[str]:
    """The Cityscapes class names of the 19-, 16- or 13-class SYNTHIA protocol, in label order."""
    if num_classes not in _DROPPED:
        raise ValueError(f"synthia: num_classes must be 19, 16 or 13, got {num_classes!r}")
    return [name for name, _ in _CITYSCAPES19 if name not in _DROPPED[num_classes]]


def label_map(num_classes: int) -> np.ndarray:
    """Lookup table SYNTHIA id (0..22) -> label (0..num_classes-1), -1 for the classes left out."""
    keep = class_names(num_classes)
    table = np.full(len(SYNTHIA_CLASSES), -1, dtype=np.int64)
    for name, synthia_id in _CITYSCAPES19:
        if name in keep:
            table[synthia_id] = keep.index(name)
    return table


@register_dataset("synthia")
class Synthia(Dataset):
    """SYNTHIA-RAND-CITYSCAPES (Ros, Sellart, Materzynska, Vazquez & Lopez, "The SYNTHIA Dataset: A Large
    Collection of Synthetic Images for Semantic Segmentation of Urban Scenes", CVPR 2016): 9,400 rendered
    street scenes with per-pixel classes and depth, read from the release's folders.

    ================  ============  ==================================================================
    task              kind          target
    ================  ============  ==================================================================
    ``segmentation``  segmentation  channel 0 of ``GT/LABELS`` mapped to Cityscapes' classes as the
                                    domain-adaptation literature does (ADVENT, DADA, CTRL: 16 classes;
                                    13 = the 16 less wall, fence, pole; 19 = all Cityscapes classes);
                                    void, lane marking, road-work, parking-slot -> -1 (ignored)
    ``depth``         depth         channel 0 of ``Depth/Depth`` / 100 (centimetres -> metres); 0 stays
                                    0 (invalid); values above ``max_depth`` (if given) set to 0
    ================  ============  ==================================================================

    The label and depth PNGs are 16 bits per channel in colour, which Pillow truncates to their high byte:
    they are decoded with ``pypng`` (``pip install 'multitask[png16]'``; pure Python, so a full-size
    label can take seconds to decode: cache decoded arrays for long runs).

    Splits: the release has none. ``root/{split}.txt`` (image names, one per line; ``.png`` optional) when
    it exists, else ``ids={split: [...]}``, else a seeded cut of the sorted ``RGB/*.png``: a permutation by
    ``np.random.default_rng(seed)``, the first ``round(0.8 n)`` train, the next ``round(0.1 n)`` val, the
    rest test.

    Items: ``(image float32 [3, H, W] in [0, 1], {"segmentation": int64 [H, W],
    "depth": float32 [1, H, W]})``.

    Args:
        split: "train", "val" or "test".
        root: the ``RAND_CITYSCAPES`` folder (nothing is downloaded).
        tasks: a subset of ``segmentation, depth`` (default both).
        num_classes: 16 (default), 13 or 19.
        ids: ``{split: [name, ...]}`` instead of the list files.
        size: (H, W) to resize every item to (image bilinear, labels and depth nearest).
        max_depth: depth in metres above which a pixel is invalid (default None: keep all).
        seed: seed of the default cut.
    """

    name = "synthia"

    def __init__(self, split: str = "train", root: str | os.PathLike[str] | None = None,
                 tasks: Sequence[str] | None = None, num_classes: int = 16,
                 ids: Mapping[str, Sequence[str]] | None = None, size: tuple[int, int] | None = None,
                 max_depth: float | None = None, seed: int = 0) -> None:
        check_split(self.name, split, ("train", "val", "test"))
        chosen = pick_tasks(self.name, tasks, TASKS)
        self.table = label_map(num_classes)
        self.classes = class_names(num_classes)
        if max_depth is not None and not float(max_depth) > 0:
            raise ValueError(f"{self.name}: max_depth must be None or > 0, got {max_depth!r}")
        self.size = check_size(size, self.name)
        base = require_root(root, self.name, LAYOUT)
        rgb = require_path(base / "RGB", self.name, LAYOUT)
        self.root, self.split, self.num_classes = base, split, int(num_classes)
        self.max_depth = None if max_depth is None else float(max_depth)
        self.names = self._split_names(rgb, split, ids, seed)
        self.tasks = [Task(t, "segmentation" if t == "segmentation" else "depth",
                           self.num_classes if t == "segmentation" else 1) for t in TASKS if t in chosen]
        for n in self.names:
            require_path(rgb / n, self.name, LAYOUT)
            for t in self.tasks:
                require_path(self._label(n, t.name), self.name, LAYOUT)

    def _split_names(self, rgb: Path, split: str, ids: Mapping[str, Sequence[str]] | None,
                     seed: int) -> list[str]:
        listed = self.root / f"{split}.txt"
        if listed.is_file():
            names = read_ids(listed, self.name, LAYOUT)
        elif ids is not None:
            if split not in ids or not ids[split]:
                raise ValueError(f"{self.name}: ids= has no image names for split {split!r}")
            names = [str(n) for n in ids[split]]
        else:
            every = sorted(p.name for p in rgb.iterdir() if p.suffix.lower() == ".png")
            if not every:
                raise ValueError(f"{self.name}: no .png images in {str(rgb)!r}. Expected layout:\n{LAYOUT}")
            perm = np.random.default_rng(seed).permutation(len(every))
            n_tr, n_va = round(0.8 * len(every)), round(0.1 * len(every))
            part = {"train": perm[:n_tr], "val": perm[n_tr : n_tr + n_va], "test": perm[n_tr + n_va :]}[split]
            names = [every[i] for i in sorted(part)]
            if not names:
                raise ValueError(f"{self.name}: the 80/10/10 cut of {len(every)} images leaves split "
                                 f"{split!r} empty; pass ids= or {split}.txt")
        return [n if n.lower().endswith(".png") else n + ".png" for n in names]

    def _label(self, name: str, task: str) -> Path:
        sub = ("GT", "LABELS") if task == "segmentation" else ("Depth", "Depth")
        return self.root.joinpath(*sub, name)

    def __len__(self) -> int:
        return len(self.names)

    def _read_channel0(self, path: Path, hw: tuple[int, int]) -> np.ndarray:
        arr = read_png16(path, self.name)
        arr = arr[..., 0] if arr.ndim == 3 else arr
        check_hw(arr, hw, path, self.name)
        return arr

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor]]:
        check_index(self.name, index, len(self.names))
        name = self.names[index]
        image, hw = read_rgb(self.root / "RGB" / name)
        out: dict[str, Tensor] = {}
        for t in self.tasks:
            path = self._label(name, t.name)
            raw = self._read_channel0(path, hw).astype(np.int64)
            if t.name == "segmentation":
                if raw.max() >= len(self.table):
                    raise ValueError(f"{self.name}: {str(path)!r} has class id {int(raw.max())}; SYNTHIA's "
                                     f"ids are 0..{len(self.table) - 1} (channel 0 of a 16-bit PNG)")
                out[t.name] = torch.from_numpy(self.table[raw])
            else:
                depth = raw.astype(np.float32) / 100.0
                if self.max_depth is not None:
                    depth[depth > self.max_depth] = 0.0
                out[t.name] = torch.from_numpy(depth)[None]
        if self.size is not None:
            image = resize(image, self.size, "bilinear")
            out = {k: resize(v, self.size, "nearest") for k, v in out.items()}
        return image, out
