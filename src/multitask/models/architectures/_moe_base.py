"""Common frame of the expert-mixture architectures: input features, per-task heads, output sizes.

Subclasses build their experts and gates and implement :meth:`ExpertMixtureModel.mix_features`
(shared features -> one mixed feature per task); this class adds the optional backbone in front,
one head per task behind, and resizes dense predictions to the input resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._experts import build_backbone, is_spatial
from multitask.models.architectures._ownership import (
    TaskOwnedModel,
    check_in_channels,
    check_positive,
    finish_prediction,
    head_kinds,
)
from multitask.models.heads import create_head


class ExpertMixtureModel(TaskOwnedModel):
    """Backbone (optional) -> experts + per-task gates (subclass) -> per-task heads.

    Without a backbone the input must be vectors ``[B, in_channels]``. ``has_shared_representation``
    is False either way: the shared experts act *after* the backbone, so no single representation
    separates all shared parameters from the task-specific ones (features mode would leave the
    experts out); a trainer uses parameters mode.
    """

    _task_containers: ClassVar[tuple[str, ...]] = ("heads",)
    model_name: ClassVar[str] = "expert mixture"

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: str | nn.Module | None,
        in_channels: int,
        backbone_kwargs: dict[str, Any] | None,
        expert_channels: int,
        expert_depth: int,
        head: str | Mapping[str, str] | None,
    ) -> None:
        super().__init__(tasks)
        name = self.model_name
        self.in_channels = check_in_channels(in_channels, name)
        self.expert_channels = check_positive(expert_channels, "expert_channels", name)
        self.expert_depth = check_positive(expert_depth, "expert_depth", name)
        self.backbone = build_backbone(backbone, in_channels, backbone_kwargs, name)
        self.spatial = is_spatial(self.backbone)
        self.feature_channels = int(self.backbone.out_channels) if self.backbone is not None else in_channels
        for task in self.tasks:
            if task.dense and not self.spatial:
                raise ValueError(
                    f"{name}: task {task.name!r} is dense ({task.kind}) but the features are vectors; "
                    "use a convolutional backbone"
                )
        kinds = head_kinds(head, self.tasks, name)
        self.heads = nn.ModuleList(
            create_head(t, self.expert_channels, kind=k) for t, k in zip(self.tasks, kinds)
        )

    # ---- subclass hook ------------------------------------------------------------------------
    def mix_features(self, features: Tensor) -> list[Tensor]:
        """Shared features -> one mixed feature tensor per task (in task order)."""
        raise NotImplementedError

    def _features(self, x: Tensor) -> Tensor:
        if self.backbone is None:
            if x.dim() != 2 or x.shape[1] != self.in_channels:
                raise ValueError(
                    f"{self.model_name} without a backbone expects input [B, {self.in_channels}], "
                    f"got {tuple(x.shape)}"
                )
            return x
        return self.backbone(x)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        size = (int(x.shape[-2]), int(x.shape[-1])) if x.dim() == 4 else None
        mixed = self.mix_features(self._features(x))
        return {
            task.name: finish_prediction(head(m), task, size)
            for task, head, m in zip(self.tasks, self.heads, mixed)
        }
