"""Checkpoints: atomic writes, ``torch.load(weights_only=True)`` reads, RNG state capture."""

from __future__ import annotations

import os
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` with ``torch.save`` to a temporary file, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``.

    A missing file is a ``FileNotFoundError``; an empty, truncated, corrupt or unsafe file (one holding
    Python objects beyond tensors and plain data) is a one-line ``ValueError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: {_unreadable_reason(path, err)}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"{path}: not a valid multitask checkpoint (no 'model' entry)")
    return state


def _unreadable_reason(path: Path, err: Exception) -> str:
    if path.stat().st_size == 0:
        return "not a valid multitask checkpoint (the file is empty)"
    text = str(err).lower()
    if "global" in text and ("unsupported" in text or "blocked" in text):
        return (
            "not a safe multitask checkpoint: it holds Python objects other than tensors and plain data, "
            "which multitask refuses to load (it was not written by multitask)"
        )
    if not zipfile.is_zipfile(path):
        return "not a valid multitask checkpoint (truncated, or not a torch.save archive)"
    return f"not a valid multitask checkpoint (corrupt archive: {type(err).__name__})"


def rng_state() -> dict[str, Any]:
    """The global RNG states (torch CPU/CUDA, numpy, python) in a ``weights_only``-loadable form."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    random.setstate(_to_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuples(x: Any) -> Any:
    return tuple(_to_tuples(v) for v in x) if isinstance(x, list) else x
