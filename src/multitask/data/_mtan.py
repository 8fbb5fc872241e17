"""Shared loader for the MTAN ``.npy`` layout of NYUv2 and Cityscapes (Liu, Johns & Davison, CVPR 2019).

Layout: ``root/{train,val}/{folder}/{i}.npy`` for ``i = 0 .. N-1``; arrays stored H x W x C (labels H x W).
The MTAN release has no test split: ``"test"`` reads ``val`` (as in MTAN, LibMTL, Nash-MTL, CAGrad ...).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import check_split, require_path, require_root

SCALES = (1.0, 1.2, 1.5)


@dataclass(frozen=True)
class Field:
    """One array per sample: ``folder`` under the split, the task it feeds and its stored channels."""

    folder: str
    task: str | None  # None for the input image
    channels: int  # 0 = stored H x W (labels)


def layout_text(fields: tuple[Field, ...], shape: tuple[int, int], note: str = "") -> str:
    h, w = shape
    lines = ["root/", "  train/   (and val/; 'test' reads val/)"]
    for f in fields:
        stored = f"{h}x{w}" if f.channels == 0 else f"{h}x{w}x{f.channels}"
        lines.append(f"    {f.folder}/0.npy, 1.npy, ...   float, stored {stored}")
    return "\n".join(lines + ([note] if note else []))


class MTANDense(Dataset):
    """Base class: reads ``{i}.npy`` files lazily and applies the MTAN training augmentation.

    Subclasses set ``name``, ``fields`` (the image first), ``shape`` (the standard H x W, used in the
    layout message; any H x W shared by a sample's files is accepted) and ``tasks``. Segmentation labels
    become int64 with -1 kept as ignore (any negative value maps to -1; a label >= the class count is a
    ValueError); depth becomes ``[1, H, W]`` float32 (0 = invalid); normals ``[3, H, W]`` float32 (all-0 =
    invalid); the image ``[3, H, W]`` float32 as stored (MTAN stores it in [0, 1]).

    Augmentation (``augment=True``; MTAN's RandomScaleCrop, credited to J. Wu, plus a flip): pick a scale
    ``s`` in {1.0, 1.2, 1.5}, crop a random ``int(H/s) x int(W/s)`` window and resize it back to H x W
    (image and normals bilinear with aligned corners, as MTAN's and LibMTL's ``RandomScaleCrop``; labels
    and depth nearest), divide depth by ``s``; then
    with probability 1/2 flip horizontally and negate the normals' x channel. It draws from torch's
    global generator, so ``torch.manual_seed`` (and DataLoader worker seeding) make it reproducible.
    """

    name = "mtan"
    layout_note = ""  # appended to the layout shown in error messages
    fields: tuple[Field, ...] = ()
    shape: tuple[int, int] = (0, 0)
    tasks: list[Task]

    def __init__(self, split: str, root: str | os.PathLike[str] | None, augment: bool = False) -> None:
        check_split(self.name, split, ("train", "val", "test"))
        layout = layout_text(self.fields, self.shape, self.layout_note)
        base = require_root(root, self.name, layout)
        self.split = split
        self.folder = require_path(base / ("val" if split == "test" else split), self.name, layout)
        self.augment = bool(augment)
        counts = {}
        for f in self.fields:
            d = require_path(self.folder / f.folder, self.name, layout)
            idx = sorted(int(m.group(1)) for p in d.iterdir() if (m := re.fullmatch(r"(\d+)\.npy", p.name)))
            if idx != list(range(len(idx))):
                missing = sorted(set(range(max(idx, default=-1) + 1)) - set(idx))
                raise FileNotFoundError(f"{self.name}: {str(d)!r} misses {missing[:5]}.npy (files must be "
                                        f"0.npy .. N-1.npy). Expected layout:\n{layout}")
            counts[f.folder] = len(idx)
        if len(set(counts.values())) != 1 or not next(iter(counts.values())):
            raise ValueError(f"{self.name}: {str(self.folder)!r} folders hold different or zero numbers of "
                             f"files: {counts}. Expected layout:\n{layout}")
        self._len = next(iter(counts.values()))
        self._layout = layout

    def __len__(self) -> int:
        return self._len

    def _load(self, f: Field, i: int, hw: tuple[int, ...] | None) -> Tensor:
        path = self.folder / f.folder / f"{i}.npy"
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"{self.name}: cannot read {str(path)!r}: {e}") from e
        ok = arr.ndim == 2 if f.channels == 0 else arr.ndim == 3 and arr.shape[2] == f.channels
        ok = ok or (f.channels == 1 and arr.ndim == 2)
        if not ok or (hw is not None and arr.shape[:2] != hw):
            want = "H x W" if f.channels == 0 else f"H x W x {f.channels}"
            raise ValueError(f"{self.name}: {str(path)!r} has shape {arr.shape}; expected {want} with the "
                             f"image's H x W {hw}. Expected layout:\n{self._layout}")
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        return t if f.channels == 0 else (t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1).contiguous())

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        if not 0 <= i < self._len:
            raise IndexError(f"{self.name}: index {i} out of range for {self._len} samples")
        image = self._load(self.fields[0], i, None)  # fields[0] is the image
        hw = tuple(image.shape[-2:])
        targets = {f.task: self._load(f, i, hw) for f in self.fields[1:] if f.task is not None}
        if "segmentation" in targets:
            seg = targets["segmentation"]
            num = next(t.num_outputs for t in self.tasks if t.name == "segmentation")
            if bool((seg >= num).any()):
                raise ValueError(f"{self.name}: sample {i} has segmentation labels >= {num} "
                                 f"(max {int(seg.max())}); labels must be in 0..{num - 1} or -1 (ignore)")
            targets["segmentation"] = torch.where(seg < 0, -1, seg.round()).long()
        if self.augment:
            image, targets = scale_crop_flip(image, targets)
        return image, targets


def scale_crop_flip(image: Tensor, targets: dict[str, Tensor], scales: tuple[float, ...] = SCALES,
                    generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """MTAN RandomScaleCrop (depth divided by the scale) followed by a random horizontal flip.

    Image and normals are resized bilinearly (aligned corners), labels and depth nearest, as in MTAN's
    code. Bilinear normals are not renormalised (nor in MTAN): between two directions they are shorter
    than 1, and next to an invalid (all-0) pixel they are shortened, not invalid; the metrics and the
    loss normalise the prediction, not the target.
    """
    h, w = image.shape[-2:]
    s = scales[int(torch.randint(len(scales), (1,), generator=generator))]
    ch, cw = int(h / s), int(w / s)
    top = int(torch.randint(h - ch + 1, (1,), generator=generator))
    left = int(torch.randint(w - cw + 1, (1,), generator=generator))
    flip = bool(torch.rand((), generator=generator) < 0.5)

    def crop(t: Tensor, mode: str) -> Tensor:
        x = t[..., top : top + ch, left : left + cw]
        x = x.unsqueeze(0) if x.ndim == 3 else x[None, None]
        if mode == "bilinear":
            y = F.interpolate(x.float(), size=(h, w), mode="bilinear", align_corners=True)
        else:
            y = F.interpolate(x.float(), size=(h, w), mode="nearest")
        y = y[0] if t.ndim == 3 else y[0, 0]
        return y.flip(-1) if flip else y

    image = crop(image, "bilinear")
    out = {}
    for name, t in targets.items():
        y = crop(t, "bilinear" if name == "normals" else "nearest")
        if name == "segmentation":
            y = y.long()
        elif name == "depth":
            y = y / s
        elif name == "normals" and flip:
            y = y.clone()
            y[0] = -y[0]
        out[name] = y
    return image, out

