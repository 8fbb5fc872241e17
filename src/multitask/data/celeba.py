"""CelebA: 40 binary face-attribute tasks from the aligned images."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import check_split, load_image, require_path, require_pil, require_root
from multitask.data.registry import register_dataset

_LAYOUT = """root/
  img_align_celeba/000001.jpg, 000002.jpg, ...
  list_attr_celeba.txt      line 1: N; line 2: the 40 attribute names; then "000001.jpg -1 1 ..." (+-1)
  list_eval_partition.txt   "000001.jpg 0" per image (0 train, 1 val, 2 test)
or the official archive's layout:
  Anno/list_attr_celeba.txt
  Eval/list_eval_partition.txt
  Img/img_align_celeba/*.jpg   (or Img/img_align_celeba.zip, read without unpacking)"""
_PARTITION = {"train": 0, "val": 1, "test": 2}


def read_attributes(path: os.PathLike[str] | str) -> tuple[list[str], list[str], np.ndarray]:
    """Parse ``list_attr_celeba.txt``: (attribute names, file names, int8 ``[N, A]`` in {0, 1})."""
    p = require_path(path, "celeba", _LAYOUT)
    lines = p.read_text().splitlines()
    if len(lines) < 2:
        raise ValueError(f"celeba: {str(p)!r} needs a count line and an attribute-name line")
    names = lines[1].split()
    files, rows = [], []
    for k, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise ValueError(f"celeba: {str(p)!r} line {k} has {len(parts) - 1} values for "
                             f"{len(names)} attributes")
        files.append(parts[0])
        rows.append(parts[1:])
    try:
        values = np.array(rows, dtype=np.int64).reshape(len(rows), len(names))
    except ValueError as e:
        raise ValueError(f"celeba: {str(p)!r} holds non-integer attribute values") from e
    if not np.isin(values, (-1, 0, 1)).all():
        raise ValueError(f"celeba: {str(p)!r} attribute values must be -1/1 (or 0/1)")
    if lines[0].strip().isdigit() and int(lines[0]) != len(files):
        raise ValueError(f"celeba: {str(p)!r} announces {int(lines[0])} images but lists {len(files)}")
    return names, files, (values > 0).astype(np.int8)


def read_partition(path: os.PathLike[str] | str) -> dict[str, int]:
    """Parse ``list_eval_partition.txt`` into ``{file name: 0 | 1 | 2}``."""
    p = require_path(path, "celeba", _LAYOUT)
    out = {}
    for k, line in enumerate(p.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise ValueError(f"celeba: {str(p)!r} line {k} should be '<file> 0|1|2', got {line!r}")
        out[parts[0]] = int(parts[1])
    return out


def _find(base: Path, *candidates: str) -> Path:
    """The first of ``candidates`` (paths under ``base``) that exists, else a FileNotFoundError."""
    for c in candidates:
        if (base / c).exists():
            return base / c
    tried = ", ".join(repr(str(base / c)) for c in candidates)
    raise FileNotFoundError(f"celeba: none of {tried} exists. Expected layout:\n{_LAYOUT}")


class _ZipImages:
    """Members ``img_align_celeba/<file>`` of the official ``img_align_celeba.zip``, opened lazily per
    process (so a DataLoader worker opens its own handle)."""

    def __init__(self, path: Path) -> None:
        self.path, self._zip, self._pid = path, None, None
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
        self.members = {n.rsplit("/", 1)[-1]: n for n in names if not n.endswith("/")}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_zip": None, "_pid": None}

    def read(self, name: str) -> io.BytesIO:
        if name not in self.members:
            raise FileNotFoundError(f"celeba: {str(self.path)!r} holds no image {name!r}")
        if self._zip is None or self._pid != os.getpid():
            self._zip, self._pid = zipfile.ZipFile(self.path), os.getpid()
        data = io.BytesIO(self._zip.read(self.members[name]))
        data.name = f"{self.path}:{self.members[name]}"  # for error messages
        return data


@register_dataset("celeba")
class CelebA(Dataset):
    """CelebA (Liu, Luo, Wang & Tang, "Deep Learning Face Attributes in the Wild", ICCV 2015) as the
    40-task multi-label benchmark of Sener & Koltun (NeurIPS 2018): one ``binary`` task per attribute,
    named by the header of ``list_attr_celeba.txt`` (``5_o_Clock_Shadow`` ... ``Young``).

    Layout, flat::

        root/img_align_celeba/*.jpg
        root/list_attr_celeba.txt      (+-1 per attribute; mapped to 0/1)
        root/list_eval_partition.txt   (0 train, 1 val, 2 test: the official split)

    or the official archive's (as downloaded: ``root`` = its ``CelebA`` folder)::

        root/Anno/list_attr_celeba.txt
        root/Eval/list_eval_partition.txt
        root/Img/img_align_celeba/*.jpg  or  root/Img/img_align_celeba.zip (read in place, not unpacked)

    Items: ``(image float32 [3, size, size] in [0, 1], {attribute: float32 scalar in {0, 1}})``. The
    aligned 178 x 218 image is resized to ``size`` x ``size`` (bilinear; default 64, as in Sener &
    Koltun). Images are decoded lazily with Pillow (the ``images`` extra).

    Args:
        split: "train", "val" or "test".
        root: the CelebA folder (required; nothing is downloaded).
        size: output side (default 64).
        attributes: optional subset of attribute names (default: all, in file order).
    """

    def __init__(self, split: str = "train", root: str | os.PathLike[str] | None = None, size: int = 64,
                 attributes: list[str] | None = None) -> None:
        check_split("celeba", split, tuple(_PARTITION))
        base = require_root(root, "celeba", _LAYOUT)
        require_pil()
        images = _find(base, "img_align_celeba", "Img/img_align_celeba", "Img/img_align_celeba.zip")
        self.image_dir = images if images.is_dir() else None
        self._zip = None if images.is_dir() else _ZipImages(images)
        attr_file = _find(base, "list_attr_celeba.txt", "Anno/list_attr_celeba.txt")
        names, files, values = read_attributes(attr_file)
        part_file = _find(base, "list_eval_partition.txt", "Eval/list_eval_partition.txt")
        part = read_partition(part_file)
        missing = [f for f in files if f not in part]
        if missing:
            raise ValueError(f"celeba: {len(missing)} images of list_attr_celeba.txt (e.g. {missing[0]!r}) "
                             f"have no entry in {str(part_file)!r}")
        if attributes is not None:
            unknown = [a for a in attributes if a not in names]
            if unknown:
                raise ValueError(f"celeba: unknown attributes {unknown}; known: {names}")
            cols = [names.index(a) for a in attributes]
            names, values = list(attributes), values[:, cols]
        keep = np.array([part[f] == _PARTITION[split] for f in files], dtype=bool)
        self.split, self.size = split, int(size)
        self.files = [f for f, k in zip(files, keep) if k]
        self.attributes = names
        self.targets = torch.from_numpy(values[keep].astype(np.float32))
        self.tasks = [Task(a, "binary", 1) for a in names]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        if self._zip is not None:
            source = self._zip.read(self.files[i])
        else:
            source = require_path(self.image_dir / self.files[i], "celeba", _LAYOUT)
        image = torch.from_numpy(load_image(source, (self.size, self.size)))
        row = self.targets[i]
        return image, {a: row[k] for k, a in enumerate(self.attributes)}
