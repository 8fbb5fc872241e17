"""Robust multi-task feature learning (rMTFL) (MALSAR ``Least_rMTFL`` / ``Logistic_rMTFL``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskLinearModel, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l21_cols, prox_l21_rows

__all__ = ["RMTFLRegressor", "RMTFLClassifier"]


def row_group_norm(P: np.ndarray) -> float:
    """Σᵢ ‖Pᵢ,:‖₂ (feature rows)."""
    return float(np.sqrt((P * P).sum(axis=1)).sum())


def col_group_norm(Q: np.ndarray) -> float:
    """Σₜ ‖Q:,ₜ‖₂ (task columns)."""
    return float(np.sqrt((Q * Q).sum(axis=0)).sum())


def _fit(est: MultiTaskLinearModel, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss):
    lambda1, lambda2 = float(est.lambda1), float(est.lambda2)
    parts0, c0 = est._initial_parts(Xs, ys, loss, 2)
    (P, Q), c = est._solve_apg(
        loss,
        parts0,
        c0,
        lambda p, step: (prox_l21_rows(p[0], lambda1 * step), prox_l21_cols(p[1], lambda2 * step)),
        lambda p: lambda1 * row_group_norm(p[0]) + lambda2 * col_group_norm(p[1]),
    )
    est.P_, est.Q_ = P.T.copy(), Q.T.copy()
    return P + Q, c


_DOC = """

    Gong, Ye, Zhang. Robust multi-task feature learning. KDD 2012.

    Objective (W = P + Q, d x T, one column per task; MALSAR ``{loss_name}_rMTFL``)::

        min_{{P, Q, c}}  {loss}  +  lambda1 Σᵢ ‖Pᵢ,:‖₂ + lambda2 Σₜ ‖Q:,ₜ‖₂

    P carries the features shared by the tasks (row groups: ‖P‖₁,₂ in MALSAR's notation); Q flags outlier
    tasks (column groups: ‖Qᵀ‖₁,₂). MALSAR's ``Least_rMTFL`` writes the loss without the ½, so its
    (λ₁, λ₂) equal twice the values here. Prox: row and column group shrinkage.

    Args:
        lambda1: row-group strength on P (MALSAR ``lambda1``; default 1.0 regressor, 0.01 classifier).
        lambda2: column-group strength on Q (MALSAR ``lambda2``; default 1.0 regressor, 0.01 classifier).
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel` (MALSAR: max_iter 1000, tol 1e-4,
            relative objective change). ``init="lstsq"`` starts P at the per-task least-squares
            solution and Q at 0.

    Attributes:
        coef_ (n_tasks, n_features) = (P + Q)ᵀ, P_ and Q_ (n_tasks, n_features, the two components,
        transposed like coef_), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_{extra}
    """


class RMTFLRegressor(MultiTaskRegressorBase):
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


class RMTFLClassifier(MultiTaskClassifierBase):
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


RMTFLRegressor.__doc__ = (
    "Robust multi-task feature learning W = P + Q (row-group P, column-group Q) — least squares."
    + _DOC.format(loss_name="Least", loss="Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²", extra="")
)
RMTFLClassifier.__doc__ = (
    "Robust multi-task feature learning W = P + Q (row-group P, column-group Q) — logistic."
    + _DOC.format(loss_name="Logistic", loss="Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ)))", extra=", classes_")
)
