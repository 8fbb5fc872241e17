"""Branched multi-task networks: a tree of backbone blocks given as a per-block task partition."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._common import (
    BackboneSpec,
    HeadSpec,
    build_backbones,
    build_heads,
    check_tasks,
    parameters_of,
    to_size,
)
from multitask.models.backbones import copy_context, new_context
from multitask.models.base import MultiTaskModel, register_model

Partition = Sequence[Sequence[int | str]]


def normalize_branches(
    branches: Sequence[Partition] | None, task_names: list[str], n_blocks: int
) -> list[list[tuple[int, ...]]]:
    """Validate ``branches`` and return one partition (sorted tuples of task indices) per block.

    Each entry is a partition of the tasks (indices or names) into groups; every group must lie inside
    one group of the previous block (the groups form a tree). Blocks after the last entry repeat it.
    """
    n = len(task_names)
    if branches is None:
        branches = [[list(range(n))]]
    if isinstance(branches, (str, bytes)) or not isinstance(branches, Sequence) or not branches:
        raise ValueError("branched: branches must be a non-empty list of per-block task partitions")
    if len(branches) > n_blocks:
        raise ValueError(
            f"branched: branches has {len(branches)} entries but the backbone has {n_blocks} blocks"
        )
    out: list[list[tuple[int, ...]]] = []
    for s, partition in enumerate(branches):
        groups = []
        for group in partition:
            if isinstance(group, (str, int)) or not isinstance(group, Sequence) or not group:
                raise ValueError(
                    f"branched: block {s}: each group must be a non-empty list of tasks, got {group!r}"
                )
            idx = []
            for task in group:
                if isinstance(task, str):
                    if task not in task_names:
                        raise ValueError(
                            f"branched: block {s}: unknown task {task!r}; tasks are {task_names}"
                        )
                    idx.append(task_names.index(task))
                elif isinstance(task, int) and not isinstance(task, bool) and 0 <= task < n:
                    idx.append(task)
                else:
                    raise ValueError(f"branched: block {s}: task index must be in [0, {n}), got {task!r}")
            groups.append(tuple(sorted(idx)))
        flat = sorted(i for g in groups for i in g)
        if flat != list(range(n)):
            raise ValueError(f"branched: block {s}: groups {groups} must cover every task exactly once")
        if out:
            for g in groups:
                if not any(set(g) <= set(p) for p in out[-1]):
                    raise ValueError(f"branched: block {s}: group {g} splits across groups of block {s - 1}")
        out.append(sorted(groups))
    return out + [out[-1]] * (n_blocks - len(out))


@register_model("branched")
class Branched(MultiTaskModel):
    """Branched multi-task network (a tree of shared blocks).

    The form produced by task-grouping / branching methods: Vandenhende, Georgoulis, De Brabandere,
    Van Gool. Branched Multi-Task Networks: Deciding What Layers To Share. BMVC 2020; Standley,
    Zamir, Chen, Guibas, Malik, Savarese. Which Tasks Should Be Learned Together in Multi-task
    Learning? ICML 2020.

    ``branches[i]`` partitions the tasks into the groups that share block ``i`` of the backbone, e.g.
    ``[[[0, 1, 2]], [[0, 1], [2]], [[0], [1], [2]]]``: block 0 shared by all, block 1 by tasks 0 and 1
    (task 2 has its own copy), block 2 and later private. Each group runs its own copy of the block on
    its parent group's output; groups must refine the previous block's groups. Blocks after the last
    entry keep the last partition; ``branches=None`` shares every block (hard parameter sharing).

    Partition: a block used by two or more tasks is shared; a block of a single-task group and the
    heads are task-specific.

    Args:
        tasks: the tasks.
        backbone: registered backbone name (fresh blocks for each branch) or a built backbone (copies).
        in_channels: input channels.
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
        branches: per-block task partitions (task indices or names), see above.
    """

    has_shared_representation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec,
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
        branches: Sequence[Partition] | None = None,
    ) -> None:
        super().__init__(tasks)
        template = build_backbones(backbone, 1, in_channels, backbone_kwargs)[0]
        check_tasks(self.tasks, template, "branched")
        self.partitions = normalize_branches(branches, self.task_names, template.num_blocks)
        width = max(len(p) for p in self.partitions)
        sources = [template] + (
            build_backbones(backbone, width - 1, in_channels, backbone_kwargs)
            if isinstance(backbone, str)
            else build_backbones(template, width, in_channels)[1:]
        )
        self.check_input = template.check_input
        self.branch_blocks = nn.ModuleList(
            nn.ModuleList(sources[g].blocks[i] for g in range(len(partition)))
            for i, partition in enumerate(self.partitions)
        )
        self.heads = build_heads(self.tasks, template.out_channels, head)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self.check_input(x)
        states: dict[tuple[int, ...], tuple[Tensor, dict]] = {
            tuple(range(len(self.tasks))): (x, new_context())
        }
        for blocks, partition in zip(self.branch_blocks, self.partitions):
            new_states = {}
            for block, group in zip(blocks, partition):
                parent = next(k for k in states if set(group) <= set(k))
                h, ctx = states[parent]
                ctx = copy_context(ctx)
                new_states[group] = (block(h, ctx)[1], ctx)
            states = new_states
        size = x.shape[-2:]
        preds = {}
        for i, (t, head) in enumerate(zip(self.tasks, self.heads)):
            h = next(v[0] for k, v in states.items() if i in k)
            preds[t.name] = to_size(t, head(h), size)
        return preds

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        return parameters_of(
            block
            for blocks, partition in zip(self.branch_blocks, self.partitions)
            for block, group in zip(blocks, partition)
            if len(group) > 1
        )

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        i = self.task_names.index(task)
        own = [
            block
            for blocks, partition in zip(self.branch_blocks, self.partitions)
            for block, group in zip(blocks, partition)
            if group == (i,)
        ]
        return parameters_of([*own, self.heads[i]])
