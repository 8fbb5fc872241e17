"""Task descriptions shared by datasets, models, metrics and the trainer.

A :class:`Task` says what a task predicts (its *kind*), how many outputs the head needs and which
default loss trains it. Kinds and their target conventions:

============== ============== ========================================== ===============================
kind           head outputs   target                                     default loss
============== ============== ========================================== ===============================
classification ``C`` logits   ``long [B]`` class index (``ignore_index``) cross-entropy
binary         1 logit        ``float [B]`` or ``[B, 1]`` in {0, 1}      BCE with logits
multilabel     ``K`` logits   ``float [B, K]`` in {0, 1}                 BCE with logits
regression     ``D`` values   ``float [B, D]`` (or ``[B]`` when D = 1)    MSE
segmentation   ``C`` logits   ``long [B, H, W]``, ``ignore_index`` = -1  pixel cross-entropy
depth          1 channel      ``float [B, 1, H, W]``, 0 = invalid        L1 over valid pixels
normals        3 channels     ``float [B, 3, H, W]``, all-0 = invalid    1 - cosine over valid pixels
edges          1 logit        ``float [B, 1, H, W]`` in {0, 1}           class-balanced BCE with logits
============== ============== ========================================== ===============================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

KINDS = (
    "classification",
    "binary",
    "multilabel",
    "regression",
    "segmentation",
    "depth",
    "normals",
    "edges",
)
DENSE_KINDS = ("segmentation", "depth", "normals", "edges")


@dataclass(frozen=True)
class Task:
    """One task of a multi-task problem.

    Args:
        name: the task's name (the key in prediction and target dicts).
        kind: one of :data:`KINDS`.
        num_outputs: number of head outputs (classes for classification/segmentation, channels otherwise).
        ignore_index: label ignored by classification/segmentation losses and metrics.
    """

    name: str
    kind: str
    num_outputs: int
    ignore_index: int = -1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"task name must be a non-empty string, got {self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(f"task {self.name!r}: unknown kind {self.kind!r}; expected one of {KINDS}")
        if int(self.num_outputs) < 1:
            raise ValueError(f"task {self.name!r}: num_outputs must be >= 1, got {self.num_outputs}")

    @property
    def dense(self) -> bool:
        """True for per-pixel tasks."""
        return self.kind in DENSE_KINDS

    def loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """The default training loss of this task's kind (a scalar mean)."""
        return task_loss(self, pred, target)


def task_loss(task: Task, pred: Tensor, target: Tensor) -> Tensor:
    """Default loss for ``task`` (see the table in the module docstring)."""
    kind = task.kind
    if kind in ("classification", "segmentation"):
        if pred.shape[-2:] != target.shape[-2:] and kind == "segmentation":
            pred = F.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)
        return F.cross_entropy(pred, target.long(), ignore_index=task.ignore_index)
    if kind in ("binary", "multilabel"):
        return F.binary_cross_entropy_with_logits(pred.reshape(target.shape), target.float())
    if kind == "regression":
        return F.mse_loss(pred.reshape(target.shape), target.float())
    pred = _match_size(pred, target)
    if kind == "depth":
        valid = target != 0
        return _masked_mean((pred - target).abs(), valid, task)
    if kind == "normals":
        valid = (target != 0).any(dim=1, keepdim=True)
        pred_n = F.normalize(pred, dim=1)
        cos = (pred_n * target).sum(dim=1, keepdim=True)
        return _masked_mean(1.0 - cos, valid, task)
    if kind == "edges":
        target = target.float()
        pos = target.mean().clamp(1e-6, 1 - 1e-6)
        weight = torch.where(target > 0.5, 1.0 - pos, pos)
        return F.binary_cross_entropy_with_logits(pred, target, weight=weight) * 2.0
    raise ValueError(f"task {task.name!r}: no default loss for kind {kind!r}")


def _match_size(pred: Tensor, target: Tensor) -> Tensor:
    if pred.shape[-2:] != target.shape[-2:]:
        pred = F.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)
    return pred


def _masked_mean(values: Tensor, valid: Tensor, task: Task) -> Tensor:
    mask = valid.expand_as(values).to(values.dtype)
    count = mask.sum()
    # an all-invalid batch contributes zero loss (and zero gradient), not NaN
    return (values * mask).sum() / count.clamp_min(1.0)
