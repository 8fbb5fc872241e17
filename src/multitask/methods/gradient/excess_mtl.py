"""ExcessMTL: task weights driven by estimated excess risks (distance to each task's optimum)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from multitask.core.gramian import work_dtype
from multitask.methods.base import GradientMethod, register_method


@register_method("excess_mtl")
class ExcessMTL(GradientMethod):
    r"""Robust multi-task learning with excess risks.

    He, Zhou, Zhang, Yun, Xu, Zeng, Chilimbi, Zhao. Robust Multi-Task Learning with Excess Risks.
    ICML 2024.

    Weights follow each task's *excess risk* $L_i(\theta) - L_i(\theta_i^*)$ rather than its loss, so a task
    with large irreducible noise does not grab the weight. A second-order Taylor expansion around the
    optimum gives $L_i(\theta) - L_i^* \approx \frac12 g_i^\top H_i^{-1} g_i$; the Hessian is replaced by the
    diagonal AdaGrad preconditioner
    $H_i \approx \operatorname{diag}\big(\sqrt{\sum_{s \le k} g_{i,s}^2 + \varepsilon}\big)$
    accumulated over the steps. At step $k$:

    * $a_i \leftarrow a_i + g_i \odot g_i$,
      $e_i = g_i^\top \operatorname{diag}\big(\sqrt{a_i + \varepsilon}\big)^{-1} g_i$
      (the factor ½ cancels below);
    * first step: $e_i^0 = e_i$ is recorded and the weights stay $w_i = 1$;
    * later steps: $w_i \leftarrow w_i \exp(\eta \, e_i / e_i^0)$, then $w \leftarrow T w / \sum_j w_j$
      (exponentiated-gradient ascent on the worst-case mixture, normalised to sum $T$ as in the official
      code);
    * direction $d = \sum_i w_i g_i$.

    Dividing by the first-step estimate $e_i^0$ makes the weights independent of each task's gradient
    scale. The multiplicative update is carried out in log space (a softmax), which is the same rule
    but never overflows. A task whose first estimate is 0 gets its reference at the first step where its
    gradient is non-zero.

    State: the squared-gradient accumulator ``a`` (``[T, n]``), ``e⁰`` and ``w`` (all in ``state_dict()``).
    A Jacobian of another shape raises ``ValueError`` (call ``reset()`` after changing the model).

    Args:
        robust_step_size: ``η`` (official code default 1e-2).
        eps: ``ε`` inside the square root (official code 1e-7).
        feature_dim: for features mode: the size of the representation's last dimension. Rows of ``J``
            are then viewed as ``[batch, feature_dim]`` and summed over the batch (the official code's
            treatment of representation gradients), so batches of different sizes are allowed. Leave
            ``None`` in parameters mode.
    Modes: parameters; features (with ``feature_dim``).
    """

    needs = "jacobian"
    _state_attrs = ("grad_sq_sum", "initial_excess", "loss_weights")
    supports_absent = True  # partial labels: see _partial_direction

    def __init__(
        self, robust_step_size: float = 1e-2, eps: float = 1e-7, feature_dim: int | None = None
    ) -> None:
        super().__init__()
        if not (isinstance(robust_step_size, (int, float)) and math.isfinite(robust_step_size)):
            raise ValueError(f"ExcessMTL: robust_step_size must be a finite number, got {robust_step_size!r}")
        if robust_step_size < 0:
            raise ValueError(f"ExcessMTL: robust_step_size must be >= 0, got {robust_step_size!r}")
        if not (isinstance(eps, (int, float)) and eps > 0 and math.isfinite(eps)):
            raise ValueError(f"ExcessMTL: eps must be a finite number > 0, got {eps!r}")
        if feature_dim is not None and (isinstance(feature_dim, bool) or not isinstance(feature_dim, int)):
            raise TypeError(
                f"ExcessMTL: feature_dim must be an int or None, got {type(feature_dim).__name__}"
            )
        if feature_dim is not None and feature_dim < 1:
            raise ValueError(f"ExcessMTL: feature_dim must be >= 1, got {feature_dim}")
        self.robust_step_size = float(robust_step_size)
        self.eps = float(eps)
        self.feature_dim = feature_dim
        self.grad_sq_sum: Tensor | None = None
        self.initial_excess: Tensor | None = None
        self.loss_weights: Tensor | None = None
        #: the excess-risk estimates ``eᵢ`` of the last step
        self.last_excess: Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.grad_sq_sum = None
        self.initial_excess = None
        self.loss_weights = None
        self.last_excess = None

    def direction(self, jacobian: Tensor, losses: Tensor | None = None) -> Tensor:
        if self.present is not None:
            return self._partial_direction(jacobian, losses)
        t = jacobian.shape[0]
        rows = self._reduce(jacobian.detach())
        acc = self.grad_sq_sum
        if acc is None:
            acc = torch.zeros_like(rows)
        elif acc.shape != rows.shape:
            hint = "" if self.feature_dim is not None else " (in features mode pass feature_dim)"
            raise ValueError(
                f"ExcessMTL: the gradients have shape {tuple(rows.shape)} but the accumulator holds "
                f"{tuple(acc.shape)}{hint}; the tasks or shared parameters changed: call reset()"
            )
        acc = acc.to(dtype=rows.dtype, device=rows.device) + rows * rows
        excess = (rows * rows / torch.sqrt(acc + self.eps)).sum(dim=1)
        self.grad_sq_sum = acc
        self.last_excess = excess
        work = work_dtype(rows.device)
        excess_w = excess.to(work)
        weights = self.loss_weights
        if weights is None or self.initial_excess is None:
            self.initial_excess = excess_w
            weights = torch.ones(t, dtype=work, device=rows.device)
        else:
            if weights.shape != (t,):
                raise ValueError(f"ExcessMTL: {weights.shape[0]} stored weights for {t} tasks; call reset()")
            weights = weights.to(dtype=work, device=rows.device)
            initial = self.initial_excess.to(dtype=work, device=rows.device)
            initial = torch.where(initial > 0, initial, excess_w)
            self.initial_excess = initial
            ratio = torch.where(initial > 0, excess_w / torch.where(initial > 0, initial, 1.0), 0.0)
            weights = t * torch.softmax(torch.log(weights) + self.robust_step_size * ratio, dim=0)
        self.loss_weights = weights
        w = weights.to(jacobian.dtype)
        self.last_weights = w
        return w @ jacobian

    def _partial_direction(self, jacobian: Tensor, losses: Tensor | None) -> Tensor:
        """Partial labels: the rule on the present tasks; an absent task's accumulator, reference and
        weight wait. The present weights enter renormalised to sum ``T_eff`` and are stored back scaled
        to their previous share, so the full weights keep summing to ``T``."""
        assert self.present is not None
        full_t, t = int(self.total_tasks or jacobian.shape[0]), jacobian.shape[0]
        idx = self.present
        shape = self._reduce(jacobian.detach()).shape[1:]
        acc = self.grad_sq_sum if self.grad_sq_sum is not None else jacobian.new_zeros((full_t, *shape))
        if acc.shape[0] != full_t:
            raise ValueError(
                f"ExcessMTL: the accumulator holds {acc.shape[0]} tasks, the problem has {full_t}"
            )
        first = self.loss_weights is None or self.initial_excess is None
        initial = self.initial_excess if not first else torch.zeros(full_t, dtype=acc.dtype)
        weights = self.loss_weights if not first else torch.ones(full_t, dtype=acc.dtype)
        assert initial is not None and weights is not None
        acc, initial, weights = acc.clone(), initial.clone(), weights.clone()
        mass = weights[idx.to(weights.device)].sum()
        original = (self.grad_sq_sum, self.initial_excess, self.loss_weights)
        self.grad_sq_sum = acc[idx.to(acc.device)]
        self.initial_excess = None if first else initial[idx.to(initial.device)]
        self.loss_weights = None if first else weights[idx.to(weights.device)] * (t / mass)
        self.present, saved = None, self.present
        try:
            d = self.direction(jacobian, losses)
        except Exception:
            self.grad_sq_sum, self.initial_excess, self.loss_weights = original
            raise
        finally:
            self.present = saved
        assert (
            self.grad_sq_sum is not None and self.initial_excess is not None and self.loss_weights is not None
        )
        acc[idx.to(acc.device)] = self.grad_sq_sum.to(acc)
        initial = initial.to(self.initial_excess)
        initial[idx.to(initial.device)] = self.initial_excess
        weights = weights.to(self.loss_weights)
        weights[idx.to(weights.device)] = self.loss_weights * (mass.to(weights) / t)
        self.grad_sq_sum, self.initial_excess, self.loss_weights = acc, initial, weights
        return d

    def _reduce(self, rows: Tensor) -> Tensor:
        if self.feature_dim is None:
            return rows
        t, n = rows.shape
        if n % self.feature_dim != 0:
            raise ValueError(
                f"ExcessMTL: the Jacobian has {n} columns, not a multiple of feature_dim={self.feature_dim}"
            )
        return rows.reshape(t, -1, self.feature_dim).sum(dim=1)

    def extra_repr(self) -> str:
        return f"robust_step_size={self.robust_step_size}, eps={self.eps}, feature_dim={self.feature_dim}"
