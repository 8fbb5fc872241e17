"""Stochastic filter groups: each filter is task-specific or shared, its group learned by variational
inference."""

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
    build_backbone,
    build_heads,
    check_tasks,
    parameters_of,
    to_size,
)
from multitask.models.backbones import copy_context, new_context
from multitask.models.base import register_model
from multitask.models.sharing._common import AnnealedSearch, check_positive, mask_like


@register_model("stochastic_filter_groups")
class StochasticFilterGroups(AnnealedSearch):
    """Stochastic filter groups.

    Bragman, Tanno, Ourselin, Alexander, Cardoso. Stochastic Filter Groups for Multi-Task CNNs: Learning
    Specialist and Generalist Convolution Kernels. ICCV 2019.

    The output units (filters) of every backbone block ``l`` are split into ``T + 1`` groups: one
    specialist group per task and one generalist (shared) group. Filter ``k`` belongs to group
    ``z_k ~ q_φ(z_k) = softmax(φ_k)``. The groups see different inputs, as in the paper's SFG module:
    a task group's filters read that task's and the shared features of the previous block, the shared
    group reads the shared features only (block 0 reads the image in every group). With masks
    ``m_g`` (one-hot rows of ``z``) and ``a_g`` the input masks (``m_t + m_s`` of the previous block,
    ``m_s`` for the shared group), block ``l`` outputs ``sum_g m_g ⊙ F_l(x ⊙ a_g)``; task ``t``'s head
    reads ``(m_t + m_s) ⊙`` the last output. ``T + 1`` runs of each block per forward.

    In training ``m`` is a Gumbel-softmax (concrete) sample of ``q`` (temperature ``temperature``, times
    ``temperature_decay`` after each epoch), in eval the most probable group. The variational objective
    adds ``KL(q_φ || p)`` with a fixed categorical prior ``p`` (``prior``, default uniform) through
    ``regularization()``, weighted by ``kl_weight`` (the ELBO's 1 / dataset size). The groups are applied
    to the blocks' outputs here (LeNet: conv1, conv2, fc; ResNet: the stage outputs) rather than to every
    convolution; a backbone's per-forward context follows the shared group.

    Training-loop hook: ``on_epoch_end(epoch)`` (temperature).

    Partition: the backbone and the assignment logits are shared (a filter can join any group); task
    ``t`` owns its head.

    Args:
        tasks: the tasks.
        backbone: a registered backbone name or a built backbone.
        in_channels: input channels (when the backbone is given by name).
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
        prior: ``T + 1`` prior probabilities (task groups in task order, then the shared group).
        kl_weight: weight of the KL term.
        temperature: Gumbel-softmax temperature at the start.
        temperature_decay: factor applied after each epoch.
    """

    has_shared_representation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec,
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
        prior: Sequence[float] | None = None,
        kl_weight: float = 1e-3,
        temperature: float = 1.0,
        temperature_decay: float = 1.0,
    ) -> None:
        super().__init__(tasks)
        n_groups = len(self.tasks) + 1
        if prior is None:
            prior = [1.0 / n_groups] * n_groups
        prior_t = torch.as_tensor(list(prior), dtype=torch.float32, device="cpu")
        if (
            prior_t.shape != (n_groups,)
            or not bool((prior_t > 0).all())
            or abs(float(prior_t.sum()) - 1) > 1e-5
        ):
            raise ValueError(
                f"stochastic_filter_groups: prior must be {n_groups} positive probabilities summing to 1 "
                f"(one per task, then shared), got {list(prior)}"
            )
        if isinstance(kl_weight, bool) or not isinstance(kl_weight, (int, float)) or kl_weight < 0:
            raise ValueError(f"stochastic_filter_groups: kl_weight must be a number >= 0, got {kl_weight!r}")
        check_positive("stochastic_filter_groups", "temperature", temperature)
        check_positive("stochastic_filter_groups", "temperature_decay", temperature_decay)
        self.backbone = build_backbone(backbone, in_channels, backbone_kwargs)
        check_tasks(self.tasks, self.backbone, "stochastic_filter_groups")
        self.heads = build_heads(self.tasks, self.backbone.out_channels, head)
        self.register_buffer("prior", prior_t)
        self.assign_logits = nn.ParameterList(
            nn.Parameter(prior_t.log().repeat(c, 1)) for c in self.backbone.block_channels
        )
        self.kl_weight = float(kl_weight)
        self._init_schedule(temperature, temperature_decay)

    def assignments(self) -> list[Tensor]:
        """Per block, ``[C, T + 1]`` group probabilities ``q(z_k)`` (task groups, then shared)."""
        return [torch.softmax(lg, dim=-1) for lg in self.assign_logits]

    def groups(self) -> list[Tensor]:
        """Per block, the most probable group of each filter (``T`` = shared)."""
        return [lg.argmax(-1).detach() for lg in self.assign_logits]

    def _masks(self, l: int) -> Tensor:
        logits = self.assign_logits[l]
        if self.training:
            return F.gumbel_softmax(logits, tau=self.temperature, dim=-1)
        return F.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self.backbone.check_input(x)
        n = len(self.tasks)
        h, ctx, previous = x, new_context(), None
        for l, block in enumerate(self.backbone.blocks):
            masks = self._masks(l)  # [C, T + 1]
            out, shared_ctx = None, ctx
            for g in range(n + 1):
                if previous is None:
                    inp = h
                else:
                    allowed = previous[:, n] if g == n else previous[:, g] + previous[:, n]
                    inp = h * mask_like(allowed, h)
                c = copy_context(ctx)
                o = block(inp, c)[1]
                part = o * mask_like(masks[:, g], o)
                if g == n:
                    shared_ctx = c
                out = part if out is None else out + part
            h, ctx, previous = out, shared_ctx, masks
        preds = {}
        for t, (task, head) in enumerate(zip(self.tasks, self.heads)):
            feat = h * mask_like(previous[:, t] + previous[:, n], h)
            preds[task.name] = to_size(task, head(feat), x.shape[-2:])
        return preds

    def regularization(self) -> Tensor | None:
        """``kl_weight · sum_l sum_k KL(q(z_k) || prior)``."""
        if self.kl_weight == 0:
            return None
        log_prior = self.prior.log()
        kl = sum(
            (torch.softmax(lg, -1) * (torch.log_softmax(lg, -1) - log_prior)).sum()
            for lg in self.assign_logits
        )
        return self.kl_weight * kl

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        return parameters_of([self.backbone, self.assign_logits])

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        return parameters_of([self.heads[self.task_names.index(task)]])
