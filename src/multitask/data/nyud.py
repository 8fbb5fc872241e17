"""NYUD-v2 with the 4 tasks of the dense multi-task learning survey, in its data layout."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import check_split, pick_tasks, read_item, require_path, require_root
from multitask.data._dense_lists import check_hw, check_size, labels, read_ids, read_npy, read_png, resize
from multitask.data.registry import register_dataset

TASKS = ("semseg", "depth", "normals", "edges")

LAYOUT = """root/                          (the survey's NYUD_MT folder)
  images/<id>.jpg              RGB image
  segmentation/<id>.png        40 classes stored 1..40, 0 = unlabelled (ignored)
  depth/<id>.npy               H x W metres, 0 = invalid
  normals/<id>.npy             H x W x 3 unit normals, all-0 = invalid
  edge/<id>.npy                H x W in {0, 1}
  gt_sets/train.txt, val.txt   one image id per line"""


@register_dataset("nyud")
class NYUD(Dataset):
    """NYUD-v2 (Silberman, Hoiem, Kohli & Fergus, ECCV 2012) as used by Vandenhende et al., "Multi-Task
    Learning for Dense Prediction Tasks: A Survey" (TPAMI 2021) and its code's ``NYUD_MT`` loader: 795
    train / 654 val images, tasks

    ===========  ============  ======================================================
    task         kind          target
    ===========  ============  ======================================================
    ``semseg``   segmentation  40 classes: the stored ``v`` becomes ``v - 1``; ``v = 0``
                               (unlabelled) and 255 are -1 (ignored), as the survey
    ``depth``    depth         ``[1, H, W]`` as stored, 0 = invalid
    ``normals``  normals       ``[3, H, W]`` as stored, all-0 = invalid
    ``edges``    edges         ``[1, H, W]`` as stored ({0, 1})
    ===========  ============  ======================================================

    This is the survey's layout (list files, per-task folders, with edges); the MTAN ``.npy`` layout
    (13 classes, no edges) is the ``nyuv2`` dataset. ``split="test"`` reads ``val``. Only the files of
    the chosen ``tasks`` are required.

    Items: ``(image float32 [3, H, W] in [0, 1], {task: target})``.

    Args:
        split: "train", "val" or "test" (= "val").
        root: the ``NYUD_MT`` folder (nothing is downloaded).
        tasks: which of ``semseg, depth, normals, edges`` (default: all four).
        size: (H, W) to resize every item to (image and normals bilinear, labels, depth and edges nearest),
            or None to keep the stored size.
    """

    name = "nyud"

    def __init__(self, split: str = "train", root: str | os.PathLike[str] | None = None,
                 tasks: Sequence[str] | None = None, size: tuple[int, int] | None = None) -> None:
        check_split(self.name, split, ("train", "val", "test"))
        chosen = pick_tasks(self.name, tasks, TASKS)
        self.size = check_size(size, self.name)
        base = require_root(root, self.name, LAYOUT)
        self.root, self.split = base, split
        split_file = base / "gt_sets" / f"{'val' if split == 'test' else split}.txt"
        self.ids = read_ids(split_file, self.name, LAYOUT)
        kinds = {"semseg": ("segmentation", 40), "depth": ("depth", 1), "normals": ("normals", 3),
                 "edges": ("edges", 1)}
        self.tasks = [Task(t, *kinds[t]) for t in TASKS if t in chosen]
        for i in self.ids:
            for path in self._paths(i).values():
                require_path(path, self.name, LAYOUT)

    def _paths(self, i: str) -> dict[str, Path]:
        folders = {"semseg": ("segmentation", "png"), "depth": ("depth", "npy"),
                   "normals": ("normals", "npy"), "edges": ("edge", "npy")}
        paths = {"image": self.root / "images" / f"{i}.jpg"}
        for t in self.tasks:
            folder, ext = folders[t.name]
            paths[t.name] = self.root / folder / f"{i}.{ext}"
        return paths

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor]]:
        paths, image, hw = read_item(self.name, index, self.ids, self._paths)
        out: dict[str, Tensor] = {}
        for task in self.tasks:
            path = paths[task.name]
            if task.name == "semseg":
                arr = read_png(path, self.name).astype(np.int64)
                check_hw(arr, hw, path, self.name)
                shifted = np.where(np.isin(arr, (0, 255)), -1, arr - 1)
                out["semseg"] = labels(shifted, 40, (-1,), path, self.name, "semseg, stored value - 1")
                continue
            arr = read_npy(path, self.name).astype(np.float32)
            check_hw(arr, hw, path, self.name)
            if task.name == "normals":
                if arr.ndim != 3 or arr.shape[2] != 3:
                    raise ValueError(f"{self.name}: {str(path)!r} has shape {arr.shape}; expected H x W x 3")
                out["normals"] = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
            else:
                arr = arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr
                if arr.ndim != 2 or not np.isfinite(arr).all():
                    raise ValueError(f"{self.name}: {str(path)!r} must be a finite H x W map, "
                                     f"got shape {arr.shape}")
                if task.name == "edges" and not np.isin(arr, (0.0, 1.0)).all():
                    raise ValueError(f"{self.name}: {str(path)!r} edges must be 0 or 1")
                out[task.name] = torch.from_numpy(arr)[None]
        if self.size is not None:
            image = resize(image, self.size, "bilinear")
            out = {k: resize(v, self.size, "bilinear" if k == "normals" else "nearest")
                   for k, v in out.items()}
        return image, out
