"""A subset of a dataset's tasks: train one network on some of the tasks of a many-task dataset.

Task grouping trains *one network per selected group* (Standley et al., ICML 2020; Fifty et al., TAG,
NeurIPS 2021), each on the group's tasks only, helper tasks included. ``select_tasks(dataset, ["b",
"a"])`` keeps tasks ``b`` and ``a`` in that order: its ``tasks`` list is the subset, each item carries the
subset's targets only, and a multi-input dataset (``multi_input = True``, one dataset per task in
``domains``) keeps the subset's domains. The trainer applies it for ``data.tasks`` (so the model's heads,
the losses, the metrics and the Δm all follow the subset); other attributes of the wrapped dataset (class
names, statistics) are passed through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset

from multitask.core.tasks import Task

__all__ = ["TaskSubset", "select_tasks"]


class TaskSubset(Dataset):
    """``dataset`` restricted to the tasks ``names`` (in that order); see the module docstring.

    Args:
        dataset: a multi-task dataset (items ``(input, {task: target})``, a ``tasks`` list of
            :class:`~multitask.core.tasks.Task`).
        names: the tasks to keep: a non-empty sequence of distinct names of ``dataset``'s tasks.
        where: how errors name the option (default ``"select_tasks"``; the trainer says
            ``"config key 'data.tasks'"``).
    """

    def __init__(self, dataset: Any, names: Sequence[str], where: str = "select_tasks") -> None:
        tasks = list(getattr(dataset, "tasks", None) or [])
        if not tasks or not all(isinstance(t, Task) for t in tasks):
            raise TypeError(f"{where}: needs a dataset with a `tasks` list, got {type(dataset).__name__}")
        if isinstance(names, (str, bytes)) or not isinstance(names, Sequence) or not names:
            raise ValueError(f"{where}: expected a non-empty list of task names, got {names!r}")
        if not all(isinstance(n, str) for n in names):
            raise ValueError(f"{where}: task names must be strings, got {list(names)!r}")
        by_name = {t.name: t for t in tasks}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(f"{where}: unknown task(s) {unknown}; the dataset's tasks are {list(by_name)}")
        repeated = sorted({n for n in names if list(names).count(n) > 1})
        if repeated:
            raise ValueError(f"{where}: task(s) {repeated} listed more than once")
        self.dataset = dataset
        self.tasks = [by_name[n] for n in names]
        self.task_names = [t.name for t in self.tasks]
        if getattr(dataset, "multi_input", False):
            domains = getattr(dataset, "domains", None)
            if isinstance(domains, dict):  # a malformed one is reported by the trainer's loader
                self.domains = {n: domains[n] for n in self.task_names if n in domains}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        x, targets = self.dataset[index]
        if not isinstance(targets, dict):  # let the trainer's item check report the shape
            return x, targets
        return x, {n: targets[n] for n in self.task_names if n in targets}

    def __getattr__(self, name: str) -> Any:  # other attributes (class names, statistics, multi_input)
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


def select_tasks(dataset: Any, names: Sequence[str], where: str = "select_tasks") -> TaskSubset:
    """``dataset`` with only the tasks ``names``, in that order (see :class:`TaskSubset`)."""
    return TaskSubset(dataset, names, where)
