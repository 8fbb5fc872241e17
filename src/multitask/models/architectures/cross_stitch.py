"""Cross-stitch networks: one column per task, linearly stitched between blocks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._common import (
    BackboneSpec,
    HeadSpec,
    block_indices,
    build_columns,
    build_heads,
    parameters_of,
    run_columns,
)
from multitask.models.base import MultiTaskModel, register_model


class CrossStitchUnit(nn.Module):
    """``x̃_s = Σ_t α_{s,t} x_t`` over the T columns (per channel when ``channels`` is given).

    Initialised to ``α_{s,s} = init_same`` and ``α_{s,t} = (1 - init_same) / (T - 1)`` for ``t ≠ s``
    (rows sum to one; the paper's two-task initialisation (0.9, 0.1) is ``init_same = 0.9``).
    """

    def __init__(self, num_tasks: int, init_same: float = 0.9, channels: int | None = None) -> None:
        super().__init__()
        other = (1.0 - init_same) / (num_tasks - 1) if num_tasks > 1 else 0.0
        alpha = torch.full((num_tasks, num_tasks), other)
        alpha.fill_diagonal_(init_same)
        if channels is not None:
            alpha = alpha.expand(channels, num_tasks, num_tasks).clone()
        self.alpha = nn.Parameter(alpha)

    def forward(self, xs: Sequence[Tensor]) -> list[Tensor]:
        stacked = torch.stack(list(xs))  # [T, B, C, ...]
        if self.alpha.dim() == 2:
            mixed = torch.einsum("st,t...->s...", self.alpha, stacked)
        else:
            flat = stacked.reshape(*stacked.shape[:3], -1)  # [T, B, C, N]
            mixed = torch.einsum("cst,tbcn->sbcn", self.alpha, flat).reshape(stacked.shape)
        return list(mixed.unbind(0))


@register_model("cross_stitch")
class CrossStitch(MultiTaskModel):
    """Cross-stitch networks.

    Misra, Shrivastava, Gupta, Hebert. Cross-stitch Networks for Multi-task Learning. CVPR 2016.

    One backbone column per task. After each block ``i`` in ``stitch_after`` the columns' outputs are
    replaced by ``x̃_s = Σ_t α^{(i)}_{s,t} x_t`` (a cross-stitch unit, learned, initialised near the
    identity); column ``t`` then feeds head ``t``. The paper stitches after every pooling / fully
    connected layer and trains α with a learning rate 10²-10³ times larger than the network's (give
    the ``stitches`` parameters their own optimiser group for that).

    Partition: a column block at or before the last stitch influences every task, so it is shared
    together with the stitch units; column blocks after the last stitch and the heads are
    task-specific. No single shared representation (``has_shared_representation = False``).

    Args:
        tasks: the tasks.
        backbone: registered backbone name (fresh column per task) or a built backbone (deep copies).
        in_channels: input channels.
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
        stitch_after: block indices followed by a cross-stitch unit (default: every block).
        init_same: initial self weight ``α_{s,s}`` (paper: 0.9).
        channelwise: one α matrix per channel instead of per block.
    """

    has_shared_representation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec,
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
        stitch_after: Sequence[int] | None = None,
        init_same: float = 0.9,
        channelwise: bool = False,
    ) -> None:
        super().__init__(tasks)
        columns = build_columns(self.tasks, backbone, in_channels, backbone_kwargs, "cross_stitch")
        if not 0.0 <= init_same <= 1.0:
            raise ValueError(f"cross_stitch: init_same must be in [0, 1], got {init_same}")
        self.columns = nn.ModuleList(columns)
        self.stitch_after = block_indices(stitch_after, columns[0].num_blocks, "cross_stitch", "stitch_after")
        channels = columns[0].block_channels
        self.stitches = nn.ModuleDict(
            {
                str(i): CrossStitchUnit(len(self.tasks), init_same, channels[i] if channelwise else None)
                for i in self.stitch_after
            }
        )
        self.heads = build_heads(self.tasks, columns[0].out_channels, head)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return run_columns(self.columns, self.tasks, self.heads, x, self._stitch)

    def _stitch(self, i: int, hs: list[Tensor]) -> list[Tensor]:
        return self.stitches[str(i)](hs) if str(i) in self.stitches else hs

    def _private_blocks(self, column: nn.Module) -> list[nn.Module]:
        return list(column.blocks[self.stitch_after[-1] + 1 :])

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        last = self.stitch_after[-1]
        return parameters_of([self.stitches, *(b for col in self.columns for b in col.blocks[: last + 1])])

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        i = self.task_names.index(task)
        return parameters_of([*self._private_blocks(self.columns[i]), self.heads[i]])
