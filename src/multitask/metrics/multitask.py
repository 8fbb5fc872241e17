"""``MultiTaskMetrics``: one streaming metric per task behind a dict-of-tasks interface."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from torch import Tensor

from multitask.core.tasks import Task, labelled
from multitask.metrics.base import Metric
from multitask.metrics.factory import task_metrics


class MultiTaskMetrics:
    """Holds one metric object per task and routes dicts of predictions and targets to them.

    Args:
        tasks: the tasks (each gets :func:`task_metrics`), or a mapping ``{task name: Metric}``.

    ``update(preds, targets)`` updates the tasks present in the batch: both dicts must have the same
    keys, each a known task (multi-input data sets such as Office-31 feed one task per batch).

    Partial labels: built from tasks, a classification, binary, multilabel or regression task counts only
    the samples whose target is labelled (:func:`multitask.core.tasks.labelled`; for multilabel and
    multi-output regression a sample counts when all its entries are labelled); dense tasks already
    skip their invalid pixels.
    """

    def __init__(self, tasks: Sequence[Task] | Mapping[str, Metric]) -> None:
        metrics: dict[str, Metric] = {}
        self._tasks: dict[str, Task] = {}  # partial labels: which samples are labelled
        if isinstance(tasks, Mapping):
            for name, metric in tasks.items():
                if not isinstance(metric, Metric):
                    raise TypeError(f"task {name!r}: expected a Metric, got {type(metric).__name__}")
                metrics[name] = metric
        else:
            for task in tasks:
                if not isinstance(task, Task):
                    raise TypeError(f"MultiTaskMetrics expects Task objects, got {type(task).__name__}")
                if task.name in metrics:
                    raise ValueError(f"task {task.name!r} is listed twice")
                metrics[task.name] = task_metrics(task)
                self._tasks[task.name] = task
        if not metrics:
            raise ValueError("MultiTaskMetrics needs at least one task")
        self.metrics = metrics

    def update(self, preds: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> None:
        """Update every task that appears in the batch."""
        if set(preds) != set(targets):
            only_p = sorted(set(preds) - set(targets))
            only_t = sorted(set(targets) - set(preds))
            raise ValueError(
                f"predictions and targets name different tasks: only in preds {only_p}, "
                f"only in targets {only_t}"
            )
        unknown = sorted(set(preds) - set(self.metrics))
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; known: {sorted(self.metrics)}")
        for name in preds:
            pred, target = _labelled_only(self._tasks.get(name), preds[name], targets[name])
            if target.shape[0] > 0:  # a batch without a labelled sample of this task adds nothing
                self.metrics[name].update(pred, target)

    def compute(self) -> dict[str, dict[str, float]]:
        """``{task: {metric: value}}`` over everything seen since the last reset."""
        return {name: metric.compute() for name, metric in self.metrics.items()}

    @property
    def higher_is_better(self) -> dict[str, dict[str, bool]]:
        """``{task: {metric: higher is better}}`` in reporting order (the Δm metrics: ``delta_metrics``)."""
        return {name: metric.higher_is_better for name, metric in self.metrics.items()}

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()

    def merge(self, other: MultiTaskMetrics) -> None:
        """Add another collection's statistics (same tasks) into this one."""
        if set(other.metrics) != set(self.metrics):
            raise ValueError(
                f"cannot merge metrics of tasks {sorted(other.metrics)} into {sorted(self.metrics)}"
            )
        for name, metric in self.metrics.items():
            metric.merge(other.metrics[name])

    def __getitem__(self, name: str) -> Metric:
        if name not in self.metrics:
            raise KeyError(f"unknown task {name!r}; known: {sorted(self.metrics)}")
        return self.metrics[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.metrics)

    def __len__(self) -> int:
        return len(self.metrics)

    def __repr__(self) -> str:
        return f"MultiTaskMetrics({', '.join(f'{k}: {type(v).__name__}' for k, v in self.metrics.items())})"


def _labelled_only(task: Task | None, pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Partial labels: the samples of a per-sample task whose target is labelled (all of them otherwise)."""
    if task is None or task.dense or target.dim() == 0:
        return pred, target
    keep = labelled(task, target).reshape(target.shape[0], -1).all(dim=1)
    if bool(keep.all()):
        return pred, target
    return pred[keep], target[keep]
