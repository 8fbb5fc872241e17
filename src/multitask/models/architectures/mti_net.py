"""MTI-Net: multi-scale task interaction network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._distill import (
    FPM_SOFTMAX,
    Distillation,
    FeaturePropagation,
    SqueezeExcitation,
    distill_all,
    refinement,
)
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


def _resize(x: Tensor, size: Sequence[int]) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


@register_model("mti_net")
class MTINet(TaskOwnedModel):
    """MTI-Net: multi-scale multi-modal distillation with feature propagation across scales.

    Vandenhende, Georgoulis, Van Gool. MTI-Net: Multi-Scale Task Interaction Networks for Multi-Task
    Learning. ECCV 2020.

    The backbone's multi-scale features ``z₀ … z_{S-1}`` (finest first) are processed coarsest first.
    At scale s each task t refines ``[z_s, up(Pₜˢ⁺¹)]`` into ``Fₜˢ`` (two residual blocks; ``Pₜˢ⁺¹`` is
    what the coarser scale propagated) and makes an intermediate prediction from it. The feature
    propagation module (FPM) hands the next finer scale::

        Pₜˢ = SEₜ(g(softmax_t(f([F₁ˢ … F_Tˢ])) ⊙ [F₁ˢ … F_Tˢ])) + Fₜˢ

    (f, g shared; SEₜ task t's squeeze-and-excitation; the softmax runs over the tasks at each channel
    position, or with ``fpm_softmax="consecutive"`` over groups of T consecutive channels of the
    task-major concatenation, as the authors' code does: see
    :class:`~multitask.models.architectures._distill.FeaturePropagation`). Multi-modal distillation is
    then done at every scale, as in the authors' PAD-Net code:
    ``Dₜˢ = Fₜˢ + Σ_{l≠t} σ(A_{l→t}ˢ ⊗ Fₗˢ) ⊙ (W_{l→t}ˢ ⊗ Fₗˢ)`` (each message masked by its sender's
    features), and feature
    aggregation upsamples ``Dₜ⁰ … Dₜˢ⁻¹`` to the finest scale, concatenates them and decodes them with
    task t's head. Any task kind works: classification/regression heads pool the maps.

    Deep supervision: after each forward, ``self.aux_outputs = {task: [prediction at scale 0, …,
    scale S-1]}`` (finest first; dense ones resized to the input). **A trainer adds**
    ``task.loss(aux, target)`` for every ``aux`` in ``aux_outputs[task]`` **to that task's loss**
    (the paper weights all scales and the final output equally), before balancing.

    Args:
        tasks: the tasks; each owns its refinements, intermediate heads, SE blocks, distillation
            modules and head.
        backbone: a registered convolutional backbone name (its ``forward_stages`` give the scales),
            or such a module.
        in_channels: input image channels.
        task_channels: channels of each task's features per scale (toolkit default 64).
        num_scales: how many of the finest stages to use (paper: 4, HRNet's; default: min(4, stages)).
        fpm_softmax: ``"tasks"`` (the paper's per-task mask, default) or ``"consecutive"`` (the
            channel grouping of the authors' code).
        head: kind of the final heads, for all tasks or as a ``{task: kind}`` mapping (``create_head``);
            intermediate heads use the default kind.
        backbone_kwargs: extra arguments of ``create_backbone``.

    Parameters: backbone and the FPMs' shared parts (f, g) are shared; the rest belongs to one task.
    ``has_shared_representation`` is False: the shared FPMs act after the backbone, so no single
    representation separates the shared parameters from the task ones; a trainer uses parameters mode.
    """

    _task_containers: ClassVar[tuple[str, ...]] = ("refine", "aux_heads", "se", "distill", "heads")

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: str | nn.Module,
        in_channels: int = 3,
        task_channels: int = 64,
        num_scales: int | None = None,
        fpm_softmax: str = "tasks",
        head: str | Mapping[str, str] | None = None,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(tasks)
        check_in_channels(in_channels, "mti_net")
        c = check_positive(task_channels, "task_channels", "mti_net")
        self.backbone = build_dense_backbone(backbone, in_channels, backbone_kwargs, "mti_net")
        if not hasattr(self.backbone, "forward_stages"):
            raise ValueError("mti_net: the backbone has no forward_stages (multi-scale features)")
        stage_channels = [int(ch) for ch in self.backbone.stage_channels]
        if num_scales is None:
            num_scales = min(4, len(stage_channels))
        check_positive(num_scales, "num_scales", "mti_net")
        if num_scales > len(stage_channels):
            raise ValueError(
                f"mti_net: num_scales={num_scales} but the backbone has {len(stage_channels)} stages"
            )
        stage_blocks = getattr(self.backbone, "stage_blocks", None)
        if stage_blocks is not None and max(stage_blocks[:num_scales]) != len(self.backbone.blocks) - 1:
            raise ValueError(
                f"mti_net: num_scales={num_scales} leaves the backbone's last blocks unused; use more scales"
            )
        self.num_scales = s_n = num_scales
        n = len(self.tasks)
        self.refine = nn.ModuleList(
            nn.ModuleList(refinement(stage_channels[s] + (c if s < s_n - 1 else 0), c) for s in range(s_n))
            for _ in self.tasks
        )
        self.aux_heads = nn.ModuleList(
            nn.ModuleList(create_head(t, c) for _ in range(s_n)) for t in self.tasks
        )
        # propagation from scale s (>= 1) to s - 1: shared part fpm[s-1], task part se[t][s-1]
        if fpm_softmax not in FPM_SOFTMAX:
            raise ValueError(f"mti_net: fpm_softmax must be one of {FPM_SOFTMAX}, got {fpm_softmax!r}")
        self.fpm = nn.ModuleList(FeaturePropagation(n, c, fpm_softmax) for _ in range(s_n - 1))
        self.se = nn.ModuleList(
            nn.ModuleList(SqueezeExcitation(c) for _ in range(s_n - 1)) for _ in self.tasks
        )
        self.distill = nn.ModuleList(
            nn.ModuleList(Distillation(c, n - 1) for _ in range(s_n)) for _ in self.tasks
        )
        kinds = head_kinds(head, self.tasks, "mti_net")
        self.heads = nn.ModuleList(create_head(t, s_n * c, kind=k) for t, k in zip(self.tasks, kinds))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        size = (int(x.shape[-2]), int(x.shape[-1])) if x.dim() == 4 else None
        stages = self.backbone.forward_stages(x)[: self.num_scales]
        n = len(self.tasks)
        aux: list[list[Tensor]] = [[] for _ in range(n)]
        distilled: list[list[Tensor]] = [[] for _ in range(n)]  # [task][scale], coarsest first
        propagated: list[Tensor] | None = None
        for s in reversed(range(self.num_scales)):
            zs = stages[s]
            feats = []
            for k in range(n):
                inp = (
                    zs
                    if propagated is None
                    else torch.cat([zs, _resize(propagated[k], zs.shape[-2:])], dim=1)
                )
                feats.append(self.refine[k][s](inp))
                aux[k].append(finish_prediction(self.aux_heads[k][s](feats[k]), self.tasks[k], size))
            if s > 0:
                shared = self.fpm[s - 1](feats)
                propagated = [self.se[k][s - 1](shared) + feats[k] for k in range(n)]
            modules = [self.distill[k][s] for k in range(n)]
            for k, d in enumerate(distill_all(modules, feats)):
                distilled[k].append(d)
        finest = stages[0].shape[-2:]
        out = {}
        for k, task in enumerate(self.tasks):
            agg = torch.cat([_resize(d, finest) for d in reversed(distilled[k])], dim=1)
            out[task.name] = finish_prediction(self.heads[k](agg), task, size)
        self.aux_outputs = {t.name: list(reversed(aux[k])) for k, t in enumerate(self.tasks)}
        return out
