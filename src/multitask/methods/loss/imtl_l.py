"""IMTL-L: the loss-balance part of Impartial Multi-Task Learning."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from multitask.methods.base import LossContext, LossWeighting, register_method
from multitask.methods.loss._checks import FrozenParameterWatch, check_losses, require_num_tasks


@register_method("imtl_l")
class IMTLL(LossWeighting):
    r"""IMTL-L, impartial loss balancing with learnable scales.

    Liu, Li, Kuang, Xue, Chen, Yang, Liao, Zhang. Towards Impartial Multi-task Learning. ICLR 2021
    (the loss part, "IMTL-L"; the gradient part is IMTL-G).

    Objective, with one learnable log-scale $s_t$ per task:

    $$
    \mathcal{L} = \sum_t \big(e^{s_t} L_t - s_t\big)
    $$

    $\partial \mathcal{L} / \partial s_t = e^{s_t} L_t - 1$, so for fixed losses the scales settle where
    every scaled loss $e^{s_t} L_t$ equals 1: the balance is invariant to the scale of each loss. The
    reported weights are $w_t = e^{s_t}$.

    The scales are ``nn.Parameter``s: give ``method.parameters()`` to the optimizer (the paper updates them
    with the network by gradient descent). If they have not moved after 3 steps (left out of the
    optimizer) IMTL-L warns once.

    Args:
        num_tasks: number of tasks ``T``, required (``TypeError`` saying so when missing).
        init: initial value of every ``sₜ`` (default 0: unit weights, as in the paper and LibMTL).
    Partial labels (a task absent from a step): the objective covers the present tasks; the absent
    task's parameter gets a zero gradient (one tensor holds every task's), so a momentum optimizer still
    moves it by its momentum while the task is absent.

    Modes: loss weighting (one backward pass; no Jacobian). The losses should be positive (the minimiser
    ``sₜ = −log Lₜ`` exists only for ``Lₜ > 0``); the objective itself is finite for any finite loss.
    """

    supports_absent = True  # one parameter per task: an absent task's gets no gradient

    def __init__(self, num_tasks: int | None = None, init: float = 0.0) -> None:
        super().__init__()
        self.num_tasks = require_num_tasks("IMTL_L", "imtl_l", num_tasks, "log-scales", optimizer=True)
        self.log_scales = nn.Parameter(torch.full((self.num_tasks,), float(init)))
        self._watch = FrozenParameterWatch()

    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        check_losses("IMTL_L", losses, ctx.task_names, ctx.expected(self.num_tasks))
        self._watch.check("IMTL_L", [self.log_scales], "log-scales")
        s = (
            self.log_scales
            if ctx.present is None
            else self.log_scales[ctx.present.to(self.log_scales.device)]
        )
        s = s.to(device=losses.device, dtype=losses.dtype)  # partial labels: the present tasks only
        scale = torch.exp(s)
        total = (scale * losses - s).sum()
        return total, scale.detach()

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}"
