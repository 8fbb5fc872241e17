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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
        metric_options: keyword arguments of the task's default metric object, set by the dataset that
            knows how its targets are scored (e.g. ``{"thin_truth": True}`` for edge maps whose true
            boundaries are two pixels wide); a mapping is stored as sorted ``(key, value)`` pairs.
    """

    name: str
    kind: str
    num_outputs: int
    ignore_index: int = -1
    metric_options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"task name must be a non-empty string, got {self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(f"task {self.name!r}: unknown kind {self.kind!r}; expected one of {KINDS}")
        if int(self.num_outputs) < 1:
            raise ValueError(f"task {self.name!r}: num_outputs must be >= 1, got {self.num_outputs}")
        options = self.metric_options
        pairs = tuple(sorted(options.items())) if isinstance(options, Mapping) else tuple(options)
        if not all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in pairs):
            raise ValueError(f"task {self.name!r}: metric_options must map names to values, got {options!r}")
        object.__setattr__(self, "metric_options", pairs)

    @property
    def dense(self) -> bool:
        """True for per-pixel tasks."""
        return self.kind in DENSE_KINDS

    def loss(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        """The default training loss of this task's kind, averaged over the labelled entries."""
        return task_loss(self, pred, target, mask)


def task_loss(task: Task, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Default loss for ``task`` (see the table in the module docstring), a mean over labelled entries.

    Partial labels: an entry is unlabelled when ``mask`` (bool, ``[B]`` per sample or the target's shape)
    is ``False`` there, or when it holds the kind's missing value: ``ignore_index`` for classification,
    segmentation, binary, multilabel and edges targets, NaN for every float target, 0 for depth, an all-0
    vector for normals. The loss averages over the labelled entries only; with none it is an exact 0 that
    still depends on ``pred`` (zero gradient, never NaN); :func:`label_count` says how many there are.
    """
    values, valid = _elementwise(task, pred, target, mask)
    count = valid.sum()
    return (values * valid.to(values.dtype)).sum() / count.clamp_min(1).to(values.dtype)


def labelled(task: Task, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Bool tensor: which target entries are labelled (per sample, per pixel or per entry)."""
    kind = task.kind
    if kind in ("classification", "segmentation"):
        valid = target != task.ignore_index
    elif kind == "normals":
        finite = torch.isfinite(target).all(dim=1, keepdim=True)
        valid = finite & (torch.nan_to_num(target) != 0).any(dim=1, keepdim=True)
    else:
        valid = torch.isfinite(target)
        if kind == "depth":
            valid = valid & (target != 0)
        elif kind in ("binary", "multilabel", "edges"):
            valid = valid & (target != task.ignore_index)
    if mask is not None:
        valid = valid & _broadcast_mask(task, mask, valid)
    return valid


def label_count(task: Task, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Number of labelled target entries (a 0-dim tensor, no host synchronisation)."""
    return labelled(task, target, mask).sum()


def _broadcast_mask(task: Task, mask: Tensor, like: Tensor) -> Tensor:
    if not isinstance(mask, Tensor):
        raise TypeError(f"task {task.name!r}: the label mask must be a tensor, got {type(mask).__name__}")
    mask = mask.to(device=like.device).bool()
    if mask.shape == like.shape:
        return mask
    if mask.dim() == 1 and mask.shape[0] == like.shape[0]:
        return mask.reshape(-1, *([1] * (like.dim() - 1))).expand_as(like)
    raise ValueError(
        f"task {task.name!r}: label mask of shape {tuple(mask.shape)} fits neither the batch "
        f"({like.shape[0]},) nor the target {tuple(like.shape)}"
    )


def _elementwise(task: Task, pred: Tensor, target: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """Unreduced loss values and the bool mask of labelled entries (broadcastable to the values)."""
    kind = task.kind
    valid = labelled(task, target, mask)
    if kind in ("classification", "segmentation"):
        if kind == "segmentation" and pred.shape[-2:] != target.shape[-2:]:
            pred = F.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)
        target = torch.where(valid, target.long(), torch.full_like(target.long(), task.ignore_index))
        return F.cross_entropy(pred, target, ignore_index=task.ignore_index, reduction="none"), valid
    clean = torch.where(valid, target.float(), torch.zeros_like(target, dtype=torch.float32))
    if kind in ("binary", "multilabel"):
        logits = pred.reshape(target.shape)
        return F.binary_cross_entropy_with_logits(logits, clean.to(logits.dtype), reduction="none"), valid
    if kind == "regression":
        out = pred.reshape(target.shape)
        return (out - clean.to(out.dtype)) ** 2, valid
    pred = _match_size(pred, target)
    clean = clean.to(pred.dtype)
    if kind == "depth":
        return (pred - clean).abs(), valid
    if kind == "normals":
        cos = (F.normalize(pred, dim=1) * clean).sum(dim=1, keepdim=True)
        return 1.0 - cos, valid
    if kind == "edges":
        v = valid.to(clean.dtype)
        pos = ((clean * v).sum() / v.sum().clamp_min(1.0)).clamp(1e-6, 1 - 1e-6)
        weight = torch.where(clean > 0.5, 1.0 - pos, pos)
        return 2.0 * F.binary_cross_entropy_with_logits(pred, clean, weight=weight, reduction="none"), valid
    raise ValueError(f"task {task.name!r}: no default loss for kind {kind!r}")


def _match_size(pred: Tensor, target: Tensor) -> Tensor:
    if pred.shape[-2:] != target.shape[-2:]:
        pred = F.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)
    return pred
