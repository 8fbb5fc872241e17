"""Partial labels on any dataset: keep a reproducible fraction of each task's labels.

``label_fraction(dataset, 0.1)`` keeps the labels of 10 % of the samples for every task (a different,
independent subset per task); ``label_fraction(dataset, {"right": 0.1})`` drops labels of one task only.
A dropped label is replaced by the task's missing value (see :func:`missing_target`), which the default
losses (:func:`multitask.core.tasks.task_loss`), the trainer and the metrics skip.

Reproducible and nested: the labelled samples of a task are the first ``round(f N)`` entries of a
permutation drawn from ``(seed, task name)``, so the same seed gives the same subset on every run and
platform, and a smaller fraction keeps a subset of a larger one's labels (10 % ⊂ 50 % ⊂ 100 %).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task

__all__ = ["LabelFraction", "label_fraction", "labelled_indices", "missing_target"]


def missing_target(task: Task, target: Any) -> Tensor:
    """A target of the same shape and dtype that marks every entry of ``target`` as unlabelled."""
    t = torch.as_tensor(target)
    if task.kind in ("depth", "normals"):
        return torch.zeros_like(t)
    if t.is_floating_point():
        return torch.full_like(t, float("nan"))
    return torch.full_like(t, task.ignore_index)


def labelled_indices(n: int, fraction: float, seed: int, task: str) -> Tensor:
    """Sorted indices of the ``round(fraction n)`` samples that keep ``task``'s label."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + zlib.crc32(task.encode("utf-8")))
    order = torch.randperm(n, generator=g)
    return order[: int(round(fraction * n))].sort().values


class LabelFraction(Dataset):
    """A dataset whose items keep each task's label for a fixed, reproducible fraction of the samples.

    Args:
        dataset: a multi-task dataset (items ``(input, {task: target})``, a ``tasks`` list).
        fraction: one fraction in ``[0, 1]`` for every task, or ``{task: fraction}`` (tasks not named keep
            all their labels).
        seed: seed of the draw (the task name is mixed in, so tasks get independent subsets).
    """

    def __init__(self, dataset: Any, fraction: float | Mapping[str, float], seed: int = 0) -> None:
        tasks = list(getattr(dataset, "tasks", []))
        if not tasks or not all(isinstance(t, Task) for t in tasks):
            raise TypeError(
                f"label_fraction needs a dataset with a `tasks` list, got {type(dataset).__name__}"
            )
        if getattr(dataset, "multi_input", False):
            raise ValueError(
                "label_fraction: a multi-input dataset (one dataset per task) has no missing labels per "
                "task; subsample its domains instead"
            )
        names = [t.name for t in tasks]
        if isinstance(fraction, Mapping):
            unknown = sorted(set(fraction) - set(names))
            if unknown:
                raise ValueError(
                    f"label_fraction: unknown task(s) {unknown}; the dataset's tasks are {names}"
                )
            fractions = {name: fraction.get(name, 1.0) for name in names}
        else:
            fractions = {name: fraction for name in names}
        for name, f in fractions.items():
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 <= float(f) <= 1.0:
                raise ValueError(
                    f"label_fraction: the fraction of task {name!r} must be in [0, 1], got {f!r}"
                )
        self.dataset, self.tasks, self.seed = dataset, tasks, int(seed)
        self.fractions = {k: float(v) for k, v in fractions.items()}
        n = len(dataset)
        self.keep: dict[str, Tensor] = {}
        for task in tasks:
            mask = torch.zeros(n, dtype=torch.bool)
            mask[labelled_indices(n, self.fractions[task.name], self.seed, task.name)] = True
            self.keep[task.name] = mask

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        x, targets = self.dataset[index]
        out = dict(targets)
        for task in self.tasks:
            if task.name in out and not bool(self.keep[task.name][index]):
                out[task.name] = missing_target(task, out[task.name])
        return x, out

    def __getattr__(self, name: str) -> Any:  # other attributes (e.g. class names) of the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


def label_fraction(dataset: Any, fraction: float | Mapping[str, float], seed: int = 0) -> LabelFraction:
    """``dataset`` with a reproducible fraction of each task's labels kept (see :class:`LabelFraction`)."""
    return LabelFraction(dataset, fraction, seed)
