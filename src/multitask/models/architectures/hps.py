"""Hard parameter sharing: one shared encoder, one head per task."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

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
from multitask.models.base import MultiTaskModel, register_model


@register_model("hps")
class HardParameterSharing(MultiTaskModel):
    """Hard parameter sharing.

    Caruana. Multitask Learning. Machine Learning 28, 1997; the standard deep-MTL baseline (e.g. Ruder,
    An Overview of Multi-Task Learning in Deep Neural Networks, arXiv 2017).

    ``z = encoder(x)``, ``ŷ_t = head_t(z)`` (dense predictions upsampled to the input size). The shared
    representation ``z`` is what the gradient methods' features mode differentiates against:
    ``encode(x) = z``, ``decode(z) = {t: ŷ_t}``.

    Args:
        tasks: the tasks.
        backbone: a registered backbone name or a built backbone (the shared encoder).
        in_channels: input channels (when the backbone is given by name).
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping (see ``create_head``).
    """

    has_shared_representation = True

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec,
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
    ) -> None:
        super().__init__(tasks)
        self.backbone = build_backbone(backbone, in_channels, backbone_kwargs)
        check_tasks(self.tasks, self.backbone, "hps")
        self.heads = build_heads(self.tasks, self.backbone.out_channels, head)
        self._input_size: tuple[int, ...] | None = None

    def encode(self, x: Tensor) -> Tensor:
        self.backbone.check_input(x)
        self._input_size = tuple(x.shape[-2:])
        return self.backbone(x)

    def decode(self, z: Tensor, size: Sequence[int] | None = None) -> dict[str, Tensor]:
        """Task predictions from ``z``; dense ones at ``size`` (default: the last ``encode`` input's size)."""
        if size is None:
            size = self._input_size
        if size is None and z.dim() == 4:
            size = [s * self.backbone.output_stride for s in z.shape[-2:]]
        return {t.name: to_size(t, head(z), size) for t, head in zip(self.tasks, self.heads)}

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.decode(self.encode(x), size=x.shape[-2:])

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        return parameters_of([self.backbone])

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        return parameters_of([self.heads[self.task_names.index(task)]])
