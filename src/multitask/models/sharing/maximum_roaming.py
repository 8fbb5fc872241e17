"""Maximum Roaming: random per-task unit partitions of the shared layers that roam during training."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._common import (
    BackboneSpec,
    HeadSpec,
    block_indices,
    build_backbone,
    build_heads,
    check_tasks,
    parameters_of,
    to_size,
)
from multitask.models.backbones import new_context
from multitask.models.base import MultiTaskModel, register_model
from multitask.models.sharing._common import check_fraction, check_positive, mask_like


def initial_partition(num_tasks: int, units: int, ratio: float, gen: torch.Generator | None) -> Tensor:
    """A ``[T, C]`` 0/1 mask: every unit used by at least one task, each task using ``ceil(ratio*C)`` units
    (or more, when ``T`` tasks are needed to cover ``C`` units).

    As the authors' code: a cyclic diagonal assignment covers every unit, then each task gets random
    extra units until it has its share; ``ratio=1`` uses every unit for every task (hard sharing).
    """
    mask = torch.zeros(num_tasks, units, device="cpu")  # on the CPU also when built under a meta device
    cols = torch.arange(units, device="cpu")
    mask[cols % num_tasks, cols] = 1.0
    want = min(units, max(1, math.ceil(ratio * units - 1e-9)))
    for t in range(num_tasks):
        free = (mask[t] == 0).nonzero().flatten()
        extra = want - int(mask[t].sum())
        if extra > 0:
            pick = free[torch.randperm(len(free), generator=gen, device="cpu")[:extra]]
            mask[t, pick] = 1.0
    return mask


def roam(mask: Tensor, visited: Tensor, gen: torch.Generator | None = None) -> None:
    """One Maximum Roaming update of a ``[T, C]`` partition, in place.

    For each task with units it has never used: one of its active units is dropped and one never-used
    unit is activated, both uniformly at random; ``visited`` records every unit a task has used. A task
    that has visited every unit keeps its partition. (The authors' code stops a whole layer as soon as
    one task has visited everything; per task, every task reaches every unit.)
    """
    for t in range(mask.shape[0]):
        fresh = (~visited[t]).nonzero().flatten()
        if len(fresh) == 0:
            continue
        active = (mask[t] > 0).nonzero().flatten()
        on = fresh[torch.randint(len(fresh), (1,), generator=gen)]
        off = active[torch.randint(len(active), (1,), generator=gen)]
        mask[t, off] = 0.0
        mask[t, on] = 1.0
        visited[t, on] = True


@register_model("maximum_roaming")
class MaximumRoaming(MultiTaskModel):
    """Maximum Roaming multi-task learning.

    Pascal, Michiardi, Bost, Huet, Zuluaga. Maximum Roaming Multi-Task Learning. AAAI 2021; code:
    github.com/lucaspascal/Maximum-Roaming-Mutli-Task-Learning.

    A drop-in for hard parameter sharing: one shared backbone, one head per task, but task ``t`` sees only
    its own subset ``M_t^l`` of the units (channels) of each shared layer ``l``: its forward pass is the
    backbone with the outputs of layer ``l`` multiplied by the 0/1 mask ``M_t^l``, so each task runs its
    own path through the shared weights (T forwards per batch). Each task uses a fraction
    ``sharing_ratio`` of the units (``1`` = hard sharing). Every ``update_every`` epochs the partitions
    *roam* (:func:`roam`): per task and layer one active unit is swapped for a unit the task has never used,
    until every task has visited every unit, after which the partitions stay fixed.

    Here the layers are the backbone's blocks (LeNet: conv1, conv2, fc as in the paper's MultiMNIST
    network; ResNet: the stage outputs); ``masked_blocks`` chooses which (default all). The masks and
    the visit record are buffers (saved with the weights); the updates use torch's global RNG.

    Training-loop hook: ``on_epoch_end(epoch)`` after every epoch (or call :meth:`roam` yourself).

    Args:
        tasks: the tasks.
        backbone: a registered backbone name or a built backbone (shared).
        in_channels: input channels (when the backbone is given by name).
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
        sharing_ratio: fraction of each layer's units a task uses, in (0, 1] (paper's p).
        update_every: epochs between two partition updates (paper's Δ).
        masked_blocks: indices of the blocks whose outputs are partitioned (default: all).
    """

    has_shared_representation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec,
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
        sharing_ratio: float = 0.5,
        update_every: int = 1,
        masked_blocks: Sequence[int] | None = None,
    ) -> None:
        super().__init__(tasks)
        check_fraction("maximum_roaming", "sharing_ratio", sharing_ratio)
        check_positive("maximum_roaming", "update_every", update_every, integer=True)
        self.backbone = build_backbone(backbone, in_channels, backbone_kwargs)
        check_tasks(self.tasks, self.backbone, "maximum_roaming")
        self.heads = build_heads(self.tasks, self.backbone.out_channels, head)
        self.sharing_ratio = float(sharing_ratio)
        self.update_every = int(update_every)
        n = self.backbone.num_blocks
        self.masked_blocks = block_indices(masked_blocks, n, "maximum_roaming", "masked_blocks")
        for i in self.masked_blocks:
            mask = initial_partition(len(self.tasks), self.backbone.block_channels[i], sharing_ratio, None)
            self.register_buffer(f"mask_{i}", mask)
            self.register_buffer(f"visited_{i}", mask > 0)

    def masks(self) -> dict[int, Tensor]:
        """``{block: [T, C] 0/1 mask}`` of the current partitions."""
        return {i: getattr(self, f"mask_{i}") for i in self.masked_blocks}

    def visited(self) -> dict[int, Tensor]:
        """``{block: [T, C] bool}``: the units each task has used so far."""
        return {i: getattr(self, f"visited_{i}") for i in self.masked_blocks}

    @torch.no_grad()
    def roam(self) -> None:
        """One partition update of every masked block (see :func:`roam`)."""
        for i in self.masked_blocks:
            roam(getattr(self, f"mask_{i}"), getattr(self, f"visited_{i}"))

    def on_epoch_end(self, epoch: int) -> None:
        if (epoch + 1) % self.update_every == 0:
            self.roam()

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self.backbone.check_input(x)
        masks = self.masks()
        preds = {}
        for t, (task, head) in enumerate(zip(self.tasks, self.heads)):
            ctx = new_context()
            h = x
            for i, block in enumerate(self.backbone.blocks):
                _, h = block(h, ctx)
                if i in masks:
                    h = h * mask_like(masks[i][t], h)
            preds[task.name] = to_size(task, head(h), x.shape[-2:])
        return preds

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        return parameters_of([self.backbone])

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        return parameters_of([self.heads[self.task_names.index(task)]])
