"""Scale-invariant (logarithmic) scalarisation."""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.methods.base import LossContext, LossWeighting, register_method
from multitask.methods.loss._checks import check_losses, check_nonnegative, check_num_tasks


@register_method("si")
class SI(LossWeighting):
    r"""Scale-invariant (log) scalarisation: minimise the sum of the log-losses.

    Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya. Multi-Task Learning as a Bargaining Game.
    ICML 2022 (the "SI" baseline, also known as log scalarisation).

    Objective and weights:

    $$
    \mathcal{L} = \sum_t \log \max(L_t, \varepsilon), \qquad
    w_t = \frac{\partial \mathcal{L}}{\partial L_t} = \frac{1}{L_t} \quad (0 \text{ where } L_t < \varepsilon)
    $$

    Scaling a task's loss by $c > 0$ only adds $\log c$: the gradient does not change, so the method
    is invariant to the scale of every loss.

    Losses at 0 are clamped to ``ε``: the objective stays finite and that task gets weight 0 (the clamp
    passes no gradient). A negative loss raises ``ValueError`` naming the task.

    Args:
        num_tasks: optional number of tasks, checked against the loss vector when given.
        eps: the clamp ``ε`` (default 1e-12, below any loss scale of interest; keep it above the dtype's
            smallest normal number).
    Modes: loss weighting (one backward pass; no Jacobian).
    """

    def __init__(self, num_tasks: int | None = None, eps: float = 1e-12) -> None:
        super().__init__()
        if eps <= 0:
            raise ValueError(f"SI: eps must be > 0, got {eps}")
        self.num_tasks = None if num_tasks is None else check_num_tasks("SI", num_tasks)
        self.eps = float(eps)

    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        check_losses("SI", losses, ctx.task_names, ctx.expected(self.num_tasks))
        check_nonnegative("SI", losses, ctx.task_names)
        clamped = losses.clamp_min(self.eps)
        total = torch.log(clamped).sum()
        values = losses.detach()
        w = torch.where(values >= self.eps, 1.0 / values.clamp_min(self.eps), torch.zeros_like(values))
        return total, w

    def extra_repr(self) -> str:
        return f"eps={self.eps:g}"
