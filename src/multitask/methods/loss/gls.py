"""Geometric loss strategy: the geometric mean of the task losses."""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.methods.base import LossContext, LossWeighting, register_method
from multitask.methods.loss._checks import check_losses, check_nonnegative, check_num_tasks


@register_method("gls")
class GLS(LossWeighting):
    r"""Geometric loss strategy (GLS).

    Chennupati, Sistu, Yogamani, Rawashdeh. MultiNet++: Multi-Stream Feature Aggregation and Geometric
    Loss Strategy for Multi-Task Learning. CVPR Workshops 2019.

    Objective and weights:

    $$
    \mathcal{L} = \Big(\prod_t L_t\Big)^{1/T} = \exp\Big(\frac{1}{T} \sum_t \log \max(L_t, \varepsilon)\Big),
    \qquad w_t = \frac{\partial \mathcal{L}}{\partial L_t} = \frac{\mathcal{L}}{T L_t}
    $$

    Scaling one task's loss by $c > 0$ multiplies $\mathcal{L}$ by $c^{1/T}$ and leaves the direction of its
    gradient unchanged: the balance between tasks does not depend on their scales. The product is
    computed in the log domain, so ``T`` losses of 1e8 do not overflow.

    Losses at 0 are clamped to ``ε`` (the objective stays finite; that task gets weight 0 because the
    clamp passes no gradient). A negative loss raises ``ValueError`` naming the task.

    Args:
        num_tasks: optional number of tasks, checked against the loss vector when given.
        eps: the clamp ``ε`` (default 1e-12).
    Modes: loss weighting (one backward pass; no Jacobian).
    """

    def __init__(self, num_tasks: int | None = None, eps: float = 1e-12) -> None:
        super().__init__()
        if eps <= 0:
            raise ValueError(f"GLS: eps must be > 0, got {eps}")
        self.num_tasks = None if num_tasks is None else check_num_tasks("GLS", num_tasks)
        self.eps = float(eps)

    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        check_losses("GLS", losses, ctx.task_names, ctx.expected(self.num_tasks))
        check_nonnegative("GLS", losses, ctx.task_names)
        total = torch.exp(torch.log(losses.clamp_min(self.eps)).mean())
        values = losses.detach()
        t = values.numel()
        w = torch.where(
            values >= self.eps, total.detach() / (t * values.clamp_min(self.eps)), torch.zeros_like(values)
        )
        return total, w

    def extra_repr(self) -> str:
        return f"eps={self.eps:g}"
