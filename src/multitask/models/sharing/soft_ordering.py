"""Soft layer ordering: each task mixes a shared pool of same-shaped layers in its own soft order."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._common import (
    BackboneSpec,
    HeadSpec,
    build_backbone,
    build_heads,
    check_tasks,
    parameters_of,
    to_size,
)
from multitask.models.backbones._layers import conv_bn_relu
from multitask.models.base import MultiTaskModel, register_model
from multitask.models.sharing._common import check_positive


def pool_layer(channels: int, dense: bool, dropout: float) -> nn.Module:
    """One shared layer of the pool: ``conv3x3-BN-ReLU`` on maps, ``linear-ReLU`` on vectors (+ dropout)."""
    body = (
        conv_bn_relu(channels, channels) if dense else nn.Sequential(nn.Linear(channels, channels), nn.ReLU())
    )
    if dropout:
        body.append(nn.Dropout2d(dropout) if dense else nn.Dropout(dropout))
    return body


@register_model("soft_ordering")
class SoftLayerOrdering(MultiTaskModel):
    """Soft layer ordering.

    Meyerson & Miikkulainen. Beyond Shared Hierarchies: Deep Multitask Learning through Soft Layer
    Ordering. ICLR 2018.

    A pool of ``num_layers`` shared layers ``F_1..F_L`` of one shape (width ``C`` of the backbone output)
    is applied ``depth`` times; at depth ``d`` task ``t`` feeds the mixture
    ``h_t^d = sum_k s(t, d, k) F_k(h_t^{d-1})`` with ``s(t, d, .) = softmax(logits_t[d])`` (the paper's
    scaling tensor, softmax over the layers, learned per task and depth). ``h_t^0`` is the shared
    backbone's output (the paper's encoder; shared here since every task reads the same input), and
    ``ŷ_t = head_t(h_t^depth)`` (the task decoder). One-hot ``s`` gives a fixed, task-specific order of
    the shared layers (parallel ordering when all tasks use ``F_1, F_2, ...``); logits start at zero
    (uniform mixing). On maps the layers are ``conv3x3-BN-ReLU``, on vectors ``linear-ReLU``.

    Partition: the backbone and the layer pool are shared; task ``t`` owns its mixing logits and head.

    Args:
        tasks: the tasks.
        backbone: a registered backbone name or a built backbone (the shared encoder).
        in_channels: input channels (when the backbone is given by name).
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
        num_layers: size ``L`` of the shared pool (paper: 4).
        depth: how many mixing steps (default ``num_layers``, as in the paper).
        dropout: dropout after each pool layer.
    """

    has_shared_representation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec,
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
        num_layers: int = 4,
        depth: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(tasks)
        check_positive("soft_ordering", "num_layers", num_layers, integer=True)
        depth = num_layers if depth is None else depth
        check_positive("soft_ordering", "depth", depth, integer=True)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"soft_ordering: dropout must be in [0, 1), got {dropout!r}")
        self.backbone = build_backbone(backbone, in_channels, backbone_kwargs)
        check_tasks(self.tasks, self.backbone, "soft_ordering")
        width = self.backbone.out_channels
        self.layers = nn.ModuleList(
            pool_layer(width, self.backbone.is_dense, dropout) for _ in range(num_layers)
        )
        self.depth = int(depth)
        self.logits = nn.ParameterList(nn.Parameter(torch.zeros(self.depth, num_layers)) for _ in self.tasks)
        self.heads = build_heads(self.tasks, width, head)

    def mixing(self, task: str | int) -> Tensor:
        """``[depth, num_layers]`` softmax weights ``s(t, d, k)`` of a task."""
        t = task if isinstance(task, int) else self.task_names.index(task)
        return torch.softmax(self.logits[t], dim=-1)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self.backbone.check_input(x)
        z = self.backbone(x)
        preds = {}
        for t, (task, head) in enumerate(zip(self.tasks, self.heads)):
            s = self.mixing(t)
            h = z
            for d in range(self.depth):
                h = sum(s[d, k] * layer(h) for k, layer in enumerate(self.layers))
            preds[task.name] = to_size(task, head(h), x.shape[-2:])
        return preds

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        return parameters_of([self.backbone, self.layers])

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        t = self.task_names.index(task)
        return parameters_of([self.logits[t], self.heads[t]])
