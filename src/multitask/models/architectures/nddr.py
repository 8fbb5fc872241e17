"""NDDR-CNN: per-task 1x1-conv + BN fusion of the concatenated task features between blocks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._common import (
    BackboneSpec,
    HeadSpec,
    as_map,
    block_indices,
    build_columns,
    build_heads,
    like,
    parameters_of,
    run_columns,
)
from multitask.models.base import MultiTaskModel, register_model


class NDDRLayer(nn.Module):
    """Fusion for one task: ``ReLU(BN(W · concat_t(F_t)))`` with ``W`` a 1x1 conv ``T·C → C``.

    ``W`` is initialised as ``[β I, ..., α I, ..., β I]``: ``α`` on the task's own block, ``β`` on
    the others (Gao et al., two tasks: α = 0.9, β = 0.1). BN momentum 0.05 as in the authors' setting.
    """

    def __init__(self, num_tasks: int, channels: int, index: int, alpha: float, beta: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(num_tasks * channels, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels, momentum=0.05)
        eye = torch.eye(channels)
        weight = torch.cat([(alpha if t == index else beta) * eye for t in range(num_tasks)], dim=1)
        with torch.no_grad():
            self.conv.weight.copy_(weight[:, :, None, None])

    def forward(self, stacked: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(stacked)))


@register_model("nddr")
class NDDR(MultiTaskModel):
    """NDDR-CNN: Neural Discriminative Dimensionality Reduction.

    Gao, Ma, Zhao, Liu, Yuille. NDDR-CNN: Layerwise Feature Fusing in Multi-Task CNNs by Neural
    Discriminative Dimensionality Reduction. CVPR 2019.

    One backbone column per task. After each block ``i`` in ``fuse_after`` every task's feature is
    replaced by ``F̃_t = ReLU(BN_t(W_t · [F_1; ...; F_T]))`` with ``W_t`` a 1x1 convolution from
    ``T·C`` to ``C`` channels (vector features are treated as 1x1 maps). Initialisation
    ``W_t = [β I ... α I ... β I]`` with ``α = 0.9`` and ``β = (1 - α)/(T - 1)``, so each row of
    blocks sums to 1 for any number of tasks, like cross-stitch's initialisation (the paper's two-task
    setting: α = 0.9, β = 0.1); the paper trains the NDDR layers with a larger learning rate (give
    ``fusions`` its own optimiser group).

    Partition: column blocks up to the last fusion and the fusion layers before the last one feed
    every task (shared); the last fusion's layer for task ``t``, the column blocks after it and head
    ``t`` are task-specific. No single shared representation.

    Args:
        tasks: the tasks.
        backbone: registered backbone name (fresh column per task) or a built backbone (deep copies).
        in_channels: input channels.
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
        fuse_after: block indices followed by an NDDR layer (default: every block).
        alpha: initial weight on the task's own features (paper: 0.9).
        beta: initial weight on each other task's features (default ``(1 - alpha) / (T - 1)``, 0 for
            one task; the paper's 0.1 for two tasks).
    """

    has_shared_representation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec,
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
        fuse_after: Sequence[int] | None = None,
        alpha: float = 0.9,
        beta: float | None = None,
    ) -> None:
        super().__init__(tasks)
        n = len(self.tasks)
        if beta is None:
            beta = (1.0 - alpha) / (n - 1) if n > 1 else 0.0
        columns = build_columns(self.tasks, backbone, in_channels, backbone_kwargs, "nddr")
        self.columns = nn.ModuleList(columns)
        self.fuse_after = block_indices(fuse_after, columns[0].num_blocks, "nddr", "fuse_after")
        channels = columns[0].block_channels
        self.fusions = nn.ModuleDict(
            {
                str(i): nn.ModuleList(NDDRLayer(n, channels[i], t, alpha, beta) for t in range(n))
                for i in self.fuse_after
            }
        )
        self.heads = build_heads(self.tasks, columns[0].out_channels, head)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return run_columns(self.columns, self.tasks, self.heads, x, self._fuse)

    def _fuse(self, i: int, hs: list[Tensor]) -> list[Tensor]:
        if str(i) not in self.fusions:
            return hs
        stacked = torch.cat([as_map(h) for h in hs], dim=1)
        return [like(layer(stacked), h) for layer, h in zip(self.fusions[str(i)], hs)]

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        last = self.fuse_after[-1]
        early = [self.fusions[str(i)] for i in self.fuse_after[:-1]]
        return parameters_of([*early, *(b for col in self.columns for b in col.blocks[: last + 1])])

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        i = self.task_names.index(task)
        last = self.fuse_after[-1]
        private = list(self.columns[i].blocks[last + 1 :])
        return parameters_of([self.fusions[str(last)][i], *private, self.heads[i]])
