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
    r"""FairGrad: fair resource allocation among the tasks (α-fair utilities).

    Ban & Ji. Fair Resource Allocation in Multi-Task Learning. ICML 2024.

    The update $d$ maximises the α-fair utility $\sum_i (g_i^\top d)^{1-\alpha} / (1 - \alpha)$
    ($\sum_i \log g_i^\top d$ for $\alpha = 1$) over a ball. Writing $d = \sum_i w_i g_i = J^\top w$, its
    optimality condition is

    $$
    G w = w^{-1/\alpha} \qquad (\text{elementwise power}, \ G = J J^\top, \ w > 0),
    $$

    solved here by damped Newton on its convex potential (:func:`alpha_fair_weights`) instead of the
    official code's ``scipy.optimize.least_squares`` (same root, exact to ``tol``). ``α = 1`` is
    proportional fairness (the Nash-MTL weights), ``α → ∞`` approaches max-min fairness (MGDA-like),
    ``α → 0`` approaches the plain sum.

    The update is the official code's: $d = \operatorname{clip}(T \cdot J^\top w, \texttt{max\_norm})$. The
    official trainer writes ``T · Jᵀw`` into the shared parameters' ``.grad`` ("to match the sum loss") and
    then calls ``clip_grad_norm_(shared, max_norm)``, which rescales only when the norm exceeds ``max_norm``
    (a max-norm clip, not a normalisation); here the weights are ``T w`` scaled so that
    ``‖Jᵀ(Tw)‖ ≤ max_norm`` (``max_norm = 0`` turns clipping off and leaves ``T · Jᵀw``).
    ``last_weights`` are these final row weights; ``last_solution`` holds the unscaled ``w``.

    With ``α = 1`` the step equals Nash-MTL's (``‖Jᵀw‖ = √T`` there, so both updates are clipped to the
    same unit vector when ``max_norm = 1``): the two methods differ only for ``α ≠ 1``.

    Args:
        alpha: fairness exponent ``α > 0`` (default 2.0: the value of every official run script,
            ``experiments/{celeba,cityscapes,nyuv2,quantum_chemistry}/run.sh`` and the MT10 RL script;
            the official argument parser's and class's default is 1.0, which would make FairGrad
            Nash-MTL).
        max_norm: clip the update's norm to at most this (official default 1.0; 0 disables).
        eps: relative ridge that keeps degenerate Gramians solvable (see :func:`alpha_fair_weights`).
        max_iter: cap on Newton iterations.
    Modes: parameters, features (in features mode ``max_norm`` clips the representation gradient).
    """

    needs = "gramian"

    def __init__(
        self, alpha: float = 2.0, max_norm: float = 1.0, eps: float = 1e-8, max_iter: int = 100
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
        # official: T·Jᵀw written to .grad ("to match the sum loss"), then clip_grad_norm_(max_norm)
        return clip_weights(w * gramian.shape[0], gramian, self.max_norm)

    def reset(self) -> None:
        super().reset()
        self.last_solution = None

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, max_norm={self.max_norm}"
