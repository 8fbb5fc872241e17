"""The streaming-metric base class and the helpers the per-kind metrics share.

A metric object sees one batch at a time through ``update(pred, target)``, keeps additive sufficient
statistics (counts, sums, confusion matrices, histograms) in ``float64``/``int64`` tensors on the CPU, and
turns them into numbers with ``compute()``. The per-batch reductions run on the tensors' own device (in
``float64`` where the device supports it), so only a handful of numbers cross to the CPU per batch.

Because the statistics are dataset-level sums, every metric is *exact over the whole data set* (e.g. the
RMSE is the root of the mean over all valid pixels, not a mean of per-batch RMSEs), streaming several
batches gives the same result as one batch holding all of them, and two metric objects that saw disjoint
parts of the data can be combined with :meth:`Metric.merge` (e.g. across data-parallel workers).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor


class Metric(ABC):
    """A streaming metric for one task.

    Subclasses declare ``_higher`` (metric name -> higher is better, in reporting order), build their
    zeroed statistics in :meth:`_initial_state` and implement :meth:`update` and :meth:`compute`. Where a
    published Δm convention defines this task's metrics differently from "the first metric" /
    "every metric", the subclass says so in ``_main`` (the main metric of the Vandenhende survey's Δm)
    and ``_convention_metrics`` (``{convention: metric names}`` for ``nashmtl`` / ``libmtl``);
    :mod:`multitask.metrics.delta` reads them through :meth:`delta_metrics`.

    Args:
        task: the task's name, used in error messages.
    """

    #: metric name -> True when a higher value is better; the first entry is the main metric
    _higher: ClassVar[dict[str, bool]] = {}
    #: the main metric of the Vandenhende survey's Δm; ``None`` = the first key of ``_higher``
    _main: ClassVar[str | None] = None
    #: ``{convention: metrics}`` where ``nashmtl``/``libmtl`` count other than every reported metric
    _convention_metrics: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, task: str = "task") -> None:
        if not isinstance(task, str) or not task:
            raise ValueError(f"metric task name must be a non-empty string, got {task!r}")
        self.task = task
        self._state: dict[str, Tensor] = {}
        self.reset()

    # ---- public API ------------------------------------------------------------------------------
    @property
    def higher_is_better(self) -> dict[str, bool]:
        """Metric name -> whether higher is better, in the order :meth:`compute` reports them."""
        return dict(self._higher)

    @property
    def main(self) -> str:
        """Name of the main metric: the one the Maninis/Vandenhende Δm uses (see :meth:`delta_metrics`)."""
        return self.delta_metrics("vandenhende")[0]

    @classmethod
    def delta_metrics(cls, convention: str) -> tuple[str, ...]:
        """The metrics this task contributes to Δm in ``convention``.

        ``"vandenhende"``: the one main metric (``_main``, else the first reported metric);
        ``"nashmtl"`` / ``"libmtl"``: ``_convention_metrics[convention]``, else every reported metric.
        """
        if convention == "vandenhende":
            return (cls._main if cls._main is not None else next(iter(cls._higher)),)
        return tuple(cls._convention_metrics.get(convention, tuple(cls._higher)))

    def reset(self) -> None:
        """Forget everything seen so far."""
        self._state = self._initial_state()

    @abstractmethod
    def update(self, pred: Tensor, target: Tensor) -> None:
        """Accumulate the statistics of one batch."""

    @abstractmethod
    def compute(self) -> dict[str, float]:
        """The metrics over everything seen since the last :meth:`reset`."""

    def merge(self, other: Metric) -> None:
        """Add the statistics of ``other`` (same class and settings) into this metric, in place."""
        self._check_mergeable(other)
        for key, value in other._state.items():
            self._state[key] += value

    # ---- for subclasses --------------------------------------------------------------------------
    @abstractmethod
    def _initial_state(self) -> dict[str, Tensor]:
        """Zeroed statistics (CPU tensors, ``float64`` or ``int64``)."""

    def _config(self) -> tuple[Any, ...]:
        """Settings that must agree for two metrics to be merged."""
        return ()

    def _check_mergeable(self, other: Metric) -> None:
        if type(other) is not type(self):
            raise TypeError(
                f"task {self.task!r}: cannot merge a {type(other).__name__} into a {type(self).__name__}"
            )
        if other._config() != self._config():
            raise ValueError(
                f"task {self.task!r}: cannot merge metrics with different settings "
                f"{other._config()} and {self._config()}"
            )

    def _add(self, **values: Tensor) -> None:
        """Add per-batch statistics (on any device) to the CPU accumulators."""
        for key, value in values.items():
            acc = self._state[key]
            self._state[key] = acc + value.detach().to(device="cpu", dtype=acc.dtype)

    def _require_data(self, count: float) -> None:
        if count <= 0:
            raise ValueError(
                f"task {self.task!r}: {type(self).__name__}.compute() called before any valid sample "
                f"was seen (call update() first, and check the targets' invalid/ignore masks)"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r})"


# ---- shared helpers --------------------------------------------------------------------------------
def float_dtype(device: torch.device) -> torch.dtype:
    """``float64`` for per-batch reductions, except on devices without it (Apple MPS: ``float32``)."""
    return torch.float32 if device.type == "mps" else torch.float64


def check_tensors(task: str, pred: Any, target: Any) -> None:
    """Both arguments are tensors with the same batch size."""
    for label, value in (("pred", pred), ("target", target)):
        if not isinstance(value, Tensor):
            raise TypeError(f"task {task!r}: {label} must be a torch.Tensor, got {type(value).__name__}")
    if pred.dim() == 0 or target.dim() == 0:
        raise ValueError(f"task {task!r}: pred and target need a batch dimension, got scalars")
    if pred.shape[0] != target.shape[0]:
        raise ValueError(
            f"task {task!r}: pred has batch size {pred.shape[0]} but target has {target.shape[0]} "
            f"(pred {tuple(pred.shape)}, target {tuple(target.shape)})"
        )


def check_dense(task: str, pred: Tensor, target: Tensor, channels: int) -> Tensor:
    """Validate ``[B, channels, H, W]`` pred/target and resize pred to the target's size if needed.

    A prediction whose spatial size differs from the target's is resized bilinearly
    (``align_corners=False``), as the default losses in :mod:`multitask.core.tasks` do.
    """
    check_tensors(task, pred, target)
    for label, value in (("pred", pred), ("target", target)):
        if value.dim() != 4 or value.shape[1] != channels:
            raise ValueError(
                f"task {task!r}: {label} must have shape [B, {channels}, H, W], got {tuple(value.shape)}"
            )
    if not pred.is_floating_point():
        raise TypeError(f"task {task!r}: pred must be a floating tensor, got {pred.dtype}")
    return resize_like(pred, target)


def resize_like(pred: Tensor, target: Tensor) -> Tensor:
    """Bilinearly resize ``pred`` ([B, C, h, w]) to the spatial size of ``target`` when they differ."""
    if pred.shape[-2:] != target.shape[-2:]:
        pred = F.interpolate(
            pred.float(), size=tuple(target.shape[-2:]), mode="bilinear", align_corners=False
        )
    return pred


def f1_from_counts(tp: float, fp: float, fn: float) -> float:
    """F1 = 2TP / (2TP + FP + FN) = 2PR / (P + R); 0 when undefined (scikit-learn's ``zero_division=0``)."""
    denom = 2.0 * tp + fp + fn
    return float(2.0 * tp / denom) if denom > 0 else 0.0


def macro_f1(tp: Tensor, fp: Tensor, fn: Tensor) -> float:
    """Mean F1 over the classes/labels with ``TP + FP + FN > 0`` (others have no F1); 0 if none."""
    present = (tp + fp + fn) > 0
    scores = [
        f1_from_counts(float(a), float(b), float(c)) for a, b, c in zip(tp[present], fp[present], fn[present])
    ]
    return sum(scores) / len(scores) if scores else 0.0


def ratio(num: float, den: float) -> float:
    """``num / den`` as a float, 0 when ``den`` is 0 (precision/recall with nothing predicted or present)."""
    return float(num / den) if den > 0 else 0.0
