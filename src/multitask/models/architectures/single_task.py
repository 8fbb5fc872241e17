"""The single-task baseline: one independent network per task."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._common import (
    BackboneSpec,
    HeadSpec,
    build_columns,
    build_heads,
    parameters_of,
    to_size,
)
from multitask.models.base import MultiTaskModel, register_model


@register_model("single_task")
class SingleTask(MultiTaskModel):
    """T independent single-task networks in one module: the reference of the Δm metric.

    Δm as in Maninis, Radosavovic, Kokkinos. Attentive Single-Tasking of Multiple Tasks. CVPR 2019,
    and Vandenhende et al. Multi-Task Learning for Dense Prediction Tasks: A Survey. TPAMI 2021.

    ``ŷ_t = head_t(encoder_t(x))``: nothing is shared, so ``shared_parameters()`` is empty and every
    parameter belongs to one task. Trained jointly on ``Σ_t L_t`` this is the same as training the T
    networks apart (their gradients do not interact; only a shared optimiser's state couples them).

    Args:
        tasks: the tasks.
        backbone: a registered backbone name (each task gets a freshly initialised one) or a built
            backbone (each task gets a deep copy).
        in_channels: input channels.
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
    """

    has_shared_representation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec,
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
    ) -> None:
        super().__init__(tasks)
        backbones = build_columns(self.tasks, backbone, in_channels, backbone_kwargs, "single_task")
        self.backbones = nn.ModuleList(backbones)
        self.heads = build_heads(self.tasks, backbones[0].out_channels, head)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        size = x.shape[-2:]
        out = {}
        for t, backbone, head in zip(self.tasks, self.backbones, self.heads):
            backbone.check_input(x)
            out[t.name] = to_size(t, head(backbone(x)), size)
        return out

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        return iter(())

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        i = self.task_names.index(task)
        return parameters_of([self.backbones[i], self.heads[i]])
