"""Uncertainty weighting with learnable log-variances."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from multitask.methods.base import LossContext, LossWeighting, register_method
from multitask.methods.loss._checks import FrozenParameterWatch, check_losses, require_num_tasks


@register_method("uw")
class UW(LossWeighting):
    r"""Uncertainty weighting (homoscedastic task uncertainty).

    Kendall, Gal, Cipolla. Multi-Task Learning Using Uncertainty to Weigh Losses for Scene Geometry and
    Semantics. CVPR 2018.

    Objective, with one learnable log-variance $s_t = \log \sigma_t^2$ per task:

    $$
    \mathcal{L} = \sum_t \Big(\tfrac12 e^{-s_t} L_t + \tfrac12 s_t\Big)
    $$

    This is the paper's Gaussian-likelihood form $L_t / (2\sigma_t^2) + \log \sigma_t$ written in $s_t$
    (learning the log-variance is the paper's numerically stable parametrisation) and the exact objective
    of LibMTL's ``UW``. For fixed $L_t$ its minimiser is $s_t = \log L_t$, i.e. the effective weight
    $\tfrac12 e^{-s_t}$ tends to $1 / (2 L_t)$. The reported weights are $w_t = \tfrac12 e^{-s_t}$
    ($\partial \mathcal{L} / \partial L_t$).

    The log-variances are ``nn.Parameter``s: give ``method.parameters()`` to the optimizer (the paper
    trains them with the network's optimizer and learning rate). If they have not moved after 3 steps
    (left out of the optimizer) UW warns once.

    Args:
        num_tasks: number of tasks ``T``, required (the parameters exist before the optimizer is built;
            a missing value raises ``TypeError`` saying so).
        init: initial value of every ``sₜ`` (default 0, i.e. σₜ = 1 and weights ½; LibMTL uses −0.5).
    Partial labels (a task absent from a step): the objective covers the present tasks; the absent
    task's parameter gets a zero gradient (one tensor holds every task's), so a momentum optimizer still
    moves it by its momentum while the task is absent.

    Modes: loss weighting (one backward pass; no Jacobian). Losses may be negative (no logarithms).
    """

    supports_absent = True  # one parameter per task: an absent task's gets no gradient

    def __init__(self, num_tasks: int | None = None, init: float = 0.0) -> None:
        super().__init__()
        self.num_tasks = require_num_tasks("UW", "uw", num_tasks, "log-variances", optimizer=True)
        self.log_vars = nn.Parameter(torch.full((self.num_tasks,), float(init)))
        self._watch = FrozenParameterWatch()

    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        check_losses("UW", losses, ctx.task_names, ctx.expected(self.num_tasks))
        self._watch.check("UW", [self.log_vars], "log-variances")
        s = self.log_vars if ctx.present is None else self.log_vars[ctx.present.to(self.log_vars.device)]
        s = s.to(device=losses.device, dtype=losses.dtype)  # partial labels: the present tasks only
        precision = 0.5 * torch.exp(-s)
        total = (precision * losses + 0.5 * s).sum()
        return total, precision.detach()

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}"
