"""The torch view of the classical "one regression task per group of rows" tables (School, Computer
Survey, Climate): ``x`` float32 ``[N, d]``, ``y`` float32 ``[N, 1]``, ``task_ids`` int64 ``[N]`` (the
classical task of each row), items ``(x, {target: y})`` for one shared regression head, and the
validation split carved from the standard training rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task

__all__ = ["TaskRowsDataset", "holdout_mask"]


def holdout_mask(task: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Per-task random hold-out: ``round(fraction * n_t)`` rows of each task (>= 1 if n_t >= 2)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(task.shape[0], dtype=bool)
    if fraction == 0:
        return mask
    for t in np.unique(task):
        rows = np.flatnonzero(task == t)
        k = int(round(fraction * rows.size))
        if rows.size >= 2:
            k = min(max(k, 1), rows.size - 1)
        else:
            k = 0
        mask[rng.permutation(rows)[:k]] = True
    return mask


class TaskRowsDataset(Dataset):
    """Base of the table datasets above; a subclass calls :meth:`_check_val` before loading and
    :meth:`_set_rows` after."""

    target: str

    def _check_val(self, dataset: str, split: str, val_fraction: float, hint: str = "") -> float:
        if not 0.0 <= float(val_fraction) < 1.0:
            raise ValueError(f"{dataset}: val_fraction must be in [0, 1), got {val_fraction!r}")
        if split == "val" and val_fraction == 0:
            raise ValueError(f"{dataset}: split 'val' needs val_fraction > 0{hint}")
        return float(val_fraction)

    def _set_rows(
        self,
        d: dict[str, Any],
        split: str,
        is_val: Callable[[np.ndarray], np.ndarray],
        target: str,
        transform: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
        | None = None,
    ) -> None:
        """Rows of ``split`` from ``d`` (``X_/y_/task_`` ``train``/``test`` arrays): ``"test"`` the test
        rows, ``"val"`` the training rows where ``is_val(task_train)`` holds, ``"train"`` the others.
        ``transform(X, y, is_val)`` may rescale the chosen rows (given the hold-out mask)."""
        held = is_val(d["task_train"])
        if split == "test":
            X, y, t = d["X_test"], d["y_test"], d["task_test"]
        else:
            keep = held if split == "val" else ~held
            X, y, t = d["X_train"][keep], d["y_train"][keep], d["task_train"][keep]
        if transform is not None:
            X, y = transform(X, y, held)
        self.split, self.target = split, target
        self.x = torch.from_numpy(np.asarray(X, dtype=np.float32))
        self.y = torch.from_numpy(np.asarray(y, dtype=np.float32)).unsqueeze(1)
        self.task_ids = torch.from_numpy(np.asarray(t, dtype=np.int64))
        self.tasks = [Task(target, "regression", 1)]

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        return self.x[i], {self.target: self.y[i]}
