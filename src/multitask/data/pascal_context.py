"""PASCAL-Context with the 5 tasks of the dense multi-task learning survey, in its data layout."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import convolve
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.core.thinning import thin
from multitask.data._common import check_split, pick_tasks, read_item, require_path, require_root
from multitask.data._dense_lists import (
    check_hw,
    check_size,
    labels,
    read_ids,
    read_mat,
    read_png,
    resize,
)
from multitask.data.registry import register_dataset

TASKS = ("semseg", "human_parts", "saliency", "normals", "edges")

LAYOUT = """root/                                  (the survey's PASCAL_MT folder)
  JPEGImages/<id>.jpg                  RGB image
  semseg/pascal-context/<id>.png       21-class labels 0..20 (255 = ignore); semseg/VOC12/<id>.png is
                                       read first when it exists, as in the survey's code
  human_parts/<id>.mat                 PASCAL-Part 'anno' struct (objects: class_ind, mask, parts)
  sal_distill/<id>.png                 grey saliency 0..255 (foreground where > 127.5)
  normals_distill/<id>.png             RGB normals, n = 2 * v / 255 - 1
  pascal-context/trainval/<id>.mat     'LabelMap' (the edges are the borders of its regions)
  ImageSets/Context/train.txt, val.txt one image id per line"""

#: PASCAL-Part person part names grouped into the survey's 1, 4 and 6 human-part classes (0 = background)
_GROUPS: dict[int, tuple[tuple[str, ...], ...]] = {
    6: (("hair", "head", "lear", "rear", "lebrow", "rebrow", "leye", "reye", "mouth", "nose"),
        ("neck", "torso"), ("luarm", "ruarm"), ("llarm", "rlarm", "lhand", "rhand"), ("luleg", "ruleg"),
        ("llleg", "rlleg", "lfoot", "rfoot")),
    4: (("hair", "head", "lear", "rear", "lebrow", "rebrow", "leye", "reye", "mouth", "nose"),
        ("neck", "torso"), ("luarm", "ruarm", "llarm", "rlarm", "lhand", "rhand"),
        ("luleg", "ruleg", "llleg", "rlleg", "lfoot", "rfoot")),
}
_GROUPS[1] = (tuple(name for group in _GROUPS[6] for name in group),)
PERSON = 15  # the PASCAL VOC class index of "person"


def part_classes(num_human_parts: int) -> dict[str, int]:
    """Part name -> human-part class (1..num_human_parts) of the survey's grouping."""
    if num_human_parts not in _GROUPS:
        raise ValueError(f"pascal_context: num_human_parts must be one of {sorted(_GROUPS)}, "
                         f"got {num_human_parts!r}")
    return {name: k + 1 for k, group in enumerate(_GROUPS[num_human_parts]) for name in group}


def label_map_edges(label_map: np.ndarray) -> np.ndarray:
    """The survey's edge target: pixels where the 4-neighbour Laplacian of the region labels is non-zero
    (mirrored border, as OpenCV's default), thinned to one-pixel-wide curves. Returns float32 {0, 1}."""
    kernel = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
    lap = convolve(label_map.astype(np.float64), kernel, mode="mirror")
    return thin(np.abs(lap) > 0).astype(np.float32)


def human_parts_target(anno: np.ndarray, parts: dict[str, int], path: Path) -> np.ndarray | None:
    """The part map of every person with part annotations (later parts overwrite earlier ones), or None
    when the image has none."""
    try:
        objects = anno["objects"][0, 0]
    except (ValueError, IndexError, KeyError) as e:
        raise ValueError(f"pascal_context: {str(path)!r} 'anno' has no 'objects' struct array") from e
    target = None
    for obj in objects.reshape(-1):
        obj_parts = obj["parts"]
        if int(np.asarray(obj["class_ind"]).reshape(-1)[0]) != PERSON or obj_parts.size == 0:
            continue
        if target is None:
            target = np.zeros(np.asarray(obj["mask"]).shape, dtype=np.int64)
        for part in obj_parts.reshape(-1):
            name = str(np.asarray(part["part_name"]).reshape(-1)[0])
            if name not in parts:
                raise ValueError(f"pascal_context: {str(path)!r} has an unknown person part {name!r}")
            target[np.asarray(part["mask"]).astype(bool)] = parts[name]
    return target


@register_dataset("pascal_context")
class PASCALContext(Dataset):
    """PASCAL-Context (Mottaghi et al., CVPR 2014) as the multi-task benchmark of Maninis, Radosavovic &
    Kokkinos (ASTMT, CVPR 2019) and of the survey of Vandenhende et al. (TPAMI 2021): 4,998 train /
    5,105 val images, tasks

    ==============  ============  ============================================================
    task            kind          target (the survey's ``PASCALContext`` + ``AddIgnoreRegions``)
    ==============  ============  ============================================================
    ``semseg``      segmentation  21 classes (VOC's 20 + background), 255 -> -1 (ignore)
    ``human_parts`` segmentation  ``num_human_parts + 1`` classes; images without person parts
                                  are all -1 (ignored)
    ``saliency``    segmentation  2 classes: distilled saliency ``v / 255 > 0.5``
    ``normals``     normals       distilled ``2 v / 255 - 1``; all-0 (invalid) outside
                                  ``normals_valid_classes``
    ``edges``       edges         thinned non-zero Laplacian of ``LabelMap`` (see
                                  :func:`label_map_edges`)
    ==============  ============  ============================================================

    Layout (the survey's ``PASCAL_MT`` download; nothing is downloaded here)::

        root/JPEGImages/<id>.jpg, semseg/pascal-context/<id>.png, human_parts/<id>.mat,
        sal_distill/<id>.png, normals_distill/<id>.png, pascal-context/trainval/<id>.mat,
        ImageSets/Context/{train,val}.txt

    Only the files of the chosen ``tasks`` are required. ``split="test"`` reads ``val`` (the survey
    reports on val). Saliency is scored here as 2-class segmentation (its ``miou_all`` averages
    background and foreground IoU; the survey's saliency number is a foreground IoU / maxF over
    thresholds, which is not computed here). The survey restricts the distilled normals to the
    PASCAL-Context classes that also exist in NYUD (its ``db_info`` json files); pass those ``LabelMap``
    values as ``normals_valid_classes`` to reproduce it (None keeps every pixel).

    Items: ``(image float32 [3, H, W] in [0, 1], {task: target})`` with segmentation targets int64
    ``[H, W]``, normals float32 ``[3, H, W]``, edges float32 ``[1, H, W]``.

    Args:
        split: "train", "val" or "test" (= "val").
        root: the ``PASCAL_MT`` folder.
        tasks: which of ``semseg, human_parts, saliency, normals, edges`` (default: all five).
        size: (H, W) to resize every item to (image and normals bilinear, labels and edges nearest), or
            None to keep the stored size (then batch size 1 unless all images share a size).
        num_human_parts: 1, 4 or 6 (the survey's default 6).
        normals_valid_classes: ``LabelMap`` values where the normals count, or None for all pixels.
    """

    name = "pascal_context"

    def __init__(self, split: str = "train", root: str | os.PathLike[str] | None = None,
                 tasks: Sequence[str] | None = None, size: tuple[int, int] | None = None,
                 num_human_parts: int = 6, normals_valid_classes: Collection[int] | None = None) -> None:
        check_split(self.name, split, ("train", "val", "test"))
        chosen = pick_tasks(self.name, tasks, TASKS)
        self.size = check_size(size, self.name)
        self.parts = part_classes(num_human_parts)
        self.valid_classes = None if normals_valid_classes is None else sorted(int(c) for c in
                                                                             normals_valid_classes)
        base = require_root(root, self.name, LAYOUT)
        self.root, self.split = base, split
        self.ids = read_ids(base / "ImageSets" / "Context" / f"{'val' if split == 'test' else split}.txt",
                            self.name, LAYOUT)
        kinds = {"semseg": ("segmentation", 21), "human_parts": ("segmentation", num_human_parts + 1),
                 "saliency": ("segmentation", 2), "normals": ("normals", 3), "edges": ("edges", 1)}
        self.tasks = [Task(t, *kinds[t]) for t in TASKS if t in chosen]
        for i in self.ids:  # every file must exist up front: a missing one is named now, not mid-epoch
            for path in self._paths(i).values():
                require_path(path, self.name, LAYOUT)

    def _paths(self, i: str) -> dict[str, Path]:
        b = self.root
        paths = {"image": b / "JPEGImages" / f"{i}.jpg"}
        names = {t.name for t in self.tasks}
        if "semseg" in names:
            voc = b / "semseg" / "VOC12" / f"{i}.png"
            paths["semseg"] = voc if voc.is_file() else b / "semseg" / "pascal-context" / f"{i}.png"
        if "human_parts" in names:
            paths["human_parts"] = b / "human_parts" / f"{i}.mat"
        if "saliency" in names:
            paths["saliency"] = b / "sal_distill" / f"{i}.png"
        if "normals" in names:
            paths["normals"] = b / "normals_distill" / f"{i}.png"
        if "edges" in names or ("normals" in names and self.valid_classes is not None):
            paths["label_map"] = b / "pascal-context" / "trainval" / f"{i}.mat"
        return paths

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor]]:
        paths, image, hw = read_item(self.name, index, self.ids, self._paths)
        label_map = None
        if "label_map" in paths:
            label_map = np.asarray(read_mat(paths["label_map"], self.name, "LabelMap"))
            check_hw(label_map, hw, paths["label_map"], self.name)
        out: dict[str, Tensor] = {}
        for task in self.tasks:
            path = paths.get(task.name)
            if task.name == "semseg":
                arr = read_png(path, self.name)
                check_hw(arr, hw, path, self.name)
                out["semseg"] = labels(arr, 21, (255,), path, self.name, "semseg")
            elif task.name == "human_parts":
                target = human_parts_target(read_mat(path, self.name, "anno"), self.parts, path)
                if target is None or not (target > 0).any():
                    target = np.full(hw, -1, dtype=np.int64)  # no person parts: ignored (AddIgnoreRegions)
                check_hw(target, hw, path, self.name)
                out["human_parts"] = torch.from_numpy(target)
            elif task.name == "saliency":
                arr = read_png(path, self.name).astype(np.float32)
                arr = arr[..., 0] if arr.ndim == 3 else arr
                check_hw(arr, hw, path, self.name)
                out["saliency"] = torch.from_numpy((arr / 255.0 > 0.5).astype(np.int64))
            elif task.name == "normals":
                arr = read_png(path, self.name).astype(np.float32)
                if arr.ndim != 3 or arr.shape[2] < 3:
                    raise ValueError(f"{self.name}: {str(path)!r} must be an RGB image, got {arr.shape}")
                check_hw(arr, hw, path, self.name)
                n = 2.0 * arr[..., :3] / 255.0 - 1.0
                if self.valid_classes is not None:
                    n[~np.isin(label_map, self.valid_classes)] = 0.0
                out["normals"] = torch.from_numpy(np.ascontiguousarray(n.transpose(2, 0, 1)))
            else:
                out["edges"] = torch.from_numpy(label_map_edges(label_map))[None]
        if self.size is not None:
            image = resize(image, self.size, "bilinear")
            out = {k: resize(v, self.size, "bilinear" if k == "normals" else "nearest")
                   for k, v in out.items()}
        return image, out
