"""The task-affinity record and a running mean of affinity matrices.

Convention everywhere in :mod:`multitask.affinity`: ``matrix[i, j]`` is the affinity *of task i onto
task j* (row = source, column = target). For the lookahead affinity of Fifty et al. (2021) that is
``Z_{i→j}``, how much a step on task ``i``'s loss lowers task ``j``'s loss; gradient cosines are
symmetric, so the orientation does not matter for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)
class TaskAffinity:
    """A ``[T, T]`` task-affinity matrix with the task names and how many steps it averages.

    Attributes:
        task_names: task names, in the matrix's row/column order.
        matrix: ``[T, T]`` float64 CPU tensor, ``matrix[i, j]`` = affinity of task ``i`` onto task ``j``.
        num_steps: number of steps (batches or log rows) averaged.
        kind: what was measured, e.g. ``"gradient_cosine"`` or ``"lookahead"``.
    """

    task_names: tuple[str, ...]
    matrix: Tensor
    num_steps: int
    kind: str

    def __post_init__(self) -> None:
        matrix = check_affinity_matrix(self.matrix, "TaskAffinity.matrix", allow_nan=False)
        object.__setattr__(self, "matrix", torch.as_tensor(matrix, dtype=torch.float64))
        object.__setattr__(self, "task_names", tuple(self.task_names))
        if len(self.task_names) != matrix.shape[0]:
            raise ValueError(
                f"TaskAffinity: {len(self.task_names)} task names for a "
                f"{matrix.shape[0]}x{matrix.shape[0]} matrix"
            )

    def __getitem__(self, pair: tuple[str, str]) -> float:
        """``affinity["a", "b"]``: the affinity of task ``a`` onto task ``b``."""
        a, b = pair
        for name in (a, b):
            if name not in self.task_names:
                raise ValueError(f"unknown task {name!r}; tasks are {list(self.task_names)}")
        return float(self.matrix[self.task_names.index(a), self.task_names.index(b)])

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{source: {target: affinity}}``."""
        return {
            a: {b: float(self.matrix[i, j]) for j, b in enumerate(self.task_names)}
            for i, a in enumerate(self.task_names)
        }


def check_affinity_matrix(matrix: Any, what: str = "affinity", *, allow_nan: bool = False) -> np.ndarray:
    """Validate a square, finite, real matrix and return it as a float64 numpy array.

    Raises:
        TypeError: not array-like / not numeric.
        ValueError: not square 2-D, empty, or holding NaN/Inf (NaN allowed when ``allow_nan``).
    """
    if isinstance(matrix, TaskAffinity):
        matrix = matrix.matrix
    if isinstance(matrix, Tensor):
        matrix = matrix.detach().to("cpu", torch.float64).numpy()
    try:
        arr = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be a real [T, T] matrix, got {type(matrix).__name__}: {err}") from err
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{what} must be a square [T, T] matrix, got shape {tuple(arr.shape)}")
    if arr.shape[0] == 0:
        raise ValueError(f"{what} is empty: there must be at least one task")
    bad = ~np.isfinite(arr) if not allow_nan else np.isinf(arr)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise ValueError(f"{what} has a non-finite entry {arr[i, j]} at [{i}, {j}]")
    return arr


class AffinityAccumulator:
    """Running mean of per-step ``[T, T]`` affinity matrices (float64, on the CPU).

    ``update(matrix)`` adds one step; ``compute()`` returns the mean as a :class:`TaskAffinity`;
    ``state_dict()`` / ``load_state_dict()`` let it travel in a checkpoint
    (``torch.load(weights_only=True)`` compatible: tensors, ints and strings only).
    """

    def __init__(self, task_names: Sequence[str], kind: str) -> None:
        names = [str(n) for n in task_names]
        if not names:
            raise ValueError("AffinityAccumulator needs at least one task name")
        if len(set(names)) != len(names):
            raise ValueError(f"AffinityAccumulator: task names must be unique, got {names}")
        self.task_names = tuple(names)
        self.kind = kind
        self.reset()

    def reset(self) -> None:
        t = len(self.task_names)
        self.total = torch.zeros(t, t, dtype=torch.float64)
        self.count = 0

    def update(self, matrix: Tensor | np.ndarray) -> None:
        arr = check_affinity_matrix(matrix, f"{self.kind} affinity step")
        if arr.shape[0] != len(self.task_names):
            raise ValueError(
                f"{self.kind} affinity step is {arr.shape[0]}x{arr.shape[0]} but the accumulator tracks "
                f"{len(self.task_names)} tasks {list(self.task_names)}"
            )
        self.total += torch.from_numpy(arr)
        self.count += 1

    def compute(self) -> TaskAffinity:
        if self.count == 0:
            raise ValueError(f"no {self.kind} affinity steps accumulated yet: call update() first")
        return TaskAffinity(self.task_names, self.total / self.count, self.count, self.kind)

    def state_dict(self) -> dict[str, Any]:
        return {
            "task_names": list(self.task_names),
            "kind": self.kind,
            "total": self.total.clone(),
            "count": self.count,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        names = tuple(state["task_names"])
        if names != self.task_names:
            raise ValueError(f"affinity state is for tasks {list(names)}, not {list(self.task_names)}")
        total = torch.as_tensor(state["total"], dtype=torch.float64)
        if total.shape != self.total.shape:
            raise ValueError(
                f"affinity state total has shape {tuple(total.shape)}, expected {tuple(self.total.shape)}"
            )
        self.total = total.clone()
        self.count = int(state["count"])
