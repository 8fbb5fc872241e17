"""Robust multi-task learning: low-rank plus group-sparse (RMTL).

MALSAR ``Least_RMTL`` / ``Logistic_RMTL``.
"""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l21_cols, prox_trace
from multitask.classic._twins import Composite, ProxGradientModel, document_twins

__all__ = ["RMTLRegressor", "RMTLClassifier"]


def nuclear_norm(L: np.ndarray) -> float:
    """‖L‖_* = sum of the singular values."""
    return float(np.linalg.svd(L, compute_uv=False).sum()) if L.size else 0.0


def col_group_norm(S: np.ndarray) -> float:
    """‖S‖₁,₂ = Σₜ ‖S:,ₜ‖₂ (task columns)."""
    return float(np.sqrt((S * S).sum(axis=0)).sum())


_DOC = """

    Chen, Zhou, Ye. Integrating low-rank and group-sparse structures for robust multi-task learning.
    KDD 2011.

    Objective (W = L + S, d x T, one column per task; MALSAR ``{loss_name}_RMTL``)::

        min_{{L, S, c}}  {loss}  +  rho1 ‖L‖_* + rho2 Σₜ ‖S:,ₜ‖₂

    L captures the low-rank structure shared by the related tasks; the column-group sparse S picks out the
    outlier tasks. Prox: singular-value thresholding and column group shrinkage.

    Args:
        rho1: trace-norm strength on L (MALSAR ``rho1``; default 1.0 regressor, 0.01 classifier).
        rho2: column-group strength on S (MALSAR ``rho2``; default 1.0 regressor, 0.01 classifier).
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel` (MALSAR: max_iter 1000, tol 1e-4,
            relative objective change). ``init="lstsq"`` starts L at the per-task least-squares
            solution and S at 0.

    Attributes:
        coef_ (n_tasks, n_features) = (L + S)ᵀ, L_ and S_ (n_tasks, n_features, the two components,
        transposed like coef_), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_{extra}
    """


class _RMTLModel(ProxGradientModel):
    """Shared ``__init__`` (regressor defaults) and problem of the RMTL twins."""

    _nonneg_params = ("rho1", "rho2")
    _part_attrs = ("L_", "S_")

    def __init__(
        self,
        rho1: float = 1.0,
        rho2: float = 1.0,
        *,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        stop: str = "rel_change",
        init: str = "zero",
        warm_start: bool = False,
        verbose: bool = False,
    ) -> None:
        self.rho1 = rho1
        self.rho2 = rho2
        super().__init__(
            fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop, init=init,
            warm_start=warm_start, verbose=verbose,
        )

    def _problem(self, loss: SmoothLoss) -> Composite:
        rho1, rho2 = float(self.rho1), float(self.rho2)
        return Composite(
            loss,
            lambda p, step: (prox_trace(p[0], rho1 * step), prox_l21_cols(p[1], rho2 * step)),
            lambda p: rho1 * nuclear_norm(p[0]) + rho2 * col_group_norm(p[1]),
        )


class RMTLRegressor(_RMTLModel, MultiTaskRegressorBase):
    pass


class RMTLClassifier(_RMTLModel, MultiTaskClassifierBase):
    def __init__(
        self,
        rho1: float = 0.01,
        rho2: float = 0.01,
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
            rho1, rho2, fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop, init=init,
            warm_start=warm_start, verbose=verbose,
        )


document_twins(
    _DOC,
    RMTLRegressor,
    "Robust MTL W = L + S (low-rank L, column-group sparse S) — least squares.",
    RMTLClassifier,
    "Robust MTL W = L + S (low-rank L, column-group sparse S) — logistic.",
)
