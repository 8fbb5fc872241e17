"""Helpers shared by the dataset modules: split checks, path errors, the cache and lazy Pillow."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import Tensor

ASSETS = Path(__file__).resolve().parent / "_assets"

_CHECKSUM_KEY = "__sha256__"


def check_split(dataset: str, split: str, allowed: Iterable[str]) -> str:
    """Return ``split`` if it is one of ``allowed``, else raise a ValueError naming both."""
    allowed = tuple(allowed)
    if split not in allowed:
        raise ValueError(f"{dataset}: unknown split {split!r}; allowed splits: {', '.join(allowed)}")
    return split


def pick_tasks(dataset: str, tasks: Sequence[str] | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The chosen task names (``None``: all of ``allowed``); unknown, repeated or no names: ValueError."""
    chosen = tuple(allowed if tasks is None else tasks)
    if any(t not in allowed for t in chosen) or not chosen or len(set(chosen)) != len(chosen):
        raise ValueError(f"{dataset}: tasks must be distinct names among {allowed}, got {list(chosen)}")
    return chosen


def check_index(dataset: str, index: int, size: int) -> None:
    """Raise an IndexError naming ``dataset`` unless ``0 <= index < size``."""
    if not 0 <= index < size:
        raise IndexError(f"{dataset}: index {index} out of range for {size} samples")


def require_path(path: str | os.PathLike[str], dataset: str, layout: str) -> Path:
    """Return ``path`` as a Path if it exists; otherwise raise FileNotFoundError showing ``layout``."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{dataset}: {str(p)!r} does not exist. Expected layout:\n{layout}")
    return p


def require_root(root: str | os.PathLike[str] | None, dataset: str, layout: str) -> Path:
    """Check that a real-data loader got an existing root folder."""
    if root is None:
        raise ValueError(
            f"{dataset}: root=None; pass the data folder (nothing is downloaded). Expected layout:\n{layout}"
        )
    p = require_path(root, dataset, layout)
    if not p.is_dir():
        raise ValueError(f"{dataset}: root {str(p)!r} is not a folder. Expected layout:\n{layout}")
    return p


def default_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``cache_dir`` if given, else ``$MULTITASK_CACHE``, else
    ``$XDG_CACHE_HOME/multitask``, else ``~/.cache/multitask``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("MULTITASK_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "multitask"
    return Path.home() / ".cache" / "multitask"


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_cache(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (.npz) atomically (temp file + os.replace) with a sha256 entry.

    A cache that cannot be written (read-only folder) is silently skipped: the data is rebuilt next time.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            payload = dict(arrays)
            payload[_CHECKSUM_KEY] = np.array(_digest(arrays))
            np.savez(f, **payload)
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_cache(path: Path, keys: Iterable[str]) -> dict[str, np.ndarray] | None:
    """Read a cache written by :func:`save_cache`; ``None`` when missing, partial, corrupt or stale."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception:  # truncated zip, bad header, bad CRC, ...: rebuild
        return None
    stored = data.pop(_CHECKSUM_KEY, None)
    if stored is None or set(keys) != set(data) or str(stored) != _digest(data):
        return None
    return data


def require_pil() -> Any:
    """Import Pillow lazily (it is the ``images`` extra)."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - Pillow is installed in the dev environment
        raise ImportError(
            "decoding images needs Pillow: pip install 'multitask[images]' (or pip install Pillow)"
        ) from e
    return Image


def load_image(path: Path | BinaryIO, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an image file (path or binary file object) to float32 ``[3, H, W]`` in [0, 1]; ``size`` =
    (H, W) resizes (bilinear)."""
    Image = require_pil()
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if size is not None and (im.height, im.width) != tuple(size):
                im = im.resize((size[1], size[0]), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except OSError as e:
        label = str(path) if isinstance(path, (str, os.PathLike)) else getattr(path, "name", "<file object>")
        raise ValueError(f"cannot decode image {label!r}: {e}") from e
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def read_rgb(path: Path) -> tuple[Tensor, tuple[int, int]]:
    """An RGB image as a float ``[3, H, W]`` tensor in [0, 1] (:func:`load_image`) and its ``(H, W)``."""
    image = torch.from_numpy(load_image(path))
    return image, (int(image.shape[1]), int(image.shape[2]))


def read_item(
    dataset: str, index: int, ids: Sequence[str], paths_of: Callable[[str], Mapping[str, Path]]
) -> tuple[Mapping[str, Path], Tensor, tuple[int, int]]:
    """Item ``index`` of an id-list dataset: its files ``paths_of(id)`` and its ``"image"`` read by
    :func:`read_rgb` (an IndexError naming ``dataset`` when ``index`` is out of range)."""
    check_index(dataset, index, len(ids))
    paths = paths_of(ids[index])
    image, hw = read_rgb(paths["image"])
    return paths, image, hw
