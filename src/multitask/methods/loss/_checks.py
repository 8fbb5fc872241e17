"""Input checks and epoch bookkeeping shared by the loss weightings (private: no registered method)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor

from multitask.methods.base import LossWeighting


def task_label(task_names: Sequence[str], index: int) -> str:
    """The name of task ``index`` (its position when no name is known)."""
    return str(task_names[index]) if index < len(task_names) else str(index)


def check_losses(
    method: str, losses: Tensor, task_names: Sequence[str], num_tasks: int | None = None
) -> None:
    """Validate a loss vector: a floating ``[T]`` tensor, the expected ``T``, all entries finite.

    Raises:
        TypeError: ``losses`` is not a floating tensor.
        ValueError: wrong shape or length, or a non-finite loss (the message names the task).
    """
    if not isinstance(losses, Tensor):
        raise TypeError(f"{method}: the losses must be a torch.Tensor, got {type(losses).__name__}")
    if not losses.is_floating_point():
        raise TypeError(f"{method}: the losses must be floating point, got {losses.dtype}")
    if losses.dim() != 1 or losses.numel() == 0:
        raise ValueError(
            f"{method}: the losses must be a non-empty vector [T], got shape {tuple(losses.shape)}"
        )
    if num_tasks is not None and losses.numel() != num_tasks:
        raise ValueError(
            f"{method}: built for num_tasks={num_tasks}, got {losses.numel()} losses "
            f"(tasks {list(task_names)})"
        )
    values = losses.detach()
    bad = (~torch.isfinite(values)).nonzero().flatten().tolist()
    if bad:
        i = bad[0]
        raise ValueError(
            f"{method}: the loss of task {task_label(task_names, i)!r} is not finite: {values[i].item()}"
        )


def check_nonnegative(
    method: str, losses: Tensor, task_names: Sequence[str], floor: Tensor | None = None
) -> None:
    """Raise ``ValueError`` naming the first task whose loss is below ``floor`` (default 0).

    For the methods that take the logarithm of the losses (or of the losses minus an offset ``floor``).
    """
    values = losses.detach()
    lower = torch.zeros_like(values) if floor is None else floor.detach().to(values).expand_as(values)
    low = (values < lower).nonzero().flatten().tolist()
    if low:
        i = low[0]
        raise ValueError(
            f"{method}: the loss of task {task_label(task_names, i)!r} is {values[i].item()}, below "
            f"{lower[i].item()}; {method} takes the logarithm of the losses"
            + (" minus their offsets" if floor is not None else "")
            + ", so they must not be lower"
        )


def check_num_tasks(method: str, num_tasks: int) -> int:
    """Validate the ``num_tasks`` constructor argument."""
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, int):
        raise TypeError(f"{method}: num_tasks must be an int, got {type(num_tasks).__name__}")
    if num_tasks < 1:
        raise ValueError(f"{method}: num_tasks must be >= 1, got {num_tasks}")
    return num_tasks


def require_num_tasks(method: str, name: str, num_tasks: int | None, state: str, *, optimizer: bool) -> int:
    """``num_tasks`` of a method whose learnable state has one entry per task (``None``: a clear error).

    Args:
        method: the class name, for messages.
        name: its registry name (``create_method(name, num_tasks=T)``).
        num_tasks: the constructor argument.
        state: what has one entry per task (e.g. ``"log-variances"``).
        optimizer: whether that state is ``nn.Parameter``s the user's optimizer must update.

    Raises:
        TypeError: ``num_tasks`` is missing (or not an int), saying what to pass.
        ValueError: ``num_tasks < 1``.
    """
    if num_tasks is None:
        where = (
            "must exist before the optimizer is built, and method.parameters() must go to the optimizer "
            "together with the model's parameters"
            if optimizer
            else "are created at construction"
        )
        raise TypeError(
            f"{method} needs num_tasks=T, the number of tasks: its {state} (one per task) {where}. "
            f"Build it as {method}(num_tasks=T) or create_method({name!r}, num_tasks=T) "
            "(the trainer passes num_tasks itself)"
        )
    return check_num_tasks(method, num_tasks)


class EpochAveragedWeighting(LossWeighting):
    """Base of the loss weightings that average each task's training loss over an epoch (DWA, STCH).

    :meth:`record` adds one step's detached losses to the epoch's per-task sums; a subclass's
    ``on_epoch_end`` reads the epoch's sums and counts (:meth:`_epoch_sums`) and starts the next epoch
    (:meth:`_clear_epoch`). A task absent from a step (partial labels) is averaged over the steps where it
    was present. ``_label`` names the method in error messages.
    """

    _label: ClassVar[str] = "EpochAveragedWeighting"
    epoch_sum: list[float] | None
    task_counts: list[int] | None
    epoch_count: int

    def record(
        self, losses: Tensor, present: Sequence[int] | None = None, num_tasks: int | None = None
    ) -> None:
        """Add one step's loss values to the current epoch's average (``present``: their task indices
        among ``num_tasks`` when some tasks are absent)."""
        values = [float(v) for v in torch.as_tensor(losses).detach().reshape(-1).tolist()]
        total = len(values) if present is None else int(num_tasks if num_tasks is not None else len(values))
        index = list(range(len(values))) if present is None else [int(i) for i in present]
        if self.epoch_sum is None:
            self.epoch_sum = [0.0] * total
            self.task_counts = [0] * total
        if total != len(self.epoch_sum):
            raise ValueError(f"{self._label}: got {total} tasks, earlier steps had {len(self.epoch_sum)}")
        counts = self.task_counts if self.task_counts is not None else [self.epoch_count] * total
        for i, v in zip(index, values):
            self.epoch_sum[i] += v
            counts[i] += 1
        self.task_counts = counts
        self.epoch_count += 1

    def _epoch_sums(self) -> tuple[list[float], list[int]]:
        """The closing epoch's per-task loss sums and the steps each task was present in."""
        if self.epoch_sum is None or self.epoch_count == 0:
            raise ValueError(
                f"{self._label}: on_epoch_end() called but no losses were recorded in this epoch"
            )
        return self.epoch_sum, self.task_counts or [self.epoch_count] * len(self.epoch_sum)

    def _clear_epoch(self) -> None:
        self.epoch_sum = None
        self.task_counts = None
        self.epoch_count = 0


class FrozenParameterWatch:
    """Warn once when a method's learnable parameters have not moved after ``steps`` optimiser steps.

    Call :meth:`check` at the start of every objective call: the first call stores the values, the call
    after ``steps`` more compares them (one comparison in all, so no per-step cost). Parameters that never
    change were left out of the optimizer, and the method then keeps its initial weights.
    """

    def __init__(self, steps: int = 3) -> None:
        self.steps = steps
        self.calls = 0
        self.snapshot: list[Tensor] | None = None
        self.done = False

    def check(self, method: str, params: Sequence[Tensor], what: str) -> None:
        if self.done:
            return
        if self.snapshot is None:
            self.snapshot = [p.detach().clone() for p in params]
            return
        self.calls += 1
        if self.calls < self.steps:
            return
        self.done = True
        unchanged = all(torch.equal(a, p.detach()) for a, p in zip(self.snapshot, params))
        self.snapshot = None
        if unchanged:
            warnings.warn(
                f"{method}: its learnable {what} have not changed in {self.steps} steps; give "
                "method.parameters() to the optimizer (e.g. torch.optim.Adam([*model.parameters(), "
                f"*method.parameters()])), otherwise {method} keeps its initial weights",
                stacklevel=3,
            )
