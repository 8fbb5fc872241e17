"""Robust multi-task learning: low-rank plus group-sparse (RMTL).

MALSAR ``Least_RMTL`` / ``Logistic_RMTL``.
"""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskLinearModel, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l21_cols, prox_trace

__all__ = ["RMTLRegressor", "RMTLClassifier"]


def nuclear_norm(L: np.ndarray) -> float:
    """‖L‖_* = sum of the singular values."""
    return float(np.linalg.svd(L, compute_uv=False).sum()) if L.size else 0.0


def col_group_norm(S: np.ndarray) -> float:
    """‖S‖₁,₂ = Σₜ ‖S:,ₜ‖₂ (task columns)."""
    return float(np.sqrt((S * S).sum(axis=0)).sum())


def _fit(est: MultiTaskLinearModel, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss):
    rho1, rho2 = float(est.rho1), float(est.rho2)
    parts0, c0 = est._initial_parts(Xs, ys, loss, 2)
    (L, S), c = est._solve_apg(
        loss,
        parts0,
        c0,
        lambda p, step: (prox_trace(p[0], rho1 * step), prox_l21_cols(p[1], rho2 * step)),
        lambda p: rho1 * nuclear_norm(p[0]) + rho2 * col_group_norm(p[1]),
    )
    est.L_, est.S_ = L.T.copy(), S.T.copy()
    return L + S, c


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


class RMTLRegressor(MultiTaskRegressorBase):
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
            fit_intercept=fit_intercept,
            max_iter=max_iter,
            tol=tol,
            stop=stop,
            init=init,
            warm_start=warm_start,
            verbose=verbose,
        )

    def _validate_params_extra(self) -> None:
        self._check_nonneg(rho1=self.rho1, rho2=self.rho2)

    _fit_coef = _fit


class RMTLClassifier(MultiTaskClassifierBase):
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
        self.rho1 = rho1
        self.rho2 = rho2
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
        self._check_nonneg(rho1=self.rho1, rho2=self.rho2)

    _fit_coef = _fit


RMTLRegressor.__doc__ = (
    "Robust MTL W = L + S (low-rank L, column-group sparse S) — least squares."
    + _DOC.format(loss_name="Least", loss="Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²", extra="")
)
RMTLClassifier.__doc__ = "Robust MTL W = L + S (low-rank L, column-group sparse S) — logistic." + _DOC.format(
    loss_name="Logistic", loss="Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ)))", extra=", classes_"
)
