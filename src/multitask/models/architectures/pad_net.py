"""PAD-Net: prediction-and-distillation network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._distill import Distillation, distill_all, refinement
from multitask.models.architectures._experts import build_dense_backbone
from multitask.models.architectures._ownership import (
    TaskOwnedModel,
    check_in_channels,
    check_positive,
    finish_prediction,
    head_kinds,
)
from multitask.models.base import register_model
from multitask.models.heads import create_head


@register_model("pad_net")
class PADNet(TaskOwnedModel):
    """PAD-Net: initial per-task predictions, multi-modal distillation, final predictions.

    Xu, Ouyang, Wang, Sebe. PAD-Net: Multi-Tasks Guided Prediction-and-Distillation Network for
    Simultaneous Depth Estimation and Scene Parsing. CVPR 2018.

    From the shared backbone features ``z``, each task t refines its own features ``Fᵗ = Rₜ(z)`` (two
    residual blocks) and makes an *intermediate* prediction ``Pₜ(Fᵗ)``. Attention-guided multi-modal
    distillation (the paper's module C) passes messages between the task features::

        Fᵏ_out = Fᵏ + Σ_{l≠k} σ(A_{l→k} ⊗ Fˡ) ⊙ (W_{l→k} ⊗ Fˡ)

    with each message's mask computed from the *sending* task's features, as in Vandenhende et al.'s
    re-implementation (the dense-prediction survey's code, whose numbers are the ones usually
    compared); the paper's equation gates the sum with the receiver's ``σ(W_gᵏ ⊗ Fᵏ)`` instead.

    and each task's final head decodes ``Fᵏ_out``. Here every task is both an intermediate
    (auxiliary) and a final task. Any task kind works: classification/regression heads pool the maps.

    Deep supervision: after each forward, ``self.aux_outputs = {task: [intermediate prediction]}``
    (dense ones resized to the input, like the final outputs). **A trainer adds**
    ``task.loss(aux, target)`` for every ``aux`` in ``aux_outputs[task]`` **to that task's loss**
    (the paper weights both terms equally), before balancing; at evaluation only ``model(x)`` counts.

    Args:
        tasks: the tasks; each owns its refinement, intermediate head, distillation module and head.
        backbone: a registered convolutional backbone name or module with ``is_dense`` feature maps.
        in_channels: input image channels.
        task_channels: channels of each task's features (toolkit default 64; Vandenhende et al.'s
            re-implementation uses 256).
        head: kind of the final heads, for all tasks or as a ``{task: kind}`` mapping (``create_head``);
            intermediate heads use the default kind.
        backbone_kwargs: extra arguments of ``create_backbone``.

    Parameters: the backbone is shared; everything after it belongs to one task. ``encode(x)`` returns
    the backbone features (the single shared representation) and ``decode(z)`` the final predictions.
    """

    _task_containers: ClassVar[tuple[str, ...]] = ("refine", "aux_heads", "distill", "heads")
    has_shared_representation = True

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: str | nn.Module,
        in_channels: int = 3,
        task_channels: int = 64,
        head: str | Mapping[str, str] | None = None,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(tasks)
        check_in_channels(in_channels, "pad_net")
        c = check_positive(task_channels, "task_channels", "pad_net")
        self.backbone = build_dense_backbone(backbone, in_channels, backbone_kwargs, "pad_net")
        features = int(self.backbone.out_channels)
        n = len(self.tasks)
        self.refine = nn.ModuleList(refinement(features, c) for _ in self.tasks)
        self.aux_heads = nn.ModuleList(create_head(t, c) for t in self.tasks)
        self.distill = nn.ModuleList(Distillation(c, n - 1) for _ in self.tasks)
        kinds = head_kinds(head, self.tasks, "pad_net")
        self.heads = nn.ModuleList(create_head(t, c, kind=k) for t, k in zip(self.tasks, kinds))
        self._out_size: tuple[int, int] | None = None

    def encode(self, x: Tensor) -> Tensor:
        self._out_size = (int(x.shape[-2]), int(x.shape[-1])) if x.dim() == 4 else None
        return self.backbone(x)

    def decode(self, z: Tensor) -> dict[str, Tensor]:
        size = self._out_size
        if size is None:
            stride = int(getattr(self.backbone, "output_stride", 1) or 1)
            size = (int(z.shape[-2]) * stride, int(z.shape[-1]) * stride)
        feats = [refine(z) for refine in self.refine]
        self.aux_outputs = {
            t.name: [finish_prediction(head(f), t, size)]
            for t, head, f in zip(self.tasks, self.aux_heads, feats)
        }
        distilled = distill_all(self.distill, feats)
        return {
            t.name: finish_prediction(head(f), t, size)
            for t, head, f in zip(self.tasks, self.heads, distilled)
        }

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.decode(self.encode(x))
