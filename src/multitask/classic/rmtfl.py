"""Robust multi-task feature learning (rMTFL) (MALSAR ``Least_rMTFL`` / ``Logistic_rMTFL``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l21_cols, prox_l21_rows
from multitask.classic._twins import Composite, ProxGradientModel, document_twins

__all__ = ["RMTFLRegressor", "RMTFLClassifier"]


def row_group_norm(P: np.ndarray) -> float:
    """Σᵢ ‖Pᵢ,:‖₂ (feature rows)."""
    return float(np.sqrt((P * P).sum(axis=1)).sum())


def col_group_norm(Q: np.ndarray) -> float:
    """Σₜ ‖Q:,ₜ‖₂ (task columns)."""
    return float(np.sqrt((Q * Q).sum(axis=0)).sum())


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


class _RMTFLModel(ProxGradientModel):
    """Shared ``__init__`` (regressor defaults) and problem of the rMTFL twins."""

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
            lambda p, step: (prox_l21_rows(p[0], lambda1 * step), prox_l21_cols(p[1], lambda2 * step)),
            lambda p: lambda1 * row_group_norm(p[0]) + lambda2 * col_group_norm(p[1]),
        )


class RMTFLRegressor(_RMTFLModel, MultiTaskRegressorBase):
    pass


class RMTFLClassifier(_RMTFLModel, MultiTaskClassifierBase):
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
    RMTFLRegressor,
    "Robust multi-task feature learning W = P + Q (row-group P, column-group Q) — least squares.",
    RMTFLClassifier,
    "Robust multi-task feature learning W = P + Q (row-group P, column-group Q) — logistic.",
)
