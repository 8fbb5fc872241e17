"""Confusion-matrix counting shared by the classification and segmentation metrics."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from multitask.metrics.base import Metric


class ConfusionMetric(Metric):
    """A metric accumulated in one ``[C, C]`` confusion matrix (rows: true class, columns: predicted).

    Holds ``num_classes`` and ``ignore_index``, the zeroed matrix and its read-only copy; subclasses
    add :meth:`update` and :meth:`compute`. ``_kind`` names the task kind in the constructor's error.
    """

    _kind: ClassVar[str] = "a confusion-matrix metric"

    def __init__(self, num_classes: int, ignore_index: int = -1, task: str = "task") -> None:
        if int(num_classes) < 2:
            raise ValueError(f"task {task!r}: {self._kind} needs num_classes >= 2, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        super().__init__(task)

    def _initial_state(self) -> dict[str, Tensor]:
        return {"confusion": torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)}

    def _config(self) -> tuple[int, int]:
        return (self.num_classes, self.ignore_index)

    @property
    def confusion_matrix(self) -> Tensor:
        """The accumulated ``[C, C]`` confusion matrix (a copy; rows true, columns predicted)."""
        return self._state["confusion"].clone()

    def _add_batch(self, labels: Tensor, target: Tensor) -> None:
        """Add one batch's predicted ``labels`` against ``target`` to the matrix."""
        self._add(confusion=confusion_counts(self.task, labels, target, self.num_classes, self.ignore_index))


def confusion_counts(task: str, pred: Tensor, target: Tensor, num_classes: int, ignore_index: int) -> Tensor:
    """The ``[C, C]`` confusion matrix of one batch (rows: true class, columns: predicted class).

    ``pred`` and ``target`` are integer label tensors of the same shape; entries whose target equals
    ``ignore_index`` are skipped. Targets or predictions outside ``[0, C)`` raise a ``ValueError``.
    The counting runs on the tensors' device (one ``bincount``); the result is an ``int64`` tensor there.
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"task {task!r}: predicted labels {tuple(pred.shape)} and targets "
            f"{tuple(target.shape)} differ in shape"
        )
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(f"task {task!r}: class targets must be an integer tensor, got {target.dtype}")
    target = target.reshape(-1).long()
    pred = pred.reshape(-1).long()
    keep = target != ignore_index
    target, pred = target[keep], pred[keep]
    if target.numel():
        lo, hi = int(target.min()), int(target.max())
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"task {task!r}: target class {bad} outside [0, {num_classes}) "
                f"(and not the ignore_index {ignore_index})"
            )
        plo, phi = int(pred.min()), int(pred.max())
        if plo < 0 or phi >= num_classes:
            raise ValueError(
                f"task {task!r}: predicted class {plo if plo < 0 else phi} outside [0, {num_classes})"
            )
    flat = target * num_classes + pred
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def labels_from(task: str, pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Class labels from ``pred``: logits with classes at dim 1 (argmax), or labels shaped like the target."""
    if not pred.is_floating_point():
        if pred.shape != target.shape:
            raise ValueError(
                f"task {task!r}: integer predictions must be labels shaped like the target "
                f"{tuple(target.shape)}, got {tuple(pred.shape)}"
            )
        return pred
    if pred.dim() != target.dim() + 1 or pred.shape[1] != num_classes:
        raise ValueError(
            f"task {task!r}: logits must have shape [B, {num_classes}, ...] matching target "
            f"{tuple(target.shape)}, got {tuple(pred.shape)}"
        )
    return pred.argmax(dim=1)
