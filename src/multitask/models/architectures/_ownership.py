"""Parameter partition by ownership, shared by the expert-mixture, distillation and FiLM architectures.

A subclass keeps every task-specific module in a :class:`torch.nn.ModuleList` (or parameter in a
:class:`torch.nn.ParameterList`) indexed by task position (``self.heads[i]`` belongs to
``self.tasks[i]``) and names those lists in ``_task_containers``.
``task_parameters(task)`` yields the parameters of the task's entries; ``shared_parameters()`` yields
every other parameter, so the two partition ``parameters()`` exactly. Task-position lists (instead of
dicts keyed by name) keep any task name valid as a key and keep ``state_dict`` keys unique.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.base import MultiTaskModel


class TaskOwnedModel(MultiTaskModel):
    """A :class:`MultiTaskModel` whose task parameters live in task-indexed ``ModuleList`` containers."""

    #: attribute names of ``nn.ModuleList`` containers indexed by task position
    _task_containers: ClassVar[tuple[str, ...]] = ()

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        index = self.task_names.index(task)
        seen: set[int] = set()
        for name in self._task_containers:
            container = getattr(self, name)
            entry = container[index]
            params = [entry] if isinstance(entry, nn.Parameter) else entry.parameters()
            for p in params:
                if id(p) not in seen:
                    seen.add(id(p))
                    yield p

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        owned = {id(p) for t in self.task_names for p in self.task_parameters(t)}
        for p in self.parameters():
            if id(p) not in owned:
                yield p


def check_in_channels(in_channels: int, model: str) -> int:
    """Validate ``in_channels`` (image channels, or the feature count of vector inputs)."""
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"{model}: in_channels must be a positive int, got {in_channels!r}")
    return in_channels


def check_positive(value: int, field: str, model: str) -> int:
    """Validate a positive integer hyper-parameter, naming it in the error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{model}: {field} must be a positive int, got {value!r}")
    return value


def finish_prediction(pred: Tensor, task: Task, size: tuple[int, int] | None) -> Tensor:
    """Bring a dense prediction to the input's spatial ``size`` (bilinear); other kinds pass through."""
    if task.dense and size is not None and pred.dim() == 4 and tuple(pred.shape[-2:]) != tuple(size):
        pred = F.interpolate(pred, size=size, mode="bilinear", align_corners=False)
    return pred


def head_kinds(head: str | Mapping[str, str] | None, tasks: Sequence[Task], model: str) -> list[str | None]:
    """Per-task head kinds from ``head``: one kind for all tasks, a ``{task: kind}`` mapping, or None."""
    if head is None or isinstance(head, str):
        return [head] * len(tasks)
    if not isinstance(head, Mapping):
        raise TypeError(
            f"{model}: head must be a kind name or a {{task: kind}} mapping, got {type(head).__name__}"
        )
    unknown = sorted(set(head) - {t.name for t in tasks})
    if unknown:
        raise ValueError(f"{model}: head names unknown task(s) {unknown}")
    return [head.get(t.name) for t in tasks]
