"""Incoherent sparse and low-rank multi-task learning.

MALSAR ``Least_SparseTrace`` / ``Logistic_SparseTrace``.
"""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import project_trace_ball, prox_l1
from multitask.classic._twins import Composite, ProxGradientModel, document_twins

__all__ = ["SparseTraceRegressor", "SparseTraceClassifier"]


_DOC = """

    Chen, Liu, Ye. Learning incoherent sparse and low-rank patterns from multiple tasks. KDD 2010;
    ACM TKDD 2012.

    Objective (W = P + Q, d x T, one column per task; MALSAR ``{loss_name}_SparseTrace``)::

        min_{{P, Q, c}}  {loss}  +  rho1 ‖P‖₁   subject to  ‖Q‖_* ≤ rho2

    The sparse P holds task-specific features, the low-rank Q (a nuclear-norm *constraint*, MALSAR's τ)
    the shared subspace. MALSAR's function arguments are (gamma, tau); its manual calls them
    (rho1, rho2). Prox: soft thresholding on P and projection onto the nuclear-norm ball on Q.

    Args:
        rho1: ℓ1 strength on P (MALSAR ``gamma``/``rho1``; default 1.0 regressor, 0.01 classifier).
        rho2: radius of the nuclear-norm ball for Q (MALSAR ``tau``/``rho2``; default 1.0).
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel` (MALSAR: max_iter 1000, tol 1e-4,
            relative objective change). ``init="lstsq"`` starts P at the per-task least-squares
            solution and Q at 0.

    Attributes:
        coef_ (n_tasks, n_features) = (P + Q)ᵀ, P_ and Q_ (n_tasks, n_features, the two components,
        transposed like coef_), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_{extra}
    """


class _SparseTraceModel(ProxGradientModel):
    """Shared ``__init__`` (regressor defaults) and problem of the sparse + low-rank twins."""

    _nonneg_params = ("rho1", "rho2")
    _part_attrs = ("P_", "Q_")

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
            lambda p, step: (prox_l1(p[0], rho1 * step), project_trace_ball(p[1], rho2)),
            lambda p: rho1 * float(np.abs(p[0]).sum()),
        )


class SparseTraceRegressor(_SparseTraceModel, MultiTaskRegressorBase):
    pass


class SparseTraceClassifier(_SparseTraceModel, MultiTaskClassifierBase):
    def __init__(
        self,
        rho1: float = 0.01,
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
        super().__init__(
            rho1, rho2, fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop, init=init,
            warm_start=warm_start, verbose=verbose,
        )


document_twins(
    _DOC,
    SparseTraceRegressor,
    "Incoherent sparse + low-rank W = P + Q (ℓ1 on P, ‖Q‖_* ≤ rho2) — least squares.",
    SparseTraceClassifier,
    "Incoherent sparse + low-rank W = P + Q (ℓ1 on P, ‖Q‖_* ≤ rho2) — logistic.",
)
