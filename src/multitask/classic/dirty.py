"""Dirty model: block-sparse plus element-sparse multi-task learning.

MALSAR ``Least_Dirty`` / ``Logistic_Dirty``.
"""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskLinearModel, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l1, prox_l1inf_rows

__all__ = ["DirtyRegressor", "DirtyClassifier"]


def l1inf_norm(P: np.ndarray) -> float:
    """‖P‖₁,∞ = Σᵢ maxₜ |Pᵢₜ| (sum over feature rows of the largest magnitude across tasks)."""
    return float(np.abs(P).max(axis=1).sum()) if P.size else 0.0


def _fit(est: MultiTaskLinearModel, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss):
    lambda1, lambda2 = float(est.lambda1), float(est.lambda2)
    parts0, c0 = est._initial_parts(Xs, ys, loss, 2)
    (P, Q), c = est._solve_apg(
        loss,
        parts0,
        c0,
        lambda p, step: (prox_l1inf_rows(p[0], lambda1 * step), prox_l1(p[1], lambda2 * step)),
        lambda p: lambda1 * l1inf_norm(p[0]) + lambda2 * float(np.abs(p[1]).sum()),
    )
    est.P_, est.Q_ = P.T.copy(), Q.T.copy()
    return P + Q, c


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


class DirtyRegressor(MultiTaskRegressorBase):
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
            fit_intercept=fit_intercept,
            max_iter=max_iter,
            tol=tol,
            stop=stop,
            init=init,
            warm_start=warm_start,
            verbose=verbose,
        )

    def _validate_params_extra(self) -> None:
        self._check_nonneg(lambda1=self.lambda1, lambda2=self.lambda2)

    _fit_coef = _fit


class DirtyClassifier(MultiTaskClassifierBase):
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
        self.lambda1 = lambda1
        self.lambda2 = lambda2
        super().__init__(
            fit_intercept=fit_intercept,
            max_iter=max_iter,
            tol=tol,
            stop=stop,
            init=init,
            warm_start=warm_start,
            verbose=verbose,
        )

    def _validate_params_extra(self) -> None:
        self._check_nonneg(lambda1=self.lambda1, lambda2=self.lambda2)

    _fit_coef = _fit


DirtyRegressor.__doc__ = (
    "Dirty model W = P + Q with ℓ1,∞ block sparsity on P and ℓ1 sparsity on Q — least squares."
    + _DOC.format(loss_name="Least", loss="Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²", extra="")
)
DirtyClassifier.__doc__ = (
    "Dirty model W = P + Q with ℓ1,∞ block sparsity on P and ℓ1 sparsity on Q — logistic."
    + _DOC.format(loss_name="Logistic", loss="Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ)))", extra=", classes_")
)
