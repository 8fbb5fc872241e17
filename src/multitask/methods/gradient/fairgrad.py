"""FairGrad: α-fair utility weights, ``G w = w^{-1/α}`` (also the solver behind Nash-MTL)."""

from __future__ import annotations

import math

from torch import Tensor

from multitask.core.gramian import check_gramian, clip_weights
from multitask.core.solvers import alpha_fair_weights
from multitask.methods.base import GradientMethod, register_method

__all__ = ["FairGrad"]


@register_method("fairgrad")
class FairGrad(GradientMethod):
    """FairGrad: fair resource allocation among the tasks (α-fair utilities).

    Ban & Ji. Fair Resource Allocation in Multi-Task Learning. ICML 2024.

    The update ``d`` maximises the α-fair utility ``Σᵢ (gᵢᵀd)^{1−α}/(1−α)`` (``Σᵢ log gᵢᵀd`` for
    ``α = 1``) over a ball. Writing ``d = Σᵢ wᵢ gᵢ = Jᵀw``, its optimality condition is

        ``G w = w^{-1/α}``  (elementwise power, ``G = J Jᵀ``, ``w > 0``),

    solved here by damped Newton on its convex potential (:func:`alpha_fair_weights`) instead of the
    official code's ``scipy.optimize.least_squares`` (same root, exact to ``tol``). ``α = 1`` is
    proportional fairness (the Nash-MTL weights), ``α → ∞`` approaches max-min fairness (MGDA-like),
    ``α → 0`` approaches the plain sum. As in the official code, the update is then clipped to norm at
    most ``max_norm`` (``clip_grad_norm_`` of the shared parameters; here the weights are scaled so
    that ``‖Jᵀw‖ ≤ max_norm``; ``max_norm = 0`` turns clipping off).

    Args:
        alpha: fairness exponent ``α > 0`` (official default 1.0; the paper reports α = 2 on QM9,
            CelebA and Cityscapes among others).
        max_norm: clip the update's norm to this (official default 1.0; 0 disables).
        eps: relative ridge that keeps degenerate Gramians solvable (see :func:`alpha_fair_weights`).
        max_iter: cap on Newton iterations.
    Modes: parameters, features (in features mode ``max_norm`` clips the representation gradient).
    """

    needs = "gramian"

    def __init__(
        self, alpha: float = 1.0, max_norm: float = 1.0, eps: float = 1e-8, max_iter: int = 100
    ) -> None:
        super().__init__()
        if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"FairGrad: alpha must be a finite number > 0, got {alpha!r}")
        if not (isinstance(max_norm, (int, float)) and math.isfinite(max_norm) and max_norm >= 0):
            raise ValueError(f"FairGrad: max_norm must be a finite number >= 0, got {max_norm!r}")
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
            raise ValueError(f"FairGrad: eps must be a finite number >= 0, got {eps!r}")
        if int(max_iter) < 1:
            raise ValueError(f"FairGrad: max_iter must be >= 1, got {max_iter}")
        self.alpha = float(alpha)
        self.max_norm = float(max_norm)
        self.eps = float(eps)
        self.max_iter = int(max_iter)
        #: the unclipped solution of ``Gw = w^{-1/α}`` of the last call
        self.last_solution: Tensor | None = None

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        gramian = check_gramian(gramian)
        w = alpha_fair_weights(gramian, self.alpha, eps=self.eps, max_iter=self.max_iter)
        self.last_solution = w
        return clip_weights(w, gramian, self.max_norm)

    def reset(self) -> None:
        super().reset()
        self.last_solution = None

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, max_norm={self.max_norm}"
