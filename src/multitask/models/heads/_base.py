"""The head registry and ``create_head``: one task's output layer, chosen by the task's kind."""

from __future__ import annotations

from typing import Any

from torch import nn

from multitask._registry import Registry
from multitask.core.tasks import Task

HEADS: Registry[nn.Module] = Registry("head")
register_head = HEADS.register

#: which head kinds fit which task kinds
DENSE_HEADS = ("conv", "aspp", "segnet")
VECTOR_HEADS = ("linear", "mlp")


def create_head(task: Task, in_channels: int, kind: str | None = None, **kwargs: Any) -> nn.Module:
    """Build the head of ``task`` on ``in_channels`` features.

    ``kind`` defaults to ``"linear"`` for classification / binary / multilabel / regression tasks (a
    ``[B, C, H, W]`` input is global-average-pooled first) and to ``"conv"`` for dense tasks. The head
    outputs ``task.num_outputs`` values (vector tasks) or channels (dense tasks, at the feature map's
    resolution: architectures upsample to the input size).
    """
    if not isinstance(task, Task):
        raise TypeError(f"create_head expects a Task, got {type(task).__name__}")
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"task {task.name!r}: head in_channels must be a positive int, got {in_channels!r}")
    if kind is None:
        kind = "conv" if task.dense else "linear"
    allowed = DENSE_HEADS if task.dense else VECTOR_HEADS
    if kind in HEADS and kind not in allowed:
        raise ValueError(
            f"task {task.name!r} (kind {task.kind!r}): head {kind!r} does not fit; use one of {allowed}"
        )
    return HEADS.create(kind, in_channels=in_channels, out_channels=int(task.num_outputs), **kwargs)


def list_heads(pattern: str | None = None) -> list[str]:
    """Registered head kinds."""
    return HEADS.names(pattern)
