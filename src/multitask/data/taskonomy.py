"""Taskonomy (a subset of buildings) with segmentation, depth and surface normals, in its released layout."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import check_index, check_split, pick_tasks, read_rgb, require_path, require_root
from multitask.data._dense_lists import check_hw, check_size, read_ids, read_png, resize
from multitask.data.registry import register_dataset

TASKS = ("segment_semantic", "depth_zbuffer", "normal")

LAYOUT = """root/
  rgb/<building>/point_<p>_view_<v>_domain_rgb.png                  RGB input
  segment_semantic/<building>/point_<p>_view_<v>_domain_segment_semantic.png   labels, 0 = ignore
  depth_zbuffer/<building>/point_<p>_view_<v>_domain_depth_zbuffer.png         16-bit, 1/512 m
  normal/<building>/point_<p>_view_<v>_domain_normal.png            RGB, 127-centred
  train_models.txt, val_models.txt, test_models.txt                 building names, one per line
                                                                    (or pass buildings=)"""

_RGB = re.compile(r"point_\d+_view_\d+_domain_rgb\.png")


@register_dataset("taskonomy")
class Taskonomy(Dataset):
    """Taskonomy (Zamir, Sax, Shen, Guibas, Malik & Savarese, "Taskonomy: Disentangling Task Transfer
    Learning", CVPR 2018) on a subset of buildings, in the layout of its release as read by Standley et al.
    ("Which Tasks Should Be Learned Together in Multi-task Learning?", ICML 2020; their ``taskonomy_loader``
    finds the label file by replacing ``rgb`` with the task name in the image path).

    ======================  ============  ================================================================
    task                    kind          target
    ======================  ============  ================================================================
    ``segment_semantic``    segmentation  ``num_classes`` (default 18) classes; stored 0 is -1 (ignored,
                                          as Standley et al.'s ``ignore_index=0``)
    ``depth_zbuffer``       depth         stored / 512 (metres); 0 (invalid) where the stored value is
                                          ``>= depth_valid_below`` (default 2^13, Standley et al.'s mask;
                                          the release marks missing depth with 65535)
    ``normal``              normals       ``2 v / 255 - 1``; set to 0 (invalid) where the depth is invalid
                                          when ``depth_zbuffer`` files are present
    ======================  ============  ================================================================

    The continuous 2D/3D edge and keypoint maps of the release are not loaded (the task kinds here have no
    per-pixel regression). Samples: every ``rgb/<building>/..._domain_rgb.png`` of the split's buildings
    (sorted); the split's buildings come from ``root/{split}_models.txt`` or from ``buildings=``.

    Items: ``(image float32 [3, H, W] in [0, 1], {task: target})``.

    Args:
        split: "train", "val" or "test".
        root: the folder with one sub-folder per task (nothing is downloaded).
        tasks: a subset of ``segment_semantic, depth_zbuffer, normal`` (default: all three).
        buildings: ``{split: [building, ...]}`` instead of the ``{split}_models.txt`` files.
        size: (H, W) to resize every item to (image and normals bilinear, labels and depth nearest).
        num_classes: segmentation classes (default 18).
        depth_valid_below: stored depth values at or above it are invalid (default 8192).
    """

    name = "taskonomy"

    def __init__(self, split: str = "train", root: str | os.PathLike[str] | None = None,
                 tasks: Sequence[str] | None = None, buildings: Mapping[str, Sequence[str]] | None = None,
                 size: tuple[int, int] | None = None, num_classes: int = 18,
                 depth_valid_below: int = 2**13) -> None:
        check_split(self.name, split, ("train", "val", "test"))
        chosen = pick_tasks(self.name, tasks, TASKS)
        self.size = check_size(size, self.name)
        base = require_root(root, self.name, LAYOUT)
        if buildings is not None:
            if split not in buildings or not buildings[split]:
                raise ValueError(f"{self.name}: buildings= has no buildings for split {split!r}")
            names = [str(b) for b in buildings[split]]
        else:
            names = read_ids(base / f"{split}_models.txt", self.name, LAYOUT)
        self.root, self.split, self.buildings = base, split, names
        self.num_classes, self.depth_valid_below = int(num_classes), int(depth_valid_below)
        self.files: list[Path] = []
        for b in names:
            folder = require_path(base / "rgb" / b, self.name, LAYOUT)
            self.files += sorted(p for p in folder.iterdir() if _RGB.fullmatch(p.name))
        if not self.files:
            raise ValueError(f"{self.name}: no point_<p>_view_<v>_domain_rgb.png images for the buildings "
                             f"{names}")
        kinds = {"segment_semantic": ("segmentation", self.num_classes), "depth_zbuffer": ("depth", 1),
                 "normal": ("normals", 3)}
        self.tasks = [Task(t, *kinds[t]) for t in TASKS if t in chosen]
        self._use_depth_mask = "normal" in chosen
        for f in self.files:
            for t in self.tasks:
                require_path(self._label(f, t.name), self.name, LAYOUT)

    def _label(self, rgb: Path, task: str) -> Path:
        rel = rgb.relative_to(self.root / "rgb")
        return self.root / task / rel.parent / rel.name.replace("_domain_rgb.png", f"_domain_{task}.png")

    def __len__(self) -> int:
        return len(self.files)

    def _depth(self, rgb: Path, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        path = self._label(rgb, "depth_zbuffer")
        raw = read_png(path, self.name).astype(np.float64)
        raw = raw[..., 0] if raw.ndim == 3 else raw
        check_hw(raw, hw, path, self.name)
        valid = raw < self.depth_valid_below
        return np.where(valid, raw / 512.0, 0.0).astype(np.float32), valid

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor]]:
        check_index(self.name, index, len(self.files))
        rgb = self.files[index]
        image, hw = read_rgb(rgb)
        out: dict[str, Tensor] = {}
        names = {t.name for t in self.tasks}
        valid = None
        if "depth_zbuffer" in names or (self._use_depth_mask and self._label(rgb, "depth_zbuffer").is_file()):
            depth, valid = self._depth(rgb, hw)
            if "depth_zbuffer" in names:
                out["depth_zbuffer"] = torch.from_numpy(depth)[None]
        if "segment_semantic" in names:
            path = self._label(rgb, "segment_semantic")
            seg = read_png(path, self.name).astype(np.int64)
            seg = seg[..., 0] if seg.ndim == 3 else seg
            check_hw(seg, hw, path, self.name)
            if seg.max() >= self.num_classes:
                raise ValueError(f"{self.name}: {str(path)!r} has label {int(seg.max())} >= num_classes "
                                 f"{self.num_classes}")
            out["segment_semantic"] = torch.from_numpy(np.where(seg == 0, -1, seg))
        if "normal" in names:
            path = self._label(rgb, "normal")
            arr = read_png(path, self.name).astype(np.float32)
            if arr.ndim != 3 or arr.shape[2] < 3:
                raise ValueError(f"{self.name}: {str(path)!r} must be an RGB image, got {arr.shape}")
            check_hw(arr, hw, path, self.name)
            n = 2.0 * arr[..., :3] / 255.0 - 1.0
            if valid is not None:
                n[~valid] = 0.0
            out["normal"] = torch.from_numpy(np.ascontiguousarray(n.transpose(2, 0, 1)))
        out = {t.name: out[t.name] for t in self.tasks}
        if self.size is not None:
            image = resize(image, self.size, "bilinear")
            out = {k: resize(v, self.size, "bilinear" if k == "normal" else "nearest")
                   for k, v in out.items()}
        return image, out
