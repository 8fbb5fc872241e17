"""Dirty model: block-sparse plus element-sparse multi-task learning.

MALSAR ``Least_Dirty`` / ``Logistic_Dirty``.
"""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l1, prox_l1inf_rows
from multitask.classic._twins import Composite, ProxGradientModel, document_twins

__all__ = ["DirtyRegressor", "DirtyClassifier"]


def l1inf_norm(P: np.ndarray) -> float:
    """‖P‖₁,∞ = Σᵢ maxₜ |Pᵢₜ| (sum over feature rows of the largest magnitude across tasks)."""
    return float(np.abs(P).max(axis=1).sum()) if P.size else 0.0


_DOC = """

    Jalali, Ravikumar, Sanghavi, Ruan. A dirty model for multi-task learning. NeurIPS 2010.

    Objective (W = P + Q, d x T, one column per task; MALSAR ``{loss_name}_Dirty``)::

        min_{{P, Q, c}}  {loss}  +  lambda1 ‖P‖₁,∞ + lambda2 ‖Q‖₁,₁

    ‖P‖₁,∞ = Σᵢ maxₜ |Pᵢₜ| selects features shared by all tasks (block sparsity); ‖Q‖₁,₁ = Σ |Qᵢₜ| lets
    each task keep its own few features. MALSAR's ``Least_Dirty`` writes the loss without the ½
    (‖X(P+Q) − Y‖²_F), so its (λ₁, λ₂) equal twice the values here; the ½ is kept here so that every
    estimator of :mod:`multitask.classic` shares the same loss. Prox: ℓ₁,∞ by Moreau (projection onto the
    ℓ1 ball, row by row) and soft thresholding.

    Args:
        lambda1: ‖P‖₁,∞ strength (MALSAR ``lambda1``/``rho1``; default 1.0 regressor, 0.01 classifier).
        lambda2: ‖Q‖₁,₁ strength (MALSAR ``lambda2``/``rho2``; default 1.0 regressor, 0.01 classifier).
            Jalali et al. recommend λ₂ < λ₁ < T·λ₂ for both parts to be active.
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel` (MALSAR: max_iter 1000, tol 1e-4,
            relative objective change). ``init="lstsq"`` starts P at the per-task least-squares
            solution and Q at 0.

    Attributes:
        coef_ (n_tasks, n_features) = (P + Q)ᵀ, P_ and Q_ (n_tasks, n_features, the two components,
        transposed like coef_), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_{extra}
    """


class _DirtyModel(ProxGradientModel):
    """Shared ``__init__`` (regressor defaults) and problem of the dirty-model twins."""

    _nonneg_params = ("lambda1", "lambda2")
    _part_attrs = ("P_", "Q_")

    def __init__(
        self,
        lambda1: float = 1.0,
        lambda2: float = 1.0,
        *,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        stop: str = "rel_change",
        init: str = "zero",
        warm_start: bool = False,
        verbose: bool = False,
    ) -> None:
        self.lambda1 = lambda1
        self.lambda2 = lambda2
        super().__init__(
            fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop, init=init,
            warm_start=warm_start, verbose=verbose,
        )

    def _problem(self, loss: SmoothLoss) -> Composite:
        lambda1, lambda2 = float(self.lambda1), float(self.lambda2)
        return Composite(
            loss,
            lambda p, step: (prox_l1inf_rows(p[0], lambda1 * step), prox_l1(p[1], lambda2 * step)),
            lambda p: lambda1 * l1inf_norm(p[0]) + lambda2 * float(np.abs(p[1]).sum()),
        )


class DirtyRegressor(_DirtyModel, MultiTaskRegressorBase):
    pass


class DirtyClassifier(_DirtyModel, MultiTaskClassifierBase):
    def __init__(
        self,
        lambda1: float = 0.01,
        lambda2: float = 0.01,
        *,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        stop: str = "rel_change",
        init: str = "zero",
        warm_start: bool = False,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            lambda1, lambda2, fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop,
            init=init, warm_start=warm_start, verbose=verbose,
        )


document_twins(
    _DOC,
    DirtyRegressor,
    "Dirty model W = P + Q with ℓ1,∞ block sparsity on P and ℓ1 sparsity on Q — least squares.",
    DirtyClassifier,
    "Dirty model W = P + Q with ℓ1,∞ block sparsity on P and ℓ1 sparsity on Q — logistic.",
)
