"""Learning to Branch: a tree of block copies whose parent links are learned with Gumbel-softmax."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._common import (
    BackboneSpec,
    HeadSpec,
    build_heads,
    check_tasks,
    parameters_of,
    to_size,
)
from multitask.models.backbones import copy_context, new_context
from multitask.models.base import register_model
from multitask.models.sharing._common import check_positive, spec_of
from multitask.models.sharing._supergraph import BranchSearch, block_copies


@register_model("learning_to_branch")
class LearningToBranch(BranchSearch):
    """Learning to Branch.

    Guo, Lee, Ulbricht. Learning to Branch for Multi-Task Learning. ICML 2020.

    A supergraph with ``widths[l]`` candidate nodes at block ``l`` (copies of backbone block ``l``); the
    last block has one node per task, which feeds that task's head. Every node ``j`` of block ``l > 0``
    has a categorical distribution over the nodes of block ``l - 1`` (its parent), with logits
    ``θ_{l,j}`` (zero at the start). Its input is ``sum_i d_i · out_{l-1,i}`` with ``d`` a
    Gumbel-softmax sample of ``θ_{l,j}`` in training (temperature ``init_temperature``, times
    ``temperature_decay`` after each epoch; ``hard=True``: straight-through one-hot) and the one-hot
    argmax in eval. Block-0 nodes read the input. As the paper, the trainer updates ``θ``
    (:meth:`architecture_parameters`) on held-out training batches and the weights on the others
    (``multitask.train.search``; ``search.alternate: false``: jointly).

    The derived tree takes every node's argmax parent; following parents from each task's leaf gives
    the task's path, and two tasks share block ``l`` when their paths agree up to ``l`` (tasks with the
    same block-0 node share block 0, ...). :meth:`derived_config` writes it as a ``branched`` config to
    train from scratch. A backbone's per-forward context (encoder-decoder skips) follows the most
    probable parent.

    Training-loop hook: ``on_epoch_end(epoch)`` (temperature).

    Partition: the nodes of the inner blocks and their logits are shared; the leaf node of a task, its
    parent logits and its head are the task's.

    Args:
        tasks: the tasks.
        backbone: a registered backbone name (fresh copies) or a built backbone (deep copies).
        in_channels: input channels.
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
        widths: nodes per block; the last must equal the number of tasks (default: ``T`` everywhere).
        init_temperature: Gumbel-softmax temperature at the start.
        temperature_decay: factor applied after each epoch.
        hard: straight-through one-hot samples in training.
    """

    has_shared_representation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec,
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
        widths: Sequence[int] | None = None,
        init_temperature: float = 5.0,
        temperature_decay: float = 0.965,
        hard: bool = False,
    ) -> None:
        super().__init__(tasks)
        self._spec = spec_of("learning_to_branch", backbone, in_channels, backbone_kwargs, head)
        n_tasks = len(self.tasks)
        check_positive("learning_to_branch", "init_temperature", init_temperature)
        check_positive("learning_to_branch", "temperature_decay", temperature_decay)
        n_blocks = block_copies(backbone, [1], in_channels, backbone_kwargs)[0].num_blocks
        widths = [n_tasks] * n_blocks if widths is None else list(widths)
        if len(widths) != n_blocks or any(
            isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths
        ):
            raise ValueError(
                f"learning_to_branch: widths must be {n_blocks} positive ints (one per block), got {widths}"
            )
        if widths[-1] != n_tasks:
            raise ValueError(
                f"learning_to_branch: the last block needs one node per task ({n_tasks}), got widths {widths}"
            )
        template, self.nodes = block_copies(backbone, widths, in_channels, backbone_kwargs)
        check_tasks(self.tasks, template, "learning_to_branch")
        self.check_input = template.check_input
        self.widths = widths
        self.parent_logits = nn.ModuleList(
            nn.ParameterList(nn.Parameter(torch.zeros(widths[l - 1])) for _ in range(widths[l]))
            for l in range(1, n_blocks)
        )
        self.heads = build_heads(self.tasks, template.out_channels, head)
        self._init_schedule(init_temperature, temperature_decay)
        self.hard = bool(hard)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self.check_input(x)
        outs: list[tuple[Tensor, dict]] = []
        for node in self.nodes[0]:
            ctx = new_context()
            outs.append((node(x, ctx)[1], ctx))
        for l in range(1, len(self.nodes)):
            new = []
            for j, node in enumerate(self.nodes[l]):
                w = self._sample(self.parent_logits[l - 1][j])
                h = sum(w[i] * out for i, (out, _) in enumerate(outs) if self.training or w[i] != 0)
                ctx = copy_context(outs[int(w.argmax())][1])
                new.append((node(h, ctx)[1], ctx))
            outs = new
        return {
            t.name: to_size(t, head(outs[i][0]), x.shape[-2:])
            for i, (t, head) in enumerate(zip(self.tasks, self.heads))
        }

    # ---- the search ---------------------------------------------------------------------------------
    #: the paper updates the branching distributions on held-out training data (DARTS-style; the share
    #: is not given in the paper's text we could check: half, as AdaShare)
    arch_fraction = 0.5

    def architecture_parameters(self) -> Iterator[nn.Parameter]:
        return iter(list(self.parent_logits.parameters()))

    # ---- the derived tree ---------------------------------------------------------------------------
    def parents(self) -> list[list[int]]:
        """``parents[l - 1][j]``: the argmax parent (in block ``l - 1``) of block ``l``'s node ``j``."""
        return [[int(lg.argmax()) for lg in layer] for layer in self.parent_logits]

    def paths(self) -> list[list[int]]:
        """Each task's node per block in the derived tree (from its leaf up through the argmax parents)."""
        parents = self.parents()
        out = []
        for t in range(len(self.tasks)):
            path = [t]
            for layer in reversed(parents):
                path.append(layer[path[-1]])
            out.append(path[::-1])
        return out

    # ---- partition ----------------------------------------------------------------------------------
    def shared_parameters(self) -> Iterator[nn.Parameter]:
        return parameters_of([*self.nodes[:-1], *self.parent_logits[:-1]])

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        t = self.task_names.index(task)
        own: list[nn.Module | nn.Parameter] = [self.nodes[-1][t], self.heads[t]]
        if len(self.nodes) > 1:
            own.append(self.parent_logits[-1][t])
        return parameters_of(own)
