"""BMTAS: differentiable search over branched networks with an expected-FLOPs resource term."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
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
from multitask.models.sharing._supergraph import (
    BranchSearch,
    block_copies,
    block_macs,
    is_refinement,
    prefix_partitions,
    set_partitions,
    tree_macs,
)


class ExpectedGroups(nn.Module):
    """Expected number of branches per block of the tree sampled from per-task categorical choices.

    As the authors' ``BranchingLoss``: with ``P`` the task partitions other than the all-singletons one,
    the probability that block ``l`` has partition ``k`` is ``p_l(k) · sum_{a ⊒ k} p_{l-1}(a)``: the
    probability that the block-``l`` choices (independent per task, ``softmax(α_{l,t})``) group the tasks
    as ``k``, times the probability that the previous block's partition is one that ``k`` refines; the rest
    of the mass goes to the all-singletons partition (an upper bound). The expectation is
    ``sum_k P(k) · |k|`` (groups = copies of the block that run).
    """

    def __init__(self, num_tasks: int) -> None:
        super().__init__()
        n = num_tasks
        parts = [p for p in set_partitions(n) if len(p) < n]
        index = {tuple(map(tuple, p)): i for i, p in enumerate(parts)}
        rows = list(itertools.product(range(n), repeat=n))
        digits = torch.tensor(rows, dtype=torch.long)
        which = []
        for row in rows:
            groups: dict[int, list[int]] = {}
            for t, c in enumerate(row):
                groups.setdefault(c, []).append(t)
            which.append(index.get(tuple(map(tuple, sorted(groups.values()))), len(parts)))
        refines = torch.tensor([[float(is_refinement(k, a)) for a in parts] for k in parts]).reshape(
            len(parts), len(parts)
        )
        self.num_parts = len(parts)
        self.register_buffer("digits", digits, persistent=False)
        self.register_buffer("which", torch.tensor(which, dtype=torch.long), persistent=False)
        self.register_buffer("refines", refines, persistent=False)
        self.register_buffer(
            "sizes", torch.tensor([float(len(p)) for p in parts] + [float(n)]), persistent=False
        )

    def forward(self, probs: Sequence[Tensor]) -> Tensor:
        """``probs[l]``: ``[T, T]`` choice probabilities of block ``l``; returns ``[L]`` expected groups."""
        k = self.num_parts
        out, previous = [], None
        for p in probs:
            t = p.shape[0]
            joint = p[torch.arange(t, device=p.device), self.digits].prod(dim=-1)  # [T^T]
            cond = p.new_zeros(k + 1).index_add(0, self.which, joint)[:k]
            total = cond if previous is None else cond * (self.refines @ previous)
            previous = total
            full = torch.cat([total, (1 - total.sum()).reshape(1)])
            out.append((full * self.sizes).sum())
        return torch.stack(out)


@register_model("bmtas")
class BMTAS(BranchSearch):
    """Branched Multi-Task Architecture Search.

    Bruggemann, Kanakis, Georgoulis, Van Gool. Automated Search for Resource-Efficient Branched Multi-Task
    Networks. BMVC 2020; code: github.com/brdav/bmtas.

    A supergraph with ``T`` copies of every backbone block. Task ``t`` runs its own path: at block ``l``
    its input goes through the mixture ``sum_k w_k copy_{l,k}(h)`` with ``w`` a Gumbel-softmax sample of
    its logits ``α_{l,t}`` (zero at the start; temperature ``init_temperature``, times
    ``temperature_decay`` after each epoch; the one-hot argmax in eval). During ``warmup_epochs`` every
    task uses its own copy (task-specific networks, as the authors' warm-up). Tasks that pick the same
    copies up to block ``l`` share blocks ``0..l``: the derived network is the tree of the argmax paths
    (:meth:`derived_config`, a ``branched`` config to train from scratch).

    Resource term: ``regularization()`` returns ``resource_weight · sum_l E[groups_l] · MACs_l /
    sum_l MACs_l`` (:class:`ExpectedGroups`), the expected cost of the sampled tree relative to one
    single-path network (1 = all blocks shared, ``T`` = task-specific networks); a larger weight moves
    the search towards cheaper trees. The block costs (multiply-accumulates) are measured on the first
    forward's input and kept as a buffer. As the authors' code, the trainer updates the logits
    (:meth:`architecture_parameters`) on held-out training batches (20 % by default) and the weights on
    the others, the resource term in the architecture steps only (``multitask.train.search``).

    Training-loop hook: ``on_epoch_end(epoch)`` (warm-up, temperature).

    Partition: the block copies are shared (any task may use any copy); task ``t`` owns its logits and
    its head.

    Args:
        tasks: the tasks.
        backbone: a registered backbone name (fresh copies) or a built backbone (deep copies).
        in_channels: input channels.
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
        resource_weight: weight of the resource term (0: no resource term). The authors' default
            0.05 multiplies absolute GFLOPs; here the cost is relative to one single-path network.
        init_temperature: Gumbel-softmax temperature at the start.
        temperature_decay: factor applied after each epoch (after the warm-up).
        warmup_epochs: epochs of task-specific paths before the search.
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
        resource_weight: float = 0.1,
        init_temperature: float = 5.0,
        temperature_decay: float = 0.965,
        warmup_epochs: int = 0,
        hard: bool = False,
    ) -> None:
        super().__init__(tasks)
        self._spec = spec_of("bmtas", backbone, in_channels, backbone_kwargs, head)
        n_tasks = len(self.tasks)
        if (
            isinstance(resource_weight, bool)
            or not isinstance(resource_weight, (int, float))
            or resource_weight < 0
        ):
            raise ValueError(f"bmtas: resource_weight must be a number >= 0, got {resource_weight!r}")
        check_positive("bmtas", "init_temperature", init_temperature)
        check_positive("bmtas", "temperature_decay", temperature_decay)
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise ValueError(f"bmtas: warmup_epochs must be an int >= 0, got {warmup_epochs!r}")
        if n_tasks > 6:
            raise ValueError(
                f"bmtas: the resource term enumerates T^T task choices; {n_tasks} tasks is too many"
            )
        n_blocks = block_copies(backbone, [1], in_channels, backbone_kwargs)[0].num_blocks
        template, self.copies = block_copies(backbone, [n_tasks] * n_blocks, in_channels, backbone_kwargs)
        check_tasks(self.tasks, template, "bmtas")
        self.check_input = template.check_input
        self.alphas = nn.ModuleList(
            nn.ParameterList(nn.Parameter(torch.zeros(n_tasks)) for _ in range(n_tasks))
            for _ in range(n_blocks)
        )
        self.heads = build_heads(self.tasks, template.out_channels, head)
        self.expected_groups = ExpectedGroups(n_tasks)
        self.resource_weight = float(resource_weight)
        self._init_schedule(init_temperature, temperature_decay)
        self.warmup_epochs = warmup_epochs
        self.hard = bool(hard)
        self.register_buffer("block_macs", torch.zeros(n_blocks, dtype=torch.float64))

    # ---- forward ------------------------------------------------------------------------------------
    def _weights(self, l: int, t: int) -> Tensor:
        alpha = self.alphas[l][t]
        if self.warming_up:
            return F.one_hot(torch.tensor(t, device=alpha.device), alpha.numel()).to(alpha.dtype)
        return self._sample(alpha)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self.check_input(x)
        if not bool(self.block_macs.any()):
            self.block_macs.copy_(torch.tensor(block_macs([c[0] for c in self.copies], x)))
        preds = {}
        for t, (task, head) in enumerate(zip(self.tasks, self.heads)):
            h, ctx = x, new_context()
            for l, copies in enumerate(self.copies):
                w = self._weights(l, t)
                outs, ctxs = [], []
                for k, block in enumerate(copies):
                    if self.training and not self.warming_up or w[k] != 0:
                        c = copy_context(ctx)
                        outs.append(w[k] * block(h, c)[1])
                        ctxs.append((float(w[k].detach()), c))
                h = sum(outs)
                ctx = max(ctxs, key=lambda item: item[0])[1]
            preds[task.name] = to_size(task, head(h), x.shape[-2:])
        return preds

    # ---- resource term ------------------------------------------------------------------------------
    def expected_cost(self) -> Tensor:
        """Expected MACs of the sampled tree relative to a single path (1 = fully shared, T = separate)."""
        probs = [torch.stack([torch.softmax(a, dim=-1) for a in layer]) for layer in self.alphas]
        groups = self.expected_groups(probs)
        macs = self.block_macs.to(groups.dtype)
        return (groups * macs).sum() / macs.sum()

    def regularization(self) -> Tensor | None:
        if (
            self.resource_weight == 0
            or len(self.tasks) == 1
            or self.warming_up
            or not bool(self.block_macs.any())
        ):
            return None
        return self.resource_weight * self.expected_cost()

    # ---- the search ---------------------------------------------------------------------------------
    #: the authors' code holds out 20 % of the training images for the architecture updates
    arch_fraction = 0.2

    def architecture_parameters(self) -> Iterator[nn.Parameter]:
        return iter(list(self.alphas.parameters()))

    # ---- the derived tree ---------------------------------------------------------------------------
    def paths(self) -> list[list[int]]:
        """Each task's argmax copy per block."""
        return [[int(layer[t].argmax()) for layer in self.alphas] for t in range(len(self.tasks))]

    def derived_macs(self) -> float:
        """MACs per sample of the derived tree's backbone part (after a first forward)."""
        return tree_macs(prefix_partitions(self.paths()), self.block_macs.tolist())

    # ---- partition ----------------------------------------------------------------------------------
    def shared_parameters(self) -> Iterator[nn.Parameter]:
        return parameters_of([self.copies])

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        t = self.task_names.index(task)
        return parameters_of([*(layer[t] for layer in self.alphas), self.heads[t]])
